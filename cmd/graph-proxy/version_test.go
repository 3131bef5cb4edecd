package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// releaseBuildArgs returns the go build arguments of the Makefile's release
// build (BUILD_FLAGS) with VERSION set to version: the flags the Dockerfile
// uses too (deploy.TestDockerfile).
func releaseBuildArgs(t *testing.T, version string) []string {
	t.Helper()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BUILD_FLAGS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no BUILD_FLAGS")
	}
	flags := strings.ReplaceAll(string(m[1]), "$(VERSION)", version)
	// Make passes the line to the shell: split it as the shell does, for
	// the double quotes it uses.
	var args []string
	for _, f := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(flags, -1) {
		args = append(args, strings.Trim(f, `"`))
	}
	return args
}

// TestVersionStamped builds graph-proxy as the release build does, with a
// version, and checks that the version is what `graph-proxy version`
// prints, what the admin /status reports and what the audit log's genesis
// and close records carry.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const want = "v9.8.7-test.1-g0123abc-dirty"
	exe := filepath.Join(t.TempDir(), "graph-proxy")
	build := exec.Command("go", append(append([]string{"build"}, releaseBuildArgs(t, want)...), "-o", exe, ".")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", build.Args, err, out)
	}

	out, err := exec.Command(exe, "version").Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != "graph-proxy "+want {
		t.Errorf("graph-proxy version: %q, %v; want %q", got, err, "graph-proxy "+want)
	}

	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(ca, sim.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, []byte(proxytest.DefaultPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, admin := proxytest.FreeAddr(t), proxytest.FreeAddr(t)
	var stdout, stderr proxytest.SyncBuffer
	serve := exec.Command(exe, "serve")
	serve.Env = []string{
		"HOME=" + dir,
		"IDENTITY_ENDPOINT=" + sim.Identity.Endpoint(),
		"IDENTITY_HEADER=" + sim.Identity.Header,
		"GRAPH_PROXY_LISTEN=" + addr,
		"GRAPH_PROXY_ADMIN_LISTEN=" + admin,
		"GRAPH_PROXY_PUBLICBASEURL=http://" + addr,
		"GRAPH_PROXY_GRAPH_BASEURL=" + sim.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL=" + sim.Entra.URL,
		"GRAPH_PROXY_GRAPH_CAFILE=" + ca,
		"GRAPH_PROXY_POLICY_FILE=" + pol,
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=" + graphsim.VendorTenant,
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=" + graphsim.ProxyAudience,
	}
	serve.Stdout, serve.Stderr = &stdout, &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited, stopped := make(chan error, 1), false
	go func() { exited <- serve.Wait() }()
	defer func() {
		if !stopped {
			serve.Process.Kill()
			<-exited
		}
	}()

	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready; stderr:\n%s", stderr.String())
		}
	}
	var status struct{ Version string }
	if err := getJSON("http://"+admin+"/status", &status); err != nil || status.Version != want {
		t.Errorf("/status version %q, %v; want %q", status.Version, err, want)
	}

	serve.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("serve: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM; stderr:\n%s", stderr.String())
	}
	stamped := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		var rec struct{ Kind, ProxyVersion string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && (rec.Kind == "genesis" || rec.Kind == "close") {
			stamped[rec.Kind] = rec.ProxyVersion
		}
	}
	for _, kind := range []string{"genesis", "close"} {
		if got, ok := stamped[kind]; !ok || got != want {
			t.Errorf("%s record: proxyVersion %q (present: %v); want %q\naudit records:\n%s", kind, got, ok, want, stdout.String())
		}
	}
}
