package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// newPseudonymKey is the key of pseudonyms (pseudonymKey.secretURI): its
// newest version alone (a rotation changes every pseudonym).
func newPseudonymKey(cfg config.Config, loginURL *url.URL, client *http.Client, log *slog.Logger) (*secretkey.Vault, error) {
	return newSecretKey(cfg, "pseudonymKey", "pseudonym key", cfg.PseudonymKey, 1, loginURL, client, log)
}

// startPseudonymKey reads the key once (a configured key that cannot be
// read stops the start, as the policy's secret does) and returns it for
// the handler with the task that keeps reading it. Without one, a policy
// that pseudonymises is said to be refused its calls.
func startPseudonymKey(ctx context.Context, v *secretkey.Vault, p *policy.Policy, log *slog.Logger) (proxy.PseudonymKey, []func(context.Context), error) {
	if v == nil {
		if p.Pseudonymises() {
			log.Error("the policy pseudonymises answers and no pseudonymKey.secretURI is configured: those calls are refused (503)")
		}
		return nil, nil, nil // a nil interface, not a nil *Vault
	}
	if err := v.Load(ctx); err != nil {
		return nil, nil, &exitError{code: exitFailure, err: fmt.Errorf("%w\nfix: store a key of at least %d bytes in %s (az keyvault secret set --value \"$(openssl rand -base64 48)\") and give the managed identity Key Vault Secrets User on it",
			err, secretkey.MinKeyBytes, v)}
	}
	return v, []func(context.Context){v.Run}, nil
}

// logPolicyWarnings logs what policy lint warns about the policy in force.
func logPolicyWarnings(log *slog.Logger, p *policy.Policy) {
	for _, w := range p.Warnings() {
		log.Warn("policy warning", "problem", w.String())
	}
}
