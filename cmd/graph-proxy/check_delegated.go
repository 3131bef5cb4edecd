package main

import (
	"context"
	"errors"
	"fmt"
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
