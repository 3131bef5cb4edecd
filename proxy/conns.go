package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// ConnAudit writes an audit record for each HTTP/1 request the HTTP server
// dealt with before the handler saw it: malformed framing (conflicting
// Content-Length and Transfer-Encoding, a bad request line), headers beyond
// the server's hard limit, an Expect the server does not support, a
// request cut off by its client, or a request not complete within the read
// timeout (slowloris); and, under TLS, a connection whose handshake failed
// after its client sent something (not TLS, nothing the server accepts, a
// client certificate no trusted CA issued: status 0, the handshake's error).
// None of them reached Graph, but the security team sees that they were
// tried.
//
// The record says what the caller was sent. The server refuses most of
// these with a status of its own (400, 417, 431, 501, 505); on a
// connection without TLS the status is read off the answer as it is
// written, and under TLS, where only ciphertext passes, it is recorded as
// 400. net/http never writes the 408 the RFC allows: at the read timeout
// it closes the connection without an answer, and the record has status 0
// and the error "connection closed without an answer" — unless the
// request broke off mid-line, which it then reads as a whole line,
// malformed, and refuses with 400 like any other (so does a client that
// closes its side mid-request).
//
// The server reports a connection's first request as begun (StateActive)
// once its first bytes are read, whether or not it reaches the handler. On
// a kept-alive connection it does not: the next request's bytes are
// usually read while the connection is idle (or even by the server's
// background read before it is), and one the server deals with itself
// goes from idle to closed. There the connection itself tells: the next
// request's first bytes are in once the server has set the read deadline
// for its headers, its second since the connection went idle (the first
// is the idle deadline); under TLS, an answer is a write before the
// close_notify that ends every connection, so two writes since the
// request began (one for a connection that got none).
//
// Wire it with Listener, ConnContext and ConnState on the http.Server, and
// set the server's DisableGeneralOptionsHandler: otherwise the server
// answers "OPTIONS *" itself, the one request it would answer with a
// success and without the handler. HTTP/2 connections are not tracked:
// their protocol errors end streams or the connection, never a request
// that the handler then misses, and every stream that is a request
// reaches the handler.
type ConnAudit struct {
	// Audit receives the records. One it cannot take is logged as lost:
	// the connection is gone by then, so there is nothing to refuse.
	Audit *auditlog.Log
	// Replica names this replica in the records.
	Replica string
	// Log receives the records lost.
	Log *slog.Logger

	conns sync.Map // net.Conn as the server sees it -> *connTrack
}

// The reasons and the error of connection records: fixed strings, so that
// the audit trail can be searched for them.
const (
	reasonRefused  = "request refused by the HTTP server: malformed, oversized or incomplete"
	reasonTimedOut = "no complete request within the read timeout"
	reasonCut      = "connection closed before the request was complete"
	reasonTLS      = "TLS handshake failed"
	errNoAnswer    = "connection closed without an answer"
)

// maxHandshakeError bounds the handshake's error in a record: crypto/tls
// names what failed (a version, a certificate's verification), and a
// record has no use for more.
const maxHandshakeError = 256

type connTrack struct {
	tls     bool        // the server sees a *tls.Conn: its writes are ciphertext
	begun   atomic.Bool // the server reported the first request begun
	handled atomic.Int64
	// idle is set while the connection waits between requests (from
	// StateIdle until a request reaches the handler); idleDeadlines
	// counts the read deadlines the server set meanwhile.
	idle          atomic.Bool
	idleDeadlines atomic.Int64
	// writes counts the writes that moved bytes while the server, not
	// the handler, had the connection, since it last began reading a
	// request (StateActive, StateIdle); answer is the status of a
	// plaintext HTTP/1 answer among them.
	writes   atomic.Int64
	answer   atomic.Int32
	timedOut atomic.Bool // the last read ended in a timeout
	raw      *trackedConn
}

// outside reports whether the server, not the handler, has the connection:
// before its first request reaches the handler, or between requests.
func (t *connTrack) outside() bool { return t.handled.Load() == 0 || t.idle.Load() }

// refusal tells what the server did with a request the handler never saw,
// when the connection closes: the status it answered with (0 for none)
// and why, or ok false if no such request was on the connection.
func (t *connTrack) refusal() (status int, reason string, ok bool) {
	if !t.outside() {
		return 0, "", false
	}
	if s := t.answer.Load(); s != 0 {
		return int(s), reasonRefused, true
	}
	first := t.handled.Load() == 0
	arrived := t.begun.Load()
	if !first {
		arrived = t.idleDeadlines.Load() >= 2
	}
	switch {
	case arrived && t.tls && t.writes.Load() >= 2:
		return http.StatusBadRequest, reasonRefused, true
	case t.timedOut.Load() && (arrived || first):
		// A fresh connection that sent nothing in time is a slow client
		// too; a kept-alive one is merely idle.
		return 0, reasonTimedOut, true
	case arrived:
		return 0, reasonCut, true
	}
	return 0, "", false
}

// handshakeFailure tells a TLS connection whose handshake did not complete
// and whose client sent something: a client that is not TLS, offers
// nothing the server accepts, or (mTLS) presents a certificate no trusted
// CA issued. A slow one is a slow client (refusal), and one that sends
// nothing at all (a TCP probe: connect, close) has tried nothing and is
// not recorded.
func handshakeFailure(tc *tls.Conn, t *connTrack) (reason, errText string, ok bool) {
	if t.raw == nil || !t.raw.sent.Load() {
		return "", "", false
	}
	// The error the handshake ended with, which the connection keeps: the
	// server has run the handshake (HandshakeContext) before it closes.
	err := tc.Handshake()
	if err == nil {
		return "", "", false
	}
	errText = err.Error()
	if len(errText) > maxHandshakeError {
		errText = errText[:maxHandshakeError]
	}
	return reasonTLS, errText, true
}

type connKey struct{}

// Listener wraps ln so that read timeouts on its connections are seen.
func (a *ConnAudit) Listener(ln net.Listener) net.Listener { return &trackedListener{Listener: ln} }

// ConnContext is the http.Server hook; it carries the connection's tracker
// to the handler.
func (a *ConnAudit) ConnContext(ctx context.Context, c net.Conn) context.Context {
	t := &connTrack{}
	_, t.tls = c.(*tls.Conn)
	t.raw, _ = netConn(c).(*trackedConn)
	if t.raw != nil {
		t.raw.track.Store(t)
	}
	a.conns.Store(c, t)
	return context.WithValue(ctx, connKey{}, t)
}

// ConnState is the http.Server hook that follows requests begun and
// records those that never reached the handler when the connection closes.
func (a *ConnAudit) ConnState(c net.Conn, s http.ConnState) {
	v, ok := a.conns.Load(c)
	if !ok {
		return
	}
	t := v.(*connTrack)
	switch s {
	case http.StateActive:
		if t.handled.Load() == 0 {
			t.begun.Store(true)
		}
		// The TLS handshake's writes are behind; an answer is ahead.
		t.writes.Store(0)
	case http.StateIdle:
		t.idleDeadlines.Store(0)
		t.writes.Store(0)
		t.answer.Store(0)
		t.timedOut.Store(false)
		t.idle.Store(true)
	case http.StateClosed, http.StateHijacked:
		// Forgotten once its record, if any, is queued: a connection no
		// longer tracked has nothing more to tell (which tests wait for).
		defer a.conns.Delete(c)
		tc, _ := c.(*tls.Conn)
		var state tls.ConnectionState
		if tc != nil {
			if state = tc.ConnectionState(); state.NegotiatedProtocol == "h2" {
				return
			}
		}
		status, reason, refused := t.refusal()
		errText := errNoAnswer
		if !refused && tc != nil && !state.HandshakeComplete {
			reason, errText, refused = handshakeFailure(tc, t)
		}
		if !refused {
			return
		}
		rec := &auditlog.Record{
			Time: time.Now().UTC(), Replica: a.Replica, Kind: "connection", RequestID: newID(),
			Caller:   auditlog.Caller{IP: hostOnly(c.RemoteAddr())},
			Decision: "deny", Status: status, Reason: reason,
		}
		if status == 0 {
			rec.Error = errText
		}
		if err := a.Audit.Record(rec); err != nil {
			a.Log.Error("audit record lost", "request_id", rec.RequestID, "error", err)
		}
	}
}

// handled marks a request of r's connection as having reached the handler.
func handled(r *http.Request) {
	if t, ok := r.Context().Value(connKey{}).(*connTrack); ok {
		t.handled.Add(1)
		t.idle.Store(false)
	}
}

// netConn is the connection under c's wrappers (TLS, the handshake
// listener's): the one the tracked listener accepted.
func netConn(c net.Conn) net.Conn {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = w.NetConn()
	}
}

func hostOnly(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type trackedListener struct{ net.Listener }

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// trackedConn notes what its connection's tracker needs: whether the
// last read timed out (the server's read deadline, as a slow sender meets
// it), the read deadlines set while the connection was idle between
// requests, and the writes that moved bytes while no handler had it.
type trackedConn struct {
	net.Conn
	// track is set by ConnContext, which the server calls once it has
	// accepted the connection, while the TLS handshake (its own
	// goroutine's: internal/handshake) may already be reading.
	track atomic.Pointer[connTrack]
	// sent is set once the client has sent a byte; on the connection,
	// not its tracker, since the handshake's first read may come first.
	sent atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sent.Load() {
		c.sent.Store(true)
	}
	if t := c.track.Load(); t != nil {
		t.timedOut.Store(err != nil && isTimeout(err))
	}
	return n, err
}

func (c *trackedConn) SetReadDeadline(d time.Time) error {
	if t := c.track.Load(); t != nil && t.idle.Load() {
		t.idleDeadlines.Add(1)
	}
	return c.Conn.SetReadDeadline(d)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if t := c.track.Load(); t != nil && n > 0 && t.outside() {
		t.writes.Add(1)
		// The server writes its answer in one call. Under TLS this is
		// ciphertext, which never starts like a status line, except
		// for the server's plaintext refusal of plain HTTP sent to
		// the TLS port, which is an answer too.
		if s := answerStatus(p[:n]); s != 0 {
			t.answer.CompareAndSwap(0, int32(s))
		}
	}
	return n, err
}

// answerStatus is the status of the HTTP/1 answer that b starts, or 0.
func answerStatus(b []byte) int {
	if len(b) < len("HTTP/1.1 200 ") || string(b[:len("HTTP/1.")]) != "HTTP/1." || b[8] != ' ' || b[12] != ' ' {
		return 0
	}
	s := 0
	for _, d := range b[9:12] {
		if d < '0' || d > '9' {
			return 0
		}
		s = s*10 + int(d-'0')
	}
	if s < 100 {
		return 0
	}
	return s
}

func isTimeout(err error) bool {
	// The server ends its background read of every request by a deadline
	// in the past: the plain error, asked without errors.As, is the usual.
	if ne, ok := err.(net.Error); ok {
		return ne.Timeout()
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
