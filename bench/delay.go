package main

import (
	"bufio"
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

// delayedPhases runs the -in-flight levels against configuration name.
// CPU per call and the rate are read over the steady part of each phase:
// from when the backend first holds nine tenths of the calls wanted (the
// connections' TLS handshakes done; thousands take seconds here) to the
// end, from the backend's count of answers.
func (h *harness) delayedPhases(name string, fast sample) ([]delayed, error) {
	defer h.setDelay(0)
	var out []delayed
	for _, l := range h.o.levels {
		if err := h.restart(name); err != nil {
			return out, err
		}
		if err := h.setDelay(l.delay); err != nil {
			return out, err
		}
		pids := h.pids(name)
		resetPeak(pids)
		sampled := make(chan []probe, 1)
		goroutines := make(chan goState, 1)
		stop := make(chan struct{})
		go func() { sampled <- h.probe(pids, stop) }()
		go func() {
			select {
			case <-time.After(h.o.delayDuration * 2 / 3):
				goroutines <- h.goState(name)
			case <-stop:
				goroutines <- goState{goroutines: -1}
			}
		}()
		load := h.wrk
		if l.h2 {
			load = func(target string, n int, d time.Duration, _ int) (wrkResult, error) {
				return h.h2Load(target, n, d, l.bodyBytes)
			}
		}
		res, err := load("https://"+h.addrs[name], l.n, h.o.delayDuration, 0)
		close(stop)
		probes, g := <-sampled, <-goroutines
		if err != nil {
			return out, fmt.Errorf("%d in flight: %w", l.n, err)
		}
		d := delayed{Target: l.n, H2: l.h2, BodyBytes: l.bodyBytes, DelayMs: float64(l.delay.Microseconds()) / 1000, Requests: res.requests, P50: res.p50, P99: res.p99,
			IdleRSSKB: h.idle[name].rssKB, PeakRSSKB: peakRSS(pids), Goroutines: g.goroutines, IdleGoroutines: h.idle[name].goroutines}
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
		if n := len(steady); n >= 2 {
			first, last := steady[0], steady[n-1]
			calls, secs := float64(last.answered-first.answered), last.at.Sub(first.at).Seconds()
			if calls > 0 && secs > 0 {
				d.Rate = calls / secs
				if len(pids) > 0 {
					d.CPUPerReq = float64(last.ticks-first.ticks) * 1e6 / clockTicks / calls
					d.CoreBusy = float64(last.ticks-first.ticks) / clockTicks / secs
				}
			}
		}
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
		out = append(out, d)
		fmt.Fprintf(os.Stderr, "          %-12s %5.0f in flight (%v): %7.1f µs/req (×%.2f fast)  %6.0f req/s  %5.1f KB/call  %5.2f goroutines/call\n",
			name, d.InFlight, l.delay, d.CPUPerReq, d.XFast, d.Rate, d.KBPerCall, d.GoroutinesPerCall)
	}
	return out, nil
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

// goState is what a Go configuration's pprof listener tells of it.
type goState struct {
	goroutines int // -1: not known
	// From runtime.MemStats, when memory is set: the stacks in use, the
	// heap in use, the GC's heap goal.
	memory                  bool
	stackKB, heapKB, goalKB int64
}

// goState reads a Go configuration's goroutines and memory through its
// pprof listener: the heap profile's text form ends with runtime.MemStats.
func (h *harness) goState(name string) goState {
	st := goState{goroutines: h.goroutines(name)}
	addr := h.debug[name]
	if addr == "" {
		return st
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	st.stackKB, st.heapKB, st.goalKB, st.memory = readMemStats(resp.Body)
	return st
}

// readMemStats reads the runtime.MemStats lines that end a heap profile's
// text form: the stacks in use, the heap in use, the GC's heap goal, in
// KB; ok only when all three were read.
func readMemStats(r io.Reader) (stackKB, heapKB, goalKB int64, ok bool) {
	fields := map[string]*int64{"# Stack = ": &stackKB, "# HeapInuse = ": &heapKB, "# NextGC = ": &goalKB}
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		for prefix, v := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				value, _, _ := strings.Cut(rest, " ") // "# Stack = INUSE / SYS"
				if n, err := strconv.ParseInt(value, 10, 64); err == nil {
					*v = n / 1024
					found++
				}
			}
		}
	}
	return stackKB, heapKB, goalKB, found == len(fields)
}

// goroutines counts a Go configuration's goroutines through its
// net/http/pprof listener (graph-proxy's admin listener with
// admin.pprof): the first line of the goroutine profile. -1 when there is
// none: nginx, the backend, or a failure. Counting stops the world once,
// briefly.
func (h *harness) goroutines(name string) int {
	addr := h.debug[name]
	if addr == "" {
		return -1
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		return -1
	}
	return n
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
	sb.WriteString("| configuration | calls in flight (at the backend) | calls as | delay ms | req/s | CPU µs/req | ×fast | core busy | p99 ms | idle RSS MB | peak RSS MB | KB per call in flight | of which stacks + heap in use | goroutines | per call in flight |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
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
				var v []float64
				for _, d := range rows {
					v = append(v, f(d))
				}
				return summarize(v)
			}
			g, gpc, split := "—", "—", "—"
			if rows[0].StackKBPerCall != 0 || rows[0].HeapKBPerCall != 0 {
				split = fmt.Sprintf("%.0f + %.0f", col(func(d delayed) float64 { return d.StackKBPerCall }).Median,
					col(func(d delayed) float64 { return d.HeapKBPerCall }).Median)
			}
			if rows[0].Goroutines >= 0 {
				g = col(func(d delayed) float64 { return float64(d.Goroutines) }).whole()
				gpc = col(func(d delayed) float64 { return d.GoroutinesPerCall }).String()
			}
			cpu, xfast := "—", "—"
			if name != "direct" {
				cpu, xfast = col(func(d delayed) float64 { return d.CPUPerReq }).String(), ratioCell(col(func(d delayed) float64 { return d.XFast }))
			}
			shape := "HTTP/1.1, a connection each"
			if l.h2 {
				shape = fmt.Sprintf("HTTP/2, %d streams a connection", h2Streams)
			}
			kb := col(func(d delayed) float64 { return d.KBPerCall }).String()
			if l.bodyBytes > 0 {
				shape += fmt.Sprintf(", %.1f MB bodies", float64(l.bodyBytes)/1e6)
				kb += " = ×" + col(func(d delayed) float64 { return d.XBody }).String() + " the body"
			}
			fmt.Fprintf(&sb, "| %s | %d (%.0f) | %s | %.0f | %s | %s | %s | %.2f | %s | %.0f | %.0f | %s | %s | %s | %s |\n", name,
				l.n, col(func(d delayed) float64 { return d.InFlight }).Median, shape, float64(l.delay.Microseconds())/1000,
				col(func(d delayed) float64 { return d.Rate }).whole(), cpu, xfast,
				col(func(d delayed) float64 { return d.CoreBusy }).Median,
				msCell(col(func(d delayed) float64 { return d.P99 })),
				col(func(d delayed) float64 { return float64(d.IdleRSSKB) / 1024 }).Median,
				col(func(d delayed) float64 { return float64(d.PeakRSSKB) / 1024 }).Max,
				kb, split, g, gpc)
		}
	}
	sb.WriteString("\nCalls in flight: the calls the load keeps outstanding, each on a connection of its own (wrk, HTTP/1.1) or as HTTP/2 streams " +
		"(bench h2load, as the Graph SDKs send them; nginx relays to the backend over HTTP/1.1 in every phase); in brackets those the backend held (sampled every 250 ms), " +
		"fewer when a saturated proxy queues calls before forwarding them. KB per call in flight is (peak RSS in the phase − RSS at rest after start) ÷ " +
		"calls in flight. CPU per call and req/s are over the steady part of the phase, from the backend's count of answers: from when it holds nine " +
		"tenths of the calls (thousands of TLS handshakes take seconds), else the second half. Goroutines are counted once, two thirds through, through each Go proxy's pprof listener (graph-proxy's admin " +
		"listener with admin.pprof); per call in flight less those at rest. Read at the same moment from the Go proxies' runtime.MemStats, in KB per call in flight less the amount at rest (medians): their goroutines' stacks, and their heap in use (live and not yet collected garbage); the rest of KB per call in flight is what the heap reached between that moment and the peak (the GC's headroom), memory freed but not yet returned, and the runtime's own. ×fast is CPU per call ÷ the same build's at the fast paced " +
		"phase of the same round. Core busy near 1.00: the configuration's core was saturated and calls queued inside it. " +
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
