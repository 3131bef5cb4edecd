package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/mediation"
	"github.com/graph-proxy/graph-proxy/policy"
)

// checkDelegated checks delegated access (inbound.entra.allowDelegated)
// without a user's token: the proxy's app registration, which exchanges
// users' tokens, is in the tenant and holds, consented for every user,
// the Graph delegated permissions the policy's rules name. It reads the
// tenant with the proxy's token, as the mediation check does (Directory.Read.All).
func checkDelegated(ctx context.Context, rep *checkReport, add func(string, time.Duration, error, string), graphURL *url.URL,
	client *http.Client, token string, cfg config.Config, pol *policy.Policy) {
	if !cfg.Inbound.Entra.AllowDelegated || pol == nil {
		return
	}
	rep.DelegatedNeeded = pol.DelegatedScopesNeeded()
	checkExposedScope(ctx, rep, add, graphURL, client, token, cfg)
	start := time.Now()
	app := cfg.Upstream.ClientID
	c := &mediation.Checker{Graph: graphURL, Client: client, Tokens: fixedToken(token)}
	res, err := c.Check(ctx, []policy.CallerApp{{Name: "graph-proxy", TenantID: cfg.Upstream.TenantID, AppID: app}})
	name := "delegated: the app registration's consented Graph delegated permissions"
	switch {
	case errors.Is(err, mediation.ErrCannotRead):
		rep.Warnings = append(rep.Warnings, "delegated permissions not checked: "+err.Error())
		return
	case err != nil:
		add(name, time.Since(start), err, "")
		return
	case res.Absent > 0:
		add(name, time.Since(start), fmt.Errorf("the app registration %s has no service principal in the tenant", app),
			"consent the proxy's app registration in the tenant (docs/installation.md, \"Delegated access\")")
		return
	}
	var consented []string
	for _, f := range res.Findings {
		if f.Kind == mediation.DelegatedGrant && f.Consent == "all users" {
			for s := range strings.FieldsSeq(f.Permission) {
				consented = append(consented, strings.ToLower(s))
			}
		}
	}
	for _, s := range rep.DelegatedNeeded {
		if !slices.Contains(consented, strings.ToLower(s)) {
			rep.DelegatedMissing = append(rep.DelegatedMissing, s)
		}
	}
	if len(rep.DelegatedMissing) > 0 {
		add(name, time.Since(start), fmt.Errorf("not consented for the tenant: %v", rep.DelegatedMissing),
			fmt.Sprintf("add them to app registration %s and grant admin consent: az ad app permission admin-consent --id %s (docs/installation.md, \"Delegated access\")", app, app))
		return
	}
	add(fmt.Sprintf("%s: %v", name, rep.DelegatedNeeded), time.Since(start), nil, "")
}

// optionalClaim is a claim an app registration adds to its tokens.
type optionalClaim struct {
	Name string `json:"name"`
}

// checkExposedScope checks that the proxy's app registration exposes the
// delegated scope vendors' apps ask users' tokens for
// (inbound.entra.userScope), enabled: without it no user token for the
// proxy can be issued. It warns when users' tokens would carry no upn
// claim (v2 tokens carry it only as an optional claim): the proxy then
// knows the user by object id alone.
func checkExposedScope(ctx context.Context, rep *checkReport, add func(string, time.Duration, error, string), graphURL *url.URL,
	client *http.Client, token string, cfg config.Config) {
	start := time.Now()
	app, scope := cfg.Upstream.ClientID, cfg.Inbound.Entra.UserScope
	name := fmt.Sprintf("delegated: the app registration exposes the scope %s", scope)
	u := graphURL.String() + "/v1.0/applications?$filter=" + url.QueryEscape("appId eq '"+app+"'") + "&$select=appId,api,optionalClaims"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		add(name, time.Since(start), err, "")
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		add(name, time.Since(start), err, "")
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		rep.Warnings = append(rep.Warnings, "the exposed scope not checked: the proxy's identity cannot read app registrations (Application.Read.All or Directory.Read.All)")
		return
	}
	var out struct {
		Value []struct {
			API struct {
				Scopes []struct {
					Value     string `json:"value"`
					IsEnabled bool   `json:"isEnabled"`
				} `json:"oauth2PermissionScopes"`
			} `json:"api"`
			OptionalClaims struct {
				AccessToken []optionalClaim `json:"accessToken"`
			} `json:"optionalClaims"`
		} `json:"value"`
	}
	if resp.StatusCode != http.StatusOK {
		add(name, time.Since(start), fmt.Errorf("Graph answered %d reading app registration %s", resp.StatusCode, app), "")
		return
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		add(name, time.Since(start), fmt.Errorf("reading app registration %s: %w", app, err), "")
		return
	}
	fix := fmt.Sprintf("expose the delegated scope %s on app registration %s (Expose an API; docs/installation.md, \"Delegated access\")", scope, app)
	if len(out.Value) == 0 {
		add(name, time.Since(start), fmt.Errorf("no app registration %s in the tenant", app), fix)
		return
	}
	if !slices.Contains(out.Value[0].OptionalClaims.AccessToken, optionalClaim{Name: "upn"}) {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("users' tokens carry no upn claim: a call naming its own user by UPN (/users/{upn}/...) is decided as another user's "+
			"(preferred_username is never taken for it); add upn as an optional access-token claim: "+
			`az ad app update --id %s --optional-claims '{"accessToken":[{"name":"upn"}]}'`, app))
	}
	for _, s := range out.Value[0].API.Scopes {
		if s.Value == scope && s.IsEnabled {
			add(name, time.Since(start), nil, "")
			return
		}
	}
	add(name, time.Since(start), fmt.Errorf("app registration %s does not expose %s, enabled", app, scope), fix)
}
