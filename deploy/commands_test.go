package deploy

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// entrypoint returns the path of the binary in the image: the Dockerfile's
// ENTRYPOINT, which its COPY puts there.
func entrypoint(t *testing.T) string {
	t.Helper()
	df := read(t, "../Dockerfile")
	m := regexp.MustCompile(`(?m)^ENTRYPOINT\s+(\[.*\])\s*$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile has no ENTRYPOINT in exec form")
	}
	var argv []string
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("ENTRYPOINT %s: %v", m[1], err)
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build \S+ ` + regexp.QuoteMeta(argv[0]) + `$`).MatchString(df) {
		t.Errorf("the Dockerfile copies no binary to its ENTRYPOINT %s", argv[0])
	}
	return argv[0]
}

var (
	execCommand = regexp.MustCompile(`az containerapp exec\b[^\n]*`)
	execArg     = regexp.MustCompile(`--command(?:\s+|=)(?:"([^"]*)"|'([^']*)'|(\S+))`)
)

// TestExecCommands checks every `az containerapp exec` the documentation
// and the scripts give: the image has no shell and its binary is not on
// PATH, so the command must start with the ENTRYPOINT's path (the default
// command, sh, does not exist in it either).
func TestExecCommands(t *testing.T) {
	bin := entrypoint(t)
	var files []string
	for _, pat := range []string{"../README.md", "../docs/*.md", "../scripts/*.ps1"} {
		names, _ := filepath.Glob(pat)
		files = append(files, names...)
	}
	found := 0
	for _, name := range files {
		text := read(t, name)
		// Continued lines (\ in shell, ` in PowerShell) are one command.
		text = regexp.MustCompile("[\\\\`]\r?\n\\s*").ReplaceAllString(text, " ")
		for _, line := range strings.Split(text, "\n") {
			for _, cmd := range execCommand.FindAllString(line, -1) {
				found++
				m := execArg.FindStringSubmatch(cmd)
				if m == nil {
					t.Errorf("%s: %q: no --command; its default, sh, is not in the image: use --command %q", name, cmd, bin+" check")
					continue
				}
				command := m[1] + m[2] + m[3]
				if first, _, _ := strings.Cut(command, " "); first != bin {
					t.Errorf("%s: %q runs %q: the image has no shell and graph-proxy is not on its PATH; run %q (the Dockerfile's ENTRYPOINT)", name, cmd, command, bin+strings.TrimPrefix(command, first))
				}
			}
		}
	}
	if found < 2 {
		t.Errorf("found %d az containerapp exec commands; docs/installation.md and scripts/Move-GraphProxyTenant.ps1 give them", found)
	}
}

// TestDocumentedScriptParameters checks that every scripts/*.ps1 invocation
// the documentation gives passes parameters the script declares.
func TestDocumentedScriptParameters(t *testing.T) {
	scripts := operatorScripts(t)
	invocation := regexp.MustCompile("([A-Z][\\w-]*\\.ps1)((?:\\s+-\\w+(?:\\s+[^\\s`-][^\\s`]*)?)*)")
	param := regexp.MustCompile(`(?:^|\s)-(\w+)`)
	docs, _ := filepath.Glob("../docs/*.md")
	found := 0
	for _, name := range append(docs, "../README.md") {
		// Invocations wrap across lines in Markdown paragraphs.
		text := strings.Join(strings.Fields(read(t, name)), " ")
		for _, m := range invocation.FindAllStringSubmatch(text, -1) {
			src, ok := scripts[m[1]]
			if !ok {
				t.Errorf("%s: %s is not in scripts/", name, m[1])
				continue
			}
			declared := declaredParams(src)
			for _, p := range param.FindAllStringSubmatch(m[2], -1) {
				found++
				if !slices.ContainsFunc(append(declared, "WhatIf", "Confirm"), func(d string) bool { return strings.EqualFold(d, p[1]) }) {
					t.Errorf("%s: %s -%s: the script declares no such parameter (%v)", name, m[1], p[1], declared)
				}
			}
		}
	}
	if found < 4 {
		t.Errorf("found %d documented script parameters; docs/installation.md gives several", found)
	}
}
