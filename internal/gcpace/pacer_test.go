package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		cfg  Config
		live uint64
		want int
	}{
		{name: "nothing live yet", live: 0, want: 400},
		{name: "1 MiB live: 4 MiB of headroom is under the cap", live: 1 * mib, want: 400},
		{name: "2 MiB live: 400% is exactly the cap", live: 2 * mib, want: 400},
		{name: "4 MiB live: the cap is 200%", live: 4 * mib, want: 200},
		{name: "6 MiB live: the cap is 133%", live: 6 * mib, want: 133},
		{name: "8 MiB live: the cap is 100%, the floor", live: 8 * mib, want: 100},
		{name: "200 MiB live: never under the floor", live: 200 * mib, want: 100},
		{name: "a larger cap", cfg: Config{Cap: 32 * mib}, live: 16 * mib, want: 200},
		{name: "own bounds", cfg: Config{Min: 50, Max: 800, Cap: 8 * mib}, live: 4 * mib, want: 200},
		{name: "own bounds, floor", cfg: Config{Min: 50, Max: 800, Cap: 8 * mib}, live: 64 * mib, want: 50},
		{name: "own bounds, ceiling", cfg: Config{Min: 50, Max: 800, Cap: 8 * mib}, live: 512 << 10, want: 800},
		{name: "a Max under Min is taken as the default", cfg: Config{Min: 200, Max: 150}, live: mib, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Percent(tt.live); got != tt.want {
				t.Errorf("Percent(%d) = %d; want %d", tt.live, got, tt.want)
			}
		})
	}
}

// keep holds what the test makes live.
var keep [][]byte

// TestPacerFollowsTheLiveHeap: a heap that grows live past the cap brings
// the target down after the next collections, and back up once it is
// garbage again.
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
	waitFor("small heap", func(pc int) bool { return pc == 400 })
	for range 64 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	waitFor("64 MiB live", func(pc int) bool { return pc == 100 })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("runtime's target %d; want the pacer's 100", got)
	}
	keep = nil
	waitFor("garbage again", func(pc int) bool { return pc == 400 })
}
