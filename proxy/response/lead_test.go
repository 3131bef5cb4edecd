package response

import (
	"strings"
	"testing"
)

// TestLead: where the verdict on a value's start falls, byte by byte.
func TestLead(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		want        Lead
	}{
		{"https URL", "https://x.blob.core.windows.net/f?sig=s", LeadURL},
		{"leading spaces", "  http://e.example/", LeadURL},
		{"protocol-relative", "//e.example/x", LeadURL},
		{"a scheme of 32 bytes", strings.Repeat("a", 32) + "://e.example/", LeadURL},
		{"a run longer than any scheme", strings.Repeat("A", 33) + "://e.example/", leadWord},
		{"an id", "AAMkAGI2TG93AAA" + strings.Repeat("x", 60), leadWord},
		{"a word, still open at its end", "Busy", leadScheme + 3},
		{"a date", "2030-01-02T10:00:00", leadWord},
		{"an address", "adele@contoso.example", leadWord},
		{"an escape before the verdict", `h\u0074tps://e.example/`, LeadURL},
		{"a single slash", "/users/x", leadWord},
		{"a path with a query", "/d?tempauth=x", LeadURL},
		{"a host first with a query", "contoso.sharepoint.com/d?x", LeadURL},
		{"a fragment", "#x", LeadURL},
		{"text", "Why not? sig=1", LeadText},
		{"a word, then text", "/users/x is it", LeadText},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := LeadStart
			for i := 0; i < len(tt.value) && l.Open(); i++ {
				l = l.Step(tt.value[i])
			}
			if l != tt.want {
				t.Errorf("Lead after %q = %d; want %d", tt.value, l, tt.want)
			}
		})
	}
}

// TestLeadText: a value's start read ahead, from the bytes after its
// opening quote to wherever the chunk ends.
func TestLeadText(t *testing.T) {
	for _, tt := range []struct {
		name, rest string
		want       bool
	}{
		{"a word, closed", `Busy","x":1`, true},
		{"a date", `2030-01-02T10:00:00"`, true},
		{"an id longer than a scheme", strings.Repeat("A", 40) + `"`, true},
		{"an id longer than a scheme, going on", strings.Repeat("A", 40), false},
		{"a path, closed", `/users/x"`, true},
		{"a path with a query", `/d?tempauth=x"`, false},
		{"a URL", `https://e.example/?sig=s"`, false},
		{"a chunk ending inside the scheme", `htt`, false},
		{"an escape", `h\u0074tps:"`, false},
		{"empty", `"`, true},
		{"nothing yet", ``, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := LeadStart.Text([]byte(tt.rest)); got != tt.want {
				t.Errorf("Text(%q) = %v; want %v", tt.rest, got, tt.want)
			}
		})
	}
}
