package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestOPAPeerAgrees: on the bench's policy, the OPA peer lets through what
// graph-proxy lets through and refuses, with the same status, what it
// refuses. graph-proxy runs in front of the simulator; the peer in front of
// the bench's backend, with the simulator's JWKS as data.
func TestOPAPeerAgrees(t *testing.T) {
	env := proxytest.New(t, proxytest.Options{Policy: benchPolicy(200)})

	graph := httptest.NewUnstartedServer(newBackend(false, 0))
	graph.EnableHTTP2 = true
	graph.StartTLS()
	t.Cleanup(graph.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: graph.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := env.Sim.Client().Get(env.Sim.Entra.URL + "/" + graphsim.VendorTenant + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var accessLog proxytest.SyncBuffer
	p, err := newPeer(t.Context(), peerConfig{Upstream: graph.URL, CAFile: caFile, Policy: []byte(benchPolicy(200)), JWKS: jwks,
		LoginURL: env.Sim.Entra.URL, STSURL: "https://sts.windows.net", Tenant: graphsim.VendorTenant,
		Audience: graphsim.ProxyAudience, AccessLog: &accessLog})
	if err != nil {
		t.Fatal(err)
	}
	peerSrv := httptest.NewServer(p)
	t.Cleanup(peerSrv.Close)

	token := env.VendorToken()
	// The same header and claims, signed by no key of the tenant's.
	forged := token[:strings.LastIndexByte(token, '.')+1] + "c2lnbmF0dXJl"
	schedule := func(who string) string { return strings.ReplaceAll(scheduleBody, `"{user}"`, who) }
	// A mailbox the simulator has, so that graph-proxy's calls let through
	// succeed there.
	_, upns := env.Sim.Graph.Users()
	user := upns[0]
	mailbox := "/v1.0/users/" + user
	tests := []struct {
		name, method, path, body, token string
		// want is the status of a refusal; 0: the call is let through.
		want int
	}{
		{name: "getSchedule of the tenant's mailbox", method: "POST", path: mailbox + "/calendar/getSchedule",
			body: schedule(`"` + user + `"`), token: token},
		{name: "event creation", method: "POST", path: mailbox + "/events", body: eventBody, token: token},
		{name: "getSchedule naming an outsider", method: "POST", path: mailbox + "/calendar/getSchedule",
			body: schedule(`"` + user + `", "ceo@fabrikam.example"`), token: token, want: 403},
		{name: "getSchedule naming no one", method: "POST", path: mailbox + "/calendar/getSchedule",
			body: schedule(""), token: token, want: 400},
		{name: "a route no rule serves", method: "GET", path: mailbox + "/messages", token: token, want: 403},
		{name: "a listing of events (-reads)", method: "GET", path: mailbox + readQuery, token: token},
		{name: "a method no rule serves", method: "PUT", path: mailbox + "/events", body: eventBody, token: token, want: 403},
		{name: "a read with a query option its rule does not list", method: "GET", path: mailbox + "/events?$filter=isCancelled", token: token, want: 403},
		{name: "a query option the rule does not list", method: "POST", path: mailbox + "/events?$top=5", body: eventBody, token: token, want: 403},
		{name: "a forged signature", method: "POST", path: mailbox + "/events", body: eventBody, token: forged, want: 401},
		{name: "no token", method: "POST", path: mailbox + "/events", body: eventBody, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gp := call(t, env.Server.Client(), env.Server.URL, tt.method, tt.path, tt.body, tt.token)
			opa := call(t, peerSrv.Client(), peerSrv.URL, tt.method, tt.path, tt.body, tt.token)
			t.Logf("graph-proxy %d, OPA peer %d", gp, opa)
			if tt.want == 0 && (gp > 299 || opa > 299) {
				t.Errorf("graph-proxy %d, OPA peer %d; want both to succeed", gp, opa)
			}
			if got := refusal(gp); got != tt.want {
				t.Errorf("graph-proxy: status %d; want %s", gp, verdict(tt.want))
			}
			if got := refusal(opa); got != tt.want {
				t.Errorf("OPA peer: status %d; want %s", opa, verdict(tt.want))
			}
		})
	}

	// One access-log line per call, without the token.
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(accessLog.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		if rec["decision"] != "allow" && rec["decision"] != "deny" {
			t.Errorf("access log line without a decision: %s", sc.Text())
		}
		lines++
	}
	if lines != len(tests) {
		t.Errorf("%d access log lines; want %d", lines, len(tests))
	}
	if strings.Contains(accessLog.String(), token[:20]) {
		t.Error("the access log holds the token")
	}
}

// call sends one request and returns the answer's status.
func call(t *testing.T, client *http.Client, base, method, path, body, token string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// refusal is the status of a proxy's refusal, or 0 for a call it let
// through.
func refusal(status int) int {
	switch status {
	case 400, 401, 403, 415:
		return status
	}
	return 0
}

func verdict(status int) string {
	if status == 0 {
		return "the call let through"
	}
	return http.StatusText(status)
}

// BenchmarkOPADecide is the peer's decision on the load's getSchedule call
// (a token seen before), without the network.
func BenchmarkOPADecide(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	const login, tenant, aud = "https://login.example", "d2b6628f-0000-4000-8000-000000000002", "api://graph-proxy"
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()), "e": "AQAB"}}})
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"aud": aud, "iss": login + "/" + tenant + "/v2.0", "tid": tenant,
		"azp": "e0000000-0000-4000-8000-0000000000e1", "idtyp": "app", "exp": time.Now().Add(time.Hour).Unix(),
		"iat": time.Now().Unix(), "nbf": time.Now().Unix()})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	p, err := newPeer(b.Context(), peerConfig{Upstream: "https://127.0.0.1:1", CAFile: os.DevNull, Policy: []byte(benchPolicy(200)), JWKS: jwks,
		LoginURL: login, STSURL: "https://sts.windows.net", Tenant: tenant, Audience: aud, AccessLog: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.ReplaceAll(scheduleBody, "{user}", "user7@contoso.example")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1.0/users/user7@contoso.example/calendar/getSchedule", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+signed)
		req.Header.Set("Content-Type", "application/json")
		in, err := p.input(httptest.NewRecorder(), req)
		if err != nil {
			b.Fatal(err)
		}
		d, err := p.decide(b.Context(), in)
		if err != nil || !d.Allow {
			b.Fatalf("%+v %v", d, err)
		}
	}
}
