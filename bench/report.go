package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// stats is the median and range of one figure over rounds.
type stats struct{ Median, Min, Max float64 }

// column is one figure, f, of each of rows, in their order.
func column[T any](rows []T, f func(T) float64) []float64 {
	v := make([]float64, 0, len(rows))
	for _, r := range rows {
		v = append(v, f(r))
	}
	return v
}

// cpuPerReq is a sample's CPU per request.
func cpuPerReq(s sample) float64 { return s.CPUPerReq }

func summarize(vals []float64) stats {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	if len(s) == 0 {
		return stats{}
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// medianInterval is a distribution-free confidence interval for the median
// of the population vals are drawn from: the j-th smallest and j-th largest
// value, j the largest for which the interval covers the median with
// probability at least conf (with n values, each falls below the median
// with probability ½, so the coverage is 1 − 2·P(Binomial(n, ½) < j)). When
// n is too small for conf even with j = 1, the interval is the whole range,
// with the coverage it has. No assumption about the shape of the noise:
// round-to-round CPU figures here are skewed (a noisy neighbour makes one
// round much slower, never much faster).
func medianInterval(vals []float64, conf float64) (lo, hi, coverage float64) {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0, 0, 0
	}
	// below(j) = P(B < j) for B ~ Binomial(n, ½), in log space so that
	// long runs do not underflow.
	lc, _ := math.Lgamma(float64(n + 1))
	below := func(j int) float64 {
		var p float64
		for k := range j {
			lk, _ := math.Lgamma(float64(k + 1))
			lnk, _ := math.Lgamma(float64(n - k + 1))
			p += math.Exp(lc - lk - lnk - float64(n)*math.Ln2)
		}
		return p
	}
	j := 1
	for j+1 <= (n+1)/2 && 1-2*below(j+1) >= conf {
		j++
	}
	return s[j-1], s[n-j], max(0, 1-2*below(j))
}

// ratioLine says how a ratio's rounds place it against 1: the median, its
// 95 % interval, and in how many rounds it was above 1.
func ratioLine(what string, ratios []float64) string {
	if len(ratios) == 0 {
		return ""
	}
	lo, hi, cov := medianInterval(ratios, 0.95)
	above := 0
	for _, r := range ratios {
		if r > 1 {
			above++
		}
	}
	return fmt.Sprintf("%s: median ×%.2f, %.1f %% interval for the median %.2f–%.2f (distribution-free, %d rounds); above 1.0 in %d of %d rounds.\n",
		what, summarize(ratios).Median, math.Floor(cov*1000)/10, lo, hi, len(ratios), above, len(ratios))
}

// noisyMiddle is the spread of the bare proxy's middle half of rounds
// (middleSpread) above which a run is called noisy. Runs in quiet hours
// here had 1.11–1.13; runs in noisy ones, whose medians of one build moved
// by 0.09, had 1.30–1.32.
const noisyMiddle = 1.2

// middleSpread is the third quartile of vals over the first: how far
// apart the middle half of the rounds lie, which the round or two that a
// neighbour slows does not move. 0 with fewer than four values.
func middleSpread(vals []float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n < 4 || s[n/4] <= 0 {
		return 0
	}
	return s[3*n/4] / s[n/4]
}

// noiseLine says how noisy the machine was over the run's rounds. The
// backend alone (direct) does the same work in every round, and so does
// the bare proxy: how much their CPU per call moves from round to round
// is the machine's, and a ratio between configurations carries it.
func noiseLine(by map[string][]sample) string {
	direct := column(by["direct"], cpuPerReq)
	directSpread, bareSpread := middleSpread(direct), middleSpread(column(by["bare"], cpuPerReq))
	if directSpread == 0 || bareSpread == 0 {
		return ""
	}
	verdict := fmt.Sprintf("at most ×%.1f: a quiet run", noisyMiddle)
	if bareSpread > noisyMiddle {
		verdict = fmt.Sprintf("more than ×%.1f: **a noisy run**, whose ratios move between runs of one build by more than the quiet runs' ±0.03", noisyMiddle)
	}
	return fmt.Sprintf("\nThe machine's noise over the rounds: the backend alone (direct), the same work in every round, took %s µs a call, "+
		"its middle half of rounds within ×%.2f of each other; the bare proxy's middle half within ×%.2f (%s).\n",
		summarize(direct), directSpread, bareSpread, verdict)
}

func (s stats) String() string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.Median, s.Min, s.Max)
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// writeResults replaces the rounds section (and the soak section, when
// soaked) of the results file.
func writeResults(o options, h *harness, results []sample, soak *soakResult) error {
	old, _ := os.ReadFile(o.out)
	doc := string(old)
	if doc == "" {
		doc = "# graph-proxy load benchmark\n\nWritten by `make bench` (bench/). Ratios are within one run, configurations interleaved.\n\n<!-- rounds -->\n<!-- /rounds -->\n\n<!-- soak -->\n<!-- /soak -->\n"
	}
	switch {
	case o.instructions:
		// Its CPU and latency are the slowed proxies': only the count.
		doc = replaceSection(doc, "instructions", instructionsSection(o, results))
	case len(results) > 0:
		doc = replaceSection(doc, "rounds", roundsSection(o, results))
	}
	if soak != nil {
		doc = replaceSection(doc, "soak", soakSection(o, soak))
	}
	if o.upstreamDelay > 0 && len(results) > 0 {
		doc = replaceSection(doc, "delay", delaySection(o, results))
	}
	if err := os.WriteFile(o.out, []byte(doc), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "wrote", o.out)
	return nil
}

func replaceSection(doc, name, body string) string {
	open, closing := "<!-- "+name+" -->\n", "<!-- /"+name+" -->"
	i, j := strings.Index(doc, open), strings.Index(doc, closing)
	if i < 0 || j < i {
		return doc + "\n" + open + body + closing + "\n"
	}
	return doc[:i+len(open)] + body + doc[j:]
}

// roundRatios is f of each of name's rounds over f of base's in the same
// round, for the rounds both ran in which base's is above 0: ratios
// within a round, which the machine's drift between rounds does not move.
func roundRatios(by map[string][]sample, name, base string, f func(s sample) float64) []float64 {
	var v []float64
	for _, s := range by[name] {
		for _, b := range by[base] {
			if b.Round == s.Round && f(b) > 0 {
				v = append(v, f(s)/f(b))
				break
			}
		}
	}
	return v
}

func roundsSection(o options, results []sample) string {
	by := map[string][]sample{}
	for _, s := range results {
		by[s.Config] = append(by[s.Config], s)
	}
	// Per-round ratios and added latency, then summarised.
	col := func(name string, f func(s sample) float64) stats {
		return summarize(column(by[name], f))
	}
	inRound := func(cfg string, round int) (sample, bool) {
		for _, s := range by[cfg] {
			if s.Round == round {
				return s, true
			}
		}
		return sample{}, false
	}
	ratios := func(name, base string, f func(s sample) float64) []float64 {
		return roundRatios(by, name, base, f)
	}
	ratio := func(name, base string, f func(s sample) float64) stats {
		return summarize(ratios(name, base, f))
	}
	added := func(name string, f func(s sample) float64) stats {
		var v []float64
		for _, s := range by[name] {
			if b, ok := inRound("direct", s.Round); ok {
				v = append(v, f(s)-f(b))
			}
		}
		return summarize(v)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Run of %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(&sb, "%d rounds, interleaved (each starts with another configuration; the bare proxy and graph-proxy side by side, in turns first); per configuration and round: %v paced at %d req/s over %d connections, then %v saturated over %d connections. "+
		"wrk, the upstream and the simulator on core %s; the proxy under test alone on core %s. Requests alternate getSchedule (1 KB answer) and event creation (2 KB each way) over 1,000 mailboxes, each with the headers the Graph SDKs add (a client-request-id of its own, SdkVersion); "+
		"graph-proxy validates the vendor's JWT, decides against 200 rules, writes the file audit sink and forwards over HTTP/2. Figures: median (min–max).\n\n",
		o.rounds, o.duration, o.rate, o.paceConns, o.saturate, o.satConns, o.loadCPU, o.proxyCPU)
	if o.reads {
		sb.WriteString("With -reads: every request instead lists a mailbox's events (GET " + readQuery + ", a 2 KB answer; no body to check), as a vendor's sync reads.\n\n")
	}
	if o.gzip {
		sb.WriteString("The upstream compresses its answers when asked, as Graph does (-gzip): the Go proxies' transport asks and decompresses; nginx and wrk do not ask.\n\n")
	}
	sb.WriteString("| configuration | CPU µs/req at the paced rate | ×bare Go | ×nginx | ×OPA peer | p50 added ms | p99 added ms | saturated req/s | ×direct | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range o.configs {
		if len(by[name]) == 0 {
			continue
		}
		row := []string{name}
		if name == "direct" {
			row = append(row, "—", "—", "—", "—", "0", "0")
		} else {
			row = append(row, col(name, cpuPerReq).String(), ratioCell(ratio(name, "bare", cpuPerReq)), ratioCell(ratio(name, "nginx", cpuPerReq)), ratioCell(ratio(name, "opa", cpuPerReq)),
				msCell(added(name, func(s sample) float64 { return s.P50 })), msCell(added(name, func(s sample) float64 { return s.P99 })))
		}
		row = append(row, fmt.Sprintf("%.0f (%.0f–%.0f)", col(name, func(s sample) float64 { return s.Saturated }).Median,
			col(name, func(s sample) float64 { return s.Saturated }).Min, col(name, func(s sample) float64 { return s.Saturated }).Max),
			ratioCell(ratio(name, "direct", func(s sample) float64 { return s.Saturated })))
		row = append(row, fmt.Sprintf("%.0f", col(name, func(s sample) float64 { return float64(s.PeakRSSKB) / 1024 }).Max))
		sb.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	sb.WriteString("\nThe direct row's RSS is the upstream's. Latency is wrk's, measured from the request's first byte (the pacing delay excluded); " +
		"added latency is a configuration's percentile less direct's in the same round, two different windows, so it carries the upstream's own variation.\n")
	sb.WriteString(noiseLine(by))
	if r := ratios("graph-proxy", "bare", cpuPerReq); len(r) > 0 {
		sb.WriteString("\n" + ratioLine("graph-proxy's CPU per request ÷ the bare proxy's, round by round", r))
	}
	if r := ratios("graph-proxy", "opa", cpuPerReq); len(r) > 0 {
		sb.WriteString("\n" + ratioLine("graph-proxy's CPU per request ÷ the OPA peer's, round by round", r))
	}
	// p99 added latency, round by round, where both configurations added
	// some (a ratio of a non-positive figure says nothing).
	p99Ratios := func(base string) []float64 {
		var v []float64
		for _, s := range by["graph-proxy"] {
			b, okB := inRound(base, s.Round)
			d, okD := inRound("direct", s.Round)
			if okB && okD && s.P99 > d.P99 && b.P99 > d.P99 {
				v = append(v, (s.P99-d.P99)/(b.P99-d.P99))
			}
		}
		return v
	}
	for _, base := range []struct{ name, what string }{{"bare", "the bare proxy's"}, {"opa", "the OPA peer's"}} {
		if r := p99Ratios(base.name); len(r) > 0 {
			sb.WriteString("\n" + ratioLine("graph-proxy's p99 added latency ÷ "+base.what+", round by round", r))
		}
	}
	if len(by["baseline"]) > 0 {
		fmt.Fprintf(&sb, "\ngraph-proxy against the baseline build (-baseline), same rounds: CPU per request ×%s, saturated req/s ×%s.\n",
			ratioCell(ratio("graph-proxy", "baseline", cpuPerReq)), ratioCell(ratio("graph-proxy", "baseline", func(s sample) float64 { return s.Saturated })))
		sb.WriteString(ratioLine("CPU per request, graph-proxy ÷ baseline", ratios("graph-proxy", "baseline", cpuPerReq)))
	}
	var own50, own99 []float64
	for _, s := range by["graph-proxy"] {
		if s.OwnP50 > 0 { // 0: the audit file rotated during the phase
			own50, own99 = append(own50, s.OwnP50), append(own99, s.OwnP99)
		}
	}
	if len(own50) > 0 {
		own, own99 := summarize(own50), summarize(own99)
		fmt.Fprintf(&sb, "\ngraph-proxy's own time per call in the paced phase, from its audit records (durationMs − upstreamMs: authentication, policy, "+
			"audit, answer handling; not the network hops): p50 %s ms, p99 %s ms.\n", msCell(own), msCell(own99))
	}
	sb.WriteString("\nMachine-readable, one line per configuration and round:\n\n```\n")
	for _, s := range results {
		line, _ := json.Marshal(s)
		sb.WriteString("BENCH " + string(line) + "\n")
	}
	sb.WriteString("```\n")
	return sb.String()
}

func ratioCell(s stats) string {
	if s.Median == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

func msCell(s stats) string {
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median/1000, s.Min/1000, s.Max/1000)
}

func soakSection(o options, r *soakResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Soak\n\nRun of %s on %s: graph-proxy paced at %d req/s for %v (%d requests), RSS sampled every 30 s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(), o.rate, r.Duration, r.Requests)
	fmt.Fprintf(&sb, "| RSS at start | RSS at end | max | end ÷ first sample | CPU µs/req |\n|---|---|---|---|---|\n| %.1f MB | %.1f MB | %.1f MB | %.2f | %.1f |\n\n",
		float64(r.RSSStartKB)/1024, float64(r.RSSEndKB)/1024, float64(r.RSSMaxKB)/1024, float64(r.RSSEndKB)/float64(r.Samples[0]), r.CPUPerReq)
	sb.WriteString("Samples (MB): ")
	for i, s := range r.Samples {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%.1f", float64(s)/1024)
	}
	sb.WriteString("\n\n```\n")
	line, _ := json.Marshal(map[string]any{"config": "graph-proxy-soak", "seconds": r.Duration.Seconds(), "requests": r.Requests,
		"rssStartKB": r.RSSStartKB, "rssEndKB": r.RSSEndKB, "rssMaxKB": r.RSSMaxKB, "cpuMicrosPerRequest": r.CPUPerReq})
	sb.WriteString("BENCH " + string(line) + "\n```\n")
	return sb.String()
}
