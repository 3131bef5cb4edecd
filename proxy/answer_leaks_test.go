package proxy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// leakFront serves the proxy over TLS under policy pol, forwarding to
// graph (a TLS test server) as Graph.
func leakFront(t *testing.T, pol string, graph *httptest.Server) *httptest.Server {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(graph.Certificate())
	gu, _ := url.Parse(graph.URL)
	h, _ := leakHandler(t, pol, nil, func(o *proxy.Options) {
		o.Graph = gu
		o.Transport = proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 10 * time.Second})
	})
	return startTLS(t, h)
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
	front := leakFront(t, pol, graph)
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

// TestFileLinksOnlyForTheRequestedItem: a driveItem's answer under a
// content rule gets a file link for its own download URL only; the URLs
// of the items it nests ($expand=children, versions) name other items,
// and are withheld rather than bound to the requested item's content.
func TestFileLinksOnlyForTheRequestedItem(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", query: [$expand, $select], permission: Files.ReadWrite.All }
  - { id: file-read, method: GET, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1048576 } }
`
	host := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "bytes of "+r.URL.Path)
	}))
	hostURL, _ := url.Parse(host.URL)
	pool := x509.NewCertPool()
	pool.AddCert(host.Certificate())
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := filelink.NewSealer(seal.Static{key})
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]string{
		"children": `{"id":"PARENT","@microsoft.graph.downloadUrl":"` + host.URL + `/PARENT?tempauth=1",` +
			`"children":[{"id":"CHILD","@microsoft.graph.downloadUrl":"` + host.URL + `/CHILD?tempauth=2"}]}`,
		"versions": `{"id":"PARENT","@microsoft.graph.downloadUrl":"` + host.URL + `/PARENT?tempauth=1",` +
			`"versions":[{"id":"1.0","@microsoft.graph.downloadUrl":"` + host.URL + `/CHILD?tempauth=2"}],` +
			`"x":{"@content.downloadUrl":"` + host.URL + `/CHILD?tempauth=3"}}`,
	}
	h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
		return fakeAnswer{body: answers[r.URL.Query().Get("$expand")]}
	}, func(o *proxy.Options) {
		o.Files = &proxy.Files{Hosts: filelink.Hosts{}.With(hostURL.Host), Links: sealer,
			Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: pool, ResponseHeaderTimeout: 10 * time.Second})}
	})
	for expand := range answers {
		t.Run(expand, func(t *testing.T) {
			w := leakDo(h, "GET", "/v1.0/drives/b!d/items/PARENT?$expand="+expand, "")
			body := w.Body.String()
			if w.Code != 200 || strings.Contains(body, "CHILD?") || strings.Contains(body, "tempauth") {
				t.Fatalf("%d %s", w.Code, body)
			}
			if n := strings.Count(body, proxy.FileLinkPrefix); n != 1 {
				t.Fatalf("%d file links, want the requested item's only: %s", n, body)
			}
			i := strings.Index(body, "https://gp.contoso.example"+proxy.FileLinkPrefix)
			link, _ := url.Parse(body[i : i+strings.IndexByte(body[i:], '"')])
			w = leakDo(h, "GET", link.Path, "")
			if w.Code != 200 || w.Body.String() != "bytes of /PARENT" {
				t.Errorf("the requested item's link: %d %q", w.Code, w.Body)
			}
		})
	}
}

// TestHeaderValuesHoldingURLs: a header value holding another host's URL
// anywhere in it, not only at its start, is withheld — on Graph's answer
// and in a $batch sub-response's headers.
func TestHeaderValuesHoldingURLs(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All }
`
	h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
		if r.URL.Path == "/v1.0/$batch" {
			return fakeAnswer{body: `{"responses":[{"id":"1","status":302,"headers":{"Link":"<https://contoso.sharepoint.com/dl?tempauth=SECRET1>; rel=\"alternate\"",` +
				`"Refresh":"0;url=https://contoso.sharepoint.com/dl?tempauth=SECRET2","Location":"https://contoso.sharepoint.com/dl?tempauth=SECRET3"}}]}`}
		}
		return fakeAnswer{header: http.Header{"Content-Type": {"application/json"},
			"Link":             {`<https://contoso.sharepoint.com/dl?tempauth=SECRET4>; rel="alternate"`},
			"Refresh":          {`0;url=https://contoso.sharepoint.com/dl?tempauth=SECRET5`},
			"Content-Location": {`https://contoso.sharepoint.com/dl?tempauth=SECRET6`},
			"X-Url":            {` https://contoso.sharepoint.com/dl?tempauth=SECRET7`},
			"Etag":             {`"{1},2"`},
		}, body: `{"id":"01B"}`}
	}, nil)
	w := leakDo(h, "GET", "/v1.0/drives/b!d/items/01B", "")
	if w.Code != 200 || w.Header().Get("Etag") != `"{1},2"` {
		t.Errorf("%d %v", w.Code, w.Header())
	}
	noSecret(t, w)
	w = leakDo(h, "POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/drives/b!d/items/01B"}]}`)
	if w.Code != 200 {
		t.Errorf("$batch: %d %s", w.Code, w.Body)
	}
	noSecret(t, w)
}

type fixedKey struct{}

func (fixedKey) Key() ([]byte, error) { return []byte(strings.Repeat("k", 32)), nil }

// TestSectionedAnswerHeaders: the headers of an answer a response section
// filters that are or hold URLs (Location, Content-Location,
// OData-EntityId, any URL-valued one, Graph's included) are withheld: they
// name the id the section pseudonymises. The same in a $batch
// sub-response's headers. Other headers pass.
func TestSectionedAnswerHeaders(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite, response: { fields: [id, subject], pseudonymise: [id] } }
  - { id: plain, method: POST, path: "/users/{user}/calendars", permission: Calendars.ReadWrite }
`
	const entity = "https://graph.microsoft.com/v1.0/users/alice@contoso.com/events/AAMkREALID="
	h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
		if r.URL.Path == "/v1.0/$batch" {
			return fakeAnswer{body: `{"responses":[{"id":"1","status":201,"headers":{"Location":"` + entity + `","ETag":"W/\"x\""},"body":{"id":"AAMkREALID=","subject":"s"}},` +
				`{"id":"2","status":201,"headers":{"Location":"https://graph.microsoft.com/v1.0/users/a/calendars/CAL"},"body":{"id":"CAL"}}]}`}
		}
		return fakeAnswer{status: 201, header: http.Header{"Content-Type": {"application/json"},
			"Location": {entity}, "Content-Location": {entity}, "Odata-Entityid": {entity},
			"X-Link": {"<" + entity + ">"}, "Etag": {`W/"x"`}},
			body: `{"id":"AAMkREALID=","subject":"s"}`}
	}, func(o *proxy.Options) { o.PseudonymKey = fixedKey{} })

	w := leakDo(h, "POST", "/v1.0/users/alice@contoso.com/events", `{"subject":"s"}`)
	if w.Code != 201 || strings.Contains(w.Body.String(), "REALID") || w.Header().Get("Etag") != `W/"x"` {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	for k, vv := range w.Header() {
		if strings.Contains(strings.Join(vv, ","), "REALID") {
			t.Errorf("header %s names the pseudonymised id: %v", k, vv)
		}
	}
	w = leakDo(h, "POST", "/v1.0/users/alice@contoso.com/calendars", `{"name":"n"}`)
	if w.Header().Get("Location") != "https://gp.contoso.example/v1.0/users/alice@contoso.com/events/AAMkREALID=" {
		t.Errorf("without a section, Location moved to the proxy: %v", w.Header())
	}

	w = leakDo(h, "POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"POST","url":"/users/alice@contoso.com/events","headers":{"Content-Type":"application/json"},"body":{"subject":"s"}},`+
		`{"id":"2","method":"POST","url":"/users/alice@contoso.com/calendars","headers":{"Content-Type":"application/json"},"body":{"name":"n"}}]}`)
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, "REALID") || !strings.Contains(body, `"ETag":"W/\"x\""`) ||
		!strings.Contains(body, `"Location":"https://gp.contoso.example/v1.0/users/a/calendars/CAL"`) {
		t.Errorf("$batch: %d %s", w.Code, body)
	}
}

// TestAnswerMediaTypes: a JSON answer is read for its links however its
// Content-Type labels JSON (text/json, application/x-json, a +json type,
// odata parameters); an answer with a body whose Content-Type the proxy
// cannot read as one media type (none, two, a list, malformed) is
// withheld (502), since nobody can say how the caller will read it;
// other media types (a photo, a file) pass as they are.
func TestAnswerMediaTypes(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: events, method: GET, path: "/users/{user}/events", permission: Calendars.ReadWrite }
`
	const leak = `{"value":[{"id":"1","uploadUrl":"https://e.example/up?tempauth=SECRET"}]}`
	tests := []struct {
		name   string
		ct     []string
		status int
	}{
		{"application/json", []string{"application/json; odata.metadata=minimal"}, 200},
		{"text/json", []string{"text/json"}, 200},
		{"application/x-json", []string{"application/x-json; charset=utf-8"}, 200},
		{"+json", []string{"application/vnd.example+JSON"}, 200},
		{"none", nil, 502},
		{"two", []string{"text/plain", "application/json"}, 502},
		{"a list", []string{"text/plain, application/json"}, 502},
		{"malformed parameters, read as JSON", []string{"application/json;;=x"}, 200},
		{"no subtype", []string{"json"}, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
				hdr := http.Header{}
				if tt.ct != nil {
					hdr["Content-Type"] = tt.ct
				}
				return fakeAnswer{header: hdr, body: leak}
			}, nil)
			w := leakDo(h, "GET", "/v1.0/users/a@contoso.com/events", "")
			noSecret(t, w)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
	t.Run("a photo passes", func(t *testing.T) {
		pol := leakCaller + `rules:
  - { id: photo, method: GET, path: "/users/{user}/photo/$value", permission: User.Read.All }
`
		h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
			return fakeAnswer{header: http.Header{"Content-Type": {"image/jpeg"}}, body: "\xff\xd8 https://e.example/?sig=x"}
		}, nil)
		if w := leakDo(h, "GET", "/v1.0/users/a@contoso.com/photo/$value", ""); w.Code != 200 || w.Body.Len() == 0 {
			t.Errorf("%d %q", w.Code, w.Body)
		}
	})
}

// TestAnswersReadAsJSONWhateverTheirLabel: an answer a caller's reader
// may take for JSON is read for its links as JSON, however it is labelled
// or encoded: JSON under a media type that is not JSON's (text/plain,
// application/octet-stream, application/javascript: readers such as
// axios parse any body that is JSON, others ignore the type), and JSON in
// UTF-16 or UTF-32 (declared by a charset, or not: readers tell it from
// its bytes) or under a charset other than UTF-8 (UTF-7 spells a URL's
// ':' and '=' in letters), which the link rewriter, reading UTF-8,
// would pass unread. A section's answer is JSON in UTF-8 or withheld.
// Other answers (a photo, text that is not JSON) pass as they are.
func TestAnswersReadAsJSONWhateverTheirLabel(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All }
  - { id: item-sectioned, method: GET, path: "/drives/{drive}/items/{item}/children", permission: Files.ReadWrite.All, response: { fields: [id, target] } }
`
	const leak = `{"id":"1","target":"https://contoso.sharepoint.com/dl?tempauth=SECRET"}`
	utf16 := func(s string, be bool) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if be {
				b.WriteByte(0)
			}
			b.WriteByte(s[i])
			if !be {
				b.WriteByte(0)
			}
		}
		return b.String()
	}
	utf32 := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteString(string([]byte{s[i], 0, 0, 0}))
		}
		return b.String()
	}
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		io.WriteString(w, s)
		w.Close()
		return b.String()
	}
	// Content-Encoding, which the transport did not undo: it undoes only
	// what it asked for.
	encodings := map[string]string{"gzip under text/plain": "gzip", "identity under text/plain": "identity"}
	tests := []struct {
		name string
		ct   string
		body string
		pass bool // relayed as it is where no section filters it: nothing in it to withhold
	}{
		{"gzip under text/plain", "text/plain", gz(leak), false},
		{"identity under text/plain", "text/plain", leak, false},
		{"text/plain", "text/plain", leak, false},
		{"text/plain, spaced and with a BOM", "text/plain; charset=utf-8", "\xef\xbb\xbf \r\n" + leak, false},
		{"octet-stream", "application/octet-stream", leak, false},
		{"javascript", "application/javascript", leak, false},
		{"a JSON text sequence", "application/json-seq", "\x1e" + leak + "\n", false},
		{"a list under text/html", "text/html", "[" + leak + "]", false},
		{"a string under text/plain", "text/plain", `"https://contoso.sharepoint.com/dl?tempauth=SECRET"`, false},
		{"utf-16le declared", "application/json; charset=utf-16le", utf16(leak, false), false},
		{"utf-16be declared", "application/json;charset=UTF-16BE", utf16(leak, true), false},
		{"utf-16 undeclared", "application/json", utf16(leak, false), false},
		{"utf-16 with a BOM", "application/json", "\xff\xfe" + utf16(leak, false), false},
		{"utf-32 undeclared", "application/json", utf32(leak), false},
		{"utf-16 under text/plain", "text/plain", "\xfe\xff" + utf16(leak, true), false},
		{"utf-7", "application/json; charset=\"UTF-7\"", `{"id":"1","target":"https+ADo-//contoso.sharepoint.com/dl?tempauth+AD0-SECRET"}`, false},
		{"utf-7, sniffed", "text/plain; charset=utf-7", `{"id":"1","target":"https+ADo-//contoso.sharepoint.com/dl?tempauth+AD0-SECRET"}`, false},
		{"a photo passes", "image/jpeg", "\xff\xd8\xff\xe0 {" + leak, true},
		{"text passes", "text/plain", "mail from https://contoso.sharepoint.com/dl?tempauth=SECRET {", true},
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1.0/drives/b!d/items/01B", "/v1.0/drives/b!d/items/01B/children"} {
			t.Run(tt.name+" "+path[len(path)-3:], func(t *testing.T) {
				h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
					hdr := http.Header{"Content-Type": {tt.ct}}
					if enc := encodings[tt.name]; enc != "" {
						hdr.Set("Content-Encoding", enc)
					}
					return fakeAnswer{header: hdr, body: tt.body}
				}, nil)
				w := leakDo(h, "GET", path, "")
				if tt.pass && !strings.HasSuffix(path, "children") { // a section's answer is JSON or withheld
					if w.Code != 200 || w.Body.String() != tt.body {
						t.Errorf("%d %q, want it relayed as it is", w.Code, w.Body)
					}
					return
				}
				got := w.Body.String()
				if encodings[tt.name] == "gzip" {
					if r, err := gzip.NewReader(strings.NewReader(got)); err == nil {
						b, _ := io.ReadAll(r)
						got = string(b)
					}
				}
				if w.Code == 200 && strings.Contains(strings.ReplaceAll(got, "\x00", ""), "SECRET") {
					t.Errorf("%d: the download URL reached the caller: %q", w.Code, w.Body)
				}
			})
		}
	}
}

// TestBatchStringBodiesReadAsJSON: a $batch sub-response's body written
// as a string (OData's form for a body that is not JSON: base64, or text
// as it is; Graph's too for some JSON bodies) is decoded by the SDKs and
// read as JSON when it is JSON; so a string body that reads as JSON, as
// it is or base64-decoded, is withheld (emptied, counted), whether a
// section filters another sub-response or not, long or short. A photo's
// base64 bytes and a text that is no JSON pass as Graph wrote them.
func TestBatchStringBodiesReadAsJSON(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All }
  - { id: sectioned, method: GET, path: "/drives/{drive}/items/{item}/children", permission: Files.ReadWrite.All, response: { fields: [id] } }
`
	const inner = `{"id":"1","@microsoft.graph.downloadUrl":"https://contoso.sharepoint.com/dl?tempauth=SECRET"}`
	std := base64.StdEncoding.EncodeToString
	urlb := base64.RawURLEncoding.EncodeToString
	long := `{"pad":"` + strings.Repeat("x", 20<<10) + `",` + inner[1:]
	huge := `{"pad":"` + strings.Repeat("x", 300<<10) + `",` + inner[1:]
	jpeg := std(append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"), strings.Repeat("{", 40)...))
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		name string
		body string // the sub-response's body, as JSON
		pass bool
	}{
		{"base64", `"` + std([]byte(inner)) + `"`, false},
		{"base64url", `"` + urlb([]byte(inner)) + `"`, false},
		{"base64 with blanks and a BOM", `"` + std([]byte("\xef\xbb\xbf\r\n  "+inner)) + `"`, false},
		{"base64 of UTF-16", `"` + std([]byte("\xff\xfe{\x00\"\x00")) + `"`, false},
		{"base64, longer than a link", `"` + std([]byte(long)) + `"`, false},
		{"base64, streamed", `"` + std([]byte(huge)) + `"`, false},
		{"text", jsonStr(inner), false},
		{"text, escaped", `"\u007b\"u\":\"https://contoso.sharepoint.com/dl?tempauth=SECRET\"}"`, false},
		{"text, spaced", jsonStr("\n\t " + inner), false},
		{"a photo passes", `"` + jpeg + `"`, true},
		{"text passes", `"hello, world"`, true},
		{"an object is read as JSON", inner, false},
	}
	for _, tt := range tests {
		for _, sectioned := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, sectioned sibling %v", tt.name, sectioned), func(t *testing.T) {
				answer := `{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/octet-stream"},"body":` + tt.body + `}`
				batch := `{"requests":[{"id":"1","method":"GET","url":"/drives/b!d/items/01B"}`
				if sectioned {
					answer += `,{"id":"2","status":200,"body":{"value":[]}}`
					batch += `,{"id":"2","method":"GET","url":"/drives/b!d/items/01B/children"}`
				}
				h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer { return fakeAnswer{body: answer + `]}`} }, nil)
				w := leakDo(h, "POST", "/v1.0/$batch", batch+`]}`)
				var out struct {
					Responses []struct {
						ID   string          `json:"id"`
						Body json.RawMessage `json:"body"`
					} `json:"responses"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &out); w.Code != 200 || err != nil || len(out.Responses) == 0 {
					t.Fatalf("%d %v %.300s", w.Code, err, w.Body)
				}
				got := string(out.Responses[0].Body)
				if tt.pass {
					if got != tt.body {
						t.Errorf("body %.200s, want it as Graph wrote it", got)
					}
					return
				}
				var s string
				if json.Unmarshal(out.Responses[0].Body, &s) == nil {
					if d, err := base64.StdEncoding.DecodeString(s); err == nil {
						s = string(d)
					} else if d, err := base64.RawURLEncoding.DecodeString(s); err == nil {
						s = string(d)
					}
					got = s
				}
				if strings.Contains(got, "SECRET") || strings.Contains(got, "\"\x00") {
					t.Errorf("the body reached the caller: %.300q", got)
				}
			})
		}
	}
}

// TestStreamedAnswerNotHeldToBeRead: telling whether an answer labelled
// other than JSON reads as JSON takes its first telling byte only, so an
// answer that streams (an event stream) reaches the caller as it comes,
// not once enough of it has arrived.
func TestStreamedAnswerNotHeldToBeRead(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: events, method: GET, path: "/users/{user}/events", permission: Calendars.ReadWrite }
`
	release := make(chan struct{})
	graph := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
	}))
	defer close(release)
	front := leakFront(t, pol, graph)
	req, _ := http.NewRequest("GET", front.URL+"/v1.0/users/a@contoso.com/events", nil)
	req.Header.Set("Authorization", "Bearer x")
	got := make(chan string, 1)
	go func() {
		resp, err := front.Client().Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(resp.Body, b, len("data: first\n\n"))
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != "data: first\n\n" {
			t.Errorf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not reach the caller while the stream went on")
	}
}

// TestLinkNamesFoldedAsReadersFold: a member named with a non-ASCII letter
// that a case-insensitive reader (Go's encoding/json, .NET's binders)
// folds to an ASCII one — the Kelvin sign for k, a long s for s, a dotted
// or dotless I for i — is the link name it folds to, written raw or
// escaped, with or without a response section.
func TestLinkNamesFoldedAsReadersFold(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All }
  - { id: user, method: GET, path: "/users/{user}", permission: User.Read.All, response: { fields: [id, link, postParameters, redirectUris] } }
`
	for _, body := range []string{
		`{"id":"1","@odata.nextLin` + "\u212a" + `":"https://evil.example/page?p=SECRET1"}`,
		`{"id":"1","@odata.nextLin\u212a":"https://evil.example/page?p=SECRET1"}`,
		`{"id":"1","postParameter` + "\u017f" + `":"access_token=SECRET2"}`,
		`{"id":"1","lın` + "\u212a" + `":{"webUrl":"https://1drv.ms/u/SECRET3"}}`,
		`{"id":"1","redirectUr` + "\u0131" + `":"https://evil.example/SECRET4"}`,
		`{"id":"1","redirectUr` + "\u0130\u017f" + `":["https://evil.example/SECRET5"]}`,
	} {
		h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer { return fakeAnswer{body: body} }, nil)
		for _, path := range []string{"/v1.0/drives/b!d/items/01B", "/v1.0/users/alice@contoso.com"} {
			w := leakDo(h, "GET", path, "")
			if w.Code != 200 {
				t.Errorf("%s %s: %d %s", path, body, w.Code, w.Body)
			}
			noSecret(t, w)
		}
	}
}

// TestCredentialURLsOfAnyForm: a URL carrying its credential in its query
// is withheld whatever its form — its host first without a scheme, a
// path alone, a query alone, scheme-relative — under any member name, in
// a list, in a link name's member, in a $batch sub-response's headers and
// in the answer's own headers. Text holding such words, words without a
// credential parameter with a value, and Graph's own paging cursors pass.
func TestCredentialURLsOfAnyForm(t *testing.T) {
	pol := leakCaller + `rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All }
  - { id: user, method: GET, path: "/users/{user}", permission: User.Read.All, response: { fields: [id, source, target, contentUrl, resource] } }
`
	forms := []string{
		"contoso.sharepoint.com/personal/x/_layouts/15/download.aspx?UniqueId=1&tempauth=SECRET",
		"//contoso.sharepoint.com/personal/x/_layouts/15/download.aspx?UniqueId=1&tempauth=SECRET",
		"/_layouts/15/download.aspx?UniqueId=1&tempauth=SECRET",
		"_layouts/15/download.aspx?UniqueId=1&amp;tempauth=SECRET",
		"?UniqueId=1&tempauth=SECRET",
		" contoso.blob.core.windows.net/c/b?sv=2024&sig=SECRET ",
		"/d?%74empauth=SECRET",
		"/d#access_token=SECRET",
	}
	const pass = `"text":"Why? Because the file is at /d?tempauth=later, ask","tag":"#monkey","q":"Really?","page":"/v1.0/users?$skiptoken=PAGE"`
	for _, f := range forms {
		js := `"` + f + `"` // raw: no escape sends the answer to the rewriter
		body := `{"id":"1","source":` + string(js) + `,"target":[` + string(js) + `],"contentUrl":` + string(js) + `,` + pass + `}`
		h, _ := leakHandler(t, pol, func(r *http.Request) fakeAnswer {
			if r.URL.Path == "/v1.0/$batch" {
				return fakeAnswer{body: `{"responses":[{"id":"1","status":302,"headers":{"Location":` + string(js) + `,"Link":"<` + strings.Trim(string(js), `"`) + `>; rel=\"x\""},"body":` + body + `}]}`}
			}
			return fakeAnswer{header: http.Header{"Content-Type": {"application/json"}, "Location": {f}, "Content-Location": {f}, "Link": {"<" + f + `>; rel="x"`}}, body: body}
		}, nil)
		for _, path := range []string{"/v1.0/drives/b!d/items/01B", "/v1.0/users/alice@contoso.com"} {
			w := leakDo(h, "GET", path, "")
			if w.Code != 200 {
				t.Errorf("%s %q: %d %s", path, f, w.Code, w.Body)
			}
			noSecret(t, w)
			if path == "/v1.0/drives/b!d/items/01B" && !strings.Contains(w.Body.String(), pass) {
				t.Errorf("%q: text withheld: %s", f, w.Body)
			}
		}
		w := leakDo(h, "POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/drives/b!d/items/01B"}]}`)
		if w.Code != 200 || !strings.Contains(w.Body.String(), pass) {
			t.Errorf("$batch %q: %d %s", f, w.Code, w.Body)
		}
		noSecret(t, w)
	}
}
