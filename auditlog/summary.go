package auditlog

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Summary aggregates audit records for the security team's review.
type Summary struct {
	Calls      int
	ByCaller   map[string]map[string]int // caller → decision → count
	ByRule     map[string]map[string]int // rule → decision → count
	Denied     map[string]int            // route or path → count
	Throttled  int                       // Graph answered 429
	RetryAfter float64                   // seconds Graph asked to wait, summed
	Statuses   map[int]int
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{ByCaller: map[string]map[string]int{}, ByRule: map[string]map[string]int{},
		Denied: map[string]int{}, Statuses: map[int]int{}}
}

// Add counts one record; the proxy's own records (genesis, policy, close)
// are not calls and are skipped.
func (s *Summary) Add(r Record) {
	if r.Kind != "" {
		return
	}
	s.Calls++
	caller := r.Caller.Name
	if caller == "" {
		caller = "(unauthenticated)"
	}
	inc(s.ByCaller, caller, r.Decision)
	rule := r.Rule
	if rule == "" {
		rule = "(no rule)"
	}
	inc(s.ByRule, rule, r.Decision)
	if r.Decision == "deny" || r.Decision == "report" {
		key := r.Method + " " + r.Route
		if r.Route == "" {
			key = r.Method + " " + r.Path
		}
		s.Denied[key]++
	}
	if r.UpstreamStatus == 429 {
		s.Throttled++
		s.RetryAfter += r.RetryAfter
	}
	s.Statuses[r.Status]++
}

func inc(m map[string]map[string]int, k, decision string) {
	if m[k] == nil {
		m[k] = map[string]int{}
	}
	m[k][decision]++
}

// Write prints the summary as text tables.
func (s *Summary) Write(w io.Writer, top int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "calls\t%d\n", s.Calls)
	fmt.Fprintf(tw, "throttled by Graph (429)\t%d (Retry-After total %.0fs)\n\n", s.Throttled, s.RetryAfter)
	for _, t := range []struct {
		title string
		m     map[string]map[string]int
	}{{"caller", s.ByCaller}, {"rule", s.ByRule}} {
		fmt.Fprintf(tw, "%s\tallow\tdeny\treport\n", t.title)
		for _, k := range sortedKeys(t.m) {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", k, t.m[k]["allow"], t.m[k]["deny"], t.m[k]["report"])
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "top refused (deny or report)\tcount\n")
	type kv struct {
		k string
		n int
	}
	var denied []kv
	for k, n := range s.Denied {
		denied = append(denied, kv{k, n})
	}
	sort.Slice(denied, func(i, j int) bool {
		if denied[i].n != denied[j].n {
			return denied[i].n > denied[j].n
		}
		return denied[i].k < denied[j].k
	})
	for i, d := range denied {
		if i == top {
			break
		}
		fmt.Fprintf(tw, "%s\t%d\n", strings.TrimSpace(d.k), d.n)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "status\tcount\n")
	var codes []int
	for c := range s.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(tw, "%d\t%d\n", c, s.Statuses[c])
	}
	tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
