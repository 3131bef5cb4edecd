package hardening

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestSignedCheckpoints: through the real binary, the chain head is
// signed by a key in the simulated Key Vault (azkeys, the managed
// identity) every few records and at shutdown; a Key Vault outage is
// recorded in the checkpoints, counted and shown in /status and /metrics,
// and calls go on; audit verify --key with the key's PEM proves every
// record, and refuses the same log rewritten by someone with the file.
func TestSignedCheckpoints(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	sim.Vault.CreateKey("audit-checkpoint")
	p := startProxy(t, sim, procOptions{Env: []string{
		"GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID=" + sim.Vault.URL + "/keys/audit-checkpoint",
		"GRAPH_PROXY_AUDIT_CHECKPOINT_EVERY=5",
		"GRAPH_PROXY_AUDIT_CHECKPOINT_DISABLECHALLENGERESOURCEVERIFICATION=true",
	}})
	checkpoints := func() []auditlog.Record {
		return p.RecordsWhere(0, func(r auditlog.Record) bool { return r.Kind == "checkpoint" })
	}
	for range 5 {
		expect(t, p, "a call", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	}
	proxytest.WaitWithin(t, "a signed checkpoint", 10*time.Second, func() bool { return len(checkpoints()) == 1 })
	if cp := checkpoints()[0].Checkpoint; cp == nil || cp.Signature == "" || cp.Alg != "ES256" || !strings.HasPrefix(cp.KeyID, sim.Vault.URL+"/keys/audit-checkpoint/") {
		t.Fatalf("checkpoint %+v; want an ES256 signature by a version of the key", cp)
	}

	// Key Vault down: the head cannot be signed; the checkpoint says so,
	// calls go on, and the failure shows.
	sim.Vault.SetDown(true)
	for range 5 {
		expect(t, p, "a call with Key Vault down", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	}
	proxytest.WaitWithin(t, "a failed checkpoint", 15*time.Second, func() bool { return len(checkpoints()) == 2 })
	if cp := checkpoints()[1].Checkpoint; cp.Signature != "" || !strings.Contains(cp.Error, "503") {
		t.Errorf("checkpoint during the outage %+v; want no signature and Key Vault's 503", cp)
	}
	if got := metric(t, p, "graph_proxy_audit_checkpoint_failures_total", ""); got != "1" {
		t.Errorf("graph_proxy_audit_checkpoint_failures_total %q; want 1", got)
	}
	if st := get(t, p.Client, p.Base+"/readyz"); st != 200 {
		t.Errorf("/readyz with Key Vault down: %d; want 200 (records are written; only their signature waits)", st)
	}
	sim.Vault.SetDown(false)
	for range 3 {
		expect(t, p, "a call", p.Do("GET", "/v1.0/users?$top=1", ""), 200, "", nil)
	}
	p.Stop()
	recs := p.Records()
	if last := recs[len(recs)-1]; last.Kind != "close" || last.Checkpoint == nil || last.Checkpoint.Signature == "" || last.Checkpoint.Seq != last.Seq-1 {
		t.Fatalf("closing record %+v; want it to sign the record before it", last)
	}

	dir := t.TempDir()
	key := filepath.Join(dir, "audit-checkpoint.pem")
	if err := os.WriteFile(key, sim.Vault.PublicKeyPEM("audit-checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "audit", "verify", "--key", key, p.Audit).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "every record signed") || !strings.Contains(string(out), "1 could not be signed at the proxy") {
		t.Fatalf("audit verify --key: %v\n%s", err, out)
	}

	// Someone with the file removes a call and hashes the rest anew: the
	// chain verifies; the signatures do not.
	data, err := os.ReadFile(p.Audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	forged := filepath.Join(dir, "audit.jsonl")
	write(t, forged, strings.Join(rehashed(t, append(lines[:3:3], lines[4:]...)), ""))
	if out, err := exec.Command(binary, "audit", "verify", forged).CombinedOutput(); err != nil {
		t.Fatalf("the rewritten chain should verify without the key (what checkpoints are for): %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "audit", "verify", "--key", key, forged).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rewritten") {
		t.Fatalf("audit verify --key of a rewritten log: %v\n%s", err, out)
	}
}

// rehashed seals the lines again into one chain from the first line's
// place on: what someone who can write the file does to hide a change.
func rehashed(t *testing.T, lines []string) []string {
	t.Helper()
	var buf proxytest.SyncBuffer
	var first auditlog.Record
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Options{Replica: first.Replica, Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq > 0 {
		l.Continue(first.Seq-1, first.Prev)
	}
	for _, line := range lines {
		var rec auditlog.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if err := l.Record(&rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	out := strings.SplitAfter(buf.String(), "\n")
	return out[:len(out)-1]
}
