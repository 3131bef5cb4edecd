package hardening

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestAuditFailsClosedOnTime (issue 17, "fail closed on time"): Azure
// Monitor is the only audit sink, and its endpoint starts accepting
// uploads and never answering them. Calls go on being answered only for
// audit.retryBudget (the records held meanwhile): within the budget and a
// few seconds they are refused with 503 graphProxy.auditUnavailable,
// nothing reaches Graph, and /readyz fails — not after a fixed 30 s
// attempt. When the endpoint answers again, calls resume by themselves and
// every record of an answered call arrives once, in chain order.
func TestAuditFailsClosedOnTime(t *testing.T) {
	const (
		budget = 3 * time.Second
		margin = 3 * time.Second
	)
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{Env: []string{
		"GRAPH_PROXY_AUDIT_SINKS=azureMonitor",
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_ENDPOINT=" + sim.Monitor.URL,
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_RULEID=" + sim.Monitor.RuleID,
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_STREAM=" + sim.Monitor.Stream,
		"GRAPH_PROXY_AUDIT_RETRYBUDGET=" + budget.String(),
	}})
	first := p.Do("GET", "/v1.0/users?$top=1", "")
	if first.Status != 200 {
		t.Fatalf("before the fault: %d %s", first.Status, first.Body)
	}
	answered := []string{first.RequestID}
	proxytest.WaitWithin(t, "the first record in Azure Monitor", 15*time.Second, func() bool { return monitorHas(sim, answered) })

	sim.Monitor.Hang()
	start := time.Now()
	var refused result
	for {
		r := p.Do("GET", "/v1.0/users?$top=1", "")
		if r.Status == http.StatusServiceUnavailable {
			refused = r
			break
		}
		if r.Status != 200 {
			t.Fatalf("while Azure Monitor hangs: %d %s", r.Status, r.Body)
		}
		answered = append(answered, r.RequestID)
		if time.Since(start) > budget+30*time.Second {
			t.Fatalf("calls still answered %s after Azure Monitor hung, with audit.retryBudget %s", time.Since(start), budget)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(start); took > budget+margin {
		t.Errorf("calls refused %s after Azure Monitor hung; want within audit.retryBudget (%s) + %s", took, budget, margin)
	} else {
		t.Logf("%d calls answered while Azure Monitor hung, refused after %s", len(answered)-1, took.Round(time.Millisecond))
	}
	if refused.Code != "graphProxy.auditUnavailable" || refused.RetryAfter == "" {
		t.Errorf("refused: %d %q Retry-After %q; want graphProxy.auditUnavailable with a Retry-After", refused.Status, refused.Code, refused.RetryAfter)
	}
	if code, body := readyz(t, p); code != http.StatusServiceUnavailable || !strings.Contains(body, `"audit":"failing"`) {
		t.Errorf("/readyz while no sink takes records: %d %s; want 503 with the audit check failing", code, body)
	}
	sim.Graph.ResetRequests()
	for range 3 {
		if r := p.Do("GET", "/v1.0/users?$top=1", ""); r.Status != http.StatusServiceUnavailable {
			t.Errorf("with the audit log down: %d; want 503", r.Status)
		}
	}
	if n := len(graphSaw(sim)); n != 0 {
		t.Errorf("Graph received %d calls that could not be audited", n)
	}
	// The upload in flight was given up at the budget's deadline, not left
	// to the transport's own timeouts.
	if sim.Monitor.GivenUp() == 0 {
		t.Errorf("no upload given up on by the proxy while Azure Monitor hung")
	}

	sim.Monitor.Answer()
	var after result
	proxytest.WaitWithin(t, "calls answered again once Azure Monitor answers", 30*time.Second, func() bool {
		after = p.Do("GET", "/v1.0/users?$top=1", "")
		return after.Status == 200
	})
	answered = append(answered, after.RequestID)
	p.WaitReady()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Errorf("graph-proxy exited with %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("graph-proxy did not exit after SIGINT")
	}

	// Every answered call's record arrived once; the rows, in the order
	// they arrived, are one intact chain from its genesis to its close.
	rows := sim.Monitor.Rows()
	seen := map[string]int{}
	lines := make([]string, 0, len(rows))
	for _, row := range rows {
		var r struct {
			RequestID string `json:"requestId"`
		}
		if err := json.Unmarshal(row, &r); err != nil {
			t.Fatal(err)
		}
		seen[r.RequestID]++
		lines = append(lines, string(row))
	}
	for _, id := range answered {
		if seen[id] != 1 {
			t.Errorf("the record of answered call %s arrived %d times; want once", id, seen[id])
		}
	}
	// (An export: each row carries its exact line.)
	file := filepath.Join(t.TempDir(), "rows.json")
	write(t, file, "["+strings.Join(lines, ",")+"]")
	verifyChain(t, file)
}

// readyz returns the status and body of the proxy's /readyz.
func readyz(t *testing.T, p *proc) (int, string) {
	t.Helper()
	resp, err := p.Client.Get(p.Base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
