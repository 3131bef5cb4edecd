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
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// newPseudonymKey is the key of pseudonyms (pseudonymKey.secretURI), read
// with the managed identity like the policy's secret; nil when none is
// configured. Built before the identity endpoint's secret leaves the
// environment, read later (startPseudonymKey).
func newPseudonymKey(cfg config.Config, loginURL *url.URL, client *http.Client, log *slog.Logger) (*secretkey.Vault, error) {
	k := cfg.PseudonymKey
	if k.SecretURI == "" {
		return nil, nil
	}
	mi, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
		ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("pseudonymKey: %w", err)
	}
	vaultURL, name := k.Secret()
	last := ""
	v, err := secretkey.New(secretkey.Options{
		VaultURL: vaultURL, Name: name, Credential: mi, HTTPClient: client, PollInterval: k.PollInterval,
		DisableChallengeResourceVerification: k.DisableChallengeResourceVerification,
		// Reads are serialised (Load at start, then Run's ticks), so last
		// needs no lock.
		OnRead: func(version string, err error) {
			switch {
			case err != nil:
				log.Error("pseudonym key unreadable; the key in force stays", "secret", k.SecretURI, "version", version, "error", err)
			case version != last:
				log.Info("pseudonym key in force", "secret", k.SecretURI, "version", version)
				last = version
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pseudonymKey.secretURI: %w", err)
	}
	return v, nil
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
