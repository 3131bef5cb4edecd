package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/seal"
)

// TestNotificationsFollowTheCredential: a relayed subscription is its
// maker's credential's, not its policy name's. Its maker renamed in the
// policy still receives its deliveries, decided under its rules and
// recorded under its new name; a new caller (another application) given
// the old name is shown none of its notification URLs nor its clientState
// — listed, in $batch, read, renewed or deleted, on a replica that does
// not remember who made it — and its deliveries are never decided under
// that new caller's rules.
func TestNotificationsFollowTheCredential(t *testing.T) {
	const otherApp = "e0000000-0000-4000-8000-0000000000e2"
	v := newVendor(t)
	caller := func(name, app, extra string) string {
		return `
  - name: ` + name + `
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + app + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay` + extra
	}
	inGroup := `
    users: { group: "` + graphsim.SchedulingGroup + `" }`
	pol := func(callers ...string) string {
		return `version: 1
callers:` + strings.Join(callers, "") + `
subscriptions:
  notificationUrls: ["` + v.URL + `/graph/*"]
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: list, method: GET, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: [GET, PATCH, DELETE], path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`
	}
	e := proxytest.New(t, proxytest.Options{Policy: pol(caller("engage", graphsim.VendorAppID, inGroup)), Reloadable: true,
		NotificationKey: notificationKey, NotificationClient: v.Client()})
	ids, _ := e.Sim.Graph.Users()
	member, outsider := ids[0], ids[len(ids)-1]
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, member, true)
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, outsider, false)
	e.Sim.Graph.Subscriptions.SetRetries(0, time.Millisecond)
	id := *subscribe(t, e, v, member, "vendor-secret").GetId()
	held, _ := e.Sim.Graph.Subscriptions.Get(id)
	reload := e.SetPolicy
	delivered := func(user string) int {
		t.Helper()
		before := len(v.got("/graph/notify"))
		status, err := e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + user + "/Events/AAMk1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.got("/graph/notify"); len(got) > before && got[len(got)-1]["clientState"] != "vendor-secret" {
			t.Errorf("the vendor received clientState %v; want its own", got[len(got)-1]["clientState"])
		}
		if len(v.got("/graph/notify")) == before && status == http.StatusAccepted {
			return 0 // answered, nothing the caller's to hear
		}
		return status
	}
	// The n-th inbound record: two validations, then one a delivery.
	inboundRecord := func(n int) (name, decision, reason string) {
		t.Helper()
		r := waitInbound(t, e, n)[n-1]
		if r.Caller.TenantID != graphsim.VendorTenant || r.Caller.AppID != graphsim.VendorAppID {
			t.Errorf("inbound record %d names tenant %q, application %q; want the maker's credential", n, r.Caller.TenantID, r.Caller.AppID)
		}
		return r.Caller.Name, r.Decision, r.Reason
	}

	// Renamed: its deliveries still arrive, recorded under its new name.
	reload(pol(caller("engage-v2", graphsim.VendorAppID, inGroup)))
	if status := delivered(member); status != http.StatusAccepted {
		t.Errorf("renamed: a delivery answered %d, not delivered; want 202, delivered", status)
	}
	if name, decision, _ := inboundRecord(3); name != "engage-v2" || decision != "allow" {
		t.Errorf("renamed: the record names %q, %s; want engage-v2, allow", name, decision)
	}

	// A new caller under the old name: the deliveries are still decided
	// under the renamed caller's rules (its group drops the outsider; the
	// new caller has no group).
	both := pol(caller("engage-v2", graphsim.VendorAppID, inGroup), caller("engage", otherApp, ""))
	reload(both)
	if status := delivered(outsider); status != 0 {
		t.Errorf("an outsider's notification answered %d, delivered; want it dropped under the maker's users.group", status)
	}
	if name, decision, reason := inboundRecord(4); name != "engage-v2" || decision != "deny" || !strings.Contains(reason, "not a member") {
		t.Errorf("outsider: the record names %q, %s, %q; want engage-v2, deny, not a member", name, decision, reason)
	}
	if status := delivered(member); status != http.StatusAccepted {
		t.Errorf("a member's notification answered %d; want 202, delivered", status)
	}

	// What the new caller is shown of the subscription: never its maker's
	// URL nor clientState. Another replica with the same key (and public
	// base, as Graph holds it here) does not remember who made it, and
	// reads it from Graph.
	other := proxytest.New(t, proxytest.Options{Sim: e.Sim, Policy: both, NotificationKey: notificationKey, NotificationClient: v.Client()})
	newcomer, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: otherApp,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	rehost := func(u string) string { return other.Server.URL + u[strings.Index(u, "/notifications/"):] }
	sub, _ := json.Marshal(map[string]any{"id": held.ID, "resource": held.Resource, "changeType": "created",
		"expirationDateTime": "2030-01-01T00:00:00Z", "clientState": held.ClientState,
		"notificationUrl": rehost(held.NotificationURL), "lifecycleNotificationUrl": rehost(held.LifecycleURL)})
	listing := `{"value":[` + string(sub) + `]}`
	batchOf := func(body string) string {
		b, _ := json.Marshal(map[string]any{"responses": []any{map[string]any{"id": "1", "status": 200,
			"headers": map[string]string{"Content-Type": "application/json"}, "body": json.RawMessage(body)}}})
		return string(b)
	}
	graph := func(answers ...string) []graphsim.Fault { // method, path, body, ...
		var out []graphsim.Fault
		for i := 0; i+2 < len(answers); i += 3 {
			out = append(out, graphsim.Fault{Method: answers[i], PathPrefix: answers[i+1], Body: answers[i+2]})
		}
		return out
	}
	byID := graph("GET", "/subscriptions/"+id, string(sub))
	for _, tt := range []struct {
		name, token, method, path, body string
		graph                           []graphsim.Fault
		want                            int
		mine                            bool // the maker's: its own URL and clientState shown
	}{
		{name: "listing", token: newcomer, method: "GET", path: "/v1.0/subscriptions", graph: graph("GET", "/subscriptions", listing), want: http.StatusOK},
		{name: "listing in $batch", token: newcomer, method: "POST", path: "/v1.0/$batch", graph: graph("POST", "/$batch", batchOf(listing)),
			body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions"}]}`, want: http.StatusOK},
		{name: "read", token: newcomer, method: "GET", path: "/v1.0/subscriptions/" + id, graph: byID, want: http.StatusForbidden},
		{name: "read in $batch", token: newcomer, method: "POST", path: "/v1.0/$batch", graph: append(graph("POST", "/$batch", batchOf(string(sub))), byID...),
			body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions/` + id + `"}]}`, want: http.StatusForbidden},
		{name: "renewal", token: newcomer, method: "PATCH", path: "/v1.0/subscriptions/" + id, graph: byID,
			body: `{"expirationDateTime":"2030-01-01T00:00:00Z"}`, want: http.StatusForbidden},
		{name: "deletion", token: newcomer, method: "DELETE", path: "/v1.0/subscriptions/" + id, graph: byID, want: http.StatusForbidden},
		{name: "read, its maker renamed", method: "GET", path: "/v1.0/subscriptions/" + id, graph: byID, want: http.StatusOK, mine: true},
		{name: "read in $batch, its maker renamed", method: "POST", path: "/v1.0/$batch", graph: append(graph("POST", "/$batch", batchOf(string(sub))), byID...),
			body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions/` + id + `"}]}`, want: http.StatusOK, mine: true},
	} {
		e.Sim.Graph.ClearFaults()
		for i := range tt.graph {
			e.Sim.Graph.Inject(&tt.graph[i])
		}
		hdr := []string{"Content-Type", "application/json"}
		if tt.token != "" {
			hdr = append(hdr, "Authorization", "Bearer "+tt.token)
		}
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		resp := other.Do(tt.method, tt.path, body, hdr...)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d (%.300s); want %d", tt.name, resp.StatusCode, got, tt.want)
		}
		shown := strings.Contains(string(got), "/graph/notify") || strings.Contains(string(got), "vendor-secret")
		if shown != tt.mine {
			t.Errorf("%s: the maker's URL or clientState shown: %v (%.300s); want %v", tt.name, shown, got, tt.mine)
		}
		if strings.Contains(string(got), held.ClientState) {
			t.Errorf("%s: Graph's clientState shown (%.300s)", tt.name, got)
		}
	}
	e.Sim.Graph.ClearFaults()
	if _, ok := e.Sim.Graph.Subscriptions.Get(id); !ok {
		t.Error("the subscription was deleted by the new caller under its maker's old name")
	}

	// The maker removed from the policy: its deliveries are refused, and
	// the record names the credential (inboundRecord checks it) although
	// no caller has it.
	reload(pol(caller("engage", otherApp, "")))
	if status := delivered(member); status == http.StatusAccepted {
		t.Error("a delivery for a maker no caller has any more was delivered")
	}
	if name, decision, reason := inboundRecord(6); name != "" || decision != "deny" || !strings.Contains(reason, "no caller") {
		t.Errorf("maker removed: the record names %q, %s, %q; want no caller, deny", name, decision, reason)
	}
}

// TestNotificationsOfEarlierVersionsRefused: a notification URL an
// earlier version made seals its caller's policy name, not its identity.
// The name is never believed — it may be another party's now — so the
// URL is nobody's: its deliveries are refused and recorded, and no
// caller, the one of that name included, is shown its URL or clientState.
func TestNotificationsOfEarlierVersionsRefused(t *testing.T) {
	e, v, member, _ := relayEnv(t)
	// A route as earlier versions sealed it, under the relay's key.
	const proxyState = "Pq0000000000000000000000000000000000000000a"
	box := seal.New(proxytest.StaticKey(notificationKey), "graph-proxy/notifications", 2048)
	tok, err := box.Seal([]byte(`{"c":"engage","u":"` + v.URL + `/graph/notify","s":"vendor-secret","p":"` + proxyState +
		`","v":"v1.0","r":"users/` + member + `/events"}`))
	if err != nil {
		t.Fatal(err)
	}
	url := e.Server.URL + "/notifications/" + tok
	delivery, _ := json.Marshal(map[string]any{"value": []any{map[string]any{"subscriptionId": "5d000000-0000-4000-8000-0000000000e9",
		"changeType": "created", "resource": "Users/" + member + "/Events/AAMk1", "clientState": proxyState, "tenantId": graphsim.CustomerTenant}}})
	resp, err := e.Server.Client().Post(url, "application/json", strings.NewReader(string(delivery)))
	if err != nil {
		t.Fatal(err)
	}
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != http.StatusForbidden || ge.Error.InnerError.RequestID == "" {
		t.Errorf("delivery at an earlier version's URL: %d %+v; want 403 in Graph's shape", resp.StatusCode, ge)
	}
	if got := v.got("/graph/notify"); len(got) != 0 {
		t.Errorf("the vendor received %v", got)
	}
	r := waitInbound(t, e, 1)[0]
	if r.Decision != "deny" || r.Status != http.StatusForbidden || !strings.Contains(r.Reason, "earlier version") || r.Caller.Name != "" {
		t.Errorf("record %+v; want a refusal naming no caller, saying why", r)
	}

	// Read by the caller of the name it carries: another caller's
	// subscription, refused, neither URL nor clientState shown.
	sub := `{"id":"5d000000-0000-4000-8000-0000000000e9","resource":"users/` + member + `/events","changeType":"created",` +
		`"expirationDateTime":"2030-01-01T00:00:00Z","clientState":"` + proxyState + `","notificationUrl":"` + url + `"}`
	e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: "/subscriptions", Body: sub})
	resp = e.Do("GET", "/v1.0/subscriptions/5d000000-0000-4000-8000-0000000000e9", nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(got), "vendor-secret") || strings.Contains(string(got), proxyState) {
		t.Errorf("read by the caller of the name it carries: %d %.300s; want 403", resp.StatusCode, got)
	}
}
