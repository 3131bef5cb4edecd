package callers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// delegatedCallerPolicy declares the vendor app a delegated caller.
const delegatedCallerPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    delegated: { scopes: [User.Read] }
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
`

func newDelegatedEntra(t *testing.T, sim *graphsim.Sim) *callers.Entra {
	t.Helper()
	dir, err := policy.Parse("p.yaml", []byte(delegatedCallerPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e, err := callers.NewEntra(context.Background(), callers.EntraOptions{
		Tenants:        []string{graphsim.VendorTenant, graphsim.CustomerTenant},
		Audiences:      []string{graphsim.ProxyAudience},
		LoginURL:       sim.Entra.URL,
		STSURL:         "https://sts.windows.net",
		HTTPClient:     sim.Client(),
		AllowDelegated: true,
		UserTenants:    []string{graphsim.CustomerTenant},
		UserScope:      graphsim.ProxyScope,
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestEntraDelegated(t *testing.T) {
	sim := startSim(t)
	e := newDelegatedEntra(t, sim)
	const oid, upn = "10000000-0000-4000-8000-000000000000", "adele.vance0@contoso.example"
	tests := []struct {
		name     string
		spec     graphsim.UserTokenSpec
		wantName string
		wantErr  error
		wantText string
	}{
		{name: "a user of the customer", spec: graphsim.UserTokenSpec{ObjectID: oid, UPN: upn}, wantName: "engage"},
		{name: "a user of another tenant", spec: graphsim.UserTokenSpec{Tenant: graphsim.VendorTenant, ObjectID: oid, UPN: upn},
			wantErr: callers.ErrUnauthenticated, wantText: "users of"},
		{name: "without the proxy's scope", spec: graphsim.UserTokenSpec{ObjectID: oid, UPN: upn, Scopes: []string{"user_impersonation"}},
			wantErr: callers.ErrUnauthenticated, wantText: "without the scope access_as_user"},
		{name: "without oid", spec: graphsim.UserTokenSpec{UPN: upn}, wantErr: callers.ErrUnauthenticated, wantText: "without oid"},
		{name: "a token for Graph", spec: graphsim.UserTokenSpec{ObjectID: oid, UPN: upn, Audience: graphsim.GraphResource},
			wantErr: callers.ErrGraphToken},
		{name: "a token for Graph by its app id", spec: graphsim.UserTokenSpec{ObjectID: oid, UPN: upn, Audience: graphsim.GraphAppID},
			wantErr: callers.ErrGraphToken},
		{name: "an app of no delegated caller", spec: graphsim.UserTokenSpec{ObjectID: oid, UPN: upn, AppID: "e0000000-0000-4000-8000-0000000000ff"},
			wantErr: callers.ErrUnknownCaller},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := sim.Entra.MintUser(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			c, err := e.Authenticate(request(tok))
			if !errors.Is(err, tt.wantErr) || c.Name != tt.wantName || (tt.wantText != "" && !strings.Contains(fmt.Sprint(err), tt.wantText)) {
				t.Fatalf("got %q, %v; want %q, %v (%s)", c.Name, err, tt.wantName, tt.wantErr, tt.wantText)
			}
			if err != nil {
				return
			}
			a := c.Actor
			if a == nil || a.ObjectID != oid || a.UPN != upn || a.TenantID != graphsim.CustomerTenant || a.Assertion() != tok || a.ExpiresOn.IsZero() {
				t.Fatalf("actor %+v", a)
			}
			if c.TenantID != graphsim.CustomerTenant || c.AppID != graphsim.VendorAppID {
				t.Errorf("caller tenant %s app %s", c.TenantID, c.AppID)
			}
			var b strings.Builder
			slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "actor", a, "str", a.String())
			if strings.Contains(b.String(), tok) || !strings.Contains(b.String(), "REDACTED") {
				t.Errorf("the user's token is logged: %s", b.String())
			}
		})
	}
	// An app-only token of the same app is still the app-only caller.
	tok, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
	if c, err := e.Authenticate(request(tok)); err != nil || c.Actor != nil || c.Name != "engage" {
		t.Errorf("app-only: %+v %v", c, err)
	}
}

// TestEntraDelegatedWithoutUPN: a v2 token without the optional upn claim
// names its user by object id alone; preferred_username is shown, never
// taken for the UPN (Microsoft documents it as mutable and not for
// authorization).
func TestEntraDelegatedWithoutUPN(t *testing.T) {
	sim := startSim(t)
	e := newDelegatedEntra(t, sim)
	const oid, name = "10000000-0000-4000-8000-000000000000", "adele.vance0@contoso.example"
	tok, _, err := sim.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: oid, UPN: name, WithoutUPN: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Authenticate(request(tok))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Actor; a == nil || a.ObjectID != oid || a.UPN != "" || a.Username != name || a.Shown() != name || !strings.Contains(a.String(), name) {
		t.Fatalf("actor %+v", a)
	}
}
