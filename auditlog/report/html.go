package report

import (
	_ "embed"
	"html/template"
	"io"
	"strconv"
)

//go:embed page.html
var pageHTML string

// pageTemplate is parsed once: html/template escapes every value for the
// context it lands in (text, attribute, the SVG's <title>), and a template
// that does not parse is a bug that every test catches.
var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"f":           func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"num":         num,
	"add":         func(a, b float64) float64 { return a + b },
	"sub":         func(a, b float64) float64 { return a - b },
	"div":         func(a, b float64) float64 { return a / b },
	"inlineWidth": func() int { return inlineWidth },
	"plural":      plural,
}).Parse(pageHTML))

// num writes a count with thousands separators.
func num(v any) string {
	switch n := v.(type) {
	case int:
		return groupDigits(n)
	case uint64:
		return groupDigits(int(n))
	}
	return "?"
}

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTemplate.Execute(w, &r.p)
}

// page is what the template shows. Strings from records are text (made by
// clean); the others are the package's own.
type page struct {
	Title       text
	Generator   text
	GeneratedAt string

	Verdict verdict
	Inputs  inputs
	Period  period
	Totals  totals

	// Bucket is the timeline's unit: hour, day or week.
	Bucket       string
	Charted      bool
	NotCharted   string
	ByCaller     chart
	ByDecision   chart
	LatencyChart chart
	Latency      []latencyRow

	Reasons, Rules               table
	Routes, Permissions, Targets table
	Statuses, GraphStatuses      table

	Health health

	CallsPerCaller int
	Callers        []callerView
}

type period struct{ From, To, Span string }

type totals struct {
	tally
	Records        int
	Callers        int
	People         int
	Forwarded      int
	Throttled      int
	RetryAfter     float64
	RetryAfterText string
}
