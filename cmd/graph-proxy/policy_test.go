package main

import (
	"bytes"
	"encoding/json"
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

func TestPolicyPermissions(t *testing.T) {
	out, code := runCmd(t, "policy", "permissions", "../../examples/policy-engage.yaml")
	if code != 0 || out != "Calendars.ReadBasic\nCalendars.ReadWrite\nGroupMember.Read.All\nOnlineMeetings.ReadWrite.All\nUser.ReadBasic.All\n" {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPolicyExplain(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   []string
		status int
	}{
		{name: "allowed", args: []string{"GET", "https://graph.microsoft.com/v1.0/users('adele.vance0@contoso.example')?$select=mail"},
			want: []string{"path     /users/adele.vance0@contoso.example", "decision: allow", "rule       user-lookup (/users/{user}, User.ReadBasic.All)"}},
		{name: "denied", args: []string{"DELETE", "/v1.0/users/adele.vance0@contoso.example"},
			want: []string{"decision: deny", `reason     rule "user-lookup" matches the path but not method DELETE`}},
		{name: "ambiguous", args: []string{"GET", "/v1.0/users/a%2Fb"},
			want: []string{"refused before any rule: ambiguous request: encoded slash or backslash in a path segment"}},
		{name: "not Graph", args: []string{"GET", "/v2.0/users"}, want: []string{"not a Graph call"}},
		{name: "missing caller", args: []string{"GET"}, want: []string{"needs --policy, --caller, METHOD and URL"}, status: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"policy", "explain", "--policy", "../../examples/policy-engage.yaml"}
			if tt.status == 0 {
				args = append(args, "--caller", "engage")
			}
			out, code := runCmd(t, append(args, tt.args...)...)
			if code != tt.status {
				t.Errorf("exit %d; want %d: %s", code, tt.status, out)
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
