package pseudonymkey_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/pseudonymkey"
)

const secretName = "graph-proxy-pseudonym-key"

// setup starts a simulator and returns a key source on its vault, read by
// an identity new to this process (MSAL caches managed-identity tokens
// process-wide) that may read the vault, and that identity's object id.
func setup(t *testing.T) (*graphsim.Sim, *pseudonymkey.Vault, string) {
	t.Helper()
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	sim.Vault.SetReader(oid, true)
	v, err := pseudonymkey.New(pseudonymkey.Options{
		VaultURL: sim.Vault.URL, Name: secretName, Credential: mi, HTTPClient: sim.Client(),
		PollInterval: 50 * time.Millisecond, ReadTimeout: 10 * time.Second,
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, v, oid
}

func waitWithin(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVaultKeyRotation: the key is read, a new version takes over at the
// next poll, and what cannot be read — a version too short to be a key,
// a vault down, a role removed — leaves the key in force.
func TestVaultKeyRotation(t *testing.T) {
	sim, v, oid := setup(t)
	if _, err := v.Key(); !errors.Is(err, pseudonymkey.ErrNoKey) {
		t.Fatalf("before a read: %v; want ErrNoKey", err)
	}
	first := strings.Repeat("k", 48)
	v1 := sim.Vault.SetSecret(secretName, first, "")
	if err := v.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k, err := v.Key(); err != nil || string(k) != first || v.Version() != v1 {
		t.Fatalf("key %q (%s), %v; want version %s", k, v.Version(), err, v1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go v.Run(ctx)

	second := strings.Repeat("r", 48)
	v2 := sim.Vault.SetSecret(secretName, second, "")
	waitWithin(t, "the rotated key", 10*time.Second, func() bool { return v.Version() == v2 })
	if k, _ := v.Key(); string(k) != second {
		t.Errorf("after rotation the key is %q", k)
	}
	for _, tt := range []struct {
		name        string
		break_, fix func()
	}{
		{name: "too short", break_: func() { sim.Vault.SetSecret(secretName, "short", "") }, fix: func() { sim.Vault.SetSecret(secretName, second, "") }},
		{name: "vault down", break_: func() { sim.Vault.SetDown(true) }, fix: func() { sim.Vault.SetDown(false) }},
		{name: "role removed", break_: func() { sim.Vault.SetReader(oid, false) }, fix: func() { sim.Vault.SetReader(oid, true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.break_()
			defer tt.fix()
			if err := v.Load(t.Context()); err == nil {
				t.Fatal("Load succeeded")
			} else if strings.Contains(err.Error(), second) {
				t.Fatalf("the error holds the key: %v", err)
			}
			if k, err := v.Key(); err != nil || !bytes.Equal(k, []byte(second)) {
				t.Errorf("key in force %q, %v; want the rotated key kept", k, err)
			}
		})
	}
}
