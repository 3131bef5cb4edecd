package graphsim

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Identity is the Container Apps (App Service) managed-identity endpoint:
// GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=C]
// with the X-IDENTITY-HEADER secret. Point IDENTITY_ENDPOINT at
// Identity.Endpoint() and IDENTITY_HEADER at Identity.Header.
type Identity struct {
	URL string
	// Header is the secret the caller must present.
	Header string
	entra  *Entra

	mu         sync.Mutex
	requests   int
	status     int // injected failure status; 0 serves normally
	retryAfter string
	delay      time.Duration
}

func newIdentity(url string, e *Entra) *Identity {
	return &Identity{URL: url, Header: randomSecret(), entra: e}
}

// Endpoint is the value for IDENTITY_ENDPOINT.
func (i *Identity) Endpoint() string { return i.URL + "/msi/token" }

// Requests counts token requests received.
func (i *Identity) Requests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.requests
}

// Fail makes the endpoint answer status (with Retry-After when not empty),
// e.g. 429 for throttling or 500 for an outage; status 0 heals it.
func (i *Identity) Fail(status int, retryAfter string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.status, i.retryAfter = status, retryAfter
}

// SetDelay delays every answer by d, to widen races in tests.
func (i *Identity) SetDelay(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.delay = d
}

func (i *Identity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	i.requests++
	status, retryAfter, delay := i.status, i.retryAfter, i.delay
	i.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodGet || r.URL.Path != "/msi/token" {
		http.NotFound(w, r)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(i.Header)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "Missing or invalid X-IDENTITY-HEADER."})
		return
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]any{"statusCode": status, "message": "Injected failure of the identity endpoint."})
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != "2019-08-01" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "api-version must be 2019-08-01."})
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		clientID = SystemIdentityClientID
	}
	app := i.entra.App(CustomerTenant, clientID)
	if app == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "No managed identity with client_id " + clientID + " is assigned to this resource."})
		return
	}
	// Azure SDK scopes such as "https://monitor.azure.com//.default" come
	// as a resource with a trailing slash; Entra treats both alike.
	resource := strings.TrimSuffix(q.Get("resource"), "/")
	roles, ok := app.Roles[resource]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "AADSTS500011: The resource principal named " + resource + " was not found in the tenant."})
		return
	}
	tok, exp, err := i.entra.Mint(TokenSpec{Tenant: CustomerTenant, AppID: clientID, Audience: resource, Roles: roles})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"statusCode": 500, "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    clientID,
	})
}
