package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestServeDelegated: serve with delegated access on, as configured in
// production (inbound.entra.allowDelegated, the app registration in
// federated mode): a signed-in user's call is served with the user's own
// Graph token, and its record names the user; the user's token reaches
// no log.
func TestServeDelegated(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id := sim.Entra.NewFederatedIdentity()

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, sim.CAPEM(), 0o600)
	addr := proxytest.FreeAddr(t)
	env := baseEnv(t, checkDelegatedPolicy,
		"GRAPH_PROXY_LISTEN="+addr, "GRAPH_PROXY_ADMIN_LISTEN=",
		"GRAPH_PROXY_GRAPH_BASEURL="+sim.Graph.URL, "GRAPH_PROXY_GRAPH_LOGINURL="+sim.Entra.URL, "GRAPH_PROXY_GRAPH_CAFILE="+ca,
		"GRAPH_PROXY_UPSTREAM_MODE=federated", "GRAPH_PROXY_UPSTREAM_TENANTID="+graphsim.CustomerTenant,
		"GRAPH_PROXY_UPSTREAM_CLIENTID="+graphsim.ProxyAppID, "GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID="+id,
		"GRAPH_PROXY_INBOUND_ENTRA_ALLOWDELEGATED=true", "GRAPH_PROXY_MEDIATION_INTERVAL=0s")
	srv := startServe(t, env, addr)
	base := srv.base

	ids, upns := sim.Graph.Users()
	tok, _, err := sim.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: ids[0], UPN: upns[0]})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1.0/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me.ID != ids[0] {
		t.Fatalf("GET /me: %d %q; want 200 and the user %s\n%s", resp.StatusCode, me.ID, ids[0], srv.stderr.String())
	}
	srv.shutdown(t)
	if want := `"actor":{"oid":"` + ids[0] + `","upn":"` + upns[0] + `"`; !strings.Contains(srv.stdout.String(), want) {
		t.Errorf("no record names the user (%s):\n%s", want, srv.stdout.String())
	}
	for _, secret := range []string{tok, tok[strings.LastIndexByte(tok, '.')+1:]} {
		if strings.Contains(srv.stderr.String(), secret) || strings.Contains(srv.stdout.String(), secret) {
			t.Error("the user's token reached the logs")
		}
	}
}
