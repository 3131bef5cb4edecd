package hardening

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// binary is the graph-proxy built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "graph-proxy-hardening-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "graph-proxy")
	build := exec.Command("go", "build", "-o", binary, "github.com/graph-proxy/graph-proxy/cmd/graph-proxy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building graph-proxy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// simKey is shared by this package's simulators (see graphsim.Options).
var simKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func startSim(t *testing.T, o graphsim.Options) *graphsim.Sim {
	t.Helper()
	o.SigningKey = simKey()
	sim, err := graphsim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.Vault.SetSecret("graph-proxy-credential", sim.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID).Secret, "")
	return sim
}

// proc is one graph-proxy process in front of a simulator, serving TLS on
// loopback, auditing to a file.
type proc struct {
	t      *testing.T
	sim    *graphsim.Sim
	cmd    *exec.Cmd
	Base   string // https://127.0.0.1:port
	Addr   string
	Admin  string
	Audit  string // the audit file
	Policy string // the policy file
	Client *http.Client
	Roots  *x509.CertPool
	stderr proxytest.SyncBuffer
	exited chan error
}

type procOptions struct {
	Policy string
	// Env adds to or overrides the configuration environment.
	Env []string
	// NotReady skips waiting for /readyz.
	NotReady bool
	// ReadOnlyRoot runs the process as the image does: user 65532, with
	// the root filesystem read-only (a private mount namespace) and only
	// the audit directory writable, as a mounted volume is.
	ReadOnlyRoot bool
}

func startProxy(t *testing.T, sim *graphsim.Sim, o procOptions) *proc {
	t.Helper()
	dir, auditDir := t.TempDir(), t.TempDir()
	p := &proc{t: t, sim: sim, Audit: filepath.Join(auditDir, "audit.jsonl"), Policy: filepath.Join(dir, "policy.yaml"), exited: make(chan error, 1)}
	procsOf.add(sim, p)
	t.Cleanup(func() { procsOf.remove(sim, p) })
	if o.Policy == "" {
		o.Policy = proxytest.DefaultPolicy
	}
	write(t, p.Policy, o.Policy)
	ca := filepath.Join(dir, "sim-ca.pem")
	write(t, ca, string(sim.CAPEM()))
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	p.Roots = serverCert(t, certFile, keyFile)
	p.Addr, p.Admin = proxytest.FreeAddr(t), proxytest.FreeAddr(t)
	p.Base = "https://" + p.Addr
	env := []string{
		"GRAPH_PROXY_LISTEN=" + p.Addr,
		"GRAPH_PROXY_PUBLICBASEURL=" + p.Base,
		"GRAPH_PROXY_TLS_CERTFILE=" + certFile,
		"GRAPH_PROXY_TLS_KEYFILE=" + keyFile,
		"GRAPH_PROXY_ADMIN_LISTEN=" + p.Admin,
		"GRAPH_PROXY_POLICY_FILE=" + p.Policy,
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=" + graphsim.VendorTenant,
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=" + graphsim.ProxyAudience,
		"GRAPH_PROXY_AUDIT_SINKS=file",
		"GRAPH_PROXY_AUDIT_FILE_PATH=" + p.Audit,
		"GRAPH_PROXY_AUDIT_REPLICA=hardening",
		"GRAPH_PROXY_SHUTDOWNTIMEOUT=20s",
		"GRAPH_PROXY_LIMITS_READHEADERTIMEOUT=1s",
		// The look at the tenant reads Graph at start; the tests that
		// count what reached Graph do not expect it (TestMediation sets it).
		"GRAPH_PROXY_MEDIATION_INTERVAL=0s",
	}
	for _, kv := range sim.Env(ca) {
		if !strings.HasPrefix(kv, "SIM_") {
			env = append(env, kv)
		}
	}
	env = append(env, o.Env...)
	p.cmd = exec.Command(binary, "serve")
	if o.ReadOnlyRoot {
		p.cmd = readOnlyRoot(t, dir, auditDir)
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		p.exited <- nil
		if t.Failed() {
			lines := strings.Split(p.stderr.String(), "\n")
			t.Logf("graph-proxy stderr (last lines):\n%s", strings.Join(notReadyless(lines), "\n"))
		}
	})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	p.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	if o.NotReady {
		p.waitStatus("/healthz")
	} else {
		p.waitStatus("/readyz")
	}
	return p
}

// WaitReady polls /readyz until 200, bounded.
func (p *proc) WaitReady() {
	p.t.Helper()
	p.waitStatus("/readyz")
}

func (p *proc) waitStatus(path string) {
	p.t.Helper()
	proxytest.WaitWithin(p.t, "graph-proxy "+path, 30*time.Second, func() bool {
		select {
		case err := <-p.exited:
			p.exited <- err
			p.t.Fatalf("graph-proxy exited: %v\n%s", err, p.Stderr())
		default:
		}
		resp, err := p.Client.Get(p.Base + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// Token is a valid vendor token for the proxy.
func (p *proc) Token() string {
	p.t.Helper()
	return vendorToken(p.t, p.sim)
}

func vendorToken(t *testing.T, sim *graphsim.Sim) string {
	t.Helper()
	tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// result is what a caller got.
type result struct {
	Status     int
	Code       string // the error code, for errors
	RequestID  string // x-graph-proxy-request-id
	RetryAfter string
	Body       []byte
	Err        error
}

// Do sends one call with a valid token; hdr are name, value pairs.
func (p *proc) Do(method, path, body string, hdr ...string) result {
	return p.DoToken(p.Token(), method, path, body, hdr...)
}

func (p *proc) DoToken(tok, method, path, body string, hdr ...string) result {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.Base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return result{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := result{Status: resp.StatusCode, RequestID: resp.Header.Get("x-graph-proxy-request-id"),
		RetryAfter: resp.Header.Get("Retry-After"), Body: b, Err: err}
	var ge proxytest.GraphError
	if json.Unmarshal(b, &ge) == nil {
		r.Code = ge.Error.Code
	}
	return r
}

// Records reads the audit file.
func (p *proc) Records() []auditlog.Record {
	p.t.Helper()
	return readRecords(p.t, p.Audit)
}

func readRecords(t *testing.T, file string) []auditlog.Record {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return proxytest.ParseRecords(t, data)
}

// Record waits for the record with the request id.
func (p *proc) Record(id string) auditlog.Record {
	p.t.Helper()
	var found auditlog.Record
	proxytest.WaitWithin(p.t, "audit record "+id, 10*time.Second, func() bool {
		for _, r := range p.Records() {
			if r.RequestID == id {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// RecordsWhere waits until at least n records match and returns them.
func (p *proc) RecordsWhere(n int, match func(auditlog.Record) bool) []auditlog.Record {
	p.t.Helper()
	var got []auditlog.Record
	proxytest.WaitWithin(p.t, fmt.Sprintf("%d matching audit records", n), 10*time.Second, func() bool {
		got = got[:0]
		for _, r := range p.Records() {
			if match(r) {
				got = append(got, r)
			}
		}
		return len(got) >= n
	})
	return got
}

// Stop sends SIGTERM, waits for a clean exit, and verifies the audit
// chain: it must be intact and closed.
func (p *proc) Stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			p.t.Errorf("graph-proxy exited with %v; stderr:\n%s", err, p.stderr.String())
		}
	case <-time.After(40 * time.Second):
		p.t.Fatalf("graph-proxy did not exit after SIGTERM")
	}
	out, err := exec.Command(binary, "audit", "verify", p.Audit).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 chain(s) intact") {
		p.t.Errorf("audit verify: %v\n%s", err, out)
	}
	recs := p.Records()
	if n := len(recs); n == 0 || recs[n-1].Kind != "close" {
		p.t.Errorf("the audit log does not end with a close record")
	}
}

// Stderr is what the process logged so far.
func (p *proc) Stderr() string { return p.stderr.String() }

// graphSaw reports the requests Graph received (not the proxy's own
// membership checks) since the last reset.
func graphSaw(sim *graphsim.Sim) []graphsim.Recorded {
	var out []graphsim.Recorded
	for _, r := range sim.Graph.Requests() {
		if !strings.HasSuffix(r.Path, "/checkMemberGroups") && !referenceRead(r) && !subscriptionRead(sim, r) {
			out = append(out, r)
		}
	}
	return out
}

// procsOf are the proxies started on each simulator, whose records
// subscriptionRead reads.
var procsOf = procRegistry{m: map[*graphsim.Sim][]*proc{}}

type procRegistry struct {
	mu sync.Mutex
	m  map[*graphsim.Sim][]*proc
}

func (r *procRegistry) add(sim *graphsim.Sim, p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[sim] = append(r.m[sim], p)
}

func (r *procRegistry) remove(sim *graphsim.Sim, p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[sim] = slices.DeleteFunc(r.m[sim], func(q *proc) bool { return q == p })
}

func (r *procRegistry) of(sim *graphsim.Sim) []*proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.m[sim])
}

// subscriptionRead reports whether r is the proxy's read of a subscription
// a call refers to by id (proxy/references.go): a GET whose request line is
// a caller's read of it too, told apart by its client-request-id, which the
// proxy's reference record carries. It waits for the records that say.
func subscriptionRead(sim *graphsim.Sim, r graphsim.Recorded) bool {
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	if r.Method != "GET" || r.RawQuery != "" || len(segs) != 3 || segs[1] != "subscriptions" {
		return false
	}
	id := r.Header.Get("Client-Request-Id")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, p := range procsOf.of(sim) {
			data, _ := os.ReadFile(p.Audit)
			for _, line := range strings.Split(string(data), "\n") {
				var rec auditlog.Record
				if !strings.Contains(line, id) || json.Unmarshal([]byte(line), &rec) != nil || rec.ClientRequestID != id {
					continue
				}
				return rec.Kind == "reference"
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// referenceReads are the $select of the proxy's own reads of the item a
// call refers to (a reply's message, a cancelled event: proxy/references.go).
var referenceReads = []string{
	"$select=replyTo,from,sender", "$select=replyTo,from,sender,toRecipients,ccRecipients",
	"$select=toRecipients,ccRecipients,bccRecipients", "$select=attendees", "$select=organizer",
}

// referenceRead reports whether r is the proxy's read of a referenced
// item, not a call of the caller's: what graphSaw leaves out, as it
// leaves out membership checks.
func referenceRead(r graphsim.Recorded) bool {
	return r.Method == "GET" && slices.Contains(referenceReads, r.RawQuery) &&
		(strings.Contains(r.Path, "/messages/") || strings.Contains(r.Path, "/events/"))
}

func write(t *testing.T, file, text string) {
	t.Helper()
	// Written next to the file and renamed, as an operator's tooling (or a
	// Kubernetes/Container Apps volume update) replaces it.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// serverCert writes a self-signed certificate for 127.0.0.1 and returns a
// pool that trusts it.
func serverCert(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "graph-proxy test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// notReadyless drops the readiness probes' log lines and keeps the last 40.
func notReadyless(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, `"msg":"not ready"`) {
			out = append(out, l)
		}
	}
	return out[max(0, len(out)-40):]
}

// readOnlyRoot returns the command that runs graph-proxy serve as user
// 65532 in a private mount namespace whose root filesystem is read-only but
// for auditDir. It skips the test where namespaces are not permitted.
func readOnlyRoot(t *testing.T, dir, auditDir string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("mount namespaces are not permitted here: %v %s", err, out)
	}
	// The image's user must be able to read what it is given.
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Dir(auditDir), filepath.Dir(binary), binary} {
		os.Chmod(d, 0o755)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.Chmod(filepath.Join(dir, e.Name()), 0o644)
	}
	if err := os.Chown(auditDir, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	script := `set -e
mount --rbind / "$ROOT"
mount -o remount,bind,ro "$ROOT"
mount --bind "$AUDIT" "$ROOT$AUDIT"
exec chroot --userspec=65532:65532 "$ROOT" "$BIN" serve`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = []string{"ROOT=" + root, "AUDIT=" + auditDir, "BIN=" + binary}
	return cmd
}
