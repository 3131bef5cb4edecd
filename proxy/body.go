package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
)

// errBadBody is a request body that cannot be decoded: 400.
var errBadBody = errors.New("request body cannot be decoded")

// errUnsupportedEncoding is a Content-Encoding the proxy does not decode:
// 415. Kiota's compression handler then retries without compression.
var errUnsupportedEncoding = errors.New("unsupported content encoding")

// readBody reads the whole request body, at most max bytes after
// decoding, before anything is sent upstream: the policy reads bodies
// ($batch, getSchedule's schedules, subscriptions), and a body that is too
// large or undecodable must be refused before Graph sees a byte of it. A
// gzip body (Graph SDKs compress by default) is decoded here, so the cap
// applies to what it expands to: a small gzip body cannot become a large
// one upstream. The body is then forwarded uncompressed with its length.
// read is how many bytes of the body came from the caller (as sent, before
// decoding), also when the body is refused: the audit record's bytesIn.
func readBody(w http.ResponseWriter, r *http.Request, max int64) (body []byte, read int64, err error) {
	if r.ContentLength > max {
		return nil, 0, &http.MaxBytesError{Limit: max}
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	r.Header.Del("Content-Encoding")
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0, nil
	}
	wire := &countingReader{r: r.Body}
	var src io.Reader
	switch enc {
	case "", "identity":
		src = http.MaxBytesReader(w, wire, max)
	case "gzip", "x-gzip":
		src = http.MaxBytesReader(w, &gunzip{src: http.MaxBytesReader(w, wire, max)}, max)
	default:
		return nil, 0, fmt.Errorf("%w: %q", errUnsupportedEncoding, enc)
	}
	body, err = readAll(src, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errBadBody) {
			return nil, wire.n, err
		}
		// The caller's connection failed mid-body.
		return nil, wire.n, fmt.Errorf("%w: reading the request body: %w", context.Canceled, err)
	}
	return body, wire.n, nil
}

// countingReader counts the bytes read through it. MaxBytesReader wants a
// ReadCloser; closing is the server's, so Close does nothing.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return nil }

// gunzip decodes a gzip stream, marking corrupt input as errBadBody.
type gunzip struct {
	src io.ReadCloser
	zr  *gzip.Reader
}

func (g *gunzip) Read(p []byte) (int, error) {
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			return 0, g.wrap(err)
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = g.wrap(err)
	}
	return n, err
}

func (g *gunzip) wrap(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("%w: gzip: %w", errBadBody, err)
}

func (g *gunzip) Close() error { return g.src.Close() }

// methodOverrideHeaders ask a server to treat a request as another method.
// Graph is not documented to honour any of them, and the header allow-list
// keeps them from Graph anyway, but a request that carries one is an
// attempt to act other than the policy decides: it is refused outright.
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// singleHeaders may be given once at most: with two, the proxy and Graph
// could each read a different one (the body checked as one type, read as
// another).
var singleHeaders = []string{"Content-Type", "Content-Encoding", "Content-Length"}

// guardHeaders refuses a request that asks for a method override, gives a
// header of singleHeaders twice, or whose headers exceed max bytes (names,
// values and a separator each).
func guardHeaders(r *http.Request, max int) error {
	for _, name := range singleHeaders {
		if len(r.Header[name]) > 1 {
			return &Error{Status: http.StatusBadRequest, Code: "graphProxy.badRequest",
				Message: "The request gives the " + name + " header more than once.",
				Err:     fmt.Errorf("%w: %s given %d times", errBadBody, name, len(r.Header[name]))}
		}
	}
	for _, name := range methodOverrideHeaders {
		if _, ok := r.Header[name]; ok {
			return &Error{Status: http.StatusBadRequest, Code: "graphProxy.methodOverride",
				Message: "Method override headers are not accepted; send the request with its real method.",
				Err:     fmt.Errorf("method override header %s", name)}
		}
	}
	if max <= 0 {
		return nil
	}
	n := len(r.Method) + len(r.RequestURI)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if n > max {
		return &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Code: "graphProxy.headersTooLarge",
			Message: fmt.Sprintf("The request line and headers exceed %d bytes.", max),
			Err:     fmt.Errorf("%d bytes of request line and headers, limit %d", n, max)}
	}
	return nil
}

// readAll reads src to its end, into one buffer of the announced size when
// the caller sends it: a body held for its checks costs its size, not the
// 2× of a buffer doubled to fit (and the garbage of every smaller one).
// Only maxPrealloc is allocated on the caller's word: a caller announcing a
// large body and sending it slowly must not make the proxy hold the whole
// size per connection up front. Once that much has arrived, the buffer
// grows at once to the announced size. Past it (a gzip body expands), it
// doubles.
func readAll(src io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, min(max(size, 0), maxPrealloc)+bytes.MinRead)
	for {
		if len(buf) == cap(buf) {
			grown := 2 * cap(buf)
			if rest := size + bytes.MinRead; int64(len(buf)) < size && rest <= math.MaxInt {
				grown = int(rest) // the spare bytes see the end without a growth
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// maxPrealloc bounds what readAll allocates on the caller's word.
const maxPrealloc = 64 << 10

// buffers lends the proxy the buffer each small answer is read into and
// takes it back after the answer is relayed.
type buffers struct {
	answer sync.Pool // *bytes.Buffer
}

// getAnswer returns an empty buffer with room for size bytes and the spare
// bytes.Buffer.ReadFrom wants.
func (b *buffers) getAnswer(size int64) *bytes.Buffer {
	buf, ok := b.answer.Get().(*bytes.Buffer)
	if !ok {
		buf = new(bytes.Buffer)
	}
	buf.Grow(int(size) + bytes.MinRead)
	return buf
}

// putAnswer takes back an answer buffer no longer read from; a large one
// is left to the garbage collector rather than kept.
func (b *buffers) putAnswer(buf *bytes.Buffer) {
	if buf == nil || buf.Cap() > maxPooledAnswer {
		return
	}
	buf.Reset()
	b.answer.Put(buf)
}

// maxPooledAnswer bounds the answer buffers kept for reuse.
const maxPooledAnswer = 64 << 10
