package policy

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const delegatedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [User.ReadBasic.All]
    delegated: { scopes: [User.Read, Mail.Send, Calendars.ReadWrite] }
    users: { group: "90000000-0000-4000-8000-000000000001" }
  - name: app-only
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e2" }
    permissions: [User.ReadBasic.All]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: users-get, method: GET, path: "/users/{user}", permission: User.ReadBasic.All }
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
  - { id: me-send, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }
  - { id: shared-events, method: GET, path: "/users/{user}/events", delegatedScope: Calendars.ReadWrite, otherUsers: true }
  - { id: own-calendar, method: GET, path: "/users/{user}/calendar", delegatedScope: Calendars.ReadWrite }
  - { id: both, method: GET, path: "/users/{user}/mailboxSettings", permission: User.ReadBasic.All, delegatedScope: User.Read }
`

func TestDelegatedDecisions(t *testing.T) {
	p, err := Parse("delegated.yaml", []byte(delegatedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	tests := []struct {
		name        string
		caller      string
		actor       *Actor
		method      string
		path        string
		body        string
		want        Result
		wantRule    string
		wantTargets string
		wantScopes  string
		wantReason  string
	}{
		{name: "/me is the signed-in user", caller: "engage", actor: adele, method: "GET", path: "/v1.0/me",
			want: Allow, wantRule: "me", wantTargets: "adele@contoso.example", wantScopes: "User.Read"},
		{name: "sendMail as the user", caller: "engage", actor: adele, method: "POST", path: "/v1.0/me/sendMail",
			body: `{"message":{"toRecipients":[{"emailAddress":{"address":"grady@contoso.example"}}]}}`,
			want: Allow, wantRule: "me-send", wantTargets: "adele@contoso.example,grady@contoso.example", wantScopes: "Mail.Send"},
		{name: "the user by UPN is the user", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/adele@contoso.example/calendar",
			want: Allow, wantRule: "own-calendar", wantTargets: "adele@contoso.example,adele@contoso.example", wantScopes: "Calendars.ReadWrite"},
		{name: "the user by object id is the user", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/10000000-0000-4000-8000-000000000000/calendar",
			want: Allow, wantRule: "own-calendar", wantTargets: "adele@contoso.example,10000000-0000-4000-8000-000000000000", wantScopes: "Calendars.ReadWrite"},
		{name: "another user without otherUsers", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/grady@contoso.example/calendar",
			want: Deny, wantRule: "own-calendar", wantReason: `rule "own-calendar" serves the signed-in user only, and /users/grady@contoso.example/calendar names another user; a rule with otherUsers: true allows it`},
		{name: "another user with otherUsers", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/grady@contoso.example/events",
			want: Allow, wantRule: "shared-events", wantTargets: "adele@contoso.example,grady@contoso.example", wantScopes: "Calendars.ReadWrite"},
		{name: "a rule of both kinds, delegated", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/adele@contoso.example/mailboxSettings",
			want: Allow, wantRule: "both", wantTargets: "adele@contoso.example,adele@contoso.example", wantScopes: "User.Read"},
		{name: "a rule of both kinds, app-only", caller: "engage", method: "GET", path: "/v1.0/users/adele@contoso.example/mailboxSettings",
			want: Allow, wantRule: "both", wantTargets: "adele@contoso.example"},
		{name: "an app-only rule for a user", caller: "engage", actor: adele, method: "GET", path: "/v1.0/users/adele@contoso.example",
			want: Deny, wantReason: `rule "users-get" serves app-only calls only (no delegatedScope), and this call is a signed-in user's`},
		{name: "/me app-only", caller: "engage", method: "GET", path: "/v1.0/me",
			want: Deny, wantReason: `rule "me" serves signed-in users' calls only (delegatedScope), and this call is app-only`},
		{name: "a caller without delegated access", caller: "app-only", actor: adele, method: "GET", path: "/v1.0/me",
			want: Deny, wantReason: `caller "app-only" acts as signed-in user adele@contoso.example but does not declare delegated access (callers[].delegated)`},
		{name: "a batch of the user's calls", caller: "engage", actor: adele, method: "POST", path: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"GET","url":"/users/grady@contoso.example/events"}]}`,
			want: Allow, wantTargets: "adele@contoso.example,grady@contoso.example", wantScopes: "User.Read,Calendars.ReadWrite"},
		{name: "a batch with another user's calendar", caller: "engage", actor: adele, method: "POST", path: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"GET","url":"/users/grady@contoso.example/calendar"}]}`,
			want: Deny, wantReason: "batch requests refused: 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideAs(t, p, tt.caller, tt.actor, tt.method, tt.path, tt.body)
			if d.Result != tt.want || d.RuleID != tt.wantRule && tt.wantRule != "" || d.Reason != tt.wantReason {
				t.Errorf("got %s rule %q reason %q; want %s rule %q reason %q", d.Result, d.RuleID, d.Reason, tt.want, tt.wantRule, tt.wantReason)
			}
			if tt.want != Allow {
				return
			}
			if got := strings.Join(d.Targets, ","); got != tt.wantTargets {
				t.Errorf("got targets %s; want %s", got, tt.wantTargets)
			}
			if got := strings.Join(d.Scopes, ","); got != tt.wantScopes {
				t.Errorf("got scopes %s; want %s", got, tt.wantScopes)
			}
			if d.Group != "90000000-0000-4000-8000-000000000001" {
				t.Errorf("group %q: the group scope applies to delegated calls too", d.Group)
			}
		})
	}
	if name, ok := p.CallerForDelegatedApp("E0000000-0000-4000-8000-0000000000E1"); !ok || name != "engage" {
		t.Errorf("CallerForDelegatedApp: %q %v", name, ok)
	}
	if _, ok := p.CallerForDelegatedApp("e0000000-0000-4000-8000-0000000000e2"); ok {
		t.Error("a caller without delegated access named for a user's token")
	}
	if got := strings.Join(p.DelegatedScopesNeeded(), ","); got != "Calendars.ReadWrite,Mail.Send,User.Read" {
		t.Errorf("DelegatedScopesNeeded %s", got)
	}
	if got := strings.Join(p.Permissions(), ","); got != "GroupMember.Read.All,User.ReadBasic.All" {
		t.Errorf("Permissions %s: delegated rules need no application permission", got)
	}
}

func TestDelegatedLoadProblems(t *testing.T) {
	const head = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
`
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "unknown delegated scope", text: head + `    delegated: { scopes: [Mail.Sendd] }
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: Mail.Send }
`, want: `caller "engage": unknown delegated scope "Mail.Sendd" (did you mean "Mail.Send"?)`},
		{name: "delegated without scopes", text: head + `    delegated: {}
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
`, want: `delegated.scopes are required`},
		{name: "/me without delegatedScope", text: head + `    permissions: [User.ReadBasic.All]
rules:
  - { id: me, method: GET, path: "/me", permission: User.ReadBasic.All }
`, want: `rule "me": /me is the signed-in user: the rule needs delegatedScope`},
		{name: "/me with a permission", text: head + `    delegated: { scopes: [User.Read] }
    permissions: [User.ReadBasic.All]
rules:
  - { id: me, method: GET, path: "/me", permission: User.ReadBasic.All, delegatedScope: User.Read }
`, want: `rule "me": /me has no meaning for an app-only call`},
		{name: "scope no caller may use", text: head + `    delegated: { scopes: [User.Read] }
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: Calendars.Read }
`, want: `no caller's delegated.scopes holds Calendars.Read`},
		{name: "otherUsers without delegatedScope", text: head + `    permissions: [User.ReadBasic.All]
rules:
  - { id: u, method: GET, path: "/users/{user}", permission: User.ReadBasic.All, otherUsers: true }
`, want: `otherUsers applies to delegated calls`},
		{name: "neither permission nor scope", text: head + `    delegated: { scopes: [User.Read] }
rules:
  - { id: u, method: GET, path: "/users/{user}" }
`, want: `permission is required`},
		{name: "one application's delegated access for two callers", text: head + `    delegated: { scopes: [User.Read] }
    users: { group: "90000000-0000-4000-8000-000000000001" }
  - name: engage-wide
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000009", appID: "E0000000-0000-4000-8000-0000000000E1" }
    delegated: { scopes: [User.Read] }
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
`, want: `caller "engage-wide": caller "engage" declares delegated access for application e0000000-0000-4000-8000-0000000000e1 too`},
		{name: "delegated by certificate", text: `version: 1
callers:
  - name: engage
    match: { certThumbprint: "0123456789abcdef0123456789abcdef01234567" }
    delegated: { scopes: [User.Read] }
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
`, want: `delegated access needs match.appID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.text))
			var le *LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want a problem containing %q", err, tt.want)
			}
		})
	}
}

// FuzzDelegated: whatever path and body a signed-in user's call carries,
// and whoever the user is, a call the policy forwards names the delegated
// scope its Graph token needs, counts the user among its targets (so the
// group scope applies), and names no user other than the signed-in one
// under a rule that serves the user alone — in its path, whatever takes
// the user there, nor as who its mail is from.
func FuzzDelegated(f *testing.F) {
	for _, s := range [][3]string{
		{"GET", "/v1.0/me", ""},
		{"POST", "/v1.0/me/sendMail", `{"message":{"toRecipients":[{"emailAddress":{"address":"grady@contoso.example"}}]}}`},
		{"GET", "/v1.0/users/adele@contoso.example/calendar", ""},
		{"GET", "/v1.0/users('Adele@Contoso.example')/calendar", ""},
		{"GET", "/v1.0/users/grady@contoso.example/events", ""},
		{"GET", "/v1.0/users/10000000-0000-4000-8000-000000000000/calendar", ""},
		{"POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","method":"GET","url":"/users/grady@contoso.example/calendar"}]}`},
		{"POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/users/adele@contoso.example/calendar"}]}`},
		{"GET", "/v1.0/ME", ""}, {"GET", "/v1.0/me/../users/x@contoso.example", ""},
	} {
		f.Add(s[0], s[1], s[2], "Adele@Contoso.example", "10000000-0000-4000-8000-000000000000")
	}
	p, err := Parse("delegated.yaml", []byte(delegatedPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, rawPath, body, upn, oid string) {
		path, query, _ := strings.Cut(rawPath, "?")
		req, err := Canonicalize(method, path, query)
		if err != nil {
			return
		}
		a := &Actor{ObjectID: oid, UPN: upn}
		routed := p.RouteAs("engage", a, req)
		d := routed.Decide("application/json", []byte(body))
		if !d.Forwarded() {
			return
		}
		if len(d.Scopes) == 0 {
			t.Fatalf("%s %s forwarded without a delegated scope", method, rawPath)
		}
		if !slices.Contains(d.Targets, a.name()) {
			t.Fatalf("%s %s: targets %v lack the signed-in user %s", method, rawPath, d.Targets, a.name())
		}
		subs := d.Batch
		if len(subs) == 0 {
			subs = []SubDecision{{Request: req, Decision: d}}
		}
		for _, sd := range subs {
			r := ruleByID(p.rules, sd.Decision.RuleID)
			if r == nil || r.otherUsers {
				continue
			}
			if u := r.tmpl.userOf(sd.Request.Segments); u != "" && !a.is(u) {
				t.Fatalf("%s: rule %s serves the signed-in user alone, and forwarded a call on %s", sd.Request.Path, r.id, u)
			}
			if sd.Decision.RuleID != "own-calendar" {
				continue
			}
			for _, tg := range sd.Decision.Targets {
				if !strings.EqualFold(tg, a.name()) && !a.is(tg) {
					t.Fatalf("%s: rule own-calendar forwarded naming %s, not the signed-in user", sd.Request.Path, tg)
				}
			}
		}
	})
}

// decideAs decides a call of caller, on behalf of actor (nil: app-only),
// with a JSON body ("": none).
func decideAs(t *testing.T, p *Policy, caller string, actor *Actor, method, target, body string) Decision {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	req, err := Canonicalize(method, path, query)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	routed := p.RouteAs(caller, actor, req)
	return routed.Decide("application/json", b)
}

// actsOnPolicy has delegated rules that take a user in the path other than
// by {user}, beside app-only rules for the same paths.
const actsOnPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    delegated: { scopes: [Mail.Read, Calendars.Read, User.ReadBasic.All] }
rules:
  - { id: mail-by-id, method: GET, path: "/users/{id}/messages", delegatedScope: Mail.Read }
  - { id: shared-mail, method: GET, path: "/users/{id}/mailFolders", delegatedScope: Mail.Read, otherUsers: true }
  - { id: support-calendar, method: GET, path: "/users/support@contoso.example/calendar", delegatedScope: Calendars.Read }
  - { id: users-delta, method: GET, path: "/users/delta", delegatedScope: User.ReadBasic.All }
`

// TestDelegatedActsOn: whatever takes the user in a rule's path ({user},
// {id}, the user written out), a signed-in user's call on another user
// needs otherUsers.
func TestDelegatedActsOn(t *testing.T) {
	p, err := Parse("actson.yaml", []byte(actsOnPolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	const another = `rule %q serves the signed-in user only, and %s names another user; a rule with otherUsers: true allows it`
	tests := []struct {
		name, method, path, body string
		want                     Result
		wantReason               string
	}{
		{name: "the user by {id}", method: "GET", path: "/v1.0/users/adele@contoso.example/messages", want: Allow},
		{name: "the user's object id by {id}", method: "GET", path: "/v1.0/users/10000000-0000-4000-8000-000000000000/messages", want: Allow},
		{name: "another user by {id}", method: "GET", path: "/v1.0/users/grady@contoso.example/messages",
			want: Deny, wantReason: fmt.Sprintf(another, "mail-by-id", "/users/grady@contoso.example/messages")},
		{name: "another user's object id by {id}", method: "GET", path: "/v1.0/users/20000000-0000-4000-8000-000000000000/messages",
			want: Deny, wantReason: fmt.Sprintf(another, "mail-by-id", "/users/20000000-0000-4000-8000-000000000000/messages")},
		{name: "a segment that is no UPN by {id}", method: "GET", path: "/v1.0/users/grady/messages",
			want: Deny, wantReason: fmt.Sprintf(another, "mail-by-id", "/users/grady/messages")},
		{name: "another user by {id} in a batch", method: "POST", path: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/grady@contoso.example/messages"}]}`,
			want: Deny, wantReason: "batch requests refused: 1"},
		{name: "another user with otherUsers", method: "GET", path: "/v1.0/users/grady@contoso.example/mailFolders", want: Allow},
		{name: "a user written out in the rule", method: "GET", path: "/v1.0/users/support@contoso.example/calendar",
			want: Deny, wantReason: fmt.Sprintf(another, "support-calendar", "/users/support@contoso.example/calendar")},
		{name: "a function of the collection", method: "GET", path: "/v1.0/users/delta", want: Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideAs(t, p, "engage", adele, tt.method, tt.path, tt.body)
			if d.Result != tt.want || d.Reason != tt.wantReason {
				t.Errorf("got %s %q; want %s %q", d.Result, d.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

// subscribePolicy: a caller that subscribes both app-only (any member's
// mail) and as a signed-in user (the user's own mail).
const subscribePolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Mail.ReadBasic.All]
    delegated: { scopes: [Mail.Read] }
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/*"]
rules:
  - { id: app-mail, method: GET, path: "/users/{user}/messages", permission: Mail.ReadBasic.All }
  - { id: my-mail, method: GET, path: "/me/messages", delegatedScope: Mail.Read }
  - { id: own-mail, method: GET, path: "/users/{user}/mailFolders/inbox/messages", delegatedScope: Mail.Read }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Mail.ReadBasic.All, delegatedScope: Mail.Read }
  - { id: subscription, method: [GET, DELETE], path: "/subscriptions/{id}", permission: Mail.ReadBasic.All, delegatedScope: Mail.Read }
`

// TestDelegatedSubscriptionResource: a signed-in user's subscription, made
// or read by id, has its resource decided as the user's read of it (/me,
// another user only under otherUsers), never by the caller's app-only
// rules: Graph watches it with the user's token. A subscription read by id
// whose resource is under /me is its creator's: only that user's call
// may act on it.
func TestDelegatedSubscriptionResource(t *testing.T) {
	p, err := Parse("subscribe.yaml", []byte(subscribePolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	create := func(resource string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/n","resource":"` + resource +
			`","expirationDateTime":"2030-01-01T00:00:00Z","clientState":"s"}`
	}
	const sub = "/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
	tests := []struct {
		name        string
		actor       *Actor
		method      string
		path        string
		resource    string
		creator     string // the creatorId read of a subscription by id
		want        Result
		wantTargets string
		wantReason  string
	}{
		{name: "the user's own mail", actor: adele, method: "POST", path: "/v1.0/subscriptions", resource: "me/messages",
			want: Allow, wantTargets: "adele@contoso.example"},
		{name: "the user's own mail by UPN", actor: adele, method: "POST", path: "/v1.0/subscriptions", resource: "users/adele@contoso.example/mailFolders/inbox/messages",
			want: Allow, wantTargets: "adele@contoso.example"},
		{name: "another user's mail, an app-only rule's", actor: adele, method: "POST", path: "/v1.0/subscriptions", resource: "users/grady@contoso.example/messages",
			want: Deny, wantReason: "subscription resource is not readable under this policy (no rule allows its GET)"},
		{name: "another user's inbox, a rule for the user alone", actor: adele, method: "POST", path: "/v1.0/subscriptions", resource: "users/grady@contoso.example/mailFolders/inbox/messages",
			want: Deny, wantReason: `subscription resource is not readable under this policy (rule "own-mail" refuses its GET)`},
		{name: "app-only, any member's mail", method: "POST", path: "/v1.0/subscriptions", resource: "users/grady@contoso.example/messages",
			want: Allow, wantTargets: "grady@contoso.example"},
		{name: "app-only, /me", method: "POST", path: "/v1.0/subscriptions", resource: "me/messages",
			want: Deny, wantReason: `subscription resource is not readable under this policy (no rule allows its GET)`},
		{name: "by id, the user's own", actor: adele, method: "GET", path: sub, resource: "me/messages", creator: adele.ObjectID,
			want: Allow, wantTargets: "adele@contoso.example"},
		{name: "by id, another user's /me", actor: adele, method: "DELETE", path: sub, resource: "me/messages", creator: "20000000-0000-4000-8000-000000000000",
			want: Deny, wantReason: "the subscription read from Graph watches /me of a user who is not this call's signed-in user"},
		{name: "by id, /me of no one read", actor: adele, method: "DELETE", path: sub, resource: "/ME/messages",
			want: Deny, wantReason: "the subscription read from Graph watches /me of a user who is not this call's signed-in user"},
		{name: "by id, app-only, a user's /me", method: "DELETE", path: sub, resource: "me/messages", creator: adele.ObjectID,
			want: Deny, wantReason: "the subscription read from Graph watches /me of a user who is not this call's signed-in user"},
		{name: "by id, another user's mail", actor: adele, method: "DELETE", path: sub, resource: "users/grady@contoso.example/messages",
			want: Deny, wantReason: "the subscription read from Graph: subscription resource is not readable under this policy (no rule allows its GET)"},
		{name: "by id, app-only, another user's mail", method: "DELETE", path: sub, resource: "users/grady@contoso.example/messages",
			want: Allow, wantTargets: "grady@contoso.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "POST" {
				body = create(tt.resource)
			}
			d := decideAs(t, p, "engage", tt.actor, tt.method, tt.path, body)
			if d.Lookup != nil {
				req, err := Canonicalize(tt.method, tt.path, "")
				if err != nil {
					t.Fatal(err)
				}
				routed := p.RouteAs("engage", tt.actor, req)
				read := []Recipient{{Where: "resource", Address: tt.resource}, {Where: "notificationUrl", Address: "https://hooks.vendor.example/n"}}
				if tt.creator != "" {
					read = append(read, Recipient{Where: "creatorId", Address: tt.creator})
				}
				d = routed.DecideReferenced(d, read)
			}
			if d.Result != tt.want || d.Reason != tt.wantReason {
				t.Fatalf("got %s %q; want %s %q", d.Result, d.Reason, tt.want, tt.wantReason)
			}
			if got := strings.Join(d.Targets, ","); tt.want == Allow && got != tt.wantTargets {
				t.Errorf("targets %s; want %s", got, tt.wantTargets)
			}
		})
	}
}

// scopedObjectsPolicy: a caller scoped to a group, acting for signed-in
// users on things that are no user.
const scopedObjectsPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    delegated: { scopes: [Files.Read.All, Chat.Read, Mail.Read] }
    users: { group: "90000000-0000-4000-8000-000000000001" }
rules:
  - { id: drive-children, method: GET, path: "/drives/{id}/root/children", delegatedScope: Files.Read.All }
  - { id: my-drive-children, method: GET, path: "/me/drive/root/children", delegatedScope: Files.Read.All }
  - { id: user-drive-children, method: GET, path: "/users/{user}/drive/root/children", delegatedScope: Files.Read.All }
  - { id: chat-messages, method: GET, path: "/chats/{id}/messages", delegatedScope: Chat.Read }
  - { id: my-chat-messages, method: GET, path: "/me/chats/{id}/messages", delegatedScope: Chat.Read }
  - { id: subscriptions, method: GET, path: "/subscriptions", delegatedScope: Mail.Read }
`

// TestDelegatedScopedObjects: a caller scoped to users.group acting for a
// signed-in user acts on users its path names (/me, the user by UPN or
// object id), as an app-only call of it must: a drive, a chat or the list
// of subscriptions by its own path reaches whatever the user may reach,
// anyone's, and is refused though the user is in scope.
func TestDelegatedScopedObjects(t *testing.T) {
	p, err := Parse("scoped-objects.yaml", []byte(scopedObjectsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	const noUser = `caller "engage" is scoped to users.group, and %s names no user the scope can check`
	tests := []struct {
		name, path string
		want       Result
		wantReason string
	}{
		{name: "the user's drive", path: "/v1.0/me/drive/root/children", want: Allow},
		{name: "the user's drive by UPN", path: "/v1.0/users/adele@contoso.example/drive/root/children", want: Allow},
		{name: "the user's chat", path: "/v1.0/me/chats/19:abc@thread.v2/messages", want: Allow},
		{name: "a drive by its own id", path: "/v1.0/drives/b!abc/root/children",
			want: Deny, wantReason: fmt.Sprintf(noUser, "/drives/b!abc/root/children")},
		{name: "a chat by its own id", path: "/v1.0/chats/19:abc@thread.v2/messages",
			want: Deny, wantReason: fmt.Sprintf(noUser, "/chats/19:abc@thread.v2/messages")},
		{name: "the list of subscriptions", path: "/v1.0/subscriptions",
			want: Deny, wantReason: fmt.Sprintf(noUser, "/subscriptions")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideAs(t, p, "engage", adele, "GET", tt.path, "")
			if d.Result != tt.want || d.Reason != tt.wantReason {
				t.Errorf("got %s %q; want %s %q", d.Result, d.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

// sendAsPolicy: a signed-in user's mail, under rules for the user alone
// and one for shared mailboxes.
const sendAsPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    delegated: { scopes: [Mail.Send, Mail.ReadWrite, Mail.Send.Shared] }
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: me-send, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }
  - { id: me-draft, method: POST, path: "/me/messages", delegatedScope: Mail.ReadWrite }
  - { id: me-reply, method: POST, path: "/me/messages/{id}/reply", delegatedScope: Mail.Send }
  - { id: shared-send, method: POST, path: "/users/{user}/sendMail", delegatedScope: Mail.Send.Shared, otherUsers: true }
`

// TestDelegatedSendAs: a signed-in user's mail under a rule for the user
// alone is sent as the user: a body naming another mailbox as who it is
// from (from, sender, a MIME From or Sender), which Graph honours for a
// user with the right to send as it, acts on that mailbox as a path
// naming it would, and needs otherUsers.
func TestDelegatedSendAs(t *testing.T) {
	p, err := Parse("sendas.yaml", []byte(sendAsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	mail := func(member, address string) string {
		return `{"message":{"` + member + `":{"emailAddress":{"address":"` + address + `"}},"toRecipients":[{"emailAddress":{"address":"grady@contoso.example"}}]}}`
	}
	mime := func(from string) string {
		return base64.StdEncoding.EncodeToString([]byte("From: " + from + "\r\nTo: grady@contoso.example\r\nSubject: x\r\n\r\nhi\r\n"))
	}
	const as = `%s names support@contoso.example, whom the mail would be sent as: rule %q serves the signed-in user only; a rule with otherUsers: true allows another mailbox`
	tests := []struct {
		name, path, contentType, body string
		want                          Result
		wantReason                    string
	}{
		{name: "from the user", path: "/v1.0/me/sendMail", body: mail("from", "adele@contoso.example"), want: Allow},
		{name: "from the user, another case", path: "/v1.0/me/sendMail", body: mail("from", "ADELE@contoso.example"), want: Allow},
		{name: "from a shared mailbox", path: "/v1.0/me/sendMail", body: mail("from", "support@contoso.example"),
			want: Deny, wantReason: fmt.Sprintf(as, "message.from.emailAddress.address", "me-send")},
		{name: "sender a shared mailbox", path: "/v1.0/me/sendMail", body: mail("sender", "support@contoso.example"),
			want: Deny, wantReason: fmt.Sprintf(as, "message.sender.emailAddress.address", "me-send")},
		{name: "a draft from a shared mailbox", path: "/v1.0/me/messages",
			body: `{"from":{"emailAddress":{"address":"support@contoso.example"}},"toRecipients":[{"emailAddress":{"address":"grady@contoso.example"}}]}`,
			want: Deny, wantReason: fmt.Sprintf(as, "from.emailAddress.address", "me-draft")},
		{name: "a reply from a shared mailbox", path: "/v1.0/me/messages/AAMk=/reply", body: mail("from", "support@contoso.example"),
			want: Deny, wantReason: fmt.Sprintf(as, "message.from.emailAddress.address", "me-reply")},
		{name: "MIME from a shared mailbox", path: "/v1.0/me/sendMail", contentType: "text/plain", body: mime("support@contoso.example"),
			want: Deny, wantReason: fmt.Sprintf(as, "MIME From", "me-send")},
		{name: "MIME from the user", path: "/v1.0/me/sendMail", contentType: "text/plain", body: mime("adele@contoso.example"), want: Allow},
		{name: "from a shared mailbox in a batch", path: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"POST","url":"/me/sendMail","headers":{"Content-Type":"application/json"},"body":` + mail("from", "support@contoso.example") + `}]}`,
			want: Deny, wantReason: "batch requests refused: 1"},
		{name: "a shared mailbox under otherUsers", path: "/v1.0/users/support@contoso.example/sendMail", body: mail("from", "support@contoso.example"), want: Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Canonicalize("POST", tt.path, "")
			if err != nil {
				t.Fatal(err)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			routed := p.RouteAs("engage", adele, req)
			d := routed.Decide(ct, []byte(tt.body))
			if d.Result != tt.want || d.Reason != tt.wantReason {
				t.Errorf("got %s %q; want %s %q", d.Result, d.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

// TestDelegatedSubscriptionRelayed: the relay decides each delivery of a
// signed-in user's subscription again as that user's read, as at its
// creation: me/… is the user's, and the same resource decided app-only
// is refused.
func TestDelegatedSubscriptionRelayed(t *testing.T) {
	p, err := Parse("subscribe.yaml", []byte(subscribePolicy))
	if err != nil {
		t.Fatal(err)
	}
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "Adele@Contoso.example"}
	for _, tt := range []struct {
		name     string
		actor    *Actor
		resource string
		refused  bool
	}{
		{"the user's own mail", adele, "me/messages", false},
		{"the same, app-only", nil, "me/messages", true},
		{"another user's inbox, a rule for the user alone", adele, "users/grady@contoso.example/mailFolders/inbox/messages", true},
		{"any member's mail, app-only", nil, "users/grady@contoso.example/messages", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for caller := range p.callers {
				reason, _ := p.SubscriptionRefusal(caller, tt.actor, "v1.0", tt.resource)
				if (reason != "") != tt.refused {
					t.Errorf("caller %s: %q; want refused %v", caller, reason, tt.refused)
				}
			}
		})
	}
}
