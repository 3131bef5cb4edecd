package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The role assignments the templates make, the key that signs the audit
// log's checkpoints, where the audit records go, and the names the
// templates derive. Each test names the defect it would catch.

// Built-in roles, by id (docs/installation.md, "What each permission is
// for", names their sources).
const (
	keyVaultCryptoUserRole         = "12338af0-0e69-4776-bea7-57ae8d297424"
	keyVaultSecretsOfficerRole     = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	monitoringMetricsPublisherRole = "3913510d-42f4-4e42-8a64-420c390055eb"
)

const roleAssignmentType = "Microsoft.Authorization/roleAssignments"

// bicepRoleID returns the built-in role a Bicep role assignment grants:
// subscriptionResourceId('Microsoft.Authorization/roleDefinitions', id).
func bicepRoleID(bt *bicepTemplates, f *bicepFile, r *bresource) string {
	role := r.body.get("properties").get("roleDefinitionId")
	if role == nil || role.kind != "call" || role.str != "subscriptionResourceId" || len(role.items) != 2 {
		return ""
	}
	lit, ok := bt.resolveLiteral(f, role.items[1])
	if !ok {
		return ""
	}
	return lit.str
}

// bicepAssignment returns f's role assignment of roleID, if it has one.
func bicepAssignment(t *testing.T, bt *bicepTemplates, f *bicepFile, roleID string) *bresource {
	t.Helper()
	var found *bresource
	for _, r := range f.resources {
		if r.typ != roleAssignmentType || bicepRoleID(bt, f, r) != roleID {
			continue
		}
		if found != nil {
			t.Errorf("%s: two assignments of role %s", f.name, roleID)
		}
		found = r
	}
	return found
}

// armAssignments returns the deployed role assignments of roleID.
func armAssignments(d *armDeployment, roleID string) []armResource {
	var out []armResource
	for _, r := range resourcesOf(d, roleAssignmentType) {
		if id, _ := r.body["properties"].(map[string]any)["roleDefinitionId"].(string); strings.HasSuffix(id, "/roleDefinitions/"+roleID) {
			out = append(out, r)
		}
	}
	return out
}

// bicepStrings evaluates a Bicep expression that names something —
// a literal, a parameter, a resource's id, a module's output — to the
// strings it can be in the paper deployment d of mainTemplate.json: a
// resource is one of those of its type that d deployed (the reader does
// not evaluate the names of Bicep resources), a parameter of main.bicep
// has the value d was given.
func (bt *bicepTemplates) bicepStrings(f *bicepFile, n *bnode, d *armDeployment) ([]string, error) {
	for depth := 0; depth < 20; depth++ {
		switch {
		case n.kind == "string":
			return []string{n.str}, nil
		case n.kind == "ident" && f.vars[n.str] != nil:
			n = f.vars[n.str]
			continue
		case n.kind == "ident" && f.param(n.str) != nil:
			if m := bt.moduleCall(f); m != nil {
				arg := m.body.get("params").get(n.str)
				if arg == nil {
					return nil, fmt.Errorf("main.bicep does not pass %s to %s", n.str, f.name)
				}
				f, n = bt.main, arg
				continue
			}
			s, ok := asString(d.params[n.str])
			if !ok {
				return nil, fmt.Errorf("parameter %s is %v", n.str, d.params[n.str])
			}
			return []string{s}, nil
		case n.kind == "ident":
			// A resource used as a scope stands for its id.
			for _, r := range f.resources {
				if r.sym == n.str {
					return bt.bicepStrings(f, &bnode{kind: "member", str: "id", target: n}, d)
				}
			}
		case n.kind == "member" && n.str == "id" && n.target.kind == "ident":
			for _, r := range f.resources {
				if r.sym == n.target.str {
					return deployedIDs(d, r.typ)
				}
			}
		case n.kind == "call" && n.str == "resourceId" && n.target == nil && len(n.items) > 1 && n.items[0].kind == "string":
			return deployedIDs(d, n.items[0].str)
		case n.kind == "member" && n.target.kind == "member" && n.target.str == "outputs" && n.target.target.kind == "ident":
			if mf, o := bt.moduleOutput(n.target.target.str, n.str); o != nil {
				f, n = mf, o.v
				continue
			}
		}
		return nil, fmt.Errorf("%s:%d: cannot tell what this names (%s %s)", f.name, n.line, n.kind, n.str)
	}
	return nil, errors.New("too deep")
}

// deployedIDs returns the ids of the resources of type typ that the paper
// deployment d created.
func deployedIDs(d *armDeployment, typ string) ([]string, error) {
	var ids []string
	for _, x := range resourcesOf(d, typ) {
		ids = append(ids, resourceID{typ: typ, names: strings.Split(x.name, "/"), env: d.env}.String())
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("mainTemplate.json deploys no %s", typ)
	}
	return ids, nil
}

// moduleOutput returns the output name of main.bicep's module sym, and the
// module's file.
func (bt *bicepTemplates) moduleOutput(sym, name string) (*bicepFile, *boutput) {
	for _, m := range bt.main.modules {
		if m.sym != sym {
			continue
		}
		mf := bt.files[filepath.Join("bicep", m.path)]
		for _, o := range mf.outputs {
			if o.name == name {
				return mf, o
			}
		}
	}
	return nil, nil
}

// roleAssignmentDiffs holds each role assignment of deploy/bicep to
// mainTemplate.json's assignment of the same role: the same name (GUID),
// once the names' guid() arguments are evaluated with what the paper
// deployment created, and the same scope.
func roleAssignmentDiffs(t *testing.T, bt *bicepTemplates, tm *armTemplate) []string {
	t.Helper()
	d, err := deployARM(tm, loadTypeData(t), armArgs(nil), defaultEnv)
	if err != nil {
		return []string{err.Error()}
	}
	var diffs []string
	paired := map[string]bool{}
	for _, name := range sortedKeys(bt.files) {
		f := bt.files[name]
		for _, r := range f.resources {
			if r.typ != roleAssignmentType || r.existing {
				continue
			}
			where := fmt.Sprintf("%s:%d", f.name, r.line)
			role := bicepRoleID(bt, f, r)
			arm := armAssignments(d, role)
			if len(arm) != 1 {
				diffs = append(diffs, fmt.Sprintf("%s: role %q: mainTemplate.json deploys %d assignments of it", where, role, len(arm)))
				continue
			}
			paired[arm[0].name] = true
			nameExpr := r.body.get("name")
			if nameExpr == nil || nameExpr.kind != "call" || nameExpr.str != "guid" {
				diffs = append(diffs, fmt.Sprintf("%s: the assignment is not named guid(scope, principal, role)", where))
				continue
			}
			// Every combination of what the arguments can be.
			combos := [][]string{{}}
			for _, it := range nameExpr.items {
				vs, err := bt.bicepStrings(f, it, d)
				if err != nil {
					diffs = append(diffs, fmt.Sprintf("%s: %v", where, err))
					combos = nil
					break
				}
				var next [][]string
				for _, c := range combos {
					for _, v := range vs {
						next = append(next, append(slices.Clone(c), v))
					}
				}
				combos = next
			}
			if combos == nil {
				continue
			}
			var got []any
			for _, c := range combos {
				var args []*aexpr
				for _, s := range c {
					args = append(args, &aexpr{kind: "str", s: s})
				}
				g, _ := d.eval(&aexpr{kind: "call", s: "guid", args: args})
				got = append(got, g)
			}
			if !slices.Contains(got, any(arm[0].name)) {
				diffs = append(diffs, fmt.Sprintf("%s: role %s: deploy/bicep names the assignment %v (guid of %v), mainTemplate.json %s: deploying one over the other fails with RoleAssignmentExists", where, role, got, combos, arm[0].name))
			}
			scopes, err := bt.bicepStrings(f, r.body.get("scope"), d)
			raw := rawResource(t, d, roleAssignmentType, arm[0].name)
			armScope, err2 := d.evalJSON(raw["scope"])
			if err != nil || err2 != nil || !slices.ContainsFunc(scopes, func(s string) bool { return strings.HasSuffix(s, "/providers/"+fmt.Sprint(armScope)) }) {
				diffs = append(diffs, fmt.Sprintf("%s: role %s: scope %v (%v) in deploy/bicep, %v (%v) in mainTemplate.json", where, role, scopes, err, armScope, err2))
			}
		}
	}
	for _, a := range resourcesOf(d, roleAssignmentType) {
		if !paired[a.name] {
			diffs = append(diffs, fmt.Sprintf("mainTemplate.json: role assignment %s (%v) has no counterpart in deploy/bicep", a.name, a.body["properties"].(map[string]any)["roleDefinitionId"]))
		}
	}
	return diffs
}

// TestRoleAssignmentNamesCatch: the comparison TestTemplateParity makes
// finds the defect it was written for — an assignment named from the
// identity's principal id in the Bicep and from its resource id in
// mainTemplate.json — and names that differ only in the order of guid()'s
// arguments.
func TestRoleAssignmentNamesCatch(t *testing.T) {
	bt := readBicep(t)
	tm := loadARM(t)
	kv := bt.files[filepath.Join("bicep", "modules", "keyvault.bicep")]
	a := bicepAssignment(t, bt, kv, keyVaultSecretsUserRole)
	where := fmt.Sprintf("%s:%d:", kv.name, a.line)
	about := func(diffs []string) bool {
		return slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, where) })
	}
	if diffs := roleAssignmentDiffs(t, bt, tm); about(diffs) {
		t.Fatalf("the templates differ already: %v", diffs)
	}
	name := a.body.get("name")
	orig := slices.Clone(name.items)
	for what, items := range map[string][]*bnode{
		"guid(vault.id, identityPrincipalId, role)": {orig[0], {kind: "ident", str: "identityPrincipalId"}, orig[2]},
		"guid(identityId, vault.id, role)":          {orig[1], orig[0], orig[2]},
	} {
		name.items = items
		if !about(roleAssignmentDiffs(t, bt, tm)) {
			t.Errorf("an assignment named %s in the Bicep went unnoticed", what)
		}
	}
	name.items = orig
}

// TestCheckpointKey: the key that signs the audit log's checkpoints is an
// EC P-256 key for signing and verifying only; the identity holds the one
// built-in role that signs, Key Vault Crypto User, on that key and not on
// the vault (where it would sign with any key a customer keeps there);
// the proxy is given the key's URI without a version
// (GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID), and starts only once the key and
// the role exist.
func TestCheckpointKey(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	if def := tm.Parameters["auditCheckpointKeyName"].DefaultValue; def != "audit-checkpoint" {
		t.Errorf("auditCheckpointKeyName defaults to %#v; want audit-checkpoint", def)
	}
	const envRef = "createObject('name', 'GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID', 'value', reference(variables('checkpointKeyId'), '2026-02-01').keyUri)"
	if !strings.Contains(tm.raw, envRef) {
		t.Errorf("mainTemplate.json: GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID is not %s", envRef)
	}
	for _, keyName := range []string{"", "gp-signing-2"} {
		over := map[string]any{}
		want := "audit-checkpoint"
		if keyName != "" {
			over["auditCheckpointKeyName"] = keyName
			want = keyName
		}
		t.Run(describe(over), func(t *testing.T) {
			d, err := deployARM(tm, td, armArgs(over), defaultEnv)
			if err != nil {
				t.Fatal(err)
			}
			vault := findResource(t, d, "Microsoft.KeyVault/vaults")
			keys := resourcesOf(d, "Microsoft.KeyVault/vaults/keys")
			if len(keys) != 1 {
				t.Fatalf("%d keys deployed; want the checkpoint key", len(keys))
			}
			key := keys[0]
			if key.name != vault.name+"/"+want {
				t.Errorf("the key is %s; want %s/%s", key.name, vault.name, want)
			}
			props := key.body["properties"].(map[string]any)
			var ops []string
			for _, o := range props["keyOps"].([]any) {
				ops = append(ops, o.(string))
			}
			if props["kty"] != "EC" || props["curveName"] != "P-256" || !slices.Equal(sorted(ops), []string{"sign", "verify"}) {
				t.Errorf("the key is %v %v for %v; want EC P-256 (ES256) for sign and verify only", props["kty"], props["curveName"], ops)
			}
			keyID := resourceID{typ: "Microsoft.KeyVault/vaults/keys", names: []string{vault.name, want}, env: d.env}.String()

			// Key Vault Crypto User, for the identity, on the key.
			identity := findResource(t, d, "Microsoft.ManagedIdentity/userAssignedIdentities")
			identityID := resourceID{typ: "Microsoft.ManagedIdentity/userAssignedIdentities", names: []string{identity.name}, env: d.env}.String()
			signers := armAssignments(d, keyVaultCryptoUserRole)
			if len(signers) != 1 {
				t.Fatalf("%d Key Vault Crypto User (%s) assignments; want 1, on the key", len(signers), keyVaultCryptoUserRole)
			}
			signer := signers[0]
			raw := rawResource(t, d, roleAssignmentType, signer.name)
			if scope, err := d.evalJSON(raw["scope"]); err != nil || scope != "Microsoft.KeyVault/vaults/"+vault.name+"/keys/"+want {
				t.Errorf("Key Vault Crypto User is scoped to %v (%v); want the key alone, Microsoft.KeyVault/vaults/%s/keys/%s", scope, err, vault.name, want)
			}
			sp := raw["properties"].(map[string]any)
			if sp["principalId"] != "[reference(variables('identityId'), '2024-11-30').principalId]" || sp["principalType"] != "ServicePrincipal" {
				t.Errorf("Key Vault Crypto User is granted to %v (%v); want the identity, a ServicePrincipal", sp["principalId"], sp["principalType"])
			}
			wantName, _ := d.eval(&aexpr{kind: "call", s: "guid", args: []*aexpr{{kind: "str", s: keyID}, {kind: "str", s: identityID}, {kind: "str", s: keyVaultCryptoUserRole}}})
			if signer.name != wantName {
				t.Errorf("the assignment is named %s; want guid(key id, identity id, role id) = %v", signer.name, wantName)
			}
			// The identity holds nothing else on the vault or the key.
			for _, a := range resourcesOf(d, roleAssignmentType) {
				ap := rawResource(t, d, roleAssignmentType, a.name)["properties"].(map[string]any)
				role, _ := a.body["properties"].(map[string]any)["roleDefinitionId"].(string)
				if ap["principalId"] != sp["principalId"] {
					continue
				}
				switch role[strings.LastIndex(role, "/")+1:] {
				case keyVaultSecretsUserRole, keyVaultCryptoUserRole, monitoringMetricsPublisherRole:
				default:
					t.Errorf("the identity is also granted role %s", role)
				}
			}

			// The proxy is given the key's URI without a version.
			if v, err := d.variable("checkpointKeyId"); err != nil || fmt.Sprint(v) != keyID {
				t.Errorf("GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID reads the key %v (%v); want %s", v, err, keyID)
			}
			env := defaultEnv
			keyURI := "https://" + vault.name + ".vault.azure.net/keys/" + want
			env.deployed = map[string]map[string]any{"microsoft.keyvault/vaults/keys": {"keyUri": keyURI}}
			dd, err := deployARM(tm, td, armArgs(over), env)
			if err != nil {
				t.Fatal(err)
			}
			if got := containerEnv(t, dd)["GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID"]; got != keyURI {
				t.Errorf("GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID is %v; want the key's keyUri, %s", got, keyURI)
			}
			if got := dd.outputs["auditCheckpointKeyUri"]; got != keyURI {
				t.Errorf("output auditCheckpointKeyUri is %v; want %s", got, keyURI)
			}

			// The first start finds the key and the role.
			app := findResource(t, d, "Microsoft.App/containerApps")
			deps := evalStrings(t, d, rawResource(t, d, "Microsoft.App/containerApps", app.name)["dependsOn"])
			for what, id := range map[string]string{
				"the checkpoint key":    keyID,
				"Key Vault Crypto User": keyID + "/providers/" + roleAssignmentType + "/" + signer.name,
			} {
				if !slices.Contains(deps, id) {
					t.Errorf("the container app does not depend on %s (%s)", what, id)
				}
			}
		})
	}

	// deploy/bicep: the same key, role, scope and variable.
	bt := readBicep(t)
	kv := bt.files[filepath.Join("bicep", "modules", "keyvault.bicep")]
	var vaultSym string
	var key *bresource
	for _, r := range kv.resources {
		switch r.typ {
		case "Microsoft.KeyVault/vaults":
			vaultSym = r.sym
		case "Microsoft.KeyVault/vaults/keys":
			key = r
		}
	}
	if key == nil {
		t.Fatal("keyvault.bicep: no Microsoft.KeyVault/vaults/keys")
	}
	if p := key.body.get("parent"); p == nil || p.str != vaultSym {
		t.Error("keyvault.bicep: the checkpoint key is not the vault's")
	}
	if n := key.body.get("name"); n == nil || n.str != "auditCheckpointKeyName" {
		t.Error("keyvault.bicep: the checkpoint key is not named auditCheckpointKeyName")
	}
	a := bicepAssignment(t, bt, kv, keyVaultCryptoUserRole)
	if a == nil {
		t.Fatal("keyvault.bicep: no Key Vault Crypto User assignment")
	}
	if s := a.body.get("scope"); s == nil || s.kind != "ident" || s.str != key.sym {
		t.Error("keyvault.bicep: Key Vault Crypto User is not scoped to the checkpoint key")
	}
	if p := a.body.get("properties").get("principalId"); p == nil || p.str != "identityPrincipalId" {
		t.Error("keyvault.bicep: Key Vault Crypto User is not the identity's")
	}
	var out *boutput
	for _, o := range kv.outputs {
		if o.name == "auditCheckpointKeyUri" {
			out = o
		}
	}
	if out == nil || out.v.kind != "member" || out.v.str != "keyUri" || out.v.target.str != "properties" || out.v.target.target.str != key.sym {
		t.Errorf("keyvault.bicep: output auditCheckpointKeyUri is not %s.properties.keyUri", key.sym)
	}
	main := read(t, "bicep/main.bicep")
	for _, w := range []string{
		"name: 'GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID'\n        value: vault.outputs.auditCheckpointKeyUri",
		"auditCheckpointKeyName: auditCheckpointKeyName",
		"output auditCheckpointKeyUri string = vault.outputs.auditCheckpointKeyUri",
	} {
		if !strings.Contains(main, w) {
			t.Errorf("main.bicep lacks %q", w)
		}
	}

	doc := read(t, "../docs/installation.md")
	for _, w := range []string{"Key Vault Crypto User", keyVaultCryptoUserRole, "keys/sign/action"} {
		if !strings.Contains(doc, w) {
			t.Errorf("docs/installation.md does not name %s", w)
		}
	}
}

// TestPolicyOperator: whoever changes the policy can be given Key Vault
// Secrets Officer by the deployment (without it, not even the
// subscription's Owner could store a version: the vault authorizes with
// RBAC only), on the policy secret alone — not on the vault, which in the
// keyVault modes also holds the app credential — and only when asked.
func TestPolicyOperator(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	d, err := deployARM(tm, td, armArgs(map[string]any{"policyOperatorPrincipalId": ""}), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := armAssignments(d, keyVaultSecretsOfficerRole); len(got) != 0 {
		t.Errorf("no policyOperatorPrincipalId: %d Key Vault Secrets Officer assignments; want none", len(got))
	}
	for _, typ := range tm.Parameters["policyOperatorPrincipalType"].AllowedValues {
		over := map[string]any{"policyOperatorPrincipalType": typ, "policySecretName": "gp-policy"}
		d, err := deployARM(tm, td, armArgs(over), defaultEnv)
		if err != nil {
			t.Fatal(err)
		}
		officers := armAssignments(d, keyVaultSecretsOfficerRole)
		if len(officers) != 1 {
			t.Fatalf("%s: %d Key Vault Secrets Officer assignments; want 1", describe(over), len(officers))
		}
		vault := findResource(t, d, "Microsoft.KeyVault/vaults")
		raw := rawResource(t, d, roleAssignmentType, officers[0].name)
		if scope, err := d.evalJSON(raw["scope"]); err != nil || scope != "Microsoft.KeyVault/vaults/"+vault.name+"/secrets/gp-policy" {
			t.Errorf("%s: Key Vault Secrets Officer is scoped to %v (%v); want the policy secret alone", describe(over), scope, err)
		}
		props := officers[0].body["properties"].(map[string]any)
		if props["principalId"] != testOperatorID || props["principalType"] != typ {
			t.Errorf("%s: granted to %v (%v); want %s (%v)", describe(over), props["principalId"], props["principalType"], testOperatorID, typ)
		}
		secretID := resourceID{typ: "Microsoft.KeyVault/vaults/secrets", names: []string{vault.name, "gp-policy"}, env: d.env}.String()
		if deps := evalStrings(t, d, raw["dependsOn"]); !slices.Contains(deps, secretID) {
			t.Errorf("%s: the assignment does not wait for the secret it is scoped to; dependsOn %v", describe(over), deps)
		}
	}

	bt := readBicep(t)
	kv := bt.files[filepath.Join("bicep", "modules", "keyvault.bicep")]
	a := bicepAssignment(t, bt, kv, keyVaultSecretsOfficerRole)
	if a == nil {
		t.Fatal("keyvault.bicep: no Key Vault Secrets Officer assignment")
	}
	if c := a.cond; c == nil || c.kind != "unary" || c.items[0].str != "empty" || c.items[0].items[0].str != "policyOperatorPrincipalId" {
		t.Error("keyvault.bicep: Key Vault Secrets Officer is not granted only if (!empty(policyOperatorPrincipalId))")
	}
	var secretSym string
	for _, r := range kv.resources {
		if r.typ == "Microsoft.KeyVault/vaults/secrets" {
			secretSym = r.sym
		}
	}
	if s := a.body.get("scope"); s == nil || s.kind != "ident" || s.str != secretSym {
		t.Error("keyvault.bicep: Key Vault Secrets Officer is not scoped to the policy secret")
	}
	props := a.body.get("properties")
	if p := props.get("principalId"); p == nil || p.str != "policyOperatorPrincipalId" {
		t.Error("keyvault.bicep: Key Vault Secrets Officer is not granted to policyOperatorPrincipalId")
	}
	if p := props.get("principalType"); p == nil || p.str != "policyOperatorPrincipalType" {
		t.Error("keyvault.bicep: its principalType is not policyOperatorPrincipalType")
	}
}

// TestAuditSinks: by default every audit record reaches Log Analytics
// once, typed, through the data collection rule (GraphProxyAudit_CL): the
// templates set GRAPH_PROXY_AUDIT_SINKS=stdout,azureMonitor, and Container
// Apps ships the console to ContainerAppConsoleLogs_CL, so each record was
// ingested (and billed) twice. auditToConsole adds the console copy back.
func TestAuditSinks(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	if p := tm.Parameters["auditToConsole"]; p.Type != "bool" || p.DefaultValue != false {
		t.Errorf("auditToConsole is %s defaulting to %#v; want a bool, false", p.Type, p.DefaultValue)
	}
	for _, c := range []struct {
		over map[string]any
		want string
	}{
		{over: map[string]any{}, want: "azureMonitor"},
		{over: map[string]any{"auditToConsole": false}, want: "azureMonitor"},
		{over: map[string]any{"auditToConsole": true}, want: "stdout,azureMonitor"},
	} {
		d, err := deployARM(tm, td, armArgs(c.over), defaultEnv)
		if err != nil {
			t.Fatal(err)
		}
		if got := containerEnv(t, d)["GRAPH_PROXY_AUDIT_SINKS"]; got != c.want {
			t.Errorf("%s: GRAPH_PROXY_AUDIT_SINKS is %v; want %s", describe(c.over), got, c.want)
		}
	}

	bt := readBicep(t)
	p := bt.main.param("auditToConsole")
	if p == nil || p.typ != "bool" || p.def == nil || p.def.str != "false" {
		t.Error("main.bicep: no parameter auditToConsole bool = false")
	}
	v := bt.main.vars["auditSinks"]
	if v == nil || v.kind != "ternary" || v.items[0].str != "auditToConsole" || v.items[1].str != "stdout,azureMonitor" || v.items[2].str != "azureMonitor" {
		t.Error("main.bicep: auditSinks is not auditToConsole ? 'stdout,azureMonitor' : 'azureMonitor'")
	}
	if !strings.Contains(read(t, "bicep/main.bicep"), "name: 'GRAPH_PROXY_AUDIT_SINKS'\n        value: auditSinks") {
		t.Error("main.bicep: GRAPH_PROXY_AUDIT_SINKS is not auditSinks")
	}
	guide := read(t, "../docs/operator-guide.md")
	for _, w := range []string{"auditToConsole", "ContainerAppConsoleLogs_CL", "GraphProxyAudit_CL", "audit.retryBudget", "503"} {
		if !strings.Contains(guide, w) {
			t.Errorf("docs/operator-guide.md does not say which path the records take and why (%q missing)", w)
		}
	}
}

// names is testdata/names.json: name parameter values the templates and
// the wizard must accept or refuse alike.
type names struct {
	NamePrefix, KeyVaultNameSuffix struct{ Valid, Invalid []string }
}

func loadNames(t *testing.T) names {
	t.Helper()
	var n names
	if err := json.Unmarshal([]byte(read(t, "testdata/names.json")), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// containerAppNameRe is Container Apps' naming rule (2 to 32 characters):
// lower-case letters, digits and hyphens, starting with a letter, ending
// with a letter or digit, no two hyphens in a row.
var containerAppNameRe = regexp.MustCompile(`^[a-z](?:-?[a-z0-9])*$`)

// TestResourceNames: the names the template derives from namePrefix and
// keyVaultNameSuffix are ones Azure accepts, for every value the template
// accepts; the others fail validation naming the parameter, before
// anything is created. namePrefix 1proxy made the vault name 1proxy-…,
// which Key Vault refuses, after the identity had been created.
func TestResourceNames(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	n := loadNames(t)
	// A suffix as the Marketplace wizard makes one: 8 hexadecimal digits.
	suffixes := append([]any{nil, "0f3a9c1e"}, func() []any {
		var out []any
		for _, s := range n.KeyVaultNameSuffix.Valid {
			out = append(out, s)
		}
		return out
	}()...)
	for _, prefix := range n.NamePrefix.Valid {
		for _, suffix := range suffixes {
			over := map[string]any{"namePrefix": prefix, "upstreamMode": "keyVaultSecret"}
			if suffix != nil {
				over["keyVaultNameSuffix"] = suffix
			}
			d, err := deployARM(tm, td, armArgs(over), defaultEnv)
			if err != nil {
				t.Errorf("%s: %v", describe(over), err)
				continue
			}
			vault := findResource(t, d, "Microsoft.KeyVault/vaults").name
			if len(vault) < 3 || len(vault) > 24 || !keyVaultNameRe.MatchString(vault) {
				t.Errorf("%s: vault name %q is not one Key Vault accepts", describe(over), vault)
			}
			if s, ok := suffix.(string); ok && !strings.HasSuffix(vault, "-"+s) {
				t.Errorf("%s: vault name %q does not end in the whole suffix", describe(over), vault)
			}
			app := findResource(t, d, "Microsoft.App/containerApps").name
			if len(app) < 2 || len(app) > 32 || !containerAppNameRe.MatchString(app) {
				t.Errorf("%s: container app name %q is not one Container Apps accepts", describe(over), app)
			}
		}
	}
	for _, c := range []struct {
		param string
		bad   []string
	}{
		{param: "namePrefix", bad: n.NamePrefix.Invalid},
		{param: "keyVaultNameSuffix", bad: n.KeyVaultNameSuffix.Invalid},
	} {
		for _, v := range c.bad {
			_, err := deployARM(tm, td, armArgs(map[string]any{c.param: v}), defaultEnv)
			var fail armFail
			if !errors.As(err, &fail) || !strings.HasPrefix(fail.msg, c.param+" "+v+":") {
				t.Errorf("%s %q: %v; want fail() naming %s", c.param, v, err, c.param)
			}
		}
	}

	// main.bicep: the same guards on the vault's name.
	main := read(t, "bicep/main.bicep")
	for _, w := range []string{
		"var vaultName = !namePrefixValid\n  ? fail('namePrefix ${namePrefix}: ",
		": !keyVaultNameSuffixValid\n      ? fail('keyVaultNameSuffix ${keyVaultNameSuffix}: ",
		"var namePrefixValid = contains('abcdefghijklmnopqrstuvwxyz', take(namePrefix, 1)) && !endsWith(namePrefix, '-') && !contains(namePrefix, '--') && empty(filter(range(0, length(namePrefix)), i => !contains('abcdefghijklmnopqrstuvwxyz0123456789-', substring(namePrefix, i, 1))))",
		"var keyVaultNameSuffixValid = empty(filter(range(0, length(keyVaultNameSuffix)), i => !contains('abcdefghijklmnopqrstuvwxyz0123456789', substring(toLower(keyVaultNameSuffix), i, 1))))",
	} {
		if !strings.Contains(main, w) {
			t.Errorf("main.bicep lacks %q", w)
		}
	}
}
