package proxy

import (
	"testing"

	"github.com/google/uuid"
)

// TestNewID: ids are version 4 UUIDs, as uuid.NewString made them, and
// differ.
func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("newID() = %q: version %v, variant %v, %v; want a version 4 RFC 4122 UUID", id, u.Version(), u.Variant(), err)
		}
		if seen[id] {
			t.Fatalf("newID() = %q twice", id)
		}
		seen[id] = true
	}
}

// BenchmarkNewID is the cost of one request id.
func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = newID()
	}
}
