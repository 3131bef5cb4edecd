package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// TransportOptions configure the transport to Graph.
type TransportOptions struct {
	// RootCAs verifies Graph's certificate; nil uses the system roots.
	RootCAs *x509.CertPool
	// ResponseHeaderTimeout bounds the wait for Graph's response headers.
	ResponseHeaderTimeout time.Duration
	// Compression asks Graph for gzip answers, which the transport then
	// decompresses (the proxy reads every answer to check its links).
	Compression bool
	// ReceiveWindow, when set, bounds what an HTTP/2 answer may have in
	// flight to the proxy per stream (Go's default is 4 MiB): the bytes a
	// stalled caller holds in the proxy's memory.
	ReceiveWindow int
}

// NewTransport returns the transport for calls to Graph: a clone of
// http.DefaultTransport (never the shared one mutated) speaking HTTP/2, with
// a keep-alive pool sized for a busy proxy and every timeout explicit. It
// asks for gzip answers only with o.Compression: uncompressed, an answer
// comes with its length and needs no inflating (15 % less CPU per call in
// bench -gzip against a build that asked).
func NewTransport(o TransportOptions) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = true
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = o.ResponseHeaderTimeout
	t.ExpectContinueTimeout = time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.Proxy = http.ProxyFromEnvironment
	t.DisableCompression = !o.Compression
	// HPACK's dynamic table stays at Go's default, so the token crosses
	// once per connection and then as an index. Without the table a read
	// would spare the transport's goroutine a stack growth (5 KB less a
	// call in flight), but its request would be ten times the bytes on the
	// customer's egress (bench/RESULTS.md, "Request headers without
	// HPACK's table").
	if o.ReceiveWindow > 0 {
		t.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: o.ReceiveWindow}
	}
	return t
}
