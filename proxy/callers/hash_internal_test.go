package callers

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
)

func TestHashString(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1500} {
		s := strings.Repeat("a.b-c_", n)[:n]
		if got, want := hashString(s), sha256.Sum256([]byte(s)); got != want {
			t.Errorf("hashString of %d bytes = %x; want %x", n, got, want)
		}
	}
}

// TestBearer: the one Authorization header's bearer token, or nothing for
// any other shape (a token with a space or tab in it is two words, which
// a verifier and a logger could read differently).
func TestBearer(t *testing.T) {
	tok := strings.Repeat("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.", 30)
	for _, tt := range []struct {
		name   string
		values []string
		want   string
		ok     bool
	}{
		{"token", []string{"Bearer " + tok}, tok, true},
		{"scheme in any case", []string{"bEARER " + tok}, tok, true},
		{"no header", nil, "", false},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", false},
		{"other scheme", []string{"Basic " + tok}, "", false},
		{"no token", []string{"Bearer "}, "", false},
		{"no space", []string{"Bearer"}, "", false},
		{"space inside", []string{"Bearer " + tok[:500] + " " + tok[500:]}, "", false},
		{"tab inside", []string{"Bearer " + tok[:900] + "\t" + tok[900:]}, "", false},
		{"trailing tab", []string{"Bearer " + tok + "\t"}, "", false},
		{"two spaces", []string{"Bearer  " + tok}, "", false},
	} {
		r := &http.Request{Header: http.Header{"Authorization": tt.values}}
		got, ok := bearer(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: bearer = %.20q, %v; want %.20q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
