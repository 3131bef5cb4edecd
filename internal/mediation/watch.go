package mediation

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
)

// Watch runs the check at start and every Interval, so that a grant made
// to a vendor's app after deployment is seen without anyone running
// graph-proxy check: each result goes to Report (the proxy audits it) and
// is kept for /status and the metrics.
type Watch struct {
	Checker *Checker
	// Apps returns the callers' applications in the policy in force.
	Apps     func() []policy.CallerApp
	Interval time.Duration
	// Timeout bounds one check. Default 1m.
	Timeout time.Duration
	// Report receives each check's result.
	Report func(Report, error)

	mu   sync.Mutex
	last Status
}

// Status is the last check's result as /status shows it.
type Status struct {
	At time.Time `json:"at,omitzero"`
	// Result is "ok" (no application holds Graph access of its own),
	// "bypass" (one does: Findings), or "unknown" (Error says why), or
	// "" before the first check.
	Result   string    `json:"result"`
	Apps     int       `json:"apps"`
	Findings []Finding `json:"findings,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Result names a check's outcome.
func Result(rep Report, err error) string {
	switch {
	case err != nil:
		return "unknown"
	case len(rep.Findings) > 0:
		return "bypass"
	}
	return "ok"
}

// Summary is a check's outcome in one line, for the audit record and the
// log.
func Summary(rep Report, err error) string {
	if err != nil {
		return "not checked: " + err.Error()
	}
	if len(rep.Findings) == 0 {
		return "no caller's application holds Graph access of its own"
	}
	var parts []string
	for _, f := range rep.Findings {
		parts = append(parts, f.String())
	}
	return strings.Join(parts, "; ")
}

// Run checks until ctx ends.
func (w *Watch) Run(ctx context.Context) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		rep, err := w.Checker.Check(cctx, w.Apps())
		cancel()
		if ctx.Err() != nil {
			return
		}
		st := Status{At: rep.At, Result: Result(rep, err), Apps: rep.Apps, Findings: rep.Findings}
		if err != nil {
			st.Error = err.Error()
		}
		w.mu.Lock()
		w.last = st
		w.mu.Unlock()
		w.Report(rep, err)
		t.Reset(w.Interval)
	}
}

// Status returns the last check's result.
func (w *Watch) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Findings is the metric's value: the last check's findings, or -1 when it
// could not look (or has not yet).
func (w *Watch) Findings() int64 {
	st := w.Status()
	if st.Result == "ok" || st.Result == "bypass" {
		return int64(len(st.Findings))
	}
	return -1
}
