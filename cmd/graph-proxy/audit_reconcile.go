package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/auditlog/reconcile"
)

const auditReconcileUsage = `Usage:
  graph-proxy audit reconcile --graph-activity FILE... --proxy-app ID... [--vendor-app ID]...
      [--from TIME] [--to TIME] [--settle 15m] FILE|DIR...

Holds Microsoft Graph's own log of what it served (the MicrosoftGraphActivityLogs
table, exported from Log Analytics: deploy/kql/graph-activity-export.kql) against
the proxy's audit records (files or an export of GraphProxyAudit_CL, for the same
window) and reports, in both directions:
  - Graph requests made with the proxy's identity (--proxy-app: its managed
    identity's client id, or the app registration's) that the proxy never
    recorded: its credential or token used elsewhere (exit 1);
  - Graph requests by the vendor's own applications (the callers' app ids in
    the records, and --vendor-app): the vendor going around the proxy (exit 1);
  - the calls the proxy refused or never sent, for which no Graph activity is
    expected, and those it recorded as answered by Graph that Graph's log does
    not show (outside the window, or Graph's log lost them).
The window is the activity's first to last request unless --from/--to (RFC 3339);
Graph's log arrives late, so calls within --settle of its end are not expected in
it yet. Run audit verify on the same records: reconcile takes them as complete.
`

func auditReconcile(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit reconcile", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, auditReconcileUsage)
		fs.PrintDefaults()
	}
	var activityFiles, proxyApps, vendorApps multiFlag
	fs.Var(&activityFiles, "graph-activity", "an export of MicrosoftGraphActivityLogs `FILE` (repeatable)")
	fs.Var(&proxyApps, "proxy-app", "an application `ID` the proxy calls Graph as (repeatable)")
	fs.Var(&vendorApps, "vendor-app", "a vendor application `ID` to look for besides the callers' in the records (repeatable)")
	from := fs.String("from", "", "start of the window, RFC 3339")
	to := fs.String("to", "", "end of the window, RFC 3339")
	settle := fs.Duration("settle", 15*time.Minute, "how late Graph's log may be")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	switch {
	case len(activityFiles) == 0:
		return usageError("audit reconcile: give --graph-activity")
	case len(proxyApps) == 0:
		return usageError("audit reconcile: give --proxy-app (the proxy's managed identity's client id, or its app registration's)")
	case fs.NArg() == 0:
		return usageError("audit reconcile: name the audit files")
	}
	o := reconcile.Options{ProxyApps: proxyApps, VendorApps: vendorApps, Settle: *settle}
	for _, t := range []struct {
		flag, value string
		into        *time.Time
	}{{"--from", *from, &o.From}, {"--to", *to, &o.To}} {
		if t.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return usageError("audit reconcile: %s: %v", t.flag, err)
		}
		*t.into = v
	}
	var activity []reconcile.Activity
	for _, name := range activityFiles {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("audit reconcile: %w", err)
		}
		a, err := reconcile.ReadActivity(name, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("audit reconcile: %w", err)
		}
		activity = append(activity, a...)
	}
	var records []auditlog.Record
	files, err := auditFiles(fs.Args())
	if err != nil {
		return fmt.Errorf("audit reconcile: %w", err)
	}
	for _, name := range files {
		if err := readAudit(name, func(r auditlog.Record) { records = append(records, r) }); err != nil {
			return fmt.Errorf("audit reconcile: %w", err)
		}
	}
	res := reconcile.Reconcile(records, activity, o)
	writeReconcile(stdout, res, *settle)
	if !res.OK() {
		return &exitError{code: exitFailure, err: fmt.Errorf("audit reconcile: Graph was called around the proxy")}
	}
	return nil
}

// maxListed bounds the requests each list names.
const maxListed = 20

func writeReconcile(w io.Writer, res reconcile.Result, settle time.Duration) {
	fmt.Fprintf(w, "window: %s to %s (calls after %s are not expected in Graph's log yet)\n",
		res.From.Format(time.RFC3339), res.To.Format(time.RFC3339), res.To.Add(-settle).Format(time.RFC3339))
	fmt.Fprintf(w, "vendor applications looked for: %s\n", strings.Join(res.Apps, ", "))
	list := func(items []string) {
		for i, s := range items {
			if i == maxListed {
				fmt.Fprintf(w, "    and %d more\n", len(items)-i)
				return
			}
			fmt.Fprintf(w, "    %s\n", s)
		}
	}
	mark := "ok  "
	if len(res.Unrecorded) > 0 {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "%s %d Graph request(s) made with the proxy's identity that the proxy never recorded: its credential or token used elsewhere\n", mark, len(res.Unrecorded))
	list(activityLines(res.Unrecorded))
	mark = "ok  "
	if len(res.Direct) > 0 {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "%s %d Graph request(s) by the vendor's own applications: around the proxy\n", mark, len(res.Direct))
	list(activityLines(res.Direct))
	fmt.Fprintf(w, "     %d Graph request(s) made with the proxy's identity matched to its records; %d its own (membership checks, looks at the tenant)\n", res.Matched, res.Own)
	fmt.Fprintf(w, "     %d call(s) the proxy refused or never sent (no Graph activity expected)\n", res.Refused)
	if n := len(res.SharedIDs); n > 0 {
		// An SDK's retries keep their client-request-id; each record
		// matched no more requests than it says it sent.
		fmt.Fprintf(w, "     %d client-request-id(s) on more than one call's record (each matched one to one):\n", n)
		list(res.SharedIDs)
	}
	if n := len(res.Missing); n > 0 {
		fmt.Fprintf(w, "warn %d call(s) the proxy recorded as answered by Graph that Graph's log does not show (outside the export, or lost by Graph's log):\n", n)
		var items []string
		for _, r := range res.Missing {
			items = append(items, fmt.Sprintf("%s %s %s %s (request %s, client-request-id %s)", r.Time.Format(time.RFC3339), r.Caller.Name, r.Method, r.Path, r.RequestID, r.ClientRequestID))
		}
		list(items)
	}
}

func activityLines(as []reconcile.Activity) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// auditFiles lists the files paths stand for: a directory stands for the
// regular files directly in it, as for audit verify.
func auditFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	return out, nil
}
