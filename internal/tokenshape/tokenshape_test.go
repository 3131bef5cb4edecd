package tokenshape

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

const jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLWJ5dGVz"

func TestWithhold(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"no token", "checkMemberGroups: Graph answered 503", "checkMemberGroups: Graph answered 503"},
		{"a JWT in a quoted body", `json: cannot unmarshal: {"access_token":"` + jwt, `json: cannot unmarshal: {"access_token":"` + Withheld},
		{"a JWT alone", jwt, Withheld},
		{"two JWTs", jwt + " and " + jwt + ".", Withheld + " and " + Withheld},
		{"an encrypted JWT (five parts)", jwt + ".cGFydDQ.cGFydDU", Withheld},
		{"a JWT's header alone is no token", "eyJhbGciOiJub25lIn0 is a header", "eyJhbGciOiJub25lIn0 is a header"},
		{"eyJ inside a short word", "keyJar.example and more", "keyJar.example and more"},
		{"a JWT run into a word", "token=x" + jwt, "token=x" + Withheld},
		{"short run", "eyJ.x", "eyJ.x"},
		{"Bearer credential", "Authorization: Bearer abc.def-ghi.jkl_mno, more", "Authorization: " + Withheld + ", more"},
		{"bearer in another case", `"bearer xyz0123456789abcdef"`, `"` + Withheld + `"`},
		{"the word bearer in a sentence", "no bearer token", "no bearer token"},
		{"the word bearer alone", "the bearer of this", "the bearer of this"},
		{"bearer at the end", "Bearer", "Bearer"},
		{"bearerless", "bearerToken", "bearerToken"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Withhold(tt.in); got != tt.want {
				t.Errorf("Withhold(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWithholdAllocatesNothingWithoutToken(t *testing.T) {
	s := strings.Repeat("upstream: Graph answered 503; ", 10)
	if n := testing.AllocsPerRun(100, func() { Withhold(s) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzWithhold: what is withheld never leaves a JWT-shaped run behind,
// and text without "eyJ" or "bearer" comes back unchanged.
func FuzzWithhold(f *testing.F) {
	for _, s := range []string{"", jwt, "Bearer " + jwt, "x eyJ" + jwt, "bearer\t\tq", "eyJeyJeyJ.eyJ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Withhold(s)
		if !strings.Contains(strings.ToLower(s), "bearer") && !strings.Contains(s, "eyJ") && out != s {
			t.Fatalf("changed text with no token: %q → %q", s, out)
		}
		if strings.Contains(s, jwt) && strings.Contains(out, jwt) {
			t.Fatalf("a JWT left in %q", out)
		}
	})
}

// TestReplaceAttr: a log line written through a handler with ReplaceAttr
// holds no token, in its message, a string or an error.
func TestReplaceAttr(t *testing.T) {
	var out strings.Builder
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}))
	log.Error("token endpoint answered "+jwt, "error", errors.New("decode: "+jwt), "header", "Bearer "+jwt, "n", 3)
	if strings.Contains(out.String(), "c2lnbmF0dXJlLWJ5dGVz") {
		t.Errorf("a token in the log line: %s", out.String())
	}
	if c := strings.Count(out.String(), Withheld); c != 3 {
		t.Errorf("%d withheld in %s; want 3", c, out.String())
	}
}
