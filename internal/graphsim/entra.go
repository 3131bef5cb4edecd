package graphsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// App is a client the simulated Entra ID knows: an app registration or a
// managed identity.
type App struct {
	Tenant   string
	ClientID string
	// ObjectID is the service principal's object id (oid and sub of its
	// app-only tokens).
	ObjectID string
	// Secret is the client secret; empty accepts none.
	Secret string
	// Certificates are accepted for signed client assertions.
	Certificates []*x509.Certificate
	// Federated lists (issuer, subject) pairs whose tokens are accepted as
	// client assertions (workload identity federation).
	Federated []Federation
	// Roles maps a resource (audience) to the app roles granted on it.
	Roles map[string][]string
}

// Federation is a federated identity credential of an app registration.
type Federation struct {
	Issuer  string
	Subject string
}

// Entra is the simulated Entra ID: OpenID discovery, JWKS and the token
// endpoint for client credentials (secret, certificate assertion, or
// federated assertion), and a Go API to mint tokens for tests.
type Entra struct {
	// URL is the authority host, e.g. https://127.0.0.1:9441.
	URL      string
	lifetime time.Duration
	mux      *http.ServeMux

	mu            sync.Mutex
	keys          []*signingKey // keys[0] signs; all are published
	apps          map[string]*App
	versions      map[string]int // resource → access token version
	down          bool
	tokenRequests int
	jwksFetches   int
	del           entraDelegated // delegated.go
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

func newEntra(url string, lifetime time.Duration, key *rsa.PrivateKey) (*Entra, error) {
	e := &Entra{URL: url, lifetime: lifetime, apps: map[string]*App{}, versions: map[string]int{
		GraphResource: 1, VaultResource: 1, ProxyAudience: 2, TokenExchangeAudience: 2,
	}}
	if key != nil {
		e.keys = []*signingKey{{kid: keyID(&key.PublicKey), key: key}}
	} else if _, err := e.RotateKey(); err != nil {
		return nil, err
	}
	for _, a := range defaultApps() {
		e.Register(a)
	}
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", e.openID(2))
	e.mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", e.openID(1))
	e.mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", e.jwks)
	e.mux.HandleFunc("GET /{tenant}/discovery/keys", e.jwks)
	e.mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.token)
	return e, nil
}

// graphRoles are the Graph application permissions the proxy's identities
// hold by default: what the example policy needs, and Files.ReadWrite.All
// for file content (MSAL caches managed-identity tokens process-wide, so a
// role a test would add later would not reach a token already cached).
var graphRoles = []string{"User.ReadBasic.All", "Calendars.ReadBasic.All", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite.All", "GroupMember.Read.All", "Files.ReadWrite.All"}

func defaultApps() []*App {
	return []*App{
		{Tenant: CustomerTenant, ClientID: SystemIdentityClientID, ObjectID: "a0000000-0000-4000-8000-0000000000f0",
			Roles: map[string][]string{GraphResource: graphRoles, VaultResource: nil, TokenExchangeAudience: nil, MonitorResource: nil}},
		{Tenant: CustomerTenant, ClientID: ManagedIdentityClientID, ObjectID: "a0000000-0000-4000-8000-0000000000f1",
			Roles: map[string][]string{GraphResource: graphRoles, VaultResource: nil, TokenExchangeAudience: nil, MonitorResource: nil}},
		{Tenant: CustomerTenant, ClientID: ProxyAppID, ObjectID: "b0000000-0000-4000-8000-0000000000f1",
			Secret: randomSecret(), Roles: map[string][]string{GraphResource: graphRoles},
			Federated: []Federation{{Subject: "a0000000-0000-4000-8000-0000000000f0"}, {Subject: "a0000000-0000-4000-8000-0000000000f1"}}},
		{Tenant: VendorTenant, ClientID: VendorAppID, ObjectID: "e0000000-0000-4000-8000-0000000000f1",
			Secret: randomSecret(), Roles: map[string][]string{ProxyAudience: {"Graph.Proxy"}}},
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "sim~" + base64.RawURLEncoding.EncodeToString(b)
}

func appKey(tenant, clientID string) string { return strings.ToLower(tenant + "/" + clientID) }

// Register adds or replaces an app.
func (e *Entra) Register(a *App) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The federated credential of the proxy's app trusts this Entra as
	// issuer; its URL is known only now.
	for i := range a.Federated {
		if a.Federated[i].Issuer == "" {
			a.Federated[i].Issuer = e.issuer(CustomerTenant, 2)
		}
	}
	e.apps[appKey(a.Tenant, a.ClientID)] = a
}

// App returns a copy of the registered app, or nil.
func (e *Entra) App(tenant, clientID string) *App {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.apps[appKey(tenant, clientID)]
	if !ok {
		return nil
	}
	c := *a
	return &c
}

// SetSecret replaces an app's client secret (credential rotation or
// revocation).
func (e *Entra) SetSecret(tenant, clientID, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.apps[appKey(tenant, clientID)]; ok {
		a.Secret = secret
	}
}

// SetRoles replaces the roles an app holds on resource.
func (e *Entra) SetRoles(tenant, clientID, resource string, roles []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.apps[appKey(tenant, clientID)]; ok {
		a.Roles[resource] = roles
	}
}

// SetTokenVersion sets the access token version (1 or 2) issued for
// resource.
func (e *Entra) SetTokenVersion(resource string, v int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.versions[resource] = v
}

// SetDown makes the token, discovery and key endpoints answer 503 (an
// outage) until called with false.
func (e *Entra) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

// TokenRequests counts calls of the token endpoint.
func (e *Entra) TokenRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokenRequests
}

// JWKSFetches counts calls of the key endpoints.
func (e *Entra) JWKSFetches() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.jwksFetches
}

// RotateKey adds a new signing key, which signs from now on; the older
// keys stay published. It returns the new key id.
func (e *Entra) RotateKey() (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	sk := &signingKey{kid: keyID(&k.PublicKey), key: k}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = append([]*signingKey{sk}, e.keys...)
	return sk.kid, nil
}

// keyID derives a key id from the public key, as Entra's are stable per key.
func keyID(k *rsa.PublicKey) string {
	sum := sha256.Sum256(k.N.Bytes())
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// RetireOldKeys stops publishing every key but the current one.
func (e *Entra) RetireOldKeys() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = e.keys[:1]
}

// SigningKey returns the current signing key and its id, for tests that
// forge or tamper with tokens.
func (e *Entra) SigningKey() (*rsa.PrivateKey, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys[0].key, e.keys[0].kid
}

// TokenSpec describes a token to mint. Zero fields take the defaults noted.
type TokenSpec struct {
	Tenant   string
	AppID    string
	ObjectID string // default: the registered app's, else a derived id
	Audience string
	Roles    []string
	// Version is 1 (iss https://sts.windows.net/{tid}/, appid) or 2 (iss
	// {authority}/{tid}/v2.0, azp). Default: the resource's version.
	Version int
	// IssuedAt defaults to now; Lifetime to the simulator's.
	IssuedAt time.Time
	Lifetime time.Duration
	// NotBefore defaults to IssuedAt.
	NotBefore time.Time
	// Delegated mints a user token (scp, a user's oid) instead of app-only.
	Delegated bool
	// Subject overrides sub (federated assertions need the identity's oid).
	Subject string
}

// Mint signs a token as the simulated Entra ID would issue it.
func (e *Entra) Mint(s TokenSpec) (string, time.Time, error) {
	e.mu.Lock()
	key := e.keys[0]
	if s.Version == 0 {
		s.Version = e.versions[s.Audience]
		if s.Version == 0 {
			s.Version = 2
		}
	}
	if s.ObjectID == "" {
		if a, ok := e.apps[appKey(s.Tenant, s.AppID)]; ok {
			s.ObjectID = a.ObjectID
		}
	}
	e.mu.Unlock()
	if s.ObjectID == "" {
		s.ObjectID = s.AppID
	}
	if s.IssuedAt.IsZero() {
		s.IssuedAt = time.Now()
	}
	if s.Lifetime == 0 {
		s.Lifetime = e.lifetime
	}
	if s.NotBefore.IsZero() {
		s.NotBefore = s.IssuedAt
	}
	exp := s.IssuedAt.Add(s.Lifetime)
	claims := jwt.MapClaims{
		"aud": s.Audience,
		"iss": e.issuer(s.Tenant, s.Version),
		"iat": s.IssuedAt.Unix(),
		"nbf": s.NotBefore.Unix(),
		"exp": exp.Unix(),
		"tid": s.Tenant,
		"oid": s.ObjectID,
		"sub": s.ObjectID,
		"ver": fmt.Sprintf("%d.0", s.Version),
	}
	if s.Subject != "" {
		claims["sub"] = s.Subject
	}
	if s.Version == 1 {
		claims["appid"] = s.AppID
		claims["appidacr"] = "1"
	} else {
		claims["azp"] = s.AppID
		claims["azpacr"] = "1"
	}
	if s.Delegated {
		claims["scp"] = "user_impersonation"
		claims["oid"] = "f0000000-0000-4000-8000-00000000000f"
		claims["sub"] = "delegated-user-subject"
		claims["upn"] = "someone@contoso.example"
	} else {
		claims["idtyp"] = "app"
		if len(s.Roles) > 0 {
			claims["roles"] = s.Roles
		}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.kid
	signed, err := t.SignedString(key.key)
	return signed, exp, err
}

func (e *Entra) issuer(tenant string, version int) string {
	if version == 1 {
		return "https://sts.windows.net/" + tenant + "/"
	}
	return e.URL + "/" + tenant + "/v2.0"
}

// Issuer returns the issuer of tokens of the given version for tenant.
func (e *Entra) Issuer(tenant string, version int) string { return e.issuer(tenant, version) }

// Validate checks a token this Entra issued: signature by a published key,
// expiry, and audience (one of audiences). It is what the simulated Graph
// and Key Vault do with a bearer token.
func (e *Entra) Validate(raw string, audiences ...string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, k := range e.keys {
			if k.kid == kid {
				return &k.key.PublicKey, nil
			}
		}
		return nil, errors.New("unknown signing key")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, err
	}
	aud, _ := claims.GetAudience()
	for _, want := range audiences {
		for _, a := range aud {
			if a == want {
				return claims, nil
			}
		}
	}
	return nil, fmt.Errorf("audience %v is not %v", aud, audiences)
}

func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	down := e.down
	e.mu.Unlock()
	if down {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	e.mux.ServeHTTP(w, r)
}

func (e *Entra) openID(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := r.PathValue("tenant")
		keys := e.URL + "/" + t + "/discovery/keys"
		if version == 2 {
			keys = e.URL + "/" + t + "/discovery/v2.0/keys"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                e.issuer(t, version),
			"authorization_endpoint":                e.URL + "/" + t + "/oauth2/v2.0/authorize",
			"token_endpoint":                        e.URL + "/" + t + "/oauth2/v2.0/token",
			"jwks_uri":                              keys,
			"response_types_supported":              []string{"code", "id_token", "token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"tenant_region_scope":                   "EU",
		})
	}
}

func (e *Entra) jwks(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.jwksFetches++
	keys := make([]map[string]any, 0, len(e.keys))
	for _, k := range e.keys {
		pub := k.key.PublicKey
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "kid": k.kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// token is the client-credentials grant.
func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.tokenRequests++
	e.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be form-encoded.")
		return
	}
	tenant := r.PathValue("tenant")
	if e.delegatedGrant(w, r, tenant) {
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The simulator supports the client_credentials grant only.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	app := e.App(tenant, clientID)
	if app == nil {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
		return
	}
	if err := e.authenticateClient(app, r.PostForm); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, err.Error())
		return
	}
	// MSAL adds the OpenID scopes to every request; Entra ignores them
	// in the client-credentials grant.
	var resource string
	ok := false
	for sc := range strings.FieldsSeq(r.PostForm.Get("scope")) {
		if res, found := strings.CutSuffix(sc, "/.default"); found && !ok {
			resource, ok = res, true
		} else if sc != "openid" && sc != "profile" && sc != "offline_access" {
			ok = false
			break
		}
	}
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The client credentials grant needs a scope of the form {resource}/.default.")
		return
	}
	roles, ok := app.Roles[resource]
	if !ok && resource != ProxyAudience {
		oauthError(w, http.StatusBadRequest, "invalid_resource", 500011,
			fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", resource, tenant))
		return
	}
	tok, exp, err := e.Mint(TokenSpec{Tenant: tenant, AppID: clientID, Audience: resource, Roles: roles})
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", 0, err.Error())
		return
	}
	secs := int(time.Until(exp).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
}

func (e *Entra) authenticateClient(app *App, form map[string][]string) error {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if s := get("client_secret"); s != "" {
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(s), []byte(app.Secret)) != 1 {
			return errors.New("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		}
		return nil
	}
	assertion := get("client_assertion")
	if assertion == "" || get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errors.New("AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	// A federated assertion is a token this Entra issued for the token
	// exchange audience; otherwise it must be signed by a registered
	// certificate of the app itself.
	if claims, err := e.Validate(assertion, TokenExchangeAudience); err == nil {
		iss, _ := claims.GetIssuer()
		sub, _ := claims.GetSubject()
		for _, f := range app.Federated {
			if f.Issuer == iss && f.Subject == sub {
				return nil
			}
		}
		return fmt.Errorf("AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'.", iss, sub)
	}
	return e.verifyCertAssertion(app, assertion)
}

func (e *Entra) verifyCertAssertion(app *App, assertion string) error {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		x5t, _ := t.Header["x5t"].(string)
		x5t256, _ := t.Header["x5t#S256"].(string)
		for _, c := range app.Certificates {
			s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
			if (x5t != "" && thumbprintIs(x5t, s1[:])) || (x5t256 != "" && thumbprintIs(x5t256, s256[:])) {
				return c.PublicKey, nil
			}
		}
		return nil, errors.New("AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.")
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("AADSTS700027: Client assertion failed signature validation: %v", err)
	}
	iss, _ := claims.GetIssuer()
	sub, _ := claims.GetSubject()
	if iss != app.ClientID || sub != app.ClientID {
		return errors.New("AADSTS700023: Client assertion issuer and subject must be the client id.")
	}
	return nil
}

func thumbprintIs(header string, sum []byte) bool {
	return header == base64.RawURLEncoding.EncodeToString(sum) || header == base64.StdEncoding.EncodeToString(sum) ||
		header == base64.URLEncoding.EncodeToString(sum)
}

func oauthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	// Entra starts every description with its code, as clients log it.
	if prefix := fmt.Sprintf("AADSTS%d: ", aadsts); aadsts > 0 && !strings.HasPrefix(desc, "AADSTS") {
		desc = prefix + desc
	}
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": desc,
		"error_codes":       []int{aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          newID(),
		"correlation_id":    newID(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func newID() string { return uuid.NewString() }
