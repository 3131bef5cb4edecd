package upstream

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// The modes; the config package validates them.
const (
	ModeManagedIdentity     = "managedIdentity"
	ModeKeyVaultSecret      = "keyVaultSecret"
	ModeKeyVaultCertificate = "keyVaultCertificate"
	ModeFederated           = "federated"
)

// TokenExchangeScope is what a managed identity asks for when its token is
// the client assertion of an app registration (workload identity
// federation).
const TokenExchangeScope = "api://AzureADTokenExchange/.default"

// Options configure a credential.
type Options struct {
	// Mode is one of the Mode constants.
	Mode string
	// TenantID is the customer's tenant.
	TenantID string
	// ClientID is the app registration (modes other than managedIdentity).
	ClientID string
	// ManagedIdentityClientID selects a user-assigned identity; empty uses
	// the system-assigned one.
	ManagedIdentityClientID string
	// LoginURL is the Entra ID authority host.
	LoginURL *url.URL
	// CustomLogin is set when LoginURL is not a Microsoft cloud's own
	// (the simulator): instance discovery is then skipped.
	CustomLogin bool
	// HTTPClient carries every request to Entra ID, Key Vault and the
	// identity endpoint.
	HTTPClient *http.Client
	// KeyVaultURL and SecretName locate the app credential (keyVault
	// modes).
	KeyVaultURL, SecretName string
	// SendX5C sends the certificate chain with a certificate assertion
	// (subject name and issuer authentication).
	SendX5C bool
	// DisableChallengeResourceVerification lets Key Vault live on a host
	// outside the cloud's vault domain (the simulator).
	DisableChallengeResourceVerification bool
	// KeyVaultRecheck is how often the secret's version is looked at again
	// when a token is acquired. Default 5m.
	KeyVaultRecheck time.Duration
}

// NewCredential returns the credential for o.Mode.
func NewCredential(o Options) (azcore.TokenCredential, error) {
	mi, err := managedIdentity(o)
	if err != nil {
		return nil, err
	}
	switch o.Mode {
	case ModeManagedIdentity:
		return mi, nil
	case ModeFederated:
		c, err := newConfidential(o, federatedAssertion(mi))
		if err != nil {
			return nil, err
		}
		return &appCredential{client: c}, nil
	case ModeKeyVaultSecret, ModeKeyVaultCertificate:
		secrets, err := secretsClient(o, mi)
		if err != nil {
			return nil, err
		}
		if o.KeyVaultRecheck == 0 {
			o.KeyVaultRecheck = 5 * time.Minute
		}
		return &vaultCredential{o: o, secrets: secrets}, nil
	default:
		return nil, fmt.Errorf("upstream: unknown mode %q", o.Mode)
	}
}

func clientOptions(o Options) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: o.LoginURL.String() + "/"},
		Transport: o.HTTPClient,
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}
}

func managedIdentity(o Options) (*azidentity.ManagedIdentityCredential, error) {
	mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOptions(o)}
	// The identity endpoint's secret is read now and sent from memory, so
	// that ScrubEnvironment can take it out of the environment.
	if endpoint, secret := os.Getenv(identityEndpointEnv), os.Getenv(identityHeaderEnv); endpoint != "" && secret != "" {
		mo.PerCallPolicies = append(mo.PerCallPolicies, &identityHeaderPolicy{endpoint: endpoint, secret: secret})
	}
	if o.ManagedIdentityClientID != "" {
		mo.ID = azidentity.ClientID(o.ManagedIdentityClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(mo)
	if err != nil {
		return nil, fmt.Errorf("upstream: managed identity: %w", err)
	}
	return cred, nil
}

func secretsClient(o Options, mi azcore.TokenCredential) (*azsecrets.Client, error) {
	c, err := azsecrets.NewClient(o.KeyVaultURL, mi, &azsecrets.ClientOptions{
		ClientOptions:                        clientOptions(o),
		DisableChallengeResourceVerification: o.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: key vault %s: %w", o.KeyVaultURL, err)
	}
	return c, nil
}

// federatedAssertion is the managed identity's token for the token
// exchange audience: the vendor's (or customer's) app registration trusts
// it as a federated credential, so no secret exists anywhere.
func federatedAssertion(mi azcore.TokenCredential) confidential.Credential {
	return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
		tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{TokenExchangeScope}})
		if err != nil {
			return "", fmt.Errorf("managed identity token for the federated credential: %w", err)
		}
		return tok.Token, nil
	})
}

func newConfidential(o Options, cred confidential.Credential) (confidential.Client, error) {
	authority := o.LoginURL.String() + "/" + o.TenantID
	opts := []confidential.Option{confidential.WithHTTPClient(o.HTTPClient)}
	if o.CustomLogin {
		opts = append(opts, confidential.WithInstanceDiscovery(false))
	}
	if o.SendX5C {
		opts = append(opts, confidential.WithX5C())
	}
	c, err := confidential.New(authority, o.ClientID, cred, opts...)
	if err != nil {
		return confidential.Client{}, fmt.Errorf("upstream: app registration %s: %w", o.ClientID, err)
	}
	return c, nil
}

// appCredential is an azcore.TokenCredential over an MSAL confidential
// client (client credentials grant); MSAL caches the token per client.
type appCredential struct {
	client confidential.Client
}

func (a *appCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	res, err := a.client.AcquireTokenByCredential(ctx, opts.Scopes)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn}, nil
}

// vaultCredential reads the app registration's credential (a client
// secret, or a certificate as Key Vault stores it: PEM or PKCS#12) from Key
// Vault with the managed identity, and acquires tokens with it. A new
// secret version is picked up without restart: the version is looked at
// again when a token is acquired after KeyVaultRecheck, and at once when
// the token endpoint rejects the credential (rotation with revocation).
type vaultCredential struct {
	o       Options
	secrets *azsecrets.Client

	mu      sync.Mutex
	app     *appCredential
	version string
	checked time.Time
	forced  time.Time
}

// Version is the Key Vault secret version in use; empty before the first
// read.
func (v *vaultCredential) Version() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.version
}

func (v *vaultCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	app, err := v.current(ctx, false)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	tok, err := app.GetToken(ctx, opts)
	if err != nil && rejectedCredential(err) {
		// The secret may have been rotated and the old one revoked: read
		// the newest version and try once more.
		if app2, rerr := v.current(ctx, true); rerr == nil && app2 != app {
			return app2.GetToken(ctx, opts)
		}
	}
	return tok, err
}

// current returns the client for the secret version in force, reading Key
// Vault when due (or forced, at most every 30 s).
func (v *vaultCredential) current(ctx context.Context, force bool) (*appCredential, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	due := v.app == nil || now.Sub(v.checked) > v.o.KeyVaultRecheck
	if force && now.Sub(v.forced) > 30*time.Second {
		due, v.forced = true, now
	}
	if !due {
		return v.app, nil
	}
	readCtx := ctx
	if v.app != nil {
		// With a credential in hand the read is a recheck, which a hung
		// vault must not turn into a failed acquisition: it gets part of
		// what is left of the acquisition's deadline, and the token
		// endpoint the rest. Given the whole, a vault that accepts and
		// never answers would spend it, and the token request after it
		// would fail at once on the expired context, every acquisition
		// until the vault answered again (issue 17).
		var cancel context.CancelFunc
		readCtx, cancel = context.WithTimeout(ctx, recheckTimeout(ctx))
		defer cancel()
	}
	value, contentType, version, err := ReadSecret(readCtx, v.secrets, v.o.KeyVaultURL, v.o.SecretName)
	if err != nil {
		if v.app != nil {
			return v.app, nil // keep the credential in hand; the read is retried later
		}
		return nil, err
	}
	v.checked = now
	if version == v.version && v.app != nil {
		return v.app, nil
	}
	cred, err := AppCredentialFrom(v.o.Mode, value, contentType)
	if err != nil {
		return nil, err
	}
	c, err := newConfidential(v.o, cred)
	if err != nil {
		return nil, err
	}
	v.app, v.version = &appCredential{client: c}, version
	return v.app, nil
}

// maxRecheck bounds a Key Vault recheck made with a credential in hand.
const maxRecheck = 10 * time.Second

// recheckTimeout is the time a recheck may take: half of what is left
// before ctx's deadline, at most maxRecheck.
func recheckTimeout(ctx context.Context) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return min(time.Until(deadline)/2, maxRecheck)
	}
	return maxRecheck
}

// ReadSecret reads the newest version of a secret.
func ReadSecret(ctx context.Context, c *azsecrets.Client, vault, name string) (value, contentType, version string, err error) {
	res, err := c.GetSecret(ctx, name, "", nil)
	if err != nil {
		return "", "", "", fmt.Errorf("key vault %s: reading secret %s: %w", vault, name, err)
	}
	if res.Value == nil {
		return "", "", "", fmt.Errorf("key vault %s: secret %s has no value", vault, name)
	}
	if res.ContentType != nil {
		contentType = *res.ContentType
	}
	if res.ID != nil {
		version = res.ID.Version()
	}
	return *res.Value, contentType, version, nil
}

// AppCredentialFrom turns a Key Vault secret into an MSAL credential: the
// value itself in keyVaultSecret mode; in keyVaultCertificate mode a PEM
// bundle (certificate and key) or base64 PKCS#12, as Key Vault exposes a
// certificate's secret.
func AppCredentialFrom(mode, value, contentType string) (confidential.Credential, error) {
	if mode == ModeKeyVaultSecret {
		return confidential.NewCredFromSecret(value)
	}
	data := []byte(value)
	if contentType == "application/x-pkcs12" || !strings.Contains(value, "-----BEGIN") {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return confidential.Credential{}, errors.New("the certificate secret is neither PEM nor base64 PKCS#12")
		}
		data = raw
	}
	certs, key, err := azidentity.ParseCertificates(data, nil)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("the certificate secret: %w", err)
	}
	return confidential.NewCredFromCert(certs, key)
}

// rejectedCredential reports whether the token endpoint refused the client
// credential itself (invalid_client, AADSTS7000215 and kin).
func rejectedCredential(err error) bool {
	s := err.Error()
	return strings.Contains(s, "invalid_client") || strings.Contains(s, "AADSTS7000215") ||
		strings.Contains(s, "AADSTS7000222") || strings.Contains(s, "AADSTS700027")
}

// The Container Apps (App Service) managed-identity endpoint and its
// secret, as the platform sets them.
const (
	identityEndpointEnv = "IDENTITY_ENDPOINT"
	identityHeaderEnv   = "IDENTITY_HEADER"
)

// secretEnv are the environment variables that hold a secret the
// credentials read at construction.
var secretEnv = []string{identityHeaderEnv, "MSI_SECRET"}

// ScrubEnvironment removes the secrets the credentials were built with
// from the process environment, so that nothing later in the process (a
// child, a debug dump, a library reading the environment) finds them. Call
// it once every credential is constructed; the credentials keep their own
// copy. (The kernel's copy of the initial environment in /proc/<pid>/environ
// is readable only by the same user, and the container runs nothing else.)
func ScrubEnvironment() {
	for _, k := range secretEnv {
		os.Unsetenv(k)
	}
}

// identityHeaderPolicy sends the identity endpoint's secret that MSAL
// would read from the environment on every request.
type identityHeaderPolicy struct{ endpoint, secret string }

func (p *identityHeaderPolicy) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	if r.Header.Get("X-IDENTITY-HEADER") == "" && strings.HasPrefix(r.URL.String(), p.endpoint) {
		r.Header.Set("X-IDENTITY-HEADER", p.secret)
	}
	return req.Next()
}
