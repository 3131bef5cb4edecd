package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// mint signs a vendor token with the simulator's Entra, with one change.
func mint(t *testing.T, e *proxytest.Env, change func(*graphsim.TokenSpec)) string {
	t.Helper()
	s := graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}}
	if change != nil {
		change(&s)
	}
	tok, _, err := e.Sim.Entra.Mint(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestAuthentication(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	key, kid := e.Sim.Entra.SigningKey()
	claims := func() map[string]any {
		return map[string]any{"aud": graphsim.ProxyAudience, "iss": e.Sim.Entra.Issuer(graphsim.VendorTenant, 2), "tid": graphsim.VendorTenant,
			"azp": graphsim.VendorAppID, "idtyp": "app", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&key.PublicKey))})
	hs256 := func() string {
		head := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid})
		body := b64(claims())
		mac := hmac.New(sha256.New, pubPEM)
		mac.Write([]byte(head + "." + body))
		return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	algNone := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + "."
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	unknownKid := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims()))
		tok.Header["kid"] = "not-a-published-key"
		s, _ := tok.SignedString(otherKey)
		return s
	}
	tampered := func() string {
		parts := strings.Split(mint(t, e, nil), ".")
		c := claims()
		c["azp"] = "e0000000-0000-4000-8000-0000000000ff"
		parts[1] = b64(c)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name       string
		auth       []string // Authorization header values
		wantStatus int
		wantCode   string
		wantDetail string // in the audit record's error
	}{
		{name: "valid v2 token", auth: []string{"Bearer " + mint(t, e, nil)}, wantStatus: 200},
		{name: "valid v1 token", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.Version = 1 })}, wantStatus: 200},
		{name: "lower-case scheme", auth: []string{"bearer " + mint(t, e, nil)}, wantStatus: 200},
		{name: "missing header", wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "no bearer token"},
		{name: "not bearer", auth: []string{"Basic dXNlcjpwYXNz"}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "no bearer token"},
		{name: "two headers", auth: []string{"Bearer " + mint(t, e, nil), "Bearer " + mint(t, e, nil)}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "no bearer token"},
		{name: "malformed", auth: []string{"Bearer abc.def"}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "token is malformed"},
		{name: "alg none", auth: []string{"Bearer " + algNone}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "signing method none is invalid"},
		{name: "HS256 with the public key", auth: []string{"Bearer " + hs256()}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "signing method HS256 is invalid"},
		{name: "unknown kid", auth: []string{"Bearer " + unknownKid()}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "invalid token"},
		{name: "wrong audience", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.Audience = "api://other" })}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "audience [api://other] is not [api://graph-proxy]"},
		{name: "wrong tenant", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.Tenant = "0badc0de-0000-4000-8000-000000000000" })}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "is not an accepted tenant"},
		{name: "expired", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.IssuedAt = time.Now().Add(-3 * time.Hour) })}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "token is expired"},
		{name: "not yet valid", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.NotBefore = time.Now().Add(time.Hour) })}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "token is not valid yet"},
		{name: "tampered payload", auth: []string{"Bearer " + tampered()}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "signature is invalid"},
		{name: "delegated token", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.Delegated = true })}, wantStatus: 401, wantCode: "graphProxy.unauthenticated", wantDetail: "delegated (user) token"},
		{name: "unknown app", auth: []string{"Bearer " + mint(t, e, func(s *graphsim.TokenSpec) { s.AppID = "e0000000-0000-4000-8000-0000000000ee" })}, wantStatus: 403, wantCode: "graphProxy.callerNotAllowed", wantDetail: "is not a caller in the policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Sim.Graph.ResetRequests()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.Server.URL+"/v1.0/users/adele.vance0@"+graphsim.Domain, nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := e.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			rec := e.Record(resp)
			if tt.wantStatus == 200 {
				resp.Body.Close()
				if rec.Caller.Name != "engage" || rec.Caller.Auth != "entra-jwt" || rec.Caller.AppID != graphsim.VendorAppID {
					t.Errorf("audit caller %+v", rec.Caller)
				}
				return
			}
			ge := proxytest.DecodeError(t, resp)
			if ge.Error.Code != tt.wantCode {
				t.Errorf("code %q; want %q", ge.Error.Code, tt.wantCode)
			}
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(ge.Error.Message, tt.wantDetail) {
				t.Errorf("the caller learns why: %q", ge.Error.Message)
			}
			if !strings.Contains(rec.Error, tt.wantDetail) || rec.Status != tt.wantStatus {
				t.Errorf("audit status %d error %q; want %d and %q", rec.Status, rec.Error, tt.wantStatus, tt.wantDetail)
			}
			if n := len(e.Sim.Graph.Requests()); n != 0 {
				t.Errorf("Graph received %d requests", n)
			}
			for _, a := range tt.auth {
				if tok := strings.TrimPrefix(a, "Bearer "); len(tok) > 20 && strings.Contains(e.Audit.String(), tok[len(tok)-20:]) {
					t.Errorf("a token reached the audit log")
				}
			}
		})
	}
	unknown := e.Do("GET", "/v1.0/users/adele.vance0@"+graphsim.Domain, nil,
		"Authorization", "Bearer "+mint(t, e, func(s *graphsim.TokenSpec) { s.AppID = "e0000000-0000-4000-8000-0000000000ee" }))
	unknown.Body.Close()
	if c := e.Record(unknown).Caller; c.TenantID != graphsim.VendorTenant || c.AppID != "e0000000-0000-4000-8000-0000000000ee" {
		t.Errorf("a refused but valid token's identity is not recorded: %+v", c)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSigningKeyRotation(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{EntraOptions: func(o *callers.EntraOptions) { o.UnknownKeyRefresh = time.Hour }})
	get := func(tok string) int {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.Server.URL+"/v1.0/users/adele.vance0@"+graphsim.Domain, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(mint(t, e, nil)); s != 200 {
		t.Fatalf("before rotation: %d", s)
	}
	fetches := e.Sim.Entra.JWKSFetches()
	if _, err := e.Sim.Entra.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if s := get(mint(t, e, nil)); s != 200 {
		t.Fatalf("a token signed with the new key: %d; want 200 without restart", s)
	}
	if got := e.Sim.Entra.JWKSFetches() - fetches; got != 1 {
		t.Errorf("rotation caused %d key fetches; want 1", got)
	}

	// A burst of tokens with unknown key ids: refused, and the key endpoint
	// is not asked again within the refresh interval.
	fetches = e.Sim.Entra.JWKSFetches()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"aud": graphsim.ProxyAudience,
				"iss": e.Sim.Entra.Issuer(graphsim.VendorTenant, 2), "tid": graphsim.VendorTenant, "azp": graphsim.VendorAppID,
				"idtyp": "app", "exp": time.Now().Add(time.Hour).Unix()})
			tok.Header["kid"] = hex.EncodeToString(must(randomBytes(8)))
			s, _ := tok.SignedString(other)
			statuses <- get(s)
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 401 {
			t.Errorf("unknown-kid token answered %d; want 401", s)
		}
	}
	if got := e.Sim.Entra.JWKSFetches() - fetches; got > 0 {
		t.Errorf("50 unknown-kid tokens caused %d key fetches; want none within the interval", got)
	}
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

// pki is a CA and certificates it issues, made for one test.
type pki struct {
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ca := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, key: key, pool: pool}
}

func (p *pki) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: must(x509.ParseCertificate(der))}
}

func thumbprint(c tls.Certificate) string {
	s := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(s[:])
}

func certPolicy(tp string) string {
	return strings.Replace(proxytest.DefaultPolicy, "rules:", `  - name: partner
    match: { certThumbprint: "`+tp+`" }
    permissions: [User.ReadBasic.All]
rules:`, 1)
}

func TestClientCertificates(t *testing.T) {
	good, wrong := newPKI(t, "vendor CA"), newPKI(t, "someone else's CA")
	goodCert, wrongCert := good.client(t, "vendor"), wrong.client(t, "vendor")
	pol := certPolicy(thumbprint(goodCert))
	xfcc := func(c tls.Certificate) string {
		return `Hash=x;Cert="` + url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))) + `";Subject="CN=vendor"`
	}
	clientWith := func(e *proxytest.Env, cert *tls.Certificate) *http.Client {
		tr := e.Server.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: tr}
	}
	path := "/v1.0/users/adele.vance0@" + graphsim.Domain

	t.Run("verified by the handshake", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{Policy: pol, ClientCAs: good.pool})
		resp := e.DoWith(clientWith(e, &goodCert), "GET", path, nil, "Authorization", "")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d; want 200", resp.StatusCode)
		}
		if r := e.Record(resp); r.Caller.Name != "partner" || r.Caller.Auth != "mtls" {
			t.Errorf("caller %+v", r.Caller)
		}
	})
	t.Run("certificate from the wrong CA", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{Policy: pol, ClientCAs: good.pool})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.Server.URL+path, nil)
		// Refused either way: by the handshake, or — when the client
		// withholds a certificate the server's CA list does not name —
		// as a request with no credential.
		resp, err := clientWith(e, &wrongCert).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("status %d; want the handshake refused or 401", resp.StatusCode)
			}
		}
		if n := len(e.Sim.Graph.Requests()); n != 0 {
			t.Errorf("Graph received %d requests", n)
		}
	})
	t.Run("forwarded header ignored unless configured", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{Policy: pol, ClientCAs: good.pool})
		resp := e.Do("GET", path, nil, "Authorization", "", "X-Forwarded-Client-Cert", xfcc(goodCert))
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("status %d; want 401", resp.StatusCode)
		}
	})
	t.Run("forwarded header when configured", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{Policy: pol, ClientCAs: good.pool, ClientCertHeader: "X-Forwarded-Client-Cert"})
		resp := e.Do("GET", path, nil, "Authorization", "", "X-Forwarded-Client-Cert", xfcc(goodCert))
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d; want 200", resp.StatusCode)
		}
		if h := e.Sim.Graph.Requests()[0].Header.Get("X-Forwarded-Client-Cert"); h != "" {
			t.Errorf("the forwarded certificate reached Graph")
		}
		resp = e.Do("GET", path, nil, "Authorization", "", "X-Forwarded-Client-Cert", xfcc(wrongCert))
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("wrong CA in the header: %d; want 401", resp.StatusCode)
		}
		if r := e.Record(resp); !strings.Contains(r.Error, "does not verify") {
			t.Errorf("audit error %q", r.Error)
		}
	})
	t.Run("forwarded header from a peer that is not the ingress", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{Policy: pol, ClientCAs: good.pool, ClientCertHeader: "X-Forwarded-Client-Cert",
			ClientCertProxies: []netip.Prefix{netip.MustParsePrefix("100.100.0.0/17")}})
		resp := e.Do("GET", path, nil, "Authorization", "", "X-Forwarded-Client-Cert", xfcc(goodCert))
		resp.Body.Close()
		if resp.StatusCode != 401 || len(e.Sim.Graph.Requests()) != 0 {
			t.Fatalf("status %d, Graph saw %d; want 401 and nothing", resp.StatusCode, len(e.Sim.Graph.Requests()))
		}
		if r := e.Record(resp); r.Decision != "deny" || r.Status != 401 {
			t.Errorf("record %+v", r)
		}
	})
}

func TestClientIP(t *testing.T) {
	trusted := []string{"10.0.0.0/8"}
	var prefixes []netipPrefix
	for _, p := range trusted {
		prefixes = append(prefixes, mustPrefix(p))
	}
	tests := []struct {
		name, remote, xff, want string
	}{
		{name: "untrusted peer's header ignored", remote: "203.0.113.7:1234", xff: "198.51.100.1", want: "203.0.113.7"},
		{name: "trusted peer", remote: "10.1.2.3:1234", xff: "198.51.100.1", want: "198.51.100.1"},
		{name: "spoofed left entries ignored", remote: "10.1.2.3:1234", xff: "1.2.3.4, 198.51.100.1", want: "198.51.100.1"},
		{name: "chain of trusted proxies", remote: "10.1.2.3:1234", xff: "198.51.100.1, 10.9.9.9", want: "198.51.100.1"},
		{name: "malformed chain", remote: "10.1.2.3:1234", xff: "198.51.100.1, junk", want: "10.1.2.3"},
		{name: "no header", remote: "10.1.2.3:1234", want: "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := callers.ClientIP(r, prefixes); got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
