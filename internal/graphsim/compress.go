package graphsim

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Compress returns a writer that gzips the answer to r when r accepts
// gzip, as Graph does, and the function that completes it; otherwise w as
// it is. The load harness's upstream uses it too.
func Compress(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	if !acceptsGzip(r) {
		return w, func() {}
	}
	g := &gzipWriter{ResponseWriter: w}
	return g, g.close
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if enc, _, _ := strings.Cut(strings.TrimSpace(v), ";"); strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}

// gzipWriter compresses an answer that may have a body.
type gzipWriter struct {
	http.ResponseWriter
	zw          *gzip.Writer
	encoding    bool
	wroteHeader bool
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.wroteHeader {
		return
	}
	g.wroteHeader = true
	if code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified {
		g.encoding = true
		g.Header().Set("Content-Encoding", "gzip")
		g.Header().Del("Content-Length")
		g.Header().Add("Vary", "Accept-Encoding")
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	if !g.encoding {
		return g.ResponseWriter.Write(b)
	}
	if g.zw == nil {
		g.zw = newGzip(g.ResponseWriter)
	}
	return g.zw.Write(b)
}

func (g *gzipWriter) Flush() {
	if g.zw != nil {
		g.zw.Flush()
	}
	http.NewResponseController(g.ResponseWriter).Flush()
}

func (g *gzipWriter) close() {
	if g.encoding && g.zw == nil {
		g.zw = newGzip(g.ResponseWriter) // an empty body, still gzip
	}
	if g.zw != nil {
		g.zw.Close()
		gzipWriters.Put(g.zw)
	}
}

// gzipWriters are reused: a gzip.Writer's state is some hundreds of KB.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func newGzip(w io.Writer) *gzip.Writer {
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	return zw
}
