package hardening

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// optionsAnswer is what a caller got for "OPTIONS *".
type optionsAnswer struct {
	status    int
	requestID string // x-graph-proxy-request-id
	code      string // the Graph-shaped error's code
}

// TestOptionsAsterisk: "OPTIONS *", which net/http answers 200 itself
// unless told not to, is answered by the proxy over HTTP/1.1 and HTTP/2,
// with or without a credential: a Graph-shaped refusal, and exactly one
// audit record each, with the status sent. Nothing reaches Graph, and the
// HTTP/1 connections, closed by their client after the answer, leave no
// connection record.
func TestOptionsAsterisk(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	tok := p.Token()
	tests := []struct {
		name  string
		send  func(t *testing.T, p *proc, tok string) optionsAnswer
		token string
	}{
		{name: "HTTP/1.1, no token", send: optionsH1},
		{name: "HTTP/1.1, vendor token", send: optionsH1, token: tok},
		{name: "HTTP/2, no token", send: optionsH2},
		{name: "HTTP/2, vendor token", send: optionsH2, token: tok},
	}
	ids := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.Graph.ResetRequests()
			got := tt.send(t, p, tt.token)
			t.Logf("OPTIONS *: %d %s", got.status, got.code)
			if got.status < 400 || got.status >= 500 || got.requestID == "" || !strings.HasPrefix(got.code, "graphProxy.") {
				t.Fatalf("got %+v; want the proxy's Graph-shaped refusal", got)
			}
			ids[got.requestID] = got.status
			rec := p.Record(got.requestID)
			if rec.Kind != "" || rec.Method != "OPTIONS" || rec.Path != "*" || rec.Decision != "deny" || rec.Status != got.status {
				t.Errorf("record %+v; want OPTIONS * denied with status %d", rec, got.status)
			}
			if saw := graphSaw(sim); len(saw) != 0 {
				t.Errorf("reached Graph: %s %s", saw[0].Method, saw[0].Path)
			}
		})
	}
	p.Stop()
	n := 0
	for _, r := range p.Records() {
		switch {
		case r.Kind == "connection":
			t.Errorf("connection record %+v; want none", r)
		case r.Method == "OPTIONS":
			n++
			if st, ok := ids[r.RequestID]; !ok || st != r.Status {
				t.Errorf("record %+v answers no OPTIONS * sent (sent: %v)", r, ids)
			}
		}
	}
	if n != len(tests) {
		t.Errorf("%d OPTIONS records; want %d, one per request", n, len(tests))
	}
}

// optionsH1 sends "OPTIONS *" on a connection of its own, reads the
// answer and closes the connection.
func optionsH1(t *testing.T, p *proc, tok string) optionsAnswer {
	t.Helper()
	c := p.rawConn(t)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	raw := "OPTIONS * HTTP/1.1\r\nHost: " + p.Addr + "\r\n"
	if tok != "" {
		raw += "Authorization: Bearer " + tok + "\r\n"
	}
	if _, err := io.WriteString(c, raw+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return optionsAnswer{status: resp.StatusCode, requestID: resp.Header.Get("x-graph-proxy-request-id"), code: errorCode(body)}
}

// optionsH2 sends "OPTIONS *" (:path "*") as stream 1 of a connection of
// its own and reads the stream's answer.
func optionsH2(t *testing.T, p *proc, tok string) optionsAnswer {
	t.Helper()
	h := dialH2(t, p)
	fields := []string{":method", "OPTIONS", ":scheme", "https", ":authority", p.Addr, ":path", "*"}
	if tok != "" {
		fields = append(fields, "authorization", "Bearer "+tok)
	}
	h.headers(1, true, fields...)
	var got optionsAnswer
	var body []byte
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		ended := false
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID != 1 {
				continue
			}
			for _, hf := range f.Fields {
				switch hf.Name {
				case ":status":
					got.status, _ = strconv.Atoi(hf.Value)
				case "x-graph-proxy-request-id":
					got.requestID = hf.Value
				}
			}
			ended = f.StreamEnded()
		case *http2.DataFrame:
			if f.StreamID != 1 {
				continue
			}
			body = append(body, f.Data()...)
			ended = f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("connection closed: %v", f.ErrCode)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.fr.WriteSettingsAck()
			}
		}
		if ended {
			break
		}
	}
	got.code = errorCode(body)
	return got
}

func errorCode(body []byte) string {
	var ge proxytest.GraphError
	if json.Unmarshal(body, &ge) != nil {
		return ""
	}
	return ge.Error.Code
}

// TestSlowClientNotAnswered: a client that sends half a request and is cut
// off by limits.readHeaderTimeout (1 s here) is sent nothing when what it
// sent ends at a line's end (net/http writes no 408, only TLS's
// close_notify), and its connection record says so: status 0,
// "connection closed without an answer". Where it ends mid-line, net/http
// reads the part as a whole line, malformed, and sends a 400, as it does
// to a client that ends its half request itself; the record says 400.
// Each case leaves exactly one connection record.
func TestSlowClientNotAnswered(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	host := "Host: " + p.Addr + "\r\n"
	served := "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + "Authorization: Bearer " + p.Token() + "\r\n\r\n"
	half := "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host
	tests := []struct {
		name string
		raw  string
		// halfClose ends the client's sending after raw.
		halfClose bool
		// wire are the statuses the client is sent.
		wire       []int
		status     int
		reason     string
		wantErr    string
		timeoutCut bool // the server's header timeout ends the connection
	}{
		{name: "half a header", raw: half, wire: nil, status: 0,
			reason: "no complete request within the read timeout", wantErr: "connection closed without an answer", timeoutCut: true},
		{name: "half a header after a served request", raw: served + half, wire: []int{200}, status: 0,
			reason: "no complete request within the read timeout", wantErr: "connection closed without an answer", timeoutCut: true},
		{name: "half a header line", raw: half + "X-Slow", wire: []int{400}, status: 400,
			reason: "request refused by the HTTP server: malformed, oversized or incomplete", timeoutCut: true},
		{name: "half a header, then the client's FIN", raw: half, halfClose: true, wire: []int{400}, status: 400,
			reason: "request refused by the HTTP server: malformed, oversized or incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := connectionRecords(p)
			c := p.rawConn(t)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			if tt.halfClose {
				c.CloseWrite()
			}
			out, err := io.ReadAll(c) // until the server closes
			took := time.Since(start)
			if err != nil {
				t.Fatalf("after %q: %v", out, err)
			}
			if got := statuses(string(out)); !slices.Equal(got, tt.wire) {
				t.Errorf("the wire: %v (%q); want %v", got, out, tt.wire)
			}
			if tt.timeoutCut {
				wantHeaderTimeout(t, took)
			}
			wantConnectionRecord(t, p, before, tt.status, tt.reason, tt.wantErr)
		})
	}
	p.Stop()
	if n := connectionRecords(p); n != len(tests) {
		t.Errorf("%d connection records in all; want %d", n, len(tests))
	}
}

// TestHandshakeNeverCompleted: a client that opens a connection to the TLS
// port and never completes its handshake — silent, stopped mid-hello, or
// speaking plain HTTP — leaves a connection record, though it never sent
// a request the server could read. The handshake runs on a goroutine of
// its own (internal/handshake); the server still waits for it under its
// own deadline (limits.readHeaderTimeout, 1 s here), and the connection
// audit still sees what it did.
func TestHandshakeNeverCompleted(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	tests := []struct {
		name       string
		raw        string
		wire       string // what the client is sent, from its start
		status     int
		reason     string
		wantErr    string
		timeoutCut bool
	}{
		{name: "silent", timeoutCut: true,
			reason: "no complete request within the read timeout", wantErr: "connection closed without an answer"},
		{name: "half a ClientHello", raw: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", timeoutCut: true,
			reason: "no complete request within the read timeout", wantErr: "connection closed without an answer"},
		{name: "plain HTTP", raw: "GET /v1.0/users HTTP/1.1\r\nHost: " + p.Addr + "\r\n\r\n", wire: "HTTP/1.0 400 Bad Request", status: 400,
			reason: "request refused by the HTTP server: malformed, oversized or incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := connectionRecords(p)
			c, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(c) // until the server closes
			took := time.Since(start)
			if err != nil {
				t.Fatalf("after %q: %v", out, err)
			}
			if !strings.HasPrefix(string(out), tt.wire) || tt.wire == "" && len(out) > 0 {
				t.Errorf("the wire: %q; want %q", out, tt.wire)
			}
			if tt.timeoutCut {
				wantHeaderTimeout(t, took)
			}
			wantConnectionRecord(t, p, before, tt.status, tt.reason, tt.wantErr)
		})
	}
}

// wantConnectionRecord checks that a connection left one connection
// record since the first before, and what it says.
func wantConnectionRecord(t *testing.T, p *proc, before, status int, reason, wantErr string) {
	t.Helper()
	recs := p.RecordsWhere(before+1, func(r auditlog.Record) bool { return r.Kind == "connection" })
	r := recs[len(recs)-1]
	if r.Status != status || r.Reason != reason || r.Error != wantErr || r.Decision != "deny" || r.Caller.IP != "127.0.0.1" {
		t.Errorf("record %+v; want status %d, reason %q, error %q", r, status, reason, wantErr)
	}
	if n := connectionRecords(p); n != before+1 {
		t.Errorf("%d connection records; want %d", n, before+1)
	}
}

// wantHeaderTimeout checks that the server closed a connection after
// about limits.readHeaderTimeout (1 s here).
func wantHeaderTimeout(t *testing.T, took time.Duration) {
	t.Helper()
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("closed after %v; want about limits.readHeaderTimeout (1 s)", took)
	}
}

// TestHandshakeFailedRecorded: under TLS, a client that sent something and
// failed its handshake leaves a connection record with the handshake's
// error: one that does not speak TLS, one that offers only versions the
// proxy refuses, one cut off mid-hello, and (mTLS) one presenting a client
// certificate no trusted CA issued. A client that connects and closes
// without sending a byte (a TCP probe) leaves none.
func TestHandshakeFailedRecorded(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	dir := t.TempDir()
	cas := filepath.Join(dir, "vendor-cas.pem")
	write(t, cas, string(sim.CAPEM())) // trusted for client certificates
	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS=" + cas}})
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	// Not a vendor's: httptest's own certificate, issued by no trusted CA.
	untrusted := httptest.NewUnstartedServer(nil)
	untrusted.StartTLS()
	untrusted.Close()
	handshake := func(cfg *tls.Config) func(t *testing.T, c net.Conn) {
		return func(t *testing.T, c net.Conn) {
			cfg.RootCAs, cfg.ServerName = p.Roots, "127.0.0.1"
			tc := tls.Client(c, cfg)
			defer tc.Close()
			if err := tc.Handshake(); err == nil {
				// TLS 1.3 sends the client's certificate after the
				// server's Finished: the server's refusal arrives at
				// the first read.
				_, err = tc.Read(make([]byte, 1))
				if err == nil {
					t.Fatal("the handshake succeeded")
				}
			}
		}
	}
	before := connectionRecords(p)
	dial(t).Close() // a probe: nothing sent, nothing recorded

	for _, tt := range []struct {
		name    string
		client  func(t *testing.T, c net.Conn)
		wantErr string // part of the record's error
	}{
		{name: "not TLS", client: func(t *testing.T, c net.Conn) {
			io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
			io.ReadAll(c)
		}, wantErr: "does not look like a TLS handshake"},
		{name: "TLS 1.1 only", client: handshake(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}), wantErr: "unsupported versions"},
		{name: "cut off mid-hello", client: func(t *testing.T, c net.Conn) {
			io.WriteString(c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
			c.(*net.TCPConn).CloseWrite()
			io.ReadAll(c)
		}, wantErr: "EOF"},
		{name: "an untrusted client certificate", client: handshake(&tls.Config{
			// Sent whatever CAs the proxy names (Go's client would
			// otherwise send none, and the call go on without one).
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &untrusted.TLS.Certificates[0], nil
			},
		}),
			wantErr: "failed to verify certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.client(t, dial(t))
			recs := p.RecordsWhere(before+1, func(r auditlog.Record) bool { return r.Kind == "connection" })
			r := recs[len(recs)-1]
			if r.Reason != "TLS handshake failed" || r.Status != 0 || r.Decision != "deny" || !strings.Contains(r.Error, tt.wantErr) || r.Caller.IP != "127.0.0.1" {
				t.Errorf("record %+v; want the handshake's failure, %q in its error", r, tt.wantErr)
			}
			if n := connectionRecords(p); n != before+1 {
				t.Errorf("%d connection records; want %d (the probe's none)", n, before+1)
			}
			before++
		})
	}
}
