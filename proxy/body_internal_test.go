package proxy

import (
	"strings"
	"testing"
)

// readAll sizes its buffer from the announced length, but never holds more
// than maxPrealloc on the caller's word alone.
func TestReadAllPreallocation(t *testing.T) {
	for _, tt := range []struct {
		name      string
		announced int64
		body      string
		maxCap    int
	}{
		{"announced and sent", 2000, strings.Repeat("x", 2000), 2000 + 512},
		{"none announced", -1, "abc", maxPrealloc},
		{"large announced, little sent", 100 << 20, "abc", maxPrealloc + 512},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(strings.NewReader(tt.body), tt.announced)
			if err != nil || string(got) != tt.body {
				t.Fatalf("readAll = %q, %v", got, err)
			}
			if cap(got) > tt.maxCap {
				t.Errorf("buffer of %d bytes; want at most %d", cap(got), tt.maxCap)
			}
		})
	}
}
