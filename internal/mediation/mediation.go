// Package mediation looks for the ways around the proxy that the
// customer's tenant itself grants: Graph access a caller's application
// holds of its own there — application permissions (app role assignments
// to Microsoft Graph) and delegated permission grants. Either lets the
// vendor call Graph directly, outside the policy and the audit log, so
// each is a finding, with the command that removes it.
//
// It reads the tenant with the proxy's own Graph token, which needs
// Directory.Read.All: the least privileged application permission that
// lists a service principal's delegated permission grants (it also covers
// the service principals and their app role assignments). Without it the
// check reports that it could not look, never that all is well.
package mediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// GraphAppID is Microsoft Graph's application id, in every tenant.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Kinds of finding.
const (
	ApplicationPermission = "applicationPermission"
	DelegatedGrant        = "delegatedGrant"
)

// Finding is Graph access a caller's application holds of its own.
type Finding struct {
	Caller string `json:"caller"`
	AppID  string `json:"appId"`
	Kind   string `json:"kind"`
	// Permission is the application permission's name, or the delegated
	// grant's scopes (space-separated).
	Permission string `json:"permission"`
	// Consent is, for a grant, who it is for: "all users" or "user <id>".
	Consent string `json:"consent,omitempty"`
	// ID is the app role assignment's or the grant's id.
	ID string `json:"id"`
	// Remove is the Microsoft Graph PowerShell command that removes it.
	Remove string `json:"remove"`
}

func (f Finding) String() string {
	switch f.Kind {
	case ApplicationPermission:
		return fmt.Sprintf("%s (app %s) holds Graph application permission %s", f.Caller, f.AppID, f.Permission)
	}
	return fmt.Sprintf("%s (app %s) holds a delegated grant of Graph %q for %s", f.Caller, f.AppID, f.Permission, f.Consent)
}

// Report is one check's result.
type Report struct {
	At time.Time `json:"at"`
	// ClientRequestID is the client-request-id the check's Graph requests
	// carried: the audit record of the check names it, so that Graph's
	// activity log shows them as the proxy's own (audit reconcile).
	ClientRequestID string `json:"clientRequestId"`
	// Apps counts the applications looked at; Absent those with no
	// service principal in the tenant (no access of any kind).
	Apps, Absent int
	Findings     []Finding `json:"findings"`
}

// ErrCannotRead means the proxy's identity may not read what the check
// needs: the result is unknown, not clean.
var ErrCannotRead = errors.New("the proxy's identity cannot read the tenant's service principals and grants: grant it Microsoft Graph's Directory.Read.All application permission (scripts/Grant-GraphPermissions.ps1 does)")

// Checker reads the tenant through Graph with the proxy's token.
type Checker struct {
	// Graph is Graph's endpoint, scheme and host.
	Graph *url.URL
	// Client carries the reads; its transport's bounds apply.
	Client *http.Client
	Tokens upstream.TokenSource
}

// Check looks at each application's service principal in the tenant.
func (c *Checker) Check(ctx context.Context, apps []policy.CallerApp) (Report, error) {
	rep := Report{At: time.Now().UTC(), ClientRequestID: uuid.NewString()}
	tok, err := c.Tokens.Token(ctx)
	if err != nil {
		return rep, err
	}
	r := reader{c: c, tok: tok, id: rep.ClientRequestID}
	graphSP, roles, err := r.graphPrincipal(ctx)
	if err != nil {
		return rep, err
	}
	for _, app := range apps {
		rep.Apps++
		sps, err := r.servicePrincipals(ctx, app.AppID)
		if err != nil {
			return rep, err
		}
		if len(sps) == 0 {
			rep.Absent++
			continue
		}
		for _, sp := range sps {
			found, err := r.findings(ctx, app, sp.ID, graphSP, roles)
			if err != nil {
				return rep, err
			}
			rep.Findings = append(rep.Findings, found...)
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool { return rep.Findings[i].Caller < rep.Findings[j].Caller })
	return rep, nil
}

type principal struct {
	ID       string `json:"id"`
	AppID    string `json:"appId"`
	AppRoles []struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	} `json:"appRoles"`
}

// graphPrincipal returns Graph's service principal id and its application
// permissions' names by id.
func (r reader) graphPrincipal(ctx context.Context) (string, map[string]string, error) {
	var page struct{ Value []principal }
	if err := r.get(ctx, "/v1.0/servicePrincipals", url.Values{"$filter": {"appId eq '" + GraphAppID + "'"}, "$select": {"id,appId,appRoles"}}, &page); err != nil {
		return "", nil, err
	}
	if len(page.Value) != 1 {
		return "", nil, fmt.Errorf("Microsoft Graph's service principal: %d found", len(page.Value))
	}
	roles := map[string]string{}
	for _, r := range page.Value[0].AppRoles {
		roles[strings.ToLower(r.ID)] = r.Value
	}
	return page.Value[0].ID, roles, nil
}

func (r reader) servicePrincipals(ctx context.Context, appID string) ([]principal, error) {
	var page struct{ Value []principal }
	err := r.get(ctx, "/v1.0/servicePrincipals", url.Values{"$filter": {"appId eq '" + appID + "'"}, "$select": {"id,appId"}}, &page)
	return page.Value, err
}

// findings lists the Graph access the service principal sp holds.
func (r reader) findings(ctx context.Context, app policy.CallerApp, sp, graphSP string, roles map[string]string) ([]Finding, error) {
	var out []Finding
	var assigned []struct {
		ID         string `json:"id"`
		AppRoleID  string `json:"appRoleId"`
		ResourceID string `json:"resourceId"`
	}
	if err := r.list(ctx, "/v1.0/servicePrincipals/"+url.PathEscape(sp)+"/appRoleAssignments", nil, &assigned); err != nil {
		return nil, err
	}
	for _, a := range assigned {
		if !strings.EqualFold(a.ResourceID, graphSP) {
			continue
		}
		name := roles[strings.ToLower(a.AppRoleID)]
		if name == "" {
			name = "app role " + a.AppRoleID
		}
		out = append(out, Finding{Caller: app.Name, AppID: app.AppID, Kind: ApplicationPermission, Permission: name, ID: a.ID,
			Remove: fmt.Sprintf("Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId %s -AppRoleAssignmentId %s", sp, a.ID)})
	}
	var grants []struct {
		ID          string `json:"id"`
		ResourceID  string `json:"resourceId"`
		ConsentType string `json:"consentType"`
		PrincipalID string `json:"principalId"`
		Scope       string `json:"scope"`
	}
	if err := r.list(ctx, "/v1.0/oauth2PermissionGrants", url.Values{"$filter": {"clientId eq '" + sp + "'"}}, &grants); err != nil {
		return nil, err
	}
	for _, g := range grants {
		if !strings.EqualFold(g.ResourceID, graphSP) || strings.TrimSpace(g.Scope) == "" {
			continue
		}
		consent := "all users"
		if g.ConsentType != "AllPrincipals" {
			consent = "user " + g.PrincipalID
		}
		out = append(out, Finding{Caller: app.Name, AppID: app.AppID, Kind: DelegatedGrant, Permission: strings.TrimSpace(g.Scope),
			Consent: consent, ID: g.ID, Remove: "Remove-MgOauth2PermissionGrant -OAuth2PermissionGrantId " + g.ID})
	}
	return out, nil
}

// maxPages bounds the pages one list is read in: a service principal has
// a handful of assignments and grants.
const maxPages = 20

// reader is one check's reads: the token, and the client-request-id every
// request carries.
type reader struct {
	c   *Checker
	tok upstream.Token
	id  string
}

// list reads every page of a collection into out (a pointer to a slice).
func (r reader) list(ctx context.Context, path string, q url.Values, out any) error {
	var all []json.RawMessage
	next := ""
	for range maxPages {
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		var err error
		if next == "" {
			err = r.get(ctx, path, q, &page)
		} else {
			err = r.getURL(ctx, next, &page)
		}
		if err != nil {
			return err
		}
		all = append(all, page.Value...)
		if next = page.NextLink; next == "" {
			b, _ := json.Marshal(all)
			return json.Unmarshal(b, out)
		}
	}
	return fmt.Errorf("%s: more than %d pages", path, maxPages)
}

func (r reader) get(ctx context.Context, path string, q url.Values, out any) error {
	u := *r.c.Graph
	u.Path, u.RawQuery = path, q.Encode()
	return r.getURL(ctx, u.String(), out)
}

func (r reader) getURL(ctx context.Context, rawURL string, out any) error {
	// A nextLink must stay on Graph: the token goes nowhere else.
	if u, err := url.Parse(rawURL); err != nil || u.Scheme != r.c.Graph.Scheme || u.Host != r.c.Graph.Host {
		return fmt.Errorf("a link off Graph: %q", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", r.tok.Authorization())
	req.Header.Set("client-request-id", r.id)
	req.Header.Set("User-Agent", "graph-proxy mediation check")
	resp, err := r.c.Client.Do(req)
	if err != nil {
		return outbound.Error(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return ErrCannotRead
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("Graph answered %d to GET %s", resp.StatusCode, req.URL.Path)
	}
	return json.Unmarshal(body, out)
}
