package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds the headroom. Percentages are of the heap as GOGC's are.
type Config struct {
	// Min is the lowest target, in percent of the scannable heap (see
	// Heap.Scan). Default 100.
	Min int
	// Max is the highest target, in percent of the live heap. Default 400.
	Max int
	// Cap is the most headroom, in bytes, that a target above Min may
	// give. Default 8 MiB.
	Cap uint64
	// Period is the allocation the headroom need hold: at most what the
	// heap allocated in this long, at the rate since the last collection.
	// Default 500 ms.
	Period time.Duration
	// QuietCap, when above Cap, is the headroom while no more than
	// QuietCalls calls are in flight (Pacer.Begin), whatever the live heap
	// and the allocation rate (Max and Period do not bound it), but never
	// under Min% of the scan work. Few calls hold little memory, so the
	// heap stays within QuietCap of its live size, and a larger headroom
	// is fewer collections; the moment the calls pass QuietCalls, the
	// target comes down to Cap's, before what they hold has grown into the
	// quiet headroom.
	QuietCap   uint64
	QuietCalls int64
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
	if c.Period <= 0 {
		c.Period = 500 * time.Millisecond
	}
	return c
}

// Heap is what the pacer knows of the heap after a collection.
type Heap struct {
	// Live is the heap live after the collection.
	Live uint64
	// Scan is the work a collection does: the live heap's scannable part
	// (a large []byte is marked, never scanned), stacks and globals.
	Scan uint64
	// Roots are the stacks and globals scanned, which Go's target counts
	// with the live heap.
	Roots uint64
	// Rate is the allocation in bytes a second over the last Period at
	// least (Pacer.rate); zero when not known.
	Rate float64
	// Calls are the calls in flight (Pacer.Begin).
	Calls int64
}

// quiet tells whether h's headroom is QuietCap.
func (c Config) quiet(h Heap) bool {
	return c.QuietCap > c.Cap && h.Calls <= c.QuietCalls
}

// Headroom is the garbage the heap may gain before the next collection:
// Max% of the live heap, at most Cap bytes, at most what Period of
// allocation at Rate fills, or QuietCap while the calls are few; but never
// less than Min% of the scan work.
func (c Config) Headroom(h Heap) uint64 {
	c = c.withDefaults()
	room := min(h.Live*uint64(c.Max)/100, c.Cap)
	if h.Rate > 0 {
		room = min(room, uint64(h.Rate*c.Period.Seconds()))
	}
	if c.quiet(h) {
		room = c.QuietCap
	}
	return max(room, h.Scan*uint64(c.Min)/100)
}

// Percent is the GC target that gives Headroom(h): Go's target is the
// live heap plus GOGC% of the live heap and the roots. It is at most Max;
// while quiet, at most the target whose minimum heap goal is the quiet
// goal, the live heap and its headroom.
func (c Config) Percent(h Heap) int {
	c = c.withDefaults()
	base := h.Live + h.Roots
	if base == 0 {
		return c.Max
	}
	room := c.Headroom(h)
	p := (room*100 + base - 1) / base
	if c.quiet(h) {
		p = min(p, (h.Live+room)*100/goMinimumHeap)
	} else {
		p = min(p, uint64(c.Max))
	}
	return int(max(p, 1))
}

// goMinimumHeap is Go's smallest heap goal at a target of 100, which
// scales with the target (runtime/mgcpacer.go, defaultHeapMinimum): the
// target that would give a live heap of 2 MB 16 MiB of headroom, 700,
// would also make no goal less than 28 MB. A busy target's minimum goal
// is at most 16 MB (at Max, 400), and with many calls in flight under
// the goal its headroom gives.
const goMinimumHeap = 4 << 20

// A Pacer adjusts the GC target after each collection. The zero value is
// not usable; call Start.
type Pacer struct {
	cfg     Config
	stopped atomic.Bool
	stop    chan struct{}
	mu      sync.Mutex
	percent int
	sample  []metrics.Sample
	// the heap's allocation at recent adjustments, oldest first
	past []allocated
	// calls are the calls in flight; quiet, whether the target last set
	// allows QuietCap; wake asks tick to adjust now.
	calls atomic.Int64
	quiet atomic.Bool
	wake  chan struct{}
}

// allocated is the heap's cumulative allocation at a moment.
type allocated struct {
	at     time.Time
	allocs uint64
}

// maxPast bounds the adjustments remembered: the rate is read over a
// Period or more, unless collections come faster than maxPast a Period.
const maxPast = 16

// rate is the allocation rate since the latest adjustment at least a
// Period ago, else the oldest remembered, and remembers this one. A rate
// read only since the last collection would see a burst (the connections
// a transfer opens) as the rate to come, and give the next cycle a
// headroom the burst does not last to fill.
func (p *Pacer) rate(now time.Time, allocs uint64) float64 {
	var r float64
	if len(p.past) > 0 {
		from := p.past[0]
		for _, a := range p.past {
			if now.Sub(a.at) < p.cfg.Period {
				break
			}
			from = a
		}
		if secs := now.Sub(from.at).Seconds(); secs > 0 && allocs >= from.allocs {
			r = float64(allocs-from.allocs) / secs
		}
	}
	if len(p.past) == maxPast {
		p.past = append(p.past[:0], p.past[1:]...)
	}
	p.past = append(p.past, allocated{now, allocs})
	return r
}

// metricNames are the samples adjust reads, in Pacer.sample's order.
var metricNames = []string{"/gc/heap/live:bytes", "/gc/scan/heap:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes", "/gc/heap/allocs:bytes"}

// Start applies cfg's target for the heap live now and keeps it current
// until Stop. It takes over the GC target: GOGC, if the operator set it,
// is for the caller to honour by not starting a Pacer.
func Start(cfg Config) *Pacer {
	p := &Pacer{cfg: cfg.withDefaults(), sample: make([]metrics.Sample, len(metricNames)), stop: make(chan struct{}), past: make([]allocated, 0, maxPast),
		wake: make(chan struct{}, 1)}
	for i, name := range metricNames {
		p.sample[i].Name = name
	}
	p.adjust()
	p.arm()
	go p.tick()
	return p
}

// Begin counts a call in flight until End. The call that takes the count
// past QuietCalls while the target allows QuietCap has tick lower it at
// once: a ramp of calls (hundreds arriving at Graph's latency) would
// otherwise grow into the quiet headroom before the next collection.
// Both do nothing on a nil Pacer.
func (p *Pacer) Begin() {
	if p == nil {
		return
	}
	if p.calls.Add(1) > p.cfg.QuietCalls && p.quiet.Load() {
		p.wakeTick()
	}
}

// End ends a call Begin counted. The target rises back to QuietCap only at
// the next adjustment (a collection, or Period), so that calls going and
// coming around QuietCalls do not move it each time.
func (p *Pacer) End() {
	if p != nil {
		p.calls.Add(-1)
	}
}

// Calls are the calls in flight Begin counts.
func (p *Pacer) Calls() int64 {
	if p == nil {
		return 0
	}
	return p.calls.Load()
}

// wakeTick has tick adjust now.
func (p *Pacer) wakeTick() {
	select {
	case p.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Stop stops adjusting; the target last set stays. Stop on a nil Pacer
// does nothing.
func (p *Pacer) Stop() {
	if p == nil {
		return
	}
	if p.stopped.CompareAndSwap(false, true) {
		close(p.stop)
	}
}

// tick adjusts every Period between collections as well: without it, the
// target set in a burst would hold until the next collection, however long
// the heap then stays quiet, and the first cycle after a quiet spell (a
// file transfer starting) would have the burst's headroom to fill.
func (p *Pacer) tick() {
	t := time.NewTicker(p.cfg.Period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.adjust()
		case <-p.wake:
			p.adjust()
		case <-p.stop:
			return
		}
	}
}

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

// adjust sets the target for the heap after the last collection. Small
// moves are left alone: each change makes the runtime recompute its
// pacing.
func (p *Pacer) adjust() {
	p.mu.Lock()
	defer p.mu.Unlock()
	metrics.Read(p.sample)
	v := func(i int) uint64 {
		if p.sample[i].Value.Kind() == metrics.KindUint64 {
			return p.sample[i].Value.Uint64()
		}
		return 0
	}
	h := Heap{Live: v(0), Scan: v(1), Roots: v(2) + v(3), Rate: p.rate(time.Now(), v(4)), Calls: p.calls.Load()}
	quiet := p.cfg.quiet(h)
	p.quiet.Store(quiet)
	if quiet && p.calls.Load() > p.cfg.QuietCalls {
		// A call passed QuietCalls between the count read and the store,
		// and found quiet not yet set.
		p.wakeTick()
	}
	want := p.cfg.Percent(h)
	if p.percent != 0 && abs(want-p.percent)*10 < p.percent && want != p.cfg.Max {
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
