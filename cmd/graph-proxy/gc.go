package main

import (
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
)

// gcBounds are the proxy's GC targets unless GOGC is set. Its live heap is
// small when calls are few (caches, pooled buffers) and its garbage is
// per-call, so a target of 400 costs little memory then; but the live heap
// grows with the calls in flight — at Graph's latency, hundreds — and at
// 400 each of their megabytes would bring four of garbage. The headroom is
// therefore capped at 5 MiB, and at half a second of allocation (a file
// streaming makes little garbage), but never under the collection's scan
// work: bodies held for their checks are never scanned and earn no
// proportional headroom (gcpace). The cap is a fixed cost shared by the
// calls in flight: at 300 of them, 8 MiB was 27 KB a call, most of what
// kept HTTP/2 above 64 KB a call; 5 MiB takes 6–11 KB a call off there
// (6–7 over HTTP/1.1) for a collection every 200 calls instead of every
// 350, which raised the collector's share of the proxy's CPU at 300 in
// flight from about 6% to 8–11%, and with a fast upstream by half a point
// (bench/RESULTS.md, "The collector's headroom"). The memory limit below
// keeps it from growing past the container.
//
// While at most 32 calls are in flight the headroom is 16 MiB instead,
// whatever the live heap and the allocation rate: the calls then hold a
// megabyte or two, so the heap stays near 20 MB, and at a thousand calls
// a second with Graph answering fast the collector runs about once a
// second instead of three times (bounded by half a second of allocation
// and by 400% of a 2 MB live heap, the headroom was 5–8 MB; each
// collection costs the proxy about 1.8 ms of CPU there). The 33rd call
// brings the 5 MiB cap back at once, before the calls that follow it have
// grown into the quiet headroom (gcpace.Pacer.Begin).
var gcBounds = gcpace.Config{Min: 100, Max: 400, Cap: 5 << 20, Period: 500 * time.Millisecond,
	QuietCap: 16 << 20, QuietCalls: 32}

// tuneGC paces the GC within gcBounds unless GOGC is set, and, unless
// GOMEMLIMIT is set, sets a soft memory limit of 80% of the cgroup's
// memory.max (Container Apps sets it from the container's memory). The
// pacer it returns (nil under GOGC) counts the calls in flight through
// countCalls.
func tuneGC(log *slog.Logger) *gcpace.Pacer {
	var pacer *gcpace.Pacer
	if os.Getenv("GOGC") == "" {
		pacer = gcpace.Start(gcBounds)
	}
	setMemoryLimit(log)
	return pacer
}

// countCalls has pacer count h's calls in flight.
func countCalls(pacer *gcpace.Pacer, h http.Handler) http.Handler {
	if pacer == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pacer.Begin()
		defer pacer.End()
		h.ServeHTTP(w, r)
	})
}

func setMemoryLimit(log *slog.Logger) {
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
