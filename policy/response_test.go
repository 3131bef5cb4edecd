package policy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestResponseProblems: a response section that cannot be compiled stops
// the policy from loading, every problem said at once.
func TestResponseProblems(t *testing.T) {
	_, err := LoadFile("testdata/bad-response.yaml")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v; want *LoadError", err)
	}
	want := []string{
		`testdata/bad-response.yaml:11: rule "empty": response lists no fields, redact or pseudonymise paths; remove it, or list what a caller may receive`,
		`testdata/bad-response.yaml:17: rule "malformed": response.fields path "start..dateTime" has an empty segment: join property names with single dots, e.g. start.dateTime`,
		`testdata/bad-response.yaml:17: rule "malformed": response.fields path "" is empty`,
		`testdata/bad-response.yaml:17: rule "malformed": response.fields path "attendees@odata.type" names an annotation: an annotation goes with its property (name the property), and control annotations (@odata.nextLink, …) are always kept`,
		`testdata/bad-response.yaml:17: rule "malformed": response.fields path "subject line" segment "subject line": property names are letters, digits, _ and -`,
		`testdata/bad-response.yaml:17: rule "malformed": response.fields lists "START.DateTime" twice`,
		`testdata/bad-response.yaml:24: rule "both": "ScheduleItems.Subject" is in both redact and pseudonymise: a redacted value is removed; keep it in one of them`,
	}
	var got []string
	for _, p := range le.Problems {
		got = append(got, p.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	_, err = Parse("p.yaml", []byte(strings.Replace(baseResponsePolicy, "fields:", "feilds:", 1)))
	if err == nil || !strings.Contains(err.Error(), `unknown key "feilds" (did you mean "fields"?)`) {
		t.Errorf("a misspelled key: %v", err)
	}
}

// TestResponseWarnings: paths that can never match load, and lint says
// why, word for word.
func TestResponseWarnings(t *testing.T) {
	p, err := LoadFile("testdata/response.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`testdata/response.yaml:13: rule "free-busy": response.fields path "scheduleItems.staus" can never match: scheduleItem has no property "staus" (did you mean "status"?) (/users/{user}/calendar/getSchedule answers hold scheduleInformation)`,
		`testdata/response.yaml:14: rule "free-busy": response.redact path "workingHours" is not among the fields a caller receives: it is removed anyway`,
		`testdata/response.yaml:20: rule "events": response.fields path "value.subject" starts with value: at the top of an answer, value is the collection, and paths apply to its elements; drop the value. prefix`,
		`testdata/response.yaml:20: rule "events": response.fields path "subject.text" can never match: event.subject holds a value, not an object: nothing is below it (/users/{user}/events answers hold event)`,
		`testdata/response.yaml:21: rule "events": response.redact path "attendees.emailAddress.name" is removed with redact "attendees.emailAddress" already`,
		`testdata/response.yaml:22: rule "events": response.pseudonymise path "attendees.emailAddress.address" is removed with redact "attendees.emailAddress" already`,
		`testdata/response.yaml:30: rule "users": response.fields path "jobTitle" is outside the rule's select (id, displayname, mail): a caller never receives it`,
		`testdata/response.yaml:31: rule "users": response.pseudonymise path "mail" is not among the fields a caller receives: it is removed anyway`,
		`testdata/response.yaml:42: rule "photo": /users/{user}/photo/$value answers with file content, not JSON: a response section withholds every answer (502)`,
	}
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if ex := mustLoad(t, "../examples/policy-engage.yaml"); len(ex.Warnings()) > 0 {
		t.Errorf("the example policy has warnings: %v", ex.Warnings())
	}
}

const baseResponsePolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All, User.ReadBasic.All]
rules:
  - id: events
    method: GET
    path: "/users/{user}/events"
    permission: Calendars.ReadBasic.All
    response:
      fields: [id, start, attendees]
      redact: [attendees.emailAddress.name]
      pseudonymise: [attendees.emailAddress.address]
  - id: users
    method: GET
    path: "/users/{user}"
    query: [$select]
    select: [id, displayName]
    permission: User.ReadBasic.All
`

// TestResponseNode: what the compiled paths do to each member, from the
// answer's entity down; select and fields both limit, redact removes
// inside what they let through, pseudonymise marks values below it.
func TestResponseNode(t *testing.T) {
	r, err := NewResponse("r", []string{"id", "start", "attendees.emailAddress", "attendees.type", "x"},
		[]string{"ID", "start", "attendees"}, []string{"attendees.emailAddress.name", "start.timeZone"}, []string{"attendees.emailAddress", "attendees.type"})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		removed, pseudo, restricts, whole bool
	}
	tests := []struct {
		path string
		want want
	}{
		{"id", want{whole: true}},
		{"Id", want{whole: true}},
		{"x", want{removed: true}}, // in fields, outside select
		{"subject", want{removed: true}},
		{"start", want{}},
		{"start.dateTime", want{whole: true}},
		{"start.timeZone", want{removed: true}},
		{"attendees", want{restricts: true}},
		{"attendees.status", want{removed: true}},
		{"attendees.type", want{pseudo: true}},
		{"attendees.emailAddress", want{pseudo: true}},
		{"attendees.emailAddress.name", want{removed: true}},
		{"attendees.emailAddress.address", want{pseudo: true}},
		{"attendees.emailAddress.address.deeper", want{pseudo: true}},
		// Joined to start by Unicode folding only: removed, whether the
		// vendor's reader takes it for start or for another member.
		{"ſtart.dateTime", want{removed: true}},
		{"ſtart", want{removed: true}},
		{"attendees.emailAddress.addreſs", want{pseudo: true}}, // below a pseudonymised path
		{"START.DATETIME", want{whole: true}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			n := r.Root()
			for seg := range strings.SplitSeq(tt.path, ".") {
				if n = n.Child([]byte(seg)); n == nil {
					break
				}
			}
			got := want{removed: n == nil}
			if n != nil {
				got = want{pseudo: n.Pseudonymised(), restricts: n.Restricts(), whole: n.Whole()}
			}
			if got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
	if (*Response)(nil).Root().Child([]byte("anything")) == nil || !(*Response)(nil).Root().Whole() {
		t.Error("no section removes something")
	}
	if ErrorAnswer.Root().Child([]byte("value")) != nil || ErrorAnswer.Root().Child([]byte("error")).Child([]byte("code")) == nil {
		t.Error("error answers keep error.code and nothing but Graph's error shape")
	}
}

// TestDecisionResponse: a call's decision carries its rule's section
// (a rule's select makes one too), and each $batch sub-request its own.
func TestDecisionResponse(t *testing.T) {
	p, err := Parse("p.yaml", []byte(baseResponsePolicy))
	if err != nil {
		t.Fatal(err)
	}
	decide := func(method, path, body string) Decision {
		u, _ := url.Parse(path)
		req, err := ParseRequest(method, u)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return p.Decide(Args{Caller: "engage", Request: req, ContentType: "application/json", Body: b})
	}
	d := decide("GET", "/v1.0/users/a@contoso.example/events", "")
	if d.Response == nil || d.Response.Rule != "events" || !d.Response.Pseudonymises() || strings.Join(d.Response.Fields, ",") != "id,start,attendees" {
		t.Errorf("events: %+v", d.Response)
	}
	d = decide("GET", "/v1.0/users/a@contoso.example", "")
	if d.Response == nil || strings.Join(d.Response.Select, ",") != "id,displayname" || d.Response.Pseudonymises() {
		t.Errorf("a select rule: %+v", d.Response)
	}
	d = decide("POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"users/a@contoso.example/events"},{"id":"2","method":"GET","url":"users/a@contoso.example"}]}`)
	if d.Result != Allow || d.Response != nil || len(d.Batch) != 2 || d.Batch[0].Decision.Response.Rule != "events" || d.Batch[1].Decision.Response.Rule != "users" {
		t.Errorf("batch: %v %q, %+v", d.Result, d.Reason, d.Batch)
	}
	if !p.Pseudonymises() {
		t.Error("the policy pseudonymises")
	}
}

// TestResponseNodeAgainstLists holds the compiled tree to the lists read
// one path at a time, for random lists over a small alphabet: a path is
// removed when fields or select lets nothing of it through or redact
// names it or a parent; it restricts when they let only some of it
// through; it is pseudonymised when pseudonymise names it or a parent.
func TestResponseNodeAgainstLists(t *testing.T) {
	segs := []string{"a", "B", "c"}
	var all []string
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if depth == 0 {
			return
		}
		for _, s := range segs {
			p := s
			if prefix != "" {
				p = prefix + "." + s
			}
			all = append(all, p)
			walk(p, depth-1)
		}
	}
	walk("", 4)
	rnd := uint64(1)
	next := func(n int) int {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return int(rnd>>33) % n
	}
	pick := func() []string {
		var out []string
		seen := map[string]bool{}
		for range next(4) {
			p := all[next(len(all))]
			if depth := strings.Count(p, ".") + 1; depth <= 3 && !seen[strings.ToLower(p)] {
				seen[strings.ToLower(p)] = true
				out = append(out, p)
			}
		}
		return out
	}
	under := func(p, list []string) bool { // p is list's path or below it
		return len(list) <= len(p) && strings.EqualFold(strings.Join(p[:len(list)], "."), strings.Join(list, "."))
	}
	// allow: 2 everything, 1 some, 0 nothing.
	allow := func(list []string, p []string) int {
		if len(list) == 0 {
			return 2
		}
		best := 0
		for _, f := range list {
			fs := strings.Split(f, ".")
			switch {
			case under(p, fs):
				return 2
			case under(fs, p):
				best = 1
			}
		}
		return best
	}
	anyUnder := func(list []string, p []string) bool {
		for _, f := range list {
			if under(p, strings.Split(f, ".")) {
				return true
			}
		}
		return false
	}
	for i := 0; i < 2000; i++ {
		fields, sel, redact, pseudo := pick(), pick(), pick(), pick()
		r, err := NewResponse("r", fields, sel, redact, pseudo)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range all {
			p := strings.Split(path, ".")
			n := r.Root()
			for _, s := range p {
				if n = n.Child([]byte(s)); n == nil {
					break
				}
			}
			a := min(allow(fields, p), allow(sel, p))
			wantRemoved := a == 0 || anyUnder(redact, p)
			if (n == nil) != wantRemoved {
				t.Fatalf("fields %v select %v redact %v pseudonymise %v: %s removed %v; want %v", fields, sel, redact, pseudo, path, n == nil, wantRemoved)
			}
			if n == nil {
				continue
			}
			if n.Restricts() != (a == 1) || n.Pseudonymised() != anyUnder(pseudo, p) {
				t.Fatalf("fields %v select %v redact %v pseudonymise %v: %s restricts %v pseudonymised %v", fields, sel, redact, pseudo, path, n.Restricts(), n.Pseudonymised())
			}
		}
	}
}
