package graphsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

func start(t *testing.T) *graphsim.Sim {
	t.Helper()
	s, err := graphsim.Start(graphsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func clientOptions(s *graphsim.Sim) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.Entra.URL + "/"},
		Transport: s.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func TestManagedIdentityReadsKeyVault(t *testing.T) {
	s := start(t)
	t.Setenv("IDENTITY_ENDPOINT", s.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", s.Identity.Header)
	// A user-assigned identity unknown to MSAL's process-wide cache.
	id := uuid.NewString()
	oid := uuid.NewString()
	s.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: oid,
		Roles: map[string][]string{graphsim.VaultResource: nil}})
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: clientOptions(s), ID: azidentity.ClientID(id)})
	if err != nil {
		t.Fatal(err)
	}
	v1 := s.Vault.SetSecret("graph-proxy-credential", "first", "")
	client, err := azsecrets.NewClient(s.Vault.URL, cred, &azsecrets.ClientOptions{
		ClientOptions: clientOptions(s),
		// The simulated vault is on a loopback address, not a
		// *.vault.azure.net host.
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = client.GetSecret(t.Context(), "graph-proxy-credential", "", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 || re.ErrorCode != "Forbidden" {
		t.Fatalf("without the role: %v; want 403 Forbidden", err)
	}

	s.Vault.SetReader(oid, true)
	got, err := client.GetSecret(t.Context(), "graph-proxy-credential", "", nil)
	if err != nil || *got.Value != "first" || got.ID.Version() != v1 {
		t.Fatalf("GetSecret: %v %v", err, got)
	}
	s.Vault.SetSecret("graph-proxy-credential", "second", "")
	got, err = client.GetSecret(t.Context(), "graph-proxy-credential", "", nil)
	if err != nil || *got.Value != "second" {
		t.Fatalf("after rotation: %v %v; want the new version", err, got)
	}
	if old, err := client.GetSecret(t.Context(), "graph-proxy-credential", v1, nil); err != nil || *old.Value != "first" {
		t.Errorf("old version: %v %v", err, old)
	}
}

func TestIdentityEndpointRequiresHeader(t *testing.T) {
	s := start(t)
	req, _ := http.NewRequest("GET", s.Identity.Endpoint()+"?api-version=2019-08-01&resource=https://graph.microsoft.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", "wrong")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("status %d; want 401", resp.StatusCode)
	}
}

func TestClientCredentials(t *testing.T) {
	s := start(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "graph-proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	app := s.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID)
	app.Certificates = []*x509.Certificate{cert}
	s.Entra.Register(app)

	secretCred := func(secret string) azcore.TokenCredential {
		c, err := azidentity.NewClientSecretCredential(graphsim.CustomerTenant, graphsim.ProxyAppID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certCred, err := azidentity.NewClientCertificateCredential(graphsim.CustomerTenant, graphsim.ProxyAppID,
		[]*x509.Certificate{cert}, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: clientOptions(s), DisableInstanceDiscovery: true, SendCertificateChain: true})
	if err != nil {
		t.Fatal(err)
	}
	// Federation: the managed identity's token for the token exchange
	// audience is the assertion of the app registration.
	mi := s.Entra.App(graphsim.CustomerTenant, graphsim.ManagedIdentityClientID)
	fedCred, err := azidentity.NewClientAssertionCredential(graphsim.CustomerTenant, graphsim.ProxyAppID,
		func(ctx context.Context) (string, error) {
			tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: mi.ClientID,
				Audience: graphsim.TokenExchangeAudience})
			return tok, err
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	stranger := uuid.NewString()
	s.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: stranger, ObjectID: uuid.NewString(),
		Roles: map[string][]string{graphsim.TokenExchangeAudience: nil}})
	otherFed, _ := azidentity.NewClientAssertionCredential(graphsim.CustomerTenant, graphsim.ProxyAppID,
		func(ctx context.Context) (string, error) {
			tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: stranger,
				Audience: graphsim.TokenExchangeAudience})
			return tok, err
		}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})

	tests := []struct {
		name    string
		cred    azcore.TokenCredential
		wantErr string
	}{
		{name: "secret", cred: secretCred(app.Secret)},
		{name: "certificate", cred: certCred},
		{name: "federated", cred: fedCred},
		{name: "wrong secret", cred: secretCred("sim~wrong"), wantErr: "AADSTS7000215"},
		{name: "untrusted federated subject", cred: otherFed, wantErr: "AADSTS70021"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{graphsim.GraphResource + "/.default"}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			claims, err := s.Entra.Validate(tok.Token, graphsim.GraphResource)
			if err != nil {
				t.Fatal(err)
			}
			roles, _ := claims["roles"].([]any)
			if claims["appid"] != graphsim.ProxyAppID || len(roles) == 0 || claims["iss"] != "https://sts.windows.net/"+graphsim.CustomerTenant+"/" {
				t.Errorf("claims %v", claims)
			}
		})
	}
}

func TestGraphChecksRoles(t *testing.T) {
	s := start(t)
	tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID,
		Audience: graphsim.GraphResource, Roles: []string{"User.ReadBasic.All"}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string) int {
		req, _ := http.NewRequest(method, s.Graph.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, upns := s.Graph.Users()
	if got := call("GET", "/v1.0/users"); got != 200 {
		t.Errorf("list users with User.ReadBasic.All: %d", got)
	}
	if got := call("POST", "/v1.0/users/"+upns[0]+"/events"); got != 403 {
		t.Errorf("create event without Calendars.ReadWrite: %d; want 403", got)
	}
	if got := call("GET", "/v2.0/users"); got != 400 {
		t.Errorf("unknown version: %d; want 400", got)
	}
}
