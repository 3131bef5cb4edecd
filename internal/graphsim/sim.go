package graphsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// Fixed, obviously fictitious directory ids. Credentials are generated at
// start-up and never fixed.
const (
	// CustomerTenant is the tenant that runs graph-proxy and owns the
	// mailboxes.
	CustomerTenant = "c1a5517e-0000-4000-8000-000000000001"
	// VendorTenant is the SaaS vendor's tenant.
	VendorTenant = "d2b6628f-0000-4000-8000-000000000002"
	// ManagedIdentityClientID is the proxy's user-assigned managed identity.
	ManagedIdentityClientID = "a0000000-0000-4000-8000-0000000000a1"
	// SystemIdentityClientID is the system-assigned identity.
	SystemIdentityClientID = "a0000000-0000-4000-8000-0000000000a0"
	// ProxyAppID is graph-proxy's app registration in the customer tenant
	// (the keyVault* and federated modes).
	ProxyAppID = "b0000000-0000-4000-8000-0000000000b1"
	// VendorAppID is the vendor's integration app.
	VendorAppID = "e0000000-0000-4000-8000-0000000000e1"
	// ProxyAudience is the application id URI vendors request tokens for.
	ProxyAudience = "api://graph-proxy"
	// GraphResource is the audience of Graph tokens.
	GraphResource = "https://graph.microsoft.com"
	// VaultResource is the audience of Key Vault tokens.
	VaultResource = "https://vault.azure.net"
	// TokenExchangeAudience is what a managed identity requests to act as
	// a federated credential.
	TokenExchangeAudience = "api://AzureADTokenExchange"
)

// Options configure a Sim. The zero value starts every service on a random
// loopback port.
type Options struct {
	// Host is the address to listen on. Default 127.0.0.1.
	Host string
	// Ports fixes the services' ports (Entra, Graph, Key Vault, identity);
	// zero picks a free one.
	EntraPort, GraphPort, VaultPort, IdentityPort, MonitorPort int
	// Users is how many mailbox users Graph has. Default 30.
	Users int
	// PageSize is Graph's default page size, small so that paging shows.
	// Default 10.
	PageSize int
	// TokenLifetime is the lifetime of issued tokens. Default 1h.
	TokenLifetime time.Duration
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
	// SigningKey, when set, is Entra's first signing key instead of a
	// fresh one. Tests in one process share it because MSAL for Go caches
	// managed-identity tokens process-wide: a token cached from an earlier
	// simulator must still verify in the next.
	SigningKey *rsa.PrivateKey
}

// Sim is a local stand-in for Entra ID, the Container Apps managed-identity
// endpoint, Key Vault and Microsoft Graph, each on its own TLS listener with
// a certificate from a CA generated at start.
type Sim struct {
	Entra    *Entra
	Identity *Identity
	Vault    *Vault
	Graph    *Graph
	// Monitor is a Logs Ingestion data collection endpoint.
	Monitor *Monitor
	// SharePoint serves the download and upload URLs of file content,
	// under a host name of its own (files.go).
	SharePoint *SharePoint
	// Outlook serves the upload URLs of mail attachment upload sessions,
	// under a host name of its own (attachments.go).
	Outlook *Outlook

	caPEM   []byte
	pool    *x509.CertPool
	servers []*http.Server
	wg      sync.WaitGroup
	graphLn *goAwayListener
}

// Start generates the CA and starts every service.
func Start(o Options) (*Sim, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Users == 0 {
		o.Users = 30
	}
	if o.PageSize == 0 {
		o.PageSize = 10
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	caPEM, cert, err := newCA(o.Host)
	if err != nil {
		return nil, err
	}
	s := &Sim{caPEM: caPEM, pool: x509.NewCertPool()}
	s.pool.AppendCertsFromPEM(caPEM)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	listen := func(port int) (net.Listener, string, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(port)))
		if err != nil {
			return nil, "", err
		}
		return ln, "https://" + ln.Addr().String(), nil
	}
	var lns [5]net.Listener
	var urls [5]string
	for i, p := range []int{o.EntraPort, o.GraphPort, o.VaultPort, o.IdentityPort, o.MonitorPort} {
		if lns[i], urls[i], err = listen(p); err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, fmt.Errorf("graphsim: %w", err)
		}
	}
	s.Entra, err = newEntra(urls[0], o.TokenLifetime, o.SigningKey)
	if err != nil {
		return nil, err
	}
	s.Identity = newIdentity(urls[3], s.Entra)
	s.Vault = newVault(urls[2], s.Entra)
	s.Graph = newGraph(urls[1], s.Entra, o.Users, o.PageSize)
	s.Monitor = newMonitor(urls[4], s.Entra)
	s.graphLn = &goAwayListener{Listener: lns[1], tls: tlsConf}
	lns[1] = s.graphLn

	for i, h := range []http.Handler{s.Entra, s.Graph, s.Vault, s.Identity, s.Monitor} {
		srv := &http.Server{
			Handler:           logRequests(o.Logger, h),
			TLSConfig:         tlsConf.Clone(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
		}
		s.servers = append(s.servers, srv)
		ln := lns[i]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Logger.Error("graphsim server stopped", "error", err)
			}
		}()
	}
	if err := s.startSharePoint(o, tlsConf); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startOutlook(o, tlsConf); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// CAPEM is the PEM of the CA that signed every service's certificate.
func (s *Sim) CAPEM() []byte { return s.caPEM }

// CertPool holds the simulator's CA.
func (s *Sim) CertPool() *x509.CertPool { return s.pool }

// Client returns an HTTP client that trusts the simulator's CA.
func (s *Sim) Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.pool}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Close stops every service at once, cutting open connections.
func (s *Sim) Close() error {
	for _, srv := range s.servers {
		srv.Close()
	}
	s.wg.Wait()
	return nil
}

// Shutdown stops every service gracefully within ctx.
func (s *Sim) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func logRequests(l *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Debug("graphsim request", "host", r.Host, "method", r.Method, "path", r.URL.Path)
		h.ServeHTTP(w, r)
	})
}

// newCA makes a CA and a server certificate it signs for host, localhost
// and the loopback addresses.
func newCA(host string) (caPEM []byte, leaf tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "graphsim test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, leaf, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "graphsim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if ip == nil && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, leaf, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leaf = tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	return caPEM, leaf, nil
}

// Env is the environment that points graph-proxy (and a vendor client) at
// the simulator; caFile is where its CA's PEM was written.
func (s *Sim) Env(caFile string) []string {
	vendor := s.Entra.App(VendorTenant, VendorAppID)
	env := []string{
		"IDENTITY_ENDPOINT=" + s.Identity.Endpoint(),
		"IDENTITY_HEADER=" + s.Identity.Header,
		"GRAPH_PROXY_GRAPH_BASEURL=" + s.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL=" + s.Entra.URL,
		"GRAPH_PROXY_UPSTREAM_TENANTID=" + CustomerTenant,
		// For the keyVault* and federated modes (GRAPH_PROXY_UPSTREAM_MODE).
		"GRAPH_PROXY_UPSTREAM_CLIENTID=" + ProxyAppID,
		"GRAPH_PROXY_UPSTREAM_KEYVAULT_URL=" + s.Vault.URL,
		"GRAPH_PROXY_UPSTREAM_KEYVAULT_SECRETNAME=graph-proxy-credential",
		"GRAPH_PROXY_UPSTREAM_KEYVAULT_DISABLECHALLENGERESOURCEVERIFICATION=true",
		"SIM_ENTRA_URL=" + s.Entra.URL,
		"SIM_VAULT_URL=" + s.Vault.URL,
		"SIM_VENDOR_TENANT=" + VendorTenant,
		"SIM_VENDOR_CLIENT_ID=" + vendor.ClientID,
		"SIM_VENDOR_CLIENT_SECRET=" + vendor.Secret,
		"SIM_PROXY_AUDIENCE=" + ProxyAudience,
	}
	if caFile != "" {
		env = append(env, "GRAPH_PROXY_GRAPH_CAFILE="+caFile, "SIM_CA_FILE="+caFile)
	}
	return env
}
