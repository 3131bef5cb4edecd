package secretkey_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
)

const secretName = "graph-proxy-pseudonym-key"

// setup starts a simulator and returns a key source on its vault, read by
// an identity new to this process (MSAL caches managed-identity tokens
// process-wide) that may read the vault, and that identity's object id.
func setup(t *testing.T) (*graphsim.Sim, *secretkey.Vault, string) {
	t.Helper()
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	sim.Vault.SetReader(oid, true)
	v, err := secretkey.New(secretkey.Options{
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
	if _, err := v.Key(); !errors.Is(err, secretkey.ErrNoKey) {
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

// TestVaultKeepsVersions: with Keep, Keys gives the newest version and
// the enabled ones before it, newest first; a disabled version, or one
// beyond Keep, is no longer given.
func TestVaultKeepsVersions(t *testing.T) {
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	sim.Vault.SetReader(oid, true)
	v, err := secretkey.New(secretkey.Options{
		VaultURL: sim.Vault.URL, Name: "graph-proxy-links", Credential: mi, HTTPClient: sim.Client(),
		Keep: 2, DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	va := sim.Vault.SetSecret("graph-proxy-links", a, "")
	sim.Vault.SetSecret("graph-proxy-links", b, "")
	keys := func() string {
		t.Helper()
		if err := v.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		ks, err := v.Keys()
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, k := range ks {
			s = append(s, string(k[:1]))
		}
		return strings.Join(s, ",")
	}
	if got := keys(); got != "b,a" {
		t.Errorf("keys %s; want b,a (newest first)", got)
	}
	sim.Vault.SetSecret("graph-proxy-links", c, "")
	if got := keys(); got != "c,b" {
		t.Errorf("after a rotation keys %s; want c,b (Keep 2)", got)
	}
	sim.Vault.SetEnabled("graph-proxy-links", va, false)
	vb := sim.Vault.Versions("graph-proxy-links")[1]
	sim.Vault.SetEnabled("graph-proxy-links", vb, false)
	if got := keys(); got != "c" {
		t.Errorf("with b disabled keys %s; want c alone (a is disabled too)", got)
	}
	if k, _ := v.Key(); string(k) != c {
		t.Errorf("key %q; want the newest", k)
	}
}
