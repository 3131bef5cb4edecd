package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

func checkEnv(t *testing.T, policyText string) []string {
	t.Helper()
	_, env := checkSim(t, policyText)
	return env
}

// checkSim is checkEnv with the simulator.
func checkSim(t *testing.T, policyText string) (*graphsim.Sim, []string) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, sim.CAPEM(), 0o600)
	return sim, baseEnv(t, policyText,
		"GRAPH_PROXY_GRAPH_BASEURL="+sim.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL="+sim.Entra.URL,
		"GRAPH_PROXY_GRAPH_CAFILE="+ca,
	)
}

func TestCheck(t *testing.T) {
	t.Run("all is well, with over-privilege warned", func(t *testing.T) {
		env := checkEnv(t, proxytest.DefaultPolicy)
		var out strings.Builder
		err := run(t.Context(), []string{"check", "--graph-read", "/v1.0/users?$top=1"}, env, &out, &out)
		if code := exitCode(err, &out); code != 0 {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		for _, want := range []string{"ok   identity endpoint: Graph token", "ok   Graph read /v1.0/users?$top=1",
			"WARN over-privileged: the identity holds [GroupMember.Read.All Files.ReadWrite.All]", "all is well"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("the audit checkpoint key", func(t *testing.T) {
		sim, env := checkSim(t, proxytest.DefaultPolicy)
		sim.Vault.CreateKey("audit-checkpoint")
		env = append(env, "GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID="+sim.Vault.URL+"/keys/audit-checkpoint",
			"GRAPH_PROXY_AUDIT_CHECKPOINT_DISABLECHALLENGERESOURCEVERIFICATION=true")
		var out strings.Builder
		if code := exitCode(run(t.Context(), []string{"check"}, env, &out, &out), &out); code != 0 || !strings.Contains(out.String(), "ok   Key Vault: sign with the audit checkpoint key") {
			t.Fatalf("exit %d:\n%s", code, out.String())
		}
		// The role taken away: check says so, and how to fix it.
		sim.Vault.SetSigner(sim.Entra.App(graphsim.CustomerTenant, graphsim.SystemIdentityClientID).ObjectID, false)
		out.Reset()
		code := exitCode(run(t.Context(), []string{"check"}, env, &out, &out), &out)
		if code != 1 || !strings.Contains(out.String(), "Key Vault Crypto User on the key") || !strings.Contains(out.String(), "403") {
			t.Fatalf("exit %d; want 1 naming the role:\n%s", code, out.String())
		}
	})
	t.Run("missing permission", func(t *testing.T) {
		pol := strings.Replace(proxytest.DefaultPolicy, "OnlineMeetings.ReadWrite.All]", "OnlineMeetings.ReadWrite.All, Presence.Read.All]", 1) +
			`  - { id: presence, method: GET, path: "/users/{user}/presence", permission: Presence.Read.All }` + "\n"
		env := checkEnv(t, pol)
		rep, out := checkJSON(t, env, 1)
		if rep.OK || strings.Join(rep.Missing, ",") != "Presence.Read.All" || strings.Join(rep.Excess, ",") != "GroupMember.Read.All,Files.ReadWrite.All" {
			t.Errorf("report %+v", rep)
		}
		if strings.Contains(out, "eyJ") {
			t.Error("a token was printed")
		}
	})
	t.Run("a policy naming Calendars.ReadBasic, from before", func(t *testing.T) {
		// Graph has Calendars.ReadBasic as a delegated permission only:
		// the policy's name is read as the app role the identity holds,
		// Calendars.ReadBasic.All, and check says so.
		env := checkEnv(t, strings.ReplaceAll(proxytest.DefaultPolicy, "Calendars.ReadBasic.All", "Calendars.ReadBasic"))
		rep, _ := checkJSON(t, env, 0)
		want := "the policy names Calendars.ReadBasic, which Microsoft Graph has as a delegated permission only; it is read as the application permission Calendars.ReadBasic.All, which the identity needs: write Calendars.ReadBasic.All in the policy (graph-proxy policy lint FILE shows where)"
		if !rep.OK || len(rep.Missing) != 0 || !slices.Contains(rep.Needed, "Calendars.ReadBasic.All") || !slices.Contains(rep.Warnings, want) {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("missing the permission of a reference read", func(t *testing.T) {
		// A reply's message is read by the proxy before the reply is
		// decided: without Mail.ReadBasic.All every reply is refused.
		pol := strings.Replace(proxytest.DefaultPolicy, "OnlineMeetings.ReadWrite.All]", "OnlineMeetings.ReadWrite.All, Mail.Send]", 1) +
			`  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/reply", permission: Mail.Send }` + "\n" +
			"mail:\n  recipientDomains: [contoso.example]\n"
		env := checkEnv(t, pol)
		rep, _ := checkJSON(t, env, 1)
		if rep.OK || strings.Join(rep.Missing, ",") != "Mail.ReadBasic.All,Mail.Send" {
			t.Errorf("report %+v", rep)
		}
	})
}

// checkJSON runs check --json with env, wants it to exit with code, and
// returns its report and all it wrote.
func checkJSON(t *testing.T, env []string, code int) (checkReport, string) {
	t.Helper()
	var out strings.Builder
	err := run(t.Context(), []string{"check", "--json"}, env, &out, &out)
	if got := exitCode(err, &out); got != code {
		t.Fatalf("exit %d; want %d:\n%s", got, code, out.String())
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out.String()[:strings.LastIndex(out.String(), "}")+1]), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	return rep, out.String()
}
