package upstream_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

const scope = graphsim.GraphResource + "/.default"

// setup starts a simulator issuing tokens of the given lifetime and a
// user-assigned identity new to this process (MSAL caches managed-identity
// tokens process-wide), trusted by the proxy's app registration and
// allowed to read its vault, which holds the app's secret.
func setup(t *testing.T, lifetime time.Duration) (*graphsim.Sim, upstream.Options) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{TokenLifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id, oid := uuid.NewString(), uuid.NewString()
	sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: oid, Roles: map[string][]string{
		graphsim.GraphResource: {"User.ReadBasic.All"}, graphsim.VaultResource: nil, graphsim.TokenExchangeAudience: nil}})
	sim.Vault.SetReader(oid, true)
	app := sim.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID)
	app.Federated = append(app.Federated, graphsim.Federation{Subject: oid})
	sim.Entra.Register(app)
	sim.Vault.SetSecret("graph-proxy-credential", app.Secret, "")
	login, _ := url.Parse(sim.Entra.URL)
	return sim, upstream.Options{
		TenantID: graphsim.CustomerTenant, ClientID: graphsim.ProxyAppID, ManagedIdentityClientID: id,
		LoginURL: login, CustomLogin: true, HTTPClient: sim.Client(),
		KeyVaultURL: sim.Vault.URL, SecretName: "graph-proxy-credential", DisableChallengeResourceVerification: true,
	}
}

// certSecret registers a new certificate on the proxy's app and returns
// it, with its key, as the PEM secret Key Vault would hold.
func certSecret(t *testing.T, sim *graphsim.Sim) string {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "graph-proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	app := sim.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID)
	app.Certificates = append(app.Certificates, cert)
	sim.Entra.Register(app)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func TestModes(t *testing.T) {
	tests := []struct {
		mode    string
		wantApp func(o upstream.Options) string
		prepare func(t *testing.T, sim *graphsim.Sim)
	}{
		{mode: upstream.ModeManagedIdentity, wantApp: func(o upstream.Options) string { return o.ManagedIdentityClientID }},
		{mode: upstream.ModeKeyVaultSecret, wantApp: func(upstream.Options) string { return graphsim.ProxyAppID }},
		{mode: upstream.ModeKeyVaultCertificate, wantApp: func(upstream.Options) string { return graphsim.ProxyAppID },
			prepare: func(t *testing.T, sim *graphsim.Sim) {
				sim.Vault.SetSecret("graph-proxy-credential", certSecret(t, sim), "application/x-pem-file")
			}},
		{mode: upstream.ModeFederated, wantApp: func(upstream.Options) string { return graphsim.ProxyAppID }},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			sim, o := setup(t, time.Hour)
			if tt.prepare != nil {
				tt.prepare(t, sim)
			}
			o.Mode = tt.mode
			cred, err := upstream.NewCredential(o)
			if err != nil {
				t.Fatal(err)
			}
			cache := upstream.NewCache(cred, scope)
			tok, err := cache.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			claims, err := sim.Entra.Validate(tok.Value, graphsim.GraphResource)
			if err != nil || claims["appid"] != tt.wantApp(o) {
				t.Fatalf("token %v, appid %v; want a Graph token of %s", err, claims["appid"], tt.wantApp(o))
			}
			again, _ := cache.Token(t.Context())
			if again.Value != tok.Value || cache.Fetches() != 1 {
				t.Errorf("second call fetched again (%d fetches); want the cached token", cache.Fetches())
			}
			steps, dtok := upstream.Diagnose(t.Context(), o, scope)
			for _, s := range steps {
				if s.Err != nil {
					t.Errorf("check step %s: %v", s.Name, s.Err)
				}
			}
			if dtok.Token == "" || len(steps) < 2 {
				t.Errorf("check acquired no token in %d steps", len(steps))
			}
		})
	}
}

func TestSingleFlight(t *testing.T) {
	sim, o := setup(t, time.Hour)
	o.Mode = upstream.ModeManagedIdentity
	sim.Identity.SetDelay(200 * time.Millisecond) // everyone arrives while the one fetch is out
	cred, _ := upstream.NewCredential(o)
	cache := upstream.NewCache(cred, scope)
	before := sim.Identity.Requests()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cache.Token(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Identity.Requests() - before; n != 1 {
		t.Errorf("100 concurrent callers caused %d identity endpoint requests; want 1", n)
	}
}

func TestRefreshAheadAndOutage(t *testing.T) {
	// 12 s tokens: refreshed 6 s before expiry, usable until 5 s before.
	sim, o := setup(t, 12*time.Second)
	o.Mode = upstream.ModeManagedIdentity
	cred, _ := upstream.NewCredential(o)
	cache := upstream.NewCache(cred, scope)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go cache.Run(ctx)
	first := waitToken(t, cache)
	// Refreshed ahead of expiry, with no gap.
	deadline := time.Now().Add(15 * time.Second)
	for {
		tok, err := cache.Token(ctx)
		if err != nil {
			t.Fatalf("a gap while refreshing: %v", err)
		}
		if tok.Value != first.Value {
			if !tok.ExpiresOn.After(first.ExpiresOn) {
				t.Errorf("the new token does not outlive the old")
			}
			if time.Now().After(first.ExpiresOn) {
				t.Errorf("refreshed only after expiry")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never refreshed")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The identity endpoint goes down: the token in hand keeps serving
	// until it expires, then callers get ErrUnavailable and readiness fails.
	held, _ := cache.Token(ctx)
	sim.Identity.Fail(500, "")
	served := 0
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, err := cache.Token(ctx)
		if err != nil {
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("got %v; want ErrUnavailable", err)
			}
			break
		}
		served++
		if time.Now().After(deadline) {
			t.Fatal("still serving long after expiry")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if served == 0 || time.Now().Before(held.ExpiresOn.Add(-6*time.Second)) {
		t.Errorf("served %d calls during the outage, failed %v before expiry; want the held token used to the end", served, time.Until(held.ExpiresOn))
	}
	if err := cache.Ready(); err == nil {
		t.Error("ready without a valid token")
	}
	sim.Identity.Fail(0, "")
	waitToken(t, cache)
	if err := cache.Ready(); err != nil {
		t.Errorf("not ready after recovery: %v", err)
	}
}

func waitToken(t *testing.T, c *upstream.Cache) upstream.Token {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if tok, err := c.Token(t.Context()); err == nil {
			return tok
		}
		if time.Now().After(deadline) {
			t.Fatal("no token")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKeyVaultRotation(t *testing.T) {
	// Short tokens: MSAL's cache treats them as expired, so every call
	// goes to the token endpoint and meets the rotation at once.
	sim, o := setup(t, time.Minute)
	o.Mode = upstream.ModeKeyVaultSecret
	cred, err := upstream.NewCredential(o)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (string, error) {
		tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
		return tok.Token, err
	}
	if _, err := get(); err != nil {
		t.Fatal(err)
	}
	reads := sim.Vault.Requests()
	// Rotation with revocation: the app gets a new secret, the old one
	// stops working, and Key Vault holds the new one as a new version.
	sim.Entra.SetSecret(graphsim.CustomerTenant, graphsim.ProxyAppID, "sim~rotated-secret-value")
	sim.Vault.SetSecret("graph-proxy-credential", "sim~rotated-secret-value", "")
	if _, err := get(); err != nil {
		t.Fatalf("after rotation: %v; want the new version picked up without restart", err)
	}
	if sim.Vault.Requests() == reads {
		t.Error("Key Vault was not read again")
	}
}

func TestKeyVaultDownAtStart(t *testing.T) {
	sim, o := setup(t, time.Hour)
	o.Mode = upstream.ModeKeyVaultSecret
	sim.Vault.SetDown(true)
	cred, _ := upstream.NewCredential(o)
	cache := upstream.NewCache(cred, scope)
	var logged error
	var mu sync.Mutex
	cache.OnError = func(err error) { mu.Lock(); logged = err; mu.Unlock() }
	if _, err := cache.Token(t.Context()); !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("got %v; want ErrUnavailable", err)
	}
	err := cache.Ready()
	if err == nil || !strings.Contains(err.Error(), "key vault "+sim.Vault.URL) || !strings.Contains(err.Error(), "reading secret graph-proxy-credential") {
		t.Errorf("not-ready reason %v; want one naming the vault and the secret", err)
	}
	mu.Lock()
	if logged == nil {
		t.Error("the failure was not reported for the log")
	}
	mu.Unlock()
	sim.Vault.SetDown(false)
	if _, err := cache.Token(t.Context()); err != nil {
		t.Errorf("after Key Vault came back: %v", err)
	}
}

func TestFixes(t *testing.T) {
	sim, o := setup(t, time.Hour)
	tests := []struct {
		name    string
		change  func(*upstream.Options)
		prepare func()
		wantFix string
	}{
		{name: "no Key Vault role", change: func(o *upstream.Options) { o.Mode = upstream.ModeKeyVaultSecret },
			prepare: func() {
				sim.Vault.SetReader(sim.Entra.App(graphsim.CustomerTenant, o.ManagedIdentityClientID).ObjectID, false)
			}, wantFix: "lacks the Key Vault Secrets User role on vault"},
		{name: "wrong client id", change: func(o *upstream.Options) {
			o.Mode, o.ClientID = upstream.ModeFederated, "b0000000-0000-4000-8000-0000000000ff"
		}, wantFix: "is not in tenant"},
		{name: "revoked secret", change: func(o *upstream.Options) { o.Mode = upstream.ModeKeyVaultSecret },
			prepare: func() {
				sim.Vault.SetReader(sim.Entra.App(graphsim.CustomerTenant, o.ManagedIdentityClientID).ObjectID, true)
				sim.Entra.SetSecret(graphsim.CustomerTenant, graphsim.ProxyAppID, "sim~revoked")
			}, wantFix: "the client secret is wrong or expired"},
		{name: "untrusted identity", change: func(o *upstream.Options) {
			// An identity of its own, as setup's: MSAL caches managed
			// identity tokens once per process, so a fixed one (the
			// system identity) would be handed a token an earlier test's
			// simulator signed.
			id := uuid.NewString()
			sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: uuid.NewString(),
				Roles: map[string][]string{graphsim.TokenExchangeAudience: nil}})
			o.Mode, o.ManagedIdentityClientID = upstream.ModeFederated, id
		}, wantFix: "no federated identity credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oo := o
			tt.change(&oo)
			if tt.prepare != nil {
				tt.prepare()
			}
			steps, tok := upstream.Diagnose(t.Context(), oo, scope)
			last := steps[len(steps)-1]
			if last.Err == nil || tok.Token != "" || !strings.Contains(last.Fix, tt.wantFix) {
				t.Errorf("last step %q: %v, fix %q; want a fix saying %q", last.Name, last.Err, last.Fix, tt.wantFix)
			}
			for _, s := range steps {
				if s.Err != nil && strings.Contains(s.Err.Error()+s.Fix, "sim~") {
					t.Errorf("a secret appears in step %q", s.Name)
				}
			}
		})
	}
}
