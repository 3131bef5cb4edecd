package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
)

func runCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := exitCode(run(t.Context(), args, nil, &out, &out), &out)
	return out.String(), code
}

func TestPolicyLint(t *testing.T) {
	out, code := runCmd(t, "policy", "lint", "../../examples/policy-engage.yaml")
	if code != 0 || !strings.Contains(out, "policy-engage.yaml: ok (1 callers, mode enforce, sha256:") {
		t.Errorf("exit %d: %s", code, out)
	}
	out, code = runCmd(t, "policy", "lint", "../../examples/policy-engage.yaml", "../../policy/testdata/missing-version.yaml")
	if code != 2 || !strings.Contains(out, "missing-version.yaml:1: version is required: add version: 1") || !strings.Contains(out, "1 of 2 policy files are invalid") {
		t.Errorf("exit %d: %s", code, out)
	}
}

// A policy naming Calendars.ReadBasic where an application permission
// belongs, as the examples did before, is valid: lint warns where, and
// policy permissions lists the app role it is read as.
func TestPolicyLintAlias(t *testing.T) {
	data, err := os.ReadFile("../../examples/policy-engage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "old.yaml")
	os.WriteFile(file, bytes.ReplaceAll(data, []byte("Calendars.ReadBasic.All"), []byte("Calendars.ReadBasic")), 0o600)
	out, code := runCmd(t, "policy", "lint", file)
	const warning = `warning: Calendars.ReadBasic is a delegated permission only: Microsoft Graph has no application permission of that name; read as Calendars.ReadBasic.All, its application counterpart, which the proxy's identity needs (write Calendars.ReadBasic.All)`
	if code != 0 || !strings.Contains(out, "old.yaml: ok") || strings.Count(out, warning) != 4 || !strings.Contains(out, `old.yaml:21: caller "engage": `+warning) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, code = runCmd(t, "policy", "permissions", file)
	if code != 0 || out != "Calendars.ReadBasic.All\nCalendars.ReadWrite\nGroupMember.Read.All\nOnlineMeetings.ReadWrite.All\nUser.ReadBasic.All\n" {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPolicyPermissions(t *testing.T) {
	out, code := runCmd(t, "policy", "permissions", "../../examples/policy-engage.yaml")
	if code != 0 || out != "Calendars.ReadBasic.All\nCalendars.ReadWrite\nGroupMember.Read.All\nOnlineMeetings.ReadWrite.All\nUser.ReadBasic.All\n" {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// A reply is decided on the message's sender, which the proxy reads
	// from Graph: the permission of that read is listed with the rule's.
	file := filepath.Join(t.TempDir(), "reply.yaml")
	os.WriteFile(file, []byte(replyPolicy), 0o600)
	out, code = runCmd(t, "policy", "permissions", file)
	if code != 0 || out != "Mail.ReadBasic.All\nMail.Send\n" {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// replyPolicy allows replies, with the permission that sends them only.
const replyPolicy = `version: 1
callers:
  - name: vendor
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Mail.Send]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/reply", permission: Mail.Send }
`

// runCmdEnv is runCmd with an environment.
func runCmdEnv(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := exitCode(run(t.Context(), args, env, &out, &out), &out)
	return out.String(), code
}

// TestPolicyExplain checks the output and the exit code, which is an
// interface: 0 forwarded, 1 refused (or reported in report-only mode), 2
// an error.
func TestPolicyExplain(t *testing.T) {
	const engage = "../../examples/policy-engage.yaml"
	dir := t.TempDir()
	reportOnly := filepath.Join(dir, "report-only.yaml")
	data, err := os.ReadFile(engage)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("mode: enforce"), []byte("mode: report-only"), 1)
	if err := os.WriteFile(reportOnly, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const schedule = `{"schedules":["adele.vance0@contoso.example","room-1@contoso.example"],` +
		`"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T12:00:00","timeZone":"UTC"}}`
	const getSchedule = "/v1.0/users/adele.vance0@contoso.example/calendar/getSchedule"
	tests := []struct {
		name string
		// policy is --policy; env the environment.
		policy string
		env    []string
		// body, when set, is written to a file given as --body.
		body string
		args []string
		want []string
		code int
	}{
		{name: "allow", policy: engage, args: []string{"--caller", "engage", "GET", "https://graph.microsoft.com/v1.0/users('adele.vance0@contoso.example')?$select=mail"},
			want: []string{"path     /users/adele.vance0@contoso.example", "decision: allow", "rule          user-lookup (/users/{user}, User.ReadBasic.All)"}},
		{name: "allow with $select added", policy: engage, args: []string{"--caller", "engage", "GET", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"decision: allow", "added         $select=id,displayname,mail,userprincipalname,preferredlanguage (rule user-lookup lists the fields a caller may receive)"}},
		{name: "allow with a body", policy: engage, body: schedule, args: []string{"--caller", "engage", "POST", getSchedule},
			want: []string{"decision: allow", "targets       adele.vance0@contoso.example, room-1@contoso.example",
				"unscoped      room-1@contoso.example (users.withoutGroup: no membership check)",
				"content-type  application/json (what Graph receives with the body)"}},
		{name: "policy from the environment", env: []string{"GRAPH_PROXY_POLICY_FILE=" + engage}, args: []string{"--caller", "engage", "GET", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"decision: allow"}},
		{name: "deny", policy: engage, args: []string{"--caller", "engage", "DELETE", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"decision: deny", "answer        403 graphProxy.policyDenied",
				`reason        rule "user-lookup" matches the path but not method DELETE`,
				"policy explain: refused: the proxy answers 403 graphProxy.policyDenied"}, code: 1},
		{name: "deny: media type", policy: engage, body: schedule, args: []string{"--caller", "engage", "--content-type", "text/json", "POST", getSchedule},
			want: []string{"decision: deny", "answer        415 graphProxy.unsupportedMediaType", `reason        Content-Type "text/json" is not application/json`}, code: 1},
		{name: "deny: malformed", policy: engage, body: `{"schedules":"adele.vance0@contoso.example"}`, args: []string{"--caller", "engage", "POST", getSchedule},
			want: []string{"decision: deny", "answer        400 graphProxy.badRequest", "reason        getSchedule schedules must be a non-empty list of mailbox addresses"}, code: 1},
		{name: "deny: batch", policy: engage,
			body: `{"requests":[{"id":"1","method":"GET","url":"/users/adele.vance0@contoso.example"},{"id":"2","method":"DELETE","url":"/users/adele.vance0@contoso.example"}]}`,
			args: []string{"--caller", "engage", "POST", "/v1.0/$batch"},
			want: []string{"answer        403 graphProxy.policyDenied", "reason        batch requests refused: 2",
				`batch request "1": GET v1.0 /users/adele.vance0@contoso.example`, "    added         $select=id,displayname",
				`batch request "2": DELETE v1.0 /users/adele.vance0@contoso.example`, "    refusal       not allowed by the policy"}, code: 1},
		{name: "report", policy: reportOnly, args: []string{"--caller", "engage", "DELETE", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"decision: report", "answer        forwarded (report-only); enforcing, the proxy would answer 403 graphProxy.policyDenied",
				"report-only mode forwards the call, but the policy would refuse it"}, code: 1},
		{name: "ambiguous", policy: engage, args: []string{"--caller", "engage", "GET", "/v1.0/users/a%2Fb"},
			want: []string{"refused before any rule: ambiguous request: encoded slash or backslash in a path segment", "answer        403 graphProxy.policyDenied"}, code: 1},
		{name: "not Graph", policy: engage, args: []string{"--caller", "engage", "GET", "/v2.0/users"}, want: []string{"not a Graph call"}, code: 1},
		{name: "missing policy", args: []string{"--caller", "engage", "GET", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"policy explain: needs a policy file (--policy FILE or GRAPH_PROXY_POLICY_FILE)"}, code: 2},
		{name: "missing caller", policy: engage, args: []string{"GET", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"policy explain: needs --caller NAME"}, code: 2},
		{name: "missing URL", policy: engage, args: []string{"--caller", "engage", "GET"},
			want: []string{"policy explain: needs METHOD and URL, after the flags"}, code: 2},
		{name: "unknown flag", policy: engage, args: []string{"--caller", "engage", "--verbose", "GET", "/v1.0/me"},
			want: []string{"flag provided but not defined: -verbose"}, code: 2},
		{name: "bad URL", policy: engage, args: []string{"--caller", "engage", "GET", "http://[::1"},
			want: []string{"policy explain: parse"}, code: 2},
		{name: "missing body file", policy: engage, args: []string{"--caller", "engage", "--body", filepath.Join(dir, "none.json"), "POST", getSchedule},
			want: []string{"policy explain: --body: open"}, code: 2},
		{name: "invalid policy", policy: "../../policy/testdata/missing-version.yaml", args: []string{"--caller", "engage", "GET", "/v1.0/me"},
			want: []string{"missing-version.yaml:1: version is required"}, code: 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"policy", "explain"}
			if tt.policy != "" {
				args = append(args, "--policy", tt.policy)
			}
			if tt.body != "" {
				f := filepath.Join(dir, fmt.Sprintf("body%d.json", i))
				if err := os.WriteFile(f, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--body", f)
			}
			out, code := runCmdEnv(t, tt.env, append(args, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d; want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestPolicySuggestRoundTrip(t *testing.T) {
	const tenant, app = "d2b6628f-0000-4000-8000-000000000002", "e0000000-0000-4000-8000-0000000000e1"
	caller := auditlog.Caller{Name: "engage", TenantID: tenant, AppID: app}
	observed := []auditlog.Record{
		{Caller: caller, Decision: "report", Method: "POST", Version: "v1.0", Path: "/users/adele@contoso.example/calendar/getSchedule"},
		{Caller: caller, Decision: "report", Method: "GET", Version: "v1.0", Path: "/users/10000000-0000-4000-8000-000000000000/events", Query: []string{"$select", "$top"}},
		{Caller: caller, Decision: "report", Method: "GET", Version: "v1.0", Path: "/users/adele@contoso.example/events", Query: []string{"$skiptoken"}},
		{Caller: caller, Decision: "report", Method: "PATCH", Version: "v1.0", Path: "/users/adele@contoso.example/events/AAMkADQ0ZmI4YWE5LTM5ZjEtNDc2Mi1hZGFhLTBlZjRmMjU3OTc2NgBGAAA="},
		{Caller: caller, Decision: "report", Method: "GET", Version: "beta", Path: "/users/adele@contoso.example/presence"},
		{Caller: caller, Decision: "deny", Method: "GET", Version: "v1.0", Path: "/users/adele@contoso.example/messages"},
	}
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	var buf bytes.Buffer
	for _, r := range observed {
		json.NewEncoder(&buf).Encode(r)
	}
	os.WriteFile(audit, buf.Bytes(), 0o600)

	out, code := runCmd(t, "policy", "suggest", "--from", audit)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if !strings.Contains(out, "# Not included, least permission unknown: GET /users/{user}/presence") {
		t.Errorf("the unknown operation is not listed:\n%s", out)
	}
	p, err := policy.Parse("suggested.yaml", []byte(out))
	if err != nil {
		t.Fatalf("the suggested policy does not load: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		method, path, query string
		want                policy.Result
	}{
		{"POST", "/v1.0/users/megan@contoso.example/calendar/getSchedule", "", policy.Allow},
		{"GET", "/v1.0/users/megan@contoso.example/events", "$top=5&$select=subject", policy.Allow},
		{"PATCH", "/v1.0/users/megan@contoso.example/events/AAMkAnother", "", policy.Allow},
		{"GET", "/v1.0/users/megan@contoso.example/events", "$expand=x", policy.Deny},
		{"DELETE", "/v1.0/users/megan@contoso.example/events/AAMkAnother", "", policy.Deny},
		{"GET", "/v1.0/users/megan@contoso.example/messages", "", policy.Deny},
	} {
		req, err := policy.Canonicalize(tc.method, tc.path, tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if strings.HasSuffix(tc.path, "/getSchedule") {
			body = []byte(`{"schedules":["megan@contoso.example"]}`)
		}
		if d := p.Decide(policy.Args{Caller: "engage", Request: req, ContentType: "application/json", Body: body}); d.Result != tc.want {
			t.Errorf("%s %s?%s: %v (%s); want %v", tc.method, tc.path, tc.query, d.Result, d.Reason, tc.want)
		}
	}
}
