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
// A Pacer sets the target after every collection from the heap then live:
// the headroom is Max times the live heap, but at most Cap bytes, and
// never less than Min times the live heap (Go's default, 100, being the
// floor below which the collector's CPU grows fast). The proxy's garbage
// per call is small (a few kilobytes), so a cap of a few megabytes costs
// it about one collection a second at a thousand calls a second: within
// the noise of its CPU per call (bench/RESULTS.md), while each call in
// flight no longer brings four times its live memory in garbage.
package gcpace
