package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

func TestDeniedNeverReachGraph(t *testing.T) {
	_, upns := startUsers(t)
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		wantMsg  string
		wantSubs int // audit records of batch sub-requests
		// want400: a request Graph itself would refuse as malformed, which
		// the proxy answers 400 as Graph would, naming what is wrong.
		want400 bool
	}{
		{name: "no rule", method: "GET", path: "/v1.0/users/" + upns[0] + "/messages"},
		{name: "query option not allowed", method: "GET", path: "/v1.0/users/" + upns[0] + "/events?$expand=attachments"},
		{name: "ambiguous path", method: "GET", path: "/v1.0/users/" + upns[0] + "/..%2Fmessages"},
		{name: "dot segment", method: "GET", path: "/v1.0/users/x/%2e%2e/" + upns[0]},
		{name: "duplicate query option", method: "GET", path: "/v1.0/users?$top=1&top=999"},
		{name: "batch with one forbidden sub-request", method: "POST", path: "/v1.0/$batch",
			body:    `{"requests":[{"id":"a","method":"GET","url":"/users/` + upns[0] + `"},{"id":"b","method":"GET","url":"/users/` + upns[0] + `/messages"},{"id":"c","method":"GET","url":"/users/` + upns[1] + `"}]}`,
			wantMsg: "Refused batch requests: b.", wantSubs: 3},
		{name: "batch smuggling an absolute URL", method: "POST", path: "/v1.0/$batch",
			body:    `{"requests":[{"id":"1","method":"GET","url":"https://graph.microsoft.com/v1.0/users/` + upns[0] + `/messages"}]}`,
			wantMsg: "Invalid batch request: 1: Invalid batch payload format: absolute URL in a batch request.", wantSubs: 1, want400: true},
		{name: "batch with a version-prefixed URL", method: "POST", path: "/v1.0/$batch",
			body:    `{"requests":[{"id":"v1","method":"GET","url":"/v1.0/users/` + upns[0] + `"}]}`,
			wantMsg: "Invalid batch request: v1: Invalid batch payload format: version-prefixed URL in a batch request (Graph reads sub-request URLs relative to the batch's version).", wantSubs: 1, want400: true},
		{name: "malformed batch", method: "POST", path: "/v1.0/$batch", body: `{"requests":[{"id":"1"}]}`, want400: true,
			wantMsg: "The request is malformed: Invalid batch payload format: batch request 0 needs id, method and url."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{})
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp := e.Do(tt.method, tt.path, body, "Content-Type", "application/json")
			ge := proxytest.DecodeError(t, resp)
			wantStatus, wantCode := 403, "graphProxy.policyDenied"
			if tt.want400 {
				wantStatus, wantCode = 400, "graphProxy.badRequest"
			}
			if resp.StatusCode != wantStatus || ge.Error.Code != wantCode {
				t.Fatalf("got %d %q; want %d %s", resp.StatusCode, ge.Error.Code, wantStatus, wantCode)
			}
			if tt.wantMsg != "" && !strings.HasSuffix(ge.Error.Message, tt.wantMsg) {
				t.Errorf("message %q; want it to end %q", ge.Error.Message, tt.wantMsg)
			}
			if !tt.want400 && (strings.Contains(ge.Error.Message, "rule") || strings.Contains(ge.Error.Message, "messages")) {
				t.Errorf("the caller learns the reason: %q", ge.Error.Message)
			}
			if n := len(e.Sim.Graph.Requests()); n != 0 {
				t.Errorf("Graph received %d requests", n)
			}
			recs := e.Records(1 + tt.wantSubs)
			if recs[0].Decision != "deny" || recs[0].Reason == "" || recs[0].Status != wantStatus {
				t.Errorf("audit record %+v; want a denial with its reason", recs[0])
			}
			for _, sub := range recs[1:] {
				if sub.Batch == nil || sub.Batch.RequestID != recs[0].RequestID {
					t.Errorf("sub-request record %+v not linked to its batch", sub)
				}
			}
		})
	}
}

func TestBatchAllowedAuditsEachSubRequest(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	_, upns := e.Sim.Graph.Users()
	body := `{"requests":[{"id":"1","method":"GET","url":"/users/` + upns[0] + `"},{"id":"2","method":"GET","url":"users?$top=2"}]}`
	resp := e.Do("POST", "/v1.0/$batch", strings.NewReader(body), "Content-Type", "application/json")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	recs := e.Records(3)
	if recs[0].Route != "/$batch" || recs[1].Batch.ID != "1" || recs[1].Rule != "users-get" || recs[1].Target != upns[0] ||
		recs[2].Batch.ID != "2" || recs[2].Rule != "users-list" || strings.Join(recs[2].Query, ",") != "$top" {
		t.Errorf("records: %+v", recs)
	}
}

const groupPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite]
    users: { group: "` + graphsim.SchedulingGroup + `" }
rules:
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: events-list, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: upload, method: POST, path: "/users/{user}/events/{id}/attachments/createUploadSession", permission: Calendars.ReadWrite }
`

func TestGroupScoping(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: groupPolicy})
	_, upns := e.Sim.Graph.Users()
	member, outsider := upns[0], upns[len(upns)-1] // the first half are members
	schedule := func(users ...string) string {
		return `{"schedules":["` + strings.Join(users, `","`) + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T09:00:00","timeZone":"UTC"}}`
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
	}{
		{name: "member", method: "GET", path: "/v1.0/users/" + member + "/events", want: 200},
		{name: "outsider in the path", method: "GET", path: "/v1.0/users/" + outsider + "/events", want: 403},
		{name: "members in the body", method: "POST", path: "/v1.0/users/" + member + "/calendar/getSchedule", body: schedule(member, upns[1]), want: 200},
		{name: "outsider in the body", method: "POST", path: "/v1.0/users/" + member + "/calendar/getSchedule", body: schedule(member, outsider), want: 403},
	}
	var last auditlog.Record
	var checks []graphsim.Recorded
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Sim.Graph.ResetRequests()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp := e.Do(tt.method, tt.path, body, "Content-Type", "application/json")
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.want)
			}
			last = e.Record(resp)
			for _, r := range e.Sim.Graph.Requests() {
				if strings.HasSuffix(r.Path, "/checkMemberGroups") {
					checks = append(checks, r)
				} else if tt.want == 403 {
					t.Errorf("a refused call reached Graph: %s", r.Path)
				}
			}
		})
	}
	// Every check Graph saw is a record of the proxy's own, under the
	// client-request-id it sent (so Graph's activity log and the audit
	// log agree on every request made with the proxy's token).
	if len(checks) == 0 {
		t.Fatal("no membership check reached Graph")
	}
	byID := map[string]auditlog.Record{}
	for _, r := range e.Audit.Records(t) {
		if r.Kind == proxy.KindMembership {
			byID[r.ClientRequestID] = r
		}
	}
	for _, c := range checks {
		id := c.Header.Get("client-request-id")
		r, ok := byID[id]
		switch {
		case id == "" || !ok:
			t.Errorf("%s sent client-request-id %q, which no membership record holds", c.Path, id)
		case r.GraphRequestID != c.RequestID || r.UpstreamStatus != c.Status || "/v1.0"+r.Path != c.Path && r.Path != strings.TrimPrefix(c.Path, "/v1.0"):
			t.Errorf("membership record %+v does not match Graph's request %s (request-id %s, status %d)", r, c.Path, c.RequestID, c.Status)
		case r.Decision != "member" && r.Decision != "notMember":
			t.Errorf("membership record decision %q", r.Decision)
		}
	}
	if got := strings.Join(last.Targets, ","); got != member+","+outsider || !strings.Contains(last.Reason, outsider+" is not a member") {
		t.Errorf("getSchedule record targets %q reason %q", got, last.Reason)
	}

	// Membership answers are cached: asking again does not ask Graph.
	e.Sim.Graph.ResetRequests()
	resp := e.Do("GET", "/v1.0/users/"+member+"/events", nil)
	resp.Body.Close()
	for _, r := range e.Sim.Graph.Requests() {
		if strings.HasSuffix(r.Path, "/checkMemberGroups") {
			t.Errorf("membership asked again within its TTL")
		}
	}
}

func TestGroupScopingFailsClosed(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: groupPolicy})
	_, upns := e.Sim.Graph.Users()
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/" + upns[2] + "/checkMemberGroups", Status: 503})
	resp := e.Do("GET", "/v1.0/users/"+upns[2]+"/events", nil)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d with membership unknown; want 403", resp.StatusCode)
	}
	if r := e.Record(resp); !strings.Contains(r.Reason, "membership of "+upns[2]+" in group") {
		t.Errorf("reason %q", r.Reason)
	}
	// The failed check has its record too.
	recs := e.Records(2)
	if r := recs[0]; r.Kind != proxy.KindMembership || r.Decision != "unknown" || r.UpstreamStatus != 503 || r.Target != upns[2] || r.Error == "" {
		t.Errorf("membership record %+v; want the check that failed with 503", r)
	}
}

func TestExternalLinksWithheld(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: groupPolicy})
	_, upns := e.Sim.Graph.Users()
	ev := `{"subject":"x","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	// The event is created directly in the simulator: the policy allows no
	// event creation.
	req, _ := http.NewRequest("POST", e.Sim.Graph.URL+"/v1.0/users/"+upns[0]+"/events", strings.NewReader(ev))
	tok, _, _ := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID, Audience: graphsim.GraphResource, Roles: []string{"Calendars.ReadWrite"}})
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	cr, err := e.Sim.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(cr.Body).Decode(&created)
	cr.Body.Close()

	resp := e.Do("POST", "/v1.0/users/"+upns[0]+"/events/"+created.ID+"/attachments/createUploadSession", strings.NewReader(`{"AttachmentItem":{"attachmentType":"file","name":"a.pdf","size":10}}`), "Content-Type", "application/json")
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 201 || out["uploadUrl"] != "" {
		t.Errorf("got %d uploadUrl %q; want 201 with the upload URL withheld", resp.StatusCode, out["uploadUrl"])
	}
	if r := e.Record(resp); !strings.Contains(r.Reason, "1 link(s) to hosts other than Graph withheld") {
		t.Errorf("audit reason %q", r.Reason)
	}
}

func TestReportOnlyForwardsAndRecords(t *testing.T) {
	pol := strings.Replace(proxytest.DefaultPolicy, "mode: enforce", "mode: report-only", 1)
	e := proxytest.New(t, proxytest.Options{Policy: pol})
	_, upns := e.Sim.Graph.Users()
	resp := e.Do("GET", "/v1.0/users/"+upns[0]+"/events?$expand=attachments", nil)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(e.Sim.Graph.Requests()) != 1 {
		t.Fatalf("status %d, Graph saw %d; want the call forwarded", resp.StatusCode, len(e.Sim.Graph.Requests()))
	}
	if r := e.Records(1)[0]; r.Decision != "report" || r.Reason != `query option $expand is not allowed by rule "events-list"` {
		t.Errorf("record decision %q reason %q", r.Decision, r.Reason)
	}

	// A call no rule serves goes to Graph too, and so its body is read
	// (where enforcing, it would be refused before that).
	body := `{"subject":"report-only"}`
	resp = e.Do("POST", "/v1.0/users/"+upns[0]+"/messages", strings.NewReader(body), "Content-Type", "application/json")
	resp.Body.Close()
	reqs := e.Sim.Graph.Requests()
	if last := reqs[len(reqs)-1]; len(reqs) != 2 || last.Method != "POST" || !strings.HasSuffix(last.Path, "/messages") {
		t.Fatalf("Graph saw %+v; want the POST forwarded", reqs)
	}
	if r := e.Record(resp); r.Decision != "report" || r.BytesIn != int64(len(body)) {
		t.Errorf("record decision %q bytesIn %d; want report, %d", r.Decision, r.BytesIn, len(body))
	}
}

// startUsers reads the simulator's users without keeping it running.
func startUsers(t *testing.T) (ids, upns []string) {
	t.Helper()
	s, err := graphsim.Start(graphsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Graph.Users()
}

func TestRateLimitedCall(t *testing.T) {
	pol := strings.Replace(proxytest.DefaultPolicy, "    permissions: [User.ReadBasic.All,",
		"    rateLimit: { rps: 0.5, burst: 2, mailboxConcurrent: 4 }\n    permissions: [User.ReadBasic.All,", 1)
	e := proxytest.New(t, proxytest.Options{Policy: pol})
	_, upns := e.Sim.Graph.Users()
	var last *http.Response
	for i := 0; i < 3; i++ {
		last = e.Do("GET", "/v1.0/users/"+upns[0], nil)
		if i < 2 {
			last.Body.Close()
			if last.StatusCode != 200 {
				t.Fatalf("call %d: %d", i, last.StatusCode)
			}
		}
	}
	ge := proxytest.DecodeError(t, last)
	if last.StatusCode != 429 || ge.Error.Code != "graphProxy.rateLimited" || last.Header.Get("Retry-After") != "2" {
		t.Errorf("got %d %q Retry-After %q; want 429 graphProxy.rateLimited, Retry-After 2", last.StatusCode, ge.Error.Code, last.Header.Get("Retry-After"))
	}
	if n := len(e.Sim.Graph.Requests()); n != 2 {
		t.Errorf("Graph received %d calls; want the 2 admitted", n)
	}
	if r := e.Record(last); r.Status != 429 || !strings.Contains(r.Error, "caller rate") {
		t.Errorf("audit %d %q", r.Status, r.Error)
	}
}

// A caller's calls in flight (rateLimit.concurrent) count from before
// their bodies are read: a caller sending a body slowly holds its place,
// and one more call is refused at once rather than another body taken in.
func TestConcurrencyCoversBodies(t *testing.T) {
	pol := strings.Replace(proxytest.DefaultPolicy, "    permissions: [User.ReadBasic.All,",
		"    rateLimit: { concurrent: 1, rps: 10000, burst: 10000 }\n    permissions: [User.ReadBasic.All,", 1)
	e := proxytest.New(t, proxytest.Options{Policy: pol})
	_, upns := e.Sim.Graph.Users()
	// The probes below are admitted until the slow call has entered (on a
	// busy machine, many): the rate is set far above them, so that only
	// the concurrency can refuse one. A probe still in flight when the
	// slow call arrives holds the one place, and the slow call is the one
	// refused (its headers and the probe's reach the handler at once, on
	// goroutines of their own); then it starts again.
	var (
		send    *io.PipeWriter
		done    chan *http.Response
		refused *http.Response
	)
	for attempt := 1; refused == nil; attempt++ {
		if attempt > 5 {
			t.Fatal("the slow call was refused itself five times: a probe always held the place when it arrived")
		}
		var body *io.PipeReader
		body, send = io.Pipe()
		done = make(chan *http.Response, 1)
		go func() {
			done <- e.Do("POST", "/v1.0/users/"+upns[0]+"/events", body, "Content-Type", "application/json")
		}()
		io.WriteString(send, `{"subject":`)
		proxytest.WaitFor(t, "a second call refused while the first body is arriving", func() bool {
			select {
			case first := <-done:
				if first.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("the slow call answered %d before its body arrived; want it held, or 429", first.StatusCode)
				}
				first.Body.Close()
				send.Close()
				return true
			default:
			}
			resp := e.Do("GET", "/v1.0/users/"+upns[0], nil)
			if resp.StatusCode == http.StatusTooManyRequests {
				refused = resp
				return true
			}
			resp.Body.Close()
			return false
		})
	}
	ge := proxytest.DecodeError(t, refused)
	if r := e.Record(refused); ge.Error.Code != "graphProxy.rateLimited" || !strings.Contains(r.Error, "caller concurrency") {
		t.Errorf("refused with %q, recorded %q; want graphProxy.rateLimited for caller concurrency", ge.Error.Code, r.Error)
	}

	io.WriteString(send, `"slow","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`)
	send.Close()
	first := <-done
	answer, _ := io.ReadAll(first.Body)
	first.Body.Close()
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("the slow call: %d %s; want 201", first.StatusCode, answer)
	}
	resp := e.Do("GET", "/v1.0/users/"+upns[0], nil)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the slow call ended: %d; want its place free", resp.StatusCode)
	}
}

// A call naming more users than are checked is refused before any
// membership check: a large body does not become as many Graph calls.
func TestGroupScopingBounded(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: groupPolicy})
	_, upns := e.Sim.Graph.Users()
	users := make([]string, 501)
	for i := range users {
		users[i] = fmt.Sprintf("person%d@contoso.example", i)
	}
	body := `{"schedules":["` + strings.Join(users, `","`) + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T09:00:00","timeZone":"UTC"}}`
	e.Sim.Graph.ResetRequests()
	resp := e.Do("POST", "/v1.0/users/"+upns[0]+"/calendar/getSchedule", strings.NewReader(body), "Content-Type", "application/json")
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("status %d; want 403", resp.StatusCode)
	}
	if r := e.Record(resp); !strings.Contains(r.Reason, "names more than 500 users") {
		t.Errorf("reason %q", r.Reason)
	}
	if reqs := e.Sim.Graph.Requests(); len(reqs) != 0 {
		t.Errorf("%d requests reached Graph, the first %s; want none", len(reqs), reqs[0].Path)
	}
}

// A policy from before, naming Calendars.ReadBasic (a delegated-only
// permission in Graph) for app-only rules, keeps working against a Graph
// that knows only the app role Calendars.ReadBasic.All: the proxy's
// identity holds that role, and the audit names it.
func TestDelegatedOnlyPermissionName(t *testing.T) {
	old := strings.ReplaceAll(proxytest.DefaultPolicy, "Calendars.ReadBasic.All", "Calendars.ReadBasic")
	e := proxytest.New(t, proxytest.Options{Policy: old})
	_, upns := e.Sim.Graph.Users()
	schedule := `{"schedules":["` + upns[0] + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T09:00:00","timeZone":"UTC"}}`
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/v1.0/users/" + upns[0] + "/events", ""},
		{"POST", "/v1.0/users/" + upns[0] + "/calendar/getSchedule", schedule},
	} {
		resp := e.Do(call.method, call.path, strings.NewReader(call.body), "Content-Type", "application/json")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if rec := e.Record(resp); resp.StatusCode != 200 || rec.Permission != "Calendars.ReadBasic.All" {
			t.Errorf("%s %s: %d, audited permission %q; want 200 with Calendars.ReadBasic.All", call.method, call.path, resp.StatusCode, rec.Permission)
		}
	}
}
