package graphsim

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Vault is a simulated Key Vault holding secrets (and certificates, which
// Key Vault exposes as secrets). It answers the bearer challenge, checks the
// token and the caller's role, and serves GET /secrets/{name}[/{version}].
type Vault struct {
	URL   string
	entra *Entra
	mux   *http.ServeMux

	mu       sync.Mutex
	secrets  map[string][]secretVersion // name → versions, newest last
	readers  map[string]bool            // object ids with Key Vault Secrets User
	down     bool
	requests int
}

type secretVersion struct {
	version     string
	value       string
	contentType string
	created     time.Time
}

func newVault(url string, e *Entra) *Vault {
	v := &Vault{URL: url, entra: e, secrets: map[string][]secretVersion{}, readers: map[string]bool{}}
	// The proxy's identities hold Key Vault Secrets User by default.
	for _, id := range []string{SystemIdentityClientID, ManagedIdentityClientID} {
		if a := e.App(CustomerTenant, id); a != nil {
			v.readers[a.ObjectID] = true
		}
	}
	v.mux = http.NewServeMux()
	v.mux.HandleFunc("GET /secrets/{name}", v.getSecret)
	v.mux.HandleFunc("GET /secrets/{name}/{$}", v.getSecret) // azsecrets asks for the latest so
	v.mux.HandleFunc("GET /secrets/{name}/{version}", v.getSecret)
	return v
}

// SetSecret stores a new version of name and returns its version id.
func (v *Vault) SetSecret(name, value, contentType string) string {
	b := make([]byte, 16)
	rand.Read(b)
	ver := hex.EncodeToString(b)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = append(v.secrets[name], secretVersion{version: ver, value: value, contentType: contentType, created: time.Now()})
	return ver
}

// SetReader grants (or revokes) the Key Vault Secrets User role to the
// principal with object id oid.
func (v *Vault) SetReader(oid string, allowed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.readers[oid] = allowed
}

// SetDown makes the vault answer 503 until called with false.
func (v *Vault) SetDown(down bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.down = down
}

// Requests counts authenticated secret reads.
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

func (v *Vault) getSecret(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate",
			`Bearer authorization="`+v.entra.URL+"/"+CustomerTenant+`", resource="`+VaultResource+`"`)
		vaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	claims, err := v.entra.Validate(raw, VaultResource)
	if err != nil {
		vaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10032: Invalid issuer or token.")
		return
	}
	oid, _ := claims["oid"].(string)
	v.mu.Lock()
	v.requests++
	allowed := v.readers[oid]
	versions := v.secrets[r.PathValue("name")]
	v.mu.Unlock()
	if !allowed {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"code":       "Forbidden",
			"message":    "Caller is not authorized to perform action on resource. If role assignments were recently changed, please wait several minutes. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
			"innererror": map[string]string{"code": "ForbiddenByRbac"},
		}})
		return
	}
	if len(versions) == 0 {
		vaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+r.PathValue("name")+" was not found in this key vault.")
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
			vaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+r.PathValue("name")+"/"+want+" was not found in this key vault.")
			return
		}
	}
	body := map[string]any{
		"value": sv.value,
		"id":    v.URL + "/secrets/" + r.PathValue("name") + "/" + sv.version,
		"attributes": map[string]any{
			"enabled": true, "created": sv.created.Unix(), "updated": sv.created.Unix(),
			"recoveryLevel": "Recoverable", "recoverableDays": 90,
		},
		"tags": map[string]string{},
	}
	if sv.contentType != "" {
		body["contentType"] = sv.contentType
	}
	writeJSON(w, http.StatusOK, body)
}

func vaultError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
