package callers_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

const otherTenant = "d2b6628f-0000-4000-8000-0000000000aa"

// twoTenantPolicy knows the vendor app in two tenants (a multi-tenant
// vendor app), under different caller names.
const twoTenantPolicy = `version: 1
callers:
  - name: engage-eu
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All]
  - name: engage-us
    match: { tenantID: "` + otherTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All]
rules:
  - { id: u, method: GET, path: "/users/{user}", permission: User.ReadBasic.All }
`

func newEntra(t testing.TB, sim *graphsim.Sim, change func(*callers.EntraOptions)) *callers.Entra {
	t.Helper()
	dir, err := policy.Parse("p.yaml", []byte(twoTenantPolicy))
	if err != nil {
		t.Fatal(err)
	}
	o := callers.EntraOptions{
		Tenants:    []string{graphsim.VendorTenant, otherTenant},
		Audiences:  []string{graphsim.ProxyAudience, "b0000000-0000-4000-8000-0000000000b1"},
		LoginURL:   sim.Entra.URL,
		STSURL:     "https://sts.windows.net",
		HTTPClient: sim.Client(),
	}
	if change != nil {
		change(&o)
	}
	e, err := callers.NewEntra(context.Background(), o, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func startSim(t testing.TB) *graphsim.Sim {
	t.Helper()
	s, err := graphsim.Start(graphsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func request(tok string) *http.Request {
	r, _ := http.NewRequest("GET", "https://gp.example/v1.0/users/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.RemoteAddr = "192.0.2.1:5000"
	return r
}

func TestEntraTenantsAndAudiences(t *testing.T) {
	sim := startSim(t)
	e := newEntra(t, sim, nil)
	delegating := newEntra(t, sim, func(o *callers.EntraOptions) { o.AllowDelegated = true })
	tests := []struct {
		name     string
		entra    *callers.Entra
		spec     graphsim.TokenSpec
		wantName string
		wantErr  error
	}{
		{name: "first tenant", entra: e, spec: graphsim.TokenSpec{Tenant: graphsim.VendorTenant}, wantName: "engage-eu"},
		{name: "second tenant", entra: e, spec: graphsim.TokenSpec{Tenant: otherTenant, Version: 1}, wantName: "engage-us"},
		{name: "v2 audience is the client id", entra: e, spec: graphsim.TokenSpec{Tenant: graphsim.VendorTenant, Audience: "b0000000-0000-4000-8000-0000000000b1"}, wantName: "engage-eu"},
		{name: "a third tenant", entra: e, spec: graphsim.TokenSpec{Tenant: "d2b6628f-0000-4000-8000-0000000000bb"}, wantErr: callers.ErrUnauthenticated},
		{name: "delegated refused by default", entra: e, spec: graphsim.TokenSpec{Tenant: graphsim.VendorTenant, Delegated: true}, wantErr: callers.ErrUnauthenticated},
		{name: "delegated when allowed", entra: delegating, spec: graphsim.TokenSpec{Tenant: graphsim.VendorTenant, Delegated: true}, wantName: "engage-eu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.AppID = graphsim.VendorAppID
			if s.Audience == "" {
				s.Audience = graphsim.ProxyAudience
			}
			tok, _, err := sim.Entra.Mint(s)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tt.entra.Authenticate(request(tok))
			if !errors.Is(err, tt.wantErr) || c.Name != tt.wantName {
				t.Errorf("got %q, %v; want %q, %v", c.Name, err, tt.wantName, tt.wantErr)
			}
		})
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

func TestEntraCacheIsBounded(t *testing.T) {
	sim := startSim(t)
	e := newEntra(t, sim, func(o *callers.EntraOptions) { o.CacheSize = 10 })
	for i := 0; i < 50; i++ {
		tok, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
		if _, err := e.Authenticate(request(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.CacheLen(); n > 10 {
		t.Errorf("cache holds %d tokens; want at most 10", n)
	}
}

func TestEntraReadyFailsClosed(t *testing.T) {
	sim := startSim(t)
	sim.Entra.SetDown(true)
	e := newEntra(t, sim, nil)
	if err := e.Ready(); err == nil {
		t.Error("ready without keys")
	}
	sim.Entra.SetDown(false)
	tok, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
	// The first token fetches the keys it lacks (an unknown kid).
	if _, err := e.Authenticate(request(tok)); err != nil {
		t.Errorf("after Entra ID came back: %v", err)
	}
}

// BenchmarkAuthenticate measures the authentication stage: a token seen
// before (the validated-token cache) and a token never seen (RS256
// verification and claim checks).
func BenchmarkAuthenticate(b *testing.B) {
	sim := startSim(b)
	e := newEntra(b, sim, nil)
	mint := func() string {
		tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	b.Run("cached", func(b *testing.B) {
		r := request(mint())
		if _, err := e.Authenticate(r); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Authenticate(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		toks := make([]*http.Request, 0, 2048)
		for i := 0; i < cap(toks); i++ {
			toks = append(toks, request(mint()))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := e.Validate(toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
