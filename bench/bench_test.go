package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
)

func TestParseWrk(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		want      wrkResult
		wantErr   string
	}{
		{name: "ok", out: "Running 10s test\nBENCHWRK 9000 10000000 0 0 812.0 2410.5\n",
			want: wrkResult{requests: 9000, duration: 10 * time.Second, p50: 812, p99: 2410.5}},
		{name: "non-2xx", out: "BENCHWRK 9000 10000000 3 0 812.0 2410.5\n", wantErr: "3 non-2xx answers"},
		{name: "socket errors", out: "BENCHWRK 9000 10000000 0 2 812.0 2410.5\n", wantErr: "2 socket errors"},
		{name: "nothing done", out: "BENCHWRK 0 10000000 0 0 0 0\n", wantErr: "in 0 requests"},
		{name: "no summary", out: "unable to connect\n", wantErr: "no wrk summary"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want stats
	}{
		{[]float64{3, 1, 2}, stats{2, 1, 3}},
		{[]float64{4, 1, 3, 2}, stats{2.5, 1, 4}},
		{[]float64{7}, stats{7, 7, 7}},
		{nil, stats{}},
	} {
		if got := summarize(tt.in); got != tt.want {
			t.Errorf("summarize(%v) = %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "head\n<!-- rounds -->\nold\n<!-- /rounds -->\ntail\n"
	got := replaceSection(doc, "rounds", "new\n")
	if got != "head\n<!-- rounds -->\nnew\n<!-- /rounds -->\ntail\n" {
		t.Errorf("got %q", got)
	}
	if got := replaceSection("head\n", "soak", "s\n"); got != "head\n\n<!-- soak -->\ns\n<!-- /soak -->\n" {
		t.Errorf("missing section: got %q", got)
	}
}

// TestBenchPolicy: the load's policy is valid, has the rules it claims,
// and allows both of the load's calls.
func TestBenchPolicy(t *testing.T) {
	p, err := policy.Parse("bench.yaml", []byte(benchPolicy(200)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(benchPolicy(200), "\n  - { id:"); n != 200 {
		t.Errorf("%d rules; want 200", n)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1.0/users/user7@contoso.example/calendar/getSchedule", strings.ReplaceAll(scheduleBody, "{user}", "user7@contoso.example")},
		{"/v1.0/users/user7@contoso.example/events", eventBody},
	} {
		req, err := policy.Canonicalize("POST", c.path, "")
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(policy.Args{Caller: "engage", Request: req, ContentType: "application/json", Body: []byte(c.body)})
		if !d.Forwarded() {
			t.Errorf("%s: %s", c.path, d.Reason)
		}
	}
	if n := len(eventBody); n < 1800 || n > 2300 {
		t.Errorf("event body is %d bytes; want about 2 KB", n)
	}
}

func TestWriteCerts(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeCerts(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestOwnTimes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	before := `{"kind":"genesis","durationMs":0,"upstreamMs":0}` + "\n" + `{"durationMs":9,"upstreamMs":1}` + "\n"
	var paced strings.Builder
	for i := 1; i <= 100; i++ { // own time i × 10 µs
		fmt.Fprintf(&paced, `{"durationMs":%g,"upstreamMs":0.5}`+"\n", 0.5+float64(i)/100)
	}
	paced.WriteString(`{"kind":"policy","durationMs":50,"upstreamMs":0}` + "\n")
	if err := os.WriteFile(file, []byte(before+paced.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		offset   int64
		p50, p99 float64
	}{
		{"the phase's records only", int64(len(before)), 510, 1000},
		{"rotated meanwhile", int64(len(before) + paced.Len() + 1), 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p50, p99 := ownTimes(file, tt.offset)
			if math.Abs(p50-tt.p50) > 0.01 || math.Abs(p99-tt.p99) > 0.01 {
				t.Errorf("ownTimes = %v, %v; want %v, %v", p50, p99, tt.p50, tt.p99)
			}
		})
	}
}

func TestMedianInterval(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n - i) // unsorted on purpose
		}
		return v
	}
	for _, tt := range []struct {
		n              int
		lo, hi, minCov float64
		maxCov         float64
	}{
		// 12 rounds: the 3rd and 10th values cover the median with
		// 1 − 2·(1+12+66)/4096 ≈ 96.1 %; the 4th and 9th only 85.4 %.
		{12, 3, 10, 0.961, 0.962},
		// 5 rounds cannot give 95 %: the whole range, 1 − 2/32.
		{5, 1, 5, 0.9375, 0.9375},
		{6, 1, 6, 0.968, 0.969},
		{1, 1, 1, 0, 0},
		// Long runs: near n/2 ∓ 0.98·√n, and no underflow.
		{2000, 956, 1045, 0.95, 0.96},
	} {
		lo, hi, cov := medianInterval(seq(tt.n), 0.95)
		if lo != tt.lo || hi != tt.hi || cov < tt.minCov || cov > tt.maxCov {
			t.Errorf("n=%d: interval %v–%v at %.4f; want %v–%v at %v–%v", tt.n, lo, hi, cov, tt.lo, tt.hi, tt.minCov, tt.maxCov)
		}
	}
	if lo, hi, cov := medianInterval(nil, 0.95); lo != 0 || hi != 0 || cov != 0 {
		t.Errorf("no values: %v–%v at %v", lo, hi, cov)
	}
}

func TestRatioLine(t *testing.T) {
	r := []float64{1.10, 0.98, 1.14, 1.06, 1.20, 1.12, 1.08, 1.30, 1.12, 1.09, 1.05, 1.16}
	got := ratioLine("x ÷ y", r)
	want := "x ÷ y: median ×1.11, 96.1 % interval for the median 1.06–1.16 (distribution-free, 12 rounds); above 1.0 in 11 of 12 rounds.\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if ratioLine("x", nil) != "" {
		t.Error("a line for no rounds")
	}
}

func TestParseLevels(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want []level
		bad  bool
	}{
		{spec: "300,2000:2s", want: []level{{n: 300, delay: time.Second}, {n: 2000, delay: 2 * time.Second}}},
		{spec: "h2/300", want: []level{{n: 300, delay: time.Second, h2: true}}},
		{spec: "h2/100:2s+4MB", want: []level{{n: 100, delay: 2 * time.Second, h2: true, bodyBytes: 4_000_000}}},
		{spec: "h2/10+1MiB", want: []level{{n: 10, delay: time.Second, h2: true, bodyBytes: 1 << 20}}},
		{spec: "100+4MB", bad: true}, // bodies are h2 only
		{spec: "h2/100+lots", bad: true},
		{spec: "h2/100+0MB", bad: true},
		{spec: "x", bad: true},
	} {
		got, err := parseLevels(tt.spec, time.Second)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: no error", tt.spec)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
	}
}

// largeRequest's body is JSON of the size asked for.
func TestLargeRequest(t *testing.T) {
	req := largeRequest("https://proxy.example", "t", 7, 1000, 4_000_000)
	body, _ := io.ReadAll(req.Body)
	if len(body) != 4_000_000 || !json.Valid(body) {
		t.Errorf("%d bytes, valid JSON %v", len(body), json.Valid(body))
	}
}

// TestRoundOrder: rounds start with different configurations, and the bare
// proxy and graph-proxy are always measured one after the other, in turns
// first.
func TestRoundOrder(t *testing.T) {
	configs := []string{"direct", "bare", "nginx", "opa", "graph-proxy"}
	tests := []struct {
		round int
		want  []string
	}{
		{0, []string{"direct", "bare", "graph-proxy", "nginx", "opa"}},
		{1, []string{"graph-proxy", "bare", "nginx", "opa", "direct"}},
		{2, []string{"nginx", "opa", "direct", "bare", "graph-proxy"}},
		{3, []string{"opa", "direct", "graph-proxy", "bare", "nginx"}},
		{4, []string{"direct", "bare", "graph-proxy", "nginx", "opa"}},
		{5, []string{"graph-proxy", "bare", "nginx", "opa", "direct"}},
	}
	for _, tt := range tests {
		if got := roundOrder(configs, tt.round); !slices.Equal(got, tt.want) {
			t.Errorf("round %d: %v, want %v", tt.round, got, tt.want)
		}
	}
	if got := roundOrder([]string{"direct", "nginx"}, 1); !slices.Equal(got, []string{"nginx", "direct"}) {
		t.Errorf("without the pair: %v", got)
	}
}

// TestSDKHeaders: every call of the load carries a client-request-id of
// its own, a version 4 GUID, and the SDK's version, as the Graph SDKs send.
func TestSDKHeaders(t *testing.T) {
	guid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := range int64(100) {
		for _, req := range []*http.Request{loadRequest("https://proxy.example", "t", i, 1000, false), loadRequest("https://proxy.example", "t", i, 1000, true),
			largeRequest("https://proxy.example", "t", i, 1000, 10_000)} {
			id := req.Header.Get("client-request-id")
			if !guid.MatchString(id) || seen[id] {
				t.Fatalf("call %d: client-request-id %q (a GUID: %v, seen before: %v)", i, id, guid.MatchString(id), seen[id])
			}
			seen[id] = true
			if req.Header.Get("SdkVersion") != sdkVersion {
				t.Fatalf("call %d: SdkVersion %q", i, req.Header.Get("SdkVersion"))
			}
		}
	}
	if !strings.Contains(loadScript, `headers["client-request-id"]`) || !strings.Contains(loadScript, readQuery+`", headers)`) ||
		!strings.Contains(loadScript, sdkVersion) {
		t.Error("wrk's script does not send the SDK's headers")
	}
}

// TestReadMemStats reads the MemStats lines of this process's own heap
// profile, in the form net/http/pprof serves it (debug=1).
func TestReadMemStats(t *testing.T) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	m, ok := readMemStats(&buf)
	if !ok || m.stackKB <= 0 || m.heapKB <= 0 || m.goalKB <= 0 || m.allocKB < int64(before.TotalAlloc/1024) || m.numGC < int64(before.NumGC) || m.numGC == 0 {
		t.Fatalf("read %+v (all: %v); before it, %d KB allocated in %d collections", m, ok, before.TotalAlloc/1024, before.NumGC)
	}
	if _, ok := readMemStats(strings.NewReader("# Stack = 1 / 2\n# HeapInuse = x\n# NextGC = 3\n# NumGC = 4\n# TotalAlloc = 5\n# LastGC = 6\n# GCCPUFraction = 0.01\n")); ok {
		t.Error("a value that is not a number was taken as read")
	}
}

// TestSteadyCPU reads the rate and CPU per call between the first and the
// last probe, and nothing from fewer than two or from no calls.
func TestSteadyCPU(t *testing.T) {
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	at1 := func(sec float64, answered, ticks int64) probe {
		return probe{at: at.Add(time.Duration(sec * float64(time.Second))), answered: answered, ticks: ticks}
	}
	for _, tc := range []struct {
		name               string
		probes             []probe
		rate, perReq, busy float64
	}{
		{"none", nil, 0, 0, 0},
		{"one", []probe{at1(0, 10, 5)}, 0, 0, 0},
		{"no calls", []probe{at1(0, 10, 5), at1(1, 10, 50)}, 0, 0, 0},
		// 2,000 calls in 2 s on a quarter of a core: 250 µs each.
		{"steady", []probe{at1(0, 1000, 100), at1(1, 2000, 125), at1(2, 3000, 100+clockTicks/2)}, 1000, 250, 0.25},
	} {
		rate, perReq, busy := steadyCPU(tc.probes, true)
		if math.Abs(rate-tc.rate) > 1e-9 || math.Abs(perReq-tc.perReq) > 1e-9 || math.Abs(busy-tc.busy) > 1e-9 {
			t.Errorf("%s: %v/s, %v µs a call, %v busy; want %v, %v, %v", tc.name, rate, perReq, busy, tc.rate, tc.perReq, tc.busy)
		}
	}
}

// TestGCShare turns two reads of GCCPUFraction, each as of the last
// collection, into the collector's share of the CPU time between them.
func TestGCShare(t *testing.T) {
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	// read at the process's age (s), its last collection lastGC seconds
	// before, GCCPUFraction then, and its CPU ticks.
	read := func(age, sinceGC, frac float64, ticks int64) goState {
		at := start.Add(time.Duration(age * float64(time.Second)))
		last := at.Add(-time.Duration(sinceGC * float64(time.Second))).UnixNano()
		return goState{memory: true, memStats: memStats{gcFraction: frac, lastGC: last}, at: at, age: age, ticks: ticks}
	}
	for _, tc := range []struct {
		name        string
		first, last goState
		procs       int
		want        float64
	}{
		// By its collections at 10 s and 20 s, 0.1 s and 0.3 s of GC:
		// 0.02 s a second; 4 s of CPU in 10 s, 0.4 s a second: 5 %.
		{"one core", read(10, 0, 0.01, 100), read(20, 0, 0.015, 500), 1, 0.05},
		{"two cores", read(10, 0, 0.005, 100), read(20, 0, 0.0075, 500), 2, 0.05},
		// The same collections, read a second after each.
		{"read after", read(11, 1, 0.01, 100), read(21, 1, 0.015, 500), 1, 0.05},
		{"no collection between", read(10, 0, 0.01, 100), read(20, 10, 0.01, 500), 1, 0},
		{"none yet", goState{memory: true, age: 10, at: start.Add(10 * time.Second), ticks: 100}, read(20, 0, 0.015, 500), 1, 0.015 * 20 / 20 / 0.4},
		{"no CPU", read(10, 0, 0.01, 100), read(20, 0, 0.015, 100), 1, 0},
		{"not read", goState{}, read(20, 0, 0.015, 500), 1, 0},
	} {
		if got := gcShare(tc.first, tc.last, tc.procs); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCPUCount(t *testing.T) {
	for list, want := range map[string]int{"1": 1, "0,2": 2, "1-3": 3, "0,2-3": 3, "": 1, "x": 1} {
		if got := cpuCount(list); got != want {
			t.Errorf("cpuCount(%q) = %d, want %d", list, got, want)
		}
	}
}

// TestProcStat reads this process's CPU time and age from /proc, and
// nothing for a process that does not exist.
func TestProcStat(t *testing.T) {
	if f := statFields(os.Getpid()); f == nil || (f[0] != "R" && f[0] != "S" && f[0] != "D") {
		t.Fatalf("fields of this process's stat: %q", f)
	}
	if age := procAge(os.Getpid()); age <= 0 {
		t.Errorf("this process's age: %v", age)
	}
	if f, age, ticks := statFields(-1), procAge(-1), cpuTicks([]int{-1}); f != nil || age != 0 || ticks != 0 {
		t.Errorf("no process: fields %q, age %v, ticks %d", f, age, ticks)
	}
}

func TestMiddleSpread(t *testing.T) {
	tests := []struct {
		vals []float64
		want float64
	}{
		{nil, 0},
		{[]float64{1, 2, 3}, 0},
		{[]float64{100, 100, 100, 100}, 1},
		// The middle half of 20: the 6th and the 16th smallest. The
		// slowest rounds do not move it.
		{[]float64{90, 95, 98, 99, 100, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 200, 250, 300, 400}, 1.1},
		{[]float64{0, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		if got := middleSpread(tt.vals); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("middleSpread(%v) = %v, want %v", tt.vals, got, tt.want)
		}
	}
}

func TestNoiseLine(t *testing.T) {
	rounds := func(name string, cpu ...float64) []sample {
		var out []sample
		for i, c := range cpu {
			out = append(out, sample{Config: name, Round: i + 1, CPUPerReq: c})
		}
		return out
	}
	quiet := map[string][]sample{"direct": rounds("direct", 50, 52, 54, 56, 58, 90), "bare": rounds("bare", 140, 145, 150, 152, 155, 240)}
	if got := noiseLine(quiet); !strings.Contains(got, "a quiet run") || strings.Contains(got, "noisy") {
		t.Errorf("quiet rounds: %q", got)
	}
	noisy := map[string][]sample{"direct": rounds("direct", 50, 52, 54, 56, 58, 90), "bare": rounds("bare", 140, 150, 170, 190, 200, 240)}
	if got := noiseLine(noisy); !strings.Contains(got, "**a noisy run**") {
		t.Errorf("noisy rounds: %q", got)
	}
	if got := noiseLine(map[string][]sample{"bare": rounds("bare", 1, 2, 3, 4)}); got != "" {
		t.Errorf("without direct: %q", got)
	}
}
