package hardening

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// TestReconcile: Graph's own activity log, as the simulator's Graph keeps
// it, held against the real proxy's records. Calls through the proxy, its
// refusals and its membership checks reconcile; a Graph call made with the
// proxy's identity but not through it (a stolen token), and one by the
// vendor's own application, are found and fail the command.
func TestReconcile(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	expect(t, p, "a call", p.Do("GET", "/v1.0/users?$top=2", ""), 200, "", nil)
	expect(t, p, "a refused call", p.Do("GET", "/v1.0/users/x/messages", ""), 403, "graphProxy.policyDenied", nil)
	_, upns := sim.Graph.Users()
	expect(t, p, "a scoped call", p.Do("GET", "/v1.0/users/"+upns[0]+"/events?$top=1", ""), 200, "", nil)

	// Around the proxy: its identity's token used directly, and the
	// vendor's own app calling Graph.
	direct := func(app, clientRequestID string) {
		tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: app, Audience: graphsim.GraphResource,
			Roles: []string{"User.ReadBasic.All"}})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", sim.Graph.URL+"/v1.0/users?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("client-request-id", clientRequestID)
		resp, err := sim.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	direct(graphsim.SystemIdentityClientID, "5701e000-0000-4000-8000-000000000001")
	direct(graphsim.VendorAppID, "7e7d0000-0000-4000-8000-000000000002")
	p.Stop()

	rows := sim.Graph.ActivityLog(time.Now().Add(time.Hour), 0)
	dir := t.TempDir()
	writeRows := func(name string, keep func(map[string]string) bool) string {
		var kept []map[string]string
		for _, r := range rows {
			if keep(r) {
				kept = append(kept, r)
			}
		}
		b, _ := json.Marshal(kept)
		file := filepath.Join(dir, name)
		write(t, file, string(b))
		return file
	}
	all := writeRows("activity.json", func(map[string]string) bool { return true })
	clean := writeRows("clean.json", func(r map[string]string) bool {
		return !strings.HasPrefix(r["ClientRequestId"], "5701e") && !strings.HasPrefix(r["ClientRequestId"], "7e7d")
	})

	reconcile := func(activity string) (string, error) {
		out, err := exec.Command(binary, "audit", "reconcile", "--graph-activity", activity, "--proxy-app", graphsim.SystemIdentityClientID,
			"--settle", "0s", p.Audit).CombinedOutput()
		return string(out), err
	}
	out, err := reconcile(all)
	if err == nil || !strings.Contains(out, "FAIL 1 Graph request(s) made with the proxy's identity that the proxy never recorded") ||
		!strings.Contains(out, "5701e000-0000-4000-8000-000000000001") ||
		!strings.Contains(out, "FAIL 1 Graph request(s) by the vendor's own applications") || !strings.Contains(out, "7e7d0000-0000-4000-8000-000000000002") {
		t.Fatalf("reconcile with calls around the proxy: %v\n%s", err, out)
	}
	out, err = reconcile(clean)
	if err != nil || !strings.Contains(out, "ok   0 Graph request(s) made with the proxy's identity that the proxy never recorded") ||
		!strings.Contains(out, "1 call(s) the proxy refused or never sent") || strings.Contains(out, "warn") {
		t.Fatalf("reconcile of the proxy's own traffic: %v\n%s", err, out)
	}
}
