// Package seal makes and opens the proxy's own sealed tokens: the file
// links it hands out in place of SharePoint URLs and the notification URLs
// it gives Graph in place of the vendor's. A token is authenticated
// encryption (AES-256-GCM) under a key derived from a secret every
// replica holds (a Key Vault secret), so that any replica opens what
// another sealed, and nobody without the secret can read, forge or alter
// one.
//
// The secret rotates: Keys gives its versions newest first; the newest
// seals, and every one given still opens, so that tokens handed out
// before a rotation — a relayed subscription lives for days — keep
// working until their version is disabled. Each token names the version
// that sealed it by a short fingerprint of the derived key (never the key
// or the secret), so opening costs one decryption.
//
// Failure direction: no secret, no token sealed (the feature refuses its
// calls); a token that does not open — changed, of another purpose, of a
// version no longer given, not base64url — is ErrInvalid, whatever the
// reason, so that a caller learns nothing from the difference.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
)

// MinSecretBytes is the shortest secret taken.
const MinSecretBytes = 32

// format is a token's first byte: the layout and the key derivation.
const format = 2

const idBytes = 4

var (
	// ErrInvalid is any token that does not open.
	ErrInvalid = errors.New("not a token of this proxy")
	// ErrNoKey is wrapped when no secret is there to seal or open with.
	ErrNoKey = errors.New("no key")
)

// Keys supplies the secret's versions, newest first.
type Keys interface {
	Keys() ([][]byte, error)
}

// Static is a fixed list of secrets, newest first (tests; make run).
type Static [][]byte

// Keys implements Keys.
func (s Static) Keys() ([][]byte, error) {
	if len(s) == 0 {
		return nil, ErrNoKey
	}
	return s, nil
}

// Box seals and opens tokens of one purpose. It is safe for concurrent
// use.
type Box struct {
	keys    Keys
	purpose string
	max     int

	mu      sync.Mutex
	secrets [][]byte // those derived below were derived from
	derived []key
}

type key struct {
	id   [idBytes]byte
	aead cipher.AEAD
}

// New returns a Box for purpose (which separates its keys and tokens from
// every other use of the same secret), refusing tokens longer than
// maxToken characters before decoding them.
func New(keys Keys, purpose string, maxToken int) *Box {
	return &Box{keys: keys, purpose: purpose, max: maxToken}
}

// Seal returns plain as a token of URL-safe characters.
func (b *Box) Seal(plain []byte) (string, error) {
	ks, err := b.current()
	if err != nil {
		return "", err
	}
	k := ks[0]
	n := k.aead.NonceSize()
	out := make([]byte, 1+idBytes+n, 1+idBytes+n+len(plain)+k.aead.Overhead())
	out[0] = format
	copy(out[1:], k.id[:])
	if _, err := rand.Read(out[1+idBytes:]); err != nil {
		return "", err
	}
	out = k.aead.Seal(out, out[1+idBytes:], plain, []byte(b.purpose))
	tok := base64.RawURLEncoding.EncodeToString(out)
	if len(tok) > b.max {
		return "", fmt.Errorf("seal: the token would have %d characters, more than %d", len(tok), b.max)
	}
	return tok, nil
}

// Open returns what Seal sealed into tok.
func (b *Box) Open(tok string) ([]byte, error) {
	if len(tok) == 0 || len(tok) > b.max {
		return nil, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 1+idBytes || raw[0] != format {
		return nil, ErrInvalid
	}
	ks, err := b.current()
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if !bytes.Equal(k.id[:], raw[1:1+idBytes]) {
			continue
		}
		n := k.aead.NonceSize()
		if len(raw) < 1+idBytes+n+k.aead.Overhead() {
			return nil, ErrInvalid
		}
		plain, err := k.aead.Open(nil, raw[1+idBytes:1+idBytes+n], raw[1+idBytes+n:], []byte(b.purpose))
		if err == nil {
			return plain, nil
		}
		// Another version may share the fingerprint (one in 2^32).
	}
	return nil, ErrInvalid
}

// current returns the keys derived from the secrets in force, deriving
// them again only when the secrets changed.
func (b *Box) current() ([]key, error) {
	secrets, err := b.keys.Keys()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	if len(secrets) == 0 {
		return nil, ErrNoKey
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if same(secrets, b.secrets) {
		return b.derived, nil
	}
	derived := make([]key, 0, len(secrets))
	for i, s := range secrets {
		if len(s) < MinSecretBytes {
			if i == 0 {
				return nil, fmt.Errorf("%w: the secret has %d bytes; at least %d are needed", ErrNoKey, len(s), MinSecretBytes)
			}
			continue // an old version too short to be a key opens nothing
		}
		k, err := derive(s, b.purpose)
		if err != nil {
			return nil, err
		}
		derived = append(derived, k)
	}
	b.secrets, b.derived = clone(secrets), derived
	return derived, nil
}

// derive makes purpose's key from a secret with HKDF-SHA256, so that the
// secret never serves two purposes as it is, and fingerprints it.
func derive(secret []byte, purpose string) (key, error) {
	raw, err := hkdf.Key(sha256.New, secret, nil, "graph-proxy sealed token: "+purpose, 32)
	if err != nil {
		return key{}, err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	k := key{aead: aead}
	sum := sha256.Sum256(append([]byte("graph-proxy key id\x00"), raw...))
	copy(k.id[:], sum[:])
	return k, nil
}

func same(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func clone(ss [][]byte) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = bytes.Clone(s)
	}
	return out
}
