package proxy_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// BenchmarkFileContent moves one large file each way through a proxy
// under a content rule (content.go) and reports what it costs the proxy:
// a download by Graph's 302 to a file host, and a simple upload
// (PUT …/content) streamed to Graph. The body is generated as it is sent
// (a repeating 64 KiB pattern), never held whole in memory or written to
// disk; its size is -content-bytes (default 1 GiB):
//
//	go test -run '^$' -bench FileContent -benchtime 1x ./proxy
//	go test -run '^$' -bench FileContent -benchtime 1x ./proxy -content-bytes 67108864
//
// Every hop is loopback TLS with HTTP/2, as in production. The client,
// Graph (a small handler that answers the download with a 302 and takes
// the upload) and the file host (which streams the bytes) run in the
// benchmark's process; the proxy under test runs in a process of its own
// — this test binary again, as TestContentProxyProcess — so that its
// memory and CPU are its own:
//
//   - bare: an httputil.ReverseProxy relaying the same bytes, at Go's
//     default GC target, as a Go proxy runs unless tuned;
//   - graph-proxy: the Handler with a content rule, its file hosts'
//     transport as serve builds it, and the GC paced as serve paces it
//     (internal/gcpace) unless GOGC is set.
//
// Metrics, per operation (one file moved), all of the proxy's process:
//
//   - MB/s: throughput (MB = 10^6 bytes, as Go's own);
//   - cpu-ns/MB: the proxy's CPU time (user and system) per MB;
//   - idle-rss-MB: its resident set at the idle mark (after a small
//     file has passed, a GC, a second at rest and free memory handed
//     back);
//   - peak-rss-MB: how far the resident set rose above the idle mark at
//     its peak during the transfer (VmHWM, reset at the mark by writing 5
//     to /proc/self/clear_refs: Linux only, elsewhere it is skipped);
//   - x-bare-cpu (graph-proxy only): its cpu-ns/MB over the bare proxy's
//     in the same run, the inverse of their streaming throughput per core.
//
// It is a benchmark, never a timed test: nothing here fails on a figure.
func BenchmarkFileContent(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("peak RSS is read from /proc (Linux only)")
	}
	size := *contentBytes
	if size <= 0 || size > 250<<30 {
		b.Fatalf("-content-bytes %d: want 1 to 250 GiB", size)
	}
	bed := newContentBed(b, size)
	for _, dir := range []string{"download", "upload"} {
		b.Run(dir, func(b *testing.B) {
			var bare float64
			for _, cfg := range []string{"bare", "graph-proxy"} {
				b.Run(cfg, func(b *testing.B) {
					cpu := bed.measure(b, dir, cfg)
					if cfg == "bare" {
						bare = cpu
					} else if bare > 0 {
						b.ReportMetric(cpu/bare, "x-bare-cpu")
					}
				})
			}
		})
	}
}

var contentBytes = flag.Int64("content-bytes", 1<<30, "bytes BenchmarkFileContent moves each way (generated as sent, never held)")

// contentWarmBytes is the small file each configuration moves before it
// is measured (smaller if -content-bytes is: the rule allows no more).
const contentWarmBytes = 1 << 20

// contentBed is the benchmark's servers, client and proxy processes.
type contentBed struct {
	size    int64
	graph   *httptest.Server // 302s downloads, takes uploads
	host    *httptest.Server // the file host: streams files
	pool    *x509.CertPool
	proxies map[string]*proxyProcess
	client  *http.Client
}

// contentPolicy lets the bench caller download and upload one file of at
// most maxBytes.
func contentPolicy(maxBytes int64) string {
	return fmt.Sprintf(`version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: file-read, method: GET, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: %d } }
  - { id: file-write, method: PUT, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: %d } }
`, maxBytes, maxBytes)
}

func newContentBed(b *testing.B, size int64) *contentBed {
	b.Helper()
	bed := &contentBed{size: size, proxies: map[string]*proxyProcess{}}
	// The item's id is the file's length: one Graph, one file host, any
	// size (the warm-up's and the measured one).
	graph := http.NewServeMux()
	graph.HandleFunc("GET /v1.0/drives/{drive}/items/{item}/content", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("item"), 10, 64)
		if err != nil {
			http.Error(w, "no such item", http.StatusNotFound)
			return
		}
		w.Header().Set("Location", bed.host.URL+"/download/"+strconv.FormatInt(n, 10)+"?tempauth=bench")
		w.WriteHeader(http.StatusFound)
	})
	graph.HandleFunc("PUT /v1.0/drives/{drive}/items/{item}/content", func(w http.ResponseWriter, r *http.Request) {
		want, err := strconv.ParseInt(r.PathValue("item"), 10, 64)
		got, cerr := io.Copy(io.Discard, r.Body)
		if err != nil || cerr != nil || got != want {
			http.Error(w, fmt.Sprintf("got %d bytes (%v); want %s", got, cerr, r.PathValue("item")), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"01BENCHITEM","name":"bench.bin","size":%d,"file":{"mimeType":"application/octet-stream"}}`, got)
	})
	host := http.NewServeMux()
	host.HandleFunc("GET /download/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil {
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, &generated{left: n})
	})
	bed.graph = startTLS(b, graph)
	bed.host = startTLS(b, host)
	bed.pool = x509.NewCertPool()
	bed.pool.AddCert(bed.graph.Certificate())
	bed.pool.AddCert(bed.host.Certificate())
	for _, cfg := range []string{"bare", "graph-proxy"} {
		bed.proxies[cfg] = startProxyProcess(b, contentSpec{Config: cfg, Graph: bed.graph.URL, Host: bed.host.URL,
			CA: bed.graph.Certificate().Raw, Size: size})
		bed.pool.AddCert(bed.proxies[cfg].cert)
	}
	bed.client = &http.Client{Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: bed.pool, ResponseHeaderTimeout: 30 * time.Second})}
	b.Cleanup(bed.client.CloseIdleConnections)
	return bed
}

// startTLS serves h over TLS with HTTP/2 on loopback until the test or
// benchmark ends.
func startTLS(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// transfer moves one file of n bytes in dir through cfg.
func (bed *contentBed) transfer(ctx context.Context, dir, cfg string, n int64) error {
	path := "/v1.0/drives/b!bench/items/" + strconv.FormatInt(n, 10) + "/content"
	if dir == "download" && cfg == "bare" {
		path = "/download/" + strconv.FormatInt(n, 10) + "?tempauth=bench"
	}
	method, want := http.MethodGet, http.StatusOK
	var body io.Reader
	if dir == "upload" {
		method, want, body = http.MethodPut, http.StatusCreated, &generated{left: n}
	}
	req, err := http.NewRequestWithContext(ctx, method, bed.proxies[cfg].url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer vendor-token")
	if body != nil {
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := bed.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode != want:
		return fmt.Errorf("%s %s through %s: status %d; want %d", method, path, cfg, resp.StatusCode, want)
	case err != nil:
		return fmt.Errorf("%s through %s: %d bytes, then %w", method, cfg, got, err)
	case dir == "download" && got != n:
		return fmt.Errorf("download through %s: got %d bytes; want %d", cfg, got, n)
	}
	return nil
}

// measure moves b.N files of bed.size bytes in dir through cfg, reports
// the metrics, and returns the proxy's CPU time per MB.
func (bed *contentBed) measure(b *testing.B, dir, cfg string) float64 {
	ctx := b.Context()
	if err := bed.transfer(ctx, dir, cfg, min(contentWarmBytes, bed.size)); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	p := bed.proxies[cfg]
	idle := p.ask(b, "mark")
	b.SetBytes(bed.size)
	b.ResetTimer()
	for range b.N {
		if err := bed.transfer(ctx, dir, cfg, bed.size); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	end := p.ask(b, "read")
	mb := float64(bed.size) * float64(b.N) / 1e6
	perMB := float64(end.CPUNanos-idle.CPUNanos) / mb
	b.ReportMetric(perMB, "cpu-ns/MB")
	b.ReportMetric(float64(idle.PeakKB)*1024/1e6, "idle-rss-MB")
	b.ReportMetric(float64(end.PeakKB-idle.PeakKB)*1024/1e6, "peak-rss-MB")
	return perMB
}

// contentSpec is what a proxy process serves (TestContentProxyProcess).
type contentSpec struct {
	Config      string // bare or graph-proxy
	Graph, Host string // base URLs
	CA          []byte // DER of the certificate both present (httptest's)
	Size        int64  // the rule's content limit
}

// contentProcessEnv carries a contentSpec, as JSON, to the test binary
// run as a proxy process.
const contentProcessEnv = "GRAPH_PROXY_CONTENT_PROXY"

// A proxyProcess is a proxy under test in a process of its own. It reads
// commands on its standard input, one a line, and answers each with a
// line of JSON (a proxyReading); the first line it writes is its address
// and certificate.
type proxyProcess struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	url  string
	cert *x509.Certificate
}

// proxyReading is the proxy process's CPU time so far and its peak
// resident set since the last mark.
type proxyReading struct {
	CPUNanos int64
	PeakKB   int64
}

func startProxyProcess(b *testing.B, spec contentSpec) *proxyProcess {
	b.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestContentProxyProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), contentProcessEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &proxyProcess{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		in.Close() // the process ends at the end of its input
		cmd.Wait()
	})
	var hello struct {
		URL  string
		Cert []byte
	}
	p.next(b, &hello)
	if p.cert, err = x509.ParseCertificate(hello.Cert); err != nil {
		b.Fatal(err)
	}
	p.url = hello.URL
	return p
}

// next reads the process's next line of JSON into v; the test framework's
// own lines ("PASS", "=== RUN") are passed over.
func (p *proxyProcess) next(b *testing.B, v any) {
	b.Helper()
	for p.out.Scan() {
		line, ok := strings.CutPrefix(p.out.Text(), "PROXY ")
		if ok {
			if err := json.Unmarshal([]byte(line), v); err != nil {
				b.Fatalf("proxy process: %q: %v", line, err)
			}
			return
		}
	}
	b.Fatalf("proxy process (%s) ended: %v", p.cmd.Path, p.out.Err())
}

func (p *proxyProcess) ask(b *testing.B, command string) proxyReading {
	b.Helper()
	if _, err := io.WriteString(p.in, command+"\n"); err != nil {
		b.Fatal(err)
	}
	var r proxyReading
	p.next(b, &r)
	return r
}

// TestContentProxyProcess is the proxy of BenchmarkFileContent, in the
// process the benchmark starts; run otherwise, it is skipped. Commands:
// "mark" collects the garbage, hands free memory back and resets the
// peak resident set; "read" reads; both answer with a proxyReading.
func TestContentProxyProcess(t *testing.T) {
	js := os.Getenv(contentProcessEnv)
	if js == "" {
		t.Skip("the proxy process of BenchmarkFileContent")
	}
	var spec contentSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(spec.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	graphURL, _ := url.Parse(spec.Graph)
	hostURL, _ := url.Parse(spec.Host)
	outbound := proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 30 * time.Second})
	var h http.Handler
	switch spec.Config {
	case "bare":
		// The bare proxy relays to whichever upstream the path is for:
		// the file host's downloads, Graph's uploads.
		h = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				if strings.HasPrefix(pr.In.URL.Path, "/download/") {
					pr.SetURL(hostURL)
				} else {
					pr.SetURL(graphURL)
				}
			},
			Transport: outbound,
		}
	default:
		if os.Getenv("GOGC") == "" {
			defer gcpace.Start(gcpace.Config{}).Stop() // serve's bounds are the defaults
		}
		key := make([]byte, 32)
		rand.Read(key)
		sealer, err := filelink.NewSealer(seal.Static{key})
		if err != nil {
			t.Fatal(err)
		}
		h = benchHandlerWith(t, contentPolicy(spec.Size), func(o *proxy.Options) {
			o.Graph, o.Transport, o.UpstreamIdle = graphURL, outbound, 30*time.Second
			// The file hosts' transport as serve builds it (FileReceiveWindow).
			o.Files = &proxy.Files{Hosts: filelink.Hosts{}.With(hostURL.Host), Links: sealer,
				Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 30 * time.Second, ReceiveWindow: proxy.FileReceiveWindow})}
		})
	}
	srv := startTLS(t, h)
	say := func(v any) {
		js, _ := json.Marshal(v)
		fmt.Printf("PROXY %s\n", js)
	}
	say(struct {
		URL  string
		Cert []byte
	}{srv.URL, srv.Certificate().Raw})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "mark":
			// At rest, as a proxy between calls is: a second without
			// any, long enough for the GC pacer to see the calls gone.
			runtime.GC()
			time.Sleep(time.Second)
			debug.FreeOSMemory()
			// Writing 5 resets VmHWM to the current RSS (Linux 4.0 and
			// later; proc(5)).
			if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
				t.Fatalf("cannot reset the peak RSS: %v", err)
			}
		case "read":
		default:
			t.Fatalf("unknown command %q", in.Text())
		}
		say(proxyReading{CPUNanos: cpuNanos(), PeakKB: procStatusKB(t, "VmHWM")})
	}
}

// procStatusKB is a "kB" field of /proc/self/status.
func procStatusKB(tb testing.TB, field string) int64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("%s: %q: %v", field, v, err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// cpuNanos is the process's CPU time so far, user and system.
func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// contentPattern is what generated repeats: 64 KiB, not all one byte.
var contentPattern = func() []byte {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i*131 + i>>8)
	}
	return p
}()

// generated is a file's body made as it is read: left more bytes of
// contentPattern, over and over.
type generated struct {
	left int64
	off  int
}

func (g *generated) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := copy(p, contentPattern[g.off:])
	g.off = (g.off + n) % len(contentPattern)
	g.left -= int64(n)
	return n, nil
}

// WriteTo writes the pattern itself, without a copy into a buffer (the
// file host's io.Copy).
func (g *generated) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for g.left > 0 {
		chunk := contentPattern[g.off:]
		if int64(len(chunk)) > g.left {
			chunk = chunk[:g.left]
		}
		n, err := w.Write(chunk)
		total += int64(n)
		g.left -= int64(n)
		g.off = (g.off + n) % len(contentPattern)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
