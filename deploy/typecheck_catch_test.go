package deploy

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The checks of templates_test.go are only worth their silence if they
// speak up: each case here starts from the real templates, changes one
// thing (most of them defects the deployment paths were found to have), and wants the check to
// say so in the words given.

// deleted, as a mutation's value, removes the property.
var deleted = &struct{}{}

// mutate sets (or deletes) the value at a path such as
// "properties.template.containers.0.probes.2.failureThreshold".
func mutate(t *testing.T, root map[string]any, path string, v any) {
	t.Helper()
	steps := strings.Split(path, ".")
	var cur any = root
	for i, s := range steps {
		last := i == len(steps)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if v == deleted {
					delete(c, s)
				} else {
					c[s] = v
				}
				return
			}
			cur = c[s]
		case []any:
			n, err := strconv.Atoi(s)
			if err != nil || n >= len(c) {
				t.Fatalf("%s: no item %s", path, s)
			}
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		default:
			t.Fatalf("%s: cannot step into %T at %s", path, cur, s)
		}
	}
}

// deepCopy copies a decoded JSON value.
func deepCopy(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return normalise(out)
}

func TestTypeChecksCatchDefects(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	d, err := deployARM(tm, td, armArgs(map[string]any{"upstreamMode": "keyVaultSecret"}), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	startup := func() string {
		app := findResource(t, d, "Microsoft.App/containerApps")
		probes := app.body["properties"].(map[string]any)["template"].(map[string]any)["containers"].([]any)[0].(map[string]any)["probes"].([]any)
		for i, p := range probes {
			if p.(map[string]any)["type"] == "Startup" {
				return "properties.template.containers.0.probes." + strconv.Itoa(i)
			}
		}
		t.Fatal("no Startup probe")
		return ""
	}()
	cases := []struct {
		name, typ, path string
		value           any
		want            string
	}{
		{name: "startup probe failureThreshold 30", typ: "Microsoft.App/containerApps", path: startup + ".failureThreshold", value: int64(30), want: "30 is outside [1, 10]"},
		{name: "probe period beyond 240 s", typ: "Microsoft.App/containerApps", path: startup + ".periodSeconds", value: int64(300), want: "300 is outside [1, 240]"},
		{name: "a read-only property set", typ: "Microsoft.App/containerApps", path: "properties.provisioningState", value: "Succeeded", want: "read-only"},
		{name: "the deprecated environment id", typ: "Microsoft.App/containerApps", path: "properties.managedEnvironmentId", value: "/x", want: "deprecated"},
		{name: "a property the type has not", typ: "Microsoft.App/containerApps", path: "properties.configuration.ingress.clientCertMode", value: "require", want: "has no property clientCertMode"},
		{name: "a string where an integer goes", typ: "Microsoft.App/containerApps", path: "properties.configuration.ingress.targetPort", value: "8080", want: "a string where an integer is expected"},
		{name: "a required property missing", typ: "Microsoft.KeyVault/vaults", path: "properties.tenantId", value: deleted, want: "lacks tenantId"},
		{name: "a required property null", typ: "Microsoft.KeyVault/vaults", path: "properties.tenantId", value: nil, want: "null, and VaultProperties requires it"},
		{name: "a closed enumeration's value misspelt", typ: "Microsoft.KeyVault/vaults", path: "properties.sku.name", value: "Standard", want: `"Standard" is not one of standard, premium`},
		{name: "a bound stated only in a description", typ: "Microsoft.KeyVault/vaults", path: "properties.softDeleteRetentionInDays", value: int64(91), want: "91 is outside [7, 90]"},
		{name: "a bound of the type data", typ: "Microsoft.OperationalInsights/workspaces/tables", path: "properties.retentionInDays", value: int64(2), want: "2 is outside [4, 730]"},
		{name: "a name the type's pattern refuses", typ: "Microsoft.OperationalInsights/workspaces", path: "name", value: "-logs", want: "does not match"},
		{name: "the policy secret's read-only URI set", typ: "Microsoft.KeyVault/vaults/secrets", path: "properties.secretUri", value: "https://x/secrets/p", want: "read-only"},
		{name: "the policy secret's value misnamed", typ: "Microsoft.KeyVault/vaults/secrets", path: "properties.content", value: "version: 1", want: "has no property content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := findResource(t, d, c.typ)
			body := deepCopy(t, r.body).(map[string]any)
			body["name"] = leafName(r.name)
			mutate(t, body, c.path, c.value)
			ty, ok := td.body(r.typ, r.version)
			if !ok {
				t.Fatalf("%s@%s: no type data", r.typ, r.version)
			}
			ch := &typeChecker{}
			ch.checkResource(armVal(body), ty, r.typ)
			if !strings.Contains(strings.Join(ch.problems, "\n"), c.want) {
				t.Errorf("problems %q; want one saying %q", ch.problems, c.want)
			}
		})
	}

	// The same defect in the Bicep: the reader sees it, and so does parity.
	bt := readBicep(t)
	name := filepath.Join("bicep", "modules", "containerapp.bicep")
	src := read(t, name)
	bad := strings.Replace(src, "failureThreshold: 10", "failureThreshold: 30", 1)
	if bad == src {
		t.Fatal("containerapp.bicep: no failureThreshold: 10 to change")
	}
	f, err := parseBicep(name, bad)
	if err != nil {
		t.Fatal(err)
	}
	bt.files[name] = f
	var app *bresource
	for _, r := range f.resources {
		if r.typ == "Microsoft.App/containerApps" {
			app = r
		}
	}
	ty, _ := td.body(app.typ, app.version)
	ch := &typeChecker{}
	ch.checkResource(bt.resourceBody(app), ty, app.sym)
	if !strings.Contains(strings.Join(ch.problems, "\n"), "30 is outside [1, 10]") {
		t.Errorf("Bicep with failureThreshold 30: problems %q", ch.problems)
	}
	for _, a := range tm.Resources {
		if a["type"] == app.typ {
			diffs := bt.resourceDiffs(app, a)
			if !strings.Contains(strings.Join(diffs, "\n"), "failureThreshold: 10; main.bicep 30") {
				t.Errorf("parity with failureThreshold 30 in the Bicep only: %q", diffs)
			}
		}
	}
}
