package callers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// tenantKeys is an Entra ID whose tenants each publish their own signing
// key, and only it (graphsim publishes one key set for every tenant, as
// Entra ID does for most apps, so it cannot show a key crossing tenants).
type tenantKeys struct {
	srv  *httptest.Server
	keys map[string]*rsa.PrivateKey // tenant → its one key; kid "kid-" + tenant
}

func startTenantKeys(t *testing.T, tenants ...string) *tenantKeys {
	t.Helper()
	k := &tenantKeys{keys: map[string]*rsa.PrivateKey{}}
	for _, tn := range tenants {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.keys[tn] = key
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		tn := r.PathValue("tenant")
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":   k.srv.URL + "/" + tn + "/v2.0",
			"jwks_uri": k.srv.URL + "/" + tn + "/discovery/v2.0/keys",
		})
	})
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		tn := r.PathValue("tenant")
		key, ok := k.keys[tn]
		if !ok {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "kid": "kid-" + tn,
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	k.srv = httptest.NewServer(mux)
	t.Cleanup(k.srv.Close)
	return k
}

// clock is a settable time for the validator (EntraOptions.Now).
type clock struct{ unix atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(c.unix.Load(), 0) }
func (c *clock) Set(t time.Time)     { c.unix.Store(t.Unix()) }
func (c *clock) Add(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// t0 is the validator's "now" in the tests that set the clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// entra returns a validator of the two tenants' tokens, on clk.
func (k *tenantKeys) entra(t *testing.T, clk *clock) *callers.Entra {
	t.Helper()
	dir, err := policy.Parse("p.yaml", []byte(twoTenantPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e, err := callers.NewEntra(context.Background(), callers.EntraOptions{
		Tenants:    []string{graphsim.VendorTenant, otherTenant},
		Audiences:  []string{graphsim.ProxyAudience},
		LoginURL:   k.srv.URL,
		STSURL:     "https://sts.windows.net",
		HTTPClient: k.srv.Client(),
		Now:        clk.Now,
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// claims are an app-only v2 token of the vendor app from tenant, valid
// for an hour from t0.
func (k *tenantKeys) claims(tenant string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": k.srv.URL + "/" + tenant + "/v2.0", "tid": tenant, "aud": graphsim.ProxyAudience,
		"azp": graphsim.VendorAppID, "idtyp": "app", "oid": "e0000000-0000-4000-8000-0000000000f1", "sub": "e0000000-0000-4000-8000-0000000000f1",
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	}
}

// sign signs c with signer's key, naming kid in the header.
func (k *tenantKeys) sign(t *testing.T, c jwt.MapClaims, signer, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.keys[signer])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEntraKeysBoundToIssuer: a token is verified only with the keys its
// claimed issuer's OpenID metadata publishes, never with another accepted
// tenant's.
func TestEntraKeysBoundToIssuer(t *testing.T) {
	a, b := graphsim.VendorTenant, otherTenant
	k := startTenantKeys(t, a, b)
	clk := &clock{}
	clk.Set(t0)
	e := k.entra(t, clk)
	with := func(tenant string, change func(jwt.MapClaims)) jwt.MapClaims {
		c := k.claims(tenant)
		if change != nil {
			change(c)
		}
		return c
	}
	tests := []struct {
		name        string
		claims      jwt.MapClaims
		signer, kid string
		wantName    string
	}{
		{name: "tenant A's token, A's key", claims: with(a, nil), signer: a, kid: "kid-" + a, wantName: "engage-eu"},
		{name: "tenant B's token, B's key", claims: with(b, nil), signer: b, kid: "kid-" + b, wantName: "engage-us"},
		{name: "claims tenant A, signed with B's key", claims: with(a, nil), signer: b, kid: "kid-" + b},
		{name: "claims tenant A, B's key under A's kid", claims: with(a, nil), signer: b, kid: "kid-" + a},
		{name: "v1 issuer of A, signed with B's key", claims: with(a, func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/" + a + "/" }), signer: b, kid: "kid-" + b},
		{name: "issuer A, tid B, B's key", claims: with(a, func(c jwt.MapClaims) { c["tid"] = b }), signer: b, kid: "kid-" + b},
		{name: "issuer B, tid A, B's key", claims: with(b, func(c jwt.MapClaims) { c["tid"] = a }), signer: b, kid: "kid-" + b},
		{name: "no issuer, B's key", claims: with(b, func(c jwt.MapClaims) { delete(c, "iss") }), signer: b, kid: "kid-" + b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.Authenticate(request(k.sign(t, tt.claims, tt.signer, tt.kid)))
			if tt.wantName == "" {
				if !errors.Is(err, callers.ErrUnauthenticated) {
					t.Errorf("got %q, %v; want %v", c.Name, err, callers.ErrUnauthenticated)
				}
				return
			}
			if err != nil || c.Name != tt.wantName {
				t.Errorf("got %q, %v; want %q", c.Name, err, tt.wantName)
			}
		})
	}
}

// TestEntraDatesAreNumbers: exp, nbf and iat are JSON numbers or the
// token is refused; exp is required.
func TestEntraDatesAreNumbers(t *testing.T) {
	k := startTenantKeys(t, graphsim.VendorTenant, otherTenant)
	clk := &clock{}
	clk.Set(t0)
	e := k.entra(t, clk)
	str := func(tm time.Time) string { return strconv.FormatInt(tm.Unix(), 10) }
	tests := []struct {
		name    string
		claim   string
		value   any // nil deletes the claim
		wantErr error
	}{
		{name: "exp a number", claim: "exp", value: t0.Add(time.Hour).Unix()},
		{name: "exp a fractional number", claim: "exp", value: float64(t0.Add(time.Hour).Unix()) + 0.5},
		{name: "exp a string", claim: "exp", value: str(t0.Add(time.Hour)), wantErr: callers.ErrUnauthenticated},
		{name: "exp the string of the issue", claim: "exp", value: "1999999999", wantErr: callers.ErrUnauthenticated},
		{name: "exp null", claim: "exp", value: json.RawMessage("null"), wantErr: callers.ErrUnauthenticated},
		{name: "exp a boolean", claim: "exp", value: true, wantErr: callers.ErrUnauthenticated},
		{name: "exp missing", claim: "exp", wantErr: callers.ErrUnauthenticated},
		{name: "nbf a number", claim: "nbf", value: t0.Unix()},
		{name: "nbf a string", claim: "nbf", value: str(t0), wantErr: callers.ErrUnauthenticated},
		{name: "nbf missing", claim: "nbf"},
		{name: "iat a number", claim: "iat", value: t0.Unix()},
		{name: "iat a string", claim: "iat", value: str(t0), wantErr: callers.ErrUnauthenticated},
		{name: "iat missing", claim: "iat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := k.claims(graphsim.VendorTenant)
			if tt.value == nil {
				delete(c, tt.claim)
			} else {
				c[tt.claim] = tt.value
			}
			tok := k.sign(t, c, graphsim.VendorTenant, "kid-"+graphsim.VendorTenant)
			_, err := e.Authenticate(request(tok))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.wantErr)
			}
		})
	}
}

// TestEntraClockSkew: exp, nbf and iat are checked with two minutes'
// allowance (callers.ClockSkew, docs/configuration.md), to the second on
// both sides, by a fresh verification and by the validated-token cache.
func TestEntraClockSkew(t *testing.T) {
	if callers.ClockSkew != 2*time.Minute {
		t.Fatalf("ClockSkew = %v; docs/configuration.md states 2 minutes", callers.ClockSkew)
	}
	k := startTenantKeys(t, graphsim.VendorTenant, otherTenant)
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	tests := []struct {
		name          string
		exp, nbf, iat int64
		wantErr       error
	}{
		{name: "expired 119 s ago", exp: at(-119 * time.Second), nbf: at(-time.Hour), iat: at(-time.Hour)},
		{name: "expired 120 s ago", exp: at(-120 * time.Second), nbf: at(-time.Hour), iat: at(-time.Hour), wantErr: callers.ErrUnauthenticated},
		{name: "expired 121 s ago", exp: at(-121 * time.Second), nbf: at(-time.Hour), iat: at(-time.Hour), wantErr: callers.ErrUnauthenticated},
		{name: "expired 60 s ago", exp: at(-60 * time.Second), nbf: at(-time.Hour), iat: at(-time.Hour)},
		{name: "nbf 119 s ahead", exp: at(time.Hour), nbf: at(119 * time.Second), iat: at(0)},
		{name: "nbf 120 s ahead", exp: at(time.Hour), nbf: at(120 * time.Second), iat: at(0)},
		{name: "nbf 121 s ahead", exp: at(time.Hour), nbf: at(121 * time.Second), iat: at(0), wantErr: callers.ErrUnauthenticated},
		{name: "iat 119 s ahead", exp: at(time.Hour), nbf: at(0), iat: at(119 * time.Second)},
		{name: "iat 121 s ahead", exp: at(time.Hour), nbf: at(0), iat: at(121 * time.Second), wantErr: callers.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{}
			clk.Set(t0)
			e := k.entra(t, clk)
			c := k.claims(graphsim.VendorTenant)
			c["exp"], c["nbf"], c["iat"] = tt.exp, tt.nbf, tt.iat
			_, err := e.Authenticate(request(k.sign(t, c, graphsim.VendorTenant, "kid-"+graphsim.VendorTenant)))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.wantErr)
			}
		})
	}

	// A token seen while valid is served from the cache afterwards: the
	// cache must end it where verification does, not at exp.
	cached := []struct {
		name    string
		after   time.Duration // past exp
		wantErr error
	}{
		{name: "cached, 119 s past exp", after: 119 * time.Second},
		{name: "cached, 121 s past exp", after: 121 * time.Second, wantErr: callers.ErrUnauthenticated},
	}
	for _, tt := range cached {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{}
			clk.Set(t0)
			e := k.entra(t, clk)
			c := k.claims(graphsim.VendorTenant)
			c["exp"] = at(time.Minute)
			r := request(k.sign(t, c, graphsim.VendorTenant, "kid-"+graphsim.VendorTenant))
			if _, err := e.Authenticate(r); err != nil {
				t.Fatalf("while valid: %v", err)
			}
			if e.CacheLen() != 1 {
				t.Fatalf("cache holds %d tokens; want the one seen", e.CacheLen())
			}
			clk.Set(t0.Add(time.Minute + tt.after))
			if _, err := e.Authenticate(r); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.wantErr)
			}
		})
	}
}
