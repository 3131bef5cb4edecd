package graphsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Vault is a simulated Key Vault holding secrets (and certificates, which
// Key Vault exposes as secrets), each a list of versions. It answers the
// bearer challenge, checks the token and the caller's role, and serves
//
//   - GET /secrets/{name}[/{version}]: the newest version (or the one
//     named), with its identifier https://<vault>/secrets/<name>/<version>;
//     403 SecretDisabled when that version is disabled (Key Vault Secrets
//     User);
//   - GET /secrets/{name}/versions: every version's identifier and
//     attributes, no values (az keyvault secret list-versions);
//   - PUT /secrets/{name}: a new version (az keyvault secret set; Key
//     Vault Secrets Officer);
//   - keys (vaultkeys.go): a key's public half, its versions, and Sign.
type Vault struct {
	URL   string
	entra *Entra
	mux   *http.ServeMux

	mu       sync.Mutex
	secrets  map[string][]secretVersion // name → versions, newest last
	readers  map[string]bool            // object ids with Key Vault Secrets User
	writers  map[string]bool            // object ids with Key Vault Secrets Officer
	keys     map[string][]keyVersion    // name → versions, newest last
	signers  map[string]bool            // object ids with Key Vault Crypto User
	keyReads map[string]bool            // object ids with Key Vault Reader
	down     bool
	requests int
}

type secretVersion struct {
	version     string
	value       string
	contentType string
	created     time.Time
	disabled    bool
}

// The data actions a secret request needs, as Key Vault names them in its
// 403 answers.
const (
	actionGetSecret = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	actionSetSecret = "Microsoft.KeyVault/vaults/secrets/setSecret/action"
	actionReadMeta  = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
)

func newVault(url string, e *Entra) *Vault {
	v := &Vault{URL: url, entra: e, secrets: map[string][]secretVersion{}, readers: map[string]bool{}, writers: map[string]bool{},
		keys: map[string][]keyVersion{}, signers: map[string]bool{}, keyReads: map[string]bool{}}
	// The proxy's identities hold Key Vault Secrets User and, on the
	// checkpoint key, Key Vault Crypto User by default.
	for _, id := range []string{SystemIdentityClientID, ManagedIdentityClientID} {
		if a := e.App(CustomerTenant, id); a != nil {
			v.readers[a.ObjectID] = true
			v.signers[a.ObjectID] = true
		}
	}
	v.mux = http.NewServeMux()
	v.mux.HandleFunc("GET /secrets/{name}", v.getSecret)
	v.mux.HandleFunc("GET /secrets/{name}/{$}", v.getSecret) // azsecrets asks for the latest so
	v.mux.HandleFunc("GET /secrets/{name}/{version}", v.getSecret)
	v.mux.HandleFunc("GET /secrets/{name}/versions", v.listVersions)
	v.mux.HandleFunc("PUT /secrets/{name}", v.putSecret)
	v.handleKeys()
	return v
}

// SetSecret stores a new version of name, which becomes the newest, and
// returns its version id.
func (v *Vault) SetSecret(name, value, contentType string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.addVersion(name, value, contentType)
}

// addVersion appends a version; v.mu is held.
func (v *Vault) addVersion(name, value, contentType string) string {
	b := make([]byte, 16)
	rand.Read(b)
	ver := hex.EncodeToString(b)
	v.secrets[name] = append(v.secrets[name], secretVersion{version: ver, value: value, contentType: contentType, created: time.Now()})
	return ver
}

// Versions returns the version ids of name, oldest first.
func (v *Vault) Versions(name string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, sv := range v.secrets[name] {
		out = append(out, sv.version)
	}
	return out
}

// SetEnabled enables or disables one version of name (az keyvault secret
// set-attributes --enabled). Reading a disabled version, the newest
// included, is refused with 403 SecretDisabled. It reports whether the
// version exists.
func (v *Vault) SetEnabled(name, version string, enabled bool) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range v.secrets[name] {
		if v.secrets[name][i].version == version {
			v.secrets[name][i].disabled = !enabled
			return true
		}
	}
	return false
}

// SetWriter grants (or revokes) the Key Vault Secrets Officer role, which
// may also read, to the principal with object id oid.
func (v *Vault) SetWriter(oid string, allowed bool) { v.grant(v.writers, oid, allowed) }

// SetReader grants (or revokes) the Key Vault Secrets User role to the
// principal with object id oid.
func (v *Vault) SetReader(oid string, allowed bool) { v.grant(v.readers, oid, allowed) }

// grant sets (or clears) a principal's role, one of v's role maps.
func (v *Vault) grant(role map[string]bool, oid string, allowed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	role[oid] = allowed
}

// SetDown makes the vault answer 503 until called with false.
func (v *Vault) SetDown(down bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.down = down
}

// Requests counts authenticated requests: reads, listings and writes.
func (v *Vault) Requests() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests
}

func (v *Vault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	down := v.down
	v.mu.Unlock()
	if down {
		vaultError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable.")
		return
	}
	v.mux.ServeHTTP(w, r)
}

// authorize checks the bearer token (answering the challenge when there is
// none) and that its principal holds a role allowing action. It writes the
// refusal itself and reports whether to go on.
func (v *Vault) authorize(w http.ResponseWriter, r *http.Request, action string) bool {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate",
			`Bearer authorization="`+v.entra.URL+"/"+CustomerTenant+`", resource="`+VaultResource+`"`)
		vaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return false
	}
	claims, err := v.entra.Validate(raw, VaultResource)
	if err != nil {
		vaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10032: Invalid issuer or token.")
		return false
	}
	oid, _ := claims["oid"].(string)
	v.mu.Lock()
	v.requests++
	allowed := v.allows(oid, action)
	v.mu.Unlock()
	if !allowed {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"code":       "Forbidden",
			"message":    "Caller is not authorized to perform action on resource. If role assignments were recently changed, please wait several minutes. Action: '" + action + "'",
			"innererror": map[string]string{"code": "ForbiddenByRbac"},
		}})
		return false
	}
	return true
}

// allows reports whether the principal's roles allow the data action;
// v.mu is held.
func (v *Vault) allows(oid, action string) bool {
	switch action {
	case actionSign:
		return v.signers[oid]
	case actionReadKey:
		return v.signers[oid] || v.keyReads[oid]
	case actionSetSecret:
		return v.writers[oid]
	}
	return v.writers[oid] || v.readers[oid]
}

func (v *Vault) getSecret(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionGetSecret) {
		return
	}
	name := r.PathValue("name")
	v.mu.Lock()
	versions := v.secrets[name]
	v.mu.Unlock()
	if len(versions) == 0 {
		vaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+name+" was not found in this key vault.")
		return
	}
	sv := versions[len(versions)-1]
	if want := r.PathValue("version"); want != "" {
		found := false
		for _, x := range versions {
			if x.version == want {
				sv, found = x, true
			}
		}
		if !found {
			vaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+name+"/"+want+" was not found in this key vault.")
			return
		}
	}
	if sv.disabled {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"code":       "Forbidden",
			"message":    "Operation get is not allowed on a disabled secret.",
			"innererror": map[string]string{"code": "SecretDisabled"},
		}})
		return
	}
	writeJSON(w, http.StatusOK, v.bundle(name, sv, true))
}

func (v *Vault) listVersions(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionReadMeta) {
		return
	}
	name := r.PathValue("name")
	v.mu.Lock()
	versions := v.secrets[name]
	v.mu.Unlock()
	items := []map[string]any{}
	for _, sv := range versions {
		items = append(items, v.bundle(name, sv, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": items, "nextLink": nil})
}

func (v *Vault) putSecret(w http.ResponseWriter, r *http.Request) {
	if !v.authorize(w, r, actionSetSecret) {
		return
	}
	var body struct {
		Value       *string `json:"value"`
		ContentType string  `json:"contentType"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(data, &body) != nil || body.Value == nil {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The request body must hold the secret's value.")
		return
	}
	// Key Vault keeps a secret's value to 25 KB.
	if len(*body.Value) > 25*1024 {
		vaultError(w, http.StatusBadRequest, "BadParameter", "The secret value exceeds the maximum size of 25 KB.")
		return
	}
	name := r.PathValue("name")
	v.mu.Lock()
	v.addVersion(name, *body.Value, body.ContentType)
	versions := v.secrets[name]
	sv := versions[len(versions)-1]
	v.mu.Unlock()
	writeJSON(w, http.StatusOK, v.bundle(name, sv, true))
}

// bundle is a version as Key Vault answers it: with its value (a secret
// bundle) or without (a list item).
func (v *Vault) bundle(name string, sv secretVersion, withValue bool) map[string]any {
	body := map[string]any{
		"id": v.URL + "/secrets/" + name + "/" + sv.version,
		"attributes": map[string]any{
			"enabled": !sv.disabled, "created": sv.created.Unix(), "updated": sv.created.Unix(),
			"recoveryLevel": "Recoverable", "recoverableDays": 90,
		},
		"tags": map[string]string{},
	}
	if withValue {
		body["value"] = sv.value
	}
	if sv.contentType != "" {
		body["contentType"] = sv.contentType
	}
	return body
}

func vaultError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
