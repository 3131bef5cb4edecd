package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

// The deployment templates checked against Azure's resource type data, held
// to each other, and deployed on paper. Each test here names the defect
// it would have caught.

// armArgs are values for mainTemplate.json's required parameters, with
// which every mode can be deployed.
func armArgs(over map[string]any) map[string]any {
	args := map[string]any{
		"vendorTenantIds":   []any{"d2b6628f-0000-4000-8000-000000000002"},
		"proxyAudience":     "api://graph-proxy-contoso",
		"containerImage":    "contoso.azurecr.io/graph-proxy:1.0.0",
		"policyYaml":        "version: 1\nmode: report-only\n",
		"appClientId":       "e0000000-0000-4000-8000-0000000000e1",
		"vendorCidrs":       []any{"203.0.113.0/24", "198.51.100.0/24"},
		"vendorClientCaPem": testCAPem,
		// Deploys the optional Key Vault Secrets Officer assignment, so
		// that the type checks and the parity of names see it.
		"policyOperatorPrincipalId": testOperatorID,
	}
	for k, v := range over {
		args[k] = v
	}
	return args
}

// testOperatorID is the object id armArgs gives policyOperatorPrincipalId.
const testOperatorID = "f0000000-0000-4000-8000-0000000000f1"

const testCAPem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUW\n-----END CERTIFICATE-----\n"

// armCombinations are the parameter sets the ARM checks deploy: every
// allowed value of every parameter that has allowed values, in every
// combination, each integer parameter at its bounds, and each boolean
// parameter the other way from its default.
func armCombinations(tm *armTemplate) []map[string]any {
	combos := []map[string]any{{}}
	for _, name := range tm.order {
		p := tm.Parameters[name]
		if len(p.AllowedValues) == 0 {
			continue
		}
		var next []map[string]any
		for _, c := range combos {
			for _, a := range p.AllowedValues {
				m := map[string]any{name: normalise(a)}
				for k, v := range c {
					m[k] = v
				}
				next = append(next, m)
			}
		}
		combos = next
	}
	for _, name := range tm.order {
		p := tm.Parameters[name]
		for _, b := range []*int64{p.MinValue, p.MaxValue} {
			if b != nil {
				combos = append(combos, map[string]any{name: *b})
			}
		}
		for _, b := range []*int64{p.MinLength, p.MaxLength} {
			if b != nil && p.Type == "string" {
				combos = append(combos, map[string]any{name: strings.Repeat("a", int(*b))})
			}
		}
		// A switch deploys what its default leaves out (the Graph
		// activity alert rule) or leaves out what it deploys.
		if b, ok := p.DefaultValue.(bool); ok && strings.EqualFold(p.Type, "bool") {
			combos = append(combos, map[string]any{name: !b})
		}
	}
	return combos
}

func describe(args map[string]any) string {
	var parts []string
	for _, k := range sortedKeys(args) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, args[k]))
	}
	return strings.Join(parts, " ")
}

// TestBicepTypes checks every resource in deploy/bicep against the type
// data: type@apiVersion exists; property names; no read-only property set;
// required properties present; enumeration values; the kind of each
// literal; integer bounds, including those only a description states
// (Container Apps' startup probe took failureThreshold 30 where the API
// allows 1 to 10).
func TestBicepTypes(t *testing.T) {
	td := loadTypeData(t)
	bt := readBicep(t)
	for _, name := range sortedKeys(bt.files) {
		for _, r := range bt.files[name].resources {
			where := fmt.Sprintf("%s:%d %s@%s", name, r.line, r.typ, r.version)
			body, ok := td.body(r.typ, r.version)
			if !ok {
				t.Errorf("%s: not in the type data (deploy/azuretypes)", where)
				continue
			}
			for _, p := range bt.propertyReads(bt.files[name], r, body) {
				t.Errorf("%s: %s", where, p)
			}
			if r.existing {
				continue
			}
			c := &typeChecker{}
			c.checkResource(bt.resourceBody(r), body, r.sym)
			for _, p := range c.problems {
				t.Errorf("%s: %s", where, p)
			}
		}
	}
}

// TestMainTemplateTypes deploys mainTemplate.json on paper with every
// combination of its choices and checks each resource deployed against
// the type data, values computed by expressions included; reference()
// reads are checked against the referenced type too.
func TestMainTemplateTypes(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	seen := map[string]bool{}
	for _, over := range armCombinations(tm) {
		args := armArgs(over)
		d, err := deployARM(tm, td, args, defaultEnv)
		if err != nil {
			if !seen[err.Error()] {
				seen[err.Error()] = true
				t.Errorf("%s: %v", describe(over), err)
			}
			continue
		}
		for _, r := range d.resources {
			body, ok := td.body(r.typ, r.version)
			if !ok {
				t.Errorf("%s@%s: not in the type data (deploy/azuretypes)", r.typ, r.version)
				continue
			}
			v := armVal(r.body)
			for i, f := range v.fields {
				if f.key == "name" {
					v.fields[i].v = strVal(leafName(r.name))
				}
			}
			c := &typeChecker{}
			c.checkResource(v, body, r.typ)
			for _, p := range c.problems {
				if !seen[p] {
					seen[p] = true
					t.Errorf("%s@%s (%s): %s", r.typ, r.version, describe(over), p)
				}
			}
		}
	}
}

// TestAPIVersionsNewest: every resource in both templates uses the newest
// stable API version the type data's index knows (the Marketplace test
// toolkit's "apiVersions should be recent" failed userAssignedIdentities
// 2023-01-31 and dataCollection* 2023-03-11).
func TestAPIVersionsNewest(t *testing.T) {
	td := loadTypeData(t)
	check := func(where, typ, ver string) {
		e, ok := td.newest(typ)
		switch {
		case !ok:
			t.Errorf("%s: %s is not in azuretypes/index.json", where, typ)
		case strings.Contains(ver, "preview"):
			t.Errorf("%s: %s@%s is a preview", where, typ, ver)
		case ver != e.NewestStable:
			t.Errorf("%s: %s@%s; the newest stable version is %s", where, typ, ver, e.NewestStable)
		}
	}
	bt := readBicep(t)
	for _, name := range sortedKeys(bt.files) {
		for _, r := range bt.files[name].resources {
			check(fmt.Sprintf("%s:%d", name, r.line), r.typ, r.version)
		}
	}
	tm := loadARM(t)
	for _, r := range tm.Resources {
		check("mainTemplate.json", r["type"].(string), r["apiVersion"].(string))
	}
	// The versions inside expressions (reference, listKeys) are those the
	// template deploys with: deployARM refuses others.
	if _, err := deployARM(tm, td, armArgs(map[string]any{"upstreamMode": "keyVaultSecret", "clientCertificateMode": "require"}), defaultEnv); err != nil {
		t.Error(err)
	}
}

// TestTemplateParity holds mainTemplate.json (kept by hand) to deploy/bicep:
// the same parameters (with their types, defaults, allowed values, bounds
// and descriptions), the same resources (type@apiVersion), each deployed
// under the same condition with the same properties and, where both write
// a literal, the same value; the same outputs, the same GRAPH_PROXY_*
// variables and the same audit columns.
func TestTemplateParity(t *testing.T) {
	bt := readBicep(t)
	tm := loadARM(t)

	var bnames []string
	for _, p := range bt.main.params {
		bnames = append(bnames, p.name)
	}
	if !slices.Equal(bnames, tm.order) {
		t.Errorf("parameters differ:\n  main.bicep        %v\n  mainTemplate.json %v", bnames, tm.order)
	}
	for _, bp := range bt.main.params {
		ap, ok := tm.Parameters[bp.name]
		if !ok {
			continue
		}
		for _, d := range paramDiffs(bp, ap) {
			t.Errorf("parameter %s: %s", bp.name, d)
		}
	}

	arm := tm.Resources
	paired := make([]bool, len(arm))
	compared := make([]bool, len(arm))
	for _, r := range bt.resources() {
		where := fmt.Sprintf("%s:%d %s@%s", r.file.name, r.line, r.typ, r.version)
		var firstDiffs []string
		match := -1
		for i, a := range arm {
			if paired[i] || !strings.EqualFold(a["type"].(string), r.typ) || a["apiVersion"] != r.version {
				continue
			}
			compared[i] = true
			diffs := bt.resourceDiffs(r, a)
			if len(diffs) == 0 {
				match = i
				break
			}
			if firstDiffs == nil {
				firstDiffs = diffs
			}
		}
		switch {
		case match >= 0:
			paired[match] = true
		case firstDiffs != nil:
			for _, d := range firstDiffs {
				t.Errorf("%s: mainTemplate.json differs: %s", where, d)
			}
		default:
			t.Errorf("%s: mainTemplate.json has no such resource", where)
		}
	}
	for i, a := range arm {
		if !paired[i] && !compared[i] {
			t.Errorf("mainTemplate.json: %s@%s %v has no counterpart in deploy/bicep", a["type"], a["apiVersion"], a["name"])
		}
	}

	var bouts []string
	for _, o := range bt.main.outputs {
		bouts = append(bouts, o.name)
		ao, ok := tm.Outputs[o.name]
		if !ok {
			continue
		}
		if ao["type"] != o.typ {
			t.Errorf("output %s: type %v; main.bicep %s", o.name, ao["type"], o.typ)
		}
		if got, want := metaDescription(ao["metadata"]), decoratorString(o.decorators, "description"); got != want {
			t.Errorf("output %s: description\n  %q\nmain.bicep\n  %q", o.name, got, want)
		}
	}
	if aouts := sortedKeys(tm.Outputs); !slices.Equal(sorted(bouts), aouts) {
		t.Errorf("outputs differ:\n  main.bicep        %v\n  mainTemplate.json %v", sorted(bouts), aouts)
	}

	envRe := regexp.MustCompile(`'(GRAPH_PROXY_[A-Z_]+)'`)
	benv := map[string]bool{}
	for _, text := range bicepFiles(t) {
		for _, m := range envRe.FindAllStringSubmatch(text, -1) {
			benv[m[1]] = true
		}
	}
	aenv := map[string]bool{}
	for _, m := range envRe.FindAllStringSubmatch(tm.raw, -1) {
		aenv[m[1]] = true
	}
	if !reflect.DeepEqual(benv, aenv) {
		t.Errorf("GRAPH_PROXY_* variables differ:\n  deploy/bicep      %v\n  mainTemplate.json %v", sortedKeys(benv), sortedKeys(aenv))
	}

	var cols any
	if err := json.Unmarshal([]byte(read(t, "bicep/modules/audit-columns.json")), &cols); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalise(tm.Variables["columns"]), normalise(cols)) {
		t.Error("mainTemplate.json's columns variable is not bicep/modules/audit-columns.json")
	}

	// A role assignment's name is an expression in both, which the
	// comparison above takes to match anything: the Bicep named them from
	// the identity's principal id, mainTemplate.json from its resource id,
	// so deploying one over the other asked for a second assignment of the
	// same role to the same principal on the same scope, which ARM refuses
	// (RoleAssignmentExists).
	for _, d := range roleAssignmentDiffs(t, bt, tm) {
		t.Error(d)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func metaDescription(m any) string {
	mm, _ := m.(map[string]any)
	s, _ := mm["description"].(string)
	return s
}

func decoratorString(d map[string][]*bnode, name string) string {
	if a := d[name]; len(a) == 1 {
		return a[0].str
	}
	return ""
}

func paramDiffs(bp *bparam, ap armParam) []string {
	var diffs []string
	typ := bp.typ
	if _, ok := bp.decorators["secure"]; ok {
		typ = "secure" + typ
	}
	if !strings.EqualFold(ap.Type, typ) {
		diffs = append(diffs, fmt.Sprintf("type %s; main.bicep %s", ap.Type, typ))
	}
	if got, want := metaDescription(ap.Metadata), decoratorString(bp.decorators, "description"); got != want {
		diffs = append(diffs, fmt.Sprintf("description\n  %q\nmain.bicep\n  %q", got, want))
	}
	var allowed []any
	for _, a := range bp.decorators["allowed"] {
		for _, it := range a.items {
			allowed = append(allowed, it.str)
		}
	}
	if !reflect.DeepEqual(normalise(ap.AllowedValues), normalise(allowed)) && (len(allowed) > 0 || len(ap.AllowedValues) > 0) {
		diffs = append(diffs, fmt.Sprintf("allowed values %v; main.bicep %v", ap.AllowedValues, allowed))
	}
	for name, got := range map[string]*int64{"minValue": ap.MinValue, "maxValue": ap.MaxValue, "minLength": ap.MinLength, "maxLength": ap.MaxLength} {
		var want *int64
		if a := bp.decorators[name]; len(a) == 1 {
			want = &a[0].num
		}
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			diffs = append(diffs, fmt.Sprintf("%s %s; main.bicep %s", name, bounds(got, nil), bounds(want, nil)))
		}
	}
	switch {
	case bp.def == nil && ap.DefaultValue != nil, bp.def != nil && ap.DefaultValue == nil:
		diffs = append(diffs, fmt.Sprintf("default %v; main.bicep %v", ap.DefaultValue, bp.def != nil))
	case bp.def != nil:
		for _, d := range literalDiffs("default", bp.def, ap.DefaultValue) {
			diffs = append(diffs, d)
		}
	}
	return diffs
}

// literalDiffs compares a Bicep literal with its JSON counterpart; an ARM
// expression is taken to match whatever the Bicep computes.
func literalDiffs(path string, b *bnode, a any) []string {
	if s, ok := a.(string); ok && isExpression(s) {
		return nil
	}
	switch b.kind {
	case "string":
		if a != b.str {
			return []string{fmt.Sprintf("%s: %#v; main.bicep %q", path, a, b.str)}
		}
	case "int":
		if normalise(a) != b.num {
			return []string{fmt.Sprintf("%s: %v; main.bicep %d", path, a, b.num)}
		}
	case "bool":
		if a != (b.str == "true") {
			return []string{fmt.Sprintf("%s: %v; main.bicep %s", path, a, b.str)}
		}
	case "array":
		arr, ok := a.([]any)
		if !ok || len(arr) != len(b.items) {
			return []string{fmt.Sprintf("%s: %v; main.bicep has %d items", path, a, len(b.items))}
		}
		var out []string
		for i, it := range b.items {
			out = append(out, literalDiffs(fmt.Sprintf("%s[%d]", path, i), it, arr[i])...)
		}
		return out
	case "object":
		m, ok := a.(map[string]any)
		if !ok || len(m) != len(b.fields) {
			return []string{fmt.Sprintf("%s: %v; main.bicep has %d properties", path, a, len(b.fields))}
		}
		var out []string
		for _, f := range b.fields {
			out = append(out, literalDiffs(path+"."+f.key, f.v, m[f.key])...)
		}
		return out
	default:
		return []string{fmt.Sprintf("%s: %v where main.bicep computes a value", path, a)}
	}
	return nil
}

// resourceDiffs compares a Bicep resource with an ARM one: the same
// condition, the same properties and, where the ARM template writes a
// literal, the same value (the Bicep's, through its variables, parameter
// defaults and module parameters).
func (bt *bicepTemplates) resourceDiffs(r *bresource, a map[string]any) []string {
	var diffs []string
	if _, ok := a["condition"]; ok != bt.conditional(r) {
		diffs = append(diffs, fmt.Sprintf("deployed under a condition: %v; in deploy/bicep: %v", ok, bt.conditional(r)))
	}
	body := &bnode{kind: "object"}
	for _, f := range r.body.fields {
		switch f.key {
		case "parent", "scope", "dependsOn":
			continue
		}
		body.fields = append(body.fields, f)
	}
	arm := map[string]any{}
	for k, v := range a {
		switch k {
		case "type", "apiVersion", "condition", "dependsOn", "scope", "comments":
			continue
		}
		arm[k] = v
	}
	return append(diffs, bt.structDiffs(r.file, "", body, arm)...)
}

func (bt *bicepTemplates) structDiffs(f *bicepFile, path string, b *bnode, a any) []string {
	if s, ok := a.(string); ok && isExpression(s) {
		return nil
	}
	// A Bicep variable or parameter that stands for a literal.
	if b.kind == "ident" {
		if x, ok := f.vars[b.str]; ok {
			return bt.structDiffs(f, path, x, a)
		}
		if lit, ok := bt.resolveLiteral(f, b); ok {
			b = lit
		}
	}
	switch b.kind {
	case "object":
		m, ok := a.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v where deploy/bicep has an object", path, a)}
		}
		m = expandCopy(m)
		var diffs []string
		used := map[string]bool{}
		var unknown []bfield
		for _, fl := range b.fields {
			if !fl.keyKnown {
				unknown = append(unknown, fl)
				continue
			}
			av, ok := m[fl.key]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, fl.key))
				continue
			}
			used[fl.key] = true
			diffs = append(diffs, bt.structDiffs(f, path+"."+fl.key, fl.v, av)...)
		}
		var rest []string
		for _, k := range sortedKeys(m) {
			if !used[k] {
				rest = append(rest, k)
			}
		}
		// Keys Bicep computes ('${identityId}') pair with what is left.
		for i, fl := range unknown {
			if i >= len(rest) {
				diffs = append(diffs, fmt.Sprintf("%s: a computed key missing", path))
				continue
			}
			diffs = append(diffs, bt.structDiffs(f, path+"."+rest[i], fl.v, m[rest[i]])...)
		}
		if len(rest) > len(unknown) {
			diffs = append(diffs, fmt.Sprintf("%s: has %v, which deploy/bicep does not", path, rest[len(unknown):]))
		}
		return diffs
	case "array":
		arr, ok := a.([]any)
		if !ok || len(arr) != len(b.items) {
			return []string{fmt.Sprintf("%s: %v where deploy/bicep has %d items", path, a, len(b.items))}
		}
		var diffs []string
		for i, it := range b.items {
			diffs = append(diffs, bt.structDiffs(f, fmt.Sprintf("%s[%d]", path, i), it, arr[i])...)
		}
		return diffs
	case "for":
		c, ok := a.(copyLoop)
		if !ok {
			return []string{fmt.Sprintf("%s: %v where deploy/bicep has a for loop", path, a)}
		}
		return bt.structDiffs(f, path+"[*]", b.items[1], c.input)
	case "string", "int", "bool", "null":
		return literalDiffs(path, b, a)
	}
	return []string{fmt.Sprintf("%s: %v where deploy/bicep computes the value", path, a)}
}

// copyLoop is an ARM property copy loop, which stands for Bicep's for.
type copyLoop struct{ input any }

func expandCopy(m map[string]any) map[string]any {
	loops, ok := m["copy"].([]any)
	if !ok {
		return m
	}
	out := map[string]any{}
	for k, v := range m {
		if k != "copy" {
			out[k] = v
		}
	}
	for _, l := range loops {
		lm, _ := l.(map[string]any)
		name, _ := lm["name"].(string)
		out[name] = copyLoop{input: lm["input"]}
	}
	return out
}

// startupProbe returns a container's Startup probe.
func startupProbe(probes []any) map[string]any {
	for _, p := range probes {
		if pm, _ := p.(map[string]any); pm["type"] == "Startup" {
			return pm
		}
	}
	return nil
}

// TestStartupProbe: the startup probe gives graph-proxy at least the minute
// it has always had to become ready, within the bounds Container Apps
// documents (failureThreshold 30 was outside 1–10 and failed deployments).
func TestStartupProbe(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	d, err := deployARM(tm, td, armArgs(nil), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	app := findResource(t, d, "Microsoft.App/containerApps")
	container := app.body["properties"].(map[string]any)["template"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	armProbe := startupProbe(container["probes"].([]any))

	bt := readBicep(t)
	var bicepProbe map[string]any
	for _, r := range bt.resources() {
		if r.typ != "Microsoft.App/containerApps" {
			continue
		}
		probes := r.body.get("properties").get("template").get("containers").items[0].get("probes")
		for _, p := range probes.items {
			if s := p.get("type"); s != nil && s.str == "Startup" {
				bicepProbe = map[string]any{}
				for _, f := range p.fields {
					if f.v.kind == "int" {
						bicepProbe[f.key] = f.v.num
					}
				}
			}
		}
	}
	body, ok := td.body("Microsoft.App/containerApps", app.version)
	if !ok {
		t.Fatal("no type data for the container app")
	}
	probeType, err := propertyType(body, "properties.template.containers[].probes[]")
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]map[string]any{"mainTemplate.json": armProbe, "containerapp.bicep": bicepProbe} {
		if p == nil {
			t.Errorf("%s: no Startup probe", name)
			continue
		}
		n := func(k string, def int64) int64 {
			if v, ok := p[k].(int64); ok {
				return v
			}
			return def
		}
		// Kubernetes' defaults, which Container Apps documents: a probe
		// every 10 s, 3 failures allowed, no initial delay.
		window := n("initialDelaySeconds", 0) + n("periodSeconds", 10)*n("failureThreshold", 3)
		if window < 60 {
			t.Errorf("%s: the startup probe allows %d s; want at least 60", name, window)
		}
		for _, k := range []string{"initialDelaySeconds", "periodSeconds", "failureThreshold", "timeoutSeconds"} {
			v, ok := p[k].(int64)
			if !ok {
				continue
			}
			prop, _, _ := lookupProp(probeType.entry().Properties, k)
			lo, hi := descBounds(prop.Description)
			if lo == nil || hi == nil {
				t.Errorf("%s: the type data's description of %s states no bounds: %q", name, k, prop.Description)
			} else if v < *lo || v > *hi {
				t.Errorf("%s: %s %d is outside %s (%q)", name, k, v, bounds(lo, hi), prop.Description)
			}
		}
	}
}

func findResource(t *testing.T, d *armDeployment, typ string) armResource {
	t.Helper()
	for _, r := range d.resources {
		if r.typ == typ {
			return r
		}
	}
	t.Fatalf("no %s deployed", typ)
	return armResource{}
}

// containerEnv returns the container app's environment variables.
func containerEnv(t *testing.T, d *armDeployment) map[string]any {
	t.Helper()
	app := findResource(t, d, "Microsoft.App/containerApps")
	c := app.body["properties"].(map[string]any)["template"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	env := map[string]any{}
	for _, e := range c["env"].([]any) {
		em := e.(map[string]any)
		env[em["name"].(string)] = em["value"]
	}
	return env
}

// TestClientCertificateGuard: with clientCertificateMode accept or require
// the proxy is pointed at a CA file, so the deployment fails at validation
// when vendorClientCaPem holds no certificate (the proxy used to find no
// file there and exit 2 at every start); with one, the file exists where
// the variable points.
func TestClientCertificateGuard(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	for _, mode := range []string{"accept", "require"} {
		for _, pem := range []string{"", "  \n", "not a certificate"} {
			_, err := deployARM(tm, td, armArgs(map[string]any{"clientCertificateMode": mode, "vendorClientCaPem": pem}), defaultEnv)
			var fail armFail
			if !errors.As(err, &fail) || !strings.Contains(fail.msg, "vendorClientCaPem") {
				t.Errorf("clientCertificateMode %s, vendorClientCaPem %q: %v; want fail() naming vendorClientCaPem", mode, pem, err)
			}
		}
		d, err := deployARM(tm, td, armArgs(map[string]any{"clientCertificateMode": mode}), defaultEnv)
		if err != nil {
			t.Fatalf("clientCertificateMode %s with a CA: %v", mode, err)
		}
		file, ok := containerEnv(t, d)["GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS"].(string)
		if !ok {
			t.Fatalf("clientCertificateMode %s: GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS is not set", mode)
		}
		if files := secretFiles(t, d); !files[file] {
			t.Errorf("clientCertificateMode %s: GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS is %s; the secret volume holds %v", mode, file, sortedKeys(files))
		}
	}
	d, err := deployARM(tm, td, armArgs(map[string]any{"clientCertificateMode": "ignore", "vendorClientCaPem": ""}), defaultEnv)
	if err != nil {
		t.Fatalf("clientCertificateMode ignore without a CA: %v", err)
	}
	if _, ok := containerEnv(t, d)["GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS"]; ok {
		t.Error("clientCertificateMode ignore: GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS is set")
	}

	// main.bicep: the same guard, on the same variable.
	bt := readBicep(t)
	v := bt.main.vars["clientCaFile"]
	if v == nil {
		t.Fatal("main.bicep: no variable clientCaFile")
	}
	src := read(t, "bicep/main.bicep")
	m := regexp.MustCompile(`(?s)\nvar clientCaFile = (.*?)\n\n`).FindStringSubmatch(src)
	if m == nil || !strings.Contains(m[1], "contains(vendorClientCaPem, '-----BEGIN CERTIFICATE-----')") || !strings.Contains(m[1], "fail('clientCertificateMode ${clientCertificateMode} needs vendorClientCaPem") {
		t.Error("main.bicep: clientCaFile does not fail() when vendorClientCaPem holds no certificate")
	}
	if !strings.Contains(src, "name: 'GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS'\n    value: clientCaFile") {
		t.Error("main.bicep: GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS is not clientCaFile")
	}
	if !strings.Contains(m[1], "'/etc/graph-proxy/secrets/client-ca'") {
		t.Error("main.bicep: clientCaFile does not name the file the container app mounts")
	}
	if app := read(t, "bicep/modules/containerapp.bicep"); !strings.Contains(app, "mountPath: '/etc/graph-proxy/secrets'") || !strings.Contains(app, "path: 'client-ca'") {
		t.Error("containerapp.bicep does not mount the client-ca secret at /etc/graph-proxy/secrets/client-ca")
	}
}

// secretFiles returns the files the container app's secret volumes hold:
// mount path + item path, for each item whose secret exists.
func secretFiles(t *testing.T, d *armDeployment) map[string]bool {
	t.Helper()
	app := findResource(t, d, "Microsoft.App/containerApps")
	props := app.body["properties"].(map[string]any)
	secrets := map[string]bool{}
	for _, s := range props["configuration"].(map[string]any)["secrets"].([]any) {
		secrets[s.(map[string]any)["name"].(string)] = true
	}
	tmpl := props["template"].(map[string]any)
	mounts := map[string]string{}
	for _, c := range tmpl["containers"].([]any) {
		for _, vm := range c.(map[string]any)["volumeMounts"].([]any) {
			vmm := vm.(map[string]any)
			mounts[vmm["volumeName"].(string)] = vmm["mountPath"].(string)
		}
	}
	files := map[string]bool{}
	for _, v := range tmpl["volumes"].([]any) {
		vm := v.(map[string]any)
		if vm["storageType"] != "Secret" {
			continue
		}
		for _, it := range vm["secrets"].([]any) {
			im := it.(map[string]any)
			if secrets[im["secretRef"].(string)] {
				files[mounts[vm["name"].(string)]+"/"+im["path"].(string)] = true
			}
		}
	}
	return files
}

// TestUpstreamClientGuard: every upstream mode but managedIdentity needs
// the app registration's client id, which graph-proxy otherwise refuses
// to start without; the deployment fails at validation instead.
func TestUpstreamClientGuard(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	for _, mode := range tm.Parameters["upstreamMode"].AllowedValues {
		_, err := deployARM(tm, td, armArgs(map[string]any{"upstreamMode": mode, "appClientId": ""}), defaultEnv)
		var fail armFail
		switch {
		case mode == "managedIdentity" && err != nil:
			t.Errorf("upstreamMode %s without appClientId: %v", mode, err)
		case mode != "managedIdentity" && (!errors.As(err, &fail) || !strings.Contains(fail.msg, "appClientId")):
			t.Errorf("upstreamMode %s without appClientId: %v; want fail() naming appClientId", mode, err)
		}
	}
	if !strings.Contains(read(t, "bicep/main.bicep"), "fail('upstreamMode ${upstreamMode} needs appClientId") {
		t.Error("main.bicep: no fail() for an upstream mode without appClientId")
	}
}

// TestGraphCloud: every Graph cloud graph-proxy knows can be chosen from
// both templates (US Gov DoD could not), and auto picks the deployment's
// own cloud's.
func TestGraphCloud(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	want := append([]string{"auto"}, sortedKeys(config.Clouds)...)
	var got []string
	for _, a := range tm.Parameters["graphCloud"].AllowedValues {
		got = append(got, a.(string))
	}
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("mainTemplate.json: graphCloud allows %v; want %v", got, want)
	}
	bt := readBicep(t)
	if p := bt.main.param("graphCloud"); p == nil {
		t.Error("main.bicep: no parameter graphCloud")
	} else if v := paramVal(p); !slices.Equal(sorted(v.strs), sorted(want)) {
		t.Errorf("main.bicep: graphCloud allows %v; want %v", v.strs, want)
	}
	cases := []struct {
		choice, azure, want string
	}{
		{choice: "auto", azure: "AzureCloud", want: "global"},
		{choice: "auto", azure: "AzureUSGovernment", want: "usgov"},
		{choice: "auto", azure: "AzureChinaCloud", want: "china"},
		{choice: "auto", azure: "AzureStackCloud", want: "global"},
	}
	for name := range config.Clouds {
		cases = append(cases, struct{ choice, azure, want string }{name, "AzureUSGovernment", name})
	}
	for _, c := range cases {
		env := defaultEnv
		env.cloud = c.azure
		d, err := deployARM(tm, td, armArgs(map[string]any{"graphCloud": c.choice}), env)
		if err != nil {
			t.Errorf("graphCloud %s in %s: %v", c.choice, c.azure, err)
			continue
		}
		if got := containerEnv(t, d)["GRAPH_PROXY_GRAPH_CLOUD"]; got != c.want {
			t.Errorf("graphCloud %s in %s: GRAPH_PROXY_GRAPH_CLOUD %v; want %s", c.choice, c.azure, got, c.want)
		}
	}
}

// TestEveryChoiceMatters: each parameter with a list of allowed values
// changes what is deployed, for at least two of its values (deploymentMode
// changed nothing but an output echoing it).
func TestEveryChoiceMatters(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	for _, name := range tm.order {
		p := tm.Parameters[name]
		if len(p.AllowedValues) < 2 {
			continue
		}
		distinct := map[string]bool{}
		for _, a := range p.AllowedValues {
			d, err := deployARM(tm, td, armArgs(map[string]any{name: normalise(a)}), defaultEnv)
			if err != nil {
				t.Errorf("%s=%v: %v", name, a, err)
				continue
			}
			var bodies []map[string]any
			for _, r := range d.resources {
				bodies = append(bodies, map[string]any{"type": r.typ, "name": r.name, "body": r.body})
			}
			b, _ := json.Marshal(bodies)
			distinct[string(b)] = true
		}
		if len(distinct) < 2 {
			t.Errorf("parameter %s: every allowed value deploys the same resources", name)
		}
	}
	for _, p := range readBicep(t).main.params {
		if p.name == "deploymentMode" {
			t.Error("main.bicep: deploymentMode is back; it changed nothing")
		}
	}
}

// keyVaultNameRe is Key Vault's naming rule: 3 to 24 letters, digits and
// hyphens, starting with a letter, ending with a letter or digit, with no
// two hyphens in a row.
var keyVaultNameRe = regexp.MustCompile(`^[a-zA-Z](?:-?[a-zA-Z0-9])*$`)

// TestKeyVaultName: a redeployment (an upgrade) keeps the vault's name; a
// new keyVaultNameSuffix gives a new one, so that a reinstall can proceed
// while the old vault is soft-deleted (its name stayed taken for 90 days);
// and every name is one Key Vault accepts, with the suffix whole in it
// (TestResourceNames tries every namePrefix and suffix of
// testdata/names.json).
func TestKeyVaultName(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	name := func(over map[string]any) string {
		t.Helper()
		over["upstreamMode"] = "keyVaultSecret"
		d, err := deployARM(tm, td, armArgs(over), defaultEnv)
		if err != nil {
			t.Fatalf("%s: %v", describe(over), err)
		}
		return findResource(t, d, "Microsoft.KeyVault/vaults").name
	}
	upgrade := name(map[string]any{})
	if again := name(map[string]any{}); again != upgrade {
		t.Errorf("a redeployment names the vault %s, then %s", upgrade, again)
	}
	reinstall := name(map[string]any{"keyVaultNameSuffix": "r2"})
	if reinstall == upgrade {
		t.Errorf("a new keyVaultNameSuffix keeps the name %s", upgrade)
	}
	for _, prefix := range []string{"graph-proxy", "gpx", "graph-proxy-contoso1", "a-b-c-d-e-f-g-h-i-j1"} {
		for _, suffix := range []any{nil, "r2", "abcdefghij123"} {
			over := map[string]any{"namePrefix": prefix}
			if suffix != nil {
				over["keyVaultNameSuffix"] = suffix
			}
			n := name(over)
			if len(n) < 3 || len(n) > 24 || !keyVaultNameRe.MatchString(n) {
				t.Errorf("%s: vault name %q is not one Key Vault accepts", describe(over), n)
			}
			if s, ok := suffix.(string); ok && !strings.HasSuffix(n, "-"+s) {
				t.Errorf("%s: vault name %q does not end in the whole suffix", describe(over), n)
			}
		}
	}
	if !strings.Contains(read(t, "../docs/installation.md"), "az keyvault recover") {
		t.Error("docs/installation.md does not say how to recover a soft-deleted vault")
	}
}

// TestIdentityOutputs: a federated credential's subject is the managed
// identity's principal (object) id; the outputs say so, and do not call
// the client id the subject.
func TestIdentityOutputs(t *testing.T) {
	tm := loadARM(t)
	principal := metaDescription(tm.Outputs["identityPrincipalId"]["metadata"])
	client := metaDescription(tm.Outputs["identityClientId"]["metadata"])
	if !strings.Contains(principal, "subject of the federated credential") {
		t.Errorf("identityPrincipalId: %q does not say it is the federated credential's subject", principal)
	}
	if regexp.MustCompile(`\(subject|is the subject|: the subject`).MatchString(client) || !strings.Contains(client, "Not the subject") {
		t.Errorf("identityClientId: %q", client)
	}
	if v, _ := tm.Outputs["identityPrincipalId"]["value"].(string); !strings.HasSuffix(v, ".principalId]") {
		t.Errorf("identityPrincipalId is %s", v)
	}
}

// TestAuditColumnTypes: the audit columns' types are ones both the
// workspace table and the data collection rule's stream know (both enums
// are open, and their spelling differs in case: dateTime, datetime).
func TestAuditColumnTypes(t *testing.T) {
	td := loadTypeData(t)
	var cols []struct{ Name, Type string }
	if err := json.Unmarshal([]byte(read(t, "bicep/modules/audit-columns.json")), &cols); err != nil {
		t.Fatal(err)
	}
	bt := readBicep(t)
	for _, c := range []struct{ typ, path string }{
		{"Microsoft.OperationalInsights/workspaces/tables", "properties.schema.columns[].type"},
		{"Microsoft.Insights/dataCollectionRules", "properties.streamDeclarations"},
	} {
		var ver string
		for _, r := range bt.resources() {
			if r.typ == c.typ {
				ver = r.version
			}
		}
		body, ok := td.body(c.typ, ver)
		if !ok {
			t.Fatalf("%s@%s: not in the type data", c.typ, ver)
		}
		pt, err := propertyType(body, c.path)
		if err != nil {
			t.Fatal(err)
		}
		if e := pt.entry(); e.Kind == "ObjectType" && e.AdditionalProperties != nil {
			// streamDeclarations: a map of stream name to declaration.
			if pt, err = propertyType(pt.at(*e.AdditionalProperties), "columns[].type"); err != nil {
				t.Fatal(err)
			}
		}
		literals, _ := enumValues(pt)
		for _, col := range cols {
			if !slices.ContainsFunc(literals, func(l string) bool { return strings.EqualFold(l, col.Type) }) {
				t.Errorf("column %s: %s's column types are %v, not %s", col.Name, c.typ, literals, col.Type)
			}
		}
	}
}

var azureTypesFrom = flag.String("azuretypes-from", "", "regenerate deploy/azuretypes from this copy of bicep-types-az's generated/ folder (with index.json)")

// TestAzureTypesData checks deploy/azuretypes is exactly what the
// templates need: the type@apiVersion of every resource they declare, each
// types.json cut to the entries those resource types reach (every other
// entry null, so that the references keep their indices), and index.json
// cut to the same types. With -azuretypes-from DIR it regenerates the
// folder from DIR first.
func TestAzureTypesData(t *testing.T) {
	used := map[string]bool{} // lower(Type@version)
	usedTypes := map[string]bool{}
	bt := readBicep(t)
	for _, f := range bt.files {
		for _, r := range f.resources {
			used[strings.ToLower(r.typ+"@"+r.version)] = true
			usedTypes[strings.ToLower(r.typ)] = true
		}
	}
	tm := loadARM(t)
	for _, r := range tm.Resources {
		used[strings.ToLower(r["type"].(string)+"@"+r["apiVersion"].(string))] = true
		usedTypes[strings.ToLower(r["type"].(string))] = true
	}
	if *azureTypesFrom != "" {
		if err := regenerateAzureTypes(*azureTypesFrom, used, usedTypes); err != nil {
			t.Fatal(err)
		}
	}
	td := loadTypeData(t)
	var have []string
	for k := range td.resources {
		have = append(have, k)
	}
	if !slices.Equal(sorted(have), sortedKeys(used)) {
		t.Errorf("azuretypes holds %v; the templates use %v (regenerate with -azuretypes-from)", sorted(have), sortedKeys(used))
	}
	var idx []string
	for k := range td.index {
		idx = append(idx, strings.ToLower(k))
	}
	if !slices.Equal(sorted(idx), sortedKeys(usedTypes)) {
		t.Errorf("azuretypes/index.json holds %v; the templates use %v", sorted(idx), sortedKeys(usedTypes))
	}
	for _, f := range td.files {
		reach := reachable(f.entries, func(i int) bool { return f.entries[i].Kind == "ResourceType" })
		for i, e := range f.entries {
			switch {
			case reach[i] && e.Kind == "":
				t.Errorf("%s: entry %d is reached but pruned", f.path, i)
			case !reach[i] && e.Kind != "":
				t.Errorf("%s: entry %d (%s %s) is reached from no resource type kept", f.path, i, e.Kind, e.Name)
			}
		}
	}
}

var refRe = regexp.MustCompile(`"\$ref":\s*"#/(\d+)"`)

// reachable returns the entries reachable from the roots.
func reachable(entries []typeEntry, root func(int) bool) map[int]bool {
	raw := make([][]byte, len(entries))
	for i, e := range entries {
		raw[i], _ = json.Marshal(e)
	}
	return reachableRaw(raw, root)
}

func reachableRaw(raw [][]byte, root func(int) bool) map[int]bool {
	seen := map[int]bool{}
	var walk func(int)
	walk = func(i int) {
		if seen[i] || i >= len(raw) {
			return
		}
		seen[i] = true
		for _, m := range refRe.FindAllSubmatch(raw[i], -1) {
			var n int
			fmt.Sscan(string(m[1]), &n)
			walk(n)
		}
	}
	for i := range raw {
		if root(i) {
			walk(i)
		}
	}
	return seen
}

// regenerateAzureTypes writes deploy/azuretypes from a copy of
// bicep-types-az's generated/ folder: for each types.json that defines a
// type@version in used, the file with every entry not reachable from those
// ResourceType entries replaced by null; and index.json cut to usedTypes.
func regenerateAzureTypes(from string, used, usedTypes map[string]bool) error {
	files, err := filepath.Glob(filepath.Join(from, "*", "*", "*", "types.json"))
	if err != nil {
		return err
	}
	// The old cut goes first: a type@version no longer used leaves no file.
	old, _ := filepath.Glob(filepath.Join(azureTypesDir, "*", "*", "*", "types.json"))
	for _, o := range old {
		if err := os.Remove(o); err != nil {
			return err
		}
	}
	found := map[string]bool{}
	// defines holds, per types.json, the type@version it defines (lower
	// case); typeNames the types' own spelling.
	defines := map[string]map[string]bool{}
	typeNames := map[string]string{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(data, &entries); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		roots := map[int]bool{}
		for i, e := range entries {
			var h struct {
				Kind string `json:"$type"`
				Name string `json:"name"`
			}
			json.Unmarshal(e, &h)
			if h.Kind == "ResourceType" {
				if defines[path] == nil {
					defines[path] = map[string]bool{}
				}
				defines[path][strings.ToLower(h.Name)] = true
				typ, _, _ := strings.Cut(h.Name, "@")
				typeNames[strings.ToLower(typ)] = typ
			}
			if h.Kind == "ResourceType" && used[strings.ToLower(h.Name)] {
				roots[i] = true
				found[strings.ToLower(h.Name)] = true
			}
		}
		if len(roots) == 0 {
			continue
		}
		raw := make([][]byte, len(entries))
		for i, e := range entries {
			raw[i] = e
		}
		keep := reachableRaw(raw, func(i int) bool { return roots[i] })
		var out strings.Builder
		out.WriteString("[\n  ")
		for i, e := range entries {
			if i > 0 {
				out.WriteString(",\n  ")
			}
			if !keep[i] {
				out.WriteString("null")
				continue
			}
			var b bytes.Buffer
			if err := json.Indent(&b, e, "  ", "  "); err != nil {
				return err
			}
			out.Write(b.Bytes())
		}
		out.WriteString("\n]")
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(azureTypesDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(out.String()), 0o644); err != nil {
			return err
		}
	}
	for u := range used {
		if !found[u] {
			return fmt.Errorf("%s: no types.json defines %s", from, u)
		}
	}
	data, err := os.ReadFile(filepath.Join(from, "index.json"))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if _, err := dec.Token(); err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString("{")
	n := 0
	source := map[string]indexEntry{} // lower-case type → its entry
	sourceNames := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if !usedTypes[strings.ToLower(k.(string))] {
			continue
		}
		// index.json spells a few types two ways, for two different types
		// (microsoft.insights/workbooks, Application Insights' classic
		// ones, beside Microsoft.Insights/workbooks): keep the one whose
		// versions hold the version the templates use.
		var entry indexEntry
		if err := json.Unmarshal(v, &entry); err != nil {
			return err
		}
		if !slices.ContainsFunc(entry.Versions, func(ver string) bool { return used[strings.ToLower(k.(string)+"@"+ver)] }) {
			continue
		}
		source[strings.ToLower(k.(string))] = entry
		sourceNames[strings.ToLower(k.(string))] = k.(string)
		var b bytes.Buffer
		if err := json.Indent(&b, v, " ", " "); err != nil {
			return err
		}
		if n > 0 {
			out.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&out, "\n %s: %s", kb, b.String())
		n++
	}
	// A child type the index does not list (the Redis access policy
	// assignments) is published with its parent: the same REST API
	// specification, the same types.json. Its entry is its nearest listed
	// ancestor's, for the versions whose types.json defines both, with
	// derivedFrom naming the ancestor; without such a types.json for the
	// ancestor's newest stable version, nothing can be said, and the cut
	// fails.
	for _, typ := range sortedKeys(usedTypes) {
		if _, ok := source[typ]; ok {
			continue
		}
		parent := typ
		for strings.Count(parent, "/") > 1 {
			parent = parent[:strings.LastIndex(parent, "/")]
			pe, ok := source[parent]
			if !ok {
				continue
			}
			both := func(ver string) bool {
				for _, d := range defines {
					if d[typ+"@"+strings.ToLower(ver)] && d[parent+"@"+strings.ToLower(ver)] {
						return true
					}
				}
				return false
			}
			if !both(pe.NewestStable) {
				return fmt.Errorf("index.json has no %s, and no types.json defines it with %s@%s", typ, parent, pe.NewestStable)
			}
			var versions []string
			for _, ver := range pe.Versions {
				if both(ver) {
					versions = append(versions, ver)
				}
			}
			entry, _ := json.MarshalIndent(map[string]any{"versions": versions, "newestStable": pe.NewestStable,
				"derivedFrom": sourceNames[parent]}, " ", " ")
			kb, _ := json.Marshal(typeNames[typ])
			if n > 0 {
				out.WriteString(",")
			}
			fmt.Fprintf(&out, "\n %s: %s", kb, entry)
			n++
			source[typ] = pe
			break
		}
		if _, ok := source[typ]; !ok {
			return fmt.Errorf("%s: index.json lists neither %s nor a parent type of it", from, typ)
		}
	}
	out.WriteString("\n}\n")
	return os.WriteFile(filepath.Join(azureTypesDir, "index.json"), []byte(out.String()), 0o644)
}
