package graphsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"time"
)

// The simulated vault's keys: EC P-256 keys that never leave it, as an
// HSM-less Key Vault holds them, with the operations the proxy and an
// auditor use:
//
//   - GET /keys/{name}[/{version}]: the public half as a JWK (Key Vault
//     Crypto User or Key Vault Reader);
//   - GET /keys/{name}/versions: every version's kid (az keyvault key
//     list-versions);
//   - POST /keys/{name}/{version}/sign: an ES256 signature of a SHA-256
//     digest, R‖S (Key Vault Crypto User).

// The data actions a key request needs.
const (
	actionSign    = "Microsoft.KeyVault/vaults/keys/sign/action"
	actionReadKey = "Microsoft.KeyVault/vaults/keys/read"
)

type keyVersion struct {
	version string
	key     *ecdsa.PrivateKey
	created time.Time
}

func (v *Vault) handleKeys() {
	v.mux.HandleFunc("GET /keys/{name}", v.getKey)
	v.mux.HandleFunc("GET /keys/{name}/{$}", v.getKey)
	v.mux.HandleFunc("GET /keys/{name}/{version}", v.getKey)
	v.mux.HandleFunc("GET /keys/{name}/versions", v.listKeyVersions)
	v.mux.HandleFunc("POST /keys/{name}/{version}/sign", v.sign)
}

// CreateKey adds a new version of the EC P-256 key name (az keyvault key
// create, or its rotation) and returns its kid.
func (v *Vault) CreateKey(name string) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	b := make([]byte, 16)
	rand.Read(b)
	kv := keyVersion{version: hex.EncodeToString(b), key: k, created: time.Now()}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[name] = append(v.keys[name], kv)
	return v.kid(name, kv.version)
}

// SetSigner grants (or revokes) Key Vault Crypto User to the principal
// with object id oid.
func (v *Vault) SetSigner(oid string, allowed bool) { v.grant(v.signers, oid, allowed) }

// SetKeyReader grants (or revokes) Key Vault Reader, which reads a key's
// public half, to the principal with object id oid.
func (v *Vault) SetKeyReader(oid string, allowed bool) { v.grant(v.keyReads, oid, allowed) }

func (v *Vault) kid(name, version string) string { return v.URL + "/keys/" + name + "/" + version }

// findKey finds the version named, or the newest for "", writing the
// 404 itself when there is none.
func (v *Vault) findKey(w http.ResponseWriter, name, version string) (keyVersion, bool) {
	v.mu.Lock()
	versions := v.keys[name]
	v.mu.Unlock()
	for i := len(versions) - 1; i >= 0; i-- {
		if version == "" || versions[i].version == version {
			return versions[i], true
		}
	}
	vaultError(w, http.StatusNotFound, "KeyNotFound", "A key with (name/id) "+name+" was not found in this key vault.")
	return keyVersion{}, false
}

func (v *Vault) getKey(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionReadKey) {
		return
	}
	name := r.PathValue("name")
	kv, ok := v.findKey(w, name, r.PathValue("version"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, v.keyBundle(name, kv))
}

func (v *Vault) listKeyVersions(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionReadKey) {
		return
	}
	name := r.PathValue("name")
	v.mu.Lock()
	versions := v.keys[name]
	v.mu.Unlock()
	items := []map[string]any{}
	for _, kv := range versions {
		b := v.keyBundle(name, kv)
		items = append(items, map[string]any{"kid": v.kid(name, kv.version), "attributes": b["attributes"]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": items, "nextLink": nil})
}

func (v *Vault) sign(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionSign) {
		return
	}
	name := r.PathValue("name")
	kv, ok := v.findKey(w, name, r.PathValue("version"))
	if !ok {
		return
	}
	var body struct {
		Alg   string `json:"alg"`
		Value string `json:"value"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil || json.Unmarshal(data, &body) != nil {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The request body must hold alg and value.")
		return
	}
	digest, err := base64.RawURLEncoding.DecodeString(body.Value)
	switch {
	case body.Alg != "ES256":
		vaultError(w, http.StatusBadRequest, "BadParameter", "Invalid algorithm "+body.Alg+" for a P-256 key.")
		return
	case err != nil || len(digest) != 32:
		vaultError(w, http.StatusBadRequest, "BadParameter", "The digest for ES256 must be 32 bytes, base64url-encoded.")
		return
	}
	rs, ss, err := ecdsa.Sign(rand.Reader, kv.key, digest)
	if err != nil {
		vaultError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	sig := make([]byte, 64)
	rs.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	writeJSON(w, http.StatusOK, map[string]string{"kid": v.kid(name, kv.version), "value": base64.RawURLEncoding.EncodeToString(sig)})
}

// keyBundle is a key version as Key Vault answers it: the public JWK and
// its attributes.
func (v *Vault) keyBundle(name string, kv keyVersion) map[string]any {
	pub, _ := kv.key.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	return map[string]any{
		"key": map[string]any{
			"kid": v.kid(name, kv.version), "kty": "EC", "crv": "P-256", "key_ops": []string{"sign", "verify"},
			"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:]),
		},
		"attributes": map[string]any{
			"enabled": true, "created": kv.created.Unix(), "updated": kv.created.Unix(),
			"recoveryLevel": "Recoverable", "recoverableDays": 90,
		},
		"tags": map[string]string{},
	}
}

// PublicKeyPEM is every version of the key as PEM public keys, oldest
// first: what az keyvault key download --encoding PEM writes, one version
// at a time.
func (v *Vault) PublicKeyPEM(name string) []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []byte
	for _, kv := range v.keys[name] {
		der, err := x509.MarshalPKIXPublicKey(&kv.key.PublicKey)
		if err != nil {
			panic(err) // a P-256 key always marshals
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return out
}
