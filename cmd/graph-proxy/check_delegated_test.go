package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

const checkDelegatedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    delegated: { scopes: [User.Read, Mail.Send] }
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: me, method: GET, path: "/me", delegatedScope: User.Read }
  - { id: me-send, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }
`

// TestCheckDelegated: with delegated access on, check reports the Graph
// delegated permissions the policy needs that the proxy's app
// registration does not hold consented, without any user's token.
func TestCheckDelegated(t *testing.T) {
	tests := []struct {
		name        string
		consent     string   // the app registration's consented scopes; "" none, and no service principal
		expose      []string // the scopes it exposes, when not the default access_as_user
		wantCode    int
		wantMissing string
		wantOut     string
	}{
		{name: "all consented", consent: "User.Read Mail.Send openid", wantCode: 0,
			wantOut: "ok   delegated: the app registration's consented Graph delegated permissions: [Mail.Send User.Read]"},
		{name: "one missing", consent: "User.Read", wantCode: 1, wantMissing: "Mail.Send", wantOut: "admin-consent"},
		{name: "not in the tenant", wantCode: 1, wantOut: "has no service principal in the tenant"},
		{name: "the user scope not exposed", consent: "User.Read Mail.Send openid", expose: []string{"user_impersonation"}, wantCode: 1,
			wantOut: "does not expose access_as_user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, env := checkSim(t, checkDelegatedPolicy)
			// The proxy's app registration, in federated mode, may read
			// the tenant's grants.
			id := sim.Entra.NewFederatedIdentity()
			sim.Entra.SetRoles(graphsim.CustomerTenant, graphsim.ProxyAppID, graphsim.GraphResource, []string{"Directory.Read.All", "Application.Read.All"})
			if tt.consent != "" {
				sim.Graph.ConsentDelegated(graphsim.ProxyAppID, "graph-proxy", tt.consent)
			}
			if tt.expose != nil {
				sim.Graph.ExposeScopes(graphsim.ProxyAppID, tt.expose...)
			}
			env = append(env, "GRAPH_PROXY_UPSTREAM_MODE=federated", "GRAPH_PROXY_UPSTREAM_TENANTID="+graphsim.CustomerTenant,
				"GRAPH_PROXY_UPSTREAM_CLIENTID="+graphsim.ProxyAppID, "GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID="+id,
				"GRAPH_PROXY_INBOUND_ENTRA_ALLOWDELEGATED=true")
			var out strings.Builder
			code := exitCode(run(t.Context(), []string{"check"}, env, &out, &out), &out)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("exit %d; want %d with %q:\n%s", code, tt.wantCode, tt.wantOut, out.String())
			}
			out.Reset()
			run(t.Context(), []string{"check", "--json"}, env, &out, &out)
			var rep checkReport
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
				t.Fatalf("%v:\n%s", err, out.String())
			}
			if got := strings.Join(rep.DelegatedMissing, ","); got != tt.wantMissing && tt.consent != "" {
				t.Errorf("delegatedMissing %q; want %q", got, tt.wantMissing)
			}
			if got := strings.Join(rep.DelegatedNeeded, ","); got != "Mail.Send,User.Read" {
				t.Errorf("delegatedNeeded %q", got)
			}
		})
	}
}
