package hardening

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

const (
	// policySecret is the Key Vault secret holding the policy.
	policySecret = "graph-proxy-policy"
	// vaultPoll is the proxy's poll interval in these tests.
	vaultPoll = time.Second
)

// vaultPolicyEnv points the proxy at the policy in the simulator's vault
// instead of a file.
func vaultPolicyEnv(sim *graphsim.Sim) []string {
	return []string{
		"GRAPH_PROXY_POLICY_FILE=",
		"GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI=" + sim.Vault.URL + "/secrets/" + policySecret,
		"GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL=" + vaultPoll.String(),
		"GRAPH_PROXY_POLICY_KEYVAULT_DISABLECHALLENGERESOURCEVERIFICATION=true",
	}
}

// withoutUsersList is the default policy without the rule allowing GET
// /users: the version in force before the change under test.
var withoutUsersList = strings.Replace(proxytest.DefaultPolicy,
	`  - { id: users-list, method: GET, path: "/users", query: [$select, $top, $filter, $count], permission: User.ReadBasic.All }
`, "", 1)

func digestOf(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestPolicyFromKeyVault: through the real binary, the policy lives in a
// Key Vault secret read with the managed identity. A new version allowing
// a path is in force within the poll interval; a broken version is
// rejected with a policy record naming it and the old rules keep working;
// a vault outage keeps the policy in force and calls going, and says so in
// /status, /metrics and the log; setting an older text again rolls back.
func TestPolicyFromKeyVault(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	v1 := sim.Vault.SetSecret(policySecret, withoutUsersList, "")
	p := startProxy(t, sim, procOptions{Env: vaultPolicyEnv(sim)})
	secretURL := sim.Vault.URL + "/secrets/" + policySecret

	genesis := p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "genesis" })[0]
	if genesis.Path != secretURL+"/"+v1 || genesis.PolicyDigest != digestOf(withoutUsersList) {
		t.Errorf("genesis names %q, %s; want version %s and its digest", genesis.Path, genesis.PolicyDigest, v1)
	}
	expect(t, p, "GET /users before the change", p.Do("GET", "/v1.0/users?$top=1", ""), 403, "graphProxy.policyDenied", nil)

	// Change: a version allowing GET /users.
	set := time.Now()
	v2 := sim.Vault.SetSecret(policySecret, proxytest.DefaultPolicy, "")
	proxytest.WaitWithin(t, "the new version in force", vaultPoll+5*time.Second, func() bool {
		return p.Do("GET", "/v1.0/users?$top=1", "").Status == 200
	})
	t.Logf("version %s in force %v after it was set (poll interval %v)", v2, time.Since(set).Round(time.Millisecond), vaultPoll)
	loaded := p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "policy" && r.Decision == "loaded" })[0]
	if loaded.Path != secretURL+"/"+v2 || loaded.PolicyDigest != digestOf(proxytest.DefaultPolicy) || loaded.Error != "" {
		t.Errorf("policy record %+v; want loaded, version %s, its digest", loaded, v2)
	}

	// A broken version: rejected, recorded once with its problems, and
	// the rules in force keep working.
	broken := "version: 1\nmode: enforce\nrules:\n  - { id: x, method: FETCH, path: /users }\n"
	v3 := sim.Vault.SetSecret(policySecret, broken, "")
	rejected := p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "policy" && r.Decision == "rejected" })[0]
	if rejected.Path != secretURL+"/"+v3 || !strings.Contains(rejected.Error, "FETCH") ||
		!strings.Contains(rejected.Error, secretURL+"/"+v3+":") || rejected.PolicyDigest != digestOf(proxytest.DefaultPolicy) {
		t.Errorf("rejection record %+v; want version %s, its problems, and the digest in force", rejected, v3)
	}
	expect(t, p, "allowed under the version in force", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	expect(t, p, "denied under the version in force", p.Do("GET", "/v1.0/users/x/messages", ""), 403, "graphProxy.policyDenied", nil)
	time.Sleep(3 * vaultPoll) // more polls find the same rejected version
	if n := len(p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Kind == "policy" && r.Decision == "rejected" })); n != 1 {
		t.Errorf("%d rejection records; want the version rejected once, not at every poll", n)
	}
	if got := metric(t, p, "graph_proxy_policy_reloads_total", `result="rejected"`); got != "1" {
		t.Errorf("rejections counted: %q; want 1", got)
	}

	// A vault outage: the policy in force stays, calls go on, readiness
	// stays, and /status, /metrics and the log say the source is failing.
	sim.Vault.SetDown(true)
	proxytest.WaitWithin(t, "a failed read in /status", 15*time.Second, func() bool {
		src := policyStatus(t, p)
		return src["ok"] == false && strings.Contains(src["error"].(string), "503")
	})
	expect(t, p, "allowed during the vault outage", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	if st := get(t, p.Client, p.Base+"/readyz"); st != 200 {
		t.Errorf("/readyz during the vault outage: %d; want 200 (the policy in force is valid)", st)
	}
	if metric(t, p, "graph_proxy_policy_reloads_total", `result="unreadable"`) == "" {
		t.Error("failed reads are not counted in graph_proxy_policy_reloads_total{result=\"unreadable\"}")
	}
	if metric(t, p, "graph_proxy_policy_source_age_seconds", "") == "" {
		t.Error("no graph_proxy_policy_source_age_seconds")
	}
	if !strings.Contains(p.Stderr(), "policy source unreadable; the policy in force stays") {
		t.Error("the failed read is not logged")
	}
	sim.Vault.SetDown(false)
	proxytest.WaitWithin(t, "reads succeeding again in /status", 15*time.Second, func() bool {
		return policyStatus(t, p)["ok"] == true
	})

	// Roll back: the text of an older version, set again as the newest.
	v4 := sim.Vault.SetSecret(policySecret, withoutUsersList, "")
	proxytest.WaitWithin(t, "the rollback in force", vaultPoll+5*time.Second, func() bool {
		return p.Do("GET", "/v1.0/users?$top=1", "").Status == 403
	})
	rolledBack := p.RecordsWhere(2, func(r auditlog.Record) bool { return r.Kind == "policy" && r.Decision == "loaded" })[1]
	if rolledBack.Path != secretURL+"/"+v4 || rolledBack.PolicyDigest != genesis.PolicyDigest {
		t.Errorf("rollback record %+v; want version %s with the first version's digest", rolledBack, v4)
	}
	if src := policyStatus(t, p); src["version"] != v4 || src["name"] != secretURL+"/"+v4 {
		t.Errorf("/status policy source %v; want version %s", src, v4)
	}
	p.Stop()
}

// TestPolicyFromKeyVaultFailsClosedAtStart: a proxy that cannot read the
// secret, or whose newest version does not load, does not start, and says
// why.
func TestPolicyFromKeyVaultFailsClosedAtStart(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(t *testing.T, sim *graphsim.Sim)
		wantCode int
		want     []string // in stderr
	}{
		{
			name: "newest version does not load",
			prepare: func(t *testing.T, sim *graphsim.Sim) {
				sim.Vault.SetSecret(policySecret, proxytest.DefaultPolicy, "")
				v := sim.Vault.SetSecret(policySecret, "version: 1\nrules: 5\n", "")
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("the broken version was %s", v)
					}
				})
			},
			wantCode: 2,
			want:     []string{"invalid policy", "/secrets/" + policySecret + "/"},
		},
		{
			name: "identity without Key Vault Secrets User",
			prepare: func(t *testing.T, sim *graphsim.Sim) {
				sim.Vault.SetSecret(policySecret, proxytest.DefaultPolicy, "")
				sim.Vault.SetReader(sim.Entra.App(graphsim.CustomerTenant, graphsim.SystemIdentityClientID).ObjectID, false)
			},
			wantCode: 1,
			want:     []string{"403", "Key Vault Secrets User"},
		},
		{
			name:     "no such secret",
			prepare:  func(t *testing.T, sim *graphsim.Sim) {},
			wantCode: 1,
			want:     []string{"SecretNotFound", "has no secret " + policySecret},
		},
		{
			name: "vault down",
			prepare: func(t *testing.T, sim *graphsim.Sim) {
				sim.Vault.SetSecret(policySecret, proxytest.DefaultPolicy, "")
				sim.Vault.SetDown(true)
			},
			wantCode: 1,
			want:     []string{"503", "is unavailable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, graphsim.Options{})
			tt.prepare(t, sim)
			code, stderr := runToExit(t, sim, vaultPolicyEnv(sim))
			if code != tt.wantCode {
				t.Errorf("exit code %d; want %d\n%s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// runToExit runs graph-proxy serve against sim, configured as startProxy
// does plus env, and returns its exit code and stderr once it exits; it
// fails the test if the process is still running after 30 seconds.
func runToExit(t *testing.T, sim *graphsim.Sim, env []string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "sim-ca.pem")
	write(t, ca, string(sim.CAPEM()))
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{
		"GRAPH_PROXY_LISTEN=" + proxytest.FreeAddr(t),
		"GRAPH_PROXY_PUBLICBASEURL=https://127.0.0.1",
		"GRAPH_PROXY_ADMIN_LISTEN=" + proxytest.FreeAddr(t),
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=" + graphsim.VendorTenant,
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=" + graphsim.ProxyAudience,
		"GRAPH_PROXY_AUDIT_SINKS=file",
		"GRAPH_PROXY_AUDIT_FILE_PATH=" + filepath.Join(dir, "audit.jsonl"),
	}
	for _, kv := range sim.Env(ca) {
		if !strings.HasPrefix(kv, "SIM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr proxytest.SyncBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err == nil {
			return 0, stderr.String()
		}
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return ee.ExitCode(), stderr.String()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("graph-proxy still running after 30 s; want it to refuse to start:\n%s", stderr.String())
	}
	return 0, ""
}

// policyStatus is the "source" object of /status's "policy".
func policyStatus(t *testing.T, p *proc) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + p.Admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Policy struct {
			Source map[string]any `json:"source"`
		} `json:"policy"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Policy.Source
}

// metric returns the value of the first sample of name whose labels
// contain label ("" for any), or "" if there is none.
func metric(t *testing.T, p *proc, name, label string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if label != "" && !strings.Contains(line, label) {
			continue
		}
		return line[strings.LastIndexByte(line, ' ')+1:]
	}
	return ""
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
