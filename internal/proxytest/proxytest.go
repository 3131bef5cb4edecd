// Package proxytest runs the real proxy in front of the simulator for
// end-to-end tests: over TLS and HTTP/2, with a managed-identity token from
// the simulated identity endpoint and the audit log captured.
package proxytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/internal/testaddr"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// Env is one end-to-end setup: the simulator, and the real proxy in front
// of it over TLS (HTTP/2), holding a managed-identity token from the
// simulator's identity endpoint.
type Env struct {
	t *testing.T
	// Sim is the simulator behind the proxy.
	Sim *graphsim.Sim
	// Server is the proxy; Server.URL is its public base.
	Server *httptest.Server
	// Audit holds the audit log as written.
	Audit *SyncBuffer
	// Tokens is the proxy's Graph token cache.
	Tokens *upstream.Cache
	// AuditLog is the audit pipeline.
	AuditLog *auditlog.Log
	// PolicyFile and Store are set with Options.Reloadable.
	PolicyFile string
	Store      *policy.Store
	// OBO is the on-behalf-of exchange, with Options.Delegated.
	OBO *upstream.OnBehalfOf
}

type Options struct {
	// MaxBodyBytes caps request bodies; default 4 MiB.
	MaxBodyBytes int64
	// ServerTimeout, when set, is the proxy server's read and write
	// timeout (serve's are a minute and Graph's timeout plus a minute).
	ServerTimeout time.Duration
	// GraphTimeout bounds the wait for Graph's headers; default 30s.
	GraphTimeout time.Duration
	// GraphURL overrides where the proxy forwards (an unreachable port).
	GraphURL string
	// GraphCompression asks Graph for gzip answers (graph.compression).
	GraphCompression bool
	// NoTokenYet skips waiting for the first Graph token.
	NoTokenYet bool
	// FreshIdentity uses a user-assigned identity new to this process, so
	// that MSAL's process-wide token cache has nothing for it.
	FreshIdentity bool
	// IdentityRoles are the Graph application permissions of the
	// FreshIdentity; default User.ReadBasic.All.
	IdentityRoles []string
	// Policy is the policy file's text; default DefaultPolicy.
	Policy string
	// ClientCAs, when set, makes the proxy ask for client certificates
	// issued by them and accept them as credentials.
	ClientCAs *x509.CertPool
	// ClientCertHeader trusts certificates forwarded in this header (as an
	// ingress does); it needs ClientCAs.
	ClientCertHeader string
	// ClientCertProxies are the peers the header is believed from; nil is
	// loopback, where the test's clients (the "ingress") are.
	ClientCertProxies []netip.Prefix
	// EntraOptions adjusts token validation (tests of key rotation).
	EntraOptions func(*callers.EntraOptions)
	// AuditSinks returns sinks added to the test's in-memory audit sink.
	AuditSinks func(*graphsim.Sim) []auditlog.Sink
	// AuditQueue bounds the audit queue; default 4096.
	AuditQueue int
	// Reloadable serves the policy from a file through a policy.Store
	// (Env.PolicyFile, Env.Store), as serve does, so tests can reload it.
	Reloadable bool
	// TokenLifetime is the simulator's token lifetime; default 1h.
	TokenLifetime time.Duration
	// Telemetry receives the proxy's spans and metrics.
	Telemetry *telemetry.Telemetry
	// PseudonymKey, when set, is stored in the simulator's vault and read
	// from there with the managed identity, as serve reads
	// pseudonymKey.secretURI: the key of pseudonyms.
	PseudonymKey string
	// Delegated accepts signed-in users' tokens of the customer's tenant
	// for the proxy's API (scope graphsim.ProxyScope) and exchanges them
	// on behalf of the user, with the proxy's app registration and the
	// managed identity as its federated credential.
	Delegated bool
	// DelegatedOptions adjusts the exchange (its cache bound).
	DelegatedOptions func(*upstream.OnBehalfOfOptions)
	// Sim, when set, is the simulator the proxy stands in front of,
	// another Env's (a second replica); it is not closed with this Env.
	Sim *graphsim.Sim
	// NotificationKey, when set, relays change notifications (policy
	// callers[].notifications: relay) with tokens sealed by this key,
	// rich notifications' validation tokens verified with the
	// simulator's Entra ID keys; the simulator's Graph then delivers to
	// this proxy (notify.go).
	NotificationKey string
	// NotificationClient carries relayed notifications to the callers'
	// endpoints (one that trusts their certificates).
	NotificationClient *http.Client
	// NotificationRate and NotificationBurst bound the notification
	// endpoint (notify.Options.Rate, Burst); zero keeps the defaults.
	NotificationRate  float64
	NotificationBurst int
}

// DefaultPolicy allows the caller "engage" (the simulator's vendor app)
// what the tests exercise, each with its least Graph permission.
const DefaultPolicy = `version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All, Calendars.ReadBasic.All, Calendars.ReadWrite, OnlineMeetings.ReadWrite.All]
rules:
  - { id: users-list, method: GET, path: "/users", query: [$select, $top, $filter, $count], permission: User.ReadBasic.All }
  - { id: users-get, method: GET, path: "/users/{user}", query: [$select], permission: User.ReadBasic.All }
  - { id: users-delta, method: GET, path: "/users/delta", query: [$select, $top], permission: User.ReadBasic.All }
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: events-list, method: GET, path: "/users/{user}/events", query: [$select, $top, $filter, $orderby], permission: Calendars.ReadBasic.All }
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite }
  - { id: events-item, method: [GET, PATCH, DELETE], path: "/users/{user}/events/{id}", permission: Calendars.ReadWrite }
  - { id: meetings-create, method: POST, path: "/users/{user}/onlineMeetings", permission: OnlineMeetings.ReadWrite.All }
`

// signingKey is shared by every simulator in this test binary; see
// graphsim.Options.SigningKey.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// New starts the simulator and the proxy; both stop when the test ends.
// It sets IDENTITY_ENDPOINT and IDENTITY_HEADER, so its test may not be
// parallel.
func New(t *testing.T, o Options) *Env {
	t.Helper()
	sim, err := o.Sim, error(nil)
	if sim == nil {
		if sim, err = graphsim.Start(graphsim.Options{SigningKey: signingKey(), TokenLifetime: o.TokenLifetime}); err != nil {
			t.Fatalf("graphsim: %v", err)
		}
		t.Cleanup(func() { sim.Close() })
	}
	// The managed-identity credential finds the Container Apps endpoint
	// through these, as it does in Azure.
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)

	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.GraphTimeout == 0 {
		o.GraphTimeout = 30 * time.Second
	}
	login, _ := url.Parse(sim.Entra.URL)
	uo := upstream.Options{Mode: "managedIdentity", LoginURL: login, HTTPClient: sim.Client()}
	if o.FreshIdentity {
		uo.ManagedIdentityClientID = uuid.NewString()
		roles := o.IdentityRoles
		if roles == nil {
			roles = []string{"User.ReadBasic.All"}
		}
		sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: uo.ManagedIdentityClientID,
			ObjectID: uuid.NewString(), Roles: map[string][]string{graphsim.GraphResource: roles}})
	}
	cred, err := upstream.NewCredential(uo)
	if err != nil {
		t.Fatalf("credential: %v", err)
	}
	tokens := upstream.NewCache(cred, graphsim.GraphResource+"/.default")

	graphURL := sim.Graph.URL
	if o.GraphURL != "" {
		graphURL = o.GraphURL
	}
	gu, _ := url.Parse(graphURL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse("https://" + ln.Addr().String())
	audit := &SyncBuffer{}
	sinks := []auditlog.Sink{&auditlog.WriterSink{SinkName: "test", W: audit}}
	if o.AuditSinks != nil {
		sinks = append(sinks, o.AuditSinks(sim)...)
	}
	auditLog, err := auditlog.New(auditlog.Options{Replica: "test-replica", Sinks: sinks, QueueSize: o.AuditQueue, RetryBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		auditLog.Close(ctx, &auditlog.Record{Kind: "close"})
	})
	if o.Policy == "" {
		o.Policy = DefaultPolicy
	}
	pol, err := policy.Parse("test-policy.yaml", []byte(o.Policy))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	var decider interface {
		policy.Decider
		Limits(caller string) policy.Limits
		callers.Directory
	} = pol
	var store *policy.Store
	var policyFile string
	if o.Reloadable {
		policyFile = filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(policyFile, []byte(o.Policy), 0o600); err != nil {
			t.Fatal(err)
		}
		if store, err = policy.NewStore(policyFile); err != nil {
			t.Fatal(err)
		}
		decider = store
	}
	transport := proxy.NewTransport(proxy.TransportOptions{RootCAs: sim.CertPool(), ResponseHeaderTimeout: o.GraphTimeout, Compression: o.GraphCompression})
	eo := callers.EntraOptions{
		Tenants:    []string{graphsim.VendorTenant},
		Audiences:  []string{graphsim.ProxyAudience},
		LoginURL:   sim.Entra.URL,
		STSURL:     "https://sts.windows.net",
		HTTPClient: sim.Client(),
	}
	var obo *upstream.OnBehalfOf
	if o.Delegated {
		eo.Tenants = append(eo.Tenants, graphsim.CustomerTenant)
		eo.AllowDelegated, eo.UserTenants, eo.UserScope = true, []string{graphsim.CustomerTenant}, graphsim.ProxyScope
		obo = delegated(t, sim, login, o.DelegatedOptions)
	}
	if o.EntraOptions != nil {
		o.EntraOptions(&eo)
	}
	entra, err := callers.NewEntra(t.Context(), eo, decider)
	if err != nil {
		t.Fatalf("inbound authentication: %v", err)
	}
	t.Cleanup(entra.Close)
	auth := &callers.Chain{Entra: entra}
	if o.ClientCAs != nil {
		trusted := o.ClientCertProxies
		if trusted == nil {
			trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		}
		auth.MTLS = &callers.MTLS{Roots: o.ClientCAs, Header: o.ClientCertHeader, Dir: decider, TrustedProxies: trusted}
	}
	var pseudonyms proxy.PseudonymKey
	if o.PseudonymKey != "" {
		pseudonyms = pseudonymKey(t, sim, login, o.PseudonymKey)
	}
	// One membership cache for the calls and the notifications, as serve has.
	members := &proxy.GraphMembership{Graph: gu, Transport: transport, Tokens: tokens, TTL: time.Minute, MaxEntries: 1000, Audit: auditLog}
	h, err := proxy.New(proxy.Options{
		Files:              files(t, sim),
		PseudonymKey:       pseudonyms,
		Graph:              gu,
		PublicBase:         public,
		Transport:          transport,
		UpstreamIdle:       o.GraphTimeout,
		Callers:            auth,
		Policy:             decider,
		Limiter:            proxy.NewLimiter(nil),
		Limits:             decider,
		Telemetry:          o.Telemetry,
		Members:            members,
		SubscriptionOwners: &proxy.SubscriptionOwners{},
		Notifications: notifications(t, o, sim, public, func() *policy.Policy {
			if store != nil {
				return store.Policy()
			}
			return pol
		}, auditLog, members),
		Tokens:       tokens,
		Delegated:    delegatedSource(obo),
		Audit:        auditLog,
		MaxBodyBytes: o.MaxBodyBytes,
		Replica:      "test-replica",
		Ready:        []proxy.ReadyCheck{{Name: "token", Check: tokens.Ready}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.EnableHTTP2 = true
	if o.ServerTimeout > 0 {
		srv.Config.ReadTimeout, srv.Config.WriteTimeout = o.ServerTimeout, o.ServerTimeout
	}
	if o.ClientCAs != nil {
		srv.TLS = &tls.Config{ClientCAs: o.ClientCAs, ClientAuth: tls.VerifyClientCertIfGiven}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if o.NotificationKey != "" {
		sim.Graph.Subscriptions.SetClient(srv.Client())
	}

	e := &Env{t: t, Sim: sim, Server: srv, Audit: audit, Tokens: tokens, AuditLog: auditLog, PolicyFile: policyFile, Store: store, OBO: obo}
	if !o.NoTokenYet {
		if _, err := tokens.Token(t.Context()); err != nil {
			t.Fatalf("first Graph token: %v", err)
		}
	}
	return e
}

// Do sends a request through the proxy with a vendor-looking bearer token.
func (e *Env) Do(method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	return e.DoWith(e.Server.Client(), method, path, body, hdr...)
}

// HTTP1Client speaks HTTP/1.1 to the proxy, which lets a test send the
// connection-level headers that HTTP/2 forbids.
func (e *Env) HTTP1Client() *http.Client {
	t := e.Server.Client().Transport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = false
	t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &http.Client{Transport: t}
}

// VendorToken is a valid access token of the simulator's vendor app for
// the proxy, as the vendor's SDK would present it.
func (e *Env) VendorToken() string {
	e.t.Helper()
	tok, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// DoWith is Do with another client.
func (e *Env) DoWith(client *http.Client, method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.Server.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.VendorToken())
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// Records waits (bounded) until at least n audit records were written and
// returns them all.
func (e *Env) Records(n int) []auditlog.Record {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := e.Audit.Records(e.t)
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) < n {
				e.t.Fatalf("got %d audit records; want %d", len(recs), n)
			}
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Record waits (bounded) for the audit record of the call that got resp,
// found by the x-graph-proxy-request-id header.
func (e *Env) Record(resp *http.Response) auditlog.Record {
	e.t.Helper()
	id := resp.Header.Get("x-graph-proxy-request-id")
	var found auditlog.Record
	WaitFor(e.t, "the audit record of "+id, func() bool {
		for _, r := range e.Audit.Records(e.t) {
			if r.RequestID == id {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Records parses the audit lines written so far.
func (s *SyncBuffer) Records(t *testing.T) []auditlog.Record {
	t.Helper()
	return ParseRecords(t, []byte(s.String()))
}

// ParseRecords parses audit lines. A last line without its newline (a
// writer mid-write) is not a record yet.
func ParseRecords(t *testing.T, data []byte) []auditlog.Record {
	t.Helper()
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []auditlog.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r auditlog.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// GraphError is the error body the proxy and Graph both answer with.
type GraphError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
			Date            string `json:"date"`
		} `json:"innerError"`
	} `json:"error"`
}

// DecodeError reads and closes an error answer.
func DecodeError(t *testing.T, resp *http.Response) GraphError {
	t.Helper()
	defer resp.Body.Close()
	var ge GraphError
	if err := json.NewDecoder(resp.Body).Decode(&ge); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return ge
}

// WaitFor polls cond for at most 10 seconds.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, what, 10*time.Second, cond)
}

// FreeAddr is a loopback address for a process the test starts to listen
// on (testaddr.Free).
func FreeAddr(t *testing.T) string {
	t.Helper()
	return testaddr.Free(t)
}

// WaitWithin polls cond for at most limit.
func WaitWithin(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// T is the test the Env belongs to.
func (e *Env) T() *testing.T { return e.t }

// SetPolicy writes text to the policy file and has the proxy load it, as
// an operator's change is read (Options.Reloadable); a policy that fails
// to load fails the test.
func (e *Env) SetPolicy(text string) {
	e.t.Helper()
	if err := os.WriteFile(e.PolicyFile, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := e.Store.Reload(); err != nil {
		e.t.Fatal(err)
	}
}

// PseudonymSecret is the simulator's secret that holds Options.PseudonymKey.
const PseudonymSecret = "graph-proxy-pseudonym-key"

// pseudonymKey stores key in the simulator's vault and reads it back as
// serve does.
func pseudonymKey(t *testing.T, sim *graphsim.Sim, login *url.URL, key string) *secretkey.Vault {
	t.Helper()
	sim.Vault.SetSecret(PseudonymSecret, key, "")
	mi, err := upstream.NewCredential(upstream.Options{Mode: "managedIdentity", LoginURL: login, HTTPClient: sim.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := secretkey.New(secretkey.Options{VaultURL: sim.Vault.URL, Name: PseudonymSecret, Credential: mi,
		HTTPClient: sim.Client(), DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Load(t.Context()); err != nil {
		t.Fatalf("pseudonym key: %v", err)
	}
	return v
}

// files is what the proxy needs to move file content in front of the
// simulator: the global cloud's file hosts plus the simulated SharePoint
// and Outlook hosts (added here only: nothing adds a host by default),
// and a key of file links fresh for the test.
func files(t *testing.T, sim *graphsim.Sim) *proxy.Files {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := filelink.NewSealer(seal.Static{key})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := url.Parse(sim.SharePoint.URL)
	if err != nil {
		t.Fatal(err)
	}
	outlook, err := url.Parse(sim.Outlook.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &proxy.Files{Hosts: filelink.CloudHosts("global").With(sp.Host, outlook.Host), Links: sealer}
}
