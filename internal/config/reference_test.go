package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// defaultText is how docs/configuration.md shows a key's default.
func defaultText(v any) string {
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Slice && rv.Len() == 0, rv.IsZero() && rv.Kind() != reflect.Bool:
		return ""
	case rv.Kind() == reflect.Slice:
		var parts []string
		for i := 0; i < rv.Len(); i++ {
			parts = append(parts, fmt.Sprint(rv.Index(i)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// TestConfigurationReference keeps docs/configuration.md in step with the
// Config struct: one row per key, with its variable and its default.
func TestConfigurationReference(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([\\w.]+)` \\| `(GRAPH_PROXY_\\w+)` \\| ([^|]*) \\|")
	rows := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = [2]string{m[2], strings.Trim(strings.TrimSpace(m[3]), "`")}
	}
	def := Default()
	for _, k := range leafKeys() {
		r, ok := rows[k.path]
		if !ok {
			t.Errorf("docs/configuration.md has no row for %s", k.path)
			continue
		}
		if r[0] != k.envName() {
			t.Errorf("%s: documented variable %s; want %s", k.path, r[0], k.envName())
		}
		if want := defaultText(k.get(&def)); r[1] != want {
			t.Errorf("%s: documented default %q; want %q", k.path, r[1], want)
		}
		delete(rows, k.path)
	}
	for k := range rows {
		t.Errorf("docs/configuration.md documents %s, which is not a key", k)
	}
}
