package mediation_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/mediation"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// staticTokens hands out one token minted by the simulator.
type staticTokens struct{ tok string }

func (s staticTokens) Token(context.Context) (upstream.Token, error) {
	return upstream.Token{Value: s.tok}, nil
}

func checker(t *testing.T, sim *graphsim.Sim, roles ...string) *mediation.Checker {
	t.Helper()
	tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.SystemIdentityClientID,
		Audience: graphsim.GraphResource, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(sim.Graph.URL)
	return &mediation.Checker{Graph: u, Client: sim.Client(), Tokens: staticTokens{tok}}
}

var vendor = []policy.CallerApp{{Name: "engage", TenantID: graphsim.VendorTenant, AppID: graphsim.VendorAppID}}

// TestCheck: a vendor app with no Graph access of its own is clean; an
// application permission or a delegated grant to Graph is a finding, with
// the command that removes it; an app with no service principal in the
// tenant has no access at all; without Directory.Read.All the check says
// it could not look.
func TestCheck(t *testing.T) {
	sim := proxytest.StartSim(t)
	c := checker(t, sim, "User.ReadBasic.All", "Directory.Read.All")
	ctx := context.Background()

	rep, err := c.Check(ctx, vendor)
	if err != nil || len(rep.Findings) != 0 || rep.Apps != 1 || rep.Absent != 0 {
		t.Fatalf("clean vendor: %+v, %v", rep, err)
	}
	if got := mediation.Summary(rep, err); got != "no caller's application holds Graph access of its own" {
		t.Errorf("summary %q", got)
	}

	role := sim.Graph.GrantAppRole(graphsim.VendorAppID, "Mail.Read")
	grant := sim.Graph.GrantDelegated(graphsim.VendorAppID, "Mail.Send Calendars.ReadWrite", true)
	rep, err = c.Check(ctx, vendor)
	if err != nil || len(rep.Findings) != 2 {
		t.Fatalf("vendor with its own access: %+v, %v", rep, err)
	}
	byKind := map[string]mediation.Finding{}
	for _, f := range rep.Findings {
		byKind[f.Kind] = f
	}
	if f := byKind[mediation.ApplicationPermission]; f.Permission != "Mail.Read" || f.ID != role ||
		!strings.HasPrefix(f.Remove, "Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId ") || !strings.HasSuffix(f.Remove, role) {
		t.Errorf("application permission finding %+v", f)
	}
	if f := byKind[mediation.DelegatedGrant]; f.Permission != "Mail.Send Calendars.ReadWrite" || f.Consent != "all users" ||
		f.Remove != "Remove-MgOauth2PermissionGrant -OAuth2PermissionGrantId "+grant {
		t.Errorf("delegated grant finding %+v", f)
	}
	if mediation.Result(rep, err) != "bypass" || !strings.Contains(mediation.Summary(rep, err), "engage (app "+graphsim.VendorAppID+") holds Graph application permission Mail.Read") {
		t.Errorf("result %s, summary %q", mediation.Result(rep, err), mediation.Summary(rep, err))
	}

	sim.Graph.RevokeAll()
	sim.Graph.GrantDelegated(graphsim.VendorAppID, "User.Read", false)
	rep, err = c.Check(ctx, vendor)
	if err != nil || len(rep.Findings) != 1 || !strings.HasPrefix(rep.Findings[0].Consent, "user ") {
		t.Errorf("a grant for one user: %+v, %v", rep, err)
	}

	absent := []policy.CallerApp{{Name: "other", AppID: "f0000000-0000-4000-8000-0000000000f9"}}
	if rep, err := c.Check(ctx, absent); err != nil || rep.Absent != 1 || len(rep.Findings) != 0 {
		t.Errorf("an app with no service principal here: %+v, %v", rep, err)
	}

	_, err = checker(t, sim, "User.ReadBasic.All").Check(ctx, vendor)
	if !errors.Is(err, mediation.ErrCannotRead) || mediation.Result(mediation.Report{}, err) != "unknown" {
		t.Errorf("without Directory.Read.All: %v; want ErrCannotRead", err)
	}
}
