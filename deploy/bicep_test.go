package deploy

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

func bicepFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, pat := range []string{"bicep/*.bicep", "bicep/modules/*.bicep"} {
		names, _ := filepath.Glob(pat)
		for _, n := range names {
			files[n] = read(t, n)
		}
	}
	if len(files) < 5 {
		t.Fatalf("found %d Bicep files", len(files))
	}
	return files
}

// TestAuditTableColumns checks the custom table and the DCR stream carry
// exactly the audit record's fields (and TimeGenerated).
func TestAuditTableColumns(t *testing.T) {
	var cols []struct{ Name, Type string }
	if err := json.Unmarshal([]byte(read(t, "bicep/modules/audit-columns.json")), &cols); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cols {
		got = append(got, c.Name)
	}
	want := []string{"TimeGenerated"}
	rt := reflect.TypeOf(auditlog.Record{})
	for i := 0; i < rt.NumField(); i++ {
		want = append(want, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	// and the line itself, which the sink sends beside the fields.
	want = append(want, auditlog.RawRecordColumn)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("table columns\n  %v\nwant the audit record's fields and %s\n  %v", got, auditlog.RawRecordColumn, want)
	}
}

var (
	resourceRe = regexp.MustCompile(`(?m)^resource \w+ '([\w./]+)@([\w-]+)'`)
	paramRe    = regexp.MustCompile(`(?m)^param (\w+) (\w+)`)
)

// TestBicep checks what the type data cannot: no Graph resources, no
// hard-coded cloud hosts or locations, no secrets in outputs, and the
// parameters and settings graph-proxy depends on. (TestAPIVersionsNewest
// and TestBicepTypes check the API versions and properties.)
func TestBicep(t *testing.T) {
	td := loadTypeData(t)
	for name, text := range bicepFiles(t) {
		for _, m := range resourceRe.FindAllStringSubmatch(text, -1) {
			typ := m[1]
			if _, ok := td.newest(typ); strings.HasPrefix(typ, "Microsoft.Graph") {
				t.Errorf("%s: %s: Graph resources cannot be deployed from the Marketplace; grant with scripts/Grant-GraphPermissions.ps1", name, typ)
			} else if !ok {
				t.Errorf("%s: %s: not in deploy/azuretypes/index.json", name, typ)
			}
		}
		for _, host := range []string{"login.microsoftonline", "management.azure.com", "vault.azure.net", "graph.microsoft.com", ".windows.net", "azure.us", "chinacloudapi"} {
			if strings.Contains(text, host) {
				t.Errorf("%s: hard-coded cloud host %q; use environment()", name, host)
			}
		}
		if regexp.MustCompile(`location:\s*'`).MatchString(text) {
			t.Errorf("%s: a literal location", name)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "output ") && (strings.Contains(line, "listKeys") || strings.Contains(strings.ToLower(line), "secret ") || strings.Contains(line, "sharedKey")) {
				t.Errorf("%s: an output may carry a secret: %s", name, line)
			}
		}
	}
	main := read(t, "bicep/main.bicep")
	if !strings.Contains(main, "param location string = resourceGroup().location") {
		t.Error("main.bicep: location must default to resourceGroup().location")
	}
	params := map[string]bool{}
	for _, m := range paramRe.FindAllStringSubmatch(main, -1) {
		params[m[1]] = true
		if strings.Count(main, m[1]) < 2 {
			t.Errorf("main.bicep: parameter %s is never used", m[1])
		}
	}
	for _, p := range []string{"upstreamMode", "graphCloud", "vendorCidrs", "clientCertificateMode", "policyYaml", "containerImage", "keyVaultNameSuffix"} {
		if !params[p] {
			t.Errorf("main.bicep lacks parameter %s", p)
		}
	}
	for _, mode := range []string{"'managedIdentity'", "'keyVaultSecret'", "'keyVaultCertificate'", "'federated'", "'usgovdod'"} {
		if !strings.Contains(main, mode) {
			t.Errorf("main.bicep does not allow %s", mode)
		}
	}
	app := read(t, "bicep/modules/containerapp.bicep")
	for _, want := range []string{"ipSecurityRestrictions", "clientCertificateMode", "'/healthz'", "'/readyz'", "type: 'Startup'", "storageType: 'Secret'", "concurrentRequests", "'UserAssigned'"} {
		if !strings.Contains(app, want) {
			t.Errorf("containerapp.bicep lacks %s", want)
		}
	}
	kv := read(t, "bicep/modules/keyvault.bicep")
	for _, want := range []string{"enableRbacAuthorization: true", "enableSoftDelete: true", "enablePurgeProtection: true", "4633458b-17de-408a-b874-0445c86b69e6"} {
		if !strings.Contains(kv, want) {
			t.Errorf("keyvault.bicep lacks %s", want)
		}
	}
}

// TestBicepEnvKeys checks that every GRAPH_PROXY_* variable the templates
// set is one graph-proxy reads.
func TestBicepEnvKeys(t *testing.T) {
	known := map[string]bool{}
	out, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("`(GRAPH_PROXY_[A-Z_]+)`").FindAllStringSubmatch(string(out), -1) {
		known[m[1]] = true
	}
	for name, text := range bicepFiles(t) {
		for _, m := range regexp.MustCompile(`'(GRAPH_PROXY_[A-Z_]+)'`).FindAllStringSubmatch(text, -1) {
			if !known[m[1]] {
				t.Errorf("%s sets %s, which graph-proxy does not read", name, m[1])
			}
		}
	}
}

// TestScripts checks the operator scripts validate their parameters and
// support -WhatIf before they change anything.
func TestScripts(t *testing.T) {
	names, _ := filepath.Glob("../scripts/*.ps1")
	want := []string{"Grant-GraphPermissions.ps1", "Add-Teams-Access-Policy.ps1", "Move-GraphProxyTenant.ps1"}
	for _, w := range want {
		if !slices.Contains(names, "../scripts/"+w) {
			t.Errorf("scripts/%s is missing", w)
		}
	}
	guid := `[ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]`
	for _, n := range names {
		s := read(t, n)
		for _, w := range []string{"[CmdletBinding(SupportsShouldProcess = $true", "$PSCmdlet.ShouldProcess", "$ErrorActionPreference = 'Stop'", ".SYNOPSIS"} {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %s", n, w)
			}
		}
		if !strings.Contains(s, guid) && !strings.Contains(s, "([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$") {
			t.Errorf("%s validates no GUID parameter", n)
		}
	}
	teams := read(t, "../scripts/Add-Teams-Access-Policy.ps1")
	for _, w := range []string{"New-CsApplicationAccessPolicy", "Set-CsApplicationAccessPolicy -Identity $PolicyName -AppIds @{ Add = $AppId }", "Grant-CsApplicationAccessPolicy -PolicyName $PolicyName -Group $GroupId"} {
		if !strings.Contains(teams, w) {
			t.Errorf("Add-Teams-Access-Policy.ps1 lacks %s", w)
		}
	}
}

// TestBicepTrustedProxies: when the ingress forwards client certificates
// (clientCertificateMode accept or require), the proxy is also told which
// peers may forward them: it refuses the header from any other.
func TestBicepTrustedProxies(t *testing.T) {
	main := read(t, "bicep/main.bicep")
	m := regexp.MustCompile(`(?s)\nvar mtlsEnv = clientCertificateMode != 'ignore' \? \[(.*?)\n\] : \[\]`).FindStringSubmatch(main)
	if m == nil {
		t.Fatal("main.bicep: no mtlsEnv set only when clientCertificateMode is accept or require")
	}
	for _, want := range []string{
		"name: 'GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER'",
		"name: 'GRAPH_PROXY_INBOUND_TRUSTEDPROXIES'\n    value: join(trustedProxyCidrs, ',')",
	} {
		if !strings.Contains(m[1], want) {
			t.Errorf("main.bicep: mtlsEnv lacks %s", want)
		}
	}
	for name, text := range bicepFiles(t) {
		if strings.Contains(text, "GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER") && !strings.Contains(text, "GRAPH_PROXY_INBOUND_TRUSTEDPROXIES") {
			t.Errorf("%s forwards client certificates without setting GRAPH_PROXY_INBOUND_TRUSTEDPROXIES", name)
		}
	}
	cidrs := trustedProxyDefault(t, main)
	if len(cidrs) == 0 {
		t.Fatal("main.bicep: trustedProxyCidrs has no default")
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			t.Errorf("trustedProxyCidrs default %q: %v", c, err)
		case p.Bits() < 8:
			t.Errorf("trustedProxyCidrs default %q would believe a forwarded certificate from almost anyone", c)
		}
	}
}

// trustedProxyDefault returns the default of main.bicep's trustedProxyCidrs
// (marketplace.TestTrustedProxies checks mainTemplate.json has the same).
func trustedProxyDefault(t *testing.T, main string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)\nparam trustedProxyCidrs array = \[(.*?)\]`).FindStringSubmatch(main)
	if m == nil {
		t.Fatal("main.bicep: no parameter trustedProxyCidrs with a default")
	}
	var out []string
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1])
	}
	return out
}
