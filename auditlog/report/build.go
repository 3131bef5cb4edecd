package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// Options shape the page.
type Options struct {
	// Title heads the page; empty means DefaultTitle.
	Title string
	// GeneratedAt is shown as when the page was made; the zero time shows
	// nothing, so that the same records give the same bytes.
	GeneratedAt time.Time
	// Generator names what made the page, e.g. "graph-proxy v1.4.0";
	// empty shows nothing.
	Generator string
	// CallsPerCaller bounds each caller's drill-down to its most recent
	// calls; zero means 500.
	CallsPerCaller int
	// Top bounds the rows of each ranking table; zero means 20.
	Top int
}

// DefaultTitle heads a page whose Options have no Title.
const DefaultTitle = "graph-proxy audit report"

// Decisions, as records write them.
const (
	allow  = "allow"
	deny   = "deny"
	report = "report"
)

// Report is an audit report's content, aggregated from records; WriteHTML
// writes it as a page.
type Report struct {
	p page
}

// Build aggregates records, in any order, with the verdict on their
// chains. It keeps no reference to records.
func Build(records []auditlog.Record, ver Verification, opts Options) *Report {
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	if opts.CallsPerCaller <= 0 {
		opts.CallsPerCaller = 500
	}
	if opts.Top <= 0 {
		opts.Top = 20
	}
	recs := make([]*auditlog.Record, len(records))
	for i := range records {
		recs[i] = &records[i]
	}
	// One order whatever the inputs' order: the page depends on the
	// records only.
	slices.SortStableFunc(recs, func(a, b *auditlog.Record) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Replica, b.Replica), cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.Hash, b.Hash), cmp.Compare(a.RequestID, b.RequestID))
	})
	b := &builder{opts: opts}
	p := &b.p
	p.Title = clean(opts.Title)
	p.Generator = clean(opts.Generator)
	if !opts.GeneratedAt.IsZero() {
		p.GeneratedAt = stamp(opts.GeneratedAt)
	}
	p.Verdict = newVerdict(ver, recs)
	p.Inputs = newInputs(ver)
	var calls []*auditlog.Record
	for _, r := range recs {
		if r.Kind == "" {
			calls = append(calls, r)
		}
	}
	p.Totals.Records = len(recs)
	if len(recs) > 0 {
		first, last := recs[0].Time, recs[len(recs)-1].Time
		p.Period = period{From: stamp(first), To: stamp(last), Span: span(last.Sub(first))}
	}
	b.calls(calls)
	b.health(recs, ver)
	return &Report{p: b.p}
}

type builder struct {
	opts Options
	p    page
}

// callerLabel is how a caller is shown, and whether that stands for no
// name: "" is a call whose caller was not established, shown as such and
// never as a name a policy could also give.
func callerLabel(name string) (text, bool) {
	if name == "" {
		return "no caller established", true
	}
	return clean(name), false
}

// tally counts calls by decision.
type tally struct{ Calls, Allowed, Denied, Reported int }

func (t *tally) add(decision string) {
	t.Calls++
	switch decision {
	case allow:
		t.Allowed++
	case deny:
		t.Denied++
	case report:
		t.Reported++
	}
}

func refused(decision string) bool { return decision == deny || decision == report }

// ranked is a ranking table's row being counted.
type ranked struct {
	key     string
	tally   tally
	callers set
	n       int // the count ranked by
}

type ranking map[string]*ranked

// add counts a call of who under key.
func (m ranking) add(key, who, decision string) *ranked {
	r := m[key]
	if r == nil {
		r = &ranked{key: key, callers: set{}}
		m[key] = r
	}
	r.tally.add(decision)
	r.callers.add(who)
	return r
}

func callerName(name string) string {
	if name == "" {
		return "(no caller established)"
	}
	return name
}

// top orders rows by count, then key, and keeps n of them.
func (m ranking) top(n int, count func(*ranked) int) (rows []*ranked, more int) {
	for _, r := range m {
		r.n = count(r)
		if r.n > 0 {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *ranked) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.key, b.key)) })
	if len(rows) > n {
		return rows[:n], len(rows) - n
	}
	return rows, 0
}

func (b *builder) calls(calls []*auditlog.Record) {
	p := &b.p
	t := &p.Totals
	callers := map[string]*callerAgg{}
	reasons, rules, routes, perms, targets := ranking{}, ranking{}, ranking{}, ranking{}, ranking{}
	statuses, graphStatuses := map[int]int{}, map[int]int{}
	people := set{}
	for _, r := range calls {
		t.tally.add(r.Decision)
		c := callers[r.Caller.Name]
		if c == nil {
			c = &callerAgg{name: r.Caller.Name, apps: set{}, tenants: set{}, auths: set{}, ips: set{}}
			callers[r.Caller.Name] = c
		}
		c.add(r)
		who := callerName(r.Caller.Name)
		if refused(r.Decision) {
			reasons.add(r.Reason, who, r.Decision)
			rules.add(r.Rule, who, r.Decision)
		}
		// Keyed by label, then kind: a route ("\x00r"), or the path of a
		// call no rule matched ("\x00p"), which may hold any character.
		route := r.Method + " " + r.Route + "\x00r"
		if r.Route == "" {
			route = r.Method + " " + r.Path + "\x00p"
		}
		routes.add(route, who, r.Decision)
		if r.Permission != "" {
			perms.add(r.Permission, who, r.Decision)
		}
		touched := r.Targets
		if len(touched) == 0 && r.Target != "" {
			touched = []string{r.Target}
		}
		for _, person := range setOf(touched).sorted() {
			targets.add(person, who, r.Decision)
			people.add(person)
		}
		statuses[r.Status]++
		if r.UpstreamStatus > 0 {
			t.Forwarded++
			graphStatuses[r.UpstreamStatus]++
		}
		if r.UpstreamStatus == 429 {
			t.Throttled++
			t.RetryAfter += r.RetryAfter
		}
	}
	t.Callers = len(callers)
	t.People = len(people)
	t.RetryAfterText = ms(t.RetryAfter)

	top := b.opts.Top
	refusalCount := func(r *ranked) int { return r.tally.Denied + r.tally.Reported }
	callCount := func(r *ranked) int { return r.tally.Calls }
	p.Reasons = refusalTable("reason", "no reason given", reasons, top, refusalCount)
	p.Rules = refusalTable("rule", "no rule matched", rules, top, refusalCount)
	p.Routes = callTable("method and route", routes, top, callCount, true)
	p.Permissions = callTable("permission", perms, top, callCount, false)
	p.Targets = callTable("person (mailbox)", targets, top, callCount, false)
	p.Statuses = statusTable("status answered", statuses)
	p.GraphStatuses = statusTable("Graph's status", graphStatuses)
	b.timeline(calls, callers)
	b.drill(callers)
}

func setOf(v []string) set {
	s := set{}
	for _, x := range v {
		s.add(x)
	}
	return s
}

// table is a ranking table: a label, counts and an inline bar per row.
type table struct {
	LabelHeader string
	Columns     []string
	Rows        []tableRow
	// More counts the rows not shown.
	More   int
	Top    int
	HasBar bool
	HasWho bool
	// BarLegend says what the bars' colours stand for.
	BarLegend []legendItem
}

var decisionLegend = []legendItem{{Class: allow, Label: "allowed"}, {Class: report, Label: "reported"}, {Class: deny, Label: "refused"}}

type tableRow struct {
	Label text
	// Missing marks a label that stands for an empty value.
	Missing bool
	// Code shows the label in a fixed-width font (paths, routes).
	Code   bool
	Note   string
	Counts []int
	Bar    inlineBar
	Who    text
}

const maxWho = 4

func refusalTable(header, missing string, m ranking, top int, count func(*ranked) int) table {
	rows, more := m.top(top, count)
	t := table{LabelHeader: header, Columns: []string{"refused (deny)", "would be refused (report)", "total"}, More: more, Top: top,
		HasBar: true, HasWho: true, BarLegend: []legendItem{{Class: deny, Label: "refused"}, {Class: report, Label: "would be refused"}}}
	peak := 0
	for _, r := range rows {
		peak = max(peak, r.n)
	}
	for _, r := range rows {
		row := tableRow{Label: clean(r.key), Counts: []int{r.tally.Denied, r.tally.Reported, r.n},
			Bar: newInlineBar([]int{r.tally.Denied, r.tally.Reported}, []string{deny, report}, []string{"refused", "would be refused"}, peak),
			Who: cleanList(r.callers.sorted(), maxWho)}
		if r.key == "" {
			row.Label, row.Missing = text(missing), true
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// callTable ranks calls; with kinds, keys end with "\x00r" (a route) or
// "\x00p" (a path no rule matched).
func callTable(header string, m ranking, top int, count func(*ranked) int, kinds bool) table {
	rows, more := m.top(top, count)
	t := table{LabelHeader: header, Columns: []string{"calls", "allowed", "refused", "reported"}, More: more, Top: top,
		HasBar: true, HasWho: true, BarLegend: decisionLegend}
	peak := 0
	for _, r := range rows {
		peak = max(peak, r.n)
	}
	for _, r := range rows {
		label := r.key
		if kinds {
			label = label[:len(label)-2]
		}
		row := tableRow{Label: clean(label), Code: true,
			Counts: []int{r.tally.Calls, r.tally.Allowed, r.tally.Denied, r.tally.Reported},
			Bar: newInlineBar([]int{r.tally.Allowed, r.tally.Reported, r.tally.Denied, r.tally.Calls - r.tally.Allowed - r.tally.Reported - r.tally.Denied},
				[]string{allow, report, deny, "other"}, []string{"allowed", "reported", "refused", "other decision"}, peak),
			Who: cleanList(r.callers.sorted(), maxWho)}
		if kinds && r.key[len(r.key)-1] == 'p' {
			row.Note = "no rule matched: the path as called"
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func statusTable(header string, m map[int]int) table {
	t := table{LabelHeader: header, Columns: []string{"calls"}, HasBar: true,
		BarLegend: []legendItem{{Class: allow, Label: "2xx, 3xx"}, {Class: report, Label: "429"}, {Class: deny, Label: "other 4xx, 5xx"}}}
	codes := make([]int, 0, len(m))
	peak := 0
	for c, n := range m {
		codes = append(codes, c)
		peak = max(peak, n)
	}
	slices.Sort(codes)
	for _, c := range codes {
		label := fmt.Sprint(c)
		if c == 0 {
			label = "0 (no answer)"
		}
		class := "other"
		switch {
		case c >= 200 && c < 400:
			class = allow
		case c == 429:
			class = report
		case c >= 400:
			class = deny
		}
		t.Rows = append(t.Rows, tableRow{Label: text(label), Counts: []int{m[c]},
			Bar: newInlineBar([]int{m[c]}, []string{class}, []string{label}, peak)})
	}
	return t
}

// callerAgg is what the report keeps of a caller.
type callerAgg struct {
	name                      string
	tally                     tally
	throttled                 int
	apps, tenants, auths, ips set
	first, last               time.Time
	calls                     []*auditlog.Record // in time order
}

func (c *callerAgg) add(r *auditlog.Record) {
	c.tally.add(r.Decision)
	if r.UpstreamStatus == 429 {
		c.throttled++
	}
	c.apps.add(r.Caller.AppID)
	c.tenants.add(r.Caller.TenantID)
	c.auths.add(r.Caller.Auth)
	c.ips.add(r.Caller.IP)
	if c.first.IsZero() {
		c.first = r.Time
	}
	c.last = r.Time
	c.calls = append(c.calls, r)
}

// orderCallers ranks callers by calls, then name.
func orderCallers(m map[string]*callerAgg) []*callerAgg {
	out := make([]*callerAgg, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *callerAgg) int {
		return cmp.Or(cmp.Compare(b.tally.Calls, a.tally.Calls), cmp.Compare(a.name, b.name))
	})
	return out
}

// Series shown per caller in the timeline; the rest are summed.
const maxSeries = 8

type latencyRow struct {
	When       string
	Forwarded  int
	P50, P95   string
	Max        string
	Throttled  int
	RetryAfter string
}

func (b *builder) drill(callers map[string]*callerAgg) {
	limit := b.opts.CallsPerCaller
	b.p.CallsPerCaller = limit
	for i, c := range orderCallers(callers) {
		label, missing := callerLabel(c.name)
		v := callerView{Anchor: fmt.Sprintf("caller-%d", i+1), Name: label, Missing: missing, Tally: c.tally, Throttled: c.throttled,
			Apps: cleanList(c.apps.sorted(), maxWho), Tenants: cleanList(c.tenants.sorted(), maxWho),
			Auths: cleanList(c.auths.sorted(), maxWho), IPs: cleanList(c.ips.sorted(), maxWho),
			First: stamp(c.first), Last: stamp(c.last)}
		shown := c.calls[max(len(c.calls)-limit, 0):]
		v.Shown = len(shown)
		for j := len(shown) - 1; j >= 0; j-- {
			v.Rows = append(v.Rows, newCallView(shown[j]))
		}
		b.p.Callers = append(b.p.Callers, v)
	}
}

type callerView struct {
	Anchor                    string
	Name                      text
	Missing                   bool
	Tally                     tally
	Throttled                 int
	Apps, Tenants, Auths, IPs text
	First, Last               string
	Shown                     int
	Rows                      []callView
}

type callView struct {
	Time           string
	RequestID      text
	Batch          text
	Method, Path   text
	Route          text
	Decision       text
	DecisionClass  string
	Status         int
	UpstreamStatus int
	UpstreamMs     string
	Rule, Reason   text
	Targets        text
	Error          text
}

func newCallView(r *auditlog.Record) callView {
	v := callView{Time: r.Time.UTC().Format(millisLayout), RequestID: clean(r.RequestID), Method: clean(r.Method), Path: clean(r.Path),
		Route: clean(r.Route), Decision: clean(r.Decision), Status: r.Status, UpstreamStatus: r.UpstreamStatus,
		Rule: clean(r.Rule), Reason: clean(r.Reason), Targets: cleanList(r.Targets, maxWho), Error: clean(r.Error)}
	switch r.Decision {
	case allow, deny, report:
		v.DecisionClass = r.Decision
	}
	if r.UpstreamStatus > 0 {
		v.UpstreamMs = ms(r.UpstreamMs)
	}
	if r.Batch != nil {
		v.Batch = clean("sub-request " + r.Batch.ID + " of " + r.Batch.RequestID)
	}
	return v
}
