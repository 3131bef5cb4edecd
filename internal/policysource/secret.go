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

	"github.com/graph-proxy/graph-proxy/internal/vaultsecret"
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
	secret *vaultsecret.Secret
}

// NewSecret returns the source; it reads nothing yet.
func NewSecret(o SecretOptions) (*Secret, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	sec, err := vaultsecret.New(vaultsecret.Options{VaultURL: o.VaultURL, Name: o.Name, Credential: o.Credential, HTTPClient: o.HTTPClient,
		ReadTimeout: o.ReadTimeout, DisableChallengeResourceVerification: o.DisableChallengeResourceVerification})
	if err != nil {
		return nil, fmt.Errorf("policysource: %w", err)
	}
	return &Secret{o: o, secret: sec}, nil
}

// String is the secret's identifier without a version.
func (s *Secret) String() string { return s.secret.String() }

// Read gets the secret's newest version. The error names the vault and the
// secret, never the value.
func (s *Secret) Read(ctx context.Context) (policy.Revision, error) {
	v, err := s.secret.Read(ctx)
	if err != nil {
		return policy.Revision{}, fmt.Errorf("policy: %w", err)
	}
	if v.Version == "" {
		return policy.Revision{}, fmt.Errorf("policy: reading secret %s: the answer names no version", s)
	}
	return policy.Revision{Version: v.Version, Name: v.ID, Data: v.Value}, nil
}

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
