package gcpace_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
)

// The defaults, the proxy's bounds: 400% while under 2 MiB is live, then
// at most 8 MiB of headroom, down to Go's default target.
func ExampleConfig_Percent() {
	var cfg gcpace.Config
	for _, live := range []uint64{1 << 20, 4 << 20, 64 << 20} {
		fmt.Printf("%d MiB live: GOGC %d\n", live>>20, cfg.Percent(live))
	}
	// Output:
	// 1 MiB live: GOGC 400
	// 4 MiB live: GOGC 200
	// 64 MiB live: GOGC 100
}
