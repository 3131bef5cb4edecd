package policysource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/graph-proxy/graph-proxy/policy"
)

// SecretOptions locate the secret and say how to read it.
type SecretOptions struct {
	// VaultURL is the vault, e.g. https://contoso-gp.vault.azure.net.
	// Required.
	VaultURL string
	// Name is the secret's name. Required. Its newest version is read.
	Name string
	// Credential is the proxy's managed identity; it needs the Key Vault
	// Secrets User role on the secret or its vault. Required.
	Credential azcore.TokenCredential
	// HTTPClient carries every request to Key Vault (the proxy's outbound
	// transport, with its extra roots). Nil uses the Azure SDK's default.
	HTTPClient azpolicy.Transporter
	// PollInterval is how often Watch asks the Store to read again.
	// Default 30s.
	PollInterval time.Duration
	// ReadTimeout bounds one read, the SDK's retries included. Default
	// 30s.
	ReadTimeout time.Duration
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool
}

// Secret is a policy.Source reading the newest version of a Key Vault
// secret. A revision's Version is the secret's version id and its Name the
// version's identifier, https://<vault>/secrets/<name>/<version>, so that
// problem reports and audit records say which version they are about.
type Secret struct {
	o      SecretOptions
	client *azsecrets.Client
}

// NewSecret returns the source; it reads nothing yet.
func NewSecret(o SecretOptions) (*Secret, error) {
	if o.VaultURL == "" || o.Name == "" || o.Credential == nil {
		return nil, errors.New("policysource: the vault, the secret's name and a credential are required")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	c, err := azsecrets.NewClient(o.VaultURL, o.Credential, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: o.HTTPClient,
			// A few quick retries inside one read; the next poll is the
			// retry after that.
			Retry: azpolicy.RetryOptions{MaxRetries: 2, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 4 * time.Second},
		},
		DisableChallengeResourceVerification: o.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("policysource: key vault %s: %w", o.VaultURL, err)
	}
	return &Secret{o: o, client: c}, nil
}

// String is the secret's identifier without a version.
func (s *Secret) String() string {
	return strings.TrimSuffix(s.o.VaultURL, "/") + "/secrets/" + s.o.Name
}

// Read gets the secret's newest version. The error names the vault and the
// secret, never the value.
func (s *Secret) Read(ctx context.Context) (policy.Revision, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.ReadTimeout)
	defer cancel()
	res, err := s.client.GetSecret(ctx, s.o.Name, "", nil)
	if err != nil {
		return policy.Revision{}, &readError{secret: s.String(), err: err}
	}
	if res.ID == nil || res.ID.Version() == "" {
		return policy.Revision{}, fmt.Errorf("policy: reading secret %s: the answer names no version", s)
	}
	var data []byte
	if res.Value != nil {
		data = []byte(*res.Value)
	}
	return policy.Revision{Version: res.ID.Version(), Name: string(*res.ID), Data: data}, nil
}

// readError is a failed read, said in one line: Key Vault's status and
// error code rather than the SDK's whole request and answer dump. The SDK's
// error stays underneath for errors.As.
type readError struct {
	secret string
	err    error
}

func (e *readError) Error() string {
	var re *azcore.ResponseError
	if errors.As(e.err, &re) {
		return fmt.Sprintf("policy: reading secret %s: Key Vault answered %d %s", e.secret, re.StatusCode, re.ErrorCode)
	}
	return fmt.Sprintf("policy: reading secret %s: %v", e.secret, e.err)
}

func (e *readError) Unwrap() error { return e.err }

// Watch asks for a read every PollInterval until ctx ends. Key Vault has no
// change notification a replica could receive without an inbound endpoint,
// and a read is one small GET: polling it is what keeps every replica, of
// every revision, on the newest version.
func (s *Secret) Watch(ctx context.Context, changed func()) error {
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			changed()
		}
	}
}

// Fix says what to change when Read fails. It reads Key Vault's status,
// codes and message, which never hold the secret's value.
func (s *Secret) Fix(err error) string {
	var re *azcore.ResponseError
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &re) && re.StatusCode == 403 && strings.Contains(re.Error(), "disabled"):
		return fmt.Sprintf("the newest version of secret %s is disabled: set the policy again as a new version (az keyvault secret set), or enable the version", s)
	case errors.As(err, &re) && re.StatusCode == 403:
		return fmt.Sprintf("the managed identity lacks the Key Vault Secrets User role on secret %s (or its vault): assign it, and allow a few minutes for it to apply", s)
	case errors.As(err, &re) && re.StatusCode == 404:
		return fmt.Sprintf("vault %s has no secret %s: store the policy there (az keyvault secret set --file policy.yaml), or fix policy.keyVault.secretURI", s.o.VaultURL, s.o.Name)
	case errors.As(err, &re) && re.StatusCode == 401:
		return fmt.Sprintf("vault %s did not accept the managed identity's token: the vault must be in the identity's tenant", s.o.VaultURL)
	case errors.As(err, &re) && re.StatusCode >= 500:
		return fmt.Sprintf("vault %s is unavailable: a running proxy keeps its policy and reads again at the next poll; a starting one exits and is restarted; look into it only if it lasts (Azure status, the vault's region)", s.o.VaultURL)
	case errors.As(err, &re) && re.StatusCode == 429:
		return "Key Vault is throttling: lengthen policy.keyVault.pollInterval, or read the vault less from elsewhere"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: check DNS and egress to the vault", dns.Name)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne):
		return fmt.Sprintf("cannot reach vault %s: check network egress to it (and its firewall, if it has one)", hostOf(s.o.VaultURL))
	case strings.Contains(strings.ToLower(err.Error()), "managed identity"):
		return "no usable managed identity: assign one to the container app, and set upstream.managedIdentityClientID to the user-assigned identity's client id"
	}
	return "see the error above"
}

func hostOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		return u.Host
	}
	return rawURL
}
