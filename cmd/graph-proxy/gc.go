package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// proxyGCPercent is the GC target used unless GOGC is set. The proxy's
// live heap is small (caches, pooled buffers) and its garbage is
// per-request, so the default of 100 collects every few megabytes; 400
// trades tens of megabytes of RSS for a GC that costs a fraction of the
// CPU (bench/RESULTS.md). The memory limit below keeps it from growing
// past the container.
const proxyGCPercent = 400

// tuneGC applies proxyGCPercent unless GOGC is set, and, unless GOMEMLIMIT
// is set, a soft memory limit of 80% of the cgroup's memory.max (Container
// Apps sets it from the container's memory).
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(proxyGCPercent)
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
