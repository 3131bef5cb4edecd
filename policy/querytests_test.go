package policy

import (
	"net/url"
	"strings"
	"testing"
)

// TestQueryTestsWhatASectionWithholds: $filter and $orderby under a rule
// whose response section (or select:) withholds a property may not test
// it: the items chosen or their order would tell it (contains(subject,
// 'merger'); startswith a letter at a time spells it out), however the
// expression names it (a lambda's variable, $it, another case, a
// function's argument, nested in $expand), nor test one it pseudonymises;
// $search, which tests properties Graph chooses, is refused there. What
// the section passes as Graph wrote it may be tested; an expression the
// proxy cannot read is refused; a rule without a section is not
// concerned. Alone and inside $batch.
func TestQueryTestsWhatASectionWithholds(t *testing.T) {
	p, err := Parse("tests.yaml", []byte(`version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.Read, User.Read.All]
rules:
  - id: events
    method: GET
    path: "/users/{user}/events"
    query: [$select, $filter, $orderby, $search, $expand, $top]
    permission: Calendars.Read
    response:
      fields: [id, start, end, showAs, attendees]
      redact: [attendees.emailAddress.name]
      pseudonymise: [attendees.emailAddress.address]
  - { id: users, method: GET, path: "/users", query: [$select, $filter, $orderby], permission: User.Read.All, select: [id, displayName] }
  - { id: messages, method: GET, path: "/users/{user}/messages", query: [$filter, $orderby, $search], permission: Calendars.Read }
`))
	if err != nil {
		t.Fatal(err)
	}
	const events = "/v1.0/users/a@contoso.example/events?"
	tests := []struct {
		query string
		allow bool
	}{
		{"$filter=start/dateTime ge '2026-01-01T00:00:00'", true},
		{"$filter=showAs eq 'busy' and isCancelled eq false", false},
		{"$filter=showAs eq 'busy' or start/dateTime lt '2026-01-01'", true},
		{"$filter=contains(subject,'merger')", false},
		{"$filter=startswith(Subject,'m')", false},
		{"$filter=body/content eq 'x'", false},
		{"$filter=$it/subject eq 'x'", false},
		{"$filter=attendees/any(a:a/status/response eq 'accepted')", true},
		{"$filter=attendees/any(a: a/emailAddress/name eq 'Bob')", false},
		{"$filter=attendees/any(a:a/emailAddress/address eq 'b@contoso.example')", false},
		{"$filter=attendees/$count gt 2", true},
		{"$filter=-isCancelled eq -1", false},
		{"$filter=showAs eq 1-subject", false},
		{"$filter=start/dateTime gt 2026-01-01T10:00:00.5+01:00 and showAs ne 1.5e3", true},
		{"$filter=start/dateTime gt -1", true},
		{"$filter=attendees/any(subject: true) and subject eq 'x'", false},
		{"$filter=attendees/any(a: a/status/response eq 'none') and attendees/any(b: b/type eq 'required')", true},
		{"$filter=organizer/emailAddress/address eq 'x'", false},
		{"$filter=showAs eq 'it''s subject'", true},
		{"$filter=showAs eq 'unterminated", false},
		{"$filter=start/dateTime ge 2026-01-01T00:00:00Z and id eq 01234567-89ab-cdef-0123-456789abcdef", true},
		{"$filter=subject eq @p", false},
		{"$orderby=start/dateTime desc", true},
		{"$orderby=subject", false},
		{"$orderby=start/dateTime,SUBJECT desc", false},
		{"$search=\"merger\"", false},
		{"$expand=attachments($filter=name eq 'x')", false},
		{"$expand=attachments($orderby=name)", false},
		{"$expand=attachments($select=name; $Filter = name eq 'x')", false},
		{"$expand=attachments(search=x)", false},
		{"$expand=attachments($select=name)", true},
		{"$top=5", true},
	}
	for _, tt := range tests {
		d := decideWith(t, p, "engage", "GET", events+encodeQuery(tt.query), "", "")
		if (d.Result == Allow) != tt.allow {
			t.Errorf("%s: %v %q, want allowed %v", tt.query, d.Result, d.Reason, tt.allow)
		}
		batch := `{"requests":[{"id":"1","method":"GET","url":"/users/a@contoso.example/events?` + encodeQuery(tt.query) + `"}]}`
		if d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, batch); (d.Result == Allow) != tt.allow {
			t.Errorf("$batch %s: %v %q, want allowed %v", tt.query, d.Result, d.Reason, tt.allow)
		}
	}
	// A subscription's resource is the read it stands for: its
	// notifications would tell which items match.
	for resource, refused := range map[string]bool{
		"users/a@contoso.example/events?$filter=contains(subject,'merger')": true,
		"users/a@contoso.example/events?$filter=showAs%20eq%20'busy'":       false,
	} {
		if got, _ := p.SubscriptionRefusal("engage", nil, "v1.0", resource); (got != "") != refused {
			t.Errorf("subscription on %s: %q, want refused %v", resource, got, refused)
		}
	}
	for _, tt := range []struct {
		path, query string
		allow       bool
	}{
		{"/v1.0/users?", "$filter=displayName eq 'x'", true},
		{"/v1.0/users?", "$filter=startswith(mail,'ceo')", false},
		{"/v1.0/users?", "$orderby=jobTitle", false},
		{"/v1.0/users/a@contoso.example/messages?", `$search="merger"`, true},
		{"/v1.0/users/a@contoso.example/messages?", "$filter=contains(subject,'x')", true},
	} {
		if d := decideWith(t, p, "engage", "GET", tt.path+encodeQuery(tt.query), "", ""); (d.Result == Allow) != tt.allow {
			t.Errorf("%s%s: %v %q, want allowed %v", tt.path, tt.query, d.Result, d.Reason, tt.allow)
		}
	}
}

// encodeQuery percent-encodes the value of the option q as a client would.
func encodeQuery(q string) string {
	name, value, _ := strings.Cut(q, "=")
	return name + "=" + url.QueryEscape(value)
}

// FuzzTestedPaths: reading any expression ends, without a panic, and
// every path it gives has named segments.
func FuzzTestedPaths(f *testing.F) {
	for _, s := range []string{"attendees/any(a:a/emailAddress/address eq 'x') and contains(subject,'y')",
		"start/dateTime ge 2026-01-01T00:00:00Z", "x/any(a: a/y/all(b: b/z eq -1))", "'unterminated", "$it/a", "a)))((b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		paths, ok := testedPaths(expr)
		if !ok {
			return
		}
		for _, p := range paths {
			for _, s := range p.segs {
				if s == "" {
					t.Fatalf("%q: a path with an empty segment: %q", expr, p.segs)
				}
			}
		}
	})
}

// countPolicy counts the events whose answers withhold their subject.
const countPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All]
rules:
  - id: events-read
    method: GET
    path: "/users/{user}/calendar/events"
    query: [$filter, $top]
    permission: Calendars.ReadBasic.All
    response: { fields: [id, start, end] }
  - { id: events-count, method: GET, path: "/users/{user}/calendar/events/$count", query: [$filter], permission: Calendars.ReadBasic.All }
`

// TestCountReadsOnlyWhatItsCollectionShows: …/$count answers a number, but
// it counts the collection's items, so a filter on what the collection's
// answers withhold (the subject) reads it as the collection's own filter
// would: held to the collection's rule.
func TestCountReadsOnlyWhatItsCollectionShows(t *testing.T) {
	p, err := Parse("count.yaml", []byte(countPolicy))
	if err != nil {
		t.Fatal(err)
	}
	// An item's rule takes $count in its {id}, spelled as Graph reads it
	// or as a lenient server does ("$count;x=1", "$count "): the count is
	// still held to the collection's rule.
	items, err := Parse("count-items.yaml", []byte(strings.Replace(countPolicy, `id: events-count, method: GET, path: "/users/{user}/calendar/events/$count"`,
		`id: event, method: GET, path: "/users/{user}/calendar/events/{id}"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range []*Policy{p, items} {
		for _, count := range []string{"$count", "$count;x=1", "$count%20", "$count."} {
			u := "/v1.0/users/" + alice + "/calendar/events/" + count + "?$filter="
			for _, tt := range []struct{ filter, want string }{
				{"startswith(subject,'M')", "403"},
				{"start/dateTime ge '2030-01-01T00:00:00'", "allow"},
			} {
				d := decideWith(t, pol, "engage", "GET", u+url.QueryEscape(tt.filter), "", "")
				if got := refusal(d); got != tt.want && !(tt.want == "allow" && count != "$count" && got == "403") {
					t.Errorf("%s %s: got %s (%q); want %s", count, tt.filter, got, d.Reason, tt.want)
				}
			}
		}
	}
}
