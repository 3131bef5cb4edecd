package marketplace

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The wizard's controls for the template's name, vault, forwarding and
// policy-operator parameters. Each test names the defect it would catch.

// basicsControl returns the Basics page's control named name, as raw JSON.
func basicsControl(t *testing.T, ui map[string]any, name string) map[string]any {
	t.Helper()
	for _, e := range ui["parameters"].(map[string]any)["basics"].([]any) {
		if em := e.(map[string]any); em["name"] == name {
			return em
		}
	}
	t.Fatalf("createUiDefinition.json: no control %s on the Basics page", name)
	return nil
}

// accepts reports whether a text box's constraints take value: its regex,
// or each of its validations (regex, or isValid evaluated with the value
// in place), as the portal applies them.
func accepts(t *testing.T, c map[string]any, ref, value string, answers map[string]map[string]any) bool {
	t.Helper()
	cons := c["constraints"].(map[string]any)
	if re, ok := cons["regex"].(string); ok {
		return regexp.MustCompile(re).MatchString(value)
	}
	for _, v := range cons["validations"].([]any) {
		vm := v.(map[string]any)
		if re, ok := vm["regex"].(string); ok && !regexp.MustCompile(re).MatchString(value) {
			return false
		}
		if expr, ok := vm["isValid"].(string); ok {
			got, err := offerEval(expr, answers)
			if err != nil {
				t.Fatalf("%s: isValid %s: %v", ref, expr, err)
			}
			if got != true {
				return false
			}
		}
	}
	return true
}

// testNames is ../deploy/testdata/names.json, which deploy.TestResourceNames
// holds the templates to.
type testNames struct {
	NamePrefix, KeyVaultNameSuffix struct{ Valid, Invalid []string }
}

// TestWizardNames: the wizard takes the name prefixes and vault suffixes
// the template takes, and refuses those it refuses. It took any of 3 to 20
// lower-case letters, digits and hyphens, so 1proxy went through to a
// vault name Key Vault refuses.
func TestWizardNames(t *testing.T) {
	var n testNames
	load(t, "../deploy/testdata/names.json", &n)
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	prefix := basicsControl(t, ui, "namePrefix")
	suffix := basicsControl(t, ui, "keyVaultNameSuffix")
	for _, c := range []struct {
		control map[string]any
		name    string
		valid   []string
		invalid []string
	}{
		{control: prefix, name: "namePrefix", valid: n.NamePrefix.Valid, invalid: n.NamePrefix.Invalid},
		{control: suffix, name: "keyVaultNameSuffix", valid: append([]string{""}, n.KeyVaultNameSuffix.Valid...), invalid: n.KeyVaultNameSuffix.Invalid},
	} {
		for _, v := range c.valid {
			if !accepts(t, c.control, c.name, v, map[string]map[string]any{"basics": {c.name: v}}) {
				t.Errorf("the wizard refuses %s %q, which the template takes", c.name, v)
			}
		}
		for _, v := range c.invalid {
			if accepts(t, c.control, c.name, v, map[string]map[string]any{"basics": {c.name: v}}) {
				t.Errorf("the wizard takes %s %q, which the template refuses", c.name, v)
			}
		}
	}
}

// TestWizardVaultSuffix: a Marketplace installation gets a vault name of
// its own unless told the suffix of one to keep, so that a reinstall into
// the same resource group works while the old vault is soft-deleted (the
// template's default suffix, derived from the resource group, is the same
// at every installation there); the suffix it makes is one the template
// takes.
func TestWizardVaultSuffix(t *testing.T) {
	w := loadOfferWizard(t)
	expr := w.Parameters.Outputs["keyVaultNameSuffix"]
	if expr == "" {
		t.Fatal("the wizard passes no keyVaultNameSuffix: every installation into a resource group gets the same vault name")
	}
	made := map[string]bool{}
	for range 3 {
		v, err := offerEval(expr, map[string]map[string]any{"basics": {"keyVaultNameSuffix": ""}})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := v.(string)
		if !regexp.MustCompile(`^[a-z0-9]{1,13}$`).MatchString(s) {
			t.Errorf("the wizard makes the suffix %q; the template takes 1 to 13 letters and digits", s)
		}
		made[s] = true
	}
	if len(made) != 3 {
		t.Errorf("three installations got the suffixes %v: a reinstall would meet the soft-deleted vault's name", made)
	}
	if v, err := offerEval(expr, map[string]map[string]any{"basics": {"keyVaultNameSuffix": "r2"}}); err != nil || v != "r2" {
		t.Errorf("given the suffix r2, the wizard passes %v (%v): an upgrade would not keep the vault", v, err)
	}
}

// TestWizardTrustedProxies: with client certificates forwarded, the wizard
// asks which ingress addresses may forward them (trustedProxyCidrs), which
// docs/installation.md tells the installer to set when the default is
// wrong; it could not be set from the Marketplace at all.
func TestWizardTrustedProxies(t *testing.T) {
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	c := wizardElement(t, ui, "access", "trustedProxyCidrs")
	if c["visible"] != "[not(equals(steps('access').clientCertificateMode, 'ignore'))]" {
		t.Errorf("the control is visible %v; want whenever clientCertificateMode is not ignore", c["visible"])
	}
	var tm template
	load(t, "mainTemplate.json", &tm)
	var def []string
	for _, v := range tm.Parameters["trustedProxyCidrs"].DefaultValue.([]any) {
		def = append(def, v.(string))
	}
	if c["defaultValue"] != strings.Join(def, ",") {
		t.Errorf("the control defaults to %v; the template to %v", c["defaultValue"], def)
	}
	out := ui["parameters"].(map[string]any)["outputs"].(map[string]any)["trustedProxyCidrs"]
	expr, _ := out.(string)
	v, err := offerEval(expr, map[string]map[string]any{"access": {"trustedProxyCidrs": "100.100.0.0/17,10.0.0.0/23"}})
	if err != nil || !slices.Equal(v.([]any), []any{"100.100.0.0/17", "10.0.0.0/23"}) {
		t.Errorf("the wizard's trustedProxyCidrs output gives %v (%v); want the CIDRs as an array", v, err)
	}
	if !accepts(t, c, "trustedProxyCidrs", c["defaultValue"].(string), nil) {
		t.Error("the control refuses its own default")
	}
	for _, bad := range []string{"", "0.0.0.0/0, 10.0.0.0/8", "10.0.0.0"} {
		if accepts(t, c, "trustedProxyCidrs", bad, nil) {
			t.Errorf("the control takes %q", bad)
		}
	}
}

// TestWizardPolicyOperator: the wizard can name who may change the policy
// (Key Vault Secrets Officer on the policy secret), which nobody could do
// after a Marketplace deployment without first granting themselves a Key
// Vault data role; empty grants nobody.
func TestWizardPolicyOperator(t *testing.T) {
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	id := wizardElement(t, ui, "policy", "policyOperatorPrincipalId")
	for v, ok := range map[string]bool{"": true, "f0000000-0000-4000-8000-0000000000f1": true, "someone@contoso.com": false, "f0000000": false} {
		if accepts(t, id, "policyOperatorPrincipalId", v, nil) != ok {
			t.Errorf("the object id control takes %q: %v; want %v", v, !ok, ok)
		}
	}
	typ := wizardElement(t, ui, "policy", "policyOperatorPrincipalType")
	var tm template
	load(t, "mainTemplate.json", &tm)
	var allowed []string
	for _, a := range tm.Parameters["policyOperatorPrincipalType"].AllowedValues {
		allowed = append(allowed, a.(string))
	}
	slices.Sort(allowed)
	if got := allowedValues(typ); !slices.Equal(got, allowed) {
		t.Errorf("the wizard offers principal types %v; the template allows %v", got, allowed)
	}
	outs := ui["parameters"].(map[string]any)["outputs"].(map[string]any)
	for name, want := range map[string]string{
		"policyOperatorPrincipalId":   "[steps('policy').policyOperatorPrincipalId]",
		"policyOperatorPrincipalType": "[steps('policy').policyOperatorPrincipalType]",
	} {
		if outs[name] != want {
			t.Errorf("the wizard's %s output is %v; want %s", name, outs[name], want)
		}
	}
}

// TestNoUsageAttributionDeployment: Partner Center adds the plan's
// customer-usage-attribution id to an Azure Application's template itself,
// and cannot when the template holds a Microsoft.Resources/deployments
// resource of its own ("Azure customer usage attribution", Microsoft
// Learn): the package carries none, and no made-up pid- GUID.
func TestNoUsageAttributionDeployment(t *testing.T) {
	var tm template
	raw := load(t, "mainTemplate.json", &tm)
	for _, r := range tm.Resources {
		if strings.EqualFold(r["type"].(string), "Microsoft.Resources/deployments") {
			t.Errorf("mainTemplate.json deploys %v, a Microsoft.Resources/deployments: Partner Center then cannot add its tracking id", r["name"])
		}
	}
	if strings.Contains(strings.ToLower(raw), "pid-") {
		t.Error("mainTemplate.json holds a pid- tracking id; Partner Center adds the plan's own")
	}
	readme := read(t, "README.md")
	for _, w := range []string{"customer usage attribution", "Partner Center", "Microsoft.Resources/deployments"} {
		if !strings.Contains(readme, w) {
			t.Errorf("marketplace/README.md does not explain usage attribution (%q missing)", w)
		}
	}
}
