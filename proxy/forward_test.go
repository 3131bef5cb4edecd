package proxy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

func TestForwardHeaders(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	resp := e.DoWith(e.HTTP1Client(), "GET", "/v1.0/users?$top=2", nil,
		"Cookie", "session=vendor",
		"Connection", "X-Hop",
		"X-Hop", "must-not-pass",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic c2VjcmV0",
		"X-Forwarded-For", "203.0.113.9",
		"X-Forwarded-Host", "evil.example",
		"Forwarded", "for=203.0.113.9",
		"X-Real-IP", "203.0.113.9",
		"client-request-id", "3f2a1c9e-0000-4000-8000-00000000abcd",
		"ConsistencyLevel", "eventual",
		"Prefer", `outlook.timezone="UTC"`,
	)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("client-request-id"); got != "3f2a1c9e-0000-4000-8000-00000000abcd" {
		t.Errorf("client-request-id returned as %q; want the caller's", got)
	}
	if resp.Header.Get("x-graph-proxy-request-id") == "" || resp.Header.Get("request-id") == "" {
		t.Errorf("want both the proxy's and Graph's request ids, got %v", resp.Header)
	}

	reqs := e.Sim.Graph.Requests()
	if len(reqs) != 1 {
		t.Fatalf("Graph received %d requests; want 1", len(reqs))
	}
	got := reqs[0].Header
	auth, ok := strings.CutPrefix(got.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("Graph got Authorization %q", got.Get("Authorization"))
	}
	claims, err := e.Sim.Entra.Validate(auth, graphsim.GraphResource)
	if err != nil {
		t.Fatalf("Graph got a token that is not the proxy's Graph token: %v", err)
	}
	if claims["appid"] != graphsim.SystemIdentityClientID {
		t.Errorf("token appid %v; want the managed identity", claims["appid"])
	}
	for _, h := range []string{"Cookie", "X-Hop", "Keep-Alive", "Proxy-Authorization", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "Connection"} {
		if v := got.Values(h); len(v) > 0 {
			t.Errorf("Graph received %s: %q", h, v)
		}
	}
	if v := got.Get("Accept-Encoding"); v != "" {
		t.Errorf("Graph was asked for Accept-Encoding %q; want uncompressed answers unless graph.compression", v)
	}
	for h, want := range map[string]string{
		"Client-Request-Id": "3f2a1c9e-0000-4000-8000-00000000abcd",
		"Consistencylevel":  "eventual",
		"Prefer":            `outlook.timezone="UTC"`,
	} {
		if v := got.Get(h); v != want {
			t.Errorf("Graph received %s %q; want %q", h, v, want)
		}
	}
}

func TestClientRequestIDGenerated(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	for _, sent := range []string{"", "has space", `"quoted"`, strings.Repeat("x", 200)} {
		resp := e.Do("GET", "/v1.0/users/"+"adele.vance0@"+graphsim.Domain, nil, "client-request-id", sent)
		resp.Body.Close()
		got := resp.Header.Get("client-request-id")
		if got == "" || got == sent {
			t.Errorf("sent %q: returned %q; want a generated id", sent, got)
		}
		reqs := e.Sim.Graph.Requests()
		if up := reqs[len(reqs)-1].Header.Get("client-request-id"); up != got {
			t.Errorf("sent %q: Graph got %q, caller %q; want the same", sent, up, got)
		}
	}
}

func TestAuditRecordForForwardedCall(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	tok := e.VendorToken()
	resp := e.Do("GET", "/v1.0/users?$top=2&$select=displayName", nil, "client-request-id", "11111111-0000-4000-8000-000000000001", "Authorization", "Bearer "+tok)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	recs := e.Records(1)
	r := recs[0]
	if r.Method != "GET" || r.Version != "v1.0" || r.Path != "/users" || strings.Join(r.Query, ",") != "$select,$top" ||
		r.Status != 200 || r.UpstreamStatus != 200 || r.Decision != "allow" || r.Caller.Name != "engage" ||
		r.ClientRequestID != "11111111-0000-4000-8000-000000000001" || r.GraphRequestID != resp.Header.Get("request-id") ||
		r.RequestID != resp.Header.Get("x-graph-proxy-request-id") || r.BytesOut == 0 || r.Replica != "test-replica" {
		t.Errorf("audit record %+v", r)
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(e.Audit.String(), sig) || strings.Contains(e.Audit.String(), "displayName") {
		t.Errorf("audit log holds a token or a query value: %s", e.Audit.String())
	}
}

func TestThrottlingPassesThrough(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Status: 429, RetryAfter: "7", Times: 1})
	resp := e.Do("GET", "/v1.0/users", nil)
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" || ge.Error.Code != "TooManyRequests" {
		t.Errorf("got %d Retry-After %q code %q; want Graph's 429, Retry-After 7, TooManyRequests",
			resp.StatusCode, resp.Header.Get("Retry-After"), ge.Error.Code)
	}
	if r := e.Records(1)[0]; r.Status != 429 || r.UpstreamStatus != 429 || r.RetryAfter != 7 {
		t.Errorf("audit record status %d upstream %d retryAfter %v", r.Status, r.UpstreamStatus, r.RetryAfter)
	}
}

func TestGraphChallengeNotRelayed(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	e.Sim.Entra.RotateKey()
	e.Sim.Entra.RetireOldKeys() // the proxy's cached token no longer verifies
	resp := e.Do("GET", "/v1.0/users", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d; want Graph's 401", resp.StatusCode)
	}
	if v := resp.Header.Get("WWW-Authenticate"); v != "" {
		t.Errorf("Graph's challenge %q reached the caller", v)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.Server.URL+"/v1.0/users", nil)
	req.Header.Set("Authorization", "Bearer "+e.VendorToken())
	done := make(chan error, 1)
	go func() {
		resp, err := e.Server.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	proxytest.WaitFor(t, "Graph to receive the request", func() bool { return len(e.Sim.Graph.Requests()) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client got %v; want its own cancellation", err)
	}
	select {
	case p := <-e.Sim.Graph.Cancelled():
		if p != "/v1.0/users" {
			t.Errorf("cancelled %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Graph's request was not cancelled")
	}
	if r := e.Records(1)[0]; r.Status != 499 {
		t.Errorf("audit status %d; want 499", r.Status)
	}
}

func TestProxyErrors(t *testing.T) {
	// A dead Graph: a port that stays the test's own (a port closed and
	// left free may be taken by a concurrent test's server), every
	// connection to it closed at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	dead := "https://" + ln.Addr().String()

	tests := []struct {
		name       string
		opts       proxytest.Options
		fault      *graphsim.Fault
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantRetry  string
		reachGraph bool
	}{
		{name: "unknown prefix", method: "GET", path: "/v2.0/users", wantStatus: 404, wantCode: "graphProxy.notFound"},
		{name: "root", method: "GET", path: "/", wantStatus: 404, wantCode: "graphProxy.notFound"},
		{name: "version without slash", method: "GET", path: "/v1.0users", wantStatus: 404, wantCode: "graphProxy.notFound"},
		{name: "body too large", opts: proxytest.Options{MaxBodyBytes: 1024}, method: "POST", path: "/v1.0/users/adele.vance0@" + graphsim.Domain + "/events",
			body: strings.Repeat("a", 2048), wantStatus: 413, wantCode: "graphProxy.requestTooLarge"},
		// Where no rule serves the request, the body is not read: denied
		// as it is, however large.
		{name: "body too large, no rule", opts: proxytest.Options{MaxBodyBytes: 1024}, method: "POST", path: "/v1.0/users/x/events",
			body: strings.Repeat("a", 2048), wantStatus: 403, wantCode: "graphProxy.policyDenied"},
		{name: "upstream unreachable", opts: proxytest.Options{GraphURL: dead}, method: "GET", path: "/v1.0/users",
			wantStatus: 502, wantCode: "graphProxy.upstreamUnreachable"},
		{name: "upstream timeout", opts: proxytest.Options{GraphTimeout: 200 * time.Millisecond},
			fault: &graphsim.Fault{Delay: 3 * time.Second}, method: "GET", path: "/v1.0/users",
			wantStatus: 504, wantCode: "graphProxy.upstreamTimeout", reachGraph: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, tt.opts)
			if tt.fault != nil {
				e.Sim.Graph.Inject(tt.fault)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp := e.Do(tt.method, tt.path, body, "client-request-id", "22222222-0000-4000-8000-000000000002")
			ge := proxytest.DecodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || ge.Error.Code != tt.wantCode {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, ge.Error.Code, tt.wantStatus, tt.wantCode)
			}
			if ge.Error.InnerError.RequestID == "" || ge.Error.InnerError.RequestID != resp.Header.Get("x-graph-proxy-request-id") ||
				ge.Error.InnerError.ClientRequestID != "22222222-0000-4000-8000-000000000002" || ge.Error.InnerError.Date == "" {
				t.Errorf("innerError %+v; want the request ids and a date", ge.Error.InnerError)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := len(e.Sim.Graph.Requests()) > 0; got != tt.reachGraph {
				t.Errorf("Graph reached: %v; want %v", got, tt.reachGraph)
			}
			r := e.Records(1)[0]
			if r.Status != tt.wantStatus || !strings.HasPrefix(r.Error, tt.wantCode) {
				t.Errorf("audit status %d error %q", r.Status, r.Error)
			}
		})
	}
}

func TestChunkedBodyTooLarge(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{MaxBodyBytes: 1024})
	// An io.Reader of unknown length makes the client send it chunked, so
	// the limit is met while streaming, not from Content-Length.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("b", 4096)))
		pw.Close()
	}()
	resp := e.Do("POST", "/v1.0/users/adele.vance0@"+graphsim.Domain+"/events", pr, "Content-Type", "application/json")
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || ge.Error.Code != "graphProxy.requestTooLarge" {
		t.Errorf("got %d %q; want 413 graphProxy.requestTooLarge", resp.StatusCode, ge.Error.Code)
	}
	if n := len(e.Sim.Graph.Requests()); n != 0 {
		t.Errorf("Graph received %d requests", n)
	}
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func TestRequestBodyEncodings(t *testing.T) {
	ev := `{"subject":"Zipped","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	tests := []struct {
		name       string
		encoding   string
		body       string
		wantStatus int
		wantCode   string
		// wantIn is the record's bytesIn: the body's bytes as sent, as
		// far as they were read; -1 for all of them.
		wantIn int64
		// chunked sends the body without a length.
		chunked bool
	}{
		{name: "gzip decoded and forwarded", encoding: "gzip", body: gzipped(ev), wantStatus: 201, wantIn: -1},
		{name: "identity", encoding: "identity", body: ev, wantStatus: 201, wantIn: -1},
		{name: "chunked", encoding: "identity", body: ev, wantStatus: 201, wantIn: -1, chunked: true},
		{name: "corrupt gzip", encoding: "gzip", body: "not gzip at all", wantStatus: 400, wantCode: "graphProxy.badRequest", wantIn: -1},
		{name: "truncated gzip", encoding: "gzip", body: gzipped(ev)[:20], wantStatus: 400, wantCode: "graphProxy.badRequest", wantIn: -1},
		{name: "gzip bomb", encoding: "gzip", body: gzipped(strings.Repeat("0", 1<<20)), wantStatus: 413, wantCode: "graphProxy.requestTooLarge", wantIn: -1},
		{name: "too large, sent chunked", encoding: "identity", body: strings.Repeat(" ", 200<<10), wantStatus: 413, wantCode: "graphProxy.requestTooLarge", wantIn: 64<<10 + 1, chunked: true},
		{name: "unknown encoding", encoding: "br", body: "\x0b\x02\x80", wantStatus: 415, wantCode: "graphProxy.unsupportedContentEncoding", wantIn: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{MaxBodyBytes: 64 << 10})
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			resp := e.Do("POST", "/v1.0/users/adele.vance0@"+graphsim.Domain+"/events", body,
				"Content-Type", "application/json", "Content-Encoding", tt.encoding)
			defer func() {
				want := tt.wantIn
				if want < 0 {
					want = int64(len(tt.body))
				}
				if got := e.Record(resp).BytesIn; got != want {
					t.Errorf("bytesIn %d; want %d (%d sent)", got, want, len(tt.body))
				}
			}()
			if tt.wantCode == "" {
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
				}
				reqs := e.Sim.Graph.Requests()
				if len(reqs) != 1 || reqs[0].Header.Get("Content-Encoding") != "" {
					t.Errorf("Graph received %+v; want one request with a plain body", reqs)
				}
				return
			}
			ge := proxytest.DecodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || ge.Error.Code != tt.wantCode {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, ge.Error.Code, tt.wantStatus, tt.wantCode)
			}
			if n := len(e.Sim.Graph.Requests()); n != 0 {
				t.Errorf("Graph received %d requests", n)
			}
		})
	}
}

func TestTokenUnavailable(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{NoTokenYet: true, FreshIdentity: true})
	e.Sim.Identity.Fail(http.StatusInternalServerError, "")
	resp, err := e.Server.Client().Get(e.Server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != 503 || ready.Checks["token"] != "failing" {
		t.Errorf("/readyz %d %+v; want 503 with the token check failing", resp.StatusCode, ready)
	}

	resp = e.Do("GET", "/v1.0/users", nil)
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != 503 || ge.Error.Code != "graphProxy.tokenUnavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("got %d %q Retry-After %q; want 503 graphProxy.tokenUnavailable with Retry-After", resp.StatusCode, ge.Error.Code, resp.Header.Get("Retry-After"))
	}
	if strings.Contains(ge.Error.Message, "Injected") || strings.Contains(ge.Error.Message, "identity") {
		t.Errorf("the identity endpoint's error leaked to the caller: %q", ge.Error.Message)
	}
	if n := len(e.Sim.Graph.Requests()); n != 0 {
		t.Errorf("Graph received %d requests without a token", n)
	}

	e.Sim.Identity.Fail(0, "")
	resp = e.Do("GET", "/v1.0/users", nil)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the identity endpoint healed: %d; want 200", resp.StatusCode)
	}
	resp, _ = e.Server.Client().Get(e.Server.URL + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz %d after recovery; want 200", resp.StatusCode)
	}
}

func TestResetMidBodyAbortsResponse(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", ResetMidBody: true, Times: 1})
	resp := e.Do("GET", "/v1.0/users", nil)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The proxy reads a short answer whole before answering, so the cut
	// shows as a 502; a long one would already be streaming and is cut
	// off in turn. Never a complete 200.
	if err == nil {
		var ge struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(body, &ge)
		if resp.StatusCode != http.StatusBadGateway || ge.Error.Code != "graphProxy.upstreamAborted" {
			t.Errorf("%d %s from an upstream reset mid-body; want 502 graphProxy.upstreamAborted or a cut answer", resp.StatusCode, body)
		}
	}
	if r := e.Records(1)[0]; !strings.Contains(r.Error, "aborted mid-body") || r.UpstreamStatus != 200 {
		t.Errorf("audit record for an aborted answer: %+v", r)
	}
}

func TestLinksRewrittenInBatchAndLocation(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	upn := "adele.vance0@" + graphsim.Domain
	batch := `{"requests":[
		{"id":"1","method":"GET","url":"/users?$top=5"},
		{"id":"2","method":"GET","url":"users/delta?$top=50"}]}`
	resp := e.Do("POST", "/v1.0/$batch", strings.NewReader(batch), "Content-Type", "application/json")
	var out struct {
		Responses []struct {
			ID   string         `json:"id"`
			Body map[string]any `json:"body"`
		} `json:"responses"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if len(out.Responses) != 2 {
		t.Fatalf("batch answered %+v", out)
	}
	next, _ := out.Responses[0].Body["@odata.nextLink"].(string)
	delta, _ := out.Responses[1].Body["@odata.deltaLink"].(string)
	if !strings.HasPrefix(next, e.Server.URL+"/v1.0/users?") || !strings.HasPrefix(delta, e.Server.URL+"/v1.0/users/delta?") {
		t.Errorf("links in batch responses: %q, %q; want them on %s", next, delta, e.Server.URL)
	}

	ev := `{"subject":"Demo","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	resp = e.Do("POST", "/v1.0/users/"+upn+"/events", strings.NewReader(ev), "Content-Type", "application/json")
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 201 || !strings.HasPrefix(loc, e.Server.URL+"/v1.0/users(") {
		t.Errorf("create: %d Location %q; want 201 and a Location on the proxy", resp.StatusCode, loc)
	}
}

// A long streamed answer (no Content-Length, more than the proxy reads
// whole) reaches the caller as it arrives, its links rewritten, and ends
// complete.
func TestStreamedAnswerRelayedAsItArrives(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	gate := make(chan struct{})
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Stream: gate, StreamFirst: 300 << 10, Times: 1})
	resp := e.Do("GET", "/v1.0/users", nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 {
		t.Fatalf("status %d, length %d; want 200 of unknown length", resp.StatusCode, resp.ContentLength)
	}
	first := `"first":"done",`
	var got []byte
	buf := make([]byte, 32<<10)
	for !bytes.Contains(got, []byte(first)) {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("before Graph sent the rest: %v after %q", err, got)
		}
	}
	close(gate) // only now does Graph send the rest
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Next string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(append(got, rest...), &page); err != nil {
		t.Fatalf("streamed answer %q: %v", append(got, rest...), err)
	}
	if page.Next != e.Server.URL+"/v1.0/users?$skiptoken=streamed" {
		t.Errorf("nextLink %q; want it on the proxy", page.Next)
	}
	if r := e.Records(1)[0]; r.Status != 200 || r.Error != "" {
		t.Errorf("record %+v", r)
	}
}

// With graph.compression, Graph compresses its answers; the proxy
// decompresses them to check links, and a small one still reaches the
// caller whole, with a Content-Length.
func TestCompressedAnswerRelayedWhole(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{GraphCompression: true})
	resp := e.DoWith(e.HTTP1Client(), "GET", "/v1.0/users?$top=2", nil)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
		t.Errorf("length %d, transfer encoding %v for a %d-byte answer; want its Content-Length", resp.ContentLength, resp.TransferEncoding, len(body))
	}
	var page struct {
		Value []map[string]any `json:"value"`
		Next  string           `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Value) != 2 {
		t.Fatalf("answer %q: %v", body, err)
	}
	if !strings.HasPrefix(page.Next, e.Server.URL+"/v1.0/users?") {
		t.Errorf("nextLink %q; want it on the proxy", page.Next)
	}
	if got := e.Sim.Graph.Requests()[0].Header.Get("Accept-Encoding"); got != "gzip" {
		t.Errorf("Graph was asked with Accept-Encoding %q; want gzip", got)
	}
}

// Graph's front doors retire connections with GOAWAY. A request the
// connection did not process is sent again on a new one, body and all (the
// forwarded request carries GetBody for that; without it the transport
// gives up once the body is written), and the call succeeds, processed and
// recorded once.
func TestGoAwayRetried(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	refused := e.Sim.GraphGoAway(1)
	ev := `{"subject":"Demo","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	resp := e.Do("POST", "/v1.0/users/adele.vance0@"+graphsim.Domain+"/events", strings.NewReader(ev), "Content-Type", "application/json")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if n := refused(); n != 1 {
		t.Errorf("%d requests refused with GOAWAY; want 1 (the first connection's)", n)
	}
	if got := e.Sim.Graph.Requests(); len(got) != 1 || got[0].Method != "POST" {
		t.Errorf("Graph processed %+v; want the one POST", got)
	}
	// Both requests went on the wire; the record accounts for both.
	if rec := e.Record(resp); rec.Status != http.StatusCreated || rec.Attempts != 2 {
		t.Errorf("audit record %+v; want 201 and 2 attempts", rec)
	}
}

// TestStalledAnswerIsCut: Graph sends its headers and part of an answer,
// then nothing. The wait for more is bounded by graph.timeout, as the wait
// for the headers is: the caller gets a 502 (the answer was still being
// read whole) or a cut answer (it was already streaming), never a hang,
// and the record says Graph stalled.
func TestStalledAnswerIsCut(t *testing.T) {
	for _, first := range []int{100, 300 << 10} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{GraphTimeout: 300 * time.Millisecond})
			stall := make(chan struct{})
			defer close(stall)
			e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Stream: stall, StreamFirst: first, Times: 1})
			start := time.Now()
			resp := e.Do("GET", "/v1.0/users", nil)
			_, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("the caller waited %s for a stalled answer", took)
			}
			if first < 256<<10 && resp.StatusCode != http.StatusBadGateway {
				t.Errorf("%d for an answer that stalled before it was read; want 502", resp.StatusCode)
			}
			if first > 256<<10 && (resp.StatusCode != 200 || err == nil) {
				t.Errorf("%d, read error %v, for an answer that stalled mid-stream; want it cut", resp.StatusCode, err)
			}
			if r := e.Records(1)[0]; !strings.Contains(r.Error, "stalled") {
				t.Errorf("record error %q; want the stall named", r.Error)
			}
		})
	}
}
