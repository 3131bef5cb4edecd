// Package handshake serves TLS as http.Server.ServeTLS does, except that
// each connection's handshake runs on a goroutine of its own instead of on
// the goroutine that then serves the connection's requests.
//
// The handshake is the deepest thing a connection's goroutine ever does
// (X25519MLKEM768 key agreement, certificate signing): it grows the stack
// to 16 KB. Go keeps a stack at its largest until the collector finds it
// less than a quarter used, and an HTTP/1.1 call waiting on Graph sits
// about 4 KB deep: so every connection kept 16 KB for a handshake long
// done. At Graph's latency every call in flight is a connection, and that
// was 9 KB a call of the proxy's memory (bench/RESULTS.md). Run apart,
// the handshake's stack is given back when its goroutine ends.
//
// Nothing else changes, and that is the point of how it is done. The
// listener does not complete the handshake before it hands the connection
// over, which would hide from the HTTP server every client that never
// completes one (and the connection audit records those). It starts the
// handshake, waits only until the handshake holds the connection (its
// first read of the client's hello), and returns the connection at once.
// The server then asks for the handshake as it always does
// (tls.Conn.HandshakeContext), under its own deadline, and waits on the
// one in progress: it gets its result, or its error and the server's usual
// log line, refusal and connection states, as if it had run it itself.
package handshake

import (
	"crypto/tls"
	"net"
	"sync/atomic"
)

// Listener returns a listener whose connections are TLS server
// connections on config, each with its handshake already under way on a
// goroutine of its own. Serve it with http.Server.Serve (not ServeTLS),
// with config's NextProtos listing what ServeTLS would add ("h2",
// "http/1.1") and config set as the server's TLSConfig, so that the server
// offers HTTP/2 (http.Server configures it for Serve only then).
func Listener(ln net.Listener, config *tls.Config) net.Listener {
	return &listener{Listener: ln, config: config}
}

type listener struct {
	net.Listener
	config *tls.Config
}

// Accept waits for the next connection and starts its handshake. It
// returns once the handshake has taken the connection's lock, so that the
// server's own call to HandshakeContext waits for it rather than starting
// one of its own; that is as long as it takes the new goroutine to run,
// never as long as the client takes to answer.
func (l *listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: raw, started: make(chan struct{})}
	tc := tls.Server(c, l.config)
	go func() {
		// Its error is kept by the connection and returned to the
		// server's HandshakeContext, which logs it and closes.
		_ = tc.Handshake()
		c.start() // a handshake that ended without reading
	}()
	<-c.started
	return tc, nil
}

// conn is the network connection under the TLS one. Its first read is
// the handshake's, made holding the TLS connection's handshake lock.
type conn struct {
	net.Conn
	begun   atomic.Bool
	started chan struct{}
}

func (c *conn) start() {
	if !c.begun.Load() && c.begun.CompareAndSwap(false, true) {
		close(c.started)
	}
}

func (c *conn) Read(p []byte) (int, error) {
	c.start()
	return c.Conn.Read(p)
}

// NetConn returns the connection the listener accepted, as
// tls.Conn.NetConn does for the TLS one: for what wraps it to be found.
func (c *conn) NetConn() net.Conn { return c.Conn }
