package gcpace_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
)

// The proxy's bounds: at most 32 MiB of headroom once more than 8 MiB is
// live, between Go's default target and 400.
func ExampleConfig_Percent() {
	cfg := gcpace.Config{Min: 100, Max: 400, Cap: 32 << 20}
	for _, live := range []uint64{4 << 20, 16 << 20, 64 << 20} {
		fmt.Printf("%d MiB live: GOGC %d\n", live>>20, cfg.Percent(live))
	}
	// Output:
	// 4 MiB live: GOGC 400
	// 16 MiB live: GOGC 200
	// 64 MiB live: GOGC 100
}
