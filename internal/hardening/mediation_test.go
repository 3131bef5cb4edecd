package hardening

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// TestMediation: through the real binary, the proxy looks at the tenant
// at start for Graph access the policy's callers' applications hold of
// their own. A vendor app granted an application permission to Graph is a
// way around the proxy: the look says so in an audit record, /status, the
// metric and the log, and graph-proxy check fails with the command that
// removes it.
func TestMediation(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	// The proxy's identity may read the directory (Directory.Read.All).
	id := sim.Entra.App(graphsim.CustomerTenant, graphsim.SystemIdentityClientID)
	roles := map[string][]string{}
	for k, v := range id.Roles {
		roles[k] = slices.Clone(v)
	}
	roles[graphsim.GraphResource] = append(roles[graphsim.GraphResource], "Directory.Read.All")
	id.Roles = roles
	sim.Entra.Register(id)
	assignment := sim.Graph.GrantAppRole(graphsim.VendorAppID, "Mail.Read")

	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_MEDIATION_INTERVAL=6h"}})
	rec := p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "mediation" })[0]
	if rec.Decision != "bypass" || !strings.Contains(rec.Reason, "holds Graph application permission Mail.Read") {
		t.Fatalf("mediation record %+v; want the vendor's own Mail.Read found", rec)
	}
	if got := metric(t, p, "graph_proxy_mediation_findings", ""); got != "1" {
		t.Errorf("graph_proxy_mediation_findings %q; want 1", got)
	}
	if !strings.Contains(p.Stderr(), "a caller's application can call Graph without the proxy") {
		t.Error("the finding is not logged")
	}

	// check finds it too, and gives the command that removes it.
	cmd := exec.Command(binary, "check")
	cmd.Env = p.cmd.Env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAIL mediation: engage") ||
		!strings.Contains(string(out), "-AppRoleAssignmentId "+assignment) {
		t.Fatalf("check with a vendor holding Mail.Read: %v\n%s", err, out)
	}
	sim.Graph.RevokeAll()
	cmd = exec.Command(binary, "check")
	cmd.Env = p.cmd.Env
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "hold no Graph access of their own") {
		t.Errorf("check once the grant is removed: %v\n%s", err, out)
	}
	p.Stop()
}
