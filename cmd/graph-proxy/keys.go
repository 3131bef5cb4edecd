package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// keyVersionsKept is how many versions of a sealing secret still open
// what they sealed (internal/seal): the newest and two before it, so that
// a rotation leaves the relayed subscriptions (which live up to days) and
// file links working until the old version is disabled.
const keyVersionsKept = 3

// newSecretKey is a key the proxy follows in a Key Vault secret (what,
// configured under section), read with the managed identity like the
// policy's secret; nil when none is configured. Built before the identity
// endpoint's secret leaves the environment, read later (Load at start,
// then Run). keep is how many versions Keys gives.
func newSecretKey(cfg config.Config, section, what string, k config.KeyVaultSecret, keep int,
	loginURL *url.URL, client *http.Client, log *slog.Logger) (*secretkey.Vault, error) {
	if k.SecretURI == "" {
		return nil, nil
	}
	mi, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
		ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", section, err)
	}
	vaultURL, name := k.Secret()
	last := ""
	v, err := secretkey.New(secretkey.Options{
		VaultURL: vaultURL, Name: name, Credential: mi, HTTPClient: client, PollInterval: k.PollInterval, Keep: keep,
		DisableChallengeResourceVerification: k.DisableChallengeResourceVerification,
		// Reads are serialised (Load at start, then Run's ticks), so last
		// needs no lock.
		OnRead: func(version string, err error) {
			switch {
			case err != nil:
				log.Error(what+" unreadable; the key in force stays", "secret", k.SecretURI, "version", version, "error", err)
			case version != last:
				log.Info(what+" in force", "secret", k.SecretURI, "version", version)
				last = version
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s.secretURI: %w", section, err)
	}
	return v, nil
}
