package callers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// certDir names one client certificate "partner" and one app "engage-eu".
type certDir struct{ thumbprint string }

func (d certDir) CallerForApp(tenant, app string) (string, bool) {
	return "engage-eu", tenant == graphsim.VendorTenant && app == graphsim.VendorAppID
}

func (d certDir) CallerForCert(sha256Hex, _ string) (string, bool) {
	return "partner", sha256Hex == d.thumbprint
}

// newCA returns a fresh CA and a client certificate it issued.
func newCA(t *testing.T, name string) (*x509.CertPool, *x509.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vendor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, cert
}

// xfcc is the header Envoy (the Container Apps ingress) writes for cert.
func xfcc(cert *x509.Certificate) string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return `Hash=x;Cert="` + url.QueryEscape(string(p)) + `";Subject="CN=vendor"`
}

// TestForwardedCertificateTrustedPeers: a forwarded client certificate is
// believed only from a trusted proxy; from any other peer the request is
// unauthenticated, even when it carries another valid credential
// (docs/threat-model.md).
func TestForwardedCertificateTrustedPeers(t *testing.T) {
	const header = "X-Forwarded-Client-Cert"
	roots, cert := newCA(t, "vendor CA")
	_, stranger := newCA(t, "someone else's CA")
	sum := sha256.Sum256(cert.Raw)
	dir := certDir{thumbprint: hex.EncodeToString(sum[:])}
	trusted := []netip.Prefix{
		netip.MustParsePrefix("100.100.0.0/17"),
		netip.MustParsePrefix("2001:db8:100::/48"),
		netip.MustParsePrefix("::ffff:198.51.100.0/120"),
	}
	k := startTenantKeys(t, graphsim.VendorTenant, otherTenant)
	clk := &clock{}
	clk.Set(t0)
	entra := k.entra(t, clk)
	token := k.sign(t, k.claims(graphsim.VendorTenant), graphsim.VendorTenant, "kid-"+graphsim.VendorTenant)

	chain := func(trusted []netip.Prefix) *callers.Chain {
		return &callers.Chain{
			Entra:          entra,
			MTLS:           &callers.MTLS{Roots: roots, Header: header, Dir: dir, TrustedProxies: trusted},
			TrustedProxies: trusted,
		}
	}
	tests := []struct {
		name     string
		chain    *callers.Chain
		remote   string
		header   string // the forwarded certificate; empty sends none
		bearer   string
		tls      *x509.Certificate // verified by the proxy's own listener
		wantName string
		wantErr  error
	}{
		{name: "trusted IPv4 peer", chain: chain(trusted), remote: "100.100.0.168:5000", header: xfcc(cert), wantName: "partner"},
		{name: "trusted IPv6 peer", chain: chain(trusted), remote: "[2001:db8:100::5]:5000", header: xfcc(cert), wantName: "partner"},
		{name: "trusted peer, IPv4-mapped", chain: chain(trusted), remote: "[::ffff:100.100.1.2]:5000", header: xfcc(cert), wantName: "partner"},
		{name: "trusted peer, mapped prefix", chain: chain(trusted), remote: "[::ffff:198.51.100.7]:5000", header: xfcc(cert), wantName: "partner"},
		{name: "untrusted IPv4 peer", chain: chain(trusted), remote: "203.0.113.9:5000", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "untrusted IPv6 peer", chain: chain(trusted), remote: "[2001:db8:200::5]:5000", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "untrusted peer, IPv4-mapped", chain: chain(trusted), remote: "[::ffff:203.0.113.9]:5000", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "IPv6 peer with a zone", chain: chain(trusted), remote: "[fe80::1%eth0]:5000", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "unparsable peer", chain: chain(trusted), remote: "ingress", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "no trusted proxies configured", chain: chain(nil), remote: "100.100.0.168:5000", header: xfcc(cert), wantErr: callers.ErrUnauthenticated},
		{name: "empty header from an untrusted peer", chain: chain(trusted), remote: "203.0.113.9:5000", header: " ", wantErr: callers.ErrUnauthenticated},
		{name: "untrusted peer, header beside a valid token", chain: chain(trusted), remote: "203.0.113.9:5000", header: xfcc(cert), bearer: token, wantErr: callers.ErrUnauthenticated},
		{name: "untrusted peer, header beside its own TLS certificate", chain: chain(trusted), remote: "203.0.113.9:5000", header: xfcc(cert), tls: cert, wantErr: callers.ErrUnauthenticated},
		{name: "trusted peer, valid token beside the header", chain: chain(trusted), remote: "100.100.0.168:5000", header: xfcc(cert), bearer: token, wantName: "engage-eu"},
		{name: "trusted peer, certificate of another CA", chain: chain(trusted), remote: "100.100.0.168:5000", header: xfcc(stranger), wantErr: callers.ErrUnauthenticated},
		{name: "untrusted peer, no header, valid token", chain: chain(trusted), remote: "203.0.113.9:5000", bearer: token, wantName: "engage-eu"},
		{name: "untrusted peer, no header, its own TLS certificate", chain: chain(trusted), remote: "203.0.113.9:5000", tls: cert, wantName: "partner"},
		{name: "untrusted peer, no credential", chain: chain(trusted), remote: "203.0.113.9:5000", wantErr: callers.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest("GET", "https://gp.example/v1.0/users/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.RemoteAddr = tt.remote
			if tt.header != "" {
				r.Header.Set(header, tt.header)
			}
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.tls != nil {
				r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{tt.tls}}}
			}
			c, err := tt.chain.Authenticate(r)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || c.Name != tt.wantName {
				t.Errorf("got %q, %v; want %q, %v", c.Name, err, tt.wantName, tt.wantErr)
			}
		})
	}
}

// TestForwardedCertificateMTLSAlone: MTLS used without a Chain fails
// closed the same way.
func TestForwardedCertificateMTLSAlone(t *testing.T) {
	roots, cert := newCA(t, "vendor CA")
	sum := sha256.Sum256(cert.Raw)
	m := &callers.MTLS{Roots: roots, Header: "X-Forwarded-Client-Cert", Dir: certDir{thumbprint: hex.EncodeToString(sum[:])},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name, remote, wantName string
		wantErr                error
	}{
		{name: "trusted peer", remote: "10.1.2.3:5000", wantName: "partner"},
		{name: "untrusted peer", remote: "192.0.2.1:5000", wantErr: callers.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "https://gp.example/v1.0/users/x", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-Client-Cert", xfcc(cert))
			c, err := m.Authenticate(r)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || c.Name != tt.wantName {
				t.Errorf("got %q, %v; want %q, %v", c.Name, err, tt.wantName, tt.wantErr)
			}
			// The certificate is the caller's identity (what made a
			// subscription), whatever the policy names it.
			if want := "mtls:sha256:" + hex.EncodeToString(sum[:]); err == nil && c.Identity() != want {
				t.Errorf("identity %q; want %q", c.Identity(), want)
			}
			// Its SHA-1 beside, which a later policy may name it by.
			if s1 := sha1.Sum(cert.Raw); err == nil && c.CertSHA1 != hex.EncodeToString(s1[:]) {
				t.Errorf("CertSHA1 %q; want the certificate's SHA-1", c.CertSHA1)
			}
		})
	}
}
