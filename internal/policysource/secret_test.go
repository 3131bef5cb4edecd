package policysource_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/policysource"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/policy"
)

const secretName = "graph-proxy-policy"

// setup starts a simulator and returns a source on its vault read by a
// user-assigned identity new to this process (MSAL caches managed-identity
// tokens process-wide), allowed to read the vault, and that identity's
// object id.
func setup(t *testing.T) (*graphsim.Sim, *policysource.Secret, string) {
	t.Helper()
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	sim.Vault.SetReader(oid, true)
	src, err := policysource.NewSecret(policysource.SecretOptions{
		VaultURL: sim.Vault.URL, Name: secretName, Credential: mi, HTTPClient: sim.Client(),
		PollInterval: 50 * time.Millisecond, ReadTimeout: 10 * time.Second,
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, src, oid
}

// basePolicy lets the simulator's vendor list users; wider lets it read
// calendars too.
const basePolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All, Calendars.ReadBasic.All]
rules:
  - { id: users-list, method: GET, path: "/users", query: [$select, $top], permission: User.ReadBasic.All }
`

const wider = basePolicy + `  - { id: events-list, method: GET, path: "/users/{user}/events", query: [$top], permission: Calendars.ReadBasic.All }
`

// waitWithin polls cond until it holds, failing the test after limit.
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

func TestSecretRead(t *testing.T) {
	sim, src, _ := setup(t)
	v1 := sim.Vault.SetSecret(secretName, basePolicy, "")
	rev, err := src.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rev.Version != v1 || rev.Name != sim.Vault.URL+"/secrets/"+secretName+"/"+v1 || string(rev.Data) != basePolicy {
		t.Errorf("Read = %q %q (%d bytes); want version %s of %s", rev.Version, rev.Name, len(rev.Data), v1, src)
	}
	v2 := sim.Vault.SetSecret(secretName, wider, "")
	if rev, err := src.Read(t.Context()); err != nil || rev.Version != v2 || string(rev.Data) != wider {
		t.Errorf("after a new version: %q, %v; want version %s", rev.Version, err, v2)
	}
}

// TestSecretStore: through a policy.Store, a new version that loads is in
// force, one that does not is rejected naming its version, and a vault
// that cannot be read leaves the policy in force; each with its fix.
func TestSecretStore(t *testing.T) {
	sim, src, oid := setup(t)
	v1 := sim.Vault.SetSecret(secretName, basePolicy, "")
	store, err := policy.OpenStore(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if store.Revision().Version != v1 {
		t.Fatalf("in force: %q; want %s", store.Revision().Version, v1)
	}
	var mu sync.Mutex
	var events []policy.ReloadEvent
	store.OnReload = func(ev policy.ReloadEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go store.Watch(ctx, nil)
	waitFor := func(what string, match func(policy.ReloadEvent) bool) policy.ReloadEvent {
		t.Helper()
		var found policy.ReloadEvent
		waitWithin(t, what, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i, ev := range events {
				if match(ev) {
					found, events = ev, events[i+1:]
					return true
				}
			}
			return false
		})
		return found
	}

	v2 := sim.Vault.SetSecret(secretName, wider, "")
	waitFor("the wider version loaded", func(ev policy.ReloadEvent) bool {
		return ev.Outcome == policy.Loaded && ev.Revision.Version == v2
	})
	if store.Revision().Version != v2 {
		t.Errorf("in force: %q; want %s", store.Revision().Version, v2)
	}

	v3 := sim.Vault.SetSecret(secretName, strings.Replace(wider, "method: GET, path: \"/users/{user}/events\"", "method: FETCH, path: \"/users/{user}/events\"", 1), "")
	ev := waitFor("the broken version rejected", func(ev policy.ReloadEvent) bool { return ev.Outcome == policy.Rejected })
	var le *policy.LoadError
	if !errors.As(ev.Err, &le) || !strings.Contains(ev.Err.Error(), "/secrets/"+secretName+"/"+v3+":") || !strings.Contains(ev.Err.Error(), "FETCH") {
		t.Errorf("rejection %v; want the problems, located in version %s", ev.Err, v3)
	}
	if ev.Revision.Version != v3 || store.Revision().Version != v2 {
		t.Errorf("rejected %q, in force %q; want %s rejected, %s in force", ev.Revision.Version, store.Revision().Version, v3, v2)
	}

	for _, tt := range []struct {
		name    string
		break_  func()
		mend    func()
		wantFix string
	}{
		{name: "vault down", break_: func() { sim.Vault.SetDown(true) }, mend: func() { sim.Vault.SetDown(false) }, wantFix: "is unavailable"},
		{name: "role removed", break_: func() { sim.Vault.SetReader(oid, false) }, mend: func() { sim.Vault.SetReader(oid, true) }, wantFix: "Key Vault Secrets User"},
		{name: "newest version disabled", break_: func() { sim.Vault.SetEnabled(secretName, v3, false) }, mend: func() { sim.Vault.SetEnabled(secretName, v3, true) }, wantFix: "is disabled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.break_()
			ev := waitFor(tt.name, func(ev policy.ReloadEvent) bool { return ev.Outcome == policy.Unreadable })
			if store.Revision().Version != v2 {
				t.Errorf("in force: %q; want %s kept", store.Revision().Version, v2)
			}
			if fix := src.Fix(ev.Err); !strings.Contains(fix, tt.wantFix) {
				t.Errorf("Fix(%v) = %q; want %q in it", ev.Err, fix, tt.wantFix)
			}
			tt.mend()
			// Readable again, the rejected version is not reported anew.
			ev = waitFor(tt.name+" mended", func(ev policy.ReloadEvent) bool { return ev.Outcome != policy.Unreadable })
			if ev.Outcome != policy.Unchanged {
				t.Errorf("after %s: %v; want unchanged", tt.name, ev.Outcome)
			}
		})
	}
}

func TestSecretFixNotFound(t *testing.T) {
	_, src, _ := setup(t)
	_, err := src.Read(t.Context())
	if fix := src.Fix(err); err == nil || !strings.Contains(fix, "has no secret "+secretName) {
		t.Errorf("Read of a missing secret: %v, fix %q", err, fix)
	}
	if _, err := policy.OpenStore(t.Context(), src); err == nil {
		t.Error("OpenStore on a missing secret succeeded")
	}
}
