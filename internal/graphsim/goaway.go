package graphsim

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// goAwayListener passes Graph's connections to its server, except the
// next ones GoAway asked for: those it serves itself, as a front door that
// retires a connection does. It takes the client's first request whole
// (headers and body), then answers GOAWAY with last stream 0 (nothing was
// processed) and closes the connection; the client may send the request
// again on another connection, and must, for the call to succeed.
type goAwayListener struct {
	net.Listener
	tls     *tls.Config
	pending atomic.Int32
	refused atomic.Int32
}

func (l *goAwayListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.take() {
			return c, err
		}
		go l.goAway(c)
	}
}

// take claims one of the pending GOAWAYs.
func (l *goAwayListener) take() bool {
	for {
		n := l.pending.Load()
		if n <= 0 {
			return false
		}
		if l.pending.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (l *goAwayListener) goAway(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	conf := l.tls.Clone()
	conf.NextProtos = []string{"h2"}
	tc := tls.Server(c, conf)
	if tc.Handshake() != nil {
		return
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(tc, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(tc, tc)
	if fr.WriteSettings() != nil {
		return
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		ended := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.HeadersFrame:
			ended = f.StreamEnded()
		case *http2.DataFrame:
			ended = f.StreamEnded()
		}
		if !ended {
			continue
		}
		// The first request is in, body and all: refuse it unprocessed,
		// then read until the client closes (closing first, with its
		// frames unread, would reset the connection under the GOAWAY).
		l.refused.Add(1)
		if fr.WriteGoAway(0, http2.ErrCodeNo, nil) == nil {
			io.Copy(io.Discard, tc)
		}
		return
	}
}

// GraphGoAway makes the next n new connections to Graph answer their first
// request with GOAWAY (nothing processed) and close, as Graph's front
// doors do when they retire a connection. It returns a function that
// reports how many requests were refused that way so far.
func (s *Sim) GraphGoAway(n int) (refused func() int) {
	s.graphLn.pending.Add(int32(n))
	return func() int { return int(s.graphLn.refused.Load()) }
}
