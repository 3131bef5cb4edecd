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
    permissions: [Mail.Send]
mail:
  recipientDomains: [` + graphsim.Domain + `]
rules:
  - { id: mail-actions, method: POST, path: "/users/{user}/messages/{id}/{action}", permission: Mail.Send }
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
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{Policy: referencesPolicy(tt.mode), FreshIdentity: true,
				IdentityRoles: []string{"User.ReadBasic.All", "Mail.Send", "Mail.ReadBasic.All"}})
			_, upns := e.Sim.Graph.Users()
			id := "AAMkmissing"
			if !tt.noMessage {
				id = e.Sim.Graph.AddMessage(upns[0], graphsim.Message{From: upns[1], Sender: upns[1]})
			}
			if tt.fault != nil {
				tt.fault.Method, tt.fault.PathPrefix = "GET", "/users/"+upns[0]+"/messages/"
				e.Sim.Graph.Inject(tt.fault)
			}
			resp := e.Do("POST", "/v1.0/users/"+upns[0]+"/messages/"+id+"/reply", strings.NewReader(`{"comment":"ok"}`), "Content-Type", "application/json")
			ge := proxytest.DecodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || ge.Error.Code != "graphProxy.referenceUnreadable" {
				t.Fatalf("got %d %s; want %d graphProxy.referenceUnreadable", resp.StatusCode, ge.Error.Code, tt.wantStatus)
			}
			for _, r := range e.Sim.Graph.Requests() {
				if r.Method == "POST" {
					t.Errorf("Graph received %s %s", r.Method, r.Path)
				}
			}
			rec := e.Record(resp)
			if rec.Decision != "deny" || rec.Status != tt.wantStatus || !strings.Contains(rec.Reason, "recipients could not be read from the message") {
				t.Errorf("call record %s %d %q", rec.Decision, rec.Status, rec.Reason)
			}
			ref := referenceRecord(t, e, rec.RequestID)
			if ref.Decision != "unreadable" || ref.Error == "" || ref.Path != "/users/"+upns[0]+"/messages/"+id {
				t.Errorf("reference record %+v", ref)
			}
		})
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
