package handshake_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/handshake"
)

// server is an http.Server on loopback, served either as the proxy
// serves it (handshake.Listener and Serve) or as net/http would
// (ServeTLS): the reference the listener is held to.
type server struct {
	addr   string
	pool   *x509.CertPool
	mu     sync.Mutex
	log    bytes.Buffer
	states []http.ConnState
	// helloStack is the stack of the goroutine that ran the last
	// handshake, taken as it read the client's hello.
	helloStack string
}

func (s *server) logged() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) connStates() []http.ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

type lockedWriter struct{ s *server }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

func start(t *testing.T, apart bool, readHeaderTimeout time.Duration) *server {
	t.Helper()
	cert, pool := serverCert(t)
	s := &server{pool: pool}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			buf := make([]byte, 64<<10)
			stack := string(buf[:runtime.Stack(buf, false)])
			s.mu.Lock()
			s.helloStack = stack
			s.mu.Unlock()
			return nil, nil
		},
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          log.New(lockedWriter{s}, "", 0),
		ConnState: func(_ net.Conn, st http.ConnState) {
			s.mu.Lock()
			s.states = append(s.states, st)
			s.mu.Unlock()
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		if apart {
			done <- srv.Serve(handshake.Listener(ln, cfg))
		} else {
			done <- srv.ServeTLS(ln, "", "")
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

func (s *server) client(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// The proxy's listener serves HTTP/1.1 and HTTP/2, as ServeTLS does.
func TestServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		h2   bool
		want string
	}{
		{"HTTP/1.1", false, "HTTP/1.1"},
		{"HTTP/2", true, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, true, time.Second)
			c := s.client(tc.h2)
			defer c.CloseIdleConnections()
			resp, err := c.Get("https://" + s.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != tc.want {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// What the listener is for: the handshake runs off the goroutine that
// serves the connection. Under ServeTLS it runs on it, which is what this
// test would see if the listener did not apply.
func TestHandshakeApart(t *testing.T) {
	for _, tc := range []struct {
		apart       bool
		wantServing bool
	}{
		{apart: true, wantServing: false},
		{apart: false, wantServing: true},
	} {
		s := start(t, tc.apart, time.Second)
		c := s.client(false)
		resp, err := c.Get("https://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.CloseIdleConnections()
		s.mu.Lock()
		stack := s.helloStack
		s.mu.Unlock()
		if got := strings.Contains(stack, "net/http.(*conn).serve"); got != tc.wantServing {
			t.Errorf("apart %v: the handshake ran on the serving goroutine: %v, want %v\n%s", tc.apart, got, tc.wantServing, stack)
		}
	}
}

// A client that fails its handshake, or never makes one, meets the
// server exactly as under ServeTLS: the same answer on the wire, the same
// log line, the same connection states (the connection audit reads them).
func TestFailuresAsServeTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		send string // "" sends nothing
		// wantWire and wantLog are what both servers must show.
		wantWire, wantLog string
	}{
		{"plain HTTP to the TLS port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 400 Bad Request", "client sent an HTTP request to an HTTPS server"},
		{"not TLS", "\x16\x03\x01\x00\x05hello-not-a-hello", "", "TLS handshake error"},
		{"silent until the deadline", "", "", "TLS handshake error"},
		{"closed mid-hello", "\x16\x03\x01\x02\x00\x01", "", "TLS handshake error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var outcomes [2]string
			for i, apart := range []bool{false, true} {
				s := start(t, apart, 300*time.Millisecond)
				wire := exchange(t, s.addr, tc.send, tc.name == "closed mid-hello")
				if !strings.HasPrefix(wire, tc.wantWire) {
					t.Errorf("apart %v: wire %q, want it to start %q", apart, wire, tc.wantWire)
				}
				var states []http.ConnState
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					states = s.connStates()
					if len(states) > 0 && states[len(states)-1] == http.StateClosed || time.Now().After(deadline) {
						break
					}
				}
				logged := s.logged()
				if !strings.Contains(strings.ToLower(logged), strings.ToLower(tc.wantLog)) {
					t.Errorf("apart %v: log %q, want %q in it", apart, logged, tc.wantLog)
				}
				outcomes[i] = firstLine(wire) + " | " + stateNames(states)
			}
			if outcomes[0] != outcomes[1] {
				t.Errorf("ServeTLS: %s\nthe listener: %s", outcomes[0], outcomes[1])
			}
		})
	}
}

// exchange sends what to addr over plain TCP, closing its side after
// when half is set, and returns what the server wrote until it closed.
func exchange(t *testing.T, addr, what string, half bool) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if what != "" {
		io.WriteString(c, what)
	}
	if half {
		c.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	return string(got)
}

func firstLine(s string) string {
	l, _, _ := bufio.NewReader(strings.NewReader(s)).ReadLine()
	return string(l)
}

func stateNames(states []http.ConnState) string {
	var names []string
	for _, s := range states {
		names = append(names, s.String())
	}
	return strings.Join(names, ",")
}

// A client that connects and says nothing holds no one else up: Accept
// waits for the handshake to start, not for the client.
func TestSilentClientHoldsNoOneUp(t *testing.T) {
	s := start(t, true, 5*time.Second)
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := s.client(false)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.addr+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a second client, while the first is silent: %v", err)
	}
	resp.Body.Close()
}

func serverCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	// httptest's own certificate, for 127.0.0.1, and a pool that trusts it.
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts.TLS.Certificates[0], pool
}

// BenchmarkHeldConnection: the server's stack memory per HTTP/1.1
// connection whose request waits in the handler, as a call waits on
// Graph, with the handshake on the serving goroutine (ServeTLS) and apart
// (the listener). The handler waits about 4 KB deep, as the proxy's does
// (its stages, then the HTTP/2 client's round trip): deep enough that the
// collector never halves a 16 KB stack (it does below a quarter used).
// The client writes its requests on the connections themselves, with no
// goroutine of its own, so that the stacks counted are the server's: the
// serving goroutine and net/http's background read.
func BenchmarkHeldConnection(b *testing.B) {
	for _, bc := range []struct {
		name  string
		apart bool
	}{{"ServeTLS", false}, {"apart", true}} {
		b.Run(bc.name, func(b *testing.B) {
			release := make(chan struct{})
			var waiting sync.WaitGroup
			s := startHeld(b, bc.apart, func() { waitDeep(7, func() { waiting.Done(); <-release }) })
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var conns []*tls.Conn
			defer func() {
				close(release)
				for _, c := range conns {
					c.Close()
				}
			}()
			for b.Loop() {
				c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool, NextProtos: []string{"http/1.1"}})
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, c)
				waiting.Add(1)
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					b.Fatal(err)
				}
				if len(conns) > 2000 {
					b.Fatal("more connections than the benchmark means to hold: run it with -benchtime=Nx")
				}
			}
			waiting.Wait()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.StackInuse-before.StackInuse)/float64(len(conns)), "stack-B/conn")
		})
	}
}

// startHeld serves a handler that calls wait, for BenchmarkHeldConnection.
func startHeld(b *testing.B, apart bool, wait func()) *server {
	cert, pool := serverCert(b)
	s := &server{pool: pool}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { wait() }), TLSConfig: cfg,
		ErrorLog: log.New(io.Discard, "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() {
		if apart {
			srv.Serve(handshake.Listener(ln, cfg))
		} else {
			srv.ServeTLS(ln, "", "")
		}
	}()
	b.Cleanup(func() { srv.Close() })
	return s
}

// waitDeep calls wait about 512 bytes of stack deeper for each depth.
//
//go:noinline
func waitDeep(depth int, wait func()) byte {
	var frame [480]byte
	if depth == 0 {
		wait()
		return frame[0]
	}
	frame[depth] = byte(depth)
	return waitDeep(depth-1, wait) + frame[depth]
}
