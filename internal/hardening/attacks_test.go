package hardening

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// refusedAndAudited checks an attack's answer: a 4xx, a record of the
// refusal, and nothing at Graph.
func refusedAndAudited(t *testing.T, p *proc, name string, r result) {
	t.Helper()
	if r.Err != nil {
		t.Errorf("%s: %v", name, r.Err)
		return
	}
	if r.Status < 400 || r.Status >= 500 {
		t.Errorf("%s: got %d (%s); want a refusal", name, r.Status, r.Body)
		return
	}
	if r.RequestID == "" {
		t.Errorf("%s: no request id", name)
		return
	}
	rec := p.Record(r.RequestID)
	if rec.Decision != "deny" || rec.Status != r.Status {
		t.Errorf("%s: record %+v", name, rec)
	}
	if saw := graphSaw(p.sim); len(saw) != 0 {
		t.Errorf("%s: reached Graph: %s %s?%s", name, saw[0].Method, saw[0].Path, saw[0].RawQuery)
	}
}

// TestPolicyBypassAttempts: requests built to slip past the allow-list.
// Each is refused, audited, and none reaches Graph.
func TestPolicyBypassAttempts(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	ids, upns := sim.Graph.Users()
	u := ids[0]
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	event := `{"subject":"x","start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T11:00:00","timeZone":"UTC"}}`
	batch := func(subs string) string { return `{"requests":[` + subs + `]}` }
	for _, tt := range []struct {
		name, method, path, body string
		hdr                      []string
	}{
		{"dot-dot segment, encoded", "GET", "/v1.0/users/%2e%2e/" + u + "/messages", "", nil},
		{"dot-dot segment", "GET", "/v1.0/users/" + u + "/events/../messages", "", nil},
		{"dot segment", "GET", "/v1.0/users/./" + u + "/messages", "", nil},
		{"encoded slash in a key", "GET", "/v1.0/users/" + u + "%2Fmessages/events", "", nil},
		{"double slash", "GET", "/v1.0//users/" + u + "/messages", "", nil},
		{"backslash", "GET", "/v1.0/users\\" + u + "\\messages", "", nil},
		{"semicolon parameter", "GET", "/v1.0/users;x=1/" + u + "/messages", "", nil},
		{"NUL byte", "GET", "/v1.0/users/" + u + "%00/messages", "", nil},
		{"upper case of a denied path", "GET", "/v1.0/USERS/" + u + "/MESSAGES", "", nil},
		{"key syntax", "GET", "/v1.0/users('" + u + "')/messages", "", nil},
		{"named key syntax", "GET", "/v1.0/users(id='" + u + "')/messages", "", nil},
		{"key syntax hiding a segment", "GET", "/v1.0/users/" + u + "/mailFolders('inbox')/messages", "", nil},
		{"UPN with an encoded slash", "GET", "/v1.0/users/" + strings.Replace(upns[0], "@", "%2F..%2F@", 1) + "/messages", "", nil},
		{"version switch to beta", "GET", "/beta/users?$top=1", "", nil},
		{"unknown version", "GET", "/v2.0/users?$top=1", "", nil},
		{"no version", "GET", "/users?$top=1", "", nil},
		{"duplicate query option", "GET", "/v1.0/users?$top=1&$top=999", "", nil},
		{"encoded option name", "GET", "/v1.0/users?%24expand=manager", "", nil},
		{"option case variant", "GET", "/v1.0/users?$EXPAND=manager", "", nil},
		{"option without $", "GET", "/v1.0/users?expand=manager", "", nil},
		{"option smuggled in a value", "GET", "/v1.0/users?$top=1%26$expand=manager", "", nil},
		{"method override header", "POST", "/v1.0/users/" + u + "/events", event, []string{"X-HTTP-Method-Override", "DELETE"}},
		{"method override, X-HTTP-Method", "POST", "/v1.0/users/" + u + "/events", event, []string{"X-HTTP-Method", "PUT"}},
		{"deeply nested JSON", "POST", "/v1.0/users/" + u + "/events", deep, nil},
		{"duplicate JSON keys", "POST", "/v1.0/users/" + u + "/calendar/getSchedule",
			`{"schedules":["` + upns[0] + `"],"schedules":["someone@elsewhere.example"],"startTime":{"dateTime":"2026-12-01T00:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2026-12-02T00:00:00","timeZone":"UTC"}}`, nil},
		{"oversized body", "POST", "/v1.0/users/" + u + "/events", `{"subject":"` + strings.Repeat("x", 5<<20) + `"}`, nil},
		{"denied method on an allowed path", "PUT", "/v1.0/users/" + u + "/events", event, nil},
		{"TRACE", "TRACE", "/v1.0/users?$top=1", "", nil},
		{"batch: absolute URL", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"https://graph.microsoft.com/v1.0/users/` + u + `/messages"}`), nil},
		{"batch: protocol-relative URL", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"//evil.example/users"}`), nil},
		{"batch: nested $batch", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"POST","url":"/$batch","body":` + batch(`{"id":"a","method":"GET","url":"/users/`+u+`/messages"}`) + `,"headers":{"Content-Type":"application/json"}}`), nil},
		{"batch: version inside", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/beta/users/` + u + `/messages"}`), nil},
		{"batch: dot-dot", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users/` + u + `/events/../messages"}`), nil},
		{"batch: allowed beside denied", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1"},{"id":"2","method":"GET","url":"/users/` + u + `/messages"}`), nil},
		{"batch: dependsOn unknown", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1","dependsOn":["9"]}`), nil},
		{"batch: dependsOn itself", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1","dependsOn":["1"]}`), nil},
		{"batch: dependsOn a later id", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1","dependsOn":["2"]},{"id":"2","method":"GET","url":"/users?$top=1","dependsOn":["1"]}`), nil},
		{"batch: duplicate ids", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1"},{"id":"1","method":"GET","url":"/users/` + u + `/messages"}`), nil},
		{"batch: method override in a sub-request", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1","headers":{"X-HTTP-Method-Override":"DELETE"}}`), nil},
		{"batch: unknown member", "POST", "/v1.0/$batch", batch(`{"id":"1","method":"GET","url":"/users?$top=1","URL":"/users/` + u + `/messages"}`), nil},
		{"batch: too many", "POST", "/v1.0/$batch", batch(strings.TrimSuffix(strings.Repeat(`{"id":"x","method":"GET","url":"/users?$top=1"},`, 21), ",")), nil},
	} {
		sim.Graph.ResetRequests()
		hdr := tt.hdr
		if tt.body != "" {
			hdr = append(hdr, "Content-Type", "application/json")
		}
		refusedAndAudited(t, p, tt.name, p.Do(tt.method, tt.path, tt.body, hdr...))
	}
	p.Stop()
}

// TestJWTAttacks: forged, altered, misdirected and expired tokens. Each
// gets 401 (or 403 for a valid token of an app the policy does not know),
// is audited with what could be established, and reaches nothing.
func TestJWTAttacks(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	key, kid := sim.Entra.SigningKey()
	valid := p.Token()
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	claims := func(tok string) jwt.MapClaims {
		c := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, k any, hdr map[string]any, mutate func(jwt.MapClaims)) string {
		c := claims(valid)
		if mutate != nil {
			mutate(c)
		}
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = kid
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := bytes.Replace(payload, []byte(graphsim.VendorAppID), []byte("00000000-0000-0000-0000-0000000000ff"), 1)
	other, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID, Audience: graphsim.ProxyAudience})
	graphAud, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.GraphResource})
	delegated, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience, Delegated: true})
	unknownApp, _, _ := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: "00000000-0000-0000-0000-00000000beef", Audience: graphsim.ProxyAudience})

	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", 401},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, nil), 401},
		{"HS256 keyed with the public key", sign(jwt.SigningMethodHS256, pubPEM, nil, nil), 401},
		{"ES256 with the attacker's key", sign(jwt.SigningMethodES256, ecKey, nil, nil), 401},
		{"attacker key, known kid", sign(jwt.SigningMethodRS256, attacker, nil, nil), 401},
		{"attacker key, jku to the attacker", sign(jwt.SigningMethodRS256, attacker, map[string]any{"kid": "evil", "jku": "https://evil.example/keys"}, nil), 401},
		{"attacker key, embedded jwk", sign(jwt.SigningMethodRS256, attacker, map[string]any{"jwk": map[string]any{"kty": "RSA", "n": "x", "e": "AQAB"}}, nil), 401},
		{"payload altered", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2], 401},
		{"signature stripped", parts[0] + "." + parts[1] + ".", 401},
		{"expired", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) {
			c["exp"], c["iat"], c["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), 401},
		{"not yet valid", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), 401},
		{"wrong audience", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["aud"] = "api://someone-else" }), 401},
		{"Graph's audience", graphAud, 401},
		{"wrong issuer", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) {
			c["iss"] = "https://login.evil.example/" + graphsim.VendorTenant + "/v2.0"
		}), 401},
		{"issuer of another tenant, tid kept", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) {
			c["iss"] = sim.Entra.Issuer(graphsim.CustomerTenant, 2)
		}), 401},
		{"exp as a string", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(now.Add(time.Hour).Unix()) }), 401},
		{"nbf as a string", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["nbf"] = fmt.Sprint(now.Add(-time.Hour).Unix()) }), 401},
		{"iat as a string", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["iat"] = fmt.Sprint(now.Add(-time.Hour).Unix()) }), 401},
		{"no exp", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { delete(c, "exp") }), 401},
		{"expired beyond the skew", sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["exp"] = now.Add(-150 * time.Second).Unix() }), 401},
		{"token of a tenant not accepted", other, 401},
		{"delegated (user) token", delegated, 401},
		{"valid token of an app the policy does not name", unknownApp, 403},
	} {
		sim.Graph.ResetRequests()
		r := p.DoToken(tt.token, "GET", "/v1.0/users?$top=1", "")
		if r.Status != tt.status {
			t.Errorf("%s: got %d %s; want %d", tt.name, r.Status, r.Body, tt.status)
			continue
		}
		refusedAndAudited(t, p, tt.name, r)
	}
	// A token in the query string is not a credential.
	sim.Graph.ResetRequests()
	refusedAndAudited(t, p, "token in the query", p.DoToken("", "GET", "/v1.0/users?$top=1&access_token="+valid, ""))
	// Within the documented skew a token that has just expired still
	// works.
	if r := p.DoToken(sign(jwt.SigningMethodRS256, key, nil, func(c jwt.MapClaims) { c["exp"] = now.Add(-60 * time.Second).Unix() }), "GET", "/v1.0/users?$top=1", ""); r.Status != 200 {
		t.Errorf("expired 60 s ago, within the 2-minute skew: got %d %s", r.Status, r.Body)
	}
	p.Stop()
}

// rawConn opens a TLS connection speaking HTTP/1.1 only.
func (p *proc) rawConn(t *testing.T) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", p.Addr, &tls.Config{RootCAs: p.Roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange writes raw bytes and reads until the server closes or 1.5 s
// pass (a kept-alive connection).
func exchange(t *testing.T, c net.Conn, raw string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// statuses lists the status codes of the HTTP/1.1 answers in raw.
func statuses(raw string) []int {
	var out []int
	for _, m := range statusLine.FindAllStringSubmatch(raw, -1) {
		code, _ := strconv.Atoi(m[1])
		out = append(out, code)
	}
	return out
}

var statusLine = regexp.MustCompile(`HTTP/1\.[01] (\d{3}) `)

func connectionRecords(p *proc) int {
	n := 0
	for _, r := range p.Records() {
		if r.Kind == "connection" {
			n++
		}
	}
	return n
}

// TestProtocolAttacks: request smuggling, header tricks, slowloris,
// oversized headers and HTTP/2 abuse, sent raw. Each is refused; requests
// the HTTP server refuses before the handler get a "connection" record;
// nothing reaches Graph.
func TestProtocolAttacks(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	ids, _ := sim.Graph.Users()
	tok := p.Token()
	auth := "Authorization: Bearer " + tok + "\r\n"
	host := "Host: " + p.Addr + "\r\n"
	denied := "GET /v1.0/users/" + ids[0] + "/messages HTTP/1.1\r\n" + host + auth + "\r\n"
	wantConn := 0 // connection records the test expects in all

	for _, tt := range []struct {
		name string
		raw  string
		// want are the answers' statuses, in order.
		want []int
		// connRecords is how many requests the server refused itself.
		connRecords int
	}{
		// With both, Transfer-Encoding wins and Content-Length is dropped
		// (RFC 9112 §6.3); the proxy buffers the body and forwards it
		// re-framed, so it and Graph cannot disagree on where a request
		// ends. A front end that went by the length would have sent the
		// "smuggled" request as this one's body, so the connection is
		// closed after the answer (§6.1) and the rest never read as a
		// request.
		{"CL.TE smuggling", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + denied, []int{403}, 0},
		{"TE.CL smuggling", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(denied), denied), []int{403}, 0},
		// HTTP/1.0 has no chunked coding: net/http goes by the length and
		// hides Transfer-Encoding; a front end that went by the chunks
		// would have sent the rest as this one's body. Closed after the
		// answer, even when asked to keep the connection alive.
		{"HTTP/1.0 with Transfer-Encoding", "POST /v1.0/users?$top=1 HTTP/1.0\r\n" + host + auth + "Connection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + denied, []int{403}, 0},
		{"chunked, then another request", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + denied, []int{403}, 0},
		{"conflicting Content-Length", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Content-Length: 0\r\nContent-Length: 60\r\n\r\n" + denied, []int{400}, 1},
		{"obfuscated Transfer-Encoding", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + denied, []int{501}, 1},
		// A folded line joins the previous header's value: the "injected"
		// override never exists as a header, and X-A is not forwarded.
		{"obsolete line folding", "POST /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "Content-Length: 0\r\nX-A: a\r\n X-HTTP-Method-Override: GET\r\n\r\n", []int{403}, 0},
		{"CR in a header value", "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "client-request-id: a\rInjected: b\r\n\r\n", []int{400}, 1},
		{"space before colon", "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + "Authorization : Bearer " + tok + "\r\n\r\n", []int{400}, 1},
		{"absolute-form request target", "GET https://graph.microsoft.com/v1.0/users/" + ids[0] + "/messages HTTP/1.1\r\n" + host + auth + "Connection: close\r\n\r\n", []int{403}, 0},
		{"HTTP/1.0 without Host", "GET /v1.0/users/" + ids[0] + "/messages HTTP/1.0\r\n" + auth + "\r\n", []int{403}, 0},
		// An unknown caller cannot make the proxy read (or hold) a body:
		// it is answered before the body is asked for, not after a
		// megabyte arrives, and not told to go on sending it.
		{"unknown caller, large body not sent", "POST /v1.0/users/" + ids[0] + "/events HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"subject\":", []int{401}, 0},
		{"unknown caller, Expect: 100-continue", "POST /v1.0/users/" + ids[0] + "/events HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n", []int{401}, 0},
		// Nor can a known caller on a request no rule of its serves.
		{"known caller, no rule, large body not sent", "POST /v1.0/users/" + ids[0] + "/messages HTTP/1.1\r\n" + host + auth + "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"subject\":", []int{403}, 0},
		{"pipelined: denied after allowed", "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "\r\n" + denied[:len(denied)-2] + "Connection: close\r\n\r\n", []int{200, 403}, 0},
	} {
		sim.Graph.ResetRequests()
		before := connectionRecords(p)
		out := exchange(t, p.rawConn(t), tt.raw)
		got := statuses(out)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: answers %v; want %v", tt.name, got, tt.want)
		}
		wantConn += tt.connRecords
		if tt.connRecords > 0 {
			proxytest.WaitWithin(t, tt.name+": connection record", 5*time.Second, func() bool { return connectionRecords(p) >= before+tt.connRecords })
		}
		for _, r := range graphSaw(sim) {
			if strings.Contains(r.Path, "/messages") {
				t.Errorf("%s: the smuggled request reached Graph", tt.name)
			}
		}
	}

	// Slowloris: headers a byte at a time, never finished. The connection
	// is closed after limits.readHeaderTimeout (1 s here) and recorded
	// with what was sent: net/http reads the unfinished "XXX…" line as a
	// whole one at the deadline, malformed, and answers 400 (ending at a
	// line's end, it would answer nothing: TestSlowClientNotAnswered).
	t.Run("slowloris", func(t *testing.T) {
		wantConn++
		before := connectionRecords(p)
		c := p.rawConn(t)
		io.WriteString(c, "GET /v1.0/users?$top=1 HTTP/1.1\r\n"+host)
		start := time.Now()
		closed := false
		for time.Since(start) < 5*time.Second {
			if _, err := io.WriteString(c, "X"); err != nil {
				closed = true
				break
			}
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				closed = true
				break
			}
		}
		if !closed {
			t.Fatalf("a slow sender held the connection for 5 s")
		}
		recs := p.RecordsWhere(before+1, func(r auditlog.Record) bool { return r.Kind == "connection" })
		if last := recs[len(recs)-1]; last.Status != 400 || last.Caller.IP != "127.0.0.1" {
			t.Errorf("slowloris record: %+v", last)
		}
	})

	// On a kept-alive connection the server reads the next request while
	// the connection is idle; one it refuses there is recorded as on a
	// fresh connection: a 400, or status 0 (nothing sent) for one not
	// finished in time (the server also ends its background read between
	// requests with a deadline, which is no slow sender). A connection its
	// client closes after its requests is not recorded (counted at the
	// end).
	t.Run("kept-alive connections", func(t *testing.T) {
		served := "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "\r\n"
		for _, tt := range []struct {
			name, then string
			want       int
		}{
			{"closed by the client", "", 0},
			{"malformed", "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host + auth + "client-request-id: a\rInjected: b\r\n\r\n", 400},
			{"unfinished", "GET /v1.0/users?$top=1 HTTP/1.1\r\n" + host, 0},
		} {
			before := connectionRecords(p)
			c := p.rawConn(t)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			io.WriteString(c, served)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: the first request: %d", tt.name, resp.StatusCode)
			}
			if tt.then == "" {
				c.Close()
				continue
			}
			wantConn++
			io.WriteString(c, tt.then)
			rest, _ := io.ReadAll(br) // until the server closes
			if got := statuses(string(rest)); tt.want == 400 && fmt.Sprint(got) != "[400]" || tt.want == 0 && len(rest) > 0 {
				t.Errorf("%s: answers %v (%q); want the status recorded", tt.name, got, rest)
			}
			recs := p.RecordsWhere(before+1, func(r auditlog.Record) bool { return r.Kind == "connection" })
			if last := recs[len(recs)-1]; last.Status != tt.want {
				t.Errorf("%s: record %d %q; want %d", tt.name, last.Status, last.Reason, tt.want)
			}
		}
	})

	t.Run("oversized headers", func(t *testing.T) {
		sim.Graph.ResetRequests()
		// Over limits.maxHeaderBytes (64 KiB): the proxy's own 431, audited.
		r := p.Do("GET", "/v1.0/users?$top=1", "", "X-Pad", strings.Repeat("a", 70<<10))
		if r.Code != "graphProxy.headersTooLarge" {
			t.Errorf("70 KiB of headers: %d %q", r.Status, r.Code)
		}
		refusedAndAudited(t, p, "70 KiB of headers", r)
		// Over the server's hard limit: its 431, recorded as a connection.
		wantConn++
		before := connectionRecords(p)
		got := statuses(exchange(t, p.rawConn(t), "GET /v1.0/users?$top=1 HTTP/1.1\r\n"+host+auth+"X-Pad: "+strings.Repeat("a", 200<<10)+"\r\n\r\n"))
		if fmt.Sprint(got) != "[431]" {
			t.Errorf("200 KiB of headers: %v", got)
		}
		p.RecordsWhere(before+1, func(r auditlog.Record) bool { return r.Kind == "connection" })
	})

	t.Run("HTTP/2", func(t *testing.T) { h2Attacks(t, p, tok, ids[0]) })
	p.Stop()
	// Every refusal above has its record, and nothing else does: no
	// connection closed by its client or for idleness.
	if got := connectionRecords(p); got != wantConn {
		t.Errorf("%d connection records; want %d", got, wantConn)
	}
	if saw := graphSaw(sim); len(saw) > 0 {
		for _, r := range saw {
			if strings.Contains(r.Path, "/messages") {
				t.Errorf("a denied path reached Graph: %s", r.Path)
			}
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// h2conn is a raw HTTP/2 client connection.
type h2conn struct {
	t  *testing.T
	c  *tls.Conn
	fr *http2.Framer
	hb bytes.Buffer
	he *hpack.Encoder
}

func dialH2(t *testing.T, p *proc) *h2conn {
	t.Helper()
	c, err := tls.Dial("tcp", p.Addr, &tls.Config{RootCAs: p.Roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("no h2")
	}
	io.WriteString(c, http2.ClientPreface)
	h := &h2conn{t: t, c: c, fr: http2.NewFramer(c, bufio.NewReader(c))}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
	h.he = hpack.NewEncoder(&h.hb)
	h.fr.WriteSettings()
	return h
}

// headers sends a HEADERS frame with the fields (pairs), ending the stream
// when end is set.
func (h *h2conn) headers(stream uint32, end bool, fields ...string) {
	h.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		h.he.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: h.hb.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

// answers reads frames for up to d and returns each stream's :status (0
// for a stream reset) and whether the connection was closed (GOAWAY/EOF).
func (h *h2conn) answers(d time.Duration) (map[uint32]int, bool) {
	out := map[uint32]int{}
	h.c.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return out, !isTimeout(err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			var st int
			fmt.Sscan(f.PseudoValue("status"), &st)
			out[f.StreamID] = st
		case *http2.RSTStreamFrame:
			out[f.StreamID] = 0
		case *http2.GoAwayFrame:
			return out, true
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.fr.WritePing(true, f.Data)
			}
		}
	}
}

func h2Attacks(t *testing.T, p *proc, tok, user string) {
	req := func(method, path string, extra ...string) []string {
		return append([]string{":method", method, ":scheme", "https", ":authority", p.Addr, ":path", path,
			"authorization", "Bearer " + tok}, extra...)
	}
	deniedPath := "/v1.0/users/" + user + "/messages"

	// Malformed requests: each stream is refused by the server or the
	// proxy; none reaches Graph.
	h := dialH2(t, p)
	h.headers(1, true, req("GET", "https://evil.example"+deniedPath)...)            // absolute :path
	h.headers(3, true, req("GET", deniedPath, "transfer-encoding", "chunked")...)   // connection-specific header
	h.headers(5, true, req("GET", "/v1.0/users?$top=1", ":path", deniedPath)...)    // duplicate pseudo-header
	h.headers(7, true, req("GET", "/v1.0/users?$top=1", "Upper-Case", "x")...)      // upper-case field name
	h.headers(9, true, req("CONNECT", deniedPath)...)                               // CONNECT with a path
	h.headers(11, true, req("GET", deniedPath, "x-http-method-override", "GET")...) // a plain denial
	got, _ := h.answers(2 * time.Second)
	for stream, st := range got {
		if st != 0 && (st < 400 || st >= 500) {
			t.Errorf("h2 stream %d: %d; want a refusal", stream, st)
		}
	}

	// Rapid reset (CVE-2023-44487): streams opened and cancelled at once.
	// The proxy keeps serving, and every stream that became a call is
	// recorded.
	h = dialH2(t, p)
	p.sim.Graph.ResetRequests()
	flood := time.Now()
	for i := uint32(1); i < 2*400; i += 2 {
		h.headers(i, true, req("GET", "/v1.0/users?$top=1")...)
		h.fr.WriteRSTStream(i, http2.ErrCodeCancel)
	}
	h.answers(2 * time.Second)
	if r := p.Do("GET", "/v1.0/users?$top=1", ""); r.Status != 200 {
		t.Errorf("after a rapid-reset flood: %d", r.Status)
	}
	graphCalls := 0
	for _, r := range graphSaw(p.sim) {
		if r.Path == "/v1.0/users" {
			graphCalls++
		}
	}
	var forwarded int
	proxytest.WaitWithin(t, "records of the forwarded streams", 10*time.Second, func() bool {
		forwarded = 0
		for _, r := range p.Records() {
			if r.Kind == "" && r.Path == "/users" && r.Decision == "allow" && !r.Time.Before(flood.Add(-time.Second)) {
				forwarded++
			}
		}
		return forwarded >= graphCalls
	})
	t.Logf("rapid reset: 400 streams opened and reset, %d reached Graph, %d allowed calls recorded", graphCalls, forwarded)

	// Protocol errors never become requests, so no record tells of them:
	// the metric does (here the CONNECT with a path above).
	resp, err := http.Get("http://" + p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	counted := false
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "graph_proxy_http2_errors_total{") && strings.Contains(line, "bad_connect") {
			counted = true
		}
	}
	if !counted {
		t.Errorf("the refused CONNECT is not in graph_proxy_http2_errors_total")
	}

	// A header list beyond the limit is refused (431) before the handler.
	h = dialH2(t, p)
	h.headers(1, true, req("GET", "/v1.0/users?$top=1", "x-pad", strings.Repeat("a", 200<<10))...)
	got, closed := h.answers(2 * time.Second)
	if st := got[1]; st != 431 && st != 0 && !closed {
		t.Errorf("h2 200 KiB header list: %d", st)
	}
}
