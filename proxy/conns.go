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
// refused before the handler saw it: malformed framing (conflicting
// Content-Length and Transfer-Encoding, a bad request line), headers beyond
// the server's hard limit, or a request not complete within the read
// timeout (slowloris). None of them reached Graph, but the security team
// sees that they were tried.
//
// The server reports a connection's first request as begun (StateActive)
// whether or not it reaches the handler, so refusals of a first request
// are counted that way. On a kept-alive connection it does not: the next
// request's bytes are usually read while the connection is idle (or even
// by the server's background read before it is), and a refused one goes
// from idle to closed. There the connection itself tells: since it went
// idle, the server wrote twice (its refusal, then TLS's close_notify; a
// connection closed by the client or for idleness gets the close_notify
// alone), or the last read timed out after the server set the deadline
// for a request's headers, which it does once the next request's first
// bytes are in (before that, only the idle deadline).
//
// Wire it with Listener, ConnContext and ConnState on the http.Server.
// HTTP/2 connections are not tracked: their protocol errors end streams or
// the connection, never a request that the handler then misses, and every
// stream that is a request reaches the handler.
type ConnAudit struct {
	Audit   *auditlog.Log
	Replica string
	Log     *slog.Logger

	conns sync.Map // net.Conn as the server sees it -> *connTrack
}

type connTrack struct {
	started atomic.Int64 // requests the server reported begun
	handled atomic.Int64 // requests that reached the handler
	// idle is set while the connection waits between requests (from
	// StateIdle until a request reaches the handler); idleDeadlines
	// counts the read deadlines the server set meanwhile, idleWrites the
	// writes that moved bytes.
	idle          atomic.Bool
	idleDeadlines atomic.Int64
	idleWrites    atomic.Int64
	timedOut      atomic.Bool // the last read ended in a timeout
	raw           *trackedConn
}

// refusal names what the server refused on the connection without the
// handler seeing it, if anything: a 400 (malformed, oversized or
// incomplete) or a 408 (no complete request in time).
func (t *connTrack) refusal() (status int, ok bool) {
	timedOut := t.timedOut.Load()
	if t.handled.Load() == 0 {
		switch {
		case timedOut:
			return http.StatusRequestTimeout, true
		case t.started.Load() > 0:
			return http.StatusBadRequest, true
		}
		return 0, false
	}
	if !t.idle.Load() {
		return 0, false
	}
	switch {
	case timedOut && t.idleDeadlines.Load() >= 2:
		return http.StatusRequestTimeout, true
	case t.idleWrites.Load() >= 2:
		return http.StatusBadRequest, true
	}
	return 0, false
}

type connKey struct{}

// Listener wraps ln so that read timeouts on its connections are seen.
func (a *ConnAudit) Listener(ln net.Listener) net.Listener { return &trackedListener{Listener: ln} }

// ConnContext is the http.Server hook; it carries the connection's tracker
// to the handler.
func (a *ConnAudit) ConnContext(ctx context.Context, c net.Conn) context.Context {
	t := &connTrack{}
	t.raw, _ = netConn(c).(*trackedConn)
	if t.raw != nil {
		t.raw.track = t
	}
	a.conns.Store(c, t)
	return context.WithValue(ctx, connKey{}, t)
}

// ConnState is the http.Server hook that counts requests begun and
// records those that never reached the handler when the connection closes.
func (a *ConnAudit) ConnState(c net.Conn, s http.ConnState) {
	v, ok := a.conns.Load(c)
	if !ok {
		return
	}
	t := v.(*connTrack)
	switch s {
	case http.StateActive:
		t.started.Add(1)
	case http.StateIdle:
		t.idleDeadlines.Store(0)
		t.idleWrites.Store(0)
		t.timedOut.Store(false)
		t.idle.Store(true)
	case http.StateClosed, http.StateHijacked:
		a.conns.Delete(c)
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			return
		}
		status, refused := t.refusal()
		if !refused {
			return
		}
		rec := &auditlog.Record{
			Time: time.Now().UTC(), Replica: a.Replica, Kind: "connection", RequestID: newID(),
			Caller:   auditlog.Caller{IP: hostOnly(c.RemoteAddr())},
			Decision: "deny", Status: status,
			Reason: "request refused by the HTTP server: malformed, oversized or incomplete",
		}
		if status == http.StatusRequestTimeout {
			rec.Reason = "no complete request within the read timeout"
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

func netConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
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
// it), and the read deadlines set and the writes that moved bytes while
// the connection was idle between requests.
type trackedConn struct {
	net.Conn
	track *connTrack
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if t := c.track; t != nil {
		t.timedOut.Store(err != nil && isTimeout(err))
	}
	return n, err
}

func (c *trackedConn) SetReadDeadline(d time.Time) error {
	if t := c.track; t != nil && t.idle.Load() {
		t.idleDeadlines.Add(1)
	}
	return c.Conn.SetReadDeadline(d)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if t := c.track; t != nil && n > 0 && t.idle.Load() {
		t.idleWrites.Add(1)
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
