// Package gcpace keeps the garbage collector's headroom — the garbage the
// heap may hold between two collections — bounded in bytes as well as in
// proportion to the live heap.
//
// Go's GC target (GOGC) is a proportion: at 400 the heap grows to five
// times what was live before it is collected again. The proxy's live heap
// is small when calls are few (caches, pooled buffers), and a high target
// then saves most of the collector's CPU at the cost of a few tens of
// megabytes. But the live heap grows with the calls in flight (each holds
// its connection's buffers, its request and its record), and at 400 every
// megabyte of them brings four of garbage: at Graph's latency, with
// hundreds of calls held, most of the proxy's memory would be headroom.
//
// A Pacer sets the target after every collection from what the heap then
// holds and how fast it has been allocating:
//
//   - the headroom is Max times the live heap, but at most Cap bytes, and
//     at most what Period of allocation at the recent rate fills: beyond
//     that, garbage is memory held for nothing, since the collections it
//     would save are already at most one per Period. While a file streams
//     through the proxy (a few tens of kilobytes of garbage per megabyte)
//     this keeps the resident set within a few megabytes of idle;
//   - it is never less than Min times the scan work, the scannable part of
//     the live heap with the stacks and globals (Go's default, 100, being
//     the floor below which the collector's CPU grows fast). A
//     collection's cost is its scan work: a large request body held for
//     its checks is a []byte, marked but never scanned, so a hundred bodies
//     in flight do not earn a hundred bodies' worth of garbage as Go's
//     proportional target would give them.
//
// The proxy's garbage per call is small (17–19 KB with net/http's), so a
// cap of a few megabytes costs it a few collections a second at a thousand
// calls a second (about four at 5 MiB): with hundreds of calls in flight
// a few points of its CPU, with few of them half a point (the collector's
// share, bench/RESULTS.md), while each call in flight no longer brings
// four times its live memory in garbage.
//
// Those bounds are for many calls in flight. With few of them
// (Config.QuietCalls, counted by Pacer.Begin and End) the heap is small
// whatever its headroom, and a fixed, larger one (Config.QuietCap) makes
// fewer collections; the call that passes QuietCalls has the pacer lower
// the target at once, so that a ramp of calls meets the busy cap, not the
// quiet headroom.
package gcpace
