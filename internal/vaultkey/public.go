package vaultkey

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/graph-proxy/graph-proxy/auditlog"
)

// PublicKeys reads the public half of the key keyURI names from its vault:
// the version named, or every version of the key (so that checkpoints
// signed before a rotation verify too). Reading a key's public half needs
// Key Vault Reader (or Crypto User) on it.
func PublicKeys(ctx context.Context, keyURI string, o Options) ([]auditlog.CheckpointKey, error) {
	k, err := ParseKeyURI(keyURI)
	if err != nil {
		return nil, err
	}
	c, err := newClient(k.Vault, o)
	if err != nil {
		return nil, err
	}
	versions := []string{k.Version}
	if k.Version == "" {
		versions = nil
		pager := c.NewListKeyPropertiesVersionsPager(k.Name, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("key %s: versions: %w", k.Name, err)
			}
			for _, p := range page.Value {
				if p.KID != nil {
					versions = append(versions, p.KID.Version())
				}
			}
		}
		if len(versions) == 0 {
			return nil, fmt.Errorf("key %s has no versions", k.Name)
		}
	}
	var out []auditlog.CheckpointKey
	for _, v := range versions {
		resp, err := c.GetKey(ctx, k.Name, v, nil)
		if err != nil {
			return nil, fmt.Errorf("key %s version %s: %w", k.Name, v, err)
		}
		if resp.Key == nil || resp.Key.KID == nil || resp.Key.Kty == nil {
			return nil, fmt.Errorf("key %s version %s: Key Vault answered no key", k.Name, v)
		}
		kty, crv := string(*resp.Key.Kty), ""
		if resp.Key.Crv != nil {
			crv = string(*resp.Key.Crv)
		}
		pub, err := jwkPublic(kty, crv, resp.Key.X, resp.Key.Y, resp.Key.N, resp.Key.E)
		if err != nil {
			return nil, fmt.Errorf("key %s version %s: %w", k.Name, v, err)
		}
		out = append(out, auditlog.CheckpointKey{ID: string(*resp.Key.KID), Public: pub})
	}
	return out, nil
}

// jwk is a public JSON Web Key as Key Vault writes one.
type jwk struct {
	KID string `json:"kid"`
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   b64    `json:"x"`
	Y   b64    `json:"y"`
	N   b64    `json:"n"`
	E   b64    `json:"e"`
}

// b64 is a JWK member: base64url, padded or not.
type b64 []byte

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(bytes.TrimRight([]byte(s), "=")))
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	*b = raw
	return nil
}

// ParsePublicKeys reads the keys in a file an auditor holds: PEM public
// keys (az keyvault key download --encoding PEM) or certificates, a JWK, a
// JWK set, or a key bundle as az keyvault key show prints it ({"key":
// {...}}), whose kid then binds the key to the checkpoints it signed.
func ParsePublicKeys(data []byte) ([]auditlog.CheckpointKey, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSONKeys(trimmed)
	}
	var out []auditlog.CheckpointKey
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			err = fmt.Errorf("a PEM %q block: want PUBLIC KEY or CERTIFICATE", block.Type)
		}
		if err != nil {
			return nil, err
		}
		if err := usable(pub); err != nil {
			return nil, err
		}
		out = append(out, auditlog.CheckpointKey{Public: pub})
	}
	if len(out) == 0 {
		return nil, errors.New("no public key: want PEM (PUBLIC KEY or CERTIFICATE), a JWK, a JWK set, or the JSON of az keyvault key show")
	}
	return out, nil
}

func parseJSONKeys(data []byte) ([]auditlog.CheckpointKey, error) {
	var doc struct {
		Key  *jwk  `json:"key"`  // az keyvault key show
		Keys []jwk `json:"keys"` // a JWK set
		jwk
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK: %w", err)
	}
	keys := doc.Keys
	switch {
	case doc.Key != nil:
		keys = append(keys, *doc.Key)
	case doc.Kty != "":
		keys = append(keys, doc.jwk)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key in the JSON: want a JWK, a JWK set, or the JSON of az keyvault key show")
	}
	var out []auditlog.CheckpointKey
	for _, k := range keys {
		pub, err := jwkPublic(k.Kty, k.Crv, k.X, k.Y, k.N, k.E)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.KID, err)
		}
		out = append(out, auditlog.CheckpointKey{ID: k.KID, Public: pub})
	}
	return out, nil
}

// jwkPublic builds the public key a JWK's members describe.
func jwkPublic(kty, crv string, x, y, n, e []byte) (crypto.PublicKey, error) {
	switch kty {
	case string(azkeys.KeyTypeEC), string(azkeys.KeyTypeECHSM):
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC curve %q: want P-256, P-384 or P-521", crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) > size || len(y) > size {
			return nil, errors.New("an EC point longer than its curve")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		return pub, nil
	case string(azkeys.KeyTypeRSA), string(azkeys.KeyTypeRSAHSM):
		if len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("an RSA key without a usable modulus and exponent")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if err := usable(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
	return nil, fmt.Errorf("key type %q: want EC or RSA", kty)
}

// usable refuses keys no checkpoint can have been signed with.
func usable(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 || k.E < 3 || k.E%2 == 0 {
			return errors.New("an RSA key shorter than 2048 bits or with a bad exponent")
		}
		return nil
	}
	return fmt.Errorf("a %T: want an EC or RSA key", pub)
}
