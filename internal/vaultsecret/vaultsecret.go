// Package vaultsecret reads the newest version of one Key Vault secret
// with the proxy's identity. The policy and every key the proxy follows
// (the pseudonym key, and those of its signed links and tokens) are each
// one secret read this way, so that they are read, retried and reported
// alike. Errors name the vault, the secret and Key Vault's status and
// code, never the value.
package vaultsecret

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Options locate the secret and say how to read it.
type Options struct {
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
	// ReadTimeout bounds one read, the SDK's retries included. Default
	// 30s.
	ReadTimeout time.Duration
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool
}

// Secret reads one secret's newest version.
type Secret struct {
	o      Options
	client *azsecrets.Client
}

// Version is what a read found.
type Version struct {
	// Value is the secret's value; nil when Key Vault gave none.
	Value []byte
	// Version is the version's id, and ID its identifier,
	// https://<vault>/secrets/<name>/<version>.
	Version, ID string
}

// New returns the reader; it reads nothing yet.
func New(o Options) (*Secret, error) {
	if o.VaultURL == "" || o.Name == "" || o.Credential == nil {
		return nil, errors.New("the vault, the secret's name and a credential are required")
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
		return nil, fmt.Errorf("key vault %s: %w", o.VaultURL, err)
	}
	return &Secret{o: o, client: c}, nil
}

// String is the secret's identifier without a version.
func (s *Secret) String() string {
	return strings.TrimSuffix(s.o.VaultURL, "/") + "/secrets/" + s.o.Name
}

// VaultURL and Name are the secret's vault and name, as given.
func (s *Secret) VaultURL() string { return s.o.VaultURL }
func (s *Secret) Name() string     { return s.o.Name }

// Read gets the newest version. A failure is a *ReadError.
func (s *Secret) Read(ctx context.Context) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.ReadTimeout)
	defer cancel()
	res, err := s.client.GetSecret(ctx, s.o.Name, "", nil)
	if err != nil {
		return Version{}, &ReadError{Secret: s.String(), Err: err}
	}
	var v Version
	if res.Value != nil {
		v.Value = []byte(*res.Value)
	}
	if res.ID != nil {
		v.Version, v.ID = res.ID.Version(), string(*res.ID)
	}
	return v, nil
}

// ReadError is a failed read, said in one line: Key Vault's status and
// error code rather than the SDK's whole request and answer dump. The
// SDK's error stays underneath for errors.As.
type ReadError struct {
	Secret string
	Err    error
}

func (e *ReadError) Error() string {
	var re *azcore.ResponseError
	if errors.As(e.Err, &re) {
		return fmt.Sprintf("reading secret %s: Key Vault answered %d %s", e.Secret, re.StatusCode, re.ErrorCode)
	}
	return fmt.Sprintf("reading secret %s: %v", e.Secret, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// Recent reads the newest n enabled versions, newest first: those Key
// Vault lists as enabled and within their activation and expiry dates,
// by creation time (Key Vault keeps it to the second: of two created in
// the same second, the one listed later counts as newer).
func (s *Secret) Recent(ctx context.Context, n int) ([]Version, error) {
	if n <= 1 {
		v, err := s.Read(ctx)
		if err != nil {
			return nil, err
		}
		return []Version{v}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.ReadTimeout)
	defer cancel()
	type listed struct {
		version string
		created time.Time
		at      int // position in the listing
	}
	var all []listed
	now := time.Now()
	pager := s.client.NewListSecretPropertiesVersionsPager(s.o.Name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, &ReadError{Secret: s.String(), Err: err}
		}
		for _, p := range page.Value {
			a := p.Attributes
			if p.ID == nil || a == nil || a.Enabled == nil || !*a.Enabled || a.Created == nil ||
				(a.NotBefore != nil && now.Before(*a.NotBefore)) || (a.Expires != nil && !now.Before(*a.Expires)) {
				continue
			}
			all = append(all, listed{version: p.ID.Version(), created: *a.Created, at: len(all)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].created.Equal(all[j].created) {
			return all[i].created.After(all[j].created)
		}
		return all[i].at > all[j].at
	})
	if len(all) > n {
		all = all[:n]
	}
	out := make([]Version, 0, len(all))
	for _, l := range all {
		res, err := s.client.GetSecret(ctx, s.o.Name, l.version, nil)
		if err != nil {
			return nil, &ReadError{Secret: s.String() + "/" + l.version, Err: err}
		}
		v := Version{Version: l.version}
		if res.Value != nil {
			v.Value = []byte(*res.Value)
		}
		if res.ID != nil {
			v.ID = string(*res.ID)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, &ReadError{Secret: s.String(), Err: errors.New("no enabled version")}
	}
	return out, nil
}
