package proxy

import (
	"strings"
	"testing"
	"testing/iotest"
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
		{"large announced, the preallocation sent", 100 << 20, strings.Repeat("x", maxPrealloc+512), 100<<20 + 512},
		{"4 MB announced and sent: one buffer of its size", 4_000_000, strings.Repeat("x", 4_000_000), 4_000_000 + 512},
		{"4 MB sent, none announced", -1, strings.Repeat("x", 4_000_000), 8 << 20},
		{"more sent than announced (gzip expands)", 100_000, strings.Repeat("x", 300_000), 2 * (100_000 + 512) * 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(iotest.HalfReader(strings.NewReader(tt.body)), tt.announced)
			if err != nil || string(got) != tt.body {
				t.Fatalf("readAll = %q, %v", got, err)
			}
			if cap(got) > tt.maxCap {
				t.Errorf("buffer of %d bytes; want at most %d", cap(got), tt.maxCap)
			}
		})
	}
}

// BenchmarkReadAll4MB reads a 4 MB body announced by its length, as a
// large attachment or event body arrives: B/op is what holding it costs.
func BenchmarkReadAll4MB(b *testing.B) {
	body := strings.Repeat("x", 4_000_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := readAll(strings.NewReader(body), int64(len(body))); err != nil {
			b.Fatal(err)
		}
	}
}
