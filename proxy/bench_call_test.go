package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// The cost of one whole call through the handler, Graph and the network
// replaced by functions: authentication, decision, forwarding, the answer
// (a page of five events, 4 KB) and its audit record. BenchmarkCall runs
// it without a response section — the same benchmark runs on the build
// before response sections, side by side — and with one.

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type authFunc func(*http.Request) (callers.Caller, error)

func (f authFunc) Authenticate(r *http.Request) (callers.Caller, error) { return f(r) }

type tokenFunc func(context.Context) (upstream.Token, error)

func (f tokenFunc) Token(ctx context.Context) (upstream.Token, error) { return f(ctx) }

// eventsPage is a page of n events as Graph answers GET .../events.
func eventsPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('adele.vance0%40contoso.example')/events","value":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","id":"AAMkAGIAAAoZDOFAAA%d=","createdDateTime":"2030-03-01T10:00:00Z",`+
			`"subject":"Quarterly planning %d","bodyPreview":"Agenda: numbers, people, plans","body":{"contentType":"html","content":"<p>Agenda: numbers, people, plans</p>"},`+
			`"start":{"dateTime":"2030-03-04T10:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2030-03-04T10:30:00.0000000","timeZone":"UTC"},"showAs":"busy",`+
			`"location":{"displayName":"Room 4","locationType":"default"},"attendees":[{"type":"required","status":{"response":"accepted","time":"2030-03-01T00:00:00Z"},`+
			`"emailAddress":{"name":"Megan Bowen","address":"meganb@contoso.example"}}],"organizer":{"emailAddress":{"name":"Adele Vance","address":"adele.vance0@contoso.example"}}}`, i, i)
	}
	b.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users/adele.vance0@contoso.example/events?$top=5&$skip=5"}`)
	return b.Bytes()
}

func benchHandler(b *testing.B, policyText string) *proxy.Handler {
	b.Helper()
	return benchHandlerWith(b, policyText, nil)
}

// benchHandlerWith is benchHandler with its options adjusted.
func benchHandlerWith(b testing.TB, policyText string, adjust func(*proxy.Options)) *proxy.Handler {
	b.Helper()
	p, err := policy.Parse("bench.yaml", []byte(policyText))
	if err != nil {
		b.Fatal(err)
	}
	answer := eventsPage(5)
	length := strconv.Itoa(len(answer))
	transport := roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		return &http.Response{StatusCode: 200, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, ContentLength: int64(len(answer)),
			Header: http.Header{"Content-Type": {"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"},
				"Content-Length": {length}, "Request-Id": {"0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d"}},
			Body: io.NopCloser(bytes.NewReader(answer))}, nil
	})
	audit, err := auditlog.New(auditlog.Options{Replica: "bench", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "discard", W: io.Discard}}, Linger: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { audit.Close(context.Background(), &auditlog.Record{Kind: "close"}) })
	graph, _ := url.Parse("https://graph.microsoft.com")
	public, _ := url.Parse("https://gp.contoso.example")
	token := upstream.Token{Value: strings.Repeat("t", 1500), ExpiresOn: time.Now().Add(time.Hour)}
	o := proxy.Options{
		Graph: graph, PublicBase: public, Transport: transport, Policy: p, Limits: p, Audit: audit, MaxBodyBytes: 4 << 20,
		UpstreamIdle: 100 * time.Second, // graph.timeout's default
		Callers: authFunc(func(*http.Request) (callers.Caller, error) {
			return callers.Caller{Name: "engage", TenantID: "d2b6628f-0000-4000-8000-000000000002", AppID: "e0000000-0000-4000-8000-0000000000e1", Auth: "entra-jwt", IP: "10.0.0.1"}, nil
		}),
		Tokens: tokenFunc(func(context.Context) (upstream.Token, error) { return token, nil }),
	}
	if adjust != nil {
		adjust(&o)
	}
	h, err := proxy.New(o)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

const benchPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All]
rules:
  - id: events-read
    method: GET
    path: "/users/{user}/events"
    query: [$top]
    permission: Calendars.ReadBasic.All
`

func benchCalls(b *testing.B, h *proxy.Handler) {
	req := httptest.NewRequest("GET", "https://gp.contoso.example/v1.0/users/adele.vance0@contoso.example/events?$top=5", nil)
	req.Header.Set("Authorization", "Bearer vendor-token")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkCallNoSection: the call as it was before response sections.
func BenchmarkCallNoSection(b *testing.B) { benchCalls(b, benchHandler(b, benchPolicy)) }
