package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{name: "no subcommand", args: nil, wantCode: 2, wantOut: "no subcommand given"},
		{name: "unknown subcommand", args: []string{"frobnicate"}, wantCode: 2, wantOut: `unknown subcommand "frobnicate"`},
		{name: "unknown flag", args: []string{"serve", "--nope"}, wantCode: 2, wantOut: "flag provided but not defined: -nope"},
		{name: "stray argument", args: []string{"serve", "extra"}, wantCode: 2, wantOut: `unexpected argument "extra"`},
		{name: "version", args: []string{"version"}, wantCode: 0, wantOut: "graph-proxy "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := exitCode(run(t.Context(), tt.args, nil, &out, &out), &out)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "graph-proxy.yaml")
	os.WriteFile(cfg, []byte(`listen: ":8080"
publicBaseURL: "graph-proxy.contoso.example"
graph:
  cloud: mars
  timeot: 10s
`), 0o600)
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"serve", "--config", cfg}, []string{"GRAPH_PROXY_UPSTREAM_MODE=password"}, io.Discard, &stderr)
	if code := exitCode(err, &stderr); code != 2 {
		t.Errorf("exit code %d; want 2", code)
	}
	// Unknown keys are reported first and alone: values next to them are
	// not trusted to mean what they say.
	want := cfg + `:5: graph.timeot: unknown key (did you mean "graph.timeout"?)`
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr:\n%s\nwant %s", stderr.String(), want)
	}

	os.WriteFile(cfg, []byte("listen: \":8080\"\npublicBaseURL: \"graph-proxy.contoso.example\"\ngraph:\n  cloud: mars\n"), 0o600)
	stderr.Reset()
	err = run(t.Context(), []string{"serve", "--config", cfg}, []string{"GRAPH_PROXY_UPSTREAM_MODE=password"}, io.Discard, &stderr)
	if code := exitCode(err, &stderr); code != 2 {
		t.Errorf("exit code %d; want 2", code)
	}
	for _, want := range []string{
		cfg + `:2: publicBaseURL: "graph-proxy.contoso.example" is not an absolute https URL`,
		cfg + `:4: graph.cloud: "mars" is not one of china, global, usgov, usgovdod`,
		`env GRAPH_PROXY_UPSTREAM_MODE: upstream.mode: "password" is not one of managedIdentity, keyVaultSecret, keyVaultCertificate, federated`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr:\n%s\nlacks %s", stderr.String(), want)
		}
	}
}

// TestServeDrainsOnShutdown runs the real serve command against the
// simulator, then stops it while a call is in flight: the call completes
// and serve returns cleanly.
func TestServeDrainsOnShutdown(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, sim.CAPEM(), 0o600)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(proxytest.DefaultPolicy), 0o600)
	addr, admin := proxytest.FreeAddr(t), proxytest.FreeAddr(t)
	// A collector that is not there: export must cost nothing visible.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+proxytest.FreeAddr(t))
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	env := []string{
		"GRAPH_PROXY_LISTEN=" + addr,
		"GRAPH_PROXY_PUBLICBASEURL=http://" + addr,
		"GRAPH_PROXY_GRAPH_BASEURL=" + sim.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL=" + sim.Entra.URL,
		"GRAPH_PROXY_GRAPH_CAFILE=" + ca,
		"GRAPH_PROXY_SHUTDOWNTIMEOUT=20s",
		"GRAPH_PROXY_POLICY_FILE=" + pol,
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=" + graphsim.VendorTenant,
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=" + graphsim.ProxyAudience,
		"GRAPH_PROXY_ADMIN_LISTEN=" + admin,
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var stdout, stderr proxytest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, &stdout, &stderr) }()

	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy never became ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Once serving, the identity endpoint's secret is out of the
	// environment (the credential keeps its own copy).
	if v := os.Getenv("IDENTITY_HEADER"); v != "" {
		t.Errorf("IDENTITY_HEADER still in the environment while serving")
	}
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Delay: 500 * time.Millisecond, Times: 1})
	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		req, _ := http.NewRequest("GET", base+"/v1.0/users?$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- result{status: resp.StatusCode}
	}()
	for len(sim.Graph.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// The admin listener: status and metrics, no pprof unless asked.
	var status struct {
		Version string
		Policy  struct{ Digest, Mode string }
		Token   struct{ Ready bool }
		Audit   struct{ Down bool }
	}
	if err := getJSON("http://"+admin+"/status", &status); err != nil || !strings.HasPrefix(status.Policy.Digest, "sha256:") ||
		status.Policy.Mode != "enforce" || !status.Token.Ready || status.Audit.Down {
		t.Errorf("/status: %v %+v", err, status)
	}
	if resp, err := http.Get("http://" + admin + "/metrics"); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`graph_proxy_token_acquisitions_total{otel_scope_name=`, `result="ok"`, "graph_proxy_audit_queue", "graph_proxy_audit_rejected_total"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}
	if resp, err := http.Get("http://" + admin + "/debug/pprof/"); err != nil || resp.StatusCode != 404 {
		t.Errorf("pprof served though not enabled: %v", err)
	}
	stop() // SIGTERM, as Container Apps sends it
	if r := <-inflight; r.err != nil || r.status != 200 {
		t.Errorf("in-flight call: %d %v; want 200", r.status, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve returned %v; want nil after a clean drain", err)
	}
	if !strings.Contains(stdout.String(), `"path":"/users"`) {
		t.Errorf("no audit record for the drained call on stdout:\n%s", stdout.String())
	}
	// The audit stream is one closed, intact chain: genesis, the call,
	// close, and — when it ended before shutdown — the look for ways
	// around the proxy (unknown: the identity lacks Directory.Read.All).
	records := strings.Count(stdout.String(), "\n")
	if m := strings.Count(stdout.String(), `"kind":"mediation"`); records != 3+m || (m == 1 && !strings.Contains(stdout.String(), `"decision":"unknown"`)) {
		t.Errorf("%d records, %d of them mediation; want genesis, the call, close and at most one mediation record (unknown):\n%s", records, m, stdout.String())
	}
	logFile := filepath.Join(dir, "audit.jsonl")
	os.WriteFile(logFile, []byte(stdout.String()), 0o600)
	out, code := runCmd(t, "audit", "verify", logFile)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("ok: %d records, 1 chain(s) intact", records)) {
		t.Errorf("audit verify: exit %d: %s", code, out)
	}
	for _, secret := range []string{"Bearer", tok, tok[strings.LastIndexByte(tok, '.')+1:], sim.Identity.Header} {
		if strings.Contains(stderr.String(), secret) || strings.Contains(stdout.String(), secret) {
			t.Errorf("a token or secret reached the logs:\n%s", stderr.String())
		}
	}
}

// simKey is shared by the simulators of this test binary: MSAL caches
// managed-identity tokens process-wide, so one simulator's cached token
// must verify in the next.
var simKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// baseEnv is the least environment serve starts with — the policy text,
// vendor tokens of the simulator's tenant — plus extra.
func baseEnv(t *testing.T, policyText string, extra ...string) []string {
	t.Helper()
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	return append([]string{
		"GRAPH_PROXY_PUBLICBASEURL=https://gp.contoso.example",
		"GRAPH_PROXY_POLICY_FILE=" + pol,
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=" + graphsim.VendorTenant,
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=" + graphsim.ProxyAudience,
	}, extra...)
}

func TestServeRejectsUnwritableAuditFile(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, nil, 0o600)
	env := baseEnv(t, proxytest.DefaultPolicy,
		"GRAPH_PROXY_AUDIT_SINKS=file",
		"GRAPH_PROXY_AUDIT_FILE_PATH="+filepath.Join(notADir, "audit.jsonl"),
		"GRAPH_PROXY_LISTEN=127.0.0.1:0",
	)
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"serve"}, env, io.Discard, &stderr)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "audit.file.path: open "+filepath.Join(notADir, "audit.jsonl")+": not a directory") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

func TestServeRejectsBadTelemetry(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	env := baseEnv(t, proxytest.DefaultPolicy, "OTEL_TRACES_EXPORTER=carrier-pigeon")
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"serve"}, env, io.Discard, &stderr)
	if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), "OTEL_TRACES_EXPORTER") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}
