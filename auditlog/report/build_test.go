package report

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rows writes a table's rows as "label c1 c2 ...", a note marked with
// " +" and a missing label in parentheses.
func rows(t table) []string {
	var out []string
	for _, r := range t.Rows {
		label := string(r.Label)
		if r.Missing {
			label = "(" + label + ")"
		}
		if r.Note != "" {
			label += " +"
		}
		out = append(out, strings.TrimSpace(fmt.Sprint(label, " ", strings.Trim(fmt.Sprint(r.Counts), "[]"))))
	}
	return out
}

// fixturePage builds the page of the fixture, read from its files.
func fixturePage(t *testing.T) *page {
	t.Helper()
	recs, ver, err := Load(fixtureFiles(t, t.TempDir()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ver.Intact() {
		t.Fatalf("the fixture's chains are not intact: %v", ver.Err)
	}
	return &Build(recs, ver, Options{}).p
}

// TestBuild checks every figure of the page for the fixture's records,
// counted by hand (fixture's comments say what each record is).
func TestBuild(t *testing.T) {
	p := fixturePage(t)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "records", got: p.Totals.Records, want: 15},
		{name: "calls by decision", got: p.Totals.tally, want: tally{Calls: 8, Allowed: 4, Denied: 3, Reported: 1}},
		{name: "callers", got: p.Totals.Callers, want: 3},
		{name: "people touched", got: p.Totals.People, want: 3},
		{name: "forwarded to Graph", got: p.Totals.Forwarded, want: 5},
		{name: "throttled by Graph", got: []any{p.Totals.Throttled, p.Totals.RetryAfterText}, want: []any{1, "5.0"}},
		{name: "period", got: p.Period, want: period{From: "2026-11-22 13:59:00Z", To: "2026-11-23 18:00:00Z", Span: "1 day 4 hours 1 minute"}},
		{name: "refusals by reason", got: rows(p.Reasons), want: []string{
			"no rule allows this call 2 0 2", "mail is not allowed for this caller 0 1 1", "unauthenticated 1 0 1"}},
		{name: "refusals by reason, callers", got: []text{p.Reasons.Rows[0].Who, p.Reasons.Rows[2].Who},
			want: []text{"engage", "(no caller established)"}},
		{name: "refusals by rule", got: rows(p.Rules), want: []string{"(no rule matched) 3 0 3", "mail 0 1 1"}},
		{name: "routes", got: rows(p.Routes), want: []string{
			"POST /users/{id}/calendar/getSchedule 3 3 0 0",
			"GET /users + 1 0 1 0",
			"GET /users 1 1 0 0",
			"GET /users/{id}/messages 1 0 0 1",
			"POST /users/a@contoso.example/events + 1 0 1 0",
			"POST /users/c@contoso.example/events + 1 0 1 0"}},
		{name: "permissions", got: rows(p.Permissions), want: []string{
			"Calendars.ReadBasic 3 3 0 0", "Mail.Read 1 0 0 1", "User.ReadBasic.All 1 1 0 0"}},
		{name: "people", got: rows(p.Targets), want: []string{
			"a@contoso.example 3 2 1 0", "b@contoso.example 2 1 0 1", "c@contoso.example 1 1 0 0"}},
		{name: "statuses answered", got: rows(p.Statuses), want: []string{"200 4", "401 1", "403 2", "429 1"}},
		{name: "Graph's statuses", got: rows(p.GraphStatuses), want: []string{"200 4", "429 1"}},
		{name: "bucket: 27 hours of calls", got: []any{p.Bucket, p.Charted, len(p.ByCaller.XTicks) > 0}, want: []any{"hour", true, true}},
		{name: "latency per hour", got: p.Latency, want: []latencyRow{
			{When: "2026-11-22 14:00–15:00 UTC", Forwarded: 2, P50: "100", P95: "300", Max: "300", RetryAfter: "0.0"},
			{When: "2026-11-22 15:00–16:00 UTC", Forwarded: 1, P50: "50.0", P95: "50.0", Max: "50.0", Throttled: 1, RetryAfter: "5.0"},
			{When: "2026-11-22 16:00–17:00 UTC", Forwarded: 1, P50: "200", P95: "200", Max: "200", RetryAfter: "0.0"},
			{When: "2026-11-23 16:00–17:00 UTC", Forwarded: 1, P50: "1,000", P95: "1,000", Max: "1,000", RetryAfter: "0.0"}}},
		{name: "bars by caller: one per caller per hour with calls", got: len(p.ByCaller.Bars), want: 6},
		{name: "bars by decision: one per decision per hour with calls", got: len(p.ByDecision.Bars), want: 7},
		{name: "legend by caller, busiest first", got: p.ByCaller.Legend, want: []legendItem{
			{Class: "s0", Label: "engage"}, {Class: "s1", Label: "crm"}, {Class: "s2", Label: "no caller established"}}},
		{name: "legend by decision", got: p.ByDecision.Legend, want: []legendItem{
			{Class: allow, Label: "allowed"}, {Class: report, Label: "reported (would be refused)"}, {Class: deny, Label: "refused"}}},
		{name: "drill-down callers", got: fmt.Sprint(callerNames(p)), want: "[engage:5:5 crm:2:2 no caller established:1:1]"},
		{name: "drill-down newest first", got: []string{p.Callers[0].Rows[0].Time, p.Callers[0].Rows[4].Time},
			want: []string{"2026-11-23 17:00:00.000Z", "2026-11-22 14:00:00.000Z"}},
		{name: "genesis, close, policy records", got: []int{len(p.Health.Genesis), len(p.Health.Closes), len(p.Health.Policies), p.Health.Rejected},
			want: []int{2, 2, 2, 1}},
		{name: "rejected reload", got: []any{p.Health.Policies[1].Rejected, p.Health.Policies[1].Error}, want: []any{true, text("policy.yaml:3: version is required")}},
		{name: "connection records", got: []any{p.Health.ConnCount, rows(p.Health.Connections)},
			want: []any{1, []string{"no complete request within limits.readHeaderTimeout 1 1"}}},
		{name: "no gap, no duplicate, no unreadable line", got: []int{len(p.Health.Links), p.Health.Duplicates, len(p.Health.Unreadable)}, want: []int{0, 0, 0}},
		{name: "verdict", got: []any{p.Verdict.Intact, p.Verdict.Headline, len(p.Verdict.Replicas)},
			want: []any{true, "Chains verified: 15 records in 2 chains, intact", 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v; want %#v", tt.got, tt.want)
			}
		})
	}
}

func callerNames(p *page) []string {
	var out []string
	for _, c := range p.Callers {
		out = append(out, fmt.Sprintf("%s:%d:%d", c.Name, c.Tally.Calls, c.Shown))
	}
	return out
}

func TestBuildBoundsDrillDown(t *testing.T) {
	recs, ver, err := Load(fixtureFiles(t, t.TempDir()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := Build(recs, ver, Options{CallsPerCaller: 2, Top: 2}).p
	if got := callerNames(&p); !reflect.DeepEqual(got, []string{"engage:5:2", "crm:2:2", "no caller established:1:1"}) {
		t.Errorf("callers %v; want engage's 2 most recent of 5 shown", got)
	}
	if got := p.Callers[0].Rows[1].Time; got != "2026-11-23 16:00:00.000Z" {
		t.Errorf("engage's second row at %s; want the second most recent call, 2026-11-23 16:00:00.000Z", got)
	}
	if len(p.Routes.Rows) != 2 || p.Routes.More != 4 {
		t.Errorf("routes: %d rows, %d more; want 2 rows and 4 more", len(p.Routes.Rows), p.Routes.More)
	}
}

func TestBuildGap(t *testing.T) {
	recs, ver, err := Load(fixtureFiles(t, t.TempDir()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Records 3 to 4 of r1 removed, and r2's head: a gap and a head cut
	// off.
	var kept = recs[:0:0]
	for _, r := range recs {
		if !(r.Replica == "r1" && (r.Seq == 3 || r.Seq == 4)) && !(r.Replica == "r2" && r.Seq == 0) {
			kept = append(kept, r)
		}
	}
	p := Build(kept, ver, Options{}).p
	var got []string
	for _, l := range p.Health.Links {
		got = append(got, fmt.Sprintf("%s %d %v: %s", l.Replica, l.Seq, l.Head, l.What))
	}
	want := []string{
		"r1 5 false: records 3 to 4 are missing",
		"r2 1 true: the head is in no input: the records before seq 1 are not here",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("links:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name     string
		values   []float64
		p50, p95 float64
	}{
		{name: "none", values: nil, p50: 0, p95: 0},
		{name: "one", values: []float64{7}, p50: 7, p95: 7},
		{name: "two", values: []float64{1, 2}, p50: 1, p95: 2},
		{name: "ten", values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, p50: 5, p95: 10},
		{name: "twenty", values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, p50: 10, p95: 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.values, 50); got != tt.p50 {
				t.Errorf("p50 %v; want %v", got, tt.p50)
			}
			if got := percentile(tt.values, 95); got != tt.p95 {
				t.Errorf("p95 %v; want %v", got, tt.p95)
			}
		})
	}
}

func TestBucketing(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name    string
		first   time.Time
		last    time.Time
		unit    string
		n       int
		charted bool
	}{
		{name: "one call", first: t0, last: t0, unit: "hour", n: 1, charted: true},
		{name: "two days", first: t0.Add(30 * time.Minute), last: t0.Add(2 * day), unit: "hour", n: 49, charted: true},
		{name: "over two days", first: t0, last: t0.Add(2*day + time.Hour), unit: "day", n: 3, charted: true},
		{name: "120 days", first: t0, last: t0.Add(120 * day), unit: "day", n: 121, charted: true},
		// 2026-11-22 is a Sunday: its week began on Monday the 16th.
		{name: "over 120 days", first: t0, last: t0.Add(121 * day), unit: "week", n: 19, charted: true},
		{name: "a record from year 1", first: time.Time{}, last: t0, unit: "week", charted: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := newBucketing(tt.first, tt.last)
			if b.Unit != tt.unit || ok != tt.charted || (ok && b.n != tt.n) {
				t.Errorf("%s × %d, charted %v; want %s × %d, charted %v", b.Unit, b.n, ok, tt.unit, tt.n, tt.charted)
			}
			if ok && (b.index(tt.first) != 0 || b.index(tt.last) != b.n-1) {
				t.Errorf("first in slot %d, last in %d of %d", b.index(tt.first), b.index(tt.last), b.n)
			}
		})
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct {
		top       float64
		integer   bool
		max, step float64
	}{
		{top: 0, integer: true, max: 1, step: 1},
		{top: 1, integer: true, max: 1, step: 1},
		{top: 7, integer: true, max: 8, step: 2},
		{top: 113, integer: true, max: 150, step: 50},
		{top: 1000, integer: false, max: 1000, step: 200},
		{top: 0.7, integer: false, max: 0.8, step: 0.2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.top), func(t *testing.T) {
			max, step := niceScale(tt.top, tt.integer)
			if math.Abs(max-tt.max) > 1e-9 || math.Abs(step-tt.step) > 1e-9 {
				t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.top, max, step, tt.max, tt.step)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in string
		want     text
	}{
		{name: "plain", in: "engage", want: "engage"},
		{name: "markup is left to html/template", in: "<script>", want: "<script>"},
		{name: "bidi override", in: "rev7-\u202egnp.exe", want: `rev7-\u202egnp.exe`},
		{name: "bidi isolate and zero width", in: "a\u2066b\u200bc", want: `a\u2066b\u200bc`},
		{name: "control characters", in: "a\nb\x1b[31m\u0085", want: `a\u000ab\u001b[31m\u0085`},
		{name: "invalid UTF-8", in: "a\xffb", want: "a\ufffdb"},
		{name: "long", in: strings.Repeat("x", maxText+3), want: text(strings.Repeat("x", maxText) + "… (3 more characters)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clean(tt.in); got != tt.want {
				t.Errorf("clean(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}
