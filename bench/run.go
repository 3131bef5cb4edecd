package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/testaddr"
)

type options struct {
	proxyBin string
	// baselineBin, when set, is another graph-proxy build measured side by
	// side as the configuration "baseline" (an optimisation's before).
	baselineBin string
	// gzip makes the upstream compress its answers when asked, as Graph
	// does.
	gzip bool
	// reads makes every call of the load a read (readQuery) instead of
	// getSchedule and event creation in turn.
	reads      bool
	rounds     int
	duration   time.Duration
	saturate   time.Duration
	rate       int
	paceConns  int
	satConns   int
	out        string
	soak       time.Duration
	loadCPU    string
	proxyCPU   string
	configs    []string
	keepTmpDir bool
	profile    string
	// upstreamDelay, when set, adds delayed phases (delay.go): the
	// backend answers after it, at each of levels' calls in flight, for
	// delayDuration.
	upstreamDelay time.Duration
	levels        []level
	delayDuration time.Duration
	// delayRounds is how many of the rounds, the first ones, also run the
	// delayed phases.
	delayRounds int
	// twin: each delayed level without bodies is also run against the
	// fast backend (twinPhase).
	twin bool
	// instructions runs the Go proxies under callgrind and reports the
	// instructions each paced phase's calls took (instructions.go).
	instructions bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	o := options{}
	fs.StringVar(&o.proxyBin, "proxy", "bin/graph-proxy", "the graph-proxy binary")
	fs.BoolVar(&o.gzip, "gzip", false, "the upstream compresses answers when asked, as Graph does (Go's transport asks; nginx and wrk do not)")
	fs.BoolVar(&o.reads, "reads", false, "every call of the load lists a mailbox's events (a GET, about 2 KB back), as a vendor's sync reads, instead of getSchedule and event creation in turn")
	fs.StringVar(&o.baselineBin, "baseline", "", "another graph-proxy binary (e.g. the previous commit's) measured side by side as configuration \"baseline\"")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds (0: soak only)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "paced phase per configuration and round")
	fs.DurationVar(&o.saturate, "saturate", 5*time.Second, "saturated phase per configuration and round (0: none)")
	fs.IntVar(&o.rate, "rate", 1000, "paced rate, requests per second")
	fs.IntVar(&o.paceConns, "pace-connections", 20, "connections of the paced phase")
	fs.IntVar(&o.satConns, "saturate-connections", 64, "connections of the saturated phase")
	fs.StringVar(&o.out, "out", "bench/RESULTS.md", "results file")
	fs.DurationVar(&o.soak, "soak", 0, "also soak graph-proxy at the paced rate this long")
	fs.StringVar(&o.loadCPU, "load-cpu", "0", "core of wrk, the upstream and the simulator")
	fs.StringVar(&o.proxyCPU, "proxy-cpu", "1", "core of the proxy under test")
	configs := fs.String("configs", "direct,bare,nginx,opa,graph-proxy", "configurations")
	only := fs.String("only", "", "run only these configurations, and direct (added latency is measured against it); overrides -configs")
	fs.DurationVar(&o.upstreamDelay, "upstream-delay", 0, "also run phases with the backend answering after this delay, as Graph does in 100–500 ms (e.g. 300ms)")
	inFlight := fs.String("in-flight", "300,2000:2s", "calls in flight of the delayed phases: N connections each keeping one call in flight; N:DELAY gives a level its own delay")
	fs.DurationVar(&o.delayDuration, "delay-duration", 0, "each delayed phase (default: -duration)")
	fs.IntVar(&o.delayRounds, "delay-rounds", 3, "how many rounds, the first, also run the delayed phases")
	fs.BoolVar(&o.twin, "twin", true, "also run each delayed level without bodies against the backend answering at once, the same connections at the same rate (its twin), for CPU per call without the latency")
	fs.BoolVar(&o.keepTmpDir, "keep", false, "keep the working directory")
	fs.BoolVar(&o.instructions, "instructions", false, "run the Go proxies under valgrind's callgrind and report only the instructions per call of each paced phase (a count the machine's noise does not move; keep -rate under what a proxy serves so slowed, e.g. 100)")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of graph-proxy's first paced phase here (and the bare proxy's to FILE.bare)")
	fs.Parse(args)
	o.configs = strings.Split(*configs, ",")
	if *only != "" {
		o.configs = []string{"direct"}
		for _, c := range strings.Split(*only, ",") {
			if c != "direct" {
				o.configs = append(o.configs, c)
			}
		}
	}
	if o.instructions {
		if o.upstreamDelay > 0 || o.soak > 0 || o.profile != "" {
			return errors.New("-instructions counts paced phases only: not with -upstream-delay, -soak or -profile")
		}
		if err := checkValgrind(); err != nil {
			return err
		}
	}
	if o.upstreamDelay > 0 {
		var err error
		if o.levels, err = parseLevels(*inFlight, o.upstreamDelay); err != nil {
			return err
		}
		if o.delayDuration == 0 {
			o.delayDuration = o.duration
		}
		if !slices.Contains(o.configs, "direct") {
			return errors.New("-upstream-delay needs the direct configuration: the backend counts the calls in flight")
		}
	}
	raiseFileLimit()
	if o.baselineBin != "" && !slices.Contains(o.configs, "baseline") {
		o.configs = append(o.configs, "baseline")
	}
	for _, tool := range []string{"wrk", "nginx", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (make bench installs it with apt-get)", tool)
		}
	}

	h, err := start(o)
	defer h.stop()
	if err != nil {
		return err
	}
	var results []sample
	for r := 0; r < o.rounds; r++ {
		for _, name := range roundOrder(o.configs, r) {
			s, err := h.measure(name, r)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, name, err)
			}
			results = append(results, s)
			fmt.Fprintf(os.Stderr, "round %d %-12s %7.1f µs/req  p50 %6.0f µs  p99 %6.0f µs  at %5.0f req/s;  saturated %7.0f req/s\n",
				r+1, name, s.CPUPerReq, s.P50, s.P99, s.PacedRate, s.Saturated)
		}
	}
	// The delayed phases come after every fast round, each level in a
	// process started afresh: the thousands of connections and the memory
	// of a delayed phase would otherwise weigh on the fast rounds after
	// it, and one level's memory on the next's peak.
	for r := 0; o.upstreamDelay > 0 && r < min(o.rounds, o.delayRounds); r++ {
		for _, name := range roundOrder(o.configs, r) {
			i := slices.IndexFunc(results, func(s sample) bool { return s.Config == name && s.Round == r+1 })
			d, err := h.delayedPhases(name, results[i])
			if err != nil {
				return fmt.Errorf("round %d, %s at Graph's latency: %w", r+1, name, err)
			}
			results[i].Delayed = d
		}
	}
	var soak *soakResult
	if o.soak > 0 {
		if soak, err = h.soakRun(o.soak); err != nil {
			return err
		}
	}
	return writeResults(o, h, results, soak)
}

// roundOrder is the order of round r's configurations. Rounds are
// interleaved: each starts with a different configuration. The bare proxy
// and graph-proxy, whose ratio is the target the bench is run for, are
// measured side by side in every round, in turns first: the machine's slow
// drift (another tenant, the CPU's clock) then weighs on both alike, where
// slots further apart would carry it into the ratio.
func roundOrder(configs []string, r int) []string {
	var units [][]string
	pair := slices.Contains(configs, "bare") && slices.Contains(configs, "graph-proxy")
	for _, c := range configs {
		switch {
		case pair && c == "graph-proxy":
			// measured in bare's unit
		case pair && c == "bare":
			if r%2 == 0 {
				units = append(units, []string{"bare", "graph-proxy"})
			} else {
				units = append(units, []string{"graph-proxy", "bare"})
			}
		default:
			units = append(units, []string{c})
		}
	}
	k := r % len(units)
	return slices.Concat(slices.Concat(units[k:]...), slices.Concat(units[:k]...))
}

// harness holds the running processes.
type harness struct {
	o       options
	dir     string
	self    string
	token   string
	ca      string
	procs   map[string]*exec.Cmd // by configuration
	addrs   map[string]string
	pprof   map[string]string // profiling listeners by configuration
	debug   map[string]string // pprof listeners for goroutine counts (delay.go)
	idle    map[string]idleState
	audit   map[string]string // audit files of the graph-proxy configurations
	sim     *exec.Cmd
	backend *exec.Cmd
	client  *http.Client
	// what restarting a configuration needs
	simEnv    []byte
	cert, key string
}

func start(o options) (*harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "graph-proxy-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{o: o, dir: dir, self: self, procs: map[string]*exec.Cmd{}, addrs: map[string]string{}, pprof: map[string]string{}, audit: map[string]string{},
		debug: map[string]string{}, idle: map[string]idleState{}}
	caPEM, err := writeCerts(dir)
	if err != nil {
		return h, err
	}
	h.ca = filepath.Join(dir, "ca.pem")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	h.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")

	// The simulator: Entra (the vendor's tokens, JWKS) and the identity
	// endpoint (the proxy's Graph token). Graph itself is the backend.
	simDir := filepath.Join(dir, "sim")
	h.sim = exec.Command("taskset", "-c", o.loadCPU, o.proxyBin, "sim", "--state-dir", simDir)
	h.sim.Stderr = io.Discard
	if err := h.sim.Start(); err != nil {
		return h, err
	}
	simEnv, err := waitFile(filepath.Join(simDir, "sim.env"), 20*time.Second)
	if err != nil {
		return h, fmt.Errorf("simulator: %w", err)
	}
	tok, err := exec.Command(o.proxyBin, "sim", "token", "--state-dir", simDir).Output()
	if err != nil {
		return h, fmt.Errorf("vendor token: %w", err)
	}
	h.token = strings.TrimSpace(string(tok))

	backendArgs := []string{"-cert", cert, "-key", key}
	if o.gzip {
		backendArgs = append(backendArgs, "-gzip")
	}
	if h.backend, h.addrs["direct"], err = h.startServer(o.loadCPU, "backend", backendArgs...); err != nil {
		return h, err
	}
	h.simEnv, h.cert, h.key = simEnv, cert, key
	for _, name := range o.configs {
		if err := h.startConfig(name); err != nil {
			return h, fmt.Errorf("%s: %w", name, err)
		}
	}
	defer h.recordIdle()
	for _, name := range o.configs {
		if err := h.check(name); err != nil {
			return h, err
		}
	}
	return h, nil
}

// startConfig starts configuration name's process (direct's is the
// backend, started first).
func (h *harness) startConfig(name string) error {
	upstream := "https://" + h.addrs["direct"]
	switch name {
	case "direct":
		return nil
	case "bare":
		args := []string{"-cert", h.cert, "-key", h.key, "-upstream", upstream, "-ca", h.ca}
		args, err := h.withPprof(name, args)
		if err != nil {
			return err
		}
		h.procs[name], h.addrs[name], err = h.startServer(h.o.proxyCPU, "bare", args...)
		return err
	case "opa":
		return h.startOPA(name, h.simEnv, h.cert, h.key, upstream)
	case "nginx":
		return h.startNginx(h.cert, h.key)
	case "graph-proxy":
		return h.startGraphProxy(name, h.o.proxyBin, h.simEnv, h.cert, h.key, upstream)
	case "baseline":
		if h.o.baselineBin == "" {
			return errors.New("needs -baseline")
		}
		return h.startGraphProxy(name, h.o.baselineBin, h.simEnv, h.cert, h.key, upstream)
	}
	return fmt.Errorf("unknown configuration %q", name)
}

// restart starts configuration name afresh (not direct: the backend
// serves every configuration): a delayed phase measures what its calls in
// flight take from a process at rest, not what earlier phases left.
func (h *harness) restart(name string) error {
	if name == "direct" {
		return nil
	}
	stopProcess(h.procs[name])
	if err := h.startConfig(name); err != nil {
		return fmt.Errorf("restarting %s: %w", name, err)
	}
	if err := h.check(name); err != nil {
		return err
	}
	h.recordIdleOf(name)
	return nil
}

// check has configuration name answer the load's two calls (two reads
// with -reads), each with success.
func (h *harness) check(name string) error {
	for i := range int64(2) {
		req := loadRequest("https://"+h.addrs[name], h.token, i, 1000, h.o.reads)
		resp, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s answered %s with %d: %s", name, req.URL.Path, resp.StatusCode, b)
		}
	}
	return nil
}

func (h *harness) stop() {
	for _, c := range h.procs {
		stopProcess(c)
	}
	stopProcess(h.backend)
	stopProcess(h.sim)
	if !h.o.keepTmpDir {
		os.RemoveAll(h.dir)
	}
}

func stopProcess(c *exec.Cmd) {
	if c == nil || c.Process == nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.Process.Kill()
	}
}

// sample is one configuration's figures in one round.
type sample struct {
	Config    string  `json:"config"`
	Round     int     `json:"round"`
	Requests  int64   `json:"requests"`
	PacedRate float64 `json:"pacedRate"`
	CPUPerReq float64 `json:"cpuMicrosPerRequest"` // 0 for direct
	P50       float64 `json:"p50Micros"`
	P99       float64 `json:"p99Micros"`
	Saturated float64 `json:"saturatedPerSecond"`
	PeakRSSKB int64   `json:"peakRSSKB"`
	// OwnP50 and OwnP99 are graph-proxy's own time per call in the paced
	// phase, from its audit records: durationMs − upstreamMs.
	OwnP50 float64 `json:"ownP50Micros,omitempty"`
	OwnP99 float64 `json:"ownP99Micros,omitempty"`
	// InstrPerReq is the instructions per call of the paced phase, with
	// -instructions (user space, callgrind).
	InstrPerReq float64 `json:"instructionsPerRequest,omitempty"`
	// Delayed are the phases with the upstream's delay (-upstream-delay),
	// one per level of calls in flight.
	Delayed []delayed `json:"delayed,omitempty"`
}

func (h *harness) measure(name string, round int) (sample, error) {
	s := sample{Config: name, Round: round + 1}
	target := "https://" + h.addrs[name]
	pids := h.pids(name)
	before := cpuTicks(pids)
	profiled := make(chan error, 1)
	if addr := h.pprof[name]; addr != "" && round == 0 {
		file := h.o.profile
		if name != "graph-proxy" {
			file += "." + name
		}
		go func() { profiled <- cpuProfile(addr, file, h.o.duration-time.Second) }()
	} else {
		profiled <- nil
	}
	auditFile := h.audit[name]
	var auditFrom int64
	if auditFile != "" {
		auditFrom = fileSize(auditFile)
	}
	counted := h.o.instructions && h.procs[name] != nil && name != "nginx"
	if counted {
		if err := h.zeroInstructions(name); err != nil {
			return s, err
		}
	}
	paced, err := h.wrk(target, h.o.paceConns, h.o.duration, h.o.rate)
	if err != nil {
		return s, err
	}
	if counted && paced.requests > 0 {
		n, err := h.instructionsSince(name)
		if err != nil {
			return s, err
		}
		s.InstrPerReq = float64(n) / float64(paced.requests)
	}
	if auditFile != "" {
		s.OwnP50, s.OwnP99 = ownTimes(auditFile, auditFrom)
	}
	if err := <-profiled; err != nil {
		return s, err
	}
	after := cpuTicks(h.pids(name))
	s.Requests, s.P50, s.P99 = paced.requests, paced.p50, paced.p99
	s.PacedRate = float64(paced.requests) / paced.duration.Seconds()
	if len(pids) > 0 {
		s.CPUPerReq = float64(after-before) * 1e6 / clockTicks / float64(paced.requests)
	}
	if h.o.saturate > 0 {
		sat, err := h.wrk(target, h.o.satConns, h.o.saturate, 0)
		if err != nil {
			return s, err
		}
		s.Saturated = float64(sat.requests) / sat.duration.Seconds()
	}
	s.PeakRSSKB = peakRSS(h.pids(name))
	return s, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// ownTimes reads the audit records written from offset on and returns the
// median and 99th percentile of the proxy's own time per call, in µs; zeros
// if the file was rotated meanwhile. The audit writer's group commit may
// leave the last few milliseconds' records for the next phase.
func ownTimes(path string, offset int64) (p50, p99 float64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() < offset {
		return 0, 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, 0
	}
	var own []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Kind                   string
			DurationMs, UpstreamMs float64
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Kind == "" {
			own = append(own, (r.DurationMs-r.UpstreamMs)*1000)
		}
	}
	if len(own) == 0 {
		return 0, 0
	}
	sort.Float64s(own)
	return own[len(own)/2], own[len(own)*99/100]
}

// freePort is a loopback address for a process the bench starts, its
// port outside the range the load's own connections draw from
// (testaddr).
func freePort() (string, error) { return testaddr.Addr() }

func waitFile(name string, d time.Duration) ([]byte, error) {
	deadline := time.Now().Add(d)
	for {
		data, err := os.ReadFile(name)
		if err == nil {
			return data, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// soakResult is graph-proxy's memory over a long paced run.
type soakResult struct {
	Duration   time.Duration
	Requests   int64
	RSSStartKB int64
	RSSEndKB   int64
	RSSMaxKB   int64
	CPUPerReq  float64
	Samples    []int64 // VmRSS after each 30-second slice
}

func (h *harness) soakRun(d time.Duration) (*soakResult, error) {
	pids := h.pids("graph-proxy")
	if len(pids) == 0 {
		return nil, errors.New("soak needs the graph-proxy configuration")
	}
	res := &soakResult{Duration: d, RSSStartKB: procStatus(pids[0], "VmRSS")}
	before := cpuTicks(pids)
	slice := 30 * time.Second
	for elapsed := time.Duration(0); elapsed < d; elapsed += slice {
		r, err := h.wrk("https://"+h.addrs["graph-proxy"], h.o.paceConns, min(slice, d-elapsed), h.o.rate)
		if err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		res.Requests += r.requests
		rss := procStatus(pids[0], "VmRSS")
		res.Samples = append(res.Samples, rss)
		res.RSSMaxKB = max(res.RSSMaxKB, rss)
		fmt.Fprintf(os.Stderr, "soak %v: RSS %d KB\n", elapsed+min(slice, d-elapsed), rss)
	}
	res.RSSEndKB = res.Samples[len(res.Samples)-1]
	res.CPUPerReq = float64(cpuTicks(pids)-before) * 1e6 / clockTicks / float64(res.Requests)
	return res, nil
}
