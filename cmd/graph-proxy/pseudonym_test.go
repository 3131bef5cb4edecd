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
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

const pseudonymPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All]
rules:
  - id: users-list
    method: GET
    path: "/users"
    query: [$top]
    permission: User.ReadBasic.All
    response:
      fields: [id, displayName, mail]
      pseudonymise: [mail]
`

// TestServePseudonymKey: serve reads the pseudonym key from Key Vault with
// the managed identity, as pseudonymKey.secretURI says, and answers are
// pseudonymised with it; a configured key that cannot be read stops the
// start, saying how to fix it. The key is in no log and no record.
func TestServePseudonymKey(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, sim.CAPEM(), 0o600)
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	addr := proxytest.FreeAddr(t)
	env := baseEnv(t, pseudonymPolicy,
		"GRAPH_PROXY_LISTEN="+addr,
		"GRAPH_PROXY_PUBLICBASEURL=http://"+addr,
		"GRAPH_PROXY_GRAPH_BASEURL="+sim.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL="+sim.Entra.URL,
		"GRAPH_PROXY_GRAPH_CAFILE="+ca,
		"GRAPH_PROXY_ADMIN_LISTEN=",
		"GRAPH_PROXY_PSEUDONYMKEY_SECRETURI="+sim.Vault.URL+"/secrets/graph-proxy-pseudonym-key",
		"GRAPH_PROXY_PSEUDONYMKEY_DISABLECHALLENGERESOURCEVERIFICATION=true",
	)

	t.Run("no such secret", func(t *testing.T) {
		out, code := runCmdEnv(t, env, "serve")
		if code != 1 || !strings.Contains(out, "Key Vault answered 404 SecretNotFound") || !strings.Contains(out, "fix: store a key of at least 32 bytes") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	key := "serve-test-key-" + strings.Repeat("0123456789", 4)
	sim.Vault.SetSecret("graph-proxy-pseudonym-key", key, "")
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header) // the first start scrubbed it
	srv := startServe(t, env, addr)
	base := srv.base
	tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1.0/users?$top=2", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Value []map[string]string `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	_, upns := sim.Graph.Users()
	if len(page.Value) != 2 || page.Value[0]["mail"] != response.Pseudonym([]byte(key), upns[0]) {
		t.Errorf("got %d %v; want mail pseudonymised under the vault's key", resp.StatusCode, page.Value)
	}
	srv.shutdown(t)
	if !strings.Contains(srv.stderr.String(), `"msg":"pseudonym key in force"`) {
		t.Errorf("the key's version is not logged:\n%s", srv.stderr.String())
	}
	if !strings.Contains(srv.stdout.String(), `"response":{"rule":"users-list","removed":12,"pseudonymised":2}`) {
		t.Errorf("no record of what the section did:\n%s", srv.stdout.String())
	}
	if strings.Contains(srv.stderr.String()+srv.stdout.String(), key) {
		t.Error("the pseudonym key reached the logs or the audit records")
	}
}

// TestPolicyLintResponse: lint says which response paths can never match,
// and the policy still loads; explain shows the section a call gets.
func TestPolicyLintResponse(t *testing.T) {
	out, code := runCmd(t, "policy", "lint", "../../policy/testdata/response.yaml")
	if code != 0 || !strings.Contains(out, `../../policy/testdata/response.yaml:13: rule "free-busy": warning: response.fields path "scheduleItems.staus" can never match: scheduleItem has no property "staus" (did you mean "status"?)`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, code = runCmd(t, "policy", "explain", "--policy", "../../examples/policy-engage.yaml", "--caller", "engage", "GET", "/v1.0/users/adele.vance0@contoso.example/calendar/events")
	for _, want := range []string{
		"  response      fields        id, iCalUId, type, seriesMasterId, start, end, showAs, isCancelled, isOnlineMeeting, onlineMeeting.joinUrl, attendees.type, attendees.status, attendees.emailAddress.address",
		"an error answer keeps Graph's error shape only",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain: exit %d, no %q in:\n%s", code, want, out)
		}
	}
}
