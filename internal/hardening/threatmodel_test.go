package hardening

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestThreatModelNamesRealTests keeps docs/threat-model.md honest: every
// test it cites as proof exists.
func TestThreatModelNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../../docs/threat-model.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{
		"hardening": ".", "proxy": "../../proxy", "policy": "../../policy", "callers": "../../proxy/callers",
		"auditlog": "../../auditlog", "cmd/graph-proxy": "../../cmd/graph-proxy", "deploy": "../../deploy",
		"config": "../../internal/config", "marketplace": "../../marketplace", "upstream": "../../proxy/upstream",
		"vaultkey": "../../internal/vaultkey", "shared": "../../proxy/shared", "response": "../../proxy/response",
		"handshake": "../../internal/handshake", "outbound": "../../internal/outbound", "tokenshape": "../../internal/tokenshape", "notify": "../../proxy/notify",
		"reconcile": "../../auditlog/reconcile", "filelink": "../../proxy/filelink",
	}
	refs := regexp.MustCompile("`([a-z/-]+)\\.((?:Test|Fuzz)[A-Za-z0-9_]+)").FindAllStringSubmatch(string(doc), -1)
	if len(refs) < 30 {
		t.Fatalf("only %d test references found", len(refs))
	}
	for _, ref := range refs {
		dir, ok := dirs[ref[1]]
		if !ok {
			t.Errorf("unknown package %q in %s", ref[1], ref[0])
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		found := false
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "func "+ref[2]+"(") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("docs/threat-model.md cites %s.%s, which does not exist", ref[1], ref[2])
		}
	}
}
