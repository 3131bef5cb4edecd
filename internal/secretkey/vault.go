package secretkey

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/graph-proxy/graph-proxy/internal/vaultsecret"
)

// MinKeyBytes is the shortest key taken: HMAC-SHA256's block is 64 bytes
// and its output 32; a shorter key would be the weakest part.
const MinKeyBytes = 32

// ErrNoKey is wrapped by Key's error while no key has been read.
var ErrNoKey = errors.New("no key")

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
	// HTTPClient carries every request to Key Vault. Nil uses the Azure
	// SDK's default.
	HTTPClient azpolicy.Transporter
	// PollInterval is how often Run reads the secret again. Default 5m.
	PollInterval time.Duration
	// ReadTimeout bounds one read, retries included. Default 30s.
	ReadTimeout time.Duration
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool
	// Keep is how many versions Keys gives, newest first; default 1 (the
	// newest alone).
	Keep int
	// OnRead, when set, is called after every read with the version in
	// force and the read's error (nil when it succeeded).
	OnRead func(version string, err error)
}

// Vault is the key in force, read from a Key Vault secret. It is safe for
// concurrent use.
type Vault struct {
	o      Options
	secret *vaultsecret.Secret
	cur    atomic.Pointer[key]
}

type key struct {
	value   []byte
	version string
	all     [][]byte // value, then with Keep the versions before it, newest first
}

// New returns the source; it reads nothing yet (Load does).
func New(o Options) (*Vault, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = 1
	}
	sec, err := vaultsecret.New(vaultsecret.Options{VaultURL: o.VaultURL, Name: o.Name, Credential: o.Credential, HTTPClient: o.HTTPClient,
		ReadTimeout: o.ReadTimeout, DisableChallengeResourceVerification: o.DisableChallengeResourceVerification})
	if err != nil {
		return nil, fmt.Errorf("secretkey: %w", err)
	}
	return &Vault{o: o, secret: sec}, nil
}

// String is the secret's identifier without a version.
func (v *Vault) String() string { return v.secret.String() }

// Key returns the key in force; an error wrapping ErrNoKey before one has
// been read.
func (v *Vault) Key() ([]byte, error) {
	k := v.cur.Load()
	if k == nil {
		return nil, fmt.Errorf("%w: secret %s has not been read", ErrNoKey, v)
	}
	return k.value, nil
}

// Keys returns the key in force and, with Options.Keep, the versions
// before it, newest first (seal.Keys). The slices are shared: read only.
func (v *Vault) Keys() ([][]byte, error) {
	k := v.cur.Load()
	if k == nil {
		return nil, fmt.Errorf("%w: secret %s has not been read", ErrNoKey, v)
	}
	return k.all, nil
}

// Version is the secret version in force; empty before the first read.
func (v *Vault) Version() string {
	if k := v.cur.Load(); k != nil {
		return k.version
	}
	return ""
}

// Load reads the secret's newest version and puts it in force. On error
// the key in force, if any, stays.
func (v *Vault) Load(ctx context.Context) error {
	err := v.load(ctx)
	if v.o.OnRead != nil {
		v.o.OnRead(v.Version(), err)
	}
	return err
}

func (v *Vault) load(ctx context.Context) error {
	versions, err := v.secret.Recent(ctx, v.o.Keep)
	if err != nil {
		return fmt.Errorf("secretkey: %w", err)
	}
	res := versions[0]
	if len(res.Value) < MinKeyBytes {
		// Not a key: kept out, whatever is in force stays.
		return fmt.Errorf("secretkey: secret %s holds fewer than %d bytes: not a key (set one with openssl rand -base64 48)", v, MinKeyBytes)
	}
	next := &key{value: res.Value, version: res.Version, all: [][]byte{res.Value}}
	for _, o := range versions[1:] {
		if len(o.Value) >= MinKeyBytes { // an older one too short opens nothing
			next.all = append(next.all, o.Value)
		}
	}
	v.cur.Store(next)
	return nil
}

// Run reads the secret every PollInterval until ctx ends: a new version
// takes over at the next read, and a failed read keeps the key in force.
func (v *Vault) Run(ctx context.Context) {
	t := time.NewTicker(v.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.Load(ctx)
		}
	}
}
