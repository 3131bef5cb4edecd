package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// TestConnRefusal: what a connection's close tells of a request the HTTP
// server dealt with without the handler, on a fresh connection (the server
// reports the request begun) and on a kept-alive one (since it went idle,
// a second read deadline is the one for the next request's headers), with
// and without TLS (under TLS an answer is a write before the close_notify;
// without it, the answer's status was seen as it was written).
func TestConnRefusal(t *testing.T) {
	tests := []struct {
		name              string
		tls, begun        bool
		handled           int64
		idle              bool
		deadlines, writes int64
		answer            int32
		timedOut          bool
		wantStatus        int
		wantReason        string
	}{
		{name: "fresh: never a byte"},
		{name: "fresh, TLS: never a byte", tls: true, writes: 2},
		{name: "fresh: nothing in time", timedOut: true, wantReason: reasonTimedOut},
		{name: "fresh, TLS: nothing in time", tls: true, timedOut: true, writes: 2, wantReason: reasonTimedOut},
		{name: "fresh: plain HTTP to the TLS port", tls: true, answer: 400, wantStatus: 400, wantReason: reasonRefused},
		{name: "fresh: refused", begun: true, writes: 1, answer: 431, wantStatus: 431, wantReason: reasonRefused},
		{name: "fresh, TLS: refused", tls: true, begun: true, writes: 2, wantStatus: 400, wantReason: reasonRefused},
		{name: "fresh: unfinished", begun: true, timedOut: true, wantReason: reasonTimedOut},
		{name: "fresh, TLS: unfinished", tls: true, begun: true, timedOut: true, writes: 1, wantReason: reasonTimedOut},
		{name: "fresh, TLS: cut off", tls: true, begun: true, writes: 1, wantReason: reasonCut},
		{name: "served, closed in a request", begun: true, handled: 1},
		{name: "served, closed in a request, after writes", tls: true, begun: true, handled: 1, writes: 0},
		{name: "served, idle timeout", tls: true, begun: true, handled: 1, idle: true, deadlines: 1, timedOut: true, writes: 1},
		{name: "served, closed by the client", tls: true, begun: true, handled: 1, idle: true, deadlines: 1, writes: 1},
		{name: "served, then refused", begun: true, handled: 1, idle: true, deadlines: 2, writes: 1, answer: 400, wantStatus: 400, wantReason: reasonRefused},
		{name: "served, TLS, then refused", tls: true, begun: true, handled: 1, idle: true, deadlines: 3, writes: 2, wantStatus: 400, wantReason: reasonRefused},
		{name: "served, then unfinished", begun: true, handled: 1, idle: true, deadlines: 2, timedOut: true, wantReason: reasonTimedOut},
		{name: "served, TLS, then unfinished", tls: true, begun: true, handled: 1, idle: true, deadlines: 3, writes: 1, timedOut: true, wantReason: reasonTimedOut},
		{name: "served, then cut off", begun: true, handled: 1, idle: true, deadlines: 2, wantReason: reasonCut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connTrack{tls: tt.tls}
			c.begun.Store(tt.begun)
			c.handled.Store(tt.handled)
			c.idle.Store(tt.idle)
			c.idleDeadlines.Store(tt.deadlines)
			c.writes.Store(tt.writes)
			c.answer.Store(tt.answer)
			c.timedOut.Store(tt.timedOut)
			status, reason, refused := c.refusal()
			if wantRefused := tt.wantReason != ""; refused != wantRefused || status != tt.wantStatus || reason != tt.wantReason {
				t.Errorf("refusal() = %d, %q, %v; want %d, %q, %v", status, reason, refused, tt.wantStatus, tt.wantReason, wantRefused)
			}
		})
	}
}

func TestAnswerStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "refusal", in: "HTTP/1.1 400 Bad Request\r\n", want: 400},
		{name: "HTTP/1.0", in: "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", want: 400},
		{name: "417", in: "HTTP/1.1 417 Expectation Failed\r\n", want: 417},
		{name: "TLS record", in: "\x17\x03\x03\x00\x13HTTP/1.1 400 "},
		{name: "short", in: "HTTP/1.1 40"},
		{name: "not digits", in: "HTTP/1.1 4x0 Bad\r\n"},
		{name: "no space", in: "HTTP/1.1 4000 Bad\r\n"},
		{name: "HTTP/2", in: "HTTP/2.0 400 Bad\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := answerStatus([]byte(tt.in)); got != tt.want {
				t.Errorf("answerStatus(%q) = %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestConnAuditWire runs ConnAudit on a real http.Server, with and
// without TLS, sends each case raw, and checks the connection record
// against what came back on the wire: a record's status is the status the
// client was sent, and a client sent nothing is recorded with status 0
// and errNoAnswer. net/http writes no 408 for a request it times out (but
// a 400 if it broke off mid-line), and a 400 for one its client cut off
// (half-closed) mid-headers.
func TestConnAuditWire(t *testing.T) {
	const headerTimeout = time.Second // ample under -race on a busy machine
	served := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		raw  string
		// halfClose ends the client's sending after raw.
		halfClose bool
		// plainToTLS sends raw without TLS to the TLS server (and is not
		// sent to the other).
		plainToTLS bool
		// wire are the statuses the client receives; the handler answers
		// 404.
		wire []int
		// status is the record's status (-1: no record); tlsStatus the
		// same under TLS, where only ciphertext passes and a refusal is
		// recorded as 400.
		status, tlsStatus int
		reason            string
	}{
		{name: "OPTIONS * reaches the handler", raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", halfClose: true, wire: []int{404}, status: -1, tlsStatus: -1},
		{name: "served, closed by the client", raw: served, halfClose: true, wire: []int{404}, status: -1, tlsStatus: -1},
		{name: "slowloris: half a header", raw: "GET /a HTTP/1.1\r\nHost: x\r\n", wire: nil, status: 0, tlsStatus: 0, reason: reasonTimedOut},
		{name: "nothing in time", raw: "", wire: nil, status: 0, tlsStatus: 0, reason: reasonTimedOut},
		// At the deadline, bufio hands the partial line over as a whole
		// one: without its colon it is malformed, and refused as such.
		{name: "slowloris: half a header line", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-Slow", wire: []int{400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		{name: "slowloris: half a request line", raw: "GET /a HT", wire: []int{400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		{name: "slowloris: a header line without its end", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-Slow: a", wire: nil, status: 0, tlsStatus: 0, reason: reasonTimedOut},
		{name: "half a header, then the client's FIN", raw: "GET /a HTTP/1.1\r\nHost: x\r\n", halfClose: true, wire: []int{400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		{name: "CR in a header", raw: "GET /a HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", wire: []int{400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		{name: "unsupported Expect", raw: "GET /a HTTP/1.1\r\nHost: x\r\nExpect: later\r\n\r\n", wire: []int{417}, status: 417, tlsStatus: 400, reason: reasonRefused},
		{name: "headers over the server's limit", raw: "GET /a HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", wire: []int{431}, status: 431, tlsStatus: 400, reason: reasonRefused},
		{name: "unknown Transfer-Encoding", raw: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", wire: []int{501}, status: 501, tlsStatus: 400, reason: reasonRefused},
		{name: "served, then half a header", raw: served + "GET /b HTTP/1.1\r\nHost: x\r\n", wire: []int{404}, status: 0, tlsStatus: 0, reason: reasonTimedOut},
		{name: "served, then malformed", raw: served + "GET /b HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", wire: []int{404, 400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		{name: "served, then cut off", raw: served + "GET /b HTTP/1.1\r\nHost: x\r\n", halfClose: true, wire: []int{404, 400}, status: 400, tlsStatus: 400, reason: reasonRefused},
		// The server's answer to it is in plaintext, so its status is seen.
		{name: "plain HTTP to the TLS port", raw: served, plainToTLS: true, wire: []int{400}, tlsStatus: 400, reason: reasonRefused},
	}
	for _, withTLS := range []bool{false, true} {
		for _, tt := range tests {
			if tt.plainToTLS && !withTLS {
				continue
			}
			name := tt.name
			want := tt.status
			if withTLS {
				name, want = "TLS/"+name, tt.tlsStatus
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var sink syncBuffer
				audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "test", W: &sink}}, Linger: -1})
				if err != nil {
					t.Fatal(err)
				}
				a := &ConnAudit{Audit: audit, Replica: "test", Log: slog.New(slog.DiscardHandler)}
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					handled(r)
					w.WriteHeader(http.StatusNotFound)
				}))
				srv.Config.ReadHeaderTimeout = headerTimeout
				srv.Config.MaxHeaderBytes = 1 << 10
				srv.Config.DisableGeneralOptionsHandler = true
				srv.Config.ErrorLog = log.New(io.Discard, "", 0)
				srv.Config.ConnContext, srv.Config.ConnState = a.ConnContext, a.ConnState
				srv.Listener = a.Listener(srv.Listener)
				var c net.Conn
				switch {
				case tt.plainToTLS:
					srv.StartTLS()
					c, err = net.Dial("tcp", srv.Listener.Addr().String())
				case withTLS:
					srv.StartTLS()
					roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
					c, err = tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
				default:
					srv.Start()
					c, err = net.Dial("tcp", srv.Listener.Addr().String())
				}
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				defer c.Close()

				io.WriteString(c, tt.raw)
				if tt.halfClose {
					c.(interface{ CloseWrite() error }).CloseWrite()
				}
				c.SetReadDeadline(time.Now().Add(5 * headerTimeout))
				got := readAnswers(t, c)
				if !slices.Equal(got, tt.wire) {
					t.Errorf("the wire: %v; want %v", got, tt.wire)
				}
				c.Close()
				waitUntil(t, "the connection forgotten", func() bool {
					n := 0
					a.conns.Range(func(any, any) bool { n++; return true })
					return n == 0
				})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := audit.Close(ctx, nil); err != nil {
					t.Fatal(err)
				}
				recs := parseRecords(t, sink.Bytes())
				if want < 0 {
					if len(recs) != 0 {
						t.Errorf("records %+v; want none", recs)
					}
					return
				}
				if len(recs) != 1 {
					t.Fatalf("%d records %+v; want 1", len(recs), recs)
				}
				r := recs[0]
				wantErr := ""
				if want == 0 {
					wantErr = errNoAnswer
				}
				if r.Kind != "connection" || r.Decision != "deny" || r.Status != want || r.Reason != tt.reason || r.Error != wantErr || r.Caller.IP != "127.0.0.1" {
					t.Errorf("record %+v; want status %d, reason %q, error %q", r, want, tt.reason, wantErr)
				}
			})
		}
	}
}

// readAnswers reads HTTP/1 answers off c until it closes, and returns
// their statuses.
func readAnswers(t *testing.T, c net.Conn) []int {
	t.Helper()
	br := bufio.NewReader(c)
	var out []int
	for {
		if _, err := br.Peek(1); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server kept the connection open")
			}
			return out
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after answers %v: %v", out, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func parseRecords(t *testing.T, data []byte) []auditlog.Record {
	t.Helper()
	var out []auditlog.Record
	for line := range bytes.Lines(data) {
		var r auditlog.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}
