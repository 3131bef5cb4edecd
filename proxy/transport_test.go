package proxy_test

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// graphToken stands for the proxy's Graph token: about 1 KB, as the
// simulator's.
var graphToken = "Bearer " + strings.Repeat("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9", 30)

// TestTransportIndexesTheToken: the transport to Graph keeps HPACK's
// dynamic table, so the proxy's token (1–2.5 KB) crosses once per
// connection and then as an index. Without the table a read's request
// would be ten times the bytes on the customer's egress; it would save
// the transport's goroutine a stack growth per read, a trade measured and
// refused (bench/RESULTS.md, "Request headers without HPACK's table").
// Measured on the wire: the bytes Graph's side reads for a second call
// with the same token. The control, a transport without the table, sends
// the token whole, so the test tells the two apart.
func TestTransportIndexesTheToken(t *testing.T) {
	tests := []struct {
		name    string
		options proxy.TransportOptions
		noTable bool // the control: the token goes whole exactly then
	}{
		{"proxy.NewTransport", proxy.TransportOptions{ResponseHeaderTimeout: 10 * time.Second}, false},
		{"with a receive window (file content)", proxy.TransportOptions{ResponseHeaderTimeout: 10 * time.Second, ReceiveWindow: proxy.FileReceiveWindow}, false},
		{"without the table (the control)", proxy.TransportOptions{ResponseHeaderTimeout: 10 * time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var read atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor != 2 {
					t.Errorf("called over %s; want HTTP/2", r.Proto)
				}
				io.WriteString(w, `{"value":[]}`)
			}))
			srv.Listener = countingListener{srv.Listener, &read}
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()
			tr := graphTransport(srv, tt.options, tt.noTable)
			defer tr.CloseIdleConnections()

			var second int64
			for i := range 2 {
				before := read.Load()
				resp, err := tr.RoundTrip(graphRead(srv.URL, i))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				second = read.Load() - before
			}
			// Huffman-coded, the token is about three quarters of its
			// length; an index is a byte or two.
			if whole := second > int64(len(graphToken))/2; whole != tt.noTable {
				t.Errorf("the second call took %d bytes on the wire with a %d-byte token: sent whole %v, want %v",
					second, len(graphToken), whole, tt.noTable)
			}
		})
	}
}

// BenchmarkTransportHeld holds heldCalls reads at once through the
// transport to Graph, each with the token and a client-request-id of its
// own, as the proxy forwards them, and reports the stack memory per call
// while they wait: the caller's goroutine, the transport's per-request
// goroutine, and the local server's handler (the same in both). With
// HPACK's table (proxy.NewTransport) the transport's goroutine grows to 8
// KB evicting from it; without, a read keeps its first stack. An
// estimate: the runtime reuses stacks earlier rounds left.
func BenchmarkTransportHeld(b *testing.B) {
	const heldCalls = 256
	for _, bc := range []struct {
		name    string
		noTable bool
	}{{"proxy.NewTransport", false}, {"without the table", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var arrived sync.WaitGroup
			release := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived.Done()
				<-release
				io.WriteString(w, `{"value":[]}`)
			}))
			srv.EnableHTTP2 = true
			srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: heldCalls}
			srv.StartTLS()
			defer srv.Close()
			tr := graphTransport(srv, proxy.TransportOptions{ResponseHeaderTimeout: 10 * time.Second}, bc.noTable)
			defer tr.CloseIdleConnections()
			call := func(i int) {
				resp, err := tr.RoundTrip(graphRead(srv.URL, i))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			var stack float64
			n := 0
			for b.Loop() {
				runtime.GC() // stacks shrink, and new ones start, as between two bursts
				before := stackInUse()
				arrived.Add(heldCalls)
				var done sync.WaitGroup
				for range heldCalls {
					n++
					done.Add(1)
					go func(i int) { defer done.Done(); call(i) }(n)
				}
				arrived.Wait()
				stack += float64(stackInUse()) - float64(before)
				close(release)
				done.Wait()
				release = make(chan struct{})
			}
			b.ReportMetric(stack/float64(b.N)/heldCalls, "stack-B/call")
		})
	}
}

// graphTransport is proxy.NewTransport trusting srv, with noTable
// indexing no request header (a table of one byte holds none).
func graphTransport(srv *httptest.Server, o proxy.TransportOptions, noTable bool) *http.Transport {
	o.RootCAs = x509.NewCertPool()
	o.RootCAs.AddCert(srv.Certificate())
	tr := proxy.NewTransport(o)
	if noTable {
		if tr.HTTP2 == nil {
			tr.HTTP2 = &http.HTTP2Config{}
		}
		tr.HTTP2.MaxEncoderHeaderTableSize = 1
	}
	return tr
}

// graphRead is the i-th read of a mailbox's events, with the headers the
// proxy sends Graph.
func graphRead(base string, i int) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, base+"/v1.0/users/user"+strconv.Itoa(i%1000)+"@contoso.example/events?$top=5", nil)
	req.Header.Set("Authorization", graphToken)
	req.Header.Set("client-request-id", fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
	return req
}

// countingListener counts the bytes its connections read.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
