package ascii

import "testing"

func TestFold(t *testing.T) {
	for _, tt := range []struct {
		a, b          string
		equal, suffix bool
	}{
		{"webUrl", "weburl", true, true},
		{"WEBURL", "webUrl", true, true},
		{"@odata.mediaReadLink", "link", false, true},
		{"ſtatus", "status", false, false}, // Unicode folding joins them; ASCII does not
		{"\u212aey", "key", false, false},
		{"url", "curl", false, false},
		{"", "", true, true},
		{"a[", "a{", false, false}, // '[' and '{' differ by the case bit, yet are no letters
	} {
		if got := EqualFold(tt.a, []byte(tt.b)); got != tt.equal {
			t.Errorf("EqualFold(%q, %q) = %v", tt.a, tt.b, got)
		}
		if got := HasSuffixFold([]byte(tt.a), tt.b); got != tt.suffix {
			t.Errorf("HasSuffixFold(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
