package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		query    string
		wantPath string
		wantQ    string
		wantSel  string
		wantErr  string // "" succeeds; "notgraph" is ErrNotGraph
	}{
		{name: "plain", method: "get", path: "/v1.0/users/alice@contoso.example/events", wantPath: "/users/alice@contoso.example/events"},
		{name: "beta", method: "GET", path: "/beta/users", wantPath: "/users"},
		{name: "decoded once", method: "GET", path: "/v1.0/users/alice%40contoso.example", wantPath: "/users/alice@contoso.example"},
		{name: "guest UPN with #EXT#", method: "GET", path: "/v1.0/users/bob_fabrikam.example%23EXT%23@contoso.example", wantPath: "/users/bob_fabrikam.example#EXT#@contoso.example"},
		{name: "key syntax", method: "GET", path: "/v1.0/users('alice@contoso.example')/events", wantPath: "/users/alice@contoso.example/events"},
		{name: "encoded key syntax", method: "GET", path: "/v1.0/users(%27alice@contoso.example%27)", wantPath: "/users/alice@contoso.example"},
		{name: "unquoted key", method: "GET", path: "/v1.0/users(10000000-0000-4000-8000-000000000000)", wantPath: "/users/10000000-0000-4000-8000-000000000000"},
		{name: "doubled quote in key", method: "GET", path: "/v1.0/users('o''brien@contoso.example')", wantPath: "/users/o'brien@contoso.example"},
		{name: "empty parentheses", method: "GET", path: "/v1.0/users/delta()", wantPath: "/users/delta"},
		{name: "query names", method: "GET", path: "/v1.0/users", query: "top=5&$Select=displayName,Mail&%24filter=x", wantPath: "/users", wantQ: "$filter,$select,$top", wantSel: "displayname,mail"},
		{name: "custom option kept", method: "GET", path: "/v1.0/users/x@y.example/calendarView", query: "startDateTime=a&endDateTime=b", wantPath: "/users/x@y.example/calendarView", wantQ: "enddatetime,startdatetime"},
		{name: "other prefix", method: "GET", path: "/v2.0/users", wantErr: "notgraph"},
		{name: "version without slash", method: "GET", path: "/v1.0users", wantErr: "notgraph"},
		{name: "version case", method: "GET", path: "/V1.0/users", wantErr: "notgraph"},
		{name: "no resource", method: "GET", path: "/v1.0/", wantErr: "no resource after the version"},
		{name: "dot segment", method: "GET", path: "/v1.0/users/../groups", wantErr: "dot segment in the path"},
		{name: "encoded dot segment", method: "GET", path: "/v1.0/users/%2e%2e/groups", wantErr: "dot segment in the path"},
		{name: "empty segment", method: "GET", path: "/v1.0/users//events", wantErr: "empty path segment"},
		{name: "trailing slash", method: "GET", path: "/v1.0/users/", wantErr: "empty path segment"},
		{name: "encoded slash", method: "GET", path: "/v1.0/users/a%2Fb", wantErr: "encoded slash or backslash in a path segment"},
		{name: "encoded backslash", method: "GET", path: "/v1.0/users/a%5cb", wantErr: "encoded slash or backslash in a path segment"},
		{name: "backslash", method: "GET", path: `/v1.0/users\x`, wantErr: "backslash in the path"},
		{name: "double encoding", method: "GET", path: "/v1.0/users/a%252Fb", wantErr: "'%' after decoding the path (double encoding)"},
		{name: "NUL", method: "GET", path: "/v1.0/users/a%00b", wantErr: "control character or '?' in a path segment"},
		{name: "encoded question mark", method: "GET", path: "/v1.0/users/a%3Fb", wantErr: "control character or '?' in a path segment"},
		{name: "bad escape", method: "GET", path: "/v1.0/users/a%zz", wantErr: "malformed percent-encoding in the path"},
		{name: "invalid UTF-8", method: "GET", path: "/v1.0/users/%ff", wantErr: "invalid UTF-8 in the path"},
		{name: "function parameters", method: "GET", path: "/v1.0/reports/getEmailActivityCounts(period='D7')", wantErr: `key or function parameters "getEmailActivityCounts(period='D7')" are not supported`},
		{name: "unbalanced quote", method: "GET", path: "/v1.0/users('a'b')", wantErr: `unbalanced quote in key "users('a'b')"`},
		{name: "key with slash", method: "GET", path: "/v1.0/users('a/b')", wantErr: `malformed key syntax in "users('a"`},
		{name: "dot key", method: "GET", path: "/v1.0/users('..')/x", wantErr: `malformed key in "users('..')"`},
		{name: "duplicate option", method: "GET", path: "/v1.0/users", query: "$top=1&top=2", wantErr: "query option $top given twice"},
		{name: "as many options as allowed", method: "GET", path: "/v1.0/users", query: manyOptions(maxQueryOptions), wantPath: "/users", wantQ: strings.Join(optionNames(maxQueryOptions), ",")},
		{name: "too many options", method: "GET", path: "/v1.0/users", query: manyOptions(maxQueryOptions + 1), wantErr: "more than 64 query options"},
		{name: "option hidden in a value", method: "GET", path: "/v1.0/users", query: "$filter=x%26$expand=manager", wantErr: "the value of $filter carries the query option $expand"},
		{name: "$apply hidden in a value", method: "GET", path: "/v1.0/users", query: "$filter=x%26$apply=groupby((mail))", wantErr: "the value of $filter carries the query option $apply"},
		{name: "compute without $ hidden in a value", method: "GET", path: "/v1.0/users", query: "$search=x%26compute=1", wantErr: "the value of $search carries the query option compute"},
		{name: "any $ option hidden in a value", method: "GET", path: "/v1.0/users/x@y.example/calendarView", query: "startDateTime=a%26%24levels=max", wantErr: "the value of startdatetime carries the query option $levels"},
		{name: "option hidden in $top", method: "GET", path: "/v1.0/users", query: "$top=1%26expand=manager", wantErr: "$top must be a number"},
		{name: "$count not boolean", method: "GET", path: "/v1.0/users", query: "$count=yes", wantErr: "$count must be true or false"},
		{name: "bad method", method: "TRACE", path: "/v1.0/users", wantErr: `method "TRACE" is not one Graph serves`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize(tt.method, tt.path, tt.query)
			switch {
			case tt.wantErr == "notgraph":
				if !errors.Is(err, ErrNotGraph) {
					t.Errorf("got %v; want ErrNotGraph", err)
				}
				return
			case tt.wantErr != "":
				if !errors.Is(err, ErrAmbiguous) || err.Error() != "policy: ambiguous request: "+tt.wantErr {
					t.Errorf("got %v; want ambiguous: %s", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("got %v", err)
			}
			if got.Path != tt.wantPath || strings.Join(got.Query, ",") != tt.wantQ || strings.Join(got.Select, ",") != tt.wantSel {
				t.Errorf("got %q %v %v; want %q %s %s", got.Path, got.Query, got.Select, tt.wantPath, tt.wantQ, tt.wantSel)
			}
		})
	}
}

func TestLoadFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{file: "missing-version.yaml", want: []string{
			"testdata/missing-version.yaml:1: version is required: add version: 1",
		}},
		{file: "unknown-keys.yaml", want: []string{
			`testdata/unknown-keys.yaml:5: unknown key "permisions" (did you mean "permissions"?)`,
			`testdata/unknown-keys.yaml:8: unknown key "methods" (did you mean "method"?)`,
		}},
		{file: "bad-yaml.yaml", want: []string{
			// yaml.v3 names the line of the enclosing sequence item.
			"testdata/bad-yaml.yaml:3: did not find expected ',' or '}'",
		}},
		{file: "bad-rules.yaml", want: []string{
			`testdata/bad-rules.yaml:2: mode "audit" is not enforce or report-only`,
			`testdata/bad-rules.yaml:5: caller "engage": appID "not-a-guid" is not a GUID`,
			`testdata/bad-rules.yaml:6: caller "engage": unknown permission "Calendar.ReadWrite" (did you mean "Calendars.ReadWrite"?)`,
			`testdata/bad-rules.yaml:12: rule "a": the id is used by the rule on line 8; ids must be unique`,
			`testdata/bad-rules.yaml:18: rule "wild": path "/users/*/events": segment "*" may not contain {, }, *, ?, %, (, ), ' or \ — wildcards across segments are not supported; a variable is a whole segment such as {id}`,
			`testdata/bad-rules.yaml:22: rule "versioned": path "/v1.0/users" must not name the version; use versions: [v1.0]`,
			`testdata/bad-rules.yaml:21: rule "versioned": method "FETCH" is not one of GET, POST, PATCH, PUT, DELETE`,
			`testdata/bad-rules.yaml:27: rule "unusable": query option "$selct" is not one the proxy knows (did you mean "$select"?)`,
			`testdata/bad-rules.yaml:28: rule "unusable": no caller holds Mail.Read, so no caller can use this rule; add it to a caller's permissions or remove the rule`,
			`testdata/bad-rules.yaml:31: rule "same-as-a": GET /Users (v1.0) is already covered by rule "a"; merge the two`,
		}},
		{file: "bad-limits.yaml", want: []string{
			`testdata/bad-limits.yaml:6: caller "engage": rateLimit.rps must be positive`,
			`testdata/bad-limits.yaml:6: caller "engage": rateLimit.mailboxConcurrent 8 must be between 1 and 4`,
		}},
		{file: "people-rules.yaml", want: []string{
			`testdata/people-rules.yaml:8: caller "engage": "not a domain" is not a domain name`,
			`testdata/people-rules.yaml:8: caller "engage": "a@b.example;c@d.example" is not one email address: policy: mail address: list separator ',' or ';'`,
			`testdata/people-rules.yaml:14: rule "both-names": attendeeDomains is the old name of peopleDomains; give one of them`,
			`testdata/people-rules.yaml:10: rule "forward": its calls can write or send mail (message forward), so the policy needs mail.recipientDomains: the domains mail may go to`,
			`testdata/people-rules.yaml:11: rule "generic": its calls can write or send mail (sendMail), so the policy needs mail.recipientDomains: the domains mail may go to`,
			`testdata/people-rules.yaml:12: rule "read-only": peopleDomains would check nothing: GET /users/{user}/events names no people the proxy reads (see docs/policy.md, "Who a call touches")`,
			`testdata/people-rules.yaml:13: rule "no-people": peopleDomains would check nothing: POST /users/{user}/todo/lists names no people the proxy reads (see docs/policy.md, "Who a call touches")`,
		}},
		{file: "no-mail-domains.yaml", want: []string{
			`testdata/no-mail-domains.yaml:9: rule "mail": its calls can write or send mail (sendMail), so the policy needs mail.recipientDomains: the domains mail may go to`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", tt.file))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v; want *LoadError", err)
			}
			var got []string
			for _, p := range le.Problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestLoadExamples(t *testing.T) {
	for _, f := range []string{"../examples/policy-engage.yaml", "testdata/decide.yaml"} {
		p, err := LoadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !strings.HasPrefix(p.Digest, "sha256:") {
			t.Errorf("%s: digest %q", f, p.Digest)
		}
	}
}

func mustLoad(t testing.TB, name string) *Policy {
	t.Helper()
	p, err := LoadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decideURL(t *testing.T, p *Policy, caller, method, target, body string) Decision {
	t.Helper()
	req := canonical(t, method, target)
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	d := p.Decide(Args{Caller: caller, Request: req, ContentType: "application/json", Body: b})
	// The handler's way, routed before the body is read and decided with
	// it after, decides the same; and what DenyWithoutBody decides before
	// the body is read is what Decide decides with it, whatever the body.
	rt := p.Route(caller, req)
	if routed := rt.Decide("application/json", b); !reflect.DeepEqual(routed, d) {
		t.Errorf("%s %s: Route then Decide %+v; Decide %+v", method, target, routed, d)
	}
	if early, ok := rt.DenyWithoutBody(); ok && !reflect.DeepEqual(early, d) {
		t.Errorf("%s %s: DenyWithoutBody %+v; Decide with the body %+v", method, target, early, d)
	}
	return d
}

// deniedWithoutBody reports whether DenyWithoutBody decides the request.
func deniedWithoutBody(t *testing.T, p *Policy, caller, method, target string) bool {
	t.Helper()
	rt := p.Route(caller, canonical(t, method, target))
	_, ok := rt.DenyWithoutBody()
	return ok
}

// canonical is the canonical request of a method and a target with its
// query.
func canonical(t *testing.T, method, target string) Request {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	req, err := Canonicalize(method, path, query)
	if err != nil {
		t.Fatalf("canonicalize %s: %v", target, err)
	}
	return req
}

const (
	alice = "alice@contoso.example"
	bob   = "bob@contoso.example"
)

func TestDecide(t *testing.T) {
	p := mustLoad(t, "testdata/decide.yaml")
	sched := `{"schedules":["` + alice + `","` + bob + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}}`
	tests := []struct {
		name        string
		caller      string
		method      string
		url         string
		body        string
		want        Result
		wantRule    string
		wantReason  string
		wantTargets string // "" for none
	}{
		{name: "allowed read", caller: "engage", method: "GET", url: "/v1.0/users/" + alice, want: Allow, wantRule: "user-get", wantTargets: alice},
		{name: "literal beats variable", caller: "engage", method: "GET", url: "/v1.0/users/delta", want: Allow, wantRule: "users-delta"},
		{name: "case-insensitive literal", caller: "engage", method: "GET", url: "/v1.0/Users/" + alice + "/Events?$top=5", want: Allow, wantRule: "events-read", wantTargets: alice},
		{name: "paging token implied", caller: "engage", method: "GET", url: "/v1.0/users/" + alice + "/events?$top=5&$skiptoken=abc", want: Allow, wantRule: "events-read", wantTargets: alice},
		{name: "query not allowed", caller: "engage", method: "GET", url: "/v1.0/users/" + alice + "/events?$expand=attachments", want: Deny, wantRule: "events-read", wantReason: `query option $expand is not allowed by rule "events-read"`, wantTargets: alice},
		{name: "select field not allowed", caller: "engage", method: "GET", url: "/v1.0/users/" + alice + "?$select=displayName,jobTitle", want: Deny, wantRule: "user-get", wantReason: `$select field "jobtitle" is not allowed by rule "user-get"`, wantTargets: alice},
		{name: "select field allowed", caller: "engage", method: "GET", url: "/v1.0/users/" + alice + "?$select=displayName,mail", want: Allow, wantRule: "user-get", wantTargets: alice},
		{name: "{user} needs a user", caller: "engage", method: "GET", url: "/v1.0/users/not-a-user/events", want: Deny, wantReason: "no rule matches GET v1.0 /users/not-a-user/events"},
		{name: "unknown path", caller: "engage", method: "GET", url: "/v1.0/users/" + alice + "/messages", want: Deny, wantReason: "no rule matches GET v1.0 /users/alice@contoso.example/messages"},
		{name: "wrong method", caller: "engage", method: "DELETE", url: "/v1.0/users/" + alice, want: Deny, wantReason: `rule "user-get" matches the path but not method DELETE`},
		{name: "wrong version", caller: "engage", method: "GET", url: "/beta/users/" + alice, want: Deny, wantReason: `rule "user-get" matches the path but not version beta`},
		{name: "permission not held", caller: "reader", method: "POST", url: "/v1.0/users/" + alice + "/calendar/getSchedule", body: sched, want: Deny, wantReason: `caller "reader" does not hold Calendars.ReadBasic.All, which rule "free-busy" needs`},
		{name: "unknown caller", caller: "stranger", method: "GET", url: "/v1.0/users/" + alice, want: Deny, wantReason: `caller "stranger" is not in the policy`},
		{name: "getSchedule targets", caller: "engage", method: "POST", url: "/beta/users/" + alice + "/calendar/getSchedule", body: sched, want: Allow, wantRule: "free-busy", wantTargets: alice + "," + bob},
		{name: "getSchedule as many schedules as allowed", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/calendar/getSchedule",
			body: `{"schedules":[` + repeatList(`"`+bob+`"`, MaxTargets) + `]}`, want: Allow, wantRule: "free-busy", wantTargets: alice + "," + bob},
		{name: "getSchedule too many schedules", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/calendar/getSchedule",
			body: `{"schedules":[` + repeatList(`"`+bob+`"`, MaxTargets+1) + `]}`, want: Deny, wantRule: "free-busy", wantReason: "the call names more than 500 users", wantTargets: alice},
		{name: "too many attendees", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"attendees":[` + repeatList(`{"emailAddress":{"address":"`+bob+`"}}`, MaxTargets+1) + `]}`, want: Deny, wantRule: "event-create", wantReason: "the call names more than 500 users", wantTargets: alice},
		{name: "getSchedule bad schedules", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/calendar/getSchedule", body: `{"schedules":[5]}`, want: Deny, wantRule: "free-busy", wantReason: "getSchedule schedules must be a non-empty list of mailbox addresses", wantTargets: alice},
		{name: "attendee in domain", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"subject":"x","attendees":[{"emailAddress":{"address":"` + bob + `"}}]}`, want: Allow, wantRule: "event-create", wantTargets: alice + "," + bob},
		{name: "attendee outside domain", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"attendees":[{"emailAddress":{"address":"eve@evil.example"}}]}`, want: Deny, wantRule: "event-create", wantReason: `attendees[].emailAddress.address eve@evil.example is outside the domains rule "event-create" allows`, wantTargets: alice},
		{name: "attendee key case", caller: "engage", method: "PATCH", url: "/v1.0/users/" + alice + "/events/AAMkAD",
			body: `{"Attendees":[{"EmailAddress":{"Address":"eve@evil.example"}}]}`, want: Deny, wantRule: "event-item", wantReason: `Attendees[].EmailAddress.address eve@evil.example is outside the domains rule "event-item" allows`, wantTargets: alice},
		{name: "duplicate keys", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"subject":"a","Subject":"b"}`, want: Deny, wantRule: "event-create", wantReason: `request body is not acceptable JSON: key "Subject" appears twice in one object`, wantTargets: alice},
		{name: "sourceUrl", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"attachments":[{"@microsoft.graph.sourceUrl":"https://evil.example/x"}]}`, want: Deny, wantRule: "event-create", wantReason: "the body asks Graph to fetch a URL (@microsoft.graph.sourceUrl); set externalLinks: true to allow it", wantTargets: alice},
		{name: "sourceUrl escaped", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events",
			body: `{"\u0040microsoft.graph.sourceUrl":"https://evil.example/x"}`, want: Deny, wantRule: "event-create", wantReason: "the body asks Graph to fetch a URL (@microsoft.graph.sourceUrl); set externalLinks: true to allow it", wantTargets: alice},
		{name: "invalid JSON", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events", body: `{"subject":`, want: Deny, wantRule: "event-create", wantReason: "request body is not acceptable JSON: unexpected end of the body", wantTargets: alice},
		{name: "deep JSON", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/events", body: strings.Repeat("[", 100) + strings.Repeat("]", 100), want: Deny, wantRule: "event-create", wantReason: "request body is not acceptable JSON: JSON nested deeper than 64", wantTargets: alice},
		{name: "subscription allowed", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n1","resource":"/users/` + alice + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`, want: Allow, wantRule: "subscribe", wantTargets: alice},
		{name: "subscription to Event Grid", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"EventGrid:?azuresubscriptionid=8d0f3a1e-0000-4000-8000-000000000001&resourcegroup=rg&partnertopic=graph&location=westeurope","resource":"users/` + alice + `/events"}`, want: Allow, wantRule: "subscribe", wantTargets: alice},
		{name: "subscription elsewhere", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"https://evil.example/hook","resource":"/users/` + alice + `/events"}`, want: Deny, wantRule: "subscribe", wantReason: `notificationUrl "https://evil.example/hook" is not in subscriptions.notificationUrls`},
		{name: "subscription lifecycle elsewhere", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","lifecycleNotificationUrl":"https://evil.example/l","resource":"/users/` + alice + `/events"}`, want: Deny, wantRule: "subscribe", wantReason: `lifecycleNotificationUrl "https://evil.example/l" is not in subscriptions.notificationUrls`},
		{name: "subscription with data", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","includeResourceData":true,"resource":"/users/` + alice + `/events"}`, want: Deny, wantRule: "subscribe", wantReason: "includeResourceData is not allowed (subscriptions.includeResourceData)"},
		{name: "subscription to unreadable resource", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"/users/` + alice + `/messages"}`, want: Deny, wantRule: "subscribe", wantReason: "subscription resource is not readable under this policy (no rule allows its GET)"},
		{name: "mail inside", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/sendMail",
			body: `{"message":{"toRecipients":[{"emailAddress":{"address":"` + bob + `"}}]}}`, want: Allow, wantRule: "send-mail", wantTargets: alice + "," + bob},
		{name: "mail outside", caller: "engage", method: "POST", url: "/v1.0/users/" + alice + "/sendMail",
			body: `{"message":{"toRecipients":[{"emailAddress":{"address":"` + bob + `"}}],"bccRecipients":[{"emailAddress":{"address":"x@evil.example"}}]}}`, want: Deny, wantRule: "send-mail", wantReason: "mail recipient x@evil.example (message.bccRecipients[].emailAddress.address) is outside mail.recipientDomains", wantTargets: alice},
		{name: "group of caller passed on", caller: "reader", method: "GET", url: "/v1.0/users/" + alice, want: Allow, wantRule: "user-get", wantTargets: alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideURL(t, p, tt.caller, tt.method, tt.url, tt.body)
			if d.Result != tt.want || d.RuleID != tt.wantRule || d.Reason != tt.wantReason || strings.Join(d.Targets, ",") != tt.wantTargets {
				t.Errorf("got %v rule %q reason %q targets %v;\nwant %v rule %q reason %q targets %s",
					d.Result, d.RuleID, d.Reason, d.Targets, tt.want, tt.wantRule, tt.wantReason, tt.wantTargets)
			}
			// Decided without the body exactly when no rule serves the
			// request: once one does, its checks may read the body.
			if got, want := deniedWithoutBody(t, p, tt.caller, tt.method, tt.url), tt.want == Deny && tt.wantRule == ""; got != want {
				t.Errorf("decided without the body: %v; want %v", got, want)
			}
		})
	}
	if d := decideURL(t, p, "reader", "GET", "/v1.0/users/"+alice, ""); d.Group != "90000000-0000-4000-8000-000000000001" {
		t.Errorf("group %q; want the caller's users.group", d.Group)
	}
}

func TestDecideBatch(t *testing.T) {
	p := mustLoad(t, "testdata/decide.yaml")
	tests := []struct {
		name       string
		body       string
		want       Result
		wantReason string
		wantSubs   string // id:result, ...
	}{
		{name: "all allowed", want: Allow, wantSubs: "1:allow,2:allow",
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `"},{"id":"2","method":"GET","url":"users/` + bob + `/events?$top=3","dependsOn":["1"]}]}`},
		{name: "one forbidden", want: Deny, wantReason: "batch requests refused: 2", wantSubs: "1:allow,2:deny",
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `"},{"id":"2","method":"GET","url":"/users/` + alice + `/messages"}]}`},
		{name: "absolute URL", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"GET","url":"https://graph.microsoft.com/v1.0/users/` + alice + `"}]}`},
		{name: "version-prefixed URL", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"GET","url":"/beta/users/` + alice + `"}]}`},
		{name: "nested batch", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"POST","url":"$batch","body":{"requests":[]},"headers":{"Content-Type":"application/json"}}]}`},
		{name: "forbidden header", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `","headers":{"Authorization":"Bearer x"}}]}`},
		{name: "body rules apply", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"POST","url":"/users/` + alice + `/events","headers":{"Content-Type":"application/json"},"body":{"attendees":[{"emailAddress":{"address":"eve@evil.example"}}]}}]}`},
		{name: "base64 body", want: Deny, wantReason: "batch requests refused: 1", wantSubs: "1:deny",
			body: `{"requests":[{"id":"1","method":"POST","url":"/users/` + alice + `/events","headers":{"Content-Type":"text/plain"},"body":"aGVsbG8="}]}`},
		{name: "dependsOn later id", want: Deny, wantReason: `Invalid batch payload format: batch request "1" depends on "2", which does not come before it`,
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `","dependsOn":["2"]},{"id":"2","method":"GET","url":"/users/` + bob + `"}]}`},
		{name: "duplicate ids", want: Deny, wantReason: `Invalid batch payload format: batch request id "1" is used twice`,
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `"},{"id":"1","method":"GET","url":"/users/` + bob + `"}]}`},
		{name: "unknown property", want: Deny, wantReason: `Invalid batch payload format: batch request 0 has unknown property "atomicityGroup"`,
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/` + alice + `","atomicityGroup":"g"}]}`},
		{name: "too many users together", want: Deny, wantReason: "the call names more than 500 users, counting its requests together", wantSubs: "1:allow,2:allow",
			body: `{"requests":[` + scheduleRequest("1", 0, 300) + `,` + scheduleRequest("2", 300, 600) + `]}`},
		{name: "too many", want: Deny, wantReason: "Invalid batch payload format: batch needs 1 to 20 requests",
			body: `{"requests":[` + strings.Repeat(`{"id":"x","method":"GET","url":"/users"},`, 20) + `{"id":"y","method":"GET","url":"/users"}]}`},
	}
	// A $batch is decided by its parts, which are in the body; sent
	// other than as POST without query options, it is refused as it is.
	if deniedWithoutBody(t, p, "engage", "POST", "/v1.0/$batch") {
		t.Error("a $batch POST decided without its body")
	}
	for _, target := range []string{"GET /v1.0/$batch", "POST /v1.0/$batch?$top=1"} {
		method, url, _ := strings.Cut(target, " ")
		if !deniedWithoutBody(t, p, "engage", method, url) || decideURL(t, p, "engage", method, url, "").Result != Deny {
			t.Errorf("%s: not denied before its body is read", target)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideURL(t, p, "engage", "POST", "/v1.0/$batch", tt.body)
			var subs []string
			for _, s := range d.Batch {
				subs = append(subs, s.ID+":"+s.Decision.Result.String())
			}
			if d.Result != tt.want || d.Reason != tt.wantReason || strings.Join(subs, ",") != tt.wantSubs {
				t.Errorf("got %v %q subs %v; want %v %q subs %s", d.Result, d.Reason, subs, tt.want, tt.wantReason, tt.wantSubs)
			}
		})
	}
}

func TestReportOnly(t *testing.T) {
	data, err := os.ReadFile("testdata/decide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("report.yaml", []byte(strings.Replace(string(data), "version: 1", "version: 1\nmode: report-only", 1)))
	if err != nil {
		t.Fatal(err)
	}
	d := decideURL(t, p, "engage", "GET", "/v1.0/users/"+alice+"/messages", "")
	if d.Result != Report || !d.Forwarded() || d.Reason == "" {
		t.Errorf("got %v %q; want report with the would-deny reason", d.Result, d.Reason)
	}
	// Forwarded all the same, so its body is read.
	if deniedWithoutBody(t, p, "engage", "POST", "/v1.0/users/"+alice+"/messages") {
		t.Error("report-only: a call that goes to Graph decided without its body")
	}
	d = decideURL(t, p, "engage", "GET", "/v1.0/users/"+alice, "")
	d.Refuse("not in group")
	if d.Result != Report || d.Reason != "not in group" {
		t.Errorf("Refuse in report-only mode: %v %q; want report", d.Result, d.Reason)
	}
}

// optionNames are n distinct query option names, in order.
func optionNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("o%03d", i)
	}
	return names
}

// manyOptions is a query of n distinct options.
func manyOptions(n int) string {
	return strings.Join(optionNames(n), "=1&") + "=1"
}

// repeatList is n copies of a JSON value, comma-separated.
func repeatList(v string, n int) string {
	return strings.TrimSuffix(strings.Repeat(v+",", n), ",")
}

// scheduleRequest is a $batch getSchedule request for users from to to-1.
func scheduleRequest(id string, from, to int) string {
	var users []string
	for i := from; i < to; i++ {
		users = append(users, fmt.Sprintf(`"user%03d@contoso.example"`, i))
	}
	return `{"id":"` + id + `","method":"POST","url":"/users/` + alice + `/calendar/getSchedule","headers":{"Content-Type":"application/json"},"body":{"schedules":[` +
		strings.Join(users, ",") + `]}}`
}
