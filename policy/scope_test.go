package policy

import "testing"

// scopePolicy: a caller scoped to a group, with a room and a guest domain
// that bodies may name without membership, and rules on objects that are
// no user (drives, groups, chats by their own id).
const scopePolicy = `version: 1
callers:
  - name: scoped
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e2" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite, Files.ReadWrite.All, Group.ReadWrite.All, Chat.ReadWrite.All, User.ReadWrite.All]
    users:
      group: "90000000-0000-4000-8000-000000000001"
      withoutGroup: { domains: [vendor.example], addresses: [room-1@contoso.example] }
  - name: open
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e3" }
    permissions: [Files.ReadWrite.All, Group.ReadWrite.All, Chat.ReadWrite.All]
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: events, method: POST, path: "/users/{user}/calendar/events", permission: Calendars.ReadWrite }
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: manager, method: PUT, path: "/users/{user}/manager/$ref", permission: User.ReadWrite.All }
  - { id: drive-actions, method: POST, path: "/users/{user}/drive/items/{id}/{action}", permission: Files.ReadWrite.All }
  - { id: drives-actions, method: POST, path: "/drives/{drive}/items/{id}/{action}", permission: Files.ReadWrite.All }
  - { id: group-member-ref, method: POST, path: "/groups/{group}/members/$ref", permission: Group.ReadWrite.All }
  - { id: group-update, method: PATCH, path: "/groups/{group}", permission: Group.ReadWrite.All }
  - { id: chat-messages, method: POST, path: "/chats/{chat}/messages", permission: Chat.ReadWrite.All }
  - { id: subscriptions, method: GET, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: [GET, PATCH, DELETE], path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`

// TestWithoutGroupBySource: users.withoutGroup exempts a person by where
// the call names them — in its body — never by name: a mailbox the call
// acts on (the path's user, a reference) stays checked even when the body
// names it too.
func TestWithoutGroupBySource(t *testing.T) {
	ev := `"subject":"x","start":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-01T11:00:00","timeZone":"UTC"}`
	roomCal := "/v1.0/users/" + room + "/calendar"
	runScopeCases(t, []scopeCase{
		// A: the path's user is checked even when the body names it
		{name: "a room's own calendar, the room an attendee", method: "POST", url: roomCal + "/events",
			body: `{` + ev + `,"attendees":[` + attendee(room) + `]}`, want: "allow", targets: room},
		{name: "a room's own calendar, spelled otherwise in the body", method: "POST", url: "/v1.0/users/ROOM-1@contoso.example/calendar/events",
			body: `{` + ev + `,"attendees":[` + attendee(room) + `]}`, want: "allow", targets: "ROOM-1@contoso.example"},
		{name: "free/busy as the room, the room in schedules", method: "POST", url: roomCal + "/getSchedule",
			body: `{"schedules":["` + room + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}}`,
			want: "allow", targets: room},
		{name: "a member's calendar, the room an attendee: exempt", method: "POST", url: "/v1.0/users/" + alice + "/calendar/events",
			body: `{` + ev + `,"attendees":[` + attendee(room) + `]}`, want: "allow", targets: alice + "," + room, unscoped: room},
		{name: "a guest named and referenced", method: "PUT", url: "/v1.0/users/" + alice + "/manager/$ref",
			body: `{"@odata.id":"users/` + vendor + `","x":{"emailAddress":"` + vendor + `"}}`, want: "allow", targets: alice + "," + vendor},
		{name: "a guest named then referenced, reference first in the walk", method: "PUT", url: "/v1.0/users/" + alice + "/manager/$ref",
			body: `{"a":{"emailAddress":"` + vendor + `"},"@odata.id":"users/` + vendor + `"}`, want: "allow", targets: alice + "," + vendor},
	})
}

// TestScopedCallActsOnAUser: a scoped caller's call must act on a user its
// path names: whatever a body names, a call on a group, drive or chat by
// its own id is refused. A listing of every subscription is tied to no
// user either.
func TestScopedCallActsOnAUser(t *testing.T) {
	const group = "60000000-0000-4000-8000-00000000ad00"
	runScopeCases(t, []scopeCase{
		{name: "any drive by id, shared with a guest", method: "POST", url: "/v1.0/drives/b!d1/items/I1/invite",
			body: `{"recipients":[{"email":"` + vendor + `"}],"roles":["write"]}`, want: "403"},
		{name: "any group, a member added by $ref", method: "POST", url: "/v1.0/groups/" + group + "/members/$ref",
			body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + alice + `"}`, want: "403"},
		{name: "any group, members@odata.bind", method: "PATCH", url: "/v1.0/groups/" + group,
			body: `{"members@odata.bind":["https://graph.microsoft.com/v1.0/users/` + alice + `"]}`, want: "403"},
		{name: "any chat, a member mentioned", method: "POST", url: "/v1.0/chats/19:x@thread.v2/messages",
			body: `{"body":{"content":"hi"},"mentions":[{"id":0,"mentioned":{"user":{"id":"` + guid0 + `"}}}]}`, want: "403"},
		{name: "a user's own drive, shared with a guest", method: "POST", url: "/v1.0/users/" + alice + "/drive/items/I1/invite",
			body: `{"recipients":[{"email":"` + vendor + `"}],"roles":["write"]}`, want: "allow", targets: alice + "," + vendor, unscoped: vendor},
		{name: "any group renamed, a member in a custom annotation", method: "PATCH", url: "/v1.0/groups/" + group,
			body: `{"displayName":"x","@vendor.note":{"emailAddress":"` + alice + `"}}`, want: "403"},
		{name: "any chat, a member in a custom annotation", method: "POST", url: "/v1.0/chats/19:x@thread.v2/messages",
			body: `{"body":{"content":"hi"},"@vendor.note":{"emailAddress":"` + alice + `"}}`, want: "403"},
		{name: "all subscriptions listed", method: "GET", url: "/v1.0/subscriptions", want: "403"},
		{name: "unscoped caller: a drive by id", caller: "open", method: "POST", url: "/v1.0/drives/b!d1/items/I1/invite",
			body: `{"recipients":[{"email":"` + vendor + `"}],"roles":["write"]}`, want: "allow", targets: vendor},
	})
}

// scopeCase is a call of TestWithoutGroupBySource's and
// TestScopedCallActsOnAUser's tables.
type scopeCase struct {
	name, caller, method, url, body string
	want                            string // allow, 403 or 400
	targets, unscoped               string
}

func runScopeCases(t *testing.T, tests []scopeCase) {
	p, err := Parse("scope.yaml", []byte(scopePolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := tt.caller
			if caller == "" {
				caller = "scoped"
			}
			d := decideWith(t, p, caller, tt.method, tt.url, ctJSON, tt.body)
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
			if d.Result == Allow {
				wantTargets(t, d, tt.targets, tt.unscoped)
			}
		})
	}
}

const guid0 = "10000000-0000-4000-8000-0000000000c0"

// TestCustomAnnotationsRefused: an annotation outside OData's and Graph's
// namespaces (@vendor.note, NAME@vendor.x) is no property Graph acts on,
// and what it carries cannot be established: refused, in a $batch
// sub-request too. @odata.… and @microsoft.graph.… pass.
func TestCustomAnnotationsRefused(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	u := "/v1.0/users/" + alice
	tests := []struct{ name, method, url, body, want string }{
		{name: "instance annotation", method: "PATCH", url: u + "/mailboxSettings", body: `{"timeZone":"UTC","@vendor.note":"x"}`, want: "403"},
		{name: "instance annotation naming a person", method: "POST", url: u + "/events", body: `{"subject":"x","@vendor.note":{"emailAddress":"` + bob + `"}}`, want: "403"},
		{name: "property annotation", method: "POST", url: u + "/events", body: `{"subject":"x","subject@vendor.note":"y"}`, want: "403"},
		{name: "nested", method: "POST", url: u + "/events", body: `{"subject":"x","body":{"content":"y","@Vendor.Note":1}}`, want: "403"},
		{name: "bare @", method: "POST", url: u + "/events", body: `{"subject":"x","@":1}`, want: "403"},
		{name: "namespace alone", method: "POST", url: u + "/events", body: `{"subject":"x","@odata.":1}`, want: "403"},
		{name: "in a $batch", method: "POST", url: "/v1.0/$batch", body: `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/events","headers":{"Content-Type":"application/json"},"body":{"subject":"x","@vendor.note":"y"}}]}`, want: "403"},
		{name: "odata type", method: "POST", url: u + "/events", body: `{"@odata.type":"#microsoft.graph.event","subject":"x","attendees@odata.type":"#Collection(microsoft.graph.attendee)","attendees":[` + attendee(bob) + `]}`, want: "allow"},
		{name: "graph annotation", method: "PATCH", url: u + "/drive/items/I1", body: `{"name":"y.docx","@microsoft.graph.conflictBehavior":"rename"}`, want: "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", tt.method, tt.url, ctJSON, tt.body)
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
		})
	}
}

// TestDriveRecipientsRead: recipients[] (driveRecipient) names the people
// a sharing link or invitation is granted to, on every call and in a
// $batch alike: each by email a person of the call, the group scope and
// users.withoutGroup applying.
func TestDriveRecipientsRead(t *testing.T) {
	link := func(who string) string {
		return `{"type":"edit","scope":"users","recipients":[{"email":"` + who + `"}],"sendNotification":true}`
	}
	item := "/v1.0/users/" + alice + "/drive/items/I1/createLink"
	runScopeCases(t, []scopeCase{
		{name: "a link granted to a colleague", method: "POST", url: item, body: link(bob), want: "allow", targets: alice + "," + bob},
		{name: "a link granted to a guest", method: "POST", url: item, body: link(vendor), want: "allow", targets: alice + "," + vendor, unscoped: vendor},
		{name: "in a $batch", method: "POST", url: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/drive/items/I1/createLink","headers":{"Content-Type":"application/json"},"body":` + link(bob) + `}]}`,
			want: "allow", targets: alice + "," + bob},
		{name: "in a $batch, by object id", method: "POST", url: "/v1.0/$batch",
			body: `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/drive/items/I1/createLink","headers":{"Content-Type":"application/json"},"body":{"type":"edit","scope":"users","recipients":[{"objectId":"` + guid0 + `"}]}}]}`,
			want: "400"},
	})
}
