package proxytest

import (
	"net/url"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/notify"
)

// StaticKey is a notification key held in memory.
type StaticKey []byte

// Key returns the key.
func (k StaticKey) Keys() ([][]byte, error) { return [][]byte{k}, nil }

// notifications is the relay of change notifications with
// Options.NotificationKey, as serve builds it: validation tokens checked
// against the simulator's Entra ID keys of the customer's tenant, for the
// proxy's own identity (the system-assigned one: not with FreshIdentity).
// Nil without a key.
func notifications(t *testing.T, o Options, sim *graphsim.Sim, public *url.URL, pol func() *policy.Policy,
	audit *auditlog.Log, members proxy.Membership) proxy.Notifications {
	t.Helper()
	if o.NotificationKey == "" {
		return nil
	}
	verifier, err := callers.NewEntra(t.Context(), callers.EntraOptions{
		Tenants:    []string{graphsim.CustomerTenant},
		Audiences:  []string{graphsim.SystemIdentityClientID},
		LoginURL:   sim.Entra.URL,
		STSURL:     "https://sts.windows.net",
		HTTPClient: sim.Client(),
	}, nil)
	if err != nil {
		t.Fatalf("validation tokens: %v", err)
	}
	t.Cleanup(verifier.Close)
	graph, _ := url.Parse(sim.Graph.URL)
	rl, err := notify.New(notify.Options{
		PublicBase: public,
		Graph:      graph,
		Key:        StaticKey(o.NotificationKey),
		Policy:     pol,
		Tokens:     verifier,
		TenantID:   graphsim.CustomerTenant,
		Members:    members,
		Audit:      audit,
		Client:     o.NotificationClient,
		Rate:       o.NotificationRate,
		Burst:      o.NotificationBurst,
		Replica:    "test-replica",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rl
}
