package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Step is one hop of acquiring a Graph token, as graph-proxy check shows
// it: how long it took and, if it failed, what to do.
type Step struct {
	Name     string
	Duration time.Duration
	Err      error
	// Fix says what to change when Err is set.
	Fix string
}

// Diagnose acquires a Graph token for scope step by step — the identity
// endpoint, Key Vault, the token endpoint — timing each and explaining a
// failure. It stops at the first failing step. The token is returned for
// inspection and must not be printed.
func Diagnose(ctx context.Context, o Options, scope string) ([]Step, azcore.AccessToken) {
	var steps []Step
	run := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		s := Step{Name: name, Duration: time.Since(start), Err: err}
		if err != nil {
			s.Fix = Fix(err, o)
		}
		steps = append(steps, s)
		return err == nil
	}
	var tok azcore.AccessToken
	mi, err := managedIdentity(o)
	if !run("managed identity", func() error { return err }) {
		return steps, tok
	}
	get := func(c azcore.TokenCredential, scope string) error {
		t, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		tok = t
		return err
	}
	switch o.Mode {
	case ModeManagedIdentity:
		run("identity endpoint: Graph token", func() error { return get(mi, scope) })
	case ModeFederated:
		if !run("identity endpoint: token for the federated credential", func() error { return get(mi, TokenExchangeScope) }) {
			return steps, azcore.AccessToken{}
		}
		run("token endpoint: Graph token for app "+o.ClientID+" (federated assertion)", func() error {
			c, err := newConfidential(o, federatedAssertion(mi))
			if err != nil {
				return err
			}
			return get(&appCredential{client: c}, scope)
		})
	case ModeKeyVaultSecret, ModeKeyVaultCertificate:
		if !run("identity endpoint: Key Vault token", func() error { return get(mi, vaultScope(o.KeyVaultURL)) }) {
			return steps, azcore.AccessToken{}
		}
		var value, contentType string
		if !run("Key Vault: read secret "+o.SecretName, func() error {
			c, err := secretsClient(o, mi)
			if err != nil {
				return err
			}
			value, contentType, _, err = ReadSecret(ctx, c, o.KeyVaultURL, o.SecretName)
			return err
		}) {
			return steps, azcore.AccessToken{}
		}
		run("token endpoint: Graph token for app "+o.ClientID, func() error {
			cred, err := AppCredentialFrom(o.Mode, value, contentType)
			if err != nil {
				return err
			}
			c, err := newConfidential(o, cred)
			if err != nil {
				return err
			}
			return get(&appCredential{client: c}, scope)
		})
	}
	return steps, tok
}

// vaultScope is the token scope for a vault, by its cloud's domain.
func vaultScope(vault string) string {
	u, err := url.Parse(vault)
	if err == nil {
		switch {
		case strings.HasSuffix(u.Hostname(), ".vault.usgovcloudapi.net"):
			return "https://vault.usgovcloudapi.net/.default"
		case strings.HasSuffix(u.Hostname(), ".vault.azure.cn"):
			return "https://vault.azure.cn/.default"
		}
	}
	return "https://vault.azure.net/.default"
}

// Fix explains a token acquisition failure in terms of what to change. It
// never repeats a secret: only the error's codes are read.
func Fix(err error, o Options) string {
	var re *azcore.ResponseError
	var ne net.Error
	var dns *net.DNSError
	s := err.Error()
	switch {
	case errors.As(err, &re) && strings.Contains(re.RawResponse.Request.URL.Path, "/secrets/"):
		switch re.StatusCode {
		case 403:
			return fmt.Sprintf("the managed identity lacks the Key Vault Secrets User role on vault %s: assign it (deploy/bicep does), and allow a few minutes for it to apply", o.KeyVaultURL)
		case 404:
			return fmt.Sprintf("vault %s has no secret %s: store the app registration's credential there (upstream.keyVault.secretName)", o.KeyVaultURL, o.SecretName)
		case 401:
			return fmt.Sprintf("vault %s did not accept the managed identity's token: the vault must be in tenant %s", o.KeyVaultURL, o.TenantID)
		}
	case strings.Contains(s, "AADSTS7000215") || strings.Contains(s, "AADSTS7000222"):
		return "the client secret is wrong or expired: store the app registration's current secret as a new version in Key Vault"
	case strings.Contains(s, "AADSTS700027"):
		return fmt.Sprintf("the certificate in Key Vault is not registered on app %s: upload its public part to the app registration", o.ClientID)
	case strings.Contains(s, "AADSTS700016"):
		return fmt.Sprintf("app %s is not in tenant %s: check upstream.clientID and upstream.tenantID, and for a multi-tenant app, that it is consented in the tenant", o.ClientID, o.TenantID)
	case strings.Contains(s, "AADSTS90002") || strings.Contains(s, "AADSTS900023"):
		return fmt.Sprintf("tenant %s does not exist: check upstream.tenantID", o.TenantID)
	case strings.Contains(s, "AADSTS70021"):
		return fmt.Sprintf("no federated identity credential on app %s trusts this managed identity: add one with the identity's object id as subject and audience api://AzureADTokenExchange", o.ClientID)
	case strings.Contains(s, "AADSTS500011"):
		return "the requested resource is not in the tenant: check graph.cloud"
	case strings.Contains(strings.ToLower(s), "managed identity") || strings.Contains(s, "IDENTITY_ENDPOINT") || strings.Contains(s, "No managed identity"):
		return "no usable managed identity: assign one to the container app, and set upstream.managedIdentityClientID to the user-assigned identity's client id"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: check DNS and egress", dns.Name)
	case errors.As(err, &ne):
		return "cannot reach the service: check network egress to the login, Key Vault and Graph hosts"
	}
	return "see the error above"
}

// Roles returns the app roles in an access token's payload. The token is
// not verified: it is the proxy's own, just received from Entra ID.
func Roles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	return c.Roles, nil
}
