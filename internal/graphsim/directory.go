package graphsim

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// The simulated directory's service principals, their Graph app role
// assignments (application permissions) and delegated permission grants:
// what the proxy's mediation check reads to find a vendor app's own access
// to Graph in the customer's tenant.
//
//   - GET /servicePrincipals?$filter=appId eq '{appId}'
//   - GET /applications?$filter=appId eq '{appId}' (its exposed scopes)
//   - GET /servicePrincipals/{id}/appRoleAssignments
//   - GET /oauth2PermissionGrants?$filter=clientId eq '{id}'
//
// Reading them needs Application.Read.All (service principals and their
// assignments) and Directory.Read.All (grants), as in Graph.

// GraphSPID is the object id of Microsoft Graph's service principal in the
// simulated tenant.
const GraphSPID = "6b1c2f52-0000-4000-8000-00000000a0a0"

type servicePrincipal struct{ ID, AppID, DisplayName string }

type appRoleAssignment struct{ ID, AppRoleID, Principal string }

type permissionGrant struct{ ID, ClientID, ConsentType, PrincipalID, Scope string }

type directory struct {
	sps         map[string]servicePrincipal // by appId
	assignments map[string][]appRoleAssignment
	grants      []permissionGrant
	// exposed are the delegated scopes an app registration of the tenant
	// exposes (its api.oauth2PermissionScopes), by appId: the proxy's
	// access_as_user unless a test changes it.
	exposed map[string][]string
}

func newDirectory() directory {
	d := directory{sps: map[string]servicePrincipal{}, assignments: map[string][]appRoleAssignment{},
		exposed: map[string][]string{strings.ToLower(ProxyAppID): {"access_as_user"}}}
	d.sps[GraphAppID] = servicePrincipal{ID: GraphSPID, AppID: GraphAppID, DisplayName: "Microsoft Graph"}
	d.sps[VendorAppID] = servicePrincipal{ID: stableID("sp", VendorAppID), AppID: VendorAppID, DisplayName: "Engage (vendor)"}
	return d
}

// stableID derives a GUID from its parts, so that ids are the same in
// every run.
func stableID(parts ...string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("graphsim/"+strings.Join(parts, "/"))).String()
}

// appRoleID is the id of Graph's application permission named role.
func appRoleID(role string) string { return stableID("appRole", role) }

// GrantAppRole gives the application appID (its service principal in the
// customer's tenant) Graph's application permission role, as an admin
// consenting to it does, and returns the assignment's id.
func (g *Graph) GrantAppRole(appID, role string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	sp := g.dir.sps[appID]
	a := appRoleAssignment{ID: stableID("assignment", appID, role), AppRoleID: appRoleID(role), Principal: sp.ID}
	g.dir.assignments[sp.ID] = append(g.dir.assignments[sp.ID], a)
	return a.ID
}

// GrantDelegated gives the application appID Graph's delegated scopes
// (space-separated), for every user (allPrincipals) or for one, and
// returns the grant's id.
func (g *Graph) GrantDelegated(appID, scope string, allPrincipals bool) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	sp := g.dir.sps[appID]
	gr := permissionGrant{ID: stableID("grant", appID, scope), ClientID: sp.ID, ConsentType: "AllPrincipals", Scope: scope}
	if !allPrincipals {
		gr.ConsentType, gr.PrincipalID = "Principal", g.users[0].ID
	}
	g.dir.grants = append(g.dir.grants, gr)
	return gr.ID
}

// RevokeAll removes every app role assignment and delegated grant.
func (g *Graph) RevokeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dir.assignments, g.dir.grants = map[string][]appRoleAssignment{}, nil
}

var (
	readApps      = []string{"Application.Read.All", "Directory.Read.All"}
	readDirectory = []string{"Directory.Read.All"}
	filterEq      = regexp.MustCompile(`^(appId|clientId) eq '([0-9a-fA-F-]{36})'$`)
)

func (g *Graph) directoryRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /{version}/servicePrincipals", g.listServicePrincipals)
	m.HandleFunc("GET /{version}/servicePrincipals/{id}/appRoleAssignments", g.listAppRoleAssignments)
	m.HandleFunc("GET /{version}/oauth2PermissionGrants", g.listGrants)
	m.HandleFunc("GET /{version}/applications", g.listApplications)
}

// ExposeScopes sets the delegated scopes the app registration appID
// exposes (none: the registration exposes no API).
func (g *Graph) ExposeScopes(appID string, scopes ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dir.exposed[strings.ToLower(appID)] = scopes
}

// listApplications answers GET /applications?$filter=appId eq '…' with
// the registration's exposed API: its delegated scopes, enabled.
func (g *Graph) listApplications(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readApps...) {
		return
	}
	appID, ok := filter(w, r, "appId")
	if !ok {
		return
	}
	g.mu.Lock()
	scopes, found := g.dir.exposed[appID]
	g.mu.Unlock()
	value := []map[string]any{}
	if found {
		list := []map[string]any{}
		for _, s := range scopes {
			list = append(list, map[string]any{"id": stableID("scope", appID, s), "value": s, "type": "User", "isEnabled": true})
		}
		// The upn claim in its access tokens, as docs/installation.md
		// has the proxy's API set up (v2 tokens carry it only as an
		// optional claim).
		claims := map[string]any{"accessToken": []map[string]any{{"name": "upn", "essential": false, "additionalProperties": []string{}}}, "idToken": []any{}, "saml2Token": []any{}}
		value = append(value, map[string]any{"id": stableID("app", appID), "appId": appID, "api": map[string]any{"oauth2PermissionScopes": list},
			"optionalClaims": claims})
	}
	writeOData(w, http.StatusOK, map[string]any{"@odata.context": g.URL + "/v1.0/$metadata#applications", "value": value})
}

// filter reads the one $filter the directory answers, or answers 400.
func filter(w http.ResponseWriter, r *http.Request, field string) (string, bool) {
	m := filterEq.FindStringSubmatch(r.URL.Query().Get("$filter"))
	if m == nil || m[1] != field {
		graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
		return "", false
	}
	return strings.ToLower(m[2]), true
}

func (g *Graph) listServicePrincipals(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readApps...) {
		return
	}
	appID, ok := filter(w, r, "appId")
	if !ok {
		return
	}
	g.mu.Lock()
	sp, found := g.dir.sps[appID]
	g.mu.Unlock()
	value := []map[string]any{}
	if found {
		v := map[string]any{"id": sp.ID, "appId": sp.AppID, "displayName": sp.DisplayName}
		if sp.AppID == GraphAppID {
			roles := []map[string]any{}
			for _, role := range knownRoles {
				roles = append(roles, map[string]any{"id": appRoleID(role), "value": role, "allowedMemberTypes": []string{"Application"}})
			}
			v["appRoles"] = roles
		}
		value = append(value, v)
	}
	writeOData(w, http.StatusOK, map[string]any{"@odata.context": g.URL + "/v1.0/$metadata#servicePrincipals", "value": value})
}

func (g *Graph) listAppRoleAssignments(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readApps...) {
		return
	}
	id := r.PathValue("id")
	g.mu.Lock()
	as := slices.Clone(g.dir.assignments[id])
	g.mu.Unlock()
	value := []map[string]any{}
	for _, a := range as {
		value = append(value, map[string]any{"id": a.ID, "appRoleId": a.AppRoleID, "principalId": a.Principal,
			"principalType": "ServicePrincipal", "resourceId": GraphSPID, "resourceDisplayName": "Microsoft Graph"})
	}
	writeOData(w, http.StatusOK, map[string]any{"@odata.context": g.URL + "/v1.0/$metadata#appRoleAssignments", "value": value})
}

func (g *Graph) listGrants(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readDirectory...) {
		return
	}
	client, ok := filter(w, r, "clientId")
	if !ok {
		return
	}
	g.mu.Lock()
	gs := slices.Clone(g.dir.grants)
	g.mu.Unlock()
	value := []map[string]any{}
	for _, gr := range gs {
		if gr.ClientID == client {
			value = append(value, map[string]any{"id": gr.ID, "clientId": gr.ClientID, "consentType": gr.ConsentType,
				"principalId": nilIfEmpty(gr.PrincipalID), "resourceId": GraphSPID, "scope": gr.Scope})
		}
	}
	writeOData(w, http.StatusOK, map[string]any{"@odata.context": g.URL + "/v1.0/$metadata#oauth2PermissionGrants", "value": value})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// GraphAppRoles are Graph's application permissions as its service
// principal lists them (id and value), for the roles the simulator knows.
func GraphAppRoles() map[string]string {
	out := map[string]string{}
	for _, role := range knownRoles {
		out[appRoleID(role)] = role
	}
	return out
}

// knownRoles are the application permissions the simulator's Graph knows
// by name.
var knownRoles = []string{"User.ReadBasic.All", "User.Read.All", "Calendars.ReadBasic.All", "Calendars.Read", "Calendars.ReadWrite",
	"Mail.Read", "Mail.Send", "Mail.ReadWrite", "OnlineMeetings.ReadWrite.All", "GroupMember.Read.All", "Group.Read.All",
	"Directory.Read.All", "Application.Read.All", "Files.Read.All", "Files.ReadWrite.All", "Presence.Read.All"}
