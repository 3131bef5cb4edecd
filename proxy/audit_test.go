package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestAuditFailsClosed stalls the Logs Ingestion endpoint: once the audit
// queue is full, calls are refused with 503 and Graph receives none of
// them; when the endpoint recovers, calls go through again without a
// restart, and every record reaches it.
func TestAuditFailsClosed(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{AuditQueue: 3, AuditSinks: func(sim *graphsim.Sim) []auditlog.Sink {
		opts := azcore.ClientOptions{Transport: sim.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		client, err := azlogs.NewClient(sim.Monitor.URL, cred, &azlogs.ClientOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		return []auditlog.Sink{&auditlog.MonitorSink{Client: client, RuleID: sim.Monitor.RuleID, Stream: sim.Monitor.Stream}}
	}})
	_, upns := e.Sim.Graph.Users()
	path := "/v1.0/users/" + upns[0]
	get := func() int {
		resp := e.Do("GET", path, nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("before the stall: %d", s)
	}
	proxytest.WaitFor(t, "the first record to be shipped", func() bool { return len(e.Sim.Monitor.Rows()) == 1 })

	e.Sim.Monitor.Stall()
	refused := 0
	for i := 0; i < 20 && refused == 0; i++ {
		before := len(e.Sim.Graph.Requests())
		if s := get(); s == http.StatusServiceUnavailable {
			refused++
			if after := len(e.Sim.Graph.Requests()); after != before {
				t.Errorf("a call refused for want of audit reached Graph")
			}
		}
	}
	if refused == 0 {
		t.Fatal("calls were never refused while the audit sink was stalled")
	}

	e.Sim.Monitor.Release()
	proxytest.WaitFor(t, "the audit log to recover", func() bool { return e.AuditLog.Ready() == nil })
	if s := get(); s != 200 {
		t.Fatalf("after recovery: %d; want 200", s)
	}
	accepted := int(e.AuditLog.Stats().Sinks[1].Written)
	proxytest.WaitFor(t, "every accepted record to be shipped", func() bool {
		return len(e.Sim.Monitor.Rows()) >= accepted && e.AuditLog.Stats().Queued == 0
	})
	if st := e.AuditLog.Stats(); st.Rejected == 0 || st.Sinks[1].Failed != 0 {
		t.Errorf("stats %+v; want rejections counted and nothing given up", st)
	}
	// What arrived is one unbroken chain: no loss, no duplicates.
	// The rows carry their exact lines: read as an export.
	var rows []string
	for _, r := range e.Sim.Monitor.Rows() {
		rows = append(rows, string(r))
	}
	v := &auditlog.Verifier{Open: true}
	if err := v.Add("ingested", strings.NewReader("["+strings.Join(rows, ",")+"]")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Done(); err != nil {
		t.Fatal(err)
	}
}

// TestOneRecordPerCall sends allowed, denied, unauthenticated, failing and
// batch calls and checks the log holds exactly one record for each call and
// each sub-request, and none of the tokens, query values or bodies sent.
func TestOneRecordPerCall(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	_, upns := e.Sim.Graph.Users()
	tok := e.VendorToken()
	secretBody := `{"subject":"Quarterly numbers are confidential","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	batch := `{"requests":[{"id":"1","method":"GET","url":"/users/` + upns[0] + `?$select=mail"},{"id":"2","method":"GET","url":"/users?$filter=startswith(displayName,'Confidential')"}]}`
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/" + upns[3], Status: 500, Times: 1})
	calls := []struct {
		method, path, body, auth string
		status, records          int
	}{
		{"GET", "/v1.0/users/" + upns[0] + "?$select=mail", "", tok, 200, 1},
		{"POST", "/v1.0/users/" + upns[1] + "/events", secretBody, tok, 201, 1},
		{"GET", "/v1.0/users/" + upns[0] + "/messages?$search=SecretSearchTerm", "", tok, 403, 1},
		{"GET", "/v1.0/users/" + upns[0], "", "not-a-token", 401, 1},
		{"GET", "/v1.0/users/" + upns[3], "", tok, 500, 1},
		{"GET", "/v2.0/me", "", tok, 404, 1},
		{"POST", "/v1.0/$batch", batch, tok, 200, 3},
	}
	want := 0
	ids := map[string]bool{}
	for _, c := range calls {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		resp := e.Do(c.method, c.path, body, "Authorization", "Bearer "+c.auth, "Content-Type", "application/json")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d; want %d", c.method, c.path, resp.StatusCode, c.status)
		}
		ids[resp.Header.Get("x-graph-proxy-request-id")] = true
		want += c.records
	}
	proxytest.WaitFor(t, "every record", func() bool { return len(e.Audit.Records(t)) >= want })
	time.Sleep(50 * time.Millisecond) // a surplus record would show up now
	recs := e.Audit.Records(t)
	if len(recs) != want {
		t.Fatalf("%d records; want %d", len(recs), want)
	}
	for _, r := range recs {
		if r.Batch == nil && !ids[r.RequestID] {
			t.Errorf("record %s matches no call", r.RequestID)
		}
	}
	out := e.Audit.String()
	for _, secret := range []string{tok[strings.LastIndexByte(tok, '.')+1:], "not-a-token", "confidential", "Confidential", "SecretSearchTerm", "mail\""} {
		if strings.Contains(out, secret) {
			t.Errorf("the audit log holds %q", secret)
		}
	}
}

// TestBatchRefusedSubRecords: a batch refused for one sub-request sends
// nothing, so no sub-request's record says allow: the others say deny,
// not sent, after their own reason.
func TestBatchRefusedSubRecords(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	_, upns := e.Sim.Graph.Users()
	batch := `{"requests":[{"id":"1","method":"GET","url":"/users/` + upns[0] + `?$select=mail"},{"id":"2","method":"GET","url":"/users/` + upns[0] + `/messages?$search=x"}]}`
	resp := e.Do("POST", "/v1.0/$batch", strings.NewReader(batch), "Authorization", "Bearer "+e.VendorToken(), "Content-Type", "application/json")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("batch: %d; want 403", resp.StatusCode)
	}
	proxytest.WaitFor(t, "three records", func() bool { return len(e.Audit.Records(t)) >= 3 })
	for _, r := range e.Audit.Records(t) {
		if r.Batch == nil {
			continue
		}
		if r.Decision != "deny" || r.Attempts != 0 {
			t.Errorf("sub-request %s: decision %s, attempts %d; want deny, never sent", r.Batch.ID, r.Decision, r.Attempts)
		}
		if r.Batch.ID == "1" && !strings.Contains(r.Reason, "not sent: the $batch it is part of was refused") {
			t.Errorf("sub-request 1's reason %q does not say it was not sent", r.Reason)
		}
	}
}
