package hardening

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// scopeSourcesPolicy: a caller scoped to the group, a room (ROOM, not a
// member) and a guest domain exempt, with rules on users' calendars and
// drives and on objects that are no user (drives, groups, chats by id).
var scopeSourcesPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite, Files.ReadWrite.All, Group.ReadWrite.All, Chat.ReadWrite.All]
    users:
      group: "` + scopedGroup + `"
      withoutGroup: { domains: [vendor.example], addresses: [ROOM] }
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: events-create, method: POST, path: "/users/{user}/calendar/events", permission: Calendars.ReadWrite }
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: drive-actions, method: POST, path: "/users/{user}/drive/items/{id}/{action}", permission: Files.ReadWrite.All }
  - { id: drives-actions, method: POST, path: "/drives/{drive}/items/{id}/{action}", permission: Files.ReadWrite.All }
  - { id: group-member-ref, method: POST, path: "/groups/{group}/members/$ref", permission: Group.ReadWrite.All }
  - { id: group-update, method: PATCH, path: "/groups/{group}", permission: Group.ReadWrite.All }
  - { id: chat-messages, method: POST, path: "/chats/{chat}/messages", permission: Chat.ReadWrite.All }
  - { id: subscriptions, method: GET, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`

// TestScopeBySourceEndToEnd: through the real binary, a scoped caller
// reaches only users in scope by where the call names them. The path's
// user is checked even when the body names the same mailbox, which
// users.withoutGroup exempts only as a person named; a call on an object
// that is no user is refused whatever the body names, and custom
// annotations are refused; the people a sharing link is granted to
// (recipients[]) are read as an invitation's are.
func TestScopeBySourceEndToEnd(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	_, upns := sim.Graph.Users()
	member, room := upns[0], upns[2] // upns[2]: a room, not a member
	for _, id := range []string{graphsim.SystemIdentityClientID, graphsim.ManagedIdentityClientID} {
		have := sim.Entra.App(graphsim.CustomerTenant, id).Roles[graphsim.GraphResource]
		sim.Entra.SetRoles(graphsim.CustomerTenant, id, graphsim.GraphResource, append(have[:len(have):len(have)], "Files.ReadWrite.All", "Group.ReadWrite.All", "Chat.ReadWrite.All"))
	}
	p := startProxy(t, sim, procOptions{Policy: strings.Replace(scopeSourcesPolicy, "ROOM", room, 1)})
	for _, u := range upns[:2] {
		sim.Graph.SetGroupMember(scopedGroup, u, true)
	}
	const guest = "guest@vendor.example"
	const anyGroup = "60000000-0000-4000-8000-00000000ad00"
	ev := `"subject":"x","start":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-01T11:00:00","timeZone":"UTC"}`
	roomAttends := `{` + ev + `,"attendees":[{"emailAddress":{"address":"` + room + `"}}]}`
	batch := func(sub string) string { return `{"requests":[` + sub + `]}` }
	const ct = "application/json"
	probes := []bypass{
		{name: "control: a room's calendar", class: "control", method: "POST", path: "/v1.0/users/" + room + "/calendar/events", ct: ct, body: `{` + ev + `}`, refuse: true},
		{name: "a room's calendar, the room an attendee", class: "withoutGroup exempts the path's user", method: "POST",
			path: "/v1.0/users/" + room + "/calendar/events", ct: ct, body: roomAttends, refuse: true},
		{name: "free/busy as the room, the room in schedules", class: "withoutGroup exempts the path's user", method: "POST",
			path: "/v1.0/users/" + room + "/calendar/getSchedule", ct: ct,
			body: `{"schedules":["` + room + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}}`, refuse: true},
		{name: "$batch: a room's calendar, the room an attendee", class: "withoutGroup exempts the path's user", method: "POST", path: "/v1.0/$batch", ct: ct,
			body: batch(`{"id":"1","method":"POST","url":"users/` + room + `/calendar/events","headers":{"Content-Type":"application/json"},"body":` + roomAttends + `}`), refuse: true},
		{name: "any drive by id, shared with a guest", class: "scoped call on no user", method: "POST",
			path: "/v1.0/drives/b!CEOdrive/items/I1/invite", ct: ct, body: `{"recipients":[{"email":"` + guest + `"}],"sendInvitation":true,"roles":["write"]}`, refuse: true},
		{name: "any group, a member added by $ref", class: "scoped call on no user", method: "POST",
			path: "/v1.0/groups/" + anyGroup + "/members/$ref", ct: ct, body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + member + `"}`, refuse: true},
		{name: "any group, members@odata.bind", class: "scoped call on no user", method: "PATCH",
			path: "/v1.0/groups/" + anyGroup, ct: ct, body: `{"members@odata.bind":["https://graph.microsoft.com/v1.0/users/` + member + `"]}`, refuse: true},
		{name: "any group renamed, a member in a custom annotation", class: "scoped call on no user", method: "PATCH",
			path: "/v1.0/groups/" + anyGroup, ct: ct, body: `{"displayName":"x","@vendor.note":{"emailAddress":"` + member + `"}}`, refuse: true},
		{name: "any chat, a member in a custom annotation", class: "scoped call on no user", method: "POST",
			path: "/v1.0/chats/19:ceo-board@thread.v2/messages", ct: ct, body: `{"body":{"content":"hello"},"@vendor.note":{"emailAddress":"` + member + `"}}`, refuse: true},
		{name: "a member's event with a custom annotation", class: "custom annotation", method: "POST",
			path: "/v1.0/users/" + member + "/calendar/events", ct: ct, body: `{` + ev + `,"@vendor.note":"x"}`, refuse: true},
		{name: "every subscription listed", class: "scoped call on no user", method: "GET", path: "/v1.0/subscriptions", refuse: true},
		{name: "a sharing link granted to an outsider", class: "createLink recipients not read", method: "POST",
			path: "/v1.0/users/" + member + "/drive/items/I1/createLink", ct: ct, body: `{"type":"edit","scope":"users","recipients":[{"email":"eve@evil.example"}],"sendNotification":true}`, refuse: true},
		{name: "a sharing link granted to a non-member", class: "createLink recipients not read", method: "POST",
			path: "/v1.0/users/" + member + "/drive/items/I1/createLink", ct: ct, body: `{"type":"edit","scope":"users","recipients":[{"email":"` + upns[3] + `"}]}`, refuse: true},
		{name: "a sharing link granted by object id", class: "createLink recipients not read", method: "POST",
			path: "/v1.0/users/" + member + "/drive/items/I1/createLink", ct: ct, body: `{"type":"edit","scope":"users","recipients":[{"objectId":"10000000-0000-4000-8000-0000000000c0"}]}`, refuse: true},
	}
	sendProbes(t, p, sim, probes)

	// Still allowed: a member's calendar with the room as an attendee,
	// the room exempt as a person named.
	sim.Graph.ResetRequests()
	r := p.Do("POST", "/v1.0/users/"+member+"/calendar/events", roomAttends, "Content-Type", ct)
	if r.Status != 201 || len(graphSaw(sim)) != 1 {
		t.Errorf("a member's event with the room as an attendee: status %d, Graph saw %d", r.Status, len(graphSaw(sim)))
	}
	p.Stop()
}

// subscriptionsPolicy: a scoped caller and another vendor, unscoped, each
// with its own hooks, and the docs' rules on subscriptions.
var subscriptionsPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    users: { group: "` + scopedGroup + `" }
  - name: other
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + otherVendorApp + `" }
    permissions: [Calendars.ReadBasic.All]
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*", "https://hooks.other.example/*"]
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: [GET, PATCH, DELETE], path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`

const otherVendorApp = "e0000000-0000-4000-8000-0000000000e7"

// TestSubscriptionsOfOthersEndToEnd: through the real binary, a call on a
// subscription by id is decided on the subscription the proxy reads from
// Graph first (recorded, as other reference reads are): a scoped caller
// cannot read, redirect or delete another vendor's subscription to a user
// outside its scope, while it manages its own.
func TestSubscriptionsOfOthersEndToEnd(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	_, upns := sim.Graph.Users()
	member, outsider := upns[0], upns[3]
	p := startProxy(t, sim, procOptions{Policy: subscriptionsPolicy})
	for _, u := range upns[:2] {
		sim.Graph.SetGroupMember(scopedGroup, u, true)
	}
	otherTok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: otherVendorApp,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	subscribe := func(tok, user, hook string) string {
		t.Helper()
		r := p.DoToken(tok, "POST", "/v1.0/subscriptions", `{"changeType":"created","notificationUrl":"`+hook+`","resource":"users/`+user+`/events","expirationDateTime":"2030-01-01T00:00:00Z","clientState":"secret-state"}`, "Content-Type", "application/json")
		var sub struct{ ID string }
		if r.Status != 201 || json.Unmarshal(r.Body, &sub) != nil || sub.ID == "" {
			t.Fatalf("subscription to %s's events: %d %s", user, r.Status, r.Body)
		}
		return sub.ID
	}
	theirs := subscribe(otherTok, outsider, "https://hooks.other.example/n")
	// Another made through $batch: known to the proxy the same way.
	batched := p.DoToken(otherTok, "POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"POST","url":"/subscriptions","headers":{"Content-Type":"application/json"},"body":{"changeType":"created","notificationUrl":"https://hooks.other.example/n","resource":"users/`+outsider+`/events","expirationDateTime":"2030-01-01T00:00:00Z"}}]}`, "Content-Type", "application/json")
	var made struct {
		Responses []struct {
			Status int
			Body   struct{ ID string }
		}
	}
	if batched.Status != 200 || json.Unmarshal(batched.Body, &made) != nil || len(made.Responses) != 1 || made.Responses[0].Status != 201 {
		t.Fatalf("subscription made in a $batch: %d %s", batched.Status, batched.Body)
	}
	theirsBatched := made.Responses[0].Body.ID
	ours := subscribe(p.Token(), member, "https://hooks.vendor.example/graph/n")

	tests := []struct {
		name, method, id, body string
		want                   int
	}{
		{name: "read another vendor's subscription", method: "GET", id: theirs, want: 403},
		{name: "redirect it to the caller's hook", method: "PATCH", id: theirs, body: `{"notificationUrl":"https://hooks.vendor.example/graph/stolen"}`, want: 403},
		{name: "renew it", method: "PATCH", id: theirs, body: `{"expirationDateTime":"2030-01-02T00:00:00Z"}`, want: 403},
		{name: "delete it", method: "DELETE", id: theirs, want: 403},
		{name: "read one another vendor made in a $batch", method: "GET", id: theirsBatched, want: 403},
		{name: "a subscription that does not exist", method: "DELETE", id: "00000000-0000-4000-8000-000000000000", want: 403},
		{name: "change what its own watches", method: "PATCH", id: ours, body: `{"resource":"users/` + outsider + `/events"}`, want: 403},
		{name: "read its own", method: "GET", id: ours, want: 200},
		{name: "renew its own", method: "PATCH", id: ours, body: `{"expirationDateTime":"2030-01-02T00:00:00Z"}`, want: 200},
		{name: "delete its own", method: "DELETE", id: ours, want: 204},
	}
	for _, tt := range tests {
		sim.Graph.ResetRequests()
		var hdr []string
		if tt.body != "" {
			hdr = []string{"Content-Type", "application/json"}
		}
		r := p.Do(tt.method, "/v1.0/subscriptions/"+tt.id, tt.body, hdr...)
		rec := p.Record(r.RequestID)
		saw := graphSaw(sim) // not the proxy's read of the subscription
		if r.Status != tt.want {
			t.Errorf("%s: status %d, want %d (%s %q)", tt.name, r.Status, tt.want, rec.Decision, rec.Reason)
		}
		if tt.want >= 400 && (len(saw) > 0 || rec.Decision == "allow") {
			t.Errorf("%s: reached Graph (%d) or allowed: %s %q", tt.name, len(saw), rec.Decision, rec.Reason)
		}
		if tt.id == theirs || tt.id == theirsBatched {
			// Made through the proxy by another caller: refused without
			// the proxy's read of it either.
			for _, g := range sim.Graph.Requests() {
				if strings.Contains(g.Path, tt.id) {
					t.Errorf("%s: Graph saw %s %s", tt.name, g.Method, g.Path)
				}
			}
		}
		if tt.want >= 400 && strings.Contains(string(r.Body), "secret-state") {
			t.Errorf("%s: the answer carries the subscription's clientState", tt.name)
		}
		t.Logf("%-40s %d %s targets %v reason %q", tt.name, r.Status, rec.Decision, rec.Targets, rec.Reason)
	}
	// The same through $batch.
	sim.Graph.ResetRequests()
	r := p.Do("POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/subscriptions/`+theirs+`"}]}`, "Content-Type", "application/json")
	if r.Status != 403 {
		t.Errorf("$batch reading another vendor's subscription: %d %s", r.Status, r.Body)
	}
	for _, g := range sim.Graph.Requests() {
		t.Errorf("$batch reading another vendor's subscription: Graph saw %s %s", g.Method, g.Path)
	}
	p.Stop()
}
