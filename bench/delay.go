package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Graph answers in 100–500 ms, not in the backend's microseconds: with
// -upstream-delay the backend holds every call that long in extra phases,
// and what a call in flight costs each proxy is measured there.

// level is one delayed phase: n connections, each with one call in flight
// at a time (a closed loop: the next call leaves when the answer is in),
// the backend answering after delay.
type level struct {
	n     int
	delay time.Duration
	// h2: the calls are HTTP/2 streams, at most h2Streams a connection
	// (h2load.go), as the Graph SDKs make them, not a connection each.
	h2 bool
	// bodyBytes, when set, makes every call an event creation whose body
	// is this large (h2 only): what a body held for its checks costs.
	bodyBytes int
}

// parseLevels reads -in-flight: "300,2000", an entry "N:DELAY" with a
// delay of its own (e.g. "2000:2s": 2,000 in flight at 1,000 calls a
// second), an entry "h2/…" with its calls as HTTP/2 streams, and an h2
// entry "…+SIZE" with bodies of SIZE ("4MB", 10^6 bytes, or "4MiB").
func parseLevels(spec string, delay time.Duration) ([]level, error) {
	var out []level
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		l := level{delay: delay}
		f, l.h2 = strings.CutPrefix(f, "h2/")
		if f0, size, ok := strings.Cut(f, "+"); ok {
			n, err := parseSize(size)
			if err != nil || !l.h2 {
				return nil, fmt.Errorf("-in-flight %q: %q is not a body size of an h2/ level (e.g. h2/100:2s+4MB)", spec, size)
			}
			f, l.bodyBytes = f0, n
		}
		n, d, hasDelay := strings.Cut(f, ":")
		var err error
		if l.n, err = strconv.Atoi(n); err != nil || l.n <= 0 {
			return nil, fmt.Errorf("-in-flight %q: %q is not a number of calls", spec, n)
		}
		if hasDelay {
			if l.delay, err = time.ParseDuration(d); err != nil || l.delay <= 0 {
				return nil, fmt.Errorf("-in-flight %q: %q is not a delay", spec, d)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// parseSize reads "4MB" (10^6 bytes), "4MiB" (2^20) or a number of bytes.
func parseSize(s string) (int, error) {
	unit := 1
	switch {
	case strings.HasSuffix(s, "MiB"):
		s, unit = strings.TrimSuffix(s, "MiB"), 1<<20
	case strings.HasSuffix(s, "MB"):
		s, unit = strings.TrimSuffix(s, "MB"), 1_000_000
	case strings.HasSuffix(s, "KB"):
		s, unit = strings.TrimSuffix(s, "KB"), 1000
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n*float64(unit) > 1<<30 {
		return 0, fmt.Errorf("size %q", s)
	}
	return int(n * float64(unit)), nil
}

// delayed is one configuration's figures in one delayed phase.
type delayed struct {
	Target int  `json:"inFlightTarget"`
	H2     bool `json:"http2,omitempty"`
	// BodyBytes is each call's body size when the level sets one.
	BodyBytes int `json:"bodyBytes,omitempty"`
	// XBody is KBPerCall over the body size: what holding a body costs
	// per byte of it.
	XBody   float64 `json:"xBody,omitempty"`
	DelayMs float64 `json:"upstreamDelayMs"`
	// InFlight is the median of the calls the backend held, sampled every
	// 250 ms over the steady part of the phase (delayedPhases): Target
	// unless the configuration queues calls before forwarding them.
	InFlight  float64 `json:"inFlight"`
	Requests  int64   `json:"requests"`
	Rate      float64 `json:"perSecond"`
	CPUPerReq float64 `json:"cpuMicrosPerRequest"`
	// CoreBusy is the share of one core the configuration used: near 1,
	// it was saturated and calls queued inside it.
	CoreBusy float64 `json:"coreBusy"`
	// XFast is CPUPerReq ÷ the same configuration's at the fast paced
	// phase of the same round.
	XFast float64 `json:"xFast"`
	P50   float64 `json:"p50Micros"`
	P99   float64 `json:"p99Micros"`
	// IdleRSSKB is the configuration's RSS at rest after start; PeakRSSKB
	// its peak in this phase (VmHWM, reset before it).
	IdleRSSKB int64   `json:"idleRSSKB"`
	PeakRSSKB int64   `json:"peakRSSKB"`
	KBPerCall float64 `json:"kbPerCallInFlight"`
	// SteadyPeakRSSKB is the peak from a third of the phase on, after
	// the ramp (the closed loop sends all its calls at once when the
	// phase starts); KBPerCallSteady is KBPerCall with it.
	SteadyPeakRSSKB int64   `json:"steadyPeakRSSKB,omitempty"`
	KBPerCallSteady float64 `json:"kbPerCallInFlightSteady,omitempty"`
	// Goroutines were counted once, two thirds through; -1 where the
	// configuration has none to count (nginx) or no way to ask.
	Goroutines        int     `json:"goroutines"`
	IdleGoroutines    int     `json:"idleGoroutines"`
	GoroutinesPerCall float64 `json:"goroutinesPerCallInFlight"`
	// StackKBPerCall and HeapKBPerCall split a Go configuration's memory
	// per call in flight, read with the goroutines: its goroutines'
	// stacks and its heap in use (live and not yet collected), each less
	// its amount at rest; GoalKB is its GC's heap goal then. Zero where
	// there is none to read.
	StackKBPerCall float64 `json:"stackKBPerCallInFlight,omitempty"`
	HeapKBPerCall  float64 `json:"heapKBPerCallInFlight,omitempty"`
	GoalKB         int64   `json:"heapGoalKB,omitempty"`
	// GCPerKCall and AllocKBPerCall are a Go configuration's collections
	// per thousand calls and heap allocated per call, between its
	// runtime.MemStats read a third and two thirds through the phase, at
	// the steady rate: counts, which the machine's noise does not move as
	// it moves CPU time, so they show what a change of the GC's pacing or
	// of the allocations costs.
	GCPerKCall     float64 `json:"gcPerThousandCalls,omitempty"`
	AllocKBPerCall float64 `json:"allocKBPerCall,omitempty"`
	// GCShare is the share of the configuration's CPU time its collector
	// took over the same span (gcShare).
	GCShare float64 `json:"gcShare,omitempty"`
	// CPUTwin is the CPU per call of the level's twin (twinPhase): the
	// same connections at the same rate against the backend answering at
	// once; XTwin is CPUPerReq ÷ CPUTwin. Zero without -twin, or for a
	// level with bodies.
	CPUTwin float64 `json:"cpuMicrosPerRequestTwin,omitempty"`
	XTwin   float64 `json:"xTwin,omitempty"`
	// GCShareTwin is GCShare in the twin, over its second half but the
	// last tenth.
	GCShareTwin float64 `json:"gcShareTwin,omitempty"`
}

// idleState is a configuration at rest after start.
type idleState struct {
	rssKB int64
	goState
}

// recordIdle notes each configuration's RSS and goroutines at rest.
func (h *harness) recordIdle() {
	for _, name := range h.o.configs {
		h.recordIdleOf(name)
	}
}

func (h *harness) recordIdleOf(name string) {
	var rss int64
	for _, pid := range h.pids(name) {
		rss += procStatus(pid, "VmRSS")
	}
	h.idle[name] = idleState{rssKB: rss, goState: h.goState(name)}
}

// delayedPhases runs the -in-flight levels against configuration name,
// and with -twin each level's twin (twinPhase).
func (h *harness) delayedPhases(name string, fast sample) ([]delayed, error) {
	defer h.setDelay(0)
	var out []delayed
	for _, l := range h.o.levels {
		d, err := h.delayedPhase(name, l, fast)
		if err != nil {
			return out, err
		}
		twin := "—"
		if h.o.twin && l.bodyBytes == 0 && name != "direct" {
			if d.CPUTwin, d.GCShareTwin, err = h.twinPhase(name, l); err != nil {
				return out, err
			}
			if d.CPUTwin > 0 && d.CPUPerReq > 0 {
				d.XTwin = d.CPUPerReq / d.CPUTwin
				twin = fmt.Sprintf("×%.2f", d.XTwin)
			}
		}
		out = append(out, d)
		fmt.Fprintf(os.Stderr, "          %-12s %5.0f in flight (%v): %7.1f µs/req (×%.2f fast, %s twin)  %6.0f req/s  %5.1f KB/call  %5.2f goroutines/call\n",
			name, d.InFlight, l.delay, d.CPUPerReq, d.XFast, twin, d.Rate, d.KBPerCall, d.GoroutinesPerCall)
	}
	return out, nil
}

// delayedPhase runs one level in a process started afresh. CPU per call
// and the rate are read over the steady part of the phase: from when the
// backend first holds nine tenths of the calls wanted (the connections'
// TLS handshakes done; thousands take seconds here) to the end, from the
// backend's count of answers.
func (h *harness) delayedPhase(name string, l level, fast sample) (delayed, error) {
	pids, err := h.startLevel(name, l.delay)
	if err != nil {
		return delayed{}, err
	}
	resetPeak(pids)
	sampled := make(chan []probe, 1)
	states := make(chan [2]goState, 1)
	rampPeak := make(chan int64, 1)
	stop := make(chan struct{})
	go func() { sampled <- h.probe(pids, stop) }()
	go func() {
		var st [2]goState
		st[0].goroutines, st[1].goroutines = -1, -1
		select {
		case <-time.After(h.o.delayDuration / 3):
			// The peak so far is the ramp's: every call of the closed
			// loop sent at once. The steady peak is read from here on.
			rampPeak <- peakRSS(pids)
			resetPeak(pids)
			st[0] = h.memState(name)
		case <-stop:
			rampPeak <- 0
		}
		select {
		case <-time.After(h.o.delayDuration / 3):
			st[1] = h.goState(name)
		case <-stop:
		}
		states <- st
	}()
	res, err := h.levelLoad(name, l, 0)
	close(stop)
	probes, st, ramp := <-sampled, <-states, <-rampPeak
	g := st[1]
	if err != nil {
		return delayed{}, fmt.Errorf("%d in flight: %w", l.n, err)
	}
	steadyPeak := peakRSS(pids)
	d := delayed{Target: l.n, H2: l.h2, BodyBytes: l.bodyBytes, DelayMs: float64(l.delay.Microseconds()) / 1000, Requests: res.requests, P50: res.p50, P99: res.p99,
		IdleRSSKB: h.idle[name].rssKB, PeakRSSKB: max(ramp, steadyPeak), Goroutines: g.goroutines, IdleGoroutines: h.idle[name].goroutines}
	if ramp > 0 {
		d.SteadyPeakRSSKB = steadyPeak
		d.KBPerCallSteady = float64(steadyPeak-d.IdleRSSKB) / float64(l.n)
	}
	// Without nine tenths at the backend (a saturated proxy queues
	// calls before they reach it), the second half of the phase.
	steady := probes[len(probes)/2:]
	for i, p := range probes {
		if p.inFlight >= 0.9*float64(l.n) {
			steady = probes[i:]
			break
		}
	}
	var inFlight []float64
	for _, p := range steady {
		inFlight = append(inFlight, p.inFlight)
	}
	d.InFlight = summarize(inFlight).Median
	d.Rate, d.CPUPerReq, d.CoreBusy = steadyCPU(steady, len(pids) > 0)
	if fast.CPUPerReq > 0 && d.CPUPerReq > 0 {
		d.XFast = d.CPUPerReq / fast.CPUPerReq
	}
	// Per call the closed loop keeps outstanding: in the proxy, whether
	// forwarded yet or queued before it.
	d.KBPerCall = float64(d.PeakRSSKB-d.IdleRSSKB) / float64(l.n)
	if l.bodyBytes > 0 {
		d.XBody = d.KBPerCall * 1024 / float64(l.bodyBytes)
	}
	if g.goroutines >= 0 && d.IdleGoroutines >= 0 {
		d.GoroutinesPerCall = float64(g.goroutines-d.IdleGoroutines) / float64(l.n)
	}
	if idle := h.idle[name]; g.memory && idle.memory {
		d.StackKBPerCall = float64(g.stackKB-idle.stackKB) / float64(l.n)
		d.HeapKBPerCall = float64(g.heapKB-idle.heapKB) / float64(l.n)
		d.GoalKB = g.goalKB
	}
	if first := st[0]; g.memory && first.memory && d.Rate > 0 {
		if secs := g.at.Sub(first.at).Seconds(); secs > 0 {
			d.GCPerKCall = float64(g.numGC-first.numGC) / secs / d.Rate * 1000
			d.AllocKBPerCall = float64(g.allocKB-first.allocKB) / secs / d.Rate
		}
		d.GCShare = gcShare(first, g, cpuCount(h.o.proxyCPU))
	}
	return d, nil
}

// twinPhase is a level's twin: the same connections (or streams) sending
// at the same rate, each waiting between its calls what the level's
// delay made it wait, at random from nothing to twice that so that they
// do not move in step, against the backend answering at once, in a
// process started afresh. Its CPU per call, over the second half, is what
// the level's would be without Graph's latency: the same load on the
// same connections, only the calls held in flight differ. The fast paced
// phase differs from a level by more than the latency (20 HTTP/1.1
// connections against hundreds, or against HTTP/2 streams).
func (h *harness) twinPhase(name string, l level) (cpu, gc float64, err error) {
	pids, err := h.startLevel(name, 0)
	if err != nil {
		return 0, 0, err
	}
	stop := make(chan struct{})
	sampled := make(chan []probe, 1)
	states := make(chan [2]goState, 1)
	go func() { sampled <- h.probe(pids, stop) }()
	go func() {
		var st [2]goState
		for i, at := range []time.Duration{h.o.delayDuration / 2, h.o.delayDuration * 2 / 5} {
			select {
			case <-time.After(at):
				st[i] = h.memState(name)
			case <-stop:
			}
		}
		states <- st
	}()
	_, err = h.levelLoad(name, l, l.delay)
	close(stop)
	probes, st := <-sampled, <-states
	if err != nil {
		return 0, 0, fmt.Errorf("%d in flight's twin: %w", l.n, err)
	}
	_, cpu, _ = steadyCPU(probes[len(probes)/2:], len(pids) > 0)
	return cpu, gcShare(st[0], st[1], cpuCount(h.o.proxyCPU)), nil
}

// startLevel starts configuration name afresh for a phase, the backend
// answering after delay, and returns its processes.
func (h *harness) startLevel(name string, delay time.Duration) ([]int, error) {
	if err := h.restart(name); err != nil {
		return nil, err
	}
	if err := h.setDelay(delay); err != nil {
		return nil, err
	}
	return h.pids(name), nil
}

// levelLoad runs level l's load against configuration name for a phase:
// its calls as HTTP/2 streams or on a connection each, in a closed loop,
// or with think, each stream or connection waiting that long on average
// before each call (twinPhase).
func (h *harness) levelLoad(name string, l level, think time.Duration) (wrkResult, error) {
	target := "https://" + h.addrs[name]
	switch {
	case l.h2:
		return h.h2Load(target, l.n, h.o.delayDuration, l.bodyBytes, think)
	case think > 0:
		return h.wrkJittered(target, l.n, h.o.delayDuration, think)
	}
	return h.wrk(target, l.n, h.o.delayDuration, 0)
}

// steadyCPU is the rate, the CPU per call and the share of a core used
// between the first and the last of probes.
func steadyCPU(probes []probe, cpu bool) (rate, perReq, busy float64) {
	n := len(probes)
	if n < 2 {
		return 0, 0, 0
	}
	first, last := probes[0], probes[n-1]
	calls, secs := float64(last.answered-first.answered), last.at.Sub(first.at).Seconds()
	if calls <= 0 || secs <= 0 {
		return 0, 0, 0
	}
	rate = calls / secs
	if cpu {
		perReq = float64(last.ticks-first.ticks) * 1e6 / clockTicks / calls
		busy = float64(last.ticks-first.ticks) / clockTicks / secs
	}
	return rate, perReq, busy
}

// setDelay sets the backend's answer delay.
func (h *harness) setDelay(d time.Duration) error {
	resp, err := h.client.Post("https://"+h.addrs["direct"]+"/_bench/delay?d="+d.String(), "text/plain", nil)
	if err != nil {
		return fmt.Errorf("backend delay: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend delay: %s", resp.Status)
	}
	return nil
}

// probe is one look at a delayed phase: the calls the backend holds and
// has answered, and the configuration's CPU ticks.
type probe struct {
	at              time.Time
	inFlight        float64
	answered, ticks int64
}

// probe looks every 250 ms until stop.
func (h *harness) probe(pids []int, stop <-chan struct{}) []probe {
	var out []probe
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return out
		case <-tick.C:
		}
		resp, err := h.client.Get("https://" + h.addrs["direct"] + "/_bench/inflight")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := probe{at: time.Now(), ticks: cpuTicks(pids)}
		if _, err := fmt.Sscanf(string(b), "%f %d", &p.inFlight, &p.answered); err == nil {
			out = append(out, p)
		}
	}
}

// resetPeak resets the processes' VmHWM to their RSS now (Linux's
// clear_refs "5"), so that the next VmHWM is this phase's peak.
func resetPeak(pids []int) {
	for _, pid := range pids {
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// raiseFileLimit lets wrk and the proxies hold thousands of connections:
// the soft limit on open files raised to the hard one (children inherit it
// once set explicitly).
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// delaySection is the results of the delayed phases: per configuration
// and level, median (min–max) over rounds.
func delaySection(o options, results []sample) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## At Graph's latency\n\nRun of %s on %s. %d rounds; per configuration, round and level: %v with the backend answering "+
		"after the delay, each of N connections keeping one call in flight (a closed loop). Figures: median (min–max) over rounds.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(), min(o.rounds, o.delayRounds), o.delayDuration)
	sb.WriteString("| configuration | calls in flight (at the backend) | calls as | delay ms | req/s | CPU µs/req | ×fast | ×twin | core busy | p99 ms | idle RSS MB | peak RSS MB | KB per call in flight | after the ramp | of which stacks + heap in use | GCs per 1,000 calls | the GC's share of CPU | KB allocated per call | goroutines | per call in flight |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range o.configs {
		for i, l := range o.levels {
			var rows []delayed
			for _, s := range results {
				if s.Config == name && i < len(s.Delayed) {
					rows = append(rows, s.Delayed[i])
				}
			}
			if len(rows) == 0 {
				continue
			}
			col := func(f func(d delayed) float64) stats {
				return summarize(column(rows, f))
			}
			g, gpc, split, gcs, gcShare, allocs := "—", "—", "—", "—", "—", "—"
			if rows[0].StackKBPerCall != 0 || rows[0].HeapKBPerCall != 0 {
				split = fmt.Sprintf("%.0f + %.0f", col(func(d delayed) float64 { return d.StackKBPerCall }).Median,
					col(func(d delayed) float64 { return d.HeapKBPerCall }).Median)
			}
			if rows[0].AllocKBPerCall != 0 {
				gcs = col(func(d delayed) float64 { return d.GCPerKCall }).String()
				allocs = col(func(d delayed) float64 { return d.AllocKBPerCall }).String()
				share := col(func(d delayed) float64 { return 100 * d.GCShare })
				gcShare = fmt.Sprintf("%.1f %% (%.1f–%.1f)", share.Median, share.Min, share.Max)
				if rows[0].GCShareTwin > 0 {
					twin := col(func(d delayed) float64 { return 100 * d.GCShareTwin })
					gcShare += fmt.Sprintf("; twin %.1f %% (%.1f–%.1f)", twin.Median, twin.Min, twin.Max)
				}
			}
			if rows[0].Goroutines >= 0 {
				g = col(func(d delayed) float64 { return float64(d.Goroutines) }).whole()
				gpc = col(func(d delayed) float64 { return d.GoroutinesPerCall }).String()
			}
			cpu, xfast, xtwin := "—", "—", "—"
			if name != "direct" {
				cpu, xfast = col(func(d delayed) float64 { return d.CPUPerReq }).String(), ratioCell(col(func(d delayed) float64 { return d.XFast }))
			}
			if name != "direct" && rows[0].XTwin > 0 {
				xtwin = ratioCell(col(func(d delayed) float64 { return d.XTwin }))
			}
			shape := "HTTP/1.1, a connection each"
			if l.h2 {
				shape = fmt.Sprintf("HTTP/2, %d streams a connection", h2Streams)
			}
			kb := col(func(d delayed) float64 { return d.KBPerCall }).String()
			steady := "—"
			if rows[0].KBPerCallSteady != 0 {
				steady = col(func(d delayed) float64 { return d.KBPerCallSteady }).String()
			}
			if l.bodyBytes > 0 {
				shape += fmt.Sprintf(", %.1f MB bodies", float64(l.bodyBytes)/1e6)
				kb += " = ×" + col(func(d delayed) float64 { return d.XBody }).String() + " the body"
			}
			fmt.Fprintf(&sb, "| %s | %d (%.0f) | %s | %.0f | %s | %s | %s | %s | %.2f | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
				l.n, col(func(d delayed) float64 { return d.InFlight }).Median, shape, float64(l.delay.Microseconds())/1000,
				col(func(d delayed) float64 { return d.Rate }).whole(), cpu, xfast, xtwin,
				col(func(d delayed) float64 { return d.CoreBusy }).Median,
				msCell(col(func(d delayed) float64 { return d.P99 })),
				col(func(d delayed) float64 { return float64(d.IdleRSSKB) / 1024 }).Median,
				col(func(d delayed) float64 { return float64(d.PeakRSSKB) / 1024 }).Max,
				kb, steady, split, gcs, gcShare, allocs, g, gpc)
		}
	}
	sb.WriteString("\nCalls in flight: the calls the load keeps outstanding, each on a connection of its own (wrk, HTTP/1.1) or as HTTP/2 streams " +
		"(bench h2load, as the Graph SDKs send them; nginx relays to the backend over HTTP/1.1 in every phase); in brackets those the backend held (sampled every 250 ms), " +
		"fewer when a saturated proxy queues calls before forwarding them. KB per call in flight is (peak RSS in the phase − RSS at rest after start) ÷ " +
		"calls in flight; after the ramp, the same with the peak from a third of the phase on: the closed loop sends all its calls at once when a phase starts, and the proxy holds them all in the middle of their checks at once, a burst the calls in flight then never repeat. CPU per call and req/s are over the steady part of the phase, from the backend's count of answers: from when it holds nine " +
		"tenths of the calls (thousands of TLS handshakes take seconds), else the second half. Goroutines are counted once, two thirds through, through each Go proxy's pprof listener (graph-proxy's admin " +
		"listener with admin.pprof); per call in flight less those at rest. Read at the same moment from the Go proxies' runtime.MemStats, in KB per call in flight less the amount at rest (medians): their goroutines' stacks, and their heap in use (live and not yet collected garbage); the rest of KB per call in flight is what the heap reached between that moment and the peak (the GC's headroom), memory freed but not yet returned, and the runtime's own. GCs per 1,000 calls and KB allocated per call are from the same runtime.MemStats read a third and two thirds through the phase, at the steady rate: counts, which this machine's noise does not move, so that a change of the GC's pacing or of the allocations shows in them when CPU time cannot tell it. The GC's share of CPU is over the same span: the collector's CPU time by the runtime's own account (GCCPUFraction) over the process's CPU time, a ratio of two times the machine's noise moves together; \"twin\" is the same in the level's twin (below), over its second half but the last tenth. ×fast is CPU per call ÷ the same build's at the fast paced " +
		"phase of the same round. ×twin is CPU per call ÷ the same build's in the level's twin, run after it in a process started afresh: the same connections or streams sending at the same rate, each waiting between its calls the level's delay on average (at random from nothing to twice it, so that they do not move in step), against the backend answering at once; CPU per call over its second half. It measures what the latency alone costs, where ×fast also counts the difference between 20 HTTP/1.1 connections and the level's own. Core busy near 1.00: the configuration's core was saturated and calls queued inside it. " +
		"The direct row is the backend's. With bodies (\"MB bodies\"), every call creates an event whose body is that large, " +
		"which graph-proxy and the OPA peer hold for their checks and the bare proxy streams; the backend answers such a call " +
		"with the event's id only, so that the phase measures the bodies going out; ×body is KB per call in flight over the body's size.\n")
	return sb.String()
}

func (s stats) whole() string {
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median, s.Min, s.Max)
}

// withPprof gives one of this program's servers a pprof listener when a
// profile (-profile) or goroutine counts (-upstream-delay) are wanted.
func (h *harness) withPprof(name string, args []string) ([]string, error) {
	if h.o.profile == "" && h.o.upstreamDelay == 0 {
		return args, nil
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	if h.o.profile != "" {
		h.pprof[name] = addr
	}
	if h.o.upstreamDelay > 0 {
		h.debug[name] = addr
	}
	return append(args, "-pprof", addr), nil
}
