package policy

import (
	"strings"
	"testing"
)

// readPolicy is a policy of one caller and the rules given, one a line.
func readPolicy(rules string) string {
	return `version: 1
callers:
  - name: vendor
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Mail.Send, Mail.ReadWrite, Mail.Read, Mail.ReadBasic.All, Calendars.ReadWrite, Calendars.Read, Calendars.ReadBasic.All, User.ReadBasic.All]
    delegated: { scopes: [Mail.Send, Mail.Send.Shared, Mail.ReadWrite, Mail.ReadWrite.Shared, Calendars.ReadWrite, Calendars.ReadWrite.Shared, Calendars.Read, User.Read] }
mail:
  recipientDomains: [contoso.example]
rules:
` + rules
}

// The proxy's reads of referenced items are in the permissions the policy
// needs, unless a permission of the policy already allows them.
func TestPermissionsOfReferenceReads(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		want  string
	}{
		{"reply: the message is read",
			`  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/reply", permission: Mail.Send }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"replyAll",
			`  - { id: reply-all, method: POST, path: "/users/{user}/messages/{id}/replyAll", permission: Mail.Send }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"a draft sent by id",
			`  - { id: send, method: POST, path: "/users/{user}/mailFolders/{folder}/messages/{id}/send", permission: Mail.Send }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"an operation's qualified name",
			`  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/microsoft.graph.reply", permission: Mail.Send }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"an action named by a variable",
			`  - { id: actions, method: POST, path: "/users/{user}/messages/{id}/{action}", permission: Mail.Send }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"the rule's permission reads the message",
			`  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/reply", permission: Mail.ReadWrite }`,
			"Mail.ReadWrite"},
		{"another rule's permission reads the message",
			"  - { id: reply, method: POST, path: \"/users/{user}/messages/{id}/reply\", permission: Mail.Send }\n" +
				`  - { id: read, method: GET, path: "/users/{user}/messages", permission: Mail.Read }`,
			"Mail.Read,Mail.Send"},
		{"the least read permission named by a rule",
			"  - { id: reply, method: POST, path: \"/users/{user}/messages/{id}/reply\", permission: Mail.Send }\n" +
				`  - { id: read, method: GET, path: "/users/{user}/messages", permission: Mail.ReadBasic.All }`,
			"Mail.ReadBasic.All,Mail.Send"},
		{"forward names its recipients: nothing is read",
			`  - { id: forward, method: POST, path: "/users/{user}/messages/{id}/forward", permission: Mail.Send }`,
			"Mail.Send"},
		{"a read of the message is no reply",
			`  - { id: get, method: GET, path: "/users/{user}/messages/{id}", permission: Mail.ReadBasic.All }`,
			"Mail.ReadBasic.All"},
		{"sendMail names its recipients",
			`  - { id: send-mail, method: POST, path: "/users/{user}/sendMail", permission: Mail.Send }`,
			"Mail.Send"},
		{"an event cancelled: its attendees are read",
			`  - { id: cancel, method: POST, path: "/users/{user}/events/{id}/cancel", permission: Calendars.ReadWrite }`,
			"Calendars.ReadWrite"},
		{"an event answered with a permission that does not read it",
			`  - { id: accept, method: POST, path: "/users/{user}/calendarView/{id}/accept", permission: Mail.Send }`,
			"Calendars.ReadBasic.All,Mail.Send"},
		{"an event deleted",
			`  - { id: delete, method: DELETE, path: "/users/{user}/events/{id}", permission: Mail.Send }`,
			"Calendars.ReadBasic.All,Mail.Send"},
		{"an event read is not deleted",
			`  - { id: get, method: GET, path: "/users/{user}/events/{id}", permission: Calendars.ReadBasic.All }`,
			"Calendars.ReadBasic.All"},
		{"Calendars.ReadBasic.All reads the event",
			"  - { id: decline, method: POST, path: \"/users/{user}/events/{id}/decline\", permission: Mail.Send }\n" +
				`  - { id: read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }`,
			"Calendars.ReadBasic.All,Mail.Send"},
		{"Calendars.ReadBasic, read as Calendars.ReadBasic.All, reads the event",
			"  - { id: decline, method: POST, path: \"/users/{user}/events/{id}/decline\", permission: Mail.Send }\n" +
				`  - { id: read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic }`,
			"Calendars.ReadBasic.All,Mail.Send"},
		{"a rule reaching messages and events needs both reads",
			`  - { id: any, method: POST, path: "/users/{user}/{collection}/{id}/{action}", permission: Mail.Send }`,
			"Calendars.ReadBasic.All,Mail.ReadBasic.All,Mail.Send"},
		{"a signed-in user's rule reads with the user's token",
			`  - { id: reply, method: POST, path: "/me/messages/{id}/reply", delegatedScope: Mail.Send }`,
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("read.yaml", []byte(readPolicy(tt.rules)))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Permissions(), ","); got != tt.want {
				t.Errorf("Permissions %s; want %s", got, tt.want)
			}
		})
	}
}

// A signed-in user's call is read with the user's token: the scope of the
// read is consented with the rules' and asked for with the call's.
func TestDelegatedScopesOfReferenceReads(t *testing.T) {
	adele := &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "adele@contoso.example"}
	tests := []struct {
		name       string
		rule       string
		method     string
		path       string
		body       string
		wantNeeded string
		wantScopes string
	}{
		{name: "reply as the user",
			rule:   `{ id: r, method: POST, path: "/me/messages/{id}/reply", delegatedScope: Mail.Send }`,
			method: "POST", path: "/v1.0/me/messages/AAA=/reply", body: `{"comment":"ok"}`,
			wantNeeded: "Mail.ReadBasic,Mail.Send", wantScopes: "Mail.Send,Mail.ReadBasic"},
		{name: "the rule's scope reads the message",
			rule:   `{ id: r, method: POST, path: "/me/messages/{id}/send", delegatedScope: Mail.ReadWrite }`,
			method: "POST", path: "/v1.0/me/messages/AAA=/send",
			wantNeeded: "Mail.ReadWrite", wantScopes: "Mail.ReadWrite"},
		{name: "a shared mailbox's message",
			rule:   `{ id: r, method: POST, path: "/users/{user}/messages/{id}/replyAll", delegatedScope: Mail.Send.Shared, otherUsers: true }`,
			method: "POST", path: "/v1.0/users/shared@contoso.example/messages/AAA=/replyAll", body: `{"comment":"ok"}`,
			wantNeeded: "Mail.Read.Shared,Mail.Send.Shared", wantScopes: "Mail.Send.Shared,Mail.Read.Shared"},
		{name: "a shared mailbox the rule's scope reads",
			rule:   `{ id: r, method: POST, path: "/users/{user}/messages/{id}/replyAll", delegatedScope: Mail.ReadWrite.Shared, otherUsers: true }`,
			method: "POST", path: "/v1.0/users/shared@contoso.example/messages/AAA=/replyAll", body: `{"comment":"ok"}`,
			wantNeeded: "Mail.ReadWrite.Shared", wantScopes: "Mail.ReadWrite.Shared"},
		{name: "an event cancelled",
			rule:   `{ id: r, method: POST, path: "/me/events/{id}/cancel", delegatedScope: Calendars.ReadWrite }`,
			method: "POST", path: "/v1.0/me/events/AAA=/cancel",
			wantNeeded: "Calendars.ReadWrite", wantScopes: "Calendars.ReadWrite"},
		{name: "a shared calendar's event cancelled",
			rule:   `{ id: r, method: POST, path: "/users/{user}/events/{id}/cancel", delegatedScope: Calendars.ReadWrite, otherUsers: true }`,
			method: "POST", path: "/v1.0/users/shared@contoso.example/events/AAA=/cancel",
			wantNeeded: "Calendars.Read.Shared,Calendars.ReadWrite", wantScopes: "Calendars.ReadWrite,Calendars.Read.Shared"},
		{name: "a response that goes to no one reads nothing",
			rule:   `{ id: r, method: POST, path: "/me/events/{id}/accept", delegatedScope: Calendars.Read }`,
			method: "POST", path: "/v1.0/me/events/AAA=/accept", body: `{"sendResponse":false}`,
			wantNeeded: "Calendars.Read", wantScopes: "Calendars.Read"},
		{name: "a call that refers to nothing",
			rule:   `{ id: r, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }`,
			method: "POST", path: "/v1.0/me/sendMail", body: `{"message":{"toRecipients":[{"emailAddress":{"address":"grady@contoso.example"}}]}}`,
			wantNeeded: "Mail.Send", wantScopes: "Mail.Send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("read.yaml", []byte(readPolicy("  - "+tt.rule+"\n")))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.DelegatedScopesNeeded(), ","); got != tt.wantNeeded {
				t.Errorf("DelegatedScopesNeeded %s; want %s", got, tt.wantNeeded)
			}
			d := decideAs(t, p, "vendor", adele, tt.method, tt.path, tt.body)
			if d.Result != Allow {
				t.Fatalf("%s: %s", d.Result, d.Reason)
			}
			if got := strings.Join(d.Scopes, ","); got != tt.wantScopes {
				t.Errorf("Scopes %s; want %s", got, tt.wantScopes)
			}
		})
	}
}

// Every kind of lookup is a read ReferenceReads lists, and every read's
// least permissions are permissions the policy knows and allow the read.
func TestReferenceReadsComplete(t *testing.T) {
	for k := range lookupFields {
		if k == LookupSubscription {
			continue // read with the permission that made it: none more
		}
		if referenceRead(k) == nil {
			t.Errorf("lookup %s has no ReferenceRead", k)
		}
	}
	for _, read := range ReferenceReads {
		if knownPermission[lowerASCII(read.Application)] != read.Application {
			t.Errorf("%s: %s is not an application permission the policy knows", read.Item, read.Application)
		}
		for _, s := range []string{read.Delegated, read.DelegatedShared} {
			if knownDelegatedScope[lowerASCII(s)] != s {
				t.Errorf("%s: %s is not a delegated scope the policy knows", read.Item, s)
			}
		}
		for _, s := range []string{read.Application, read.Delegated, read.DelegatedShared} {
			if !strings.Contains(strings.Join(read.Covering, " ")+" ", s+" ") {
				t.Errorf("%s: %s reads the item but is not among Covering", read.Item, s)
			}
		}
		if !strings.Contains(strings.Join(read.CoveringShared, " ")+" ", read.DelegatedShared+" ") {
			t.Errorf("%s: %s is not among CoveringShared", read.Item, read.DelegatedShared)
		}
	}
}
