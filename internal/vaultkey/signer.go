package vaultkey

import (
	"context"
	"crypto"
	_ "crypto/sha256" // the hashes of the algorithms signed with
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// Options reach a vault.
type Options struct {
	// Credential is the proxy's managed identity, or the auditor's
	// credential (az login) for PublicKeys.
	Credential azcore.TokenCredential
	// Transport carries the requests; nil uses the SDK's default.
	Transport azpolicy.Transporter
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator).
	DisableChallengeResourceVerification bool
	// KeyRefresh is how long a Signer signs with the version it read
	// before it reads the key again: a rotated key is in use within it.
	// Default 10m; negative reads the key before every signature.
	KeyRefresh time.Duration
}

// KeyURI is a key identifier: https://<vault>/keys/<name>[/<version>].
type KeyURI struct {
	Vault, Name, Version string
}

// ParseKeyURI reads a Key Vault key identifier.
func ParseKeyURI(s string) (KeyURI, error) {
	notURI := fmt.Errorf("%q is not a Key Vault key identifier such as https://contoso-gp.vault.azure.net/keys/audit-checkpoint", s)
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return KeyURI{}, notURI
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" || parts[1] == "" {
		return KeyURI{}, notURI
	}
	k := KeyURI{Vault: u.Scheme + "://" + u.Host, Name: parts[1]}
	if len(parts) == 3 {
		k.Version = parts[2]
	}
	return k, nil
}

func newClient(vault string, o Options) (*azkeys.Client, error) {
	if o.Credential == nil {
		return nil, errors.New("vaultkey: no credential")
	}
	return azkeys.NewClient(vault, o.Credential, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: o.Transport,
			// One signing is bounded by the checkpoint's timeout; the
			// next checkpoint is the retry.
			Retry: azpolicy.RetryOptions{MaxRetries: 1}},
		DisableChallengeResourceVerification: o.DisableChallengeResourceVerification,
	})
}

// Signer signs with the newest version of a vault key: an EC key with
// ES256/384/512 as its curve says, an RSA key with PS256. It implements
// auditlog.Signer.
type Signer struct {
	client *azkeys.Client
	name   string

	refresh time.Duration

	mu      sync.Mutex
	version string // the newest version, as last read
	alg     azkeys.SignatureAlgorithm
	read    time.Time
}

// NewSigner signs with the key keyURI names, without a version: each
// signature is made by the newest version at the time.
func NewSigner(keyURI string, o Options) (*Signer, error) {
	k, err := ParseKeyURI(keyURI)
	if err != nil {
		return nil, err
	}
	if k.Version != "" {
		return nil, fmt.Errorf("%s names version %s: give the key without its version; the proxy signs with the newest one", keyURI, k.Version)
	}
	c, err := newClient(k.Vault, o)
	if err != nil {
		return nil, err
	}
	refresh := o.KeyRefresh
	if refresh == 0 {
		refresh = 10 * time.Minute
	}
	return &Signer{client: c, name: k.Name, refresh: refresh}, nil
}

// Sign implements auditlog.Signer.
func (s *Signer) Sign(ctx context.Context, msg []byte) (keyID, alg string, sig []byte, err error) {
	version, a, err := s.key(ctx)
	if err != nil {
		return "", "", nil, err
	}
	h := algHash[a].New()
	h.Write(msg)
	resp, err := s.client.Sign(ctx, s.name, version, azkeys.SignParameters{Algorithm: &a, Value: h.Sum(nil)}, nil)
	if err != nil {
		s.mu.Lock()
		s.read = time.Time{} // a version disabled or deleted: read the key again
		s.mu.Unlock()
		return "", "", nil, fmt.Errorf("key %s: sign: %w", s.name, brief(err))
	}
	if resp.KID == nil || len(resp.Result) == 0 {
		return "", "", nil, fmt.Errorf("key %s: sign: Key Vault answered no signature", s.name)
	}
	return string(*resp.KID), string(a), resp.Result, nil
}

// key returns the newest version and the algorithm it signs with.
func (s *Signer) key(ctx context.Context) (string, azkeys.SignatureAlgorithm, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version != "" && time.Since(s.read) < s.refresh {
		return s.version, s.alg, nil
	}
	resp, err := s.client.GetKey(ctx, s.name, "", nil)
	if err != nil {
		return "", "", fmt.Errorf("key %s: %w", s.name, brief(err))
	}
	if resp.Key == nil || resp.Key.KID == nil {
		return "", "", fmt.Errorf("key %s: Key Vault answered no key", s.name)
	}
	alg, err := signingAlg(resp.Key)
	if err != nil {
		return "", "", fmt.Errorf("key %s: %w", s.name, err)
	}
	s.version, s.alg, s.read = resp.Key.KID.Version(), alg, time.Now()
	return s.version, s.alg, nil
}

// brief is Key Vault's answer in one line (status, error code, message),
// as the checkpoint record and the log show it; an azcore error spans
// many.
func brief(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	msg := fmt.Sprintf("Key Vault answered %d %s", re.StatusCode, re.ErrorCode)
	if r := re.RawResponse; r != nil {
		if r.Request != nil {
			msg += " to " + r.Request.Method + " " + r.Request.URL.Path
		}
		// The body azcore kept: Key Vault's message names the data
		// action a missing role would allow.
		var body struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if r.Body != nil {
			data, _ := io.ReadAll(io.LimitReader(r.Body, 8<<10))
			if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
				msg += ": " + strings.Join(strings.Fields(body.Error.Message), " ")
			}
		}
	}
	return errors.New(msg)
}

// algHash are the hashes of the algorithms the signer uses.
var algHash = map[azkeys.SignatureAlgorithm]crypto.Hash{
	azkeys.SignatureAlgorithmES256: crypto.SHA256, azkeys.SignatureAlgorithmES384: crypto.SHA384,
	azkeys.SignatureAlgorithmES512: crypto.SHA512, azkeys.SignatureAlgorithmPS256: crypto.SHA256,
}

// signingAlg is the algorithm a key signs with: ES* by its curve, PS256
// for RSA.
func signingAlg(k *azkeys.JSONWebKey) (azkeys.SignatureAlgorithm, error) {
	if k.Kty == nil {
		return "", errors.New("the key has no type")
	}
	switch *k.Kty {
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		if k.Crv != nil {
			switch *k.Crv {
			case azkeys.CurveNameP256:
				return azkeys.SignatureAlgorithmES256, nil
			case azkeys.CurveNameP384:
				return azkeys.SignatureAlgorithmES384, nil
			case azkeys.CurveNameP521:
				return azkeys.SignatureAlgorithmES512, nil
			}
		}
		return "", errors.New("an EC key on a curve other than P-256, P-384 or P-521")
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return azkeys.SignatureAlgorithmPS256, nil
	}
	return "", fmt.Errorf("a %s key cannot sign", *k.Kty)
}
