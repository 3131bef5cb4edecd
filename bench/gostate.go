package main

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// What a Go configuration tells of itself through its pprof listener:
// its goroutines and runtime.MemStats, read in the delayed phases.

// goState is what a Go configuration's pprof listener tells of it.
type goState struct {
	goroutines int // -1: not known
	// From runtime.MemStats, when memory is set: the stacks in use, the
	// heap in use, the GC's heap goal.
	memory bool
	memStats
	at time.Time // when memStats were read
	// the process's age in seconds and its CPU time in clock ticks then
	age   float64
	ticks int64
}

// goState reads a Go configuration's goroutines and memory through its
// pprof listener: the heap profile's text form ends with runtime.MemStats.
func (h *harness) goState(name string) goState {
	g := h.goroutines(name)
	st := h.memState(name)
	st.goroutines = g
	return st
}

// memState is goState without the goroutines (counting them stops the
// world).
func (h *harness) memState(name string) goState {
	st := goState{goroutines: -1}
	addr := h.debug[name]
	if addr == "" {
		return st
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	st.at = time.Now()
	if pids := h.pids(name); len(pids) > 0 {
		st.age, st.ticks = procAge(pids[0]), cpuTicks(pids[:1])
	}
	st.memStats, st.memory = readMemStats(resp.Body)
	return st
}

// gcShare is the share of a Go process's CPU time its collector took
// between two reads of its runtime.MemStats, with procs its GOMAXPROCS.
// GCCPUFraction is the collector's CPU time (idle-time marking left out)
// over GOMAXPROCS times the process's age, both as of the last
// collection's end (LastGC): the collector's rate over the span between
// the two reads' last collections, over the process's CPU rate between
// the reads. Zero when it cannot be told, or no collection ran between.
func gcShare(first, last goState, procs int) float64 {
	cpu := float64(last.ticks-first.ticks) / clockTicks
	secs := last.at.Sub(first.at).Seconds()
	if !first.memory || !last.memory || first.age <= 0 || cpu <= 0 || secs <= 0 {
		return 0
	}
	// The process's age at its last collection, and the collector's
	// CPU time by then.
	atGC := func(s goState) (age, gc float64) {
		if s.lastGC == 0 {
			return 0, 0
		}
		age = s.age - s.at.Sub(time.Unix(0, s.lastGC)).Seconds()
		return age, s.gcFraction * age * float64(procs)
	}
	a1, gc1 := atGC(first)
	a2, gc2 := atGC(last)
	if a2 <= a1 || a1 < 0 {
		return 0
	}
	return max(gc2-gc1, 0) / (a2 - a1) / (cpu / secs)
}

// memStats are the runtime.MemStats figures goState reads: the stacks in
// use, the heap in use, the GC's heap goal, the heap allocated so far, in
// KB, and the collections so far.
type memStats struct {
	stackKB, heapKB, goalKB, allocKB int64
	numGC                            int64
	// lastGC is when the last collection ended, in nanoseconds since
	// 1970; zero before the first.
	lastGC int64
	// gcFraction is the share of the CPU time available to the process
	// since it started (GOMAXPROCS cores) that its collector used.
	gcFraction float64
}

// readMemStats reads the runtime.MemStats lines that end a heap profile's
// text form; ok only when all were read.
func readMemStats(r io.Reader) (m memStats, ok bool) {
	fields := map[string]*int64{"# Stack = ": &m.stackKB, "# HeapInuse = ": &m.heapKB, "# NextGC = ": &m.goalKB, "# NumGC = ": &m.numGC, "# TotalAlloc = ": &m.allocKB, "# LastGC = ": &m.lastGC}
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# GCCPUFraction = "); ok {
			if f, err := strconv.ParseFloat(rest, 64); err == nil {
				m.gcFraction = f
				found++
			}
		}
		for prefix, v := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				value, _, _ := strings.Cut(rest, " ") // "# Stack = INUSE / SYS"
				if n, err := strconv.ParseInt(value, 10, 64); err == nil {
					if v != &m.numGC && v != &m.lastGC {
						n /= 1024
					}
					*v = n
					found++
				}
			}
		}
	}
	return m, found == len(fields)+1
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
