package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
	"strconv"
	"strings"
)

// gcBounds are the proxy's GC targets unless GOGC is set. The proxy's live
// heap is small when calls are few (caches, pooled buffers) and its
// garbage is per-request, so Go's default of 100 collects every few
// megabytes; 400 trades tens of megabytes of RSS for a GC that costs a
// fraction of the CPU (bench/RESULTS.md). But the live heap grows with the
// calls in flight — at Graph's latency, hundreds — and at 400 each of their
// megabytes would bring four of garbage: past 8 MiB live, the headroom
// stays at 32 MiB, down to Go's default (gcpace). The memory limit below
// keeps it from growing past the container.
var gcBounds = gcpace.Config{Min: 100, Max: 400, Cap: 32 << 20}

// tuneGC paces the GC within gcBounds unless GOGC is set, and, unless
// GOMEMLIMIT is set, sets a soft memory limit of 80% of the cgroup's
// memory.max (Container Apps sets it from the container's memory).
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		gcpace.Start(gcBounds)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	data, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return
	}
	v := strings.TrimSpace(string(data))
	if v == "max" {
		return
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit / 10 * 8)
	log.Info("memory limit from the container", "bytes", limit/10*8)
}
