package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestHeadroom(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		cfg     Config
		heap    Heap
		room    uint64
		percent int
	}{
		{name: "nothing live yet", heap: Heap{}, room: 0, percent: 400},
		{name: "1 MiB live: 400% is under the cap", heap: Heap{Live: 1 * mib, Scan: 1 * mib}, room: 4 * mib, percent: 400},
		{name: "4 MiB live: the cap", heap: Heap{Live: 4 * mib, Scan: 2 * mib}, room: 8 * mib, percent: 200},
		{name: "roots count with the live heap", heap: Heap{Live: 3 * mib, Scan: 2 * mib, Roots: 1 * mib}, room: 8 * mib, percent: 200},
		{name: "6 MiB live: the cap is 134%", heap: Heap{Live: 6 * mib, Scan: 4 * mib}, room: 8 * mib, percent: 134},
		{name: "a slow allocation rate: half a second of it", heap: Heap{Live: 6 * mib, Scan: 1 * mib, Rate: 4 * mib}, room: 2 * mib, percent: 34},
		{name: "a fast rate: the cap", heap: Heap{Live: 6 * mib, Scan: 1 * mib, Rate: 100 * mib}, room: 8 * mib, percent: 134},
		{name: "idle: the scan work", heap: Heap{Live: 6 * mib, Scan: 3 * mib, Rate: 1}, room: 3 * mib, percent: 50},
		{name: "64 MiB of pointers live: never under the scan work", heap: Heap{Live: 64 * mib, Scan: 64 * mib, Rate: 100 * mib}, room: 64 * mib, percent: 100},
		{name: "400 MiB of bodies: headroom by the cap, not the live heap", heap: Heap{Live: 400 * mib, Scan: 4 * mib, Rate: 1000 * mib}, room: 8 * mib, percent: 2},
		{name: "the target is at least 1%", heap: Heap{Live: 4096 * mib, Scan: 1 * mib, Rate: 1}, room: 1 * mib, percent: 1},
		{name: "a larger cap", cfg: Config{Cap: 32 * mib}, heap: Heap{Live: 16 * mib, Scan: 8 * mib}, room: 32 * mib, percent: 200},
		{name: "own bounds, floor", cfg: Config{Min: 50, Max: 800, Cap: 8 * mib}, heap: Heap{Live: 64 * mib, Scan: 64 * mib}, room: 32 * mib, percent: 50},
		{name: "own bounds, ceiling", cfg: Config{Min: 50, Max: 800, Cap: 8 * mib}, heap: Heap{Live: 512 << 10, Scan: 512 << 10}, room: 4 * mib, percent: 800},
		{name: "own period", cfg: Config{Period: 2 * time.Second}, heap: Heap{Live: 6 * mib, Scan: 1 * mib, Rate: 1 * mib}, room: 2 * mib, percent: 34},
		{name: "few calls: the quiet cap", cfg: quietBounds, heap: Heap{Live: 6 * mib, Scan: 2 * mib, Calls: 1}, room: 16 * mib, percent: 267},
		{name: "as many calls as QuietCalls: still quiet", cfg: quietBounds, heap: Heap{Live: 6 * mib, Scan: 2 * mib, Calls: 32}, room: 16 * mib, percent: 267},
		{name: "one call more: the cap", cfg: quietBounds, heap: Heap{Live: 6 * mib, Scan: 2 * mib, Calls: 33}, room: 5 * mib, percent: 84},
		{name: "quiet, at a thousand calls a second: not bounded by half a second of them", cfg: quietBounds, heap: Heap{Live: 3 * mib, Scan: 2 * mib, Rate: 17 * mib, Calls: 1}, room: 16 * mib, percent: 475},
		{name: "quiet, a small heap: above Max, its goal Go's minimum heap goal", cfg: quietBounds, heap: Heap{Live: 2 * mib, Scan: 1 * mib, Roots: 512 << 10, Calls: 1}, room: 16 * mib, percent: 450},
		{name: "quiet, at start: Go's minimum heap goal is the quiet headroom", cfg: quietBounds, heap: Heap{Roots: 256 << 10}, room: 16 * mib, percent: 400},
		{name: "quiet, a file streaming: not bounded by its slow rate", cfg: quietBounds, heap: Heap{Live: 6 * mib, Scan: 3 * mib, Rate: 4e6, Calls: 1}, room: 16 * mib, percent: 267},
		{name: "quiet, 64 MiB of pointers live: never under the scan work", cfg: quietBounds, heap: Heap{Live: 64 * mib, Scan: 64 * mib, Calls: 1}, room: 64 * mib, percent: 100},
		{name: "busy, a file streaming: half a second of it", cfg: quietBounds, heap: Heap{Live: 6 * mib, Scan: 1 * mib, Rate: 4 * mib, Calls: 33}, room: 2 * mib, percent: 34},
		{name: "a quiet cap under the cap is not used", cfg: Config{Cap: 8 * mib, QuietCap: 4 * mib, QuietCalls: 32}, heap: Heap{Live: 6 * mib, Scan: 2 * mib}, room: 8 * mib, percent: 134},
		{name: "a Max under Min is taken as the default", cfg: Config{Min: 200, Max: 150}, heap: Heap{Live: mib, Scan: mib}, room: 4 * mib, percent: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Headroom(tt.heap); got != tt.room {
				t.Errorf("Headroom(%+v) = %d; want %d", tt.heap, got, tt.room)
			}
			if got := tt.cfg.Percent(tt.heap); got != tt.percent {
				t.Errorf("Percent(%+v) = %d; want %d", tt.heap, got, tt.percent)
			}
		})
	}
}

// quietBounds are the proxy's bounds (cmd/graph-proxy/gc.go).
var quietBounds = Config{Min: 100, Max: 400, Cap: 5 << 20, Period: 500 * time.Millisecond, QuietCap: 16 << 20, QuietCalls: 32}

// keep holds what the test makes live.
var keep [][]byte

// TestPacerFollowsTheLiveHeap: a live heap of large byte buffers (bodies
// held for their checks) brings a target far under Go's default, since
// they are never scanned; one of pointers brings Go's default, the scan
// work's floor. The target rises again once the bytes are garbage.
func TestPacerFollowsTheLiveHeap(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	p := Start(Config{Min: 100, Max: 400, Cap: 8 << 20})
	defer p.Stop()

	waitFor := func(what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(p.Percent()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: target %d", what, p.Percent())
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	for range 64 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	waitFor("64 MiB of bytes live", func(pc int) bool { return pc <= 25 })
	if got := debug.SetGCPercent(p.Percent()); got != p.Percent() {
		t.Errorf("runtime's target %d; want the pacer's %d", got, p.Percent())
	}
	keep = nil
	waitFor("garbage again", func(pc int) bool { return pc > 25 })
	pointers = make([]*int, 8<<20) // 64 MiB, all of it scanned
	waitFor("64 MiB of pointers live", func(pc int) bool { return pc >= 90 })
	pointers = nil
}

// pointers holds what the test makes live and scannable.
var pointers []*int

// TestRateOverAPeriod: the rate is read over a Period at least, so that a
// burst since the last collection is not taken for the rate to come.
func TestRateOverAPeriod(t *testing.T) {
	const mb = 1 << 20
	t0 := time.Unix(0, 0)
	steps := []struct {
		after  time.Duration // since t0
		allocs uint64
		want   float64 // bytes a second
	}{
		{0, 0, 0}, // nothing remembered yet
		{time.Second, 1 * mb, 1 * mb},
		{2 * time.Second, 2 * mb, 1 * mb},
		// a burst of 4 MB in 100 ms: read over the 1.1 s since the
		// adjustment a Period before, not as 40 MB/s
		{2100 * time.Millisecond, 6 * mb, 5 * mb / 1.1},
		// quiet: over the 550 ms since the adjustment at 2 s
		{2550 * time.Millisecond, 6 * mb, 4 * mb / 0.55},
		// then since the burst's, a Period ago: nothing
		{3100 * time.Millisecond, 6 * mb, 0},
	}
	p := &Pacer{cfg: Config{Period: 500 * time.Millisecond}.withDefaults()}
	for _, s := range steps {
		got := p.rate(t0.Add(s.after), s.allocs)
		if diff := got - s.want; diff > 1 || diff < -1 {
			t.Errorf("at %v, %d allocated: rate %.0f; want %.0f", s.after, s.allocs, got, s.want)
		}
	}
	for range 2 * maxPast {
		p.rate(t0, 0)
	}
	if len(p.past) != maxPast {
		t.Errorf("%d adjustments remembered; want at most %d", len(p.past), maxPast)
	}
}

// TestCallsPassingQuietLowerTheTargetAtOnce: the call that takes the count
// past QuietCalls brings the target down to Cap's without waiting for a
// collection or a Period (an hour here), and the target rises again only
// at an adjustment after the calls have gone.
func TestCallsPassingQuietLowerTheTargetAtOnce(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	for range 16 {
		keep = append(keep, make([]byte, 1<<20))
	}
	defer func() { keep = nil }()
	runtime.GC()
	// 16 MiB live: quiet, 400% of it (under the 64 MiB quiet cap); busy,
	// the 1 MiB cap, a target of a few percent.
	p := Start(Config{Min: 1, Max: 400, Cap: 1 << 20, Period: time.Hour, QuietCap: 64 << 20, QuietCalls: 2})
	defer p.Stop()
	waitFor := func(what string, ok func(int) bool, collect bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(p.Percent()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: target %d", what, p.Percent())
			}
			if collect {
				runtime.GC()
			}
			time.Sleep(time.Millisecond)
		}
	}
	// (Go's target counts the stacks and globals with the live heap, so
	// 400% of the live heap is a little under 400.)
	quiet := func(pc int) bool { return pc > 300 }
	waitFor("quiet", quiet, true)
	before := p.Percent()
	p.Begin()
	p.Begin()
	time.Sleep(50 * time.Millisecond)
	if got := p.Percent(); got != before {
		t.Fatalf("two calls, as many as QuietCalls: target %d; want %d", got, before)
	}
	p.Begin()
	waitFor("the third call", func(pc int) bool { return pc < 10 }, false)
	if got := debug.SetGCPercent(p.Percent()); got != p.Percent() {
		t.Errorf("runtime's target %d; want the pacer's %d", got, p.Percent())
	}
	for range 3 {
		p.End()
	}
	waitFor("the calls gone, after a collection", quiet, true)
}

func TestNilPacer(t *testing.T) {
	var p *Pacer
	p.Begin()
	p.End()
	p.Stop()
}
