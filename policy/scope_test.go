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

// scopeCase is a call of TestWithoutGroupBySource's table.
type scopeCase struct {
	name, caller, method, url, body string
	want                            string // allow or 403
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
