package proxy_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// Answers that carry what the caller must not get past the places the
// link rewriter looks at first: trailers, other items' download URLs,
// URLs inside header values, headers of a filtered answer, and
// pre-authenticated URLs under member names no list holds. Each test runs
// the handler against a fake Graph answering exactly the answer under
// test.

const leakCaller = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Files.ReadWrite.All, User.Read.All, Calendars.ReadWrite]
`

// fakeAnswer is Graph's answer to one request.
type fakeAnswer struct {
	status int
	header http.Header
	body   string
}

// leakHandler is the handler in front of a fake Graph answering ans, and
// the buffer its records go to.
func leakHandler(t *testing.T, pol string, ans func(r *http.Request) fakeAnswer, adjust func(*proxy.Options)) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var records bytes.Buffer
	audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &records}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close(context.Background(), &auditlog.Record{Kind: "close"}) })
	h := benchHandlerWith(t, pol, func(o *proxy.Options) {
		o.Audit = audit
		o.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				io.Copy(io.Discard, r.Body)
			}
			a := ans(r)
			if a.status == 0 {
				a.status = 200
			}
			if a.header == nil {
				a.header = http.Header{"Content-Type": {"application/json"}}
			}
			return &http.Response{StatusCode: a.status, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, Header: a.header,
				ContentLength: int64(len(a.body)), Body: io.NopCloser(strings.NewReader(a.body))}, nil
		})
		if adjust != nil {
			adjust(o)
		}
	})
	return h, &records
}

func leakDo(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "https://gp.contoso.example"+path, rb)
	req.Header.Set("Authorization", "Bearer vendor-token")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// noSecret fails t for every header value and body byte of w holding
// "SECRET".
func noSecret(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for k, vv := range w.Header() {
		for _, v := range vv {
			if strings.Contains(v, "SECRET") {
				t.Errorf("header %s reached the caller: %s", k, v)
			}
		}
	}
	if strings.Contains(w.Body.String(), "SECRET") {
		t.Errorf("body reached the caller: %s", w.Body)
	}
}

// TestUpstreamTrailersDropped: trailers Graph sends after a streamed
// answer (file bytes, a JSON answer too long to read whole, filtered or
// not) never reach the caller; nothing checks their links.
func TestUpstreamTrailersDropped(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: photo, method: GET, path: "/users/{user}/photo/$value", permission: User.Read.All }
  - { id: events, method: GET, path: "/users/{user}/events", permission: Calendars.ReadWrite }
  - { id: messages, method: GET, path: "/users/{user}/messages", permission: Calendars.ReadWrite, response: { fields: [id, subject] } }
`
	big := `{"value":[{"id":"1","subject":"` + strings.Repeat("x", 300<<10) + `","body":"b"}]}`
	graph := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Location, X-Download")
		if strings.HasSuffix(r.URL.Path, "$value") {
			w.Header().Set("Content-Type", "image/jpeg")
			io.WriteString(w, "\xff\xd8\xff\xe0 jpeg bytes")
		} else {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, big)
		}
		w.Header().Set("Location", "https://contoso.sharepoint.com/dl?tempauth=TRAILERSECRET")
		w.Header().Set("X-Download", "https://graph.microsoft.com/v1.0/x")
	}))
	pool := x509.NewCertPool()
	pool.AddCert(graph.Certificate())
	gu, _ := url.Parse(graph.URL)
	h, _ := leakHandler(t, pol, nil, func(o *proxy.Options) {
		o.Graph = gu
		o.Transport = proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 10 * time.Second})
	})
	front := startTLS(t, h)
	for _, p := range []string{"/v1.0/users/a@contoso.com/photo/$value", "/v1.0/users/a@contoso.com/events", "/v1.0/users/a@contoso.com/messages"} {
		t.Run(p, func(t *testing.T) {
			req, _ := http.NewRequest("GET", front.URL+p, nil)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(b) == 0 {
				t.Fatalf("%d, %d bytes, %v", resp.StatusCode, len(b), err)
			}
			if len(resp.Trailer) != 0 {
				t.Errorf("trailers relayed: %v", resp.Trailer)
			}
		})
	}
}
