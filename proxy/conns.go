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
	started  atomic.Int64 // requests the server began reading
	handled  atomic.Int64 // requests that reached the handler
	timedOut atomic.Bool
	raw      *trackedConn
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
	case http.StateClosed, http.StateHijacked:
		a.conns.Delete(c)
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			return
		}
		refused := t.started.Load() > t.handled.Load()
		if !refused && !(t.timedOut.Load() && t.started.Load() == 0) {
			return
		}
		rec := &auditlog.Record{
			Time: time.Now().UTC(), Replica: a.Replica, Kind: "connection", RequestID: newID(),
			Caller:   auditlog.Caller{IP: hostOnly(c.RemoteAddr())},
			Decision: "deny", Status: http.StatusBadRequest,
			Reason: "request refused by the HTTP server: malformed, oversized or incomplete",
		}
		if t.timedOut.Load() {
			rec.Status = http.StatusRequestTimeout
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

// trackedConn notes a read that ended in a timeout: the server's read
// deadline, as a slow sender meets it.
type trackedConn struct {
	net.Conn
	track *connTrack
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.track != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.track.timedOut.Store(true)
		}
	}
	return n, err
}
