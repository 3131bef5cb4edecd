package report

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// bucketing divides the period into hours, days or weeks.
type bucketing struct {
	Unit  string // "hour", "day" or "week"
	start time.Time
	size  time.Duration
	n     int
}

// maxBuckets bounds a chart's slots: beyond it (times years apart, or a
// record with a wrong time) the period is not charted.
const maxBuckets = 1000

// newBucketing chooses hours for up to two days, days for up to 120,
// weeks beyond.
func newBucketing(first, last time.Time) (bucketing, bool) {
	first, last = first.UTC(), last.UTC()
	day := 24 * time.Hour
	b := bucketing{Unit: "hour", size: time.Hour, start: first.Truncate(time.Hour)}
	switch d := last.Sub(first); {
	case d > 120*day:
		// Weeks start on Monday.
		start := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
		b = bucketing{Unit: "week", size: 7 * day, start: start}
	case d > 2*day:
		b = bucketing{Unit: "day", size: day, start: time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)}
	}
	if last.Sub(b.start)/b.size >= maxBuckets {
		return b, false
	}
	b.n = int(last.Sub(b.start)/b.size) + 1
	return b, true
}

func (b bucketing) index(t time.Time) int { return int(t.UTC().Sub(b.start) / b.size) }

func (b bucketing) at(i int) time.Time { return b.start.Add(time.Duration(i) * b.size) }

// labels are the axis labels (short) and the tooltips' names (full) of
// the slots.
func (b bucketing) labels() (short, full []string) {
	multiYear := b.at(0).Year() != b.at(b.n-1).Year()
	for i := range b.n {
		t := b.at(i)
		switch b.Unit {
		case "hour":
			s := t.Format("15:04")
			if t.Hour() == 0 {
				s = t.Format("Jan 2")
			}
			short = append(short, s)
			full = append(full, t.Format("2006-01-02 15:04")+"–"+t.Add(time.Hour).Format("15:04")+" UTC")
		case "day":
			s := t.Format("Jan 2")
			if multiYear {
				s = t.Format("2006-01-02")
			}
			short = append(short, s)
			full = append(full, t.Format("Mon 2006-01-02")+" UTC")
		default:
			short = append(short, t.Format("2006-01-02"))
			full = append(full, "week of "+t.Format("Mon 2006-01-02")+" UTC")
		}
	}
	return short, full
}

func (b *builder) timeline(calls []*auditlog.Record, callers map[string]*callerAgg) {
	p := &b.p
	if len(calls) == 0 {
		return
	}
	bk, ok := newBucketing(calls[0].Time, calls[len(calls)-1].Time)
	p.Bucket = bk.Unit
	if !ok {
		p.NotCharted = fmt.Sprintf("The calls span %s to %s: too long a period to chart in %ss (more than %d). Check the records' times.",
			stamp(calls[0].Time), stamp(calls[len(calls)-1].Time), bk.Unit, maxBuckets)
		return
	}
	p.Charted = true
	short, full := bk.labels()
	xTitle := fmt.Sprintf("%s (UTC), %s to %s", bk.Unit, stamp(bk.at(0)), stamp(bk.at(bk.n)))

	// By caller: the busiest callers each a series, the rest summed.
	ordered := orderCallers(callers)
	seriesOf := map[string]int{}
	var byCaller []series
	for i, c := range ordered {
		if i == maxSeries && len(ordered) > maxSeries+1 {
			byCaller = append(byCaller, series{Label: text(fmt.Sprintf("%d other callers", len(ordered)-maxSeries)), Class: "sx", Values: make([]float64, bk.n)})
			for _, o := range ordered[i:] {
				seriesOf[o.name] = i
			}
			break
		}
		label, _ := callerLabel(c.name)
		byCaller = append(byCaller, series{Label: label, Class: fmt.Sprintf("s%d", i), Values: make([]float64, bk.n)})
		seriesOf[c.name] = i
	}
	byDecision := []series{
		{Label: "allowed", Class: allow, Values: make([]float64, bk.n)},
		{Label: "reported (would be refused)", Class: report, Values: make([]float64, bk.n)},
		{Label: "refused", Class: deny, Values: make([]float64, bk.n)},
		{Label: "other decision", Class: "other", Values: make([]float64, bk.n)},
	}
	latencies := make([][]float64, bk.n)
	throttled := make([]int, bk.n)
	retry := make([]float64, bk.n)
	for _, r := range calls {
		i := bk.index(r.Time)
		byCaller[seriesOf[r.Caller.Name]].Values[i]++
		switch r.Decision {
		case allow:
			byDecision[0].Values[i]++
		case report:
			byDecision[1].Values[i]++
		case deny:
			byDecision[2].Values[i]++
		default:
			byDecision[3].Values[i]++
		}
		if r.UpstreamStatus > 0 {
			latencies[i] = append(latencies[i], r.UpstreamMs)
		}
		if r.UpstreamStatus == 429 {
			throttled[i]++
			retry[i] += r.RetryAfter
		}
	}
	if !slices.ContainsFunc(byDecision[3].Values, func(v float64) bool { return v > 0 }) {
		byDecision = byDecision[:3]
	}
	unitTitle := "calls per " + bk.Unit
	p.ByCaller = stacked("calls-by-caller", "Calls per "+bk.Unit+" by caller", xTitle, unitTitle, short, full, byCaller, "calls")
	p.ByDecision = stacked("calls-by-decision", "Calls per "+bk.Unit+" by decision", xTitle, unitTitle, short, full, byDecision, "calls")

	p50 := series{Label: "p50 (median)", Class: "p50", Values: make([]float64, bk.n)}
	p95 := series{Label: "p95", Class: "p95", Values: make([]float64, bk.n)}
	for i, l := range latencies {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		p50.Values[i], p95.Values[i] = percentile(l, 50), percentile(l, 95)
		p.Latency = append(p.Latency, latencyRow{When: full[i], Forwarded: len(l), P50: ms(p50.Values[i]), P95: ms(p95.Values[i]),
			Max: ms(l[len(l)-1]), Throttled: throttled[i], RetryAfter: ms(retry[i])})
	}
	p.LatencyChart = grouped("graph-latency", "Graph latency per "+bk.Unit+" (upstreamMs)", xTitle, "milliseconds", short, full, []series{p50, p95}, "ms")
}

// percentile is the nearest-rank percentile of sorted values: the
// smallest value that at least p % of the values do not exceed.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}
