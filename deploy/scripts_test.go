package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/policy"
)

// The operator scripts cannot run here (no PowerShell, no Azure), so what
// they call is checked against what its documentation says it takes: every
// cmdlet and Azure CLI command a script uses, with every parameter it
// passes, must be in these tables, each with the reference page its
// parameter sets were read from. A cmdlet or parameter that does not exist
// (Update-AzContainerApp -IdentityType: the current Az.App takes
// -UserAssignedIdentity and -EnableSystemAssignedIdentity instead) fails
// the test; so does an entry no script uses any more.

// cmdDoc is a command's parameters as its reference documents them: those
// the scripts use.
type cmdDoc struct {
	params []string
	source string
}

const (
	learnPSCore    = "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/"
	learnPSUtility = "https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/"
	learnPSMgmt    = "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/"
	learnMgApps    = "https://learn.microsoft.com/powershell/module/microsoft.graph.applications/"
	learnTeams     = "https://learn.microsoft.com/powershell/module/microsoftteams/"
	learnCLI       = "https://learn.microsoft.com/cli/azure/"
)

// cmdlets are the PowerShell cmdlets the scripts call (in code, and in the
// advice their messages give). WhatIf and Confirm are listed where the
// cmdlet has them; the other common parameters are allowed everywhere.
var cmdlets = map[string]cmdDoc{
	"ConvertFrom-Json": {source: learnPSUtility + "convertfrom-json"},
	"Get-Command":      {source: learnPSCore + "get-command", params: []string{"Name"}},
	"Get-Content":      {source: learnPSMgmt + "get-content", params: []string{"LiteralPath", "Raw"}},
	"Get-Date":         {source: learnPSUtility + "get-date"},
	"ForEach-Object":   {source: learnPSCore + "foreach-object"},
	"Get-Module":       {source: learnPSCore + "get-module", params: []string{"ListAvailable", "Name"}},
	"Import-Module":    {source: learnPSCore + "import-module", params: []string{"Name"}},
	"Install-Module":   {source: "https://learn.microsoft.com/powershell/module/powershellget/install-module", params: []string{"Scope"}},
	"Join-Path":        {source: learnPSMgmt + "join-path", params: []string{"Path", "ChildPath"}},
	"Out-Null":         {source: learnPSCore + "out-null"},
	"Select-Object":    {source: learnPSUtility + "select-object", params: []string{"Last"}},
	"Set-StrictMode":   {source: learnPSCore + "set-strictmode", params: []string{"Version"}},
	"Sort-Object":      {source: learnPSUtility + "sort-object", params: []string{"Property", "Unique"}},
	"Start-Sleep":      {source: learnPSUtility + "start-sleep", params: []string{"Seconds"}},
	"Test-Path":        {source: learnPSMgmt + "test-path", params: []string{"LiteralPath", "PathType"}},
	"Where-Object":     {source: learnPSCore + "where-object"},
	"Write-Host":       {source: learnPSUtility + "write-host"},
	"Write-Warning":    {source: learnPSUtility + "write-warning"},

	// Microsoft Graph PowerShell SDK v2.
	"Connect-MgGraph":                            {source: "https://learn.microsoft.com/powershell/module/microsoft.graph.authentication/connect-mggraph", params: []string{"Scopes", "TenantId", "NoWelcome"}},
	"Get-MgGroup":                                {source: "https://learn.microsoft.com/powershell/module/microsoft.graph.groups/get-mggroup", params: []string{"GroupId"}},
	"Get-MgServicePrincipal":                     {source: learnMgApps + "get-mgserviceprincipal", params: []string{"ServicePrincipalId", "Filter"}},
	"Get-MgServicePrincipalAppRoleAssignment":    {source: learnMgApps + "get-mgserviceprincipalapproleassignment", params: []string{"ServicePrincipalId", "All"}},
	"New-MgServicePrincipalAppRoleAssignment":    {source: learnMgApps + "new-mgserviceprincipalapproleassignment", params: []string{"ServicePrincipalId", "PrincipalId", "ResourceId", "AppRoleId"}},
	"Remove-MgServicePrincipalAppRoleAssignment": {source: learnMgApps + "remove-mgserviceprincipalapproleassignment", params: []string{"ServicePrincipalId", "AppRoleAssignmentId"}},

	// MicrosoftTeams. Grant-CsApplicationAccessPolicy's GrantToGroup set is
	// -Group [-Rank] [-PolicyName].
	"Connect-MicrosoftTeams":          {source: learnTeams + "connect-microsoftteams", params: []string{"TenantId"}},
	"Get-CsApplicationAccessPolicy":   {source: learnTeams + "get-csapplicationaccesspolicy", params: []string{"Identity"}},
	"New-CsApplicationAccessPolicy":   {source: learnTeams + "new-csapplicationaccesspolicy", params: []string{"Identity", "AppIds", "Description"}},
	"Set-CsApplicationAccessPolicy":   {source: learnTeams + "set-csapplicationaccesspolicy", params: []string{"Identity", "AppIds"}},
	"Get-CsGroupPolicyAssignment":     {source: learnTeams + "get-csgrouppolicyassignment", params: []string{"GroupId", "PolicyType"}},
	"Grant-CsApplicationAccessPolicy": {source: learnTeams + "grant-csapplicationaccesspolicy", params: []string{"PolicyName", "Group", "Rank"}},
}

// commonParams are PowerShell's common parameters, which every cmdlet and
// advanced function takes (about_CommonParameters).
var commonParams = []string{"Debug", "ErrorAction", "ErrorVariable", "InformationAction", "InformationVariable",
	"OutBuffer", "OutVariable", "PipelineVariable", "ProgressAction", "Verbose", "WarningAction", "WarningVariable"}

// azCommands are the Azure CLI commands the scripts run or tell the
// operator to run (core commands, no extension), with the options they
// pass besides the global ones.
var azCommands = map[string]cmdDoc{
	"login":                        {source: learnCLI + "reference-index#az-login", params: []string{"--tenant"}},
	"account show":                 {source: learnCLI + "account#az-account-show"},
	"group show":                   {source: learnCLI + "group#az-group-show", params: []string{"--name"}},
	"deployment group list":        {source: learnCLI + "deployment/group#az-deployment-group-list", params: []string{"--resource-group"}},
	"deployment group show":        {source: learnCLI + "deployment/group#az-deployment-group-show", params: []string{"--resource-group", "--name"}},
	"containerapp show":            {source: learnCLI + "containerapp#az-containerapp-show", params: []string{"--resource-group", "--name"}},
	"containerapp update":          {source: learnCLI + "containerapp#az-containerapp-update", params: []string{"--resource-group", "--name", "--set-env-vars"}},
	"containerapp exec":            {source: learnCLI + "containerapp#az-containerapp-exec", params: []string{"--resource-group", "-g", "--name", "-n", "--revision", "--command"}},
	"containerapp identity assign": {source: learnCLI + "containerapp/identity#az-containerapp-identity-assign", params: []string{"--resource-group", "--name", "--user-assigned"}},
	"containerapp identity remove": {source: learnCLI + "containerapp/identity#az-containerapp-identity-remove", params: []string{"--resource-group", "--name", "--user-assigned"}},
	"containerapp revision show":   {source: learnCLI + "containerapp/revision#az-containerapp-revision-show", params: []string{"--resource-group", "--name", "--revision"}},
	"containerapp logs show":       {source: learnCLI + "containerapp/logs#az-containerapp-logs-show", params: []string{"-g", "-n", "--revision", "--type"}},
	"identity list":                {source: learnCLI + "identity#az-identity-list", params: []string{"--resource-group"}},
	"identity create":              {source: learnCLI + "identity#az-identity-create", params: []string{"--resource-group", "--name", "--location"}},
	"identity delete":              {source: learnCLI + "identity#az-identity-delete", params: []string{"--ids"}},
	"keyvault list":                {source: learnCLI + "keyvault#az-keyvault-list", params: []string{"--resource-group"}},
	// --vault-name, --name (-n), --version (-v) or --id: azure-cli's
	// keyvault/_params.py, region "KeyVault Secret track2"; with
	// --query value, the newest version's value.
	"keyvault secret show":   {source: learnCLI + "keyvault/secret#az-keyvault-secret-show", params: []string{"--vault-name", "--name"}},
	"keyvault update":        {source: learnCLI + "keyvault#az-keyvault-update", params: []string{"--resource-group", "--name", "--set"}},
	"resource list":          {source: learnCLI + "resource#az-resource-list", params: []string{"--resource-group", "--resource-type"}},
	"role assignment list":   {source: learnCLI + "role/assignment#az-role-assignment-list", params: []string{"--scope"}},
	"role assignment create": {source: learnCLI + "role/assignment#az-role-assignment-create", params: []string{"--assignee-object-id", "--assignee-principal-type", "--role", "--scope"}},
	"ad sp show":             {source: learnCLI + "ad/sp#az-ad-sp-show", params: []string{"--id"}},
}

// azGlobal are the Azure CLI's global options (any command).
var azGlobal = []string{"--query", "--output", "-o", "--only-show-errors", "--subscription", "--debug", "--verbose", "--help", "-h"}

// A psToken is a word, a string, a bracket or a statement separator of a
// PowerShell script, at its bracket depth.
type psToken struct {
	kind  byte // 'w' word, 's' string, '(' opening, ')' closing, ';' end of statement, '&' call
	text  string
	depth int
	line  int
}

// lexPS splits PowerShell source into tokens: enough of the language to
// find commands and their parameters, not a parser. Comments are dropped;
// double-quoted strings are lexed again (subexpressions, and the commands
// that messages tell the operator to run) and their tokens follow the
// string's, one level deeper, ended by a ';'.
func lexPS(src string, line, depth int) []psToken {
	var out []psToken
	emit := func(kind byte, text string) {
		out = append(out, psToken{kind: kind, text: text, depth: depth, line: line})
	}
	isWordEnd := func(c byte) bool { return strings.IndexByte(" \t\r\n(){}[];|,\"'", c) >= 0 }
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			emit(';', "\n")
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '`' && i+1 < len(src) && (src[i+1] == '\n' || src[i+1] == '\r'):
			// Line continuation.
			i = strings.IndexByte(src[i:], '\n') + i + 1
			line++
		case strings.HasPrefix(src[i:], "<#"):
			end := strings.Index(src[i:], "#>")
			if end < 0 {
				end = len(src) - i - 2
			}
			line += strings.Count(src[i:i+end], "\n")
			i += end + 2
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '\'':
			j := i + 1
			for j < len(src) && (src[j] != '\'' || j+1 < len(src) && src[j+1] == '\'') {
				if src[j] == '\'' {
					j++
				}
				j++
			}
			emit('s', strings.ReplaceAll(src[i+1:min(j, len(src))], "''", "'"))
			line += strings.Count(src[i:min(j, len(src))], "\n")
			i = j + 1
		case c == '"':
			j, paren := i+1, 0
			for j < len(src) && (src[j] != '"' || paren > 0) {
				switch {
				case src[j] == '`':
					j++
				case strings.HasPrefix(src[j:], "$("):
					paren++
					j++
				case src[j] == '(' && paren > 0:
					paren++
				case src[j] == ')' && paren > 0:
					paren--
				}
				j++
			}
			body := src[i+1 : min(j, len(src))]
			emit('s', body)
			out = append(out, lexPS(body, line, depth+1)...)
			out = append(out, psToken{kind: ';', text: `"`, depth: depth + 1, line: line})
			line += strings.Count(body, "\n")
			i = j + 1
		case c == ';' || c == '|':
			emit(';', string(c))
			i++
		case c == '&' && (i+1 == len(src) || src[i+1] != '&'):
			emit('&', "&")
			i++
		case c == '(' || c == '{' || c == '[':
			emit('(', string(c))
			depth++
			i++
		case c == ')' || c == '}' || c == ']':
			depth--
			emit(')', string(c))
			i++
		case c == ',':
			i++
		default:
			j := i
			for j < len(src) && !isWordEnd(src[j]) {
				if src[j] == '`' {
					j++
				}
				j++
			}
			word := src[i:min(j, len(src))]
			// @( @{ $( open a group: the sigil is not a word.
			if (word == "@" || word == "$") && j < len(src) && (src[j] == '(' || src[j] == '{') {
				i = j
				continue
			}
			emit('w', word)
			i = j
		}
	}
	return out
}

var (
	cmdletName = regexp.MustCompile(`^[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]*$`)
	psParam    = regexp.MustCompile(`^-([A-Za-z][A-Za-z0-9]*)(:.*)?$`)
	azWord     = regexp.MustCompile(`^[a-z][a-z-]*$`)
	azOption   = regexp.MustCompile(`^--?[a-z][a-z-]*$`)
)

// args returns the words of the statement that toks[i] starts, at its
// depth: it ends at a separator of that depth or a bracket closing it.
func statementArgs(toks []psToken, i int) []psToken {
	var out []psToken
	d := toks[i].depth
	for _, t := range toks[i+1:] {
		if t.depth < d || t.kind == ';' && t.depth == d {
			break
		}
		if t.depth == d {
			out = append(out, t)
		}
	}
	return out
}

// A scriptCall is one command a script runs (or tells the operator to
// run), with the parameters it passes.
type scriptCall struct {
	script, command string
	line            int
	params          []string
}

// scriptCalls returns the cmdlets, the Azure CLI commands and the sibling
// scripts a script calls. Functions the script defines are not cmdlets.
func scriptCalls(t *testing.T, name, src string) (ps, az, scripts []scriptCall) {
	t.Helper()
	toks := lexPS(src, 1, 0)
	defined := map[string]bool{}
	for i, tk := range toks {
		if tk.kind == 'w' && strings.EqualFold(tk.text, "function") && i+1 < len(toks) {
			defined[toks[i+1].text] = true
		}
	}
	for i, tk := range toks {
		switch {
		case tk.kind == 'w' && cmdletName.MatchString(tk.text) && !defined[tk.text] && (i == 0 || toks[i-1].text != "function"):
			c := scriptCall{script: name, command: tk.text, line: tk.line}
			for _, a := range statementArgs(toks, i) {
				if m := psParam.FindStringSubmatch(a.text); a.kind == 'w' && m != nil {
					c.params = append(c.params, m[1])
				}
			}
			ps = append(ps, c)
		case tk.kind == 'w' && tk.text == "az":
			c := scriptCall{script: name, line: tk.line}
			var path []string
			for _, a := range statementArgs(toks, i) {
				switch {
				case a.kind == 'w' && azOption.MatchString(a.text):
					c.params = append(c.params, a.text)
				case len(c.params) == 0 && a.kind == 'w' && azWord.MatchString(a.text):
					path = append(path, a.text)
				}
			}
			c.command = strings.Join(path, " ")
			az = append(az, c)
		case tk.kind == '&' && i+1 < len(toks) && toks[i+1].kind == '(':
			// & (Join-Path $PSScriptRoot 'X.ps1') -Param ...: a sibling script.
			var target string
			for _, a := range toks[i+2:] {
				if a.depth <= tk.depth {
					break
				}
				if a.kind == 's' && strings.HasSuffix(a.text, ".ps1") {
					target = a.text
				}
			}
			c := scriptCall{script: name, command: target, line: tk.line}
			for _, a := range statementArgs(toks, i) {
				if m := psParam.FindStringSubmatch(a.text); a.kind == 'w' && m != nil {
					c.params = append(c.params, m[1])
				}
			}
			scripts = append(scripts, c)
		}
	}
	return ps, az, scripts
}

func operatorScripts(t *testing.T) map[string]string {
	t.Helper()
	names, _ := filepath.Glob("../scripts/*.ps1")
	files := map[string]string{}
	for _, n := range names {
		files[filepath.Base(n)] = read(t, n)
	}
	for _, want := range []string{"Grant-GraphPermissions.ps1", "Add-Teams-Access-Policy.ps1", "Move-GraphProxyTenant.ps1"} {
		if _, ok := files[want]; !ok {
			t.Fatalf("scripts/%s is missing", want)
		}
	}
	return files
}

// declaredParams returns the parameters of a script's param() block.
func declaredParams(src string) []string {
	i := strings.Index(src, "\nparam(")
	if i < 0 {
		return nil
	}
	block := src[i:]
	block = block[:strings.Index(block, "\n)")]
	var out []string
	for _, m := range regexp.MustCompile(`\]\s*\$(\w+)`).FindAllStringSubmatch(block, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestScriptCommands checks every cmdlet, Azure CLI command and sibling
// script call in scripts/*.ps1 against the documented parameters.
func TestScriptCommands(t *testing.T) {
	files := operatorScripts(t)
	usedCmdlet, usedAz := map[string]bool{}, map[string]bool{}
	for name, src := range files {
		ps, az, scripts := scriptCalls(t, name, src)
		if len(ps) < 5 {
			t.Errorf("%s: found only %d cmdlet calls: the tokenizer is lost", name, len(ps))
		}
		for _, c := range ps {
			d, ok := cmdlets[c.command]
			if !ok {
				t.Errorf("%s:%d: %s is not in the table of documented cmdlets (deploy/scripts_test.go): add it with the page its parameter sets come from, or fix the call", c.script, c.line, c.command)
				continue
			}
			for _, p := range c.params {
				if !slices.ContainsFunc(append(d.params, commonParams...), func(q string) bool { return strings.EqualFold(p, q) }) {
					t.Errorf("%s:%d: %s -%s: not a parameter %s documents (%v)", c.script, c.line, c.command, p, d.source, d.params)
				}
				usedCmdlet[c.command+" -"+strings.ToLower(p)] = true
			}
			usedCmdlet[c.command] = true
		}
		for _, c := range az {
			d, ok := azCommands[c.command]
			if !ok {
				t.Errorf("%s:%d: az %s is not in the table of documented Azure CLI commands (deploy/scripts_test.go)", c.script, c.line, c.command)
				continue
			}
			for _, p := range c.params {
				if !slices.Contains(d.params, p) && !slices.Contains(azGlobal, p) {
					t.Errorf("%s:%d: az %s %s: not an option %s documents (%v)", c.script, c.line, c.command, p, d.source, d.params)
				}
				usedAz[c.command+" "+p] = true
			}
			usedAz[c.command] = true
		}
		for _, c := range scripts {
			target, ok := files[c.command]
			if !ok {
				t.Errorf("%s:%d: calls %q, which is not in scripts/", c.script, c.line, c.command)
				continue
			}
			declared := append(declaredParams(target), commonParams...)
			declared = append(declared, "WhatIf", "Confirm")
			for _, p := range c.params {
				if !slices.ContainsFunc(declared, func(q string) bool { return strings.EqualFold(p, q) }) {
					t.Errorf("%s:%d: %s -%s: the script declares no such parameter (%v)", c.script, c.line, c.command, p, declaredParams(target))
				}
			}
		}
	}
	// The tables hold what the scripts use, nothing more.
	for name, d := range cmdlets {
		if !usedCmdlet[name] {
			t.Errorf("%s is in the table but no script calls it", name)
		}
		for _, p := range d.params {
			if usedCmdlet[name] && !usedCmdlet[name+" -"+strings.ToLower(p)] {
				t.Errorf("%s -%s is in the table but no script passes it", name, p)
			}
		}
	}
	for name, d := range azCommands {
		if !usedAz[name] {
			t.Errorf("az %s is in the table but no script runs it", name)
		}
		for _, p := range d.params {
			if usedAz[name] && !usedAz[name+" "+p] {
				t.Errorf("az %s %s is in the table but no script passes it", name, p)
			}
		}
	}
	for name, d := range cmdlets {
		if !strings.HasPrefix(d.source, "https://learn.microsoft.com/") {
			t.Errorf("%s: source %q is not a Microsoft Learn reference page", name, d.source)
		}
	}
}

// TestScriptTokenizer pins the tokenizer on the shapes the scripts use.
func TestScriptTokenizer(t *testing.T) {
	src := `<# Update-AzContainerApp -IdentityType UserAssigned #>
# Remove-AzUserAssignedIdentity -Name x
function Get-Field([object] $Object) { Write-Host -NoNewline $Object }
if (-not (Get-Module -ListAvailable -Name $m)) { throw "missing: Install-Module $m -Scope CurrentUser" }
$x = @(Get-MgThing -All |
    Where-Object { $_.Id -eq $y -and (Test-Path -LiteralPath $z) })
New-MgThing -A $a ` + "`" + `
    -B $b | Out-Null
& (Join-Path -Path $PSScriptRoot -ChildPath 'Other.ps1') -One $1 -Two:$false
$v = ConvertFrom-Az (az containerapp show --name $n -g $g --query "{a: b}" -o json) 'reading'
Write-Host "run: az login --tenant $t (then az group show -n $rg)"
Get-Field $q -Zed
`
	ps, az, scripts := scriptCalls(t, "t.ps1", src)
	var got []string
	for _, c := range ps {
		got = append(got, fmt.Sprintf("%d %s %v", c.line, c.command, c.params))
	}
	for _, c := range az {
		got = append(got, fmt.Sprintf("%d az %s %v", c.line, c.command, c.params))
	}
	for _, c := range scripts {
		got = append(got, fmt.Sprintf("%d & %s %v", c.line, c.command, c.params))
	}
	sort.Strings(got)
	want := []string{
		"10 ConvertFrom-Az []",
		"10 az containerapp show [--name -g --query -o]",
		"11 Write-Host []",
		"11 az group show [-n]",
		"11 az login [--tenant]",
		"3 Write-Host [NoNewline]",
		"4 Get-Module [ListAvailable Name]",
		"4 Install-Module [Scope]",
		"5 Get-MgThing [All]",
		"6 Test-Path [LiteralPath]",
		"6 Where-Object []",
		"7 New-MgThing [A B]",
		"8 Out-Null []",
		"9 & Other.ps1 [One Two]",
		"9 Join-Path [Path ChildPath]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// scriptPattern returns the regular expression a script assigns to $name
// (a single-quoted PowerShell string), compiled by Go: the patterns are
// written in the part of .NET's syntax that RE2 shares.
func scriptPattern(t *testing.T, src, name string) *regexp.Regexp {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\$` + name + ` = '((?:[^']|'')*)'$`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("no $%s = '...'", name)
	}
	re, err := regexp.Compile(strings.ReplaceAll(m[1], "''", "'"))
	if err != nil {
		t.Fatalf("$%s: %v", name, err)
	}
	return re
}

// TestScriptPolicyParser checks that the way Grant-GraphPermissions.ps1
// reads a policy without the binary (each rule's permission:, and
// GroupMember.Read.All for a users.group) finds what `graph-proxy policy
// permissions` does, on every policy of the repository that loads, and
// that Add-Teams-Access-Policy.ps1 reads users.group the same way.
func TestScriptPolicyParser(t *testing.T) {
	files := operatorScripts(t)
	grant, teams := files["Grant-GraphPermissions.ps1"], files["Add-Teams-Access-Policy.ps1"]
	comment, perm, group := scriptPattern(t, grant, "policyComment"), scriptPattern(t, grant, "policyPermission"), scriptPattern(t, grant, "policyGroup")
	if c, g := scriptPattern(t, teams, "policyComment"), scriptPattern(t, teams, "policyGroup"); c.String() != comment.String() || g.String() != group.String() {
		t.Errorf("Add-Teams-Access-Policy.ps1 reads users.group unlike Grant-GraphPermissions.ps1:\n%s %s\n%s %s", c, g, comment, group)
	}
	reads := scriptReferenceReads(t, grant)
	appRole := scriptAppRoleName(t, grant)
	// Get-PolicyPermission, as the script does it; refused is set where
	// the script refuses to read the policy without graph-proxy.
	scriptRead := func(yaml string) (perms, groups []string, refused bool) {
		set := map[string]bool{}
		var code, paths []string
		for _, line := range regexp.MustCompile(`\r?\n`).Split(yaml, -1) {
			code = append(code, comment.ReplaceAllString(line, ""))
		}
		for _, line := range code {
			for _, m := range perm.FindAllStringSubmatch(line, -1) {
				set[appRole(m[1])] = true
			}
			for _, m := range group.FindAllStringSubmatch(line, -1) {
				groups = append(groups, m[1])
			}
			for _, m := range reads.path.FindAllStringSubmatch(line, -1) {
				paths = append(paths, m[1]+m[2]+m[3])
			}
		}
		rules := reads.rules(code)
		if n := len(slices.Concat(slices.Collect(func(yield func([]string) bool) {
			for _, r := range rules {
				if !yield(r.paths) {
					return
				}
			}
		})...)); n != len(paths) {
			rules = []scriptRule{{paths: paths}}
		}
		for _, item := range []struct {
			name     string
			covering []string
		}{{"message", reads.messageCovering}, {"event", reads.eventCovering}} {
			needed := slices.ContainsFunc(rules, func(r scriptRule) bool { return reads.reads(r, item.name) })
			covered := slices.ContainsFunc(item.covering, func(n string) bool { return set[n] })
			refused = refused || needed && !covered
		}
		if len(groups) > 0 {
			set["GroupMember.Read.All"] = true
		}
		for p := range set {
			perms = append(perms, p)
		}
		sort.Strings(perms)
		return perms, groups, refused
	}

	policies := map[string]string{"proxytest.DefaultPolicy": proxytest.DefaultPolicy}
	for _, pat := range []string{"../examples/*.yaml", "../policy/testdata/*.yaml"} {
		names, _ := filepath.Glob(pat)
		for _, n := range names {
			policies[n] = read(t, n)
		}
	}
	engage := policies["../examples/policy-engage.yaml"]
	// Shapes a policy may take that the examples do not: comments naming
	// permissions, quoted values, flow mappings, a commented-out group.
	policies["commented"] = strings.Replace(engage, "    permission: Calendars.ReadBasic.All\n",
		"    permission: Calendars.ReadBasic.All   # not Calendars.Read\n# permission: Mail.Send\n", 1)
	policies["quoted"] = strings.Replace(engage, "permission: User.ReadBasic.All", `permission: "User.ReadBasic.All"`, 1)
	// The policies shipped before wrote Calendars.ReadBasic, which Graph
	// has as a delegated permission only: both read it as the app role.
	policies["delegated-only name"] = strings.ReplaceAll(engage, "Calendars.ReadBasic.All", "Calendars.ReadBasic")
	policies["delegated-only name, quoted"] = strings.ReplaceAll(engage, "permission: Calendars.ReadBasic.All", `permission: 'Calendars.ReadBasic'`)
	policies["unscoped"] = strings.Replace(strings.Replace(engage, `      group: "90000000-0000-4000-8000-000000000001"`, `      # group: "90000000-0000-4000-8000-000000000001"`, 1),
		"      withoutGroup:\n        domains: [vendor.example]\n        addresses: [room-1@contoso.example]\n", "", 1)
	// Policies whose replies or event changes need a read permission the
	// rules do not name (refused by the script), and one whose rules name
	// it.
	const mail = "mail:\n  recipientDomains: [contoso.example]\n"
	policies["reply"] = engage + `  - { id: reply, method: POST, path: "/users/{user}/messages/{id}/reply", permission: Calendars.ReadWrite }` + "\n" + mail
	policies["reply covered"] = strings.Replace(engage, "      - User.ReadBasic.All\n", "      - User.ReadBasic.All\n      - Mail.ReadBasic.All\n", 1) + "  - { id: reply, method: POST, path: \"/users/{user}/messages/{id}/reply\", permission: Calendars.ReadWrite }\n" +
		"  - { id: read, method: GET, path: '/users/{user}/messages', permission: Mail.ReadBasic.All }\n" + mail
	policies["event deleted"] = `version: 1
callers:
  - name: vendor
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [OnlineMeetings.ReadWrite.All]
rules:
  - id: meeting-events
    method:
      - GET
      - DELETE
    path: /users/{user}/events/{id}
    permission: OnlineMeetings.ReadWrite.All
`
	loaded := map[string]bool{}
	for name, text := range policies {
		p, err := policy.Parse(name, []byte(text))
		if err != nil {
			continue // the script reads what loads; lint says why the rest does not
		}
		loaded[name] = true
		got, groups, refused := scriptRead(text)
		want := p.Permissions()
		switch {
		case refused && (name == "proxytest.DefaultPolicy" || strings.HasPrefix(name, "../examples/")):
			t.Errorf("%s: the script refuses to read the example policy without graph-proxy (graph-proxy policy permissions says %v)", name, want)
		case !refused && !slices.Equal(got, want):
			t.Errorf("%s: the scripts read permissions %v; graph-proxy policy permissions says %v", name, got, want)
		}
		if name == "unscoped" && len(groups) != 0 {
			t.Errorf("%s: a commented-out group was read: %v", name, groups)
		}
		if wantRefused := name == "reply" || name == "event deleted" || name == "../policy/testdata/reach.yaml"; refused != wantRefused || wantRefused && len(want) == len(got) {
			t.Errorf("%s: the script refuses %v; want %v (graph-proxy policy permissions says %v)", name, refused, wantRefused, want)
		}
	}
	if len(loaded) < 11 || !loaded["reply"] || !loaded["reply covered"] || !loaded["event deleted"] || !loaded["delegated-only name"] || !loaded["delegated-only name, quoted"] {
		t.Errorf("only %v loaded: the comparison proves little", slices.Sorted(maps.Keys(loaded)))
	}
	if len(policy.ReferenceRoutes()) < 5 {
		t.Errorf("policy.ReferenceRoutes lists %d routes: the route model resolves more", len(policy.ReferenceRoutes()))
	}
	// Every permission name the policy package knows is one the script's
	// pattern can read, and reads as the package does: an alias as its
	// app role, in any case.
	for _, name := range policy.Permissions {
		if got, _, _ := scriptRead("    permission: " + name); !slices.Contains(got, name) {
			t.Errorf("permission %s does not match $policyPermission", name)
		}
	}
	for alias, canon := range policy.ApplicationAliases {
		for _, name := range []string{alias, strings.ToLower(alias)} {
			if got, _, _ := scriptRead("    permission: " + name); !slices.Equal(got, []string{canon}) {
				t.Errorf("permission %s: the script reads %v; graph-proxy reads %s", name, got, canon)
			}
		}
	}
	// Every call the proxy reads an item for, as the route model has it,
	// is one the script takes as such, however the rule spells it: so the
	// script refuses what it cannot count rather than grant too little.
	for _, rt := range policy.ReferenceRoutes() {
		for _, method := range rt.Methods {
			for _, path := range referenceRoutePaths(rt.Tail) {
				text := fmt.Sprintf(`version: 1
callers:
  - name: vendor
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Mail.Send]
mail:
  recipientDomains: [contoso.example]
rules:
  - id: call
    method: %s
    path: %s
    permission: Mail.Send
`, method, path)
				p, err := policy.Parse(rt.Name, []byte(text))
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					continue
				}
				// Mail.Send and the read; a rule whose variables also
				// spell another item's action (messages/{id}/event/{action}
				// is a reply's path too, {id} standing for "messages")
				// needs that item's read as well.
				if perms := p.Permissions(); len(perms) < 2 {
					t.Errorf("%s %s: graph-proxy policy permissions says %v: no read of the %s", method, path, perms, rt.Item)
				}
				if _, _, refused := scriptRead(text); !refused {
					t.Errorf("%s %s (%s): the script does not take it for a call that reads the %s", method, path, rt.Name, rt.Item)
				}
			}
		}
	}
}

// referenceRoutePaths spells a route's tail as rules may: each
// alternative, "*" as a variable, the last segment also by Graph's
// qualified name and as a variable.
func referenceRoutePaths(tail []string) []string {
	paths := []string{"/users/{user}"}
	for i, seg := range tail {
		alts := strings.Split(seg, "|")
		if seg == "*" {
			alts = []string{"{id}"}
		} else if i == len(tail)-1 {
			for _, a := range slices.Clone(alts) {
				alts = append(alts, "microsoft.graph."+a, strings.ToUpper(a[:1])+a[1:])
			}
			alts = append(alts, "{action}")
		}
		var next []string
		for _, p := range paths {
			for _, a := range alts {
				next = append(next, p+"/"+a)
			}
		}
		paths = next
	}
	return paths
}

// scriptReads are Grant-GraphPermissions.ps1's patterns for the rules whose
// calls the proxy reads an item for, and the permissions it takes as
// allowing each read.
type scriptReads struct {
	rulesKey, item, path, method, message, event, changesEvent *regexp.Regexp
	messageCovering, eventCovering                             []string
}

// scriptRule is a rule as the script reads it: its paths and methods.
type scriptRule struct{ paths, methods []string }

// rules is Get-PolicyRuleText and the reading of each item's paths and
// methods.
func (r scriptReads) rules(code []string) []scriptRule {
	var items []string
	inRules, indent, item, open := false, -1, "", false
	for _, line := range code {
		if r.rulesKey.MatchString(line) {
			inRules = true
			continue
		}
		if inRules && regexp.MustCompile(`^[^\s-]`).MatchString(line) {
			inRules = false
		}
		if !inRules {
			continue
		}
		if m := r.item.FindStringSubmatch(line); m != nil && (indent < 0 || len(m[1]) == indent) {
			indent = len(m[1])
			if open {
				items = append(items, item)
			}
			item, open = "", true
		}
		if open {
			item += line + "\n"
		}
	}
	if open {
		items = append(items, item)
	}
	var out []scriptRule
	for _, text := range items {
		var rule scriptRule
		for _, m := range r.path.FindAllStringSubmatch(text, -1) {
			rule.paths = append(rule.paths, m[1]+m[2]+m[3])
		}
		for _, m := range r.method.FindAllStringSubmatch(text, -1) {
			rule.methods = append(rule.methods, strings.ToUpper(m[1]))
		}
		out = append(out, rule)
	}
	return out
}

// reads is Test-PolicyRead.
func (r scriptReads) reads(rule scriptRule, item string) bool {
	methods := rule.methods
	if len(methods) == 0 {
		methods = []string{"POST", "PATCH", "DELETE"}
	}
	post := slices.Contains(methods, "POST")
	change := slices.Contains(methods, "PATCH") || slices.Contains(methods, "DELETE")
	for _, p := range rule.paths {
		if item == "message" && post && r.message.MatchString(p) {
			return true
		}
		if item == "event" && (post && r.event.MatchString(p) || change && r.changesEvent.MatchString(p)) {
			return true
		}
	}
	return false
}

// scriptReferenceReads reads them from the script, and checks the
// permissions against policy.ReferenceReads.
func scriptReferenceReads(t *testing.T, src string) scriptReads {
	t.Helper()
	list := func(name string) []string {
		m := regexp.MustCompile(`(?m)^\$` + name + ` = '([^']*)'$`).FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("no $%s = '...'", name)
		}
		return strings.Fields(m[1])
	}
	r := scriptReads{
		rulesKey: scriptPattern(t, src, "policyRulesKey"), item: scriptPattern(t, src, "policyItem"),
		path: scriptPattern(t, src, "policyPath"), method: scriptPattern(t, src, "policyMethod"),
		message: scriptPattern(t, src, "policyReadsMessage"), event: scriptPattern(t, src, "policyReadsEvent"),
		changesEvent:    scriptPattern(t, src, "policyChangesEvent"),
		messageCovering: list("messageReadCovering"), eventCovering: list("eventReadCovering"),
	}
	for _, read := range policy.ReferenceReads {
		got := map[string][]string{"message": r.messageCovering, "event": r.eventCovering}[read.Item]
		if !slices.Equal(got, read.Covering) {
			t.Errorf("the script takes %v as allowing the read of a %s; policy.ReferenceReads says %v", got, read.Item, read.Covering)
		}
	}
	if len(policy.ReferenceReads) != 2 {
		t.Errorf("policy.ReferenceReads has %d kinds of item; the script knows message and event", len(policy.ReferenceReads))
	}
	return r
}

// scriptAppRoleName is Get-AppRoleName, with the aliases the script's
// $permissionAliases holds (a hashtable literal, one 'name' = 'app role'
// a line), which must be policy.ApplicationAliases. PowerShell's
// hashtables compare keys without case, as graph-proxy reads names.
func scriptAppRoleName(t *testing.T, src string) func(string) string {
	t.Helper()
	block := regexp.MustCompile(`(?ms)^\$permissionAliases = @\{\n(.*?)^\}$`).FindStringSubmatch(src)
	if block == nil {
		t.Fatal("no $permissionAliases = @{ ... }")
	}
	entry := regexp.MustCompile(`^ +'([^']+)' = '([^']+)'$`)
	aliases := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(block[1], "\n"), "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("$permissionAliases: %q is not 'name' = 'app role'", line)
		}
		aliases[m[1]] = m[2]
	}
	if !maps.Equal(aliases, policy.ApplicationAliases) {
		t.Errorf("the script's $permissionAliases are %v; policy.ApplicationAliases %v", aliases, policy.ApplicationAliases)
	}
	// Every name the script reads goes through Get-AppRoleName: each
	// rule's permission, and -Permissions.
	for _, use := range []string{
		"[void] $found.Add((Get-AppRoleName $m.Groups[1].Value))",
		"$needed = @($Permissions | ForEach-Object { Get-AppRoleName $_ } | Sort-Object -Unique)",
	} {
		if !strings.Contains(src, use) {
			t.Errorf("the script lacks %s: a name it reads is not read as its app role", use)
		}
	}
	return func(name string) string {
		for alias, canon := range aliases {
			if strings.EqualFold(name, alias) {
				return canon
			}
		}
		return name
	}
}

// The Move script's order: nothing is destroyed before its replacement
// works.
func TestMoveScriptOrder(t *testing.T) {
	src := operatorScripts(t)["Move-GraphProxyTenant.ps1"]
	// The steps, after the help text and the functions.
	body := src[max(strings.Index(src, "\n# 0. Preconditions"), 0):]
	order := []string{
		"az identity create",
		"Grant-Role $identity.principalId $keyVaultSecretsUser",
		"Grant-Role $identity.principalId $keyVaultCryptoUser $checkpointKey",
		"Grant-Role $identity.principalId $monitoringMetricsPublisher",
		"Grant-GraphPermissions.ps1",
		"Add-Teams-Access-Policy.ps1",
		"az containerapp identity assign",
		"az containerapp update",
		"az containerapp revision show",
		"az containerapp exec",
		"az containerapp identity remove",
		"az identity delete",
	}
	last := -1
	for _, step := range order {
		i := strings.Index(body, step)
		if i < 0 {
			t.Errorf("Move-GraphProxyTenant.ps1 never runs %s", step)
			continue
		}
		if i < last {
			t.Errorf("Move-GraphProxyTenant.ps1 runs %s before the step it must follow", step)
		}
		last = i
	}
	for _, w := range []string{"GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID", "GRAPH_PROXY_UPSTREAM_TENANTID", "Set-StrictMode -Version Latest", "$PSCmdlet.ShouldContinue"} {
		if !strings.Contains(src, w) {
			t.Errorf("Move-GraphProxyTenant.ps1 lacks %s", w)
		}
	}
	// Every variable the steps after a ShouldProcess use is set before it,
	// so -WhatIf runs under Set-StrictMode -Version Latest.
	if !regexp.MustCompile(`(?m)^\$identity = `).MatchString(src) {
		t.Error("Move-GraphProxyTenant.ps1 does not set $identity outside a ShouldProcess block")
	}
}
