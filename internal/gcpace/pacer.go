package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Config bounds the headroom. Percentages are of the live heap, as GOGC's.
type Config struct {
	// Min is the lowest target, in percent. Default 100.
	Min int
	// Max is the highest target, in percent. Default 400.
	Max int
	// Cap is the most headroom, in bytes, that a target above Min may
	// give. Default 8 MiB.
	Cap uint64
}

func (c Config) withDefaults() Config {
	if c.Min <= 0 {
		c.Min = 100
	}
	if c.Max < c.Min {
		c.Max = max(400, c.Min)
	}
	if c.Cap == 0 {
		c.Cap = 8 << 20
	}
	return c
}

// Percent is the target for a live heap of live bytes: the headroom
// Max% of live, capped at Cap bytes, but never under Min% of live.
func (c Config) Percent(live uint64) int {
	c = c.withDefaults()
	if live == 0 {
		return c.Max
	}
	p := c.Cap * 100 / live
	switch {
	case p >= uint64(c.Max):
		return c.Max
	case p <= uint64(c.Min):
		return c.Min
	}
	return int(p)
}

// A Pacer adjusts the GC target after each collection. The zero value is
// not usable; call Start.
type Pacer struct {
	cfg     Config
	stopped atomic.Bool
	mu      sync.Mutex
	percent int
	sample  []metrics.Sample
}

// Start applies cfg's target for the heap live now and keeps it current
// until Stop. It takes over the GC target: GOGC, if the operator set it,
// is for the caller to honour by not starting a Pacer.
func Start(cfg Config) *Pacer {
	p := &Pacer{cfg: cfg.withDefaults(), sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.adjust()
	p.arm()
	return p
}

// Stop stops adjusting; the target last set stays.
func (p *Pacer) Stop() { p.stopped.Store(true) }

// Percent is the target last set.
func (p *Pacer) Percent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.percent
}

// sentinel is garbage from the moment it is made: its cleanup runs after
// the next collection, adjusts and makes the next one. It holds a pointer
// so that it is never one of the tiny allocations the runtime batches
// (whose cleanups may never run).
type sentinel struct{ _ *int }

func (p *Pacer) arm() {
	runtime.AddCleanup(&sentinel{}, func(p *Pacer) {
		if p.stopped.Load() {
			return
		}
		p.adjust()
		p.arm()
	}, p)
}

// adjust sets the target for the heap live after the last collection.
// Small moves are left alone: each change makes the runtime recompute its
// pacing.
func (p *Pacer) adjust() {
	p.mu.Lock()
	defer p.mu.Unlock()
	metrics.Read(p.sample)
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	want := p.cfg.Percent(live)
	if p.percent != 0 && abs(want-p.percent)*10 < p.percent && want != p.cfg.Min && want != p.cfg.Max {
		return
	}
	if want != p.percent {
		debug.SetGCPercent(want)
		p.percent = want
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
