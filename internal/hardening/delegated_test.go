package hardening

import (
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// delegatedPolicy: a caller scoped to the scheduling group that acts for
// signed-in users, with rules that take the user other than by {user},
// rules on things that are no user, and an app-only rule beside them.
const delegatedPolicy = `version: 1
callers:
  - name: vendor
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    delegated: { scopes: [User.Read, Mail.Read, Mail.Send, Files.Read.All, Chat.Read] }
    users: { group: "` + graphsim.SchedulingGroup + `" }
mail:
  recipientDomains: [contoso.example]
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/*"]
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
  - { id: me-send, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }
  - { id: mail-by-id, method: GET, path: "/users/{id}/messages", delegatedScope: Mail.Read }
  - { id: app-events, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All, delegatedScope: Mail.Read }
  - { id: drive-children, method: GET, path: "/drives/{id}/root/children", delegatedScope: Files.Read.All }
  - { id: chat-messages, method: GET, path: "/chats/{id}/messages", delegatedScope: Chat.Read }
`

// TestDelegatedAttacks: a vendor's app acting for a signed-in user,
// through the binary, tries to act on another user, on things that are no
// user, through an app-only rule, and with tokens that are not a user's
// token for the proxy of the customer's tenant. Each is refused, audited
// naming the user where one was established, and none reaches Graph; the
// user's own call goes through with the user's Graph token.
func TestDelegatedAttacks(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{Policy: delegatedPolicy, Env: []string{
		"GRAPH_PROXY_UPSTREAM_MODE=keyVaultSecret",
		"GRAPH_PROXY_INBOUND_ENTRA_ALLOWDELEGATED=true",
	}})
	ids, upns := sim.Graph.Users()
	self, other := 5, 6 // both in the scheduling group; 20 is outside it
	user := func(s graphsim.UserTokenSpec) string {
		t.Helper()
		tok, _, err := sim.Entra.MintUser(s)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	adele := user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self]})
	subscribe := func(resource string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/n","resource":"` + resource +
			`","expirationDateTime":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `","clientState":"s"}`
	}
	graphToken, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.VendorAppID,
		Audience: graphsim.GraphResource, Delegated: true})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, token, method, path, body string
		status                          int
		actor                           string // the record's actor, "" for none
		// allowed: the policy allows the call, and a later stage (the
		// exchange) refuses it: recorded as allowed, with the error.
		allowed bool
	}{
		{name: "another user by {id}", token: adele, method: "GET", path: "/v1.0/users/" + upns[other] + "/messages", status: 403, actor: ids[self]},
		{name: "another user's object id by {id}", token: adele, method: "GET", path: "/v1.0/users/" + ids[other] + "/messages", status: 403, actor: ids[self]},
		{name: "another user by {id} in a batch", token: adele, method: "POST", path: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + upns[other] + `/messages"}]}`, status: 403, actor: ids[self]},
		{name: "mail sent as another user", token: adele, method: "POST", path: "/v1.0/me/sendMail",
			body:   `{"message":{"from":{"emailAddress":{"address":"` + upns[other] + `"}},"toRecipients":[{"emailAddress":{"address":"` + upns[self] + `"}}]}}`,
			status: 403, actor: ids[self]},
		{name: "a drive by its own id", token: adele, method: "GET", path: "/v1.0/drives/b!x/root/children", status: 403, actor: ids[self]},
		{name: "a chat by its own id", token: adele, method: "GET", path: "/v1.0/chats/19:x@thread.v2/messages", status: 403, actor: ids[self]},
		{name: "a subscription through an app-only rule", token: adele, method: "POST", path: "/v1.0/subscriptions",
			body: subscribe("users/" + upns[other] + "/events"), status: 403, actor: ids[self]},
		{name: "a user outside the group", token: user(graphsim.UserTokenSpec{ObjectID: ids[20], UPN: upns[20]}),
			method: "GET", path: "/v1.0/me", status: 403, actor: ids[20]},
		{name: "a user of the vendor's tenant", token: user(graphsim.UserTokenSpec{Tenant: graphsim.VendorTenant, ObjectID: ids[self], UPN: upns[self]}),
			method: "GET", path: "/v1.0/me", status: 401},
		{name: "a user's token for Graph", token: graphToken, method: "GET", path: "/v1.0/me", status: 401},
		{name: "a user's token without the proxy's scope", token: user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self], Scopes: []string{"Mail.Read"}}),
			method: "GET", path: "/v1.0/me", status: 401},
		{name: "a user signed in to an app the policy does not name", token: user(graphsim.UserTokenSpec{AppID: "00000000-0000-0000-0000-00000000beef", ObjectID: ids[self], UPN: upns[self]}),
			method: "GET", path: "/v1.0/me", status: 403, actor: ids[self]},
		{name: "a user's token that has expired", token: user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self], IssuedAt: time.Now().Add(-2 * time.Hour), Lifetime: time.Hour}),
			method: "GET", path: "/v1.0/me", status: 401},
		{name: "a user's token expiring within seconds", token: user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self], IssuedAt: time.Now().Add(-time.Hour), Lifetime: time.Hour + 3*time.Second}),
			method: "GET", path: "/v1.0/me", status: 401, actor: ids[self], allowed: true},
		{name: "an app-only token on /me", token: p.Token(), method: "GET", path: "/v1.0/me", status: 403},
		// preferred_username is mutable and not for authorization: a
		// token without upn names its user by object id alone.
		{name: "its own UPN by preferred_username alone", token: user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self], WithoutUPN: true}),
			method: "GET", path: "/v1.0/users/" + upns[self] + "/messages", status: 403, actor: ids[self]},
		{name: "another user's UPN as preferred_username", token: user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[other], WithoutUPN: true}),
			method: "GET", path: "/v1.0/users/" + upns[other] + "/messages", status: 403, actor: ids[self]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.Graph.ResetRequests()
			r := p.DoToken(tt.token, tt.method, tt.path, tt.body)
			if r.Status != tt.status {
				t.Fatalf("got %d %s; want %d", r.Status, r.Body, tt.status)
			}
			rec := p.Record(r.RequestID)
			if !tt.allowed {
				refusedAndAudited(t, p, tt.name, r)
			} else if rec.Decision != "allow" || rec.Status != r.Status || rec.Error == "" || len(graphSaw(sim)) != 0 {
				t.Errorf("record %s status %d error %q; Graph saw %d requests", rec.Decision, rec.Status, rec.Error, len(graphSaw(sim)))
			}
			got := ""
			if rec.Actor != nil {
				got = rec.Actor.ObjectID
			}
			if got != tt.actor {
				t.Errorf("record's actor %q; want %q", got, tt.actor)
			}
			if strings.Contains(rec.Error+rec.Reason, tt.token) {
				t.Error("the record holds the token")
			}
		})
	}

	// The user's own call: forwarded with a Graph token of the user, not
	// the token the caller sent, and recorded naming the caller and user.
	sim.Graph.ResetRequests()
	r := p.DoToken(adele, "GET", "/v1.0/users/"+upns[self]+"/messages", "")
	rec := p.Record(r.RequestID)
	if rec.Decision != "allow" || rec.Actor == nil || rec.Actor.ObjectID != ids[self] || rec.Caller.Name != "vendor" {
		t.Fatalf("the user's own mail: %d %s, record %+v", r.Status, r.Body, rec)
	}
	saw := graphSaw(sim)
	if len(saw) != 1 || saw[0].Header.Get("Authorization") == "Bearer "+adele {
		t.Fatalf("Graph saw %d requests, or the caller's token", len(saw))
	}

	// Without upn the user's own calls go by object id, and the record
	// shows preferred_username where the UPN would be.
	bare := user(graphsim.UserTokenSpec{ObjectID: ids[self], UPN: upns[self], WithoutUPN: true})
	for _, path := range []string{"/v1.0/me", "/v1.0/users/" + ids[self] + "/messages"} {
		r := p.DoToken(bare, "GET", path, "")
		rec := p.Record(r.RequestID)
		if rec.Decision != "allow" || rec.Actor == nil || rec.Actor.ObjectID != ids[self] || rec.Actor.UPN != upns[self] {
			t.Errorf("%s without upn: %d %s, record actor %+v, reason %s", path, r.Status, r.Body, rec.Actor, rec.Reason)
		}
	}
}
