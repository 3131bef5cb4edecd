package callers

import (
	"crypto/sha256"
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
