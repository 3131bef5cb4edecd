package policy

import (
	"net/url"
	"testing"
)

// TestFilterReadsOnlyWhatAnswersShow: under the example policy's
// events-read rule, whose answers carry when an appointment is and who
// answered, never its subject, body or organizer, a $filter or $orderby
// on those reads them all the same (which events contains(subject,'x')
// keeps, in which order orderby=subject puts them): refused, as are
// lambdas, aliases and $search the check cannot bound. A filter on what
// the answers show is allowed.
func TestFilterReadsOnlyWhatAnswersShow(t *testing.T) {
	p := mustLoad(t, "../examples/policy-engage.yaml")
	u := "/v1.0/users/" + alice + "/calendar/events?"
	for _, tt := range []struct {
		query string
		want  string // allow or 403
	}{
		{"$filter=" + url.QueryEscape("startswith(subject,'Merger')"), "403"},
		{"$filter=" + url.QueryEscape("contains(body/content,'acquisition')"), "403"},
		{"$filter=" + url.QueryEscape("organizer/emailAddress/address eq 'ceo@contoso.example'"), "403"},
		{"$filter=" + url.QueryEscape("attendees/any(a:a/emailAddress/address eq 'ceo@contoso.example')"), "403"},
		{"$filter=" + url.QueryEscape("location/displayName eq 'Board room'"), "403"},
		{"$filter=" + url.QueryEscape("start/dateTime ge '2030-01-01T00:00:00' and Subject eq 'x'"), "403"},
		{"$filter=" + url.QueryEscape("@p eq 'x'"), "403"},
		{"$filter=" + url.QueryEscape("$root/users('x')/mail eq 'x'"), "403"},
		{"$filter=" + url.QueryEscape("subject eq 'it''s'"), "403"},
		{"$filter=" + url.QueryEscape("id eq 'unterminated"), "403"},
		{"$orderby=subject", "403"},
		{"$orderby=" + url.QueryEscape("start/dateTime desc,organizer/emailAddress/name"), "403"},

		{"$filter=" + url.QueryEscape("start/dateTime ge '2030-01-01T00:00:00' and end/dateTime le '2030-02-01T00:00:00'"), "allow"},
		{"$filter=" + url.QueryEscape("showAs eq 'busy' and isCancelled eq false"), "allow"},
		{"$filter=" + url.QueryEscape("iCalUId eq 'x''y' or id eq 'AAMk='"), "allow"},
		{"$orderby=" + url.QueryEscape("start/dateTime desc"), "allow"},
		{"$top=5", "allow"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			d := decideWith(t, p, "engage", "GET", u+tt.query, "", "")
			if got := refusal(d); got != tt.want {
				t.Errorf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
		})
	}
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
	u := "/v1.0/users/" + alice + "/calendar/events/$count?$filter="
	for _, tt := range []struct{ filter, want string }{
		{"startswith(subject,'M')", "403"},
		{"start/dateTime ge '2030-01-01T00:00:00'", "allow"},
	} {
		d := decideWith(t, p, "engage", "GET", u+url.QueryEscape(tt.filter), "", "")
		if got := refusal(d); got != tt.want {
			t.Errorf("%s: got %s (%q); want %s", tt.filter, got, d.Reason, tt.want)
		}
	}
}
