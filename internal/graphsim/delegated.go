package graphsim

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Delegated access in the simulator: Entra ID issues user tokens for the
// proxy's API (MintUser, a test-only direct grant), answers the
// on-behalf-of grant (jwt-bearer, requested_token_use=on_behalf_of) with a
// Graph token of the same user, and can be told to require multi-factor
// authentication of a user (interaction_required with claims, until the
// user's token shows it); Graph serves /me for delegated tokens and
// refuses app-only tokens there, as Graph does.

// ProxyScope is the delegated scope the proxy's API exposes.
const ProxyScope = "access_as_user"

// MFAClaims is the claims challenge the simulated Conditional Access
// policy answers with.
const MFAClaims = `{"access_token":{"capolids":{"essential":true,"values":["c1a5517e-0000-4000-8000-00000000ca01"]}}}`

// consentedScopes are the Graph delegated permissions consented for the
// proxy's app registration by default.
var consentedScopes = []string{"User.Read", "Mail.Send", "Mail.Read", "Calendars.Read", "Calendars.ReadWrite"}

// entraDelegated is the simulated Entra ID's delegated state.
type entraDelegated struct {
	mu          sync.Mutex
	mfa         map[string]bool     // user object ids that must show MFA
	consent     map[string][]string // client id → consented Graph scopes
	oboRequests int
}

func (d *entraDelegated) init() {
	if d.mfa == nil {
		d.mfa = map[string]bool{}
		d.consent = map[string][]string{strings.ToLower(ProxyAppID): consentedScopes}
	}
}

// UserTokenSpec describes a user's token for the proxy's API.
type UserTokenSpec struct {
	// Tenant is the user's tenant; default CustomerTenant.
	Tenant string
	// AppID is the app that signed the user in; default VendorAppID.
	AppID string
	// ObjectID and UPN name the user (Graph.Users gives them).
	ObjectID, UPN string
	// Audience defaults to ProxyAudience; Scopes to ProxyScope.
	Audience string
	Scopes   []string
	// MFA marks the sign-in as multi-factor (amr), which satisfies
	// RequireMFA.
	MFA bool
	// WithoutUPN leaves a v2 token's upn claim out: v2 tokens carry it
	// only as an optional claim of the API they are for, which the
	// proxy's setup adds (docs/operator-guide.md); without it the user
	// is named by preferred_username alone, as a guest's or an API
	// without the claim are.
	WithoutUPN bool
	// Lifetime defaults to the simulator's; IssuedAt to now.
	Lifetime time.Duration
	IssuedAt time.Time
}

// MintUser signs a user's access token as Entra ID issues it to an app
// that signed the user in: a test-only direct grant.
func (e *Entra) MintUser(s UserTokenSpec) (string, time.Time, error) {
	if s.Tenant == "" {
		s.Tenant = CustomerTenant
	}
	if s.AppID == "" {
		s.AppID = VendorAppID
	}
	if s.Audience == "" {
		s.Audience = ProxyAudience
	}
	if s.Scopes == nil {
		s.Scopes = []string{ProxyScope}
	}
	if s.IssuedAt.IsZero() {
		s.IssuedAt = time.Now()
	}
	if s.Lifetime == 0 {
		s.Lifetime = e.lifetime
	}
	exp := s.IssuedAt.Add(s.Lifetime)
	amr := []string{"pwd"}
	if s.MFA {
		amr = append(amr, "mfa")
	}
	e.mu.Lock()
	version := e.versions[s.Audience]
	e.mu.Unlock()
	if version == 0 {
		version = 2
	}
	claims := jwt.MapClaims{
		"aud": s.Audience, "iss": e.issuer(s.Tenant, version), "iat": s.IssuedAt.Unix(), "nbf": s.IssuedAt.Unix(), "exp": exp.Unix(),
		"tid": s.Tenant, "oid": s.ObjectID, "sub": "sub-" + s.ObjectID, "scp": strings.Join(s.Scopes, " "),
		"ver": fmt.Sprintf("%d.0", version), "amr": amr, "name": s.UPN,
	}
	if version == 1 {
		claims["appid"], claims["upn"] = s.AppID, s.UPN
	} else {
		claims["azp"], claims["preferred_username"] = s.AppID, s.UPN
		if !s.WithoutUPN {
			claims["upn"] = s.UPN
		}
	}
	tok, err := e.sign(claims)
	return tok, exp, err
}

func (e *Entra) sign(claims jwt.MapClaims) (string, error) {
	e.mu.Lock()
	key := e.keys[0]
	e.mu.Unlock()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = key.kid
	return t.SignedString(key.key)
}

// RequireMFA makes the on-behalf-of exchange of the user's tokens fail
// with interaction_required and MFAClaims until the user's token shows
// multi-factor authentication (or until called with false).
func (e *Entra) RequireMFA(objectID string, required bool) {
	e.del.mu.Lock()
	defer e.del.mu.Unlock()
	e.del.init()
	e.del.mfa[strings.ToLower(objectID)] = required
}

// SetConsent replaces the Graph delegated scopes consented for clientID.
func (e *Entra) SetConsent(clientID string, scopes []string) {
	e.del.mu.Lock()
	defer e.del.mu.Unlock()
	e.del.init()
	e.del.consent[strings.ToLower(clientID)] = scopes
}

// OBORequests counts on-behalf-of exchanges answered (granted or not).
func (e *Entra) OBORequests() int {
	e.del.mu.Lock()
	defer e.del.mu.Unlock()
	return e.del.oboRequests
}

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// delegatedGrant answers the on-behalf-of grant; it reports false for any
// other grant, which the token endpoint then answers.
func (e *Entra) delegatedGrant(w http.ResponseWriter, r *http.Request, tenant string) bool {
	f := r.PostForm
	if f.Get("grant_type") != jwtBearerGrant {
		return false
	}
	e.del.mu.Lock()
	e.del.init()
	e.del.oboRequests++
	e.del.mu.Unlock()
	if f.Get("requested_token_use") != "on_behalf_of" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 90014, "The request body must contain requested_token_use=on_behalf_of.")
		return true
	}
	clientID := f.Get("client_id")
	app := e.App(tenant, clientID)
	if app == nil {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
		return true
	}
	if err := e.authenticateClient(app, f); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, err.Error())
		return true
	}
	audiences := []string{clientID}
	if strings.EqualFold(clientID, ProxyAppID) {
		audiences = append(audiences, ProxyAudience)
	}
	user, err := e.Validate(f.Get("assertion"), audiences...)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", 50013, "Assertion failed signature validation or its audience is not the client presenting it: "+err.Error())
		return true
	}
	scp, _ := user["scp"].(string)
	oid, _ := user["oid"].(string)
	tid, _ := user["tid"].(string)
	if scp == "" || oid == "" || user["idtyp"] == "app" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", 50013, "The assertion is not a user's token.")
		return true
	}
	if !strings.EqualFold(tid, tenant) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", 50020, "The user's tenant is not the tenant of the request.")
		return true
	}
	var scopes, granted []string
	for sc := range strings.FieldsSeq(f.Get("scope")) {
		if sc == "openid" || sc == "profile" || sc == "offline_access" {
			continue
		}
		name, ok := strings.CutPrefix(sc, GraphResource+"/")
		if !ok || name == ".default" {
			oauthError(w, http.StatusBadRequest, "invalid_scope", 70011, "The simulator exchanges for Graph's delegated scopes by name: "+sc)
			return true
		}
		scopes, granted = append(scopes, name), append(granted, sc)
	}
	e.del.mu.Lock()
	mfa := e.del.mfa[strings.ToLower(oid)]
	consented := e.del.consent[strings.ToLower(clientID)]
	e.del.mu.Unlock()
	amr, _ := user["amr"].([]any)
	if mfa && !slices.Contains(amr, any("mfa")) {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":             "interaction_required",
			"error_description": "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '" + GraphAppID + "'.",
			"error_codes":       []int{50076},
			"suberror":          "basic_action",
			"claims":            MFAClaims,
			"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
			"trace_id":          newID(), "correlation_id": newID(),
		})
		return true
	}
	for _, s := range scopes {
		if !slices.ContainsFunc(consented, func(c string) bool { return strings.EqualFold(c, s) }) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", 65001,
				fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s'. Send an interactive authorization request for this user and resource. (%s)", clientID, s))
			return true
		}
	}
	exp := time.Now().Add(e.lifetime)
	upn, _ := user["preferred_username"].(string)
	if u, _ := user["upn"].(string); u != "" {
		upn = u
	}
	tok, err := e.sign(jwt.MapClaims{
		"aud": GraphResource, "iss": e.issuer(tenant, 1), "iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": exp.Unix(),
		"tid": tenant, "oid": oid, "sub": user["sub"], "upn": upn, "scp": strings.Join(scopes, " "), "appid": clientID,
		"appidacr": "1", "idtyp": "user", "ver": "1.0", "amr": amr,
	})
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", 0, err.Error())
		return true
	}
	info, _ := json.Marshal(map[string]string{"uid": oid, "utid": tenant})
	secs := int(time.Until(exp).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "scope": strings.Join(granted, " "), "expires_in": secs, "ext_expires_in": secs,
		"access_token": tok, "client_info": base64.RawURLEncoding.EncodeToString(info),
	})
	return true
}

// graphDelegated is the simulated Graph's delegated state: the mail each
// user sent.
type graphDelegated struct {
	mu   sync.Mutex
	sent map[string][]map[string]any // user id → messages
}

// SentMail returns the messages the user (id or UPN) sent with /me/sendMail.
func (g *Graph) SentMail(userKey string) []map[string]any {
	g.mu.Lock()
	u := g.byKey[strings.ToLower(userKey)]
	g.mu.Unlock()
	if u == nil {
		return nil
	}
	g.del.mu.Lock()
	defer g.del.mu.Unlock()
	return slices.Clone(g.del.sent[u.ID])
}

var readUser = []string{"User.Read", "User.ReadBasic.All", "User.Read.All"}

// readCalendarScopes are the delegated permissions that read the
// signed-in user's calendar.
var readCalendarScopes = []string{"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"}

// appRoleOfScope names the app role a delegated scope stands for where
// Graph names the two differently, for the handlers that check app roles.
var appRoleOfScope = map[string]string{"Calendars.ReadBasic": "Calendars.ReadBasic.All"}

func (g *Graph) delegatedRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /{version}/me", g.me(readUser, g.getMe))
	m.HandleFunc("POST /{version}/me/sendMail", g.me(sendMail, g.sendMyMail))
	for _, base := range []string{"/{version}/me/events", "/{version}/me/calendar/events"} {
		m.HandleFunc("GET "+base, g.me(readCalendarScopes, g.listEvents))
		m.HandleFunc("POST "+base, g.me(writeCalendar, g.createEvent))
		m.HandleFunc("GET "+base+"/{id}", g.me(readCalendarScopes, g.getEvent))
	}
}

// me serves a /me path for the signed-in user of a delegated token: it
// refuses app-only tokens as Graph does (400), checks the token's scopes,
// then serves the path as the user's own /users/{id} path, the scopes
// standing for the roles an app-only token would hold.
func (g *Graph) me(scopes []string, serve http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		claims, _ := r.Context().Value(claimsKey{}).(jwt.MapClaims)
		scp, _ := claims["scp"].(string)
		oid, _ := claims["oid"].(string)
		if scp == "" || claims["idtyp"] == "app" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return
		}
		granted := strings.Fields(scp)
		if !slices.ContainsFunc(granted, func(s string) bool { return slices.Contains(scopes, s) }) {
			graphError(w, r, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			return
		}
		g.mu.Lock()
		u := g.byKey[strings.ToLower(oid)]
		g.mu.Unlock()
		if u == nil {
			graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", "The signed-in user does not exist.")
			return
		}
		as := jwt.MapClaims{}
		for k, v := range claims {
			as[k] = v
		}
		roles := make([]any, len(granted))
		for i, s := range granted {
			roles[i] = cmp.Or(appRoleOfScope[s], s)
		}
		as["roles"] = roles
		r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, as))
		r.SetPathValue("user", u.ID)
		serve(w, r)
	}
}

func (g *Graph) getMe(w http.ResponseWriter, r *http.Request) {
	if u := g.lookup(w, r); u != nil {
		out := selectFields(r, u.json())
		out["@odata.context"] = g.URL + "/" + r.PathValue("version") + "/$metadata#users/$entity"
		writeOData(w, http.StatusOK, out)
	}
}

func (g *Graph) sendMyMail(w http.ResponseWriter, r *http.Request) {
	u := g.lookup(w, r)
	if u == nil {
		return
	}
	var body struct {
		Message map[string]any `json:"message"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if body.Message == nil {
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", "The message is required.")
		return
	}
	g.del.mu.Lock()
	if g.del.sent == nil {
		g.del.sent = map[string][]map[string]any{}
	}
	g.del.sent[u.ID] = append(g.del.sent[u.ID], body.Message)
	g.del.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// ConsentDelegated adds the application appID to the directory (its
// service principal, when it has none) and grants it Graph's delegated
// scopes (space-separated) for every user, as an administrator's consent
// does; it returns the grant's id.
func (g *Graph) ConsentDelegated(appID, displayName, scope string) string {
	g.mu.Lock()
	if _, ok := g.dir.sps[appID]; !ok {
		g.dir.sps[appID] = servicePrincipal{ID: stableID("sp", appID), AppID: appID, DisplayName: displayName}
	}
	g.mu.Unlock()
	return g.GrantDelegated(appID, scope, true)
}

// NewFederatedIdentity registers a user-assigned managed identity new to
// this process (MSAL caches managed-identity tokens process-wide, so a
// fresh one keeps simulators apart), trusted by the proxy's app
// registration as its federated credential, and returns its client id:
// the proxy's configuration in federated mode.
func (e *Entra) NewFederatedIdentity() string {
	id, oid := newID(), newID()
	e.Register(&App{Tenant: CustomerTenant, ClientID: id, ObjectID: oid, Roles: map[string][]string{TokenExchangeAudience: nil}})
	app := e.App(CustomerTenant, ProxyAppID)
	app.Federated = append(app.Federated, Federation{Subject: oid})
	e.Register(app)
	return id
}
