package gcpace_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
)

// The package's defaults: 400% while the heap is small, then at most 8
// MiB of headroom, and at most half a second of allocation; but never
// less than the scan work. (The proxy caps the headroom at 5 MiB:
// cmd/graph-proxy/gc.go.)
func ExampleConfig_Headroom() {
	var cfg gcpace.Config
	const mib = 1 << 20
	for _, h := range []struct {
		what string
		heap gcpace.Heap
	}{
		{"1 MiB live, calls at 30 MB/s", gcpace.Heap{Live: 1 * mib, Scan: 1 * mib, Rate: 30e6}},
		{"6 MiB live, calls at 30 MB/s", gcpace.Heap{Live: 6 * mib, Scan: 5 * mib, Rate: 30e6}},
		{"6 MiB live, a file streaming", gcpace.Heap{Live: 6 * mib, Scan: 3 * mib, Rate: 4e6}},
		{"400 MiB of bodies held, 12 MiB to scan", gcpace.Heap{Live: 400 * mib, Scan: 12 * mib, Rate: 1e9}},
		{"64 MiB of small objects live", gcpace.Heap{Live: 64 * mib, Scan: 64 * mib, Rate: 30e6}},
	} {
		fmt.Printf("%s: %.1f MiB of headroom\n", h.what, float64(cfg.Headroom(h.heap))/mib)
	}
	// Output:
	// 1 MiB live, calls at 30 MB/s: 4.0 MiB of headroom
	// 6 MiB live, calls at 30 MB/s: 8.0 MiB of headroom
	// 6 MiB live, a file streaming: 3.0 MiB of headroom
	// 400 MiB of bodies held, 12 MiB to scan: 12.0 MiB of headroom
	// 64 MiB of small objects live: 64.0 MiB of headroom
}
