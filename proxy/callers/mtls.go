package callers

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// MTLS authenticates callers by client certificate: one verified by the
// proxy's own TLS listener, or — only when Header is set — one an ingress
// (Container Apps in client-certificate mode) forwards in that header,
// which is then verified here against Roots. The header is believed only
// from a peer in TrustedProxies; from any other peer it makes the request
// unauthenticated, whatever else it carries.
type MTLS struct {
	// Roots are the CAs that issue vendor client certificates.
	Roots *x509.CertPool
	// Header names the forwarded-certificate header (e.g.
	// X-Forwarded-Client-Cert); empty ignores any such header.
	Header string
	// TrustedProxies are the peers (the ingress) that may forward a
	// certificate in Header. Empty (the default) trusts none: with Header
	// set, every request carrying it is refused. Fails closed.
	TrustedProxies []netip.Prefix
	Dir            Directory
	// Now is the clock for verifying forwarded certificates; nil uses
	// time.Now.
	Now func() time.Time
}

// Authenticate names the caller of a client certificate.
func (m *MTLS) Authenticate(r *http.Request) (Caller, error) {
	cert, err := m.certificate(r)
	if err != nil {
		return Caller{}, err
	}
	s256, s1 := sha256.Sum256(cert.Raw), sha1.Sum(cert.Raw)
	tp256, tp1 := hex.EncodeToString(s256[:]), hex.EncodeToString(s1[:])
	c := Caller{Auth: "mtls", CertSHA256: tp256, CertSHA1: tp1}
	name, ok := m.Dir.CallerForCert(tp256, tp1)
	if !ok {
		return c, reject(ErrUnknownCaller, "client certificate %s (%s) is not a caller in the policy", tp256, cert.Subject)
	}
	c.Name = name
	return c, nil
}

// checkForwarded refuses (ErrUnauthenticated) a request that carries the
// forwarded-certificate header from a peer that is not a trusted proxy.
// Such a request is refused rather than the header ignored: a client
// writing it itself is forging a credential, and if it is the ingress at
// an address not configured, the operator must hear of it, not see
// certificate callers silently fall back to other credentials.
func (m *MTLS) checkForwarded(r *http.Request) error {
	if m.Header == "" || len(r.Header.Values(m.Header)) == 0 {
		return nil
	}
	peer := RemoteIP(r)
	if a, err := netip.ParseAddr(peer); err != nil || !isTrusted(a, m.TrustedProxies) {
		return reject(ErrUnauthenticated, "forwarded client certificate (%s) from %s, which is not a trusted proxy (inbound.trustedProxies)", m.Header, peer)
	}
	return nil
}

// certificate returns the verified client certificate of r.
func (m *MTLS) certificate(r *http.Request) (*x509.Certificate, error) {
	if err := m.checkForwarded(r); err != nil {
		return nil, err
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return r.TLS.VerifiedChains[0][0], nil
	}
	if m.Header == "" {
		return nil, reject(ErrUnauthenticated, "no client certificate")
	}
	v := r.Header.Values(m.Header)
	if len(v) != 1 {
		return nil, reject(ErrUnauthenticated, "no (or more than one) forwarded client certificate")
	}
	cert, inter, err := parseXFCC(v[0])
	if err != nil {
		return nil, reject(ErrUnauthenticated, "forwarded client certificate: %v", err)
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	pool := x509.NewCertPool()
	for _, c := range inter {
		pool.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: m.Roots, Intermediates: pool, CurrentTime: now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, reject(ErrUnauthenticated, "forwarded client certificate does not verify: %v", err)
	}
	return cert, nil
}

// parseXFCC reads the certificate of an X-Forwarded-Client-Cert value as
// Envoy (and so Container Apps) writes it: semicolon-separated key=value
// pairs, Cert holding the URL-encoded PEM (Chain, if present, the chain).
// A bare URL-encoded or plain PEM is accepted too.
func parseXFCC(v string) (*x509.Certificate, []*x509.Certificate, error) {
	var certPEM, chainPEM string
	for part := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cert":
			certPEM = val
		case "chain":
			chainPEM = val
		}
	}
	if certPEM == "" {
		certPEM = v
	}
	certs, err := pemCerts(certPEM)
	if err != nil || len(certs) == 0 {
		return nil, nil, errNoCert
	}
	var chain []*x509.Certificate
	if chainPEM != "" {
		chain, _ = pemCerts(chainPEM)
	}
	return certs[0], append(certs[1:], chain...), nil
}

var errNoCert = errors.New("no certificate in the header")

func pemCerts(s string) ([]*x509.Certificate, error) {
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
