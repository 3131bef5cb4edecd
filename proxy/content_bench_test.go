package proxy_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// BenchmarkFileContent moves one large file each way through the proxy
// under a content rule (content.go) and reports what it costs: a download
// by Graph's 302 to a file host, and a simple upload (PUT …/content)
// streamed to Graph. The body is generated as it is sent (a repeating
// 64 KiB pattern), never held whole in memory or written to disk; its size
// is -content-bytes (default 1 GiB):
//
//	go test -run '^$' -bench FileContent -benchtime 1x ./proxy
//	go test -run '^$' -bench FileContent -benchtime 1x ./proxy -content-bytes 67108864
//
// Every hop is loopback TLS with HTTP/2, as in production: the client, the
// proxy under test (an httptest server), Graph (a small handler that
// answers the download with a 302 and takes the upload) and the file host
// (which streams the bytes) are servers and clients in this process. Each
// direction runs three configurations in turn over the same client
// transport, the same upstream servers and the same outbound transport
// (proxy.NewTransport):
//
//   - direct: the client to the file host (download) or Graph (upload),
//     no proxy: what the client and the upstream cost;
//   - bare: an httputil.ReverseProxy relaying the same bytes;
//   - graph-proxy: the Handler, with a content rule.
//
// Metrics, per operation (one file moved), and gogc, the GC target:
//
//   - MB/s: throughput (MB = 10^6 bytes, as Go's own);
//   - cpu-ns/MB: the process's CPU time (user and system) per MB — the
//     client's, the upstream servers' and the proxy's together;
//   - peak-rss-MB: how far the resident set rose above where it was
//     idle (after a GC that returned free memory to the system), at its
//     peak during the transfer: VmHWM, reset beforehand by writing 5 to
//     /proc/self/clear_refs. Linux only: elsewhere the benchmark is
//     skipped;
//   - heap-inuse-MB and peak-heap-MB: the Go heap's in-use spans when
//     the transfer ended, and at their peak (sampled every few ms),
//     above where they were before it;
//   - x-bare-cpu (graph-proxy only): its cpu-ns/MB over the bare proxy's
//     in the same run; x-bare-own-cpu: the same ratio with direct's
//     cpu-ns/MB taken from both, i.e. the two proxies' own work (the
//     inverse of their streaming throughput per core).
//
// The three share one process, so every figure is the client's, the
// upstreams' and the proxy's together; direct's is what the first two
// take. The GC target is graph-proxy's own (400) unless GOGC is set.
// -content-heap-profile PREFIX writes, for each configuration, the heap
// live halfway through its transfer: where the memory held is.
//
// It is a benchmark, never a timed test: nothing here fails on a figure.
// Each configuration first moves a small file, outside the measurement,
// so that connections and their buffers exist before the idle mark.
func BenchmarkFileContent(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("peak RSS is read from /proc/self (Linux only)")
	}
	size := *contentBytes
	if size <= 0 || size > 250<<30 {
		b.Fatalf("-content-bytes %d: want 1 to 250 GiB", size)
	}
	// graph-proxy's GC target (cmd/graph-proxy/gc.go): 400 unless GOGC is
	// set. It sets how much garbage the heap holds between collections,
	// and so most of the peak RSS; with GOGC=100 (the test's default)
	// the figures are lower.
	gogc := 400
	if os.Getenv("GOGC") != "" {
		gogc = debug.SetGCPercent(-1) // read it back; -1 is off
		debug.SetGCPercent(gogc)
	} else {
		old := debug.SetGCPercent(gogc)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
	bed := newContentBed(b, size)
	bed.gogc = gogc
	for _, dir := range []string{"download", "upload"} {
		b.Run(dir, func(b *testing.B) {
			// The configurations run in order, each to the end: the last
			// run of direct and bare (the one reported) is the baseline of
			// graph-proxy's ratios.
			var direct, bare float64
			for _, cfg := range []string{"direct", "bare", "graph-proxy"} {
				b.Run(cfg, func(b *testing.B) {
					cpu := bed.measure(b, dir, cfg)
					switch cfg {
					case "direct":
						direct = cpu
					case "bare":
						bare = cpu
					default:
						if bare > 0 {
							b.ReportMetric(cpu/bare, "x-bare-cpu")
						}
						if direct > 0 && bare > direct && cpu > direct {
							b.ReportMetric((cpu-direct)/(bare-direct), "x-bare-own-cpu")
						}
					}
				})
			}
		})
	}
}

var (
	contentBytes       = flag.Int64("content-bytes", 1<<30, "bytes BenchmarkFileContent moves each way (generated as sent, never held)")
	contentHeapProfile = flag.String("content-heap-profile", "", "BenchmarkFileContent writes `PREFIX`-DIR-CONFIG.pprof, the heap live halfway through each measured transfer (after a GC)")
)

// contentWarmBytes is the small file each configuration moves before it
// is measured (smaller if -content-bytes is: the rule allows no more).
const contentWarmBytes = 1 << 20

// contentBed is the benchmark's servers and client.
type contentBed struct {
	size   int64
	gogc   int              // the GC target, reported with each result
	graph  *httptest.Server // 302s downloads, takes uploads
	host   *httptest.Server // the file host: streams files
	bare   *httptest.Server // httputil.ReverseProxy
	gp     *httptest.Server // graph-proxy's Handler
	client *http.Client
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
	bed := &contentBed{size: size}
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

	// One pool trusts every server (httptest gives them all the same
	// certificate, but that is its business).
	pool := x509.NewCertPool()
	pool.AddCert(bed.graph.Certificate())
	pool.AddCert(bed.host.Certificate())
	outbound := func() http.RoundTripper {
		return proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 30 * time.Second})
	}
	graphURL, _ := url.Parse(bed.graph.URL)
	hostURL, _ := url.Parse(bed.host.URL)

	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := filelink.NewSealer(seal.Static{key})
	if err != nil {
		b.Fatal(err)
	}
	h := benchHandlerWith(b, contentPolicy(size), func(o *proxy.Options) {
		o.Graph, o.Transport, o.UpstreamIdle = graphURL, outbound(), 30*time.Second
		// The file hosts' transport as serve builds it (FileReceiveWindow).
		o.Files = &proxy.Files{Hosts: filelink.Hosts{}.With(hostURL.Host), Links: sealer,
			Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 30 * time.Second, ReceiveWindow: proxy.FileReceiveWindow})}
	})
	bed.gp = startTLS(b, h)

	// The bare proxy relays to whichever upstream the path is for: the
	// file host's downloads, Graph's uploads.
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if strings.HasPrefix(pr.In.URL.Path, "/download/") {
				pr.SetURL(hostURL)
			} else {
				pr.SetURL(graphURL)
			}
		},
		Transport: outbound(),
	}
	bed.bare = startTLS(b, bare)
	pool.AddCert(bed.gp.Certificate())
	pool.AddCert(bed.bare.Certificate())
	bed.client = &http.Client{Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 30 * time.Second})}
	b.Cleanup(bed.client.CloseIdleConnections)
	return bed
}

// startTLS serves h over TLS with HTTP/2 on loopback until the benchmark
// ends.
func startTLS(b *testing.B, h http.Handler) *httptest.Server {
	b.Helper()
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	b.Cleanup(s.Close)
	return s
}

// transfer moves one file of n bytes in dir through cfg; halfway, if not
// nil, is called once half of it has passed the client.
func (bed *contentBed) transfer(ctx context.Context, dir, cfg string, n int64, halfway func()) error {
	item := "/v1.0/drives/b!bench/items/" + strconv.FormatInt(n, 10) + "/content"
	var base, path string
	switch cfg {
	case "direct":
		base = bed.graph.URL
		if dir == "download" {
			base = bed.host.URL
		}
	case "bare":
		base = bed.bare.URL
	default:
		base = bed.gp.URL
	}
	path = item
	if dir == "download" && cfg != "graph-proxy" {
		path = "/download/" + strconv.FormatInt(n, 10) + "?tempauth=bench"
	}
	method, want := http.MethodGet, http.StatusOK
	var body io.Reader
	if dir == "upload" {
		method, want, body = http.MethodPut, http.StatusCreated, &generated{left: n}
		if halfway != nil {
			body = &atHalf{Reader: body, half: n / 2, f: halfway}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
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
	var src io.Reader = resp.Body
	if dir == "download" && halfway != nil {
		src = &atHalf{Reader: src, half: n / 2, f: halfway}
	}
	got, err := io.Copy(io.Discard, src)
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
// the metrics, and returns the CPU time per MB.
func (bed *contentBed) measure(b *testing.B, dir, cfg string) float64 {
	ctx := b.Context()
	if err := bed.transfer(ctx, dir, cfg, min(contentWarmBytes, bed.size), nil); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	b.SetBytes(bed.size)
	b.ReportAllocs()
	var halfway func()
	if *contentHeapProfile != "" {
		halfway = func() { writeHeapProfile(b, *contentHeapProfile+"-"+dir+"-"+cfg+".pprof") }
	}
	m := startMeter(b)
	b.ResetTimer()
	for range b.N {
		if err := bed.transfer(ctx, dir, cfg, bed.size, halfway); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(bed.gogc), "gogc")
	return m.stop(b, float64(bed.size)*float64(b.N)/1e6)
}

// atHalf calls f once, when half has been read.
type atHalf struct {
	io.Reader
	read, half int64
	f          func()
}

func (a *atHalf) Read(p []byte) (int, error) {
	n, err := a.Reader.Read(p)
	before := a.read
	a.read += int64(n)
	if before < a.half && a.read >= a.half {
		a.f()
	}
	return n, err
}

// writeHeapProfile writes what the heap holds live now: after a GC, so
// that in-use is what the transfer keeps, not its garbage.
func writeHeapProfile(b *testing.B, name string) {
	runtime.GC()
	f, err := os.Create(name)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Error(err)
	}
}

// meter measures one benchmark's transfers: CPU time, the resident set's
// peak and the heap's.
type meter struct {
	cpu      int64
	rssKB    int64  // the resident set at the idle mark
	heap     uint64 // heap spans in use at the idle mark
	peakHeap uint64
	done     chan struct{}
	wg       sync.WaitGroup
}

func startMeter(b *testing.B) *meter {
	b.Helper()
	// The idle mark: garbage collected and free memory handed back, so
	// what the transfer takes shows as growth.
	runtime.GC()
	debug.FreeOSMemory()
	m := &meter{heap: heapInUse(), done: make(chan struct{})}
	m.peakHeap = m.heap
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux
	// 4.0 and later; proc(5)).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
	m.rssKB = procStatusKB(b, "VmHWM")
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				m.peakHeap = max(m.peakHeap, heapInUse())
			}
		}
	}()
	m.cpu = cpuNanos()
	return m
}

// stop ends the measurement of mb MB moved and reports it; it returns the
// CPU time per MB.
func (m *meter) stop(b *testing.B, mb float64) float64 {
	b.Helper()
	cpu := cpuNanos() - m.cpu
	heap := heapInUse()
	hwm := procStatusKB(b, "VmHWM")
	close(m.done)
	m.wg.Wait() // peakHeap is the sampler's until it has returned
	peak := max(m.peakHeap, heap)
	perMB := float64(cpu) / mb
	b.ReportMetric(perMB, "cpu-ns/MB")
	b.ReportMetric(float64(hwm-m.rssKB)*1024/1e6, "peak-rss-MB")
	b.ReportMetric((float64(heap)-float64(m.heap))/1e6, "heap-inuse-MB")
	b.ReportMetric(float64(peak-m.heap)/1e6, "peak-heap-MB")
	return perMB
}

// heapInUse is the Go heap's spans in use (MemStats.HeapInuse), read
// without stopping the world.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// procStatusKB is a "kB" field of /proc/self/status.
func procStatusKB(b *testing.B, field string) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %q: %v", field, v, err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
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
