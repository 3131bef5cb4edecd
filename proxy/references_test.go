package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// referencesPolicy lets the vendor reply to messages in any mailbox, mail
// going only to the tenant's domain; report-only when asked.
func referencesPolicy(mode string) string {
	return `version: 1
mode: ` + mode + `
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Mail.Send, User.ReadBasic.All]
mail:
  recipientDomains: [` + graphsim.Domain + `]
rules:
  - { id: mail-actions, method: POST, path: "/users/{user}/messages/{id}/{action}", permission: Mail.Send }
  - { id: user-read, method: GET, path: "/users/{user}", permission: User.ReadBasic.All }
`
}

// TestReferencedItemUnreadable: when the item a reply refers to cannot be
// read whole and as Graph shapes it, the reply is refused — 403 when
// Graph refuses the read, 502 when it fails or answers with something
// else — recorded, and never sent; in report-only mode too, since who it
// would reach is unknown.
func TestReferencedItemUnreadable(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		fault      *graphsim.Fault // on the read of the message
		noMessage  bool
		wantStatus int
	}{
		{name: "not found", mode: "enforce", noMessage: true, wantStatus: 403},
		{name: "Graph fails", mode: "enforce", fault: &graphsim.Fault{Status: 503}, wantStatus: 502},
		{name: "Graph throttles", mode: "enforce", fault: &graphsim.Fault{Status: 429, RetryAfter: "1"}, wantStatus: 502},
		{name: "an answer not JSON", mode: "enforce", fault: &graphsim.Fault{Body: "<html>"}, wantStatus: 502},
		{name: "a recipient without an address", mode: "enforce", fault: &graphsim.Fault{Body: `{"replyTo":[{"emailAddress":{"name":"x"}}],"from":null,"sender":null}`}, wantStatus: 502},
		{name: "the fields missing", mode: "enforce", fault: &graphsim.Fault{Body: `{"id":"AAMk"}`}, wantStatus: 502},
		{name: "an answer too large", mode: "enforce", fault: &graphsim.Fault{Body: `{"x":"` + strings.Repeat("a", 1<<20) + `"}`}, wantStatus: 502},
		{name: "report-only, not found", mode: "report-only", noMessage: true, wantStatus: 403},
		{name: "report-only, Graph fails", mode: "report-only", fault: &graphsim.Fault{Status: 500}, wantStatus: 502},
	}
	for _, tt := range tests {
		for _, inBatch := range []bool{false, true} {
			name := tt.name
			if inBatch {
				name += ", inside $batch"
			}
			t.Run(name, func(t *testing.T) { referenceUnreadable(t, tt.mode, tt.fault, tt.noMessage, inBatch, tt.wantStatus) })
		}
	}
}

// referenceUnreadable is a case of TestReferencedItemUnreadable: a reply,
// alone or as a $batch's second request (beside a read it allows), to a
// message the proxy cannot read.
func referenceUnreadable(t *testing.T, mode string, fault *graphsim.Fault, noMessage, inBatch bool, wantStatus int) {
	{
		{
			e := proxytest.New(t, proxytest.Options{Policy: referencesPolicy(mode), FreshIdentity: true,
				IdentityRoles: []string{"User.ReadBasic.All", "Mail.Send", "Mail.ReadBasic.All"}})
			_, upns := e.Sim.Graph.Users()
			id := "AAMkmissing"
			if !noMessage {
				id = e.Sim.Graph.AddMessage(upns[0], graphsim.Message{From: upns[1], Sender: upns[1]})
			}
			if fault != nil {
				f := *fault
				f.Method, f.PathPrefix = "GET", "/users/"+upns[0]+"/messages/"
				e.Sim.Graph.Inject(&f)
			}
			path, body := "/v1.0/users/"+upns[0]+"/messages/"+id+"/reply", `{"comment":"ok"}`
			if inBatch {
				path, body = "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/users/`+upns[0]+`"},`+
					`{"id":"2","method":"POST","url":"/users/`+upns[0]+`/messages/`+id+`/reply","headers":{"Content-Type":"application/json"},"body":`+body+`}]}`
			}
			resp := e.Do("POST", path, strings.NewReader(body), "Content-Type", "application/json")
			ge := proxytest.DecodeError(t, resp)
			if resp.StatusCode != wantStatus || ge.Error.Code != "graphProxy.referenceUnreadable" {
				t.Fatalf("got %d %s; want %d graphProxy.referenceUnreadable", resp.StatusCode, ge.Error.Code, wantStatus)
			}
			for _, r := range e.Sim.Graph.Requests() {
				if r.Method == "POST" {
					t.Errorf("Graph received %s %s", r.Method, r.Path)
				}
			}
			rec := e.Record(resp)
			if rec.Decision != "deny" || rec.Status != wantStatus || !strings.Contains(rec.Reason, "recipients could not be read from the message") {
				t.Errorf("call record %s %d %q", rec.Decision, rec.Status, rec.Reason)
			}
			ref := referenceRecord(t, e, rec.RequestID)
			if ref.Decision != "unreadable" || ref.Error == "" || ref.Path != "/users/"+upns[0]+"/messages/"+id ||
				inBatch != strings.Contains(ref.Reason, "($batch request 2)") {
				t.Errorf("reference record %+v", ref)
			}
		}
	}
}

// TestReferencedReportOnly: in report-only mode a reply to someone the
// policy would refuse goes on, recorded as a report naming them; the
// read's own record has everyone it found among its targets.
func TestReferencedReportOnly(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: referencesPolicy("report-only"), FreshIdentity: true,
		IdentityRoles: []string{"User.ReadBasic.All", "Mail.Send", "Mail.ReadBasic.All"}})
	_, upns := e.Sim.Graph.Users()
	id := e.Sim.Graph.AddMessage(upns[0], graphsim.Message{From: "eve@evil.example", Sender: "eve@evil.example"})
	resp := e.Do("POST", "/v1.0/users/"+upns[0]+"/messages/"+id+"/reply", strings.NewReader(`{"comment":"ok"}`), "Content-Type", "application/json")
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("got %d; want 202", resp.StatusCode)
	}
	rec := e.Record(resp)
	if rec.Decision != "report" || !strings.Contains(rec.Reason, "eve@evil.example") || !strings.Contains(rec.Reason, "recipients read from the message") {
		t.Errorf("record %s %q", rec.Decision, rec.Reason)
	}
	ref := referenceRecord(t, e, rec.RequestID)
	if ref.Decision != "read" || ref.UpstreamStatus != 200 || ref.Target != "eve@evil.example" || ref.Query[0] != "$select" {
		t.Errorf("reference record %+v", ref)
	}
}

// referenceRecord is the record of the read made for the call requestID.
func referenceRecord(t *testing.T, e *proxytest.Env, requestID string) auditlog.Record {
	t.Helper()
	var found auditlog.Record
	proxytest.WaitFor(t, "the reference record", func() bool {
		for _, r := range e.Audit.Records(t) {
			if r.Kind == proxy.KindReference && strings.Contains(r.Reason, requestID) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}
