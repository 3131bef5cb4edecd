package deploy

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

// The policy as the templates deliver it: a Key Vault secret the proxy
// polls (GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI), not a Container Apps
// secret mounted as a file, which a running revision never sees change.
// Each test here names the regression it would catch.

// keyVaultSecretsUserRole is the built-in role Key Vault Secrets User.
const keyVaultSecretsUserRole = "4633458b-17de-408a-b874-0445c86b69e6"

const testPolicy = "version: 1\nmode: report-only\n"

func resourcesOf(d *armDeployment, typ string) []armResource {
	var out []armResource
	for _, r := range d.resources {
		if strings.EqualFold(r.typ, typ) {
			out = append(out, r)
		}
	}
	return out
}

// rawResource returns mainTemplate.json's declaration of the resource of
// type typ whose evaluated name is name.
func rawResource(t *testing.T, d *armDeployment, typ, name string) map[string]any {
	t.Helper()
	for _, r := range d.tm.Resources {
		if !strings.EqualFold(r["type"].(string), typ) {
			continue
		}
		if n, err := d.evalJSON(r["name"]); err == nil && fmt.Sprint(n) == name {
			return r
		}
	}
	t.Fatalf("mainTemplate.json declares no %s named %s", typ, name)
	return nil
}

// evalStrings evaluates a template value that is a list of strings
// (dependsOn).
func evalStrings(t *testing.T, d *armDeployment, v any) []string {
	t.Helper()
	ev, err := d.evalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range ev.([]any) {
		s, ok := asString(it)
		if !ok {
			t.Fatalf("%v is not a string", it)
		}
		out = append(out, s)
	}
	return out
}

// TestPolicySecret deploys mainTemplate.json in every upstream mode, with
// and without a policy, and checks the policy's way in: the vault exists in
// every mode (it used to exist in the keyVault modes only); the secret is
// written only when policyYaml is given, since every value written is a new
// version that would replace one an operator applied with az; the identity
// holds Key Vault Secrets User on the vault; the container app depends on
// that role and on the secret, so that its first start does not meet a 403
// or a missing secret; the proxy is pointed at the secret and never at a
// file; and the outputs name the vault and the secret.
func TestPolicySecret(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	if def := tm.Parameters["policyYaml"].DefaultValue; def != "" {
		t.Errorf("policyYaml defaults to %#v; want empty, so that a redeployment leaves the policy in force", def)
	}
	if def := tm.Parameters["policySecretName"].DefaultValue; def != "graph-proxy-policy" {
		t.Errorf("policySecretName defaults to %#v; want graph-proxy-policy (docs/operator-guide.md's commands use it)", def)
	}
	if d := metaDescription(tm.Parameters["policyYaml"].Metadata); !strings.Contains(d, "on redeploy, leave policyYaml empty to keep the policy in force (or pass the policy in force)") {
		t.Errorf("policyYaml's description does not say to leave it empty on redeploy: %q", d)
	}
	for _, mode := range tm.Parameters["upstreamMode"].AllowedValues {
		for _, policy := range []string{testPolicy, ""} {
			for _, secretName := range []string{"", "gp-policy-2"} {
				over := map[string]any{"upstreamMode": mode, "policyYaml": policy}
				want := "graph-proxy-policy"
				if secretName != "" {
					over["policySecretName"] = secretName
					want = secretName
				}
				t.Run(describe(over), func(t *testing.T) {
					checkPolicySecret(t, tm, td, over, want)
				})
			}
		}
	}
}

func checkPolicySecret(t *testing.T, tm *armTemplate, td *typeData, over map[string]any, secretName string) {
	d, err := deployARM(tm, td, armArgs(over), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	vault := findResource(t, d, "Microsoft.KeyVault/vaults")
	vaultID := resourceID{typ: "Microsoft.KeyVault/vaults", names: []string{vault.name}, env: d.env}.String()
	secretID := resourceID{typ: "Microsoft.KeyVault/vaults/secrets", names: []string{vault.name, secretName}, env: d.env}.String()

	// The secret: only with a policy, holding it.
	secrets := resourcesOf(d, "Microsoft.KeyVault/vaults/secrets")
	switch policy := over["policyYaml"].(string); {
	case policy == "" && len(secrets) != 0:
		t.Errorf("an empty policyYaml writes the secret %s: a redeployment would replace the policy in force", secrets[0].name)
	case policy != "" && len(secrets) != 1:
		t.Errorf("policyYaml given: %d policy secrets written; want 1", len(secrets))
	case policy != "":
		s := secrets[0]
		if s.name != vault.name+"/"+secretName {
			t.Errorf("the policy secret is %s; want %s/%s", s.name, vault.name, secretName)
		}
		if v := s.body["properties"].(map[string]any)["value"]; v != policy {
			t.Errorf("the policy secret holds %#v; want policyYaml", v)
		}
	}

	// Key Vault Secrets User for the identity, on the vault.
	identity := findResource(t, d, "Microsoft.ManagedIdentity/userAssignedIdentities")
	var assignment *armResource
	for _, r := range resourcesOf(d, "Microsoft.Authorization/roleAssignments") {
		if id, _ := r.body["properties"].(map[string]any)["roleDefinitionId"].(string); strings.HasSuffix(id, "/roleDefinitions/"+keyVaultSecretsUserRole) {
			if assignment != nil {
				t.Error("two Key Vault Secrets User assignments")
			}
			assignment = &r
		}
	}
	if assignment == nil {
		t.Fatal("no Key Vault Secrets User (" + keyVaultSecretsUserRole + ") assignment: the proxy cannot read the policy")
	}
	props := assignment.body["properties"].(map[string]any)
	if props["principalType"] != "ServicePrincipal" {
		t.Errorf("principalType %v; want ServicePrincipal (a just-created identity may not be found in the directory yet)", props["principalType"])
	}
	raw := rawResource(t, d, "Microsoft.Authorization/roleAssignments", assignment.name)
	if p := raw["properties"].(map[string]any)["principalId"]; p != "[reference(variables('identityId'), '2024-11-30').principalId]" {
		t.Errorf("principalId %v; want the identity's principal id", p)
	}
	if scope, err := d.evalJSON(raw["scope"]); err != nil || scope != "Microsoft.KeyVault/vaults/"+vault.name {
		t.Errorf("the assignment's scope is %v (%v); want the vault %s", scope, err, vault.name)
	}
	wantName, err := d.eval(&aexpr{kind: "call", s: "guid", args: []*aexpr{
		{kind: "call", s: "resourceId", args: []*aexpr{{kind: "str", s: "Microsoft.KeyVault/vaults"}, {kind: "str", s: vault.name}}},
		{kind: "call", s: "resourceId", args: []*aexpr{{kind: "str", s: "Microsoft.ManagedIdentity/userAssignedIdentities"}, {kind: "str", s: identity.name}}},
		{kind: "str", s: keyVaultSecretsUserRole},
	}})
	if err != nil || assignment.name != wantName {
		t.Errorf("the assignment is named %s; want guid(vault id, identity id, role id) = %v (%v)", assignment.name, wantName, err)
	}

	// The container app waits for the role and the secret.
	app := findResource(t, d, "Microsoft.App/containerApps")
	deps := evalStrings(t, d, rawResource(t, d, "Microsoft.App/containerApps", app.name)["dependsOn"])
	for what, id := range map[string]string{
		"the vault":                   vaultID,
		"the policy secret":           secretID,
		"Key Vault Secrets User role": vaultID + "/providers/Microsoft.Authorization/roleAssignments/" + assignment.name,
	} {
		if !slices.Contains(deps, id) {
			t.Errorf("the container app does not depend on %s (%s): its first start could find it missing; dependsOn %v", what, id, deps)
		}
	}

	// The proxy reads the secret, never a file.
	env := containerEnv(t, d)
	if _, ok := env["GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI"]; !ok {
		t.Error("GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI is not set")
	}
	if f, ok := env["GRAPH_PROXY_POLICY_FILE"]; ok {
		t.Errorf("GRAPH_PROXY_POLICY_FILE is set (%v): graph-proxy refuses it beside the secret", f)
	}
	if _, ok := env["GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL"]; ok {
		t.Error("GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL is set without policyPollInterval")
	}
	for _, s := range app.body["properties"].(map[string]any)["configuration"].(map[string]any)["secrets"].([]any) {
		if n := s.(map[string]any)["name"]; n != "client-ca" {
			t.Errorf("the container app has the Container Apps secret %v; the policy is in Key Vault and client-ca is the only other", n)
		}
	}

	if got := d.outputs["keyVaultName"]; got != vault.name {
		t.Errorf("output keyVaultName is %#v; want %s in every mode", got, vault.name)
	}
}

// TestPolicySecretURI: the proxy's secret URI is the vault's URI (which
// ends in /) then secrets/<name>, without a version, in both templates,
// and the output gives the same; policyPollInterval sets the interval only
// when given.
func TestPolicySecretURI(t *testing.T) {
	const want = "format('{0}secrets/{1}', reference(variables('vaultId'), '2026-02-01').vaultUri, parameters('policySecretName'))"
	tm := loadARM(t)
	if !strings.Contains(tm.raw, "createObject('name', 'GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI', 'value', "+want+")") {
		t.Errorf("mainTemplate.json: GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI is not %s", want)
	}
	if v, _ := tm.Outputs["policySecretUri"]["value"].(string); v != "["+want+"]" {
		t.Errorf("mainTemplate.json: output policySecretUri is %s; want [%s]", v, want)
	}
	if !strings.Contains(tm.raw, "if(empty(parameters('policyPollInterval')), createArray(), createArray(createObject('name', 'GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL', 'value', parameters('policyPollInterval'))))") {
		t.Error("mainTemplate.json: GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL is not policyPollInterval, set only when given")
	}
	td := loadTypeData(t)
	d, err := deployARM(tm, td, armArgs(map[string]any{"policyPollInterval": "2m"}), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := containerEnv(t, d)["GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL"]; got != "2m" {
		t.Errorf("policyPollInterval 2m: GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL is %v", got)
	}

	kv := read(t, "bicep/modules/keyvault.bicep")
	if !strings.Contains(kv, "output policySecretUri string = '${vault.properties.vaultUri}secrets/${policySecretName}'") {
		t.Error("keyvault.bicep: output policySecretUri is not '${vault.properties.vaultUri}secrets/${policySecretName}'")
	}
	main := read(t, "bicep/main.bicep")
	for _, w := range []string{
		"name: 'GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI'\n    value: vault.outputs.policySecretUri",
		"empty(policyPollInterval) ? [] : [\n  {\n    name: 'GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL'\n    value: policyPollInterval",
		"output policySecretUri string = vault.outputs.policySecretUri",
		"output keyVaultName string = vault.outputs.name",
	} {
		if !strings.Contains(main, w) {
			t.Errorf("main.bicep lacks %q", w)
		}
	}
}

// TestPolicySecretBicep holds deploy/bicep to the same: the vault module is
// deployed in every mode, the secret only with a policy, the role on the
// vault for the identity, and the container app reads the vault module's
// outputs (so ARM deploys it after the role and the secret); no file, no
// Container Apps secret for the policy.
func TestPolicySecretBicep(t *testing.T) {
	bt := readBicep(t)
	kvName := filepath.Join("bicep", "modules", "keyvault.bicep")
	kv := bt.files[kvName]
	var vaultSym string
	var secret *bresource
	for _, r := range kv.resources {
		switch r.typ {
		case "Microsoft.KeyVault/vaults":
			vaultSym = r.sym
		case "Microsoft.KeyVault/vaults/secrets":
			secret = r
		}
	}
	assignment := bicepAssignment(t, bt, kv, keyVaultSecretsUserRole)
	if vaultSym == "" || secret == nil || assignment == nil {
		t.Fatalf("keyvault.bicep: want a vault, a secret and a Key Vault Secrets User assignment")
	}
	m := bt.moduleCall(kv)
	if m == nil {
		t.Fatal("main.bicep does not call keyvault.bicep")
	}
	if m.cond != nil {
		t.Error("main.bicep deploys the vault under a condition: the policy lives in it in every mode")
	}
	for _, p := range []string{"policyYaml", "policySecretName"} {
		if a := m.body.get("params").get(p); a == nil || a.kind != "ident" || a.str != p {
			t.Errorf("main.bicep does not pass %s to keyvault.bicep", p)
		}
	}

	// The secret: written only when policyYaml is not empty.
	c := secret.cond
	if c == nil || c.kind != "unary" || c.str != "!" || c.items[0].kind != "call" || c.items[0].str != "empty" || c.items[0].items[0].str != "policyYaml" {
		t.Error("keyvault.bicep: the policy secret is not written only if (!empty(policyYaml))")
	}
	if p := secret.body.get("parent"); p == nil || p.str != vaultSym {
		t.Error("keyvault.bicep: the policy secret is not the vault's")
	}
	if n := secret.body.get("name"); n == nil || n.str != "policySecretName" {
		t.Error("keyvault.bicep: the policy secret is not named policySecretName")
	}
	if v := secret.body.get("properties").get("value"); v == nil || v.str != "policyYaml" {
		t.Error("keyvault.bicep: the policy secret does not hold policyYaml")
	}

	// Key Vault Secrets User on the vault for the identity.
	if s := assignment.body.get("scope"); s == nil || s.kind != "ident" || s.str != vaultSym {
		t.Error("keyvault.bicep: the role assignment is not scoped to the vault")
	}
	props := assignment.body.get("properties")
	if p := props.get("principalType"); p == nil || p.str != "ServicePrincipal" {
		t.Error("keyvault.bicep: principalType is not ServicePrincipal")
	}
	if p := props.get("principalId"); p == nil || p.str != "identityPrincipalId" {
		t.Error("keyvault.bicep: the role is not the identity's")
	}
	if a := m.body.get("params").get("identityPrincipalId"); a == nil || a.kind != "member" || a.str != "principalId" {
		t.Error("main.bicep does not pass the identity's principal id to keyvault.bicep")
	}
	if a := m.body.get("params").get("identityId"); a == nil || a.kind != "member" || a.str != "id" {
		t.Error("main.bicep does not pass the identity's resource id to keyvault.bicep")
	}
	role := props.get("roleDefinitionId")
	if role == nil || role.kind != "call" || role.str != "subscriptionResourceId" || len(role.items) != 2 {
		t.Fatal("keyvault.bicep: roleDefinitionId is not subscriptionResourceId('Microsoft.Authorization/roleDefinitions', …)")
	}
	if lit, ok := bt.resolveLiteral(kv, role.items[1]); !ok || lit.str != keyVaultSecretsUserRole {
		t.Errorf("keyvault.bicep: the role is not Key Vault Secrets User (%s)", keyVaultSecretsUserRole)
	}
	name := assignment.body.get("name")
	if name == nil || name.kind != "call" || name.str != "guid" || len(name.items) != 3 ||
		name.items[0].kind != "member" || name.items[0].str != "id" || name.items[0].target.str != vaultSym ||
		name.items[1].str != "identityId" || name.items[2].str != role.items[1].str {
		t.Error("keyvault.bicep: the assignment is not named guid(vault.id, identityId, role id), as mainTemplate.json names it")
	}

	// The container app reads the vault module's outputs: ARM deploys it
	// after the whole module, role and secret included.
	var app *bmodule
	for _, mm := range bt.main.modules {
		if mm.path == "modules/containerapp.bicep" {
			app = mm
		}
	}
	if app == nil {
		t.Fatal("main.bicep does not call containerapp.bicep")
	}
	if !readsOutput(bt.main, app.body, m.sym, "policySecretUri", map[string]bool{}) {
		t.Errorf("the container app module does not read %s.outputs.policySecretUri: it would not wait for the role and the secret", m.sym)
	}

	for name, text := range bicepFiles(t) {
		if strings.Contains(text, "GRAPH_PROXY_POLICY_FILE") {
			t.Errorf("%s sets GRAPH_PROXY_POLICY_FILE: graph-proxy refuses it beside the secret", name)
		}
	}
	appFile := bt.files[filepath.Join("bicep", "modules", "containerapp.bicep")]
	walk(appFile.vars["secrets"], func(n *bnode) {
		if v := n.get("name"); v != nil && v.kind == "string" && v.str != "client-ca" {
			t.Errorf("containerapp.bicep: Container Apps secret %q; the policy is in Key Vault and client-ca is the only other", v.str)
		}
	})
}

// readsOutput reports whether n, with the variables of f followed, reads
// module.outputs.output.
func readsOutput(f *bicepFile, n *bnode, module, output string, seen map[string]bool) bool {
	found := false
	walk(n, func(x *bnode) {
		switch {
		case x.kind == "member" && x.str == output && x.target != nil && x.target.kind == "member" && x.target.str == "outputs" &&
			x.target.target != nil && x.target.target.kind == "ident" && x.target.target.str == module:
			found = true
		case x.kind == "ident" && f.vars[x.str] != nil && !seen[x.str]:
			seen[x.str] = true
			found = found || readsOutput(f, f.vars[x.str], module, output, seen)
		}
	})
	return found
}

// TestTemplateEnvLoads: the environment mainTemplate.json gives the
// container, once the resources it reads exist, is a configuration
// graph-proxy accepts, in every upstream mode — the policy from the secret
// URI alone. The same environment with GRAPH_PROXY_POLICY_FILE added is
// refused, which is what a template setting both would have done at every
// start.
func TestTemplateEnvLoads(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	for _, mode := range tm.Parameters["upstreamMode"].AllowedValues {
		over := map[string]any{"upstreamMode": mode, "policyPollInterval": "45s"}
		d, err := deployARM(tm, td, armArgs(over), defaultEnv)
		if err != nil {
			t.Fatal(err)
		}
		vault := findResource(t, d, "Microsoft.KeyVault/vaults")
		env := defaultEnv
		env.deployed = map[string]map[string]any{
			"microsoft.keyvault/vaults":                        {"vaultUri": "https://" + vault.name + ".vault.azure.net/"},
			"microsoft.keyvault/vaults/keys":                   {"keyUri": "https://" + vault.name + ".vault.azure.net/keys/audit-checkpoint"},
			"microsoft.app/managedenvironments":                {"defaultDomain": "kindhill-0a1b2c3d.westeurope.azurecontainerapps.io"},
			"microsoft.insights/datacollectionendpoints":       {"logsIngestion": map[string]any{"endpoint": "https://graph-proxy-dce-x1y2.westeurope-1.ingest.monitor.azure.com"}},
			"microsoft.insights/datacollectionrules":           {"immutableId": "dcr-00000000000000000000000000000001"},
			"microsoft.managedidentity/userassignedidentities": {"clientId": "c0000000-0000-4000-8000-00000000000c", "principalId": "d0000000-0000-4000-8000-00000000000d"},
		}
		if d, err = deployARM(tm, td, armArgs(over), env); err != nil {
			t.Fatal(err)
		}
		var vars []string
		for name, v := range containerEnv(t, d) {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("upstreamMode %v: %s is %v once deployed", mode, name, v)
			}
			vars = append(vars, name+"="+s)
		}
		cfg, err := config.Load(config.Sources{Env: vars})
		if err != nil {
			t.Errorf("upstreamMode %v: graph-proxy refuses the template's environment: %v", mode, err)
			continue
		}
		vaultURL, name := cfg.Policy.KeyVault.Secret()
		if want := "https://" + vault.name + ".vault.azure.net/"; strings.TrimSuffix(vaultURL, "/")+"/" != want || name != "graph-proxy-policy" {
			t.Errorf("upstreamMode %v: the policy is read from vault %s, secret %s; want %s, graph-proxy-policy", mode, vaultURL, name, want)
		}
		if cfg.Policy.File != "" || cfg.Policy.KeyVault.PollInterval.String() != "45s" {
			t.Errorf("upstreamMode %v: policy.file %q, pollInterval %v", mode, cfg.Policy.File, cfg.Policy.KeyVault.PollInterval)
		}

		_, err = config.Load(config.Sources{Env: append(vars, "GRAPH_PROXY_POLICY_FILE=/etc/graph-proxy/policy/policy")})
		var cerr *config.Error
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "policy.keyVault.secretURI") {
			t.Errorf("the template's environment with GRAPH_PROXY_POLICY_FILE added: %v; want refused", err)
		}
	}
}
