package upstream

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Options configure a credential.
type Options struct {
	// Mode is one of the config package's upstream modes.
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
	// HTTPClient carries every request to Entra ID, Key Vault and the
	// identity endpoint.
	HTTPClient *http.Client
}

// NewCredential returns the credential for o.Mode.
func NewCredential(o Options) (azcore.TokenCredential, error) {
	copts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: o.LoginURL.String() + "/"},
		Transport: o.HTTPClient,
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}
	switch o.Mode {
	case "managedIdentity":
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: copts}
		if o.ManagedIdentityClientID != "" {
			mo.ID = azidentity.ClientID(o.ManagedIdentityClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(mo)
		if err != nil {
			return nil, fmt.Errorf("upstream: managed identity: %w", err)
		}
		return cred, nil
	default:
		return nil, fmt.Errorf("upstream: mode %q is not implemented yet", o.Mode)
	}
}
