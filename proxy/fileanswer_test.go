package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// fileHostAnswer downloads a file through the proxy (a content rule),
// Graph redirecting to a file host that answers with contentType and
// body and a 404; it returns the proxy's answer and the audit records
// written.
func fileHostAnswer(t *testing.T, contentType, body string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	var host *httptest.Server
	graph := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", host.URL+"/download/1?tempauth=bench")
		w.WriteHeader(http.StatusFound)
	}))
	host = startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, body)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(graph.Certificate())
	graphURL, _ := url.Parse(graph.URL)
	hostURL, _ := url.Parse(host.URL)
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := filelink.NewSealer(seal.Static{key})
	if err != nil {
		t.Fatal(err)
	}
	var records bytes.Buffer
	audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &records}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := benchHandlerWith(t, contentPolicy(1<<20), func(o *proxy.Options) {
		transport := proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 10 * time.Second})
		o.Graph, o.Transport, o.Audit = graphURL, transport, audit
		o.Files = &proxy.Files{Hosts: filelink.Hosts{}.With(hostURL.Host), Links: sealer, Transport: transport}
	})
	req := httptest.NewRequest("GET", "https://gp.contoso.example/v1.0/drives/b!x/items/1/content", nil)
	req.Header.Set("Authorization", "Bearer vendor-token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if err := audit.Close(context.Background(), &auditlog.Record{Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	return w, records.String()
}

// TestFileHostAnswerNotJSONWithheld: a file host's answer that is neither
// a file's bytes nor JSON (here an HTML error page naming the host's own
// pre-authenticated URL) cannot be checked for links: its status reaches
// the caller, its body does not, and the record says so.
func TestFileHostAnswerNotJSONWithheld(t *testing.T) {
	const page = `<html><a href="https://contoso.sharepoint.com/_layouts/15/download.aspx?tempauth=secret">retry</a></html>`
	w, records := fileHostAnswer(t, "text/html", page)
	if w.Code != http.StatusNotFound || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Errorf("got %d %q %q; want 404 without the host's page", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if !strings.Contains(records, `the file host's answer of type \"text/html\" withheld`) || strings.Contains(records, "secret") {
		t.Errorf("records %s; want the withheld answer noted, and not its URL", records)
	}
}

// TestFileHostAnswerCharset: a file host's JSON answer under a charset
// other than UTF-8 (UTF-7 spells a URL's ':' and '=' in letters, which
// the link rewriter, reading UTF-8, takes for a word) is withheld, as
// Graph's own answers are.
func TestFileHostAnswerCharset(t *testing.T) {
	const body = `{"error":{"code":"x","target":"https+ADo-//contoso.sharepoint.com/dl?tempauth+AD0-SECRET"}}`
	w, records := fileHostAnswer(t, "application/json; charset=utf-7", body)
	if strings.Contains(w.Body.String(), "SECRET") || strings.Contains(records, "SECRET") {
		t.Errorf("got %d %q: the host's URL reached the caller", w.Code, w.Body)
	}
}
