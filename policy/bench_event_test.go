package policy

import (
	"strings"
	"testing"
)

// BenchmarkDecideEventBody decides the creation of an event with a 2 KB
// body naming one attendee: the body read, its people found and checked.
func BenchmarkDecideEventBody(b *testing.B) {
	p, err := Parse("bench.yaml", []byte(`version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadWrite]
rules:
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite, attendeeDomains: [fabrikam.example] }
`))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"subject":"Onboarding consultation","body":{"contentType":"HTML","content":"` + strings.Repeat("Agenda: introductions, goals, next steps. ", 38) +
		`"},"start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00","timeZone":"UTC"},"location":{"displayName":"Online"},"attendees":[{"emailAddress":{"address":"client@fabrikam.example","name":"Client"},"type":"required"}],"isOnlineMeeting":false}`)
	req, _ := Canonicalize("POST", "/v1.0/users/alice@contoso.example/events", "")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if d := p.Decide(Args{Caller: "engage", Request: req, ContentType: "application/json", Body: body}); d.Result != Allow {
			b.Fatal(d.Reason)
		}
	}
}
