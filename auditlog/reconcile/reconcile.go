// Package reconcile holds the proxy's audit records against Microsoft
// Graph's own log of what it served (the MicrosoftGraphActivityLogs table
// of Log Analytics, when the customer enables Graph activity logs), so
// that mediation is shown from Microsoft's side as well as the proxy's:
// every Graph request made with the proxy's identity must be one the proxy
// recorded — any other means its credential or token is used elsewhere —
// and the vendor's own applications must make none at all.
//
// Requests are matched one to one: a Graph request to a record with the
// same client-request-id (which the proxy sends on every call it forwards
// and records, clientRequestId) or, failing that, Graph's request-id
// (graphRequestId), the same method and the same path, and each record to
// at most as many Graph requests as it says were sent (attempts). A
// client-request-id is the caller's choice and proves nothing by itself:
// the same id on more requests than the proxy sent, or on another method
// or path, is a request the proxy never recorded.
package reconcile

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
)

// Activity is one row of Graph's activity log.
type Activity struct {
	File string
	Row  int
	Time time.Time
	// AppID is the application whose token made the request.
	AppID, ClientRequestID, RequestID string
	Method, URI                       string
	Status                            int
	IP, UserAgent                     string
}

func (a Activity) String() string {
	return fmt.Sprintf("%s row %d: %s %s %s by app %s from %s (client-request-id %s, status %d)",
		a.File, a.Row, a.Time.Format(time.RFC3339), a.Method, a.URI, a.AppID, a.IP, a.ClientRequestID, a.Status)
}

// ReadActivity reads an export of MicrosoftGraphActivityLogs (any format
// auditlog.ReadRows reads).
func ReadActivity(name string, r io.Reader) ([]Activity, error) {
	var out []Activity
	err := auditlog.ReadRows(name, r, func(row int, c map[string]string) error {
		when := c["TimeGenerated"]
		if when == "" {
			return fmt.Errorf("%s row %d: no TimeGenerated: export the MicrosoftGraphActivityLogs table's columns (deploy/kql/graph-activity-export.kql)", name, row)
		}
		t, err := auditlog.ParseTime(when)
		if err != nil {
			return fmt.Errorf("%s row %d: TimeGenerated %q: %v", name, row, when, err)
		}
		a := Activity{File: name, Row: row, Time: t, AppID: strings.ToLower(c["AppId"]),
			ClientRequestID: strings.ToLower(cell(c["ClientRequestId"])), RequestID: strings.ToLower(cell(c["RequestId"])),
			Method: c["RequestMethod"], URI: c["RequestUri"], IP: cell(c["IPAddress"]), UserAgent: cell(c["UserAgent"])}
		a.Status, _ = strconv.Atoi(strings.TrimSpace(c["ResponseStatusCode"]))
		if a.AppID == "" {
			return fmt.Errorf("%s row %d: no AppId", name, row)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// cell is a string cell, "" for the CLI's None.
func cell(s string) string {
	if s = strings.TrimSpace(s); s == "None" || s == "null" {
		return ""
	}
	return s
}

// Options say whose requests are whose, and over which window.
type Options struct {
	// ProxyApps are the application ids the proxy calls Graph as: its
	// managed identity's client id, or the app registration's.
	ProxyApps []string
	// VendorApps are the vendor's applications; the callers' application
	// ids in the records are added.
	VendorApps []string
	// From and To bound the window compared; zero takes the activity's
	// first and last request.
	From, To time.Time
	// Settle is how late Graph's log may be: forwarded calls within it of
	// To are not expected in the activity yet. Default 15m.
	Settle time.Duration
}

// Result is what matched and what did not.
type Result struct {
	From, To time.Time
	// Matched counts Graph requests made with the proxy's identity that
	// the proxy recorded.
	Matched int
	// Unrecorded are Graph requests made with the proxy's identity that
	// the proxy has no record of: its credential or token used elsewhere
	// (or records lost, which audit verify shows).
	Unrecorded []Activity
	// Own counts Graph requests made with the proxy's identity that are
	// the proxy's own, each under a record of its own: its membership
	// checks (kind membership), its reads of the items calls refer to
	// (kind reference) and its looks at the tenant (kind mediation).
	// They are not the vendor's calls.
	Own int
	// Direct are Graph requests by the vendor's own applications: the
	// vendor going around the proxy.
	Direct []Activity
	// Refused counts the calls recorded and never sent to Graph (denied,
	// unauthenticated, failed before Graph): no activity is expected.
	Refused int
	// Missing are calls the proxy recorded as answered by Graph that
	// Graph's log does not show, Settle before To.
	Missing []auditlog.Record
	// Apps are the vendor applications looked for.
	Apps []string
	// SharedIDs are client-request-ids more than one call's record
	// carries: an SDK's retries keep theirs, so this is no fault by
	// itself; each of those records still matched at most the requests it
	// says it sent.
	SharedIDs []string
}

// kindMediation is the kind of the records of the proxy's looks at the
// tenant (internal/mediation), each over several GETs.
const kindMediation = "mediation"

// sameRequest reports whether Graph's request a is the one record r
// describes: the same method, and the same path once both are in the
// proxy's canonical form. A row without a method or URI (an export
// without those columns) is held to the ids alone.
func sameRequest(r *auditlog.Record, a Activity) bool {
	if a.Method == "" && a.URI == "" {
		return true
	}
	method := r.Method
	if r.Kind == kindMediation && method == "" {
		method = "GET"
	}
	if !strings.EqualFold(method, a.Method) {
		return false
	}
	if r.Kind == kindMediation {
		return true // its reads' paths are not recorded
	}
	return samePath(r.Version, r.Path, a.URI)
}

// samePath compares a record's version and path with the path of Graph's
// RequestUri, both canonicalised as the proxy canonicalises a call's
// path (the record's path is already; the URI is what the proxy sent,
// which is the caller's spelling).
func samePath(version, path, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	got, gerr := policy.Canonicalize("GET", u.EscapedPath(), "")
	want, werr := policy.Canonicalize("GET", "/"+version+path, "")
	if gerr != nil || werr != nil {
		// Not a path the proxy canonicalises: compare it as written.
		return strings.EqualFold(strings.TrimSuffix(u.EscapedPath(), "/"), strings.TrimSuffix("/"+version+path, "/"))
	}
	return strings.EqualFold(got.Version, want.Version) && strings.EqualFold(got.Path, want.Path) // Graph's paths are case-insensitive
}

// OK reports that no request went around the proxy.
func (r Result) OK() bool { return len(r.Unrecorded) == 0 && len(r.Direct) == 0 }

// Reconcile matches the activity against the records.
func Reconcile(records []auditlog.Record, activity []Activity, o Options) Result {
	if o.Settle <= 0 {
		o.Settle = 15 * time.Minute
	}
	res := Result{From: o.From, To: o.To}
	if res.From.IsZero() || res.To.IsZero() {
		for _, a := range activity {
			if res.From.IsZero() || a.Time.Before(res.From) {
				res.From = a.Time
			}
			if a.Time.After(res.To) {
				res.To = a.Time
			}
		}
		if !o.From.IsZero() {
			res.From = o.From
		}
		if !o.To.IsZero() {
			res.To = o.To
		}
	}
	lower := func(ss []string) []string {
		out := make([]string, 0, len(ss))
		for _, s := range ss {
			out = append(out, strings.ToLower(s))
		}
		return out
	}
	proxy := lower(o.ProxyApps)
	vendor := lower(o.VendorApps)
	// The records each Graph request may match, by client-request-id and
	// by Graph's request-id, and how many Graph requests each may still
	// take.
	byClient := map[string][]int{}
	byGraph := map[string][]int{}
	left := make([]int, len(records))
	index := func(i int, r *auditlog.Record) {
		if r.ClientRequestID != "" {
			id := strings.ToLower(r.ClientRequestID)
			byClient[id] = append(byClient[id], i)
		}
		if r.GraphRequestID != "" {
			id := strings.ToLower(r.GraphRequestID)
			byGraph[id] = append(byGraph[id], i)
		}
	}
	for i := range records {
		r := &records[i]
		if r.Kind != "" {
			// The proxy's own requests (kinds membership, reference and
			// mediation) carry the record's client-request-id. A
			// mediation check reads the tenant in pages under one
			// record: any number of GETs.
			left[i] = max(r.Sent(), 1) // an older record may lack both
			if r.Kind == kindMediation {
				left[i] = -1
			}
			index(i, r)
			continue
		}
		if id := strings.ToLower(r.Caller.AppID); id != "" && !slices.Contains(vendor, id) {
			vendor = append(vendor, id)
		}
		if r.Sent() == 0 || r.Batch != nil {
			continue
		}
		left[i] = r.Sent()
		index(i, r)
	}
	for id, is := range byClient {
		calls := 0
		for _, i := range is {
			if records[i].Kind == "" {
				calls++
			}
		}
		if calls > 1 {
			res.SharedIDs = append(res.SharedIDs, id)
		}
	}
	slices.Sort(res.SharedIDs)
	slices.Sort(vendor)
	res.Apps = vendor
	seen := map[int]bool{}
	take := func(a Activity, candidates []int) (int, bool) {
		for _, i := range candidates {
			if left[i] != 0 && sameRequest(&records[i], a) {
				if left[i] > 0 {
					left[i]--
				}
				return i, true
			}
		}
		return 0, false
	}
	for _, a := range activity {
		if a.Time.Before(res.From) || a.Time.After(res.To) {
			continue
		}
		switch {
		case slices.Contains(proxy, a.AppID):
			i, ok := take(a, byClient[strings.ToLower(a.ClientRequestID)])
			if !ok && a.RequestID != "" {
				i, ok = take(a, byGraph[strings.ToLower(a.RequestID)])
			}
			switch {
			case ok && records[i].Kind != "":
				res.Own++
			case ok:
				res.Matched++
				seen[i] = true
			default:
				res.Unrecorded = append(res.Unrecorded, a)
			}
		case slices.Contains(vendor, a.AppID):
			res.Direct = append(res.Direct, a)
		}
	}
	for i, r := range records {
		if r.Kind != "" || r.Batch != nil || r.Time.Before(res.From) || r.Time.After(res.To) {
			continue
		}
		switch {
		case r.Sent() == 0:
			res.Refused++
		case !seen[i] && r.Time.Before(res.To.Add(-o.Settle)):
			res.Missing = append(res.Missing, r)
		}
	}
	return res
}
