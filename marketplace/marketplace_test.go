package marketplace

import (
	"archive/zip"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/policy"
)

type param struct {
	Type          string `json:"type"`
	DefaultValue  any    `json:"defaultValue"`
	AllowedValues []any  `json:"allowedValues"`
}

type template struct {
	Schema          string           `json:"$schema"`
	LanguageVersion *string          `json:"languageVersion"`
	Parameters      map[string]param `json:"parameters"`
	Variables       map[string]any   `json:"variables"`
	Resources       []map[string]any `json:"resources"`
	Outputs         map[string]struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"outputs"`
}

func load(t *testing.T, name string, v any) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(data)
}

// newestStable returns, per resource type, the newest stable API version
// in Azure's type data (deploy/azuretypes/index.json): the Marketplace
// test toolkit's "apiVersions should be recent" fails versions more than
// two years old when a newer one exists.
func newestStable(t *testing.T) map[string]string {
	t.Helper()
	var index map[string]struct {
		NewestStable string `json:"newestStable"`
	}
	load(t, "../deploy/azuretypes/index.json", &index)
	out := map[string]string{}
	for typ, e := range index {
		out[strings.ToLower(typ)] = e.NewestStable
	}
	return out
}

func TestMainTemplate(t *testing.T) {
	var tm template
	raw := load(t, "mainTemplate.json", &tm)
	if tm.Schema != "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#" {
		t.Errorf("$schema %q", tm.Schema)
	}
	// Classic ARM (language version 1.0): resources as an array, no
	// symbolic names.
	if tm.LanguageVersion != nil && *tm.LanguageVersion != "1.0" {
		t.Errorf("languageVersion %q; want the classic language (absent or 1.0)", *tm.LanguageVersion)
	}
	for name, p := range tm.Parameters {
		if strings.Count(raw, "parameters('"+name+"')") == 0 {
			t.Errorf("parameter %s is never used", name)
		}
		if strings.HasPrefix(strings.ToLower(p.Type), "secure") && p.DefaultValue != nil {
			t.Errorf("secure parameter %s has a default", name)
		}
	}
	if d := tm.Parameters["location"].DefaultValue; d != "[resourceGroup().location]" {
		t.Errorf("location defaults to %v; want [resourceGroup().location]", d)
	}
	newest := newestStable(t)
	for _, r := range tm.Resources {
		typ, _ := r["type"].(string)
		ver, _ := r["apiVersion"].(string)
		switch want, ok := newest[strings.ToLower(typ)]; {
		case strings.HasPrefix(typ, "Microsoft.Graph"):
			t.Errorf("%s: Graph resources are not supported in Marketplace deployments", typ)
		case !ok:
			t.Errorf("%s: not in deploy/azuretypes/index.json", typ)
		case ver != want:
			t.Errorf("%s@%s: want the newest stable version, %s", typ, ver, want)
		}
		if loc, ok := r["location"]; ok && loc != "[parameters('location')]" {
			t.Errorf("%s: location %v; want [parameters('location')]", typ, loc)
		}
	}
	// The $schema URL names a host by design; nothing else may.
	body := strings.Replace(raw, tm.Schema, "", 1)
	for _, host := range []string{"login.microsoftonline", "management.azure.com", "vault.azure.net", "graph.microsoft.com", ".windows.net", "azure.us", "chinacloudapi"} {
		if strings.Contains(body, host) {
			t.Errorf("hard-coded cloud host %q: use environment()", host)
		}
	}
	// Outputs that name where a secret is kept, never its value: the
	// vault's name, and the policy secret's URI, built from the vault's
	// URI and never read from the secret itself.
	addresses := map[string]bool{"keyVaultName": true, "policySecretUri": true, "auditCheckpointKeyUri": true}
	for name, o := range tm.Outputs {
		lower := strings.ToLower(name)
		secretName := !addresses[name] && (strings.Contains(lower, "secret") || strings.Contains(lower, "key"))
		if strings.Contains(o.Value, "listKeys") || strings.Contains(o.Value, "listSecrets") || secretName {
			t.Errorf("output %s may carry a secret", name)
		}
		if addresses[name] && (strings.Contains(o.Value, "Microsoft.KeyVault/vaults/secrets") || strings.Contains(o.Value, "parameters('policyYaml')") || strings.Contains(o.Value, "policySecretId")) {
			t.Errorf("output %s reads the secret: %s", name, o.Value)
		}
	}
}

var bicepParam = regexp.MustCompile(`(?m)^param (\w+) `)

// TestBicepParity checks main.bicep and mainTemplate.json declare the same
// parameters (mainTemplate.json is kept by hand beside main.bicep;
// deploy.TestTemplateParity holds the rest of the two together).
func TestBicepParity(t *testing.T) {
	var tm template
	load(t, "mainTemplate.json", &tm)
	b, err := os.ReadFile("../deploy/bicep/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	var bicep, arm []string
	for _, m := range bicepParam.FindAllStringSubmatch(string(b), -1) {
		bicep = append(bicep, m[1])
	}
	for k := range tm.Parameters {
		arm = append(arm, k)
	}
	sort.Strings(bicep)
	sort.Strings(arm)
	if strings.Join(bicep, ",") != strings.Join(arm, ",") {
		t.Errorf("main.bicep parameters %v\nmainTemplate.json parameters %v", bicep, arm)
	}
}

type element struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Constraints json.RawMessage `json:"constraints"`
}

type uiDef struct {
	Handler    string `json:"handler"`
	Version    string `json:"version"`
	Parameters struct {
		Basics []element `json:"basics"`
		Steps  []struct {
			Name     string    `json:"name"`
			Elements []element `json:"elements"`
		} `json:"steps"`
		Outputs map[string]string `json:"outputs"`
	} `json:"parameters"`
}

func TestCreateUiDefinition(t *testing.T) {
	var ui uiDef
	load(t, "createUiDefinition.json", &ui)
	var tm template
	load(t, "mainTemplate.json", &tm)
	if ui.Handler != "Microsoft.Azure.CreateUIDef" || ui.Version != "0.1.2-preview" {
		t.Errorf("handler %q version %q", ui.Handler, ui.Version)
	}
	controls := map[string]element{}
	for _, e := range ui.Parameters.Basics {
		controls["basics('"+e.Name+"')"] = e
	}
	for _, s := range ui.Parameters.Steps {
		for _, e := range s.Elements {
			controls["steps('"+s.Name+"')."+e.Name] = e
		}
	}
	for name, expr := range ui.Parameters.Outputs {
		if _, ok := tm.Parameters[name]; !ok {
			t.Errorf("output %s is not a template parameter", name)
		}
		for _, ref := range regexp.MustCompile(`(basics\('\w+'\)|steps\('\w+'\)\.\w+)`).FindAllString(expr, -1) {
			if _, ok := controls[ref]; !ok {
				t.Errorf("output %s refers to %s, which is no control", name, ref)
			}
		}
	}
	if ui.Parameters.Outputs["location"] != "[location()]" {
		t.Errorf("location output %q; want [location()]", ui.Parameters.Outputs["location"])
	}
	for name, p := range tm.Parameters {
		if _, ok := ui.Parameters.Outputs[name]; p.DefaultValue == nil && !ok {
			t.Errorf("template parameter %s has no default and no output", name)
		}
	}
	sawGroups := false
	for ref, e := range controls {
		var c struct {
			Regex             string `json:"regex"`
			ValidationMessage string `json:"validationMessage"`
			AllowedValues     any    `json:"allowedValues"`
			// validations is the form Microsoft documents today
			// ("Microsoft.Common.TextBox UI element"): several checks,
			// each a regex or an isValid expression, with a message.
			Validations []struct {
				Regex   string `json:"regex"`
				IsValid string `json:"isValid"`
				Message string `json:"message"`
			} `json:"validations"`
		}
		json.Unmarshal(e.Constraints, &c)
		switch e.Type {
		case "Microsoft.Common.TextBox":
			if len(c.Validations) > 0 {
				if c.Regex != "" {
					t.Errorf("text box %s has both regex and validations", ref)
				}
				for i, v := range c.Validations {
					if v.Message == "" || (v.Regex == "") == (v.IsValid == "") {
						t.Errorf("text box %s: validation %d wants a message and one of regex and isValid", ref, i)
					}
					if _, err := regexp.Compile(v.Regex); err != nil {
						t.Errorf("text box %s: %v", ref, err)
					}
				}
				continue
			}
			if c.Regex == "" || c.ValidationMessage == "" {
				t.Errorf("text box %s has no validation and message", ref)
			}
			if _, err := regexp.Compile(c.Regex); err != nil {
				t.Errorf("text box %s: %v", ref, err)
			}
		case "Microsoft.Common.DropDown", "Microsoft.Common.OptionsGroup":
			list, ok := c.AllowedValues.([]any)
			if !ok {
				continue // computed (the group picker)
			}
			for name, expr := range ui.Parameters.Outputs {
				if expr != "["+ref+"]" {
					continue
				}
				allowed := tm.Parameters[name].AllowedValues
				for _, v := range list {
					val := v.(map[string]any)["value"]
					if len(allowed) > 0 && !slices.Contains(allowed, val) {
						t.Errorf("%s offers %v, which parameter %s does not allow", ref, val, name)
					}
				}
			}
		case "Microsoft.Solutions.GraphApiControl":
			sawGroups = true
		}
	}
	if !sawGroups {
		t.Error("no security-group picker (Microsoft.Solutions.GraphApiControl)")
	}
}

// TestEmbeddedPolicy checks the policy the wizard offers loads once the
// installer's answers are put in.
func TestEmbeddedPolicy(t *testing.T) {
	var ui uiDef
	load(t, "createUiDefinition.json", &ui)
	expr := ui.Parameters.Outputs["policyYaml"]
	m := regexp.MustCompile(`replace\(replace\(replace\('((?:[^']|'')*)'`).FindStringSubmatch(expr)
	if m == nil {
		t.Fatal("no embedded policy")
	}
	yaml := strings.NewReplacer("''", "'", "__VENDOR_TENANT__", "d2b6628f-0000-4000-8000-000000000002",
		"__VENDOR_APP__", "e0000000-0000-4000-8000-0000000000e1", "__GROUP__", "90000000-0000-4000-8000-000000000001").Replace(m[1])
	if _, err := policy.Parse("embedded.yaml", []byte(yaml)); err != nil {
		t.Errorf("the wizard's policy does not load: %v", err)
	}
}

func TestPack(t *testing.T) {
	out := filepath.Join(t.TempDir(), "app.zip")
	if err := Pack(".", out); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != strings.Join(Files, ",") {
		t.Errorf("app.zip holds %v; want %v at its root", names, Files)
	}
}

// TestTrustedProxies: like main.bicep, the template tells the proxy which
// peers may forward a client certificate whenever the ingress forwards
// one (clientCertificateMode accept or require), with the same default.
func TestTrustedProxies(t *testing.T) {
	var tm template
	raw := load(t, "mainTemplate.json", &tm)
	p, ok := tm.Parameters["trustedProxyCidrs"]
	if !ok || p.Type != "array" {
		t.Fatalf("no array parameter trustedProxyCidrs: %+v", p)
	}
	var got []string
	for _, v := range p.DefaultValue.([]any) {
		got = append(got, v.(string))
	}
	b, err := os.ReadFile("../deploy/bicep/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nparam trustedProxyCidrs array = \[(.*?)\]`).FindSubmatch(b)
	if m == nil {
		t.Fatal("main.bicep: no parameter trustedProxyCidrs with a default")
	}
	var want []string
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllSubmatch(m[1], -1) {
		want = append(want, string(q[1]))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("trustedProxyCidrs defaults to %v; main.bicep to %v", got, want)
	}
	for _, c := range got {
		if _, err := netip.ParsePrefix(c); err != nil {
			t.Errorf("trustedProxyCidrs default %q: %v", c, err)
		}
	}

	// The variables set only when certificates are forwarded.
	const cond = "if(not(equals(parameters('clientCertificateMode'), 'ignore')), createArray("
	i := strings.Index(raw, cond)
	if i < 0 {
		t.Fatal("no environment variables set only when clientCertificateMode is accept or require")
	}
	block := raw[i+len(cond):]
	block = block[:strings.Index(block, "), createArray())")]
	for _, want := range []string{
		"createObject('name', 'GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER', 'value', 'X-Forwarded-Client-Cert')",
		"createObject('name', 'GRAPH_PROXY_INBOUND_TRUSTEDPROXIES', 'value', join(parameters('trustedProxyCidrs'), ','))",
	} {
		if !strings.Contains(block, want) {
			t.Errorf("with client certificates forwarded, the template does not set %s", want)
		}
	}
	if strings.Count(raw, "GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER") != 1 {
		t.Error("GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER is set outside the client-certificate branch")
	}
}

// wizardElement returns the wizard's control named name in step, as raw
// JSON.
func wizardElement(t *testing.T, ui map[string]any, step, name string) map[string]any {
	t.Helper()
	params := ui["parameters"].(map[string]any)
	for _, st := range params["steps"].([]any) {
		sm := st.(map[string]any)
		if sm["name"] != step {
			continue
		}
		for _, e := range sm["elements"].([]any) {
			if em := e.(map[string]any); em["name"] == name {
				return em
			}
		}
	}
	t.Fatalf("createUiDefinition.json: no control %s in step %s", name, step)
	return nil
}

func allowedValues(c map[string]any) []string {
	var out []string
	for _, v := range c["constraints"].(map[string]any)["allowedValues"].([]any) {
		out = append(out, v.(map[string]any)["value"].(string))
	}
	sort.Strings(out)
	return out
}

// TestGraphCloudChoice: the wizard and the template offer every Graph
// cloud graph-proxy knows (graph.cloud), US Gov DoD included, and "auto"
// (the Azure cloud deployed to), and the wizard passes the choice on.
func TestGraphCloudChoice(t *testing.T) {
	want := []string{"auto"}
	for name := range config.Clouds {
		want = append(want, name)
	}
	sort.Strings(want)
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	c := wizardElement(t, ui, "identity", "graphCloud")
	if got := allowedValues(c); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the wizard offers the Graph clouds %v; want %v", got, want)
	}
	var tm template
	load(t, "mainTemplate.json", &tm)
	var got []string
	for _, v := range tm.Parameters["graphCloud"].AllowedValues {
		got = append(got, v.(string))
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("mainTemplate.json allows the Graph clouds %v; want %v", got, want)
	}
	if out := ui["parameters"].(map[string]any)["outputs"].(map[string]any)["graphCloud"]; out != "[steps('identity').graphCloud]" {
		t.Errorf("the wizard's graphCloud output is %v", out)
	}
}

// TestNoDeploymentMode: deploymentMode changed nothing and is gone from the
// template and the wizard alike (the app registration, the customer's or
// the vendor's, is appClientId).
func TestNoDeploymentMode(t *testing.T) {
	for _, name := range []string{"mainTemplate.json", "createUiDefinition.json"} {
		if strings.Contains(read(t, name), "deploymentMode") {
			t.Errorf("%s still mentions deploymentMode", name)
		}
	}
}

// TestClientCAControl: the wizard asks for the vendor CAs exactly when the
// ingress forwards client certificates, requires a PEM certificate there
// (the marker mainTemplate.json's guard looks for), and passes an empty
// bundle otherwise.
func TestClientCAControl(t *testing.T) {
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	c := wizardElement(t, ui, "access", "vendorClientCaPem")
	if c["visible"] != "[not(equals(steps('access').clientCertificateMode, 'ignore'))]" {
		t.Errorf("the CA control is visible %v; want whenever clientCertificateMode is not ignore", c["visible"])
	}
	cons := c["constraints"].(map[string]any)
	if cons["required"] != true {
		t.Error("the CA control is not required")
	}
	re, err := regexp.Compile(cons["regex"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for pem, ok := range map[string]bool{"": false, "  ": false, "not a certificate": false,
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n": true} {
		if re.MatchString(pem) != ok {
			t.Errorf("the CA control takes %q: %v; want %v", pem, !ok, ok)
		}
	}
	if !strings.Contains(cons["regex"].(string), "-----BEGIN CERTIFICATE-----") {
		t.Error("the CA control does not look for -----BEGIN CERTIFICATE-----, the marker the template's guard requires")
	}
	if !strings.Contains(read(t, "mainTemplate.json"), "contains(parameters('vendorClientCaPem'), '-----BEGIN CERTIFICATE-----')") {
		t.Error("mainTemplate.json does not guard vendorClientCaPem")
	}
	out := ui["parameters"].(map[string]any)["outputs"].(map[string]any)["vendorClientCaPem"]
	if out != "[if(equals(steps('access').clientCertificateMode, 'ignore'), '', steps('access').vendorClientCaPem)]" {
		t.Errorf("the wizard's vendorClientCaPem output is %v", out)
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPolicyFirstVersion: the wizard's policy is the first version of the
// policy's Key Vault secret. The template writes the secret only when
// policyYaml is given (a redeployment without it keeps the versions an
// operator applied since), so the wizard must always give one: the example
// policy, or the custom text box, which is required. The proxy is pointed
// at the secret, not at a file in a Container Apps secret, which a running
// revision never sees change.
func TestPolicyFirstVersion(t *testing.T) {
	var tm template
	raw := load(t, "mainTemplate.json", &tm)
	if d := tm.Parameters["policyYaml"].DefaultValue; d != "" {
		t.Errorf("policyYaml defaults to %#v; want empty", d)
	}
	var secret map[string]any
	for _, r := range tm.Resources {
		switch r["type"] {
		case "Microsoft.KeyVault/vaults/secrets":
			secret = r
		case "Microsoft.KeyVault/vaults":
			if c, ok := r["condition"]; ok {
				t.Errorf("the vault is deployed only if %v: the policy lives in it in every mode", c)
			}
		}
	}
	if secret == nil {
		t.Fatal("mainTemplate.json writes no Key Vault secret for the policy")
	}
	if c := secret["condition"]; c != "[not(empty(parameters('policyYaml')))]" {
		t.Errorf("the policy secret is written under condition %v; want only when policyYaml is given", c)
	}
	if v := secret["properties"].(map[string]any)["value"]; v != "[parameters('policyYaml')]" {
		t.Errorf("the policy secret holds %v; want policyYaml", v)
	}
	if !strings.Contains(raw, "'GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI'") || strings.Contains(raw, "GRAPH_PROXY_POLICY_FILE") {
		t.Error("mainTemplate.json does not point the proxy at the policy secret alone")
	}
	if strings.Contains(raw, "createObject('name', 'policy'") {
		t.Error("mainTemplate.json still keeps the policy in a Container Apps secret")
	}

	w := loadOfferWizard(t)
	custom := w.control(t, "policy", "customPolicy")
	var cons struct {
		Required bool `json:"required"`
	}
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	b, _ := json.Marshal(wizardElement(t, ui, "policy", "customPolicy")["constraints"])
	json.Unmarshal(b, &cons)
	if !cons.Required || custom.Constraints.Regex == "" {
		t.Error("the wizard's custom policy box is not required: a Marketplace deployment could store no first version")
	}
	out := w.Parameters.Outputs["policyYaml"]
	if !strings.HasPrefix(out, "[if(equals(steps('policy').policyChoice, 'custom'), steps('policy').customPolicy, replace(") {
		t.Errorf("the wizard's policyYaml output is not the custom box or the example policy: %.120s", out)
	}
	info := wizardElement(t, ui, "policy", "policyInfo")["options"].(map[string]any)["text"].(string)
	for _, want := range []string{"Key Vault", "graph-proxy-policy", "new version"} {
		if !strings.Contains(info, want) {
			t.Errorf("the wizard does not say the policy is changed as a new version of its Key Vault secret (%q missing)", want)
		}
	}
}
