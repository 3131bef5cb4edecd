package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// TestSubscriptionOwners: a replica's own memory of who made which
// subscription, bounded, forgetting what expired or was deleted.
func TestSubscriptionOwners(t *testing.T) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		made      map[string]time.Time // id → expiry, made by "vendor"
		gone      []string
		ask       string
		wantOwner string
	}{
		{name: "made", made: map[string]time.Time{"S1": later}, ask: "s1", wantOwner: "vendor"},
		{name: "not made here", made: map[string]time.Time{"s1": later}, ask: "s2"},
		{name: "deleted", made: map[string]time.Time{"s1": later}, gone: []string{"S1"}, ask: "s1"},
		{name: "expired over an hour ago", made: map[string]time.Time{"s1": time.Now().Add(-2 * time.Hour)}, ask: "s1"},
		{name: "expired minutes ago: Graph may hold it still", made: map[string]time.Time{"s1": time.Now().Add(-time.Minute)}, ask: "s1", wantOwner: "vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &proxy.SubscriptionOwners{}
			for id, exp := range tt.made {
				o.Made(ctx, id, "vendor", exp)
			}
			for _, id := range tt.gone {
				o.Gone(ctx, id)
			}
			owner, known := o.Owner(ctx, tt.ask)
			if owner != tt.wantOwner || known != (tt.wantOwner != "") {
				t.Errorf("owner %q, known %v; want %q", owner, known, tt.wantOwner)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		o := &proxy.SubscriptionOwners{MaxEntries: 10}
		for i := range 25 {
			o.Made(ctx, fmt.Sprint("s", i), "vendor", later)
		}
		known := 0
		for i := range 25 {
			if _, ok := o.Owner(ctx, fmt.Sprint("s", i)); ok {
				known++
			}
		}
		if known > 10 || known == 0 {
			t.Errorf("%d of 25 remembered; want at most 10, the latest among them", known)
		}
		if _, ok := o.Owner(ctx, "s24"); !ok {
			t.Error("the latest made was forgotten")
		}
	})
}

// TestSubscriptionOwnerIsTheCredential: the proxy remembers who made a
// subscription by the credential that made it, not by the policy's name
// for it. A caller renamed in the policy keeps its own subscriptions; a
// new caller given the old name (another application) is refused one the
// old bearer of the name made, without the proxy reading it from Graph.
func TestSubscriptionOwnerIsTheCredential(t *testing.T) {
	const otherApp = "e0000000-0000-4000-8000-0000000000e2"
	caller := func(name, app string) string {
		return `
  - name: ` + name + `
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + app + `" }
    permissions: [Calendars.ReadBasic.All]`
	}
	pol := func(callers ...string) string {
		return `version: 1
callers:` + strings.Join(callers, "") + `
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
rules:
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: GET, path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`
	}
	e := proxytest.New(t, proxytest.Options{Policy: pol(caller("engage", graphsim.VendorAppID)), Reloadable: true})
	other, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: otherApp,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := e.Sim.Graph.Users()
	resp := e.Do("POST", "/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n",`+
		`"resource":"users/`+ids[0]+`/events","expirationDateTime":"2030-01-01T00:00:00Z"}`), "Content-Type", "application/json")
	var made struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || made.ID == "" {
		t.Fatalf("creation answered %d", resp.StatusCode)
	}
	reload := e.SetPolicy
	steps := []struct {
		name     string
		policy   string
		token    string // "" is the maker's
		batch    bool   // the call inside a $batch
		want     int
		wantName string // the caller the record names
	}{
		{name: "its maker, renamed", policy: pol(caller("engage-v2", graphsim.VendorAppID)), want: http.StatusOK, wantName: "engage-v2"},
		{name: "another app given the maker's old name", policy: pol(caller("engage-v2", graphsim.VendorAppID), caller("engage", otherApp)),
			token: other, want: http.StatusForbidden, wantName: "engage"},
		{name: "the same in a $batch", token: other, batch: true, want: http.StatusForbidden, wantName: "engage"},
		{name: "its maker still, beside it", token: "", want: http.StatusOK, wantName: "engage-v2"},
	}
	for _, s := range steps {
		if s.policy != "" {
			reload(s.policy)
		}
		e.Sim.Graph.ResetRequests()
		var hdr []string
		if s.token != "" {
			hdr = []string{"Authorization", "Bearer " + s.token}
		}
		var resp *http.Response
		if s.batch {
			resp = e.Do("POST", "/v1.0/$batch", strings.NewReader(`{"requests":[{"id":"1","method":"GET","url":"/subscriptions/`+made.ID+`"}]}`),
				append(hdr, "Content-Type", "application/json")...)
		} else {
			resp = e.Do("GET", "/v1.0/subscriptions/"+made.ID, nil, hdr...)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec := e.Record(resp)
		if resp.StatusCode != s.want {
			t.Errorf("%s: status %d (%.200s; %s %q); want %d", s.name, resp.StatusCode, body, rec.Decision, rec.Reason, s.want)
		}
		if rec.Caller.Name != s.wantName {
			t.Errorf("%s: the record names caller %q; want %q", s.name, rec.Caller.Name, s.wantName)
		}
		if s.want == http.StatusForbidden {
			if !strings.Contains(rec.Reason, "not read from Graph: the proxy knows who made it") {
				t.Errorf("%s: reason %q; want the subscription refused as another caller's", s.name, rec.Reason)
			}
			for _, g := range e.Sim.Graph.Requests() {
				if strings.Contains(g.Path, made.ID) {
					t.Errorf("%s: Graph saw %s %s; want it refused without being read", s.name, g.Method, g.Path)
				}
			}
		}
	}
}

// TestSubscriptionOwnerDelegated: a subscription a signed-in user's call
// made is the application's as it acts for users (the delegated
// identity): another user's call through the same application is not
// refused for it but read from Graph, where what the user may reach
// decides (here: not another's mailbox); the same application's app-only
// calls, which the policy may give another caller, are refused it
// without the read.
func TestSubscriptionOwnerDelegated(t *testing.T) {
	const pol = `version: 1
callers:
  - name: vendor
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    delegated: { scopes: [Mail.Read] }
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/*"]
rules:
  - { id: mail, method: GET, path: "/users/{user}/messages", permission: Calendars.ReadBasic.All, delegatedScope: Mail.Read }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All, delegatedScope: Mail.Read }
  - { id: subscription, method: GET, path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All, delegatedScope: Mail.Read }
`
	e := proxytest.New(t, proxytest.Options{Policy: pol, Delegated: true})
	ids, upns := e.Sim.Graph.Users()
	// The simulator makes subscriptions for app-only tokens only: Graph's
	// answers for a user's are given as they are.
	const id = "5d000000-0000-4000-8000-0000000000d1"
	sub := `{"id":"` + id + `","resource":"users/` + ids[0] + `/messages","changeType":"created","notificationUrl":"https://hooks.vendor.example/n",` +
		`"expirationDateTime":"2030-01-01T00:00:00Z","creatorId":"` + ids[0] + `"}`
	e.Sim.Graph.Inject(&graphsim.Fault{Method: "POST", PathPrefix: "/subscriptions", Times: 1, Status: http.StatusCreated, Body: sub})
	e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: "/subscriptions/" + id, Body: sub})
	user := e.UserToken(graphsim.UserTokenSpec{ObjectID: ids[0], UPN: upns[0]})
	another := e.UserToken(graphsim.UserTokenSpec{ObjectID: ids[1], UPN: upns[1]})
	resp := e.Do("POST", "/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/n",`+
		`"resource":"users/`+ids[0]+`/messages","expirationDateTime":"2030-01-01T00:00:00Z"}`), "Content-Type", "application/json", "Authorization", "Bearer "+user)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var made struct{ ID string }
	if json.Unmarshal(body, &made); resp.StatusCode != http.StatusCreated || made.ID == "" {
		t.Fatalf("creation answered %d: %.300s", resp.StatusCode, body)
	}
	tests := []struct {
		name     string
		token    string // "" is the application's app-only token
		want     int
		wantRead bool // the proxy read it from Graph
	}{
		{name: "its maker", token: user, want: http.StatusOK, wantRead: true},
		{name: "another user of the application", token: another, want: http.StatusForbidden, wantRead: true},
		{name: "the application app-only", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		e.Sim.Graph.ResetRequests()
		var hdr []string
		if tt.token != "" {
			hdr = []string{"Authorization", "Bearer " + tt.token}
		}
		resp := e.Do("GET", "/v1.0/subscriptions/"+made.ID, nil, hdr...)
		resp.Body.Close()
		rec := e.Record(resp)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d (%s %q); want %d", tt.name, resp.StatusCode, rec.Decision, rec.Reason, tt.want)
		}
		read := false
		for _, g := range e.Sim.Graph.Requests() {
			read = read || strings.Contains(g.Path, made.ID)
		}
		if read != tt.wantRead {
			t.Errorf("%s: read from Graph %v (%s %q); want %v", tt.name, read, rec.Decision, rec.Reason, tt.wantRead)
		}
		t.Logf("%-40s %d %s %q", tt.name, resp.StatusCode, rec.Decision, rec.Reason)
	}
}
