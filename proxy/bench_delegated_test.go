package proxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// BenchmarkCallDelegated compares a signed-in user's call, its Graph token
// from the on-behalf-of cache, with the same call app-only: the cost of
// delegated access once the user's token has been exchanged. Graph is the
// benchmark's function, as in BenchmarkCall; the one exchange happens
// against the simulator before timing starts.
func BenchmarkCallDelegated(b *testing.B) {
	sim, err := graphsim.Start(graphsim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	b.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	b.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id := sim.Entra.NewFederatedIdentity()
	login, _ := url.Parse(sim.Entra.URL)
	obo, err := upstream.NewOnBehalfOf(upstream.Options{Mode: upstream.ModeFederated, TenantID: graphsim.CustomerTenant, ClientID: graphsim.ProxyAppID,
		ManagedIdentityClientID: id, LoginURL: login, CustomLogin: true, HTTPClient: sim.Client()}, upstream.OnBehalfOfOptions{GraphResource: graphsim.GraphResource})
	if err != nil {
		b.Fatal(err)
	}
	ids, upns := sim.Graph.Users()
	tok, exp, err := sim.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: ids[0], UPN: upns[0]})
	if err != nil {
		b.Fatal(err)
	}
	actor := callers.NewActor(ids[0], upns[0], graphsim.CustomerTenant, tok, exp)
	if _, err := obo.Token(context.Background(), upstream.User{ObjectID: ids[0], TenantID: graphsim.CustomerTenant, Assertion: tok, ExpiresOn: exp},
		[]string{"Calendars.Read"}); err != nil {
		b.Fatalf("the exchange: %v", err)
	}

	for _, c := range []struct {
		name, path string
		actor      *callers.Actor
	}{
		{name: "app-only", path: "/v1.0/users/" + upns[0] + "/events?$top=5"},
		{name: "delegated-cached", path: "/v1.0/me/events?$top=5", actor: actor},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := benchHandlerWith(b, delegatedBenchPolicy, func(o *proxy.Options) {
				o.Delegated = obo
				o.Callers = authFunc(func(*http.Request) (callers.Caller, error) {
					return callers.Caller{Name: "engage", TenantID: graphsim.CustomerTenant, AppID: "e0000000-0000-4000-8000-0000000000e1",
						Auth: "entra-jwt", IP: "10.0.0.1", Actor: c.actor}, nil
				})
			})
			req := httptest.NewRequest("GET", "https://gp.contoso.example"+c.path, nil)
			req.Header.Set("Authorization", "Bearer vendor-token")
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
	if n := obo.Exchanges(); n != 1 {
		b.Errorf("%d exchanges; want the one before timing", n)
	}
}

const delegatedBenchPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All]
    delegated: { scopes: [Calendars.Read] }
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", query: [$top], permission: Calendars.ReadBasic.All }
  - { id: my-events, method: GET, path: "/me/events", query: [$top], delegatedScope: Calendars.Read }
`
