package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/policysource"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// policySourced is where the policy comes from, with what serve says
// about it.
type policySourced struct {
	policy.Source
	name   string // the file, or the secret's URI without a version
	polled bool   // a Key Vault secret, read every poll interval
	fix    func(error) string
}

// policySource is the policy's source: the file, or the Key Vault secret
// read with the managed identity (the same identity, and client, as the
// proxy's other Azure calls).
func policySource(cfg config.Config, loginURL *url.URL, client *http.Client) (policySourced, error) {
	kv := cfg.Policy.KeyVault
	if kv.SecretURI == "" {
		return policySourced{Source: policy.FileSource{Path: cfg.Policy.File}, name: cfg.Policy.File,
			fix: func(error) string { return "make policy.file readable by the proxy" }}, nil
	}
	mi, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
		ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
	if err != nil {
		return policySourced{}, fmt.Errorf("policy.keyVault: %w", err)
	}
	vaultURL, name := kv.Secret()
	secret, err := policysource.NewSecret(policysource.SecretOptions{
		VaultURL:                             vaultURL,
		Name:                                 name,
		Credential:                           mi,
		HTTPClient:                           client,
		PollInterval:                         kv.PollInterval,
		DisableChallengeResourceVerification: kv.DisableChallengeResourceVerification,
	})
	if err != nil {
		return policySourced{}, fmt.Errorf("policy.keyVault.secretURI: %w", err)
	}
	return policySourced{Source: secret, name: secret.String(), polled: true, fix: secret.Fix}, nil
}

// policyStatus is what /status says of the policy's source: when the policy
// in force was loaded, when the source was last read, and since when reads
// fail.
type policyStatus struct {
	mu           sync.Mutex
	loadedAt     time.Time
	lastRead     time.Time // last successful read
	failingSince time.Time // first failed read since then; zero when reads succeed
	lastError    string
}

// read records a successful read (that loaded a version, if loaded) and
// returns since when reads had failed, zero if they had not.
func (s *policyStatus) read(now time.Time, loaded bool) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	since := s.failingSince
	s.lastRead, s.failingSince, s.lastError = now, time.Time{}, ""
	if loaded {
		s.loadedAt = now
	}
	return since
}

// failed records a failed read and returns since when reads fail.
func (s *policyStatus) failed(now time.Time, err error) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	s.lastError = err.Error()
	return s.failingSince
}

// age is the whole seconds since the last successful read.
func (s *policyStatus) age() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(time.Since(s.lastRead) / time.Second)
}

func (s *policyStatus) status(p *policy.Policy, rev policy.Revision) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	source := map[string]any{"name": rev.Name, "version": rev.Version, "lastRead": s.lastRead, "ok": s.failingSince.IsZero()}
	if !s.failingSince.IsZero() {
		source["failingSince"], source["error"] = s.failingSince, s.lastError
	}
	return map[string]any{"digest": p.Digest, "loadedAt": s.loadedAt, "mode": modeName(p), "source": source}
}

// hangups delivers SIGHUP until ctx ends.
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{})
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-sig:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func modeName(p *policy.Policy) string {
	if p.ReportOnly() {
		return "report-only"
	}
	return "enforce"
}
