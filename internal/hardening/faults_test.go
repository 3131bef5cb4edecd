package hardening

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// expect checks what a caller got and the call's audit record.
func expect(t *testing.T, p *proc, what string, r result, status int, code string, check func(auditlog.Record) string) {
	t.Helper()
	if r.Err != nil && status != 0 {
		t.Errorf("%s: %v", what, r.Err)
		return
	}
	if r.Status != status || (code != "" && r.Code != code) {
		t.Errorf("%s: got %d %q; want %d %q (%s)", what, r.Status, r.Code, status, code, r.Body)
		return
	}
	if r.RequestID == "" {
		t.Errorf("%s: no x-graph-proxy-request-id", what)
		return
	}
	rec := p.Record(r.RequestID)
	if rec.Status != status {
		t.Errorf("%s: audit status %d; want %d", what, rec.Status, status)
	}
	if check != nil {
		if msg := check(rec); msg != "" {
			t.Errorf("%s: audit record: %s: %+v", what, msg, rec)
		}
	}
}

// TestGraphFaults: Graph slow, failing, cutting a body, throttling. Each
// caller gets Graph's answer or a Graph-shaped error, each call one record,
// and the next call after the fault succeeds without a restart.
func TestGraphFaults(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_GRAPH_TIMEOUT=1s"}})
	recovers := func(what string) {
		t.Helper()
		sim.Graph.ClearFaults()
		expect(t, p, what+": recovery", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	}

	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Delay: 3 * time.Second, Times: 1})
	expect(t, p, "Graph slower than graph.timeout", p.Do("GET", "/v1.0/users?$top=1", ""), http.StatusGatewayTimeout, "graphProxy.upstreamTimeout",
		func(r auditlog.Record) string {
			if r.Decision != "allow" || r.Error == "" {
				return "want an allowed call with the timeout as its error"
			}
			return ""
		})
	recovers("slow")

	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Status: 503, RetryAfter: "7", Times: 1})
	r := p.Do("GET", "/v1.0/users?$top=1", "")
	expect(t, p, "Graph 503", r, 503, "", func(r auditlog.Record) string {
		if r.UpstreamStatus != 503 || r.RetryAfter != 7 {
			return "want upstreamStatus 503 and retryAfter 7"
		}
		return ""
	})
	if r.RetryAfter != "7" {
		t.Errorf("Graph's Retry-After not relayed: %q", r.RetryAfter)
	}
	recovers("5xx")

	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", ResetMidBody: true, Times: 1})
	r = p.Do("GET", "/v1.0/users?$top=5", "")
	if r.Err == nil && r.Status == 200 {
		t.Errorf("a body Graph cut short reached the caller as complete: %s", r.Body)
	}
	recs := p.RecordsWhere(1, func(rec auditlog.Record) bool { return strings.Contains(rec.Error, "aborted mid-body") })
	if recs[0].UpstreamStatus != 200 {
		t.Errorf("reset mid-body: record %+v", recs[0])
	}
	recovers("reset mid-body")

	// A storm of 429s: every caller gets a 429 and a Retry-After — Graph's,
	// or the proxy's own when the caller's concurrency limit is reached
	// first — and each call is recorded once.
	const storm = 40
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Status: 429, RetryAfter: "2", Times: storm})
	var wg sync.WaitGroup
	results := make([]result, storm)
	tok := p.Token()
	for i := range storm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.DoToken(tok, "GET", "/v1.0/users?$top=1", "")
		}()
	}
	wg.Wait()
	ownLimit := 0
	for i, r := range results {
		switch {
		case r.Status == 429 && r.Code == "graphProxy.rateLimited" && r.RetryAfter != "":
			ownLimit++
		case r.Status != 429 || r.RetryAfter != "2":
			t.Errorf("storm call %d: %d Retry-After %q", i, r.Status, r.RetryAfter)
		}
	}
	throttled := p.RecordsWhere(storm, func(rec auditlog.Record) bool { return rec.Status == 429 })
	if len(throttled) != storm {
		t.Errorf("%d records of throttled calls; want %d", len(throttled), storm)
	}
	t.Logf("429 storm: %d of %d calls throttled by the proxy's own limit first", ownLimit, storm)
	recovers("429 storm")
	p.Stop()
}

// TestIdentityEndpointFaults: the managed-identity endpoint throttles, then
// is down, at start. The proxy is not ready and refuses calls with 503
// (audited, nothing sent to Graph); once the endpoint heals the proxy
// recovers by itself. The identity secret it uses came from the
// environment, which it no longer holds by then.
func TestIdentityEndpointFaults(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	sim.Identity.Fail(429, "1")
	p := startProxy(t, sim, procOptions{NotReady: true, Env: []string{"GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID=" + freshIdentity(sim)}})
	time.Sleep(500 * time.Millisecond)
	for _, fault := range []struct {
		name   string
		status int
	}{{"throttled", 429}, {"down", 500}} {
		sim.Identity.Fail(fault.status, "1")
		expect(t, p, "identity endpoint "+fault.name, p.Do("GET", "/v1.0/users?$top=1", ""), 503, "graphProxy.tokenUnavailable",
			func(r auditlog.Record) string {
				if r.UpstreamStatus != 0 {
					return "want no upstream status"
				}
				return ""
			})
	}
	if n := len(graphSaw(sim)); n != 0 {
		t.Errorf("Graph received %d requests without a token", n)
	}
	sim.Identity.Fail(0, "")
	p.WaitReady()
	expect(t, p, "after the identity endpoint healed", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	p.Stop()
}

// freshIdentity registers a user-assigned identity with Graph roles.
func freshIdentity(sim *graphsim.Sim) string {
	id := "00000000-0000-4000-8000-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: id,
		Roles: map[string][]string{graphsim.GraphResource: {"User.ReadBasic.All", "Calendars.ReadBasic.All"}}})
	return id
}

// TestKeyVaultFaults: with the app credential in Key Vault, a vault
// outage at start keeps the proxy unready (503s, audited) until the vault
// is back; a rotated secret is picked up without a restart while calls
// keep succeeding.
func TestKeyVaultFaults(t *testing.T) {
	sim := startSim(t, graphsim.Options{TokenLifetime: 20 * time.Second})
	sim.Vault.SetDown(true)
	p := startProxy(t, sim, procOptions{NotReady: true, Env: []string{"GRAPH_PROXY_UPSTREAM_MODE=keyVaultSecret"}})
	expect(t, p, "vault down", p.Do("GET", "/v1.0/users?$top=1", ""), 503, "graphProxy.tokenUnavailable", nil)
	sim.Vault.SetDown(false)
	p.WaitReady()
	expect(t, p, "vault back", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)

	// Rotation: Entra takes only the new secret from now on, and the vault
	// holds it. Tokens live 20 s and are renewed at half-life, so the proxy acquires a new one meanwhile.
	reads := sim.Vault.Requests()
	secret := "rotated-" + time.Now().Format("150405.000000000")
	sim.Entra.SetSecret(graphsim.CustomerTenant, graphsim.ProxyAppID, secret)
	sim.Vault.SetSecret("graph-proxy-credential", secret, "")
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		if r := p.Do("GET", "/v1.0/users?$top=1", ""); r.Status != 200 {
			t.Fatalf("during rotation: %d %s", r.Status, r.Body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if sim.Vault.Requests() == reads {
		t.Errorf("the rotated secret was never read from the vault")
	}
	p.Stop()
}

// TestJWKSOutageAndRotation: while Entra's key endpoint is down, tokens
// signed with known keys still validate (keys are cached) and a token
// signed with an unknown key is refused (401, audited); once Entra is back
// and rotates, the new key is fetched on first sight.
func TestJWKSOutageAndRotation(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	sim.Entra.SetDown(true)
	expect(t, p, "JWKS down, known key", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	if _, err := sim.Entra.RotateKey(); err != nil {
		t.Fatal(err)
	}
	sim.Graph.ResetRequests()
	expect(t, p, "JWKS down, unknown key", p.Do("GET", "/v1.0/users?$top=1", ""), 401, "graphProxy.unauthenticated", nil)
	if n := len(graphSaw(sim)); n != 0 {
		t.Errorf("Graph received %d requests for an unvalidated token", n)
	}
	sim.Entra.SetDown(false)
	p.Stop()

	// Rotation with Entra up: a fresh proxy knows only the first key...
	sim2 := startSim(t, graphsim.Options{})
	p2 := startProxy(t, sim2, procOptions{})
	expect(t, p2, "before rotation", p2.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	if _, err := sim2.Entra.RotateKey(); err != nil {
		t.Fatal(err)
	}
	expect(t, p2, "after rotation", p2.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	p2.Stop()
}

// TestAuditSinkFaults: Azure Monitor stalls and fails while the file sink
// works; then, with Azure Monitor the only sink, it fails beyond its retry
// budget. No record is lost in any sink that recovers, and while no sink
// can take records the proxy refuses calls (fail closed) without sending
// anything to Graph.
func TestAuditSinkFaults(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	monitorEnv := []string{
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_ENDPOINT=" + sim.Monitor.URL,
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_RULEID=" + sim.Monitor.RuleID,
		"GRAPH_PROXY_AUDIT_AZUREMONITOR_STREAM=" + sim.Monitor.Stream,
		"GRAPH_PROXY_AUDIT_RETRYBUDGET=2s",
	}
	// The stall and the failures below end within the budget (10 s here):
	// Azure Monitor is late, not failing, and misses nothing. (A sink
	// blocked beyond its budget while another works is marked failing and
	// gets the records it missed when it recovers:
	// auditlog.TestHungSinkHoldsUpNoOther, auditlog.TestSinkBacklogBounded.)
	p := startProxy(t, sim, procOptions{Env: append([]string{"GRAPH_PROXY_AUDIT_SINKS=file,azureMonitor", "GRAPH_PROXY_AUDIT_RETRYBUDGET=10s"}, monitorEnv[:3]...)})

	sim.Monitor.Stall()
	var ids []string
	for range 10 {
		r := p.Do("GET", "/v1.0/users?$top=1", "")
		if r.Status != 200 {
			t.Fatalf("while Azure Monitor stalls: %d %s", r.Status, r.Body)
		}
		ids = append(ids, r.RequestID)
	}
	sim.Monitor.Release()
	sim.Monitor.FailNext(2, 500, "")
	for range 5 {
		r := p.Do("GET", "/v1.0/users?$top=1", "")
		if r.Status != 200 {
			t.Fatalf("while Azure Monitor fails: %d %s", r.Status, r.Body)
		}
		ids = append(ids, r.RequestID)
	}
	for _, id := range ids {
		p.Record(id)
	}
	proxytest.WaitWithin(t, "every record in Azure Monitor", 15*time.Second, func() bool { return monitorHas(sim, ids) })
	p.Stop()

	// Azure Monitor alone, failing beyond its budget: fail closed.
	sim2 := startSim(t, graphsim.Options{})
	monitorEnv[0] = "GRAPH_PROXY_AUDIT_AZUREMONITOR_ENDPOINT=" + sim2.Monitor.URL
	p2 := startProxy(t, sim2, procOptions{Env: append([]string{"GRAPH_PROXY_AUDIT_SINKS=azureMonitor"}, monitorEnv...)})
	sim2.Monitor.FailNext(1000, 503, "")
	first := p2.Do("GET", "/v1.0/users?$top=1", "")
	if first.Status != 200 {
		t.Fatalf("first call: %d", first.Status)
	}
	var refused result
	proxytest.WaitWithin(t, "calls refused while no sink takes records", 15*time.Second, func() bool {
		refused = p2.Do("GET", "/v1.0/users?$top=1", "")
		return refused.Status == 503
	})
	if refused.Code != "graphProxy.auditUnavailable" || refused.RetryAfter == "" {
		t.Errorf("refused: %+v", refused)
	}
	sim2.Graph.ResetRequests()
	for range 5 {
		if r := p2.Do("GET", "/v1.0/users?$top=1", ""); r.Status != 503 {
			t.Errorf("with the audit log down: %d", r.Status)
		}
	}
	if n := len(graphSaw(sim2)); n != 0 {
		t.Errorf("Graph received %d calls that could not be audited", n)
	}
	sim2.Monitor.Heal()
	var after result
	proxytest.WaitWithin(t, "recovery after Azure Monitor healed", 15*time.Second, func() bool {
		after = p2.Do("GET", "/v1.0/users?$top=1", "")
		return after.Status == 200
	})
	proxytest.WaitWithin(t, "the held records in Azure Monitor", 15*time.Second, func() bool {
		return monitorHas(sim2, []string{first.RequestID, after.RequestID})
	})
	if err := p2.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-p2.exited
	p2.exited <- nil
	// The rows, in order, are one intact, closed chain.
	// (An export: each row carries its exact line.)
	rows := filepath.Join(t.TempDir(), "rows.json")
	var lines []string
	for _, row := range sim2.Monitor.Rows() {
		lines = append(lines, string(row))
	}
	write(t, rows, "["+strings.Join(lines, ",")+"]")
	verifyChain(t, rows)
}

func monitorHas(sim *graphsim.Sim, ids []string) bool {
	var all strings.Builder
	for _, row := range sim.Monitor.Rows() {
		all.Write(row)
	}
	for _, id := range ids {
		if !strings.Contains(all.String(), id) {
			return false
		}
	}
	return true
}

// TestPolicyReplacedWithInvalid: an invalid file replacing the policy while
// serving is rejected with a policy record naming the problem; the policy
// in force stays, and a valid replacement then takes effect, all without a
// restart.
func TestPolicyReplacedWithInvalid(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	write(t, p.Policy, "version: 1\nmode: enforce\nrules:\n  - { id: x, method: FETCH, path: /users }\n")
	p.RecordsWhere(1, func(r auditlog.Record) bool {
		return r.Kind == "policy" && r.Decision == "rejected" && strings.Contains(r.Error, "FETCH")
	})
	expect(t, p, "allowed under the policy in force", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	expect(t, p, "denied under the policy in force", p.Do("GET", "/v1.0/users/x/messages", ""), 403, "graphProxy.policyDenied", nil)

	narrower := strings.Replace(proxytest.DefaultPolicy, `  - { id: users-list, method: GET, path: "/users", query: [$select, $top, $filter, $count], permission: User.ReadBasic.All }
`, "", 1)
	write(t, p.Policy, narrower)
	proxytest.WaitWithin(t, "the valid replacement in force", 10*time.Second, func() bool {
		return p.Do("GET", "/v1.0/users?$top=1", "").Status == 403
	})
	p.Stop()
}

// TestSIGTERMUnderLoad: SIGTERM while callers keep calling, some calls slow.
// No call the proxy accepted is cut short, each has its record, and the
// chain verifies and is closed.
func TestSIGTERMUnderLoad(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/", Delay: 400 * time.Millisecond})
	tok := p.Token()
	ids, _ := sim.Graph.Users()
	type outcome struct {
		status int
		err    error
	}
	var mu sync.Mutex
	var outcomes []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r result
				switch (w + i) % 3 {
				case 0:
					r = p.DoToken(tok, "GET", "/v1.0/users?$top=1", "")
				case 1:
					r = p.DoToken(tok, "GET", "/v1.0/users/"+ids[i%len(ids)], "") // slow
				default:
					r = p.DoToken(tok, "GET", "/v1.0/users/"+ids[0]+"/messages", "") // denied
				}
				mu.Lock()
				outcomes = append(outcomes, outcome{r.Status, r.Err})
				mu.Unlock()
				if r.Err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	p.Stop()
	close(stop)
	wg.Wait()
	answered := 0
	for _, o := range outcomes {
		switch {
		case o.err == nil:
			answered++
			if o.status != 200 && o.status != 403 {
				t.Errorf("a call got %d during shutdown", o.status)
			}
		case !strings.Contains(o.err.Error(), "connection refused"):
			// Only a new connection to the closed listener may fail.
			t.Errorf("a call was cut short: %v", o.err)
		}
	}
	calls := 0
	for _, r := range p.Records() {
		if r.Kind == "" {
			calls++
		}
	}
	if calls != answered || answered == 0 {
		t.Errorf("%d calls answered, %d call records; want equal and non-zero", answered, calls)
	}
	t.Logf("%d calls answered before and during the drain", answered)
}

func verifyChain(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v auditlog.Verifier
	if err := v.Add(file, f); err != nil {
		t.Errorf("audit chain: %v", err)
	}
	if _, err := v.Done(); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}

// TestReadOnlyRootNonRoot runs the binary as the image does — user 65532,
// read-only root filesystem, only the audit volume writable — and checks
// that it serves, renews nothing it cannot, and writes only its audit log.
func TestReadOnlyRootNonRoot(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{ReadOnlyRoot: true})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t65532\t65532\t65532\t65532\n") {
		t.Errorf("the process does not run as 65532:\n%s", status)
	}
	expect(t, p, "read-only root", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	write(t, p.Policy, strings.Replace(proxytest.DefaultPolicy, "mode: enforce", "mode: enforce # edited", 1))
	p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "policy" })
	p.Stop()
	for _, bad := range []string{"read-only file system", "permission denied"} {
		if strings.Contains(strings.ToLower(p.Stderr()), bad) {
			t.Errorf("the process needed to write outside its volume:\n%s", p.Stderr())
		}
	}
}
