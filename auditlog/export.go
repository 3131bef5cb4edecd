package auditlog

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An export is the GraphProxyAudit_CL table's rows as the security team
// takes them out of Log Analytics: `az monitor log-analytics query -o json`
// (a JSON array of objects, one per row, every value turned into a string
// by the CLI's str(): numbers as "200", nulls as "None", dynamic columns
// as their JSON text, plus a "TableName" key), the query API's own answer
// ({"tables":[{"columns":…,"rows":[[…]]}]}), or the portal's "Export to
// CSV" (a header of column names, datetime columns named "time [UTC]" and
// shown as "11/22/2026, 2:00:00.123 PM").
//
// A record's hash covers its JSON line exactly as written, and the table
// does not keep that line: the data collection rule parses it into typed
// columns. Kusto keeps datetimes to 100 ns (the proxy writes nanoseconds)
// and the portal shows milliseconds, and the nested objects become dynamic
// values. So an export is verified from its RawRecord column, the line
// itself, when it has one, and every other column given is checked against
// that line; without it, the line is rebuilt from the columns, and only a
// hash that matches proves the rebuilt line is the one written.

// rawColumn is the column that holds a record's line as it was hashed and
// written, sent by the Logs Ingestion sink next to the record's fields.
const rawColumn = "RawRecord"

// exportColumns are the table's columns that hold a record's fields, by
// their Kusto type (deploy/bicep/modules/audit-columns.json, which
// TestExportColumns holds this to). TimeGenerated, derived by the data
// collection rule, and the workspace's own columns are not the record's.
var exportColumns = map[string]string{
	"time": "datetime", "replica": "string", "seq": "long", "prev": "string", "hash": "string",
	"kind": "string", "proxyVersion": "string", "policyDigest": "string",
	"requestId": "string", "clientRequestId": "string", "graphRequestId": "string",
	"caller": "dynamic", "actor": "dynamic", "method": "string", "version": "string", "path": "string", "route": "string",
	"target": "string", "targets": "dynamic", "query": "dynamic",
	"rule": "string", "permission": "string", "decision": "string", "reason": "string", "batch": "dynamic", "checkpoint": "dynamic",
	"response": "dynamic", "file": "dynamic", "status": "int", "upstreamStatus": "int", "attempts": "int", "retryAfter": "real", "bytesIn": "long", "bytesOut": "long",
	"durationMs": "real", "upstreamMs": "real", "error": "string",
	"direction": "string", "notification": "dynamic",
}

// optionalColumns are the columns a table created before them lacks
// (checkpoint: before signed checkpoints; response: before response
// sections; actor: before delegated access): rows rebuilt without one are records without that field (a
// record that has it then fails its hash, as a field the columns lack).
var optionalColumns = map[string]bool{"checkpoint": true, "response": true, "actor": true, "file": true,
	"direction": true, "notification": true, // direction, notification: before relayed change notifications
	"attempts": true} // before attempts were counted

// exportColumnNames are exportColumns' names, sorted, so that problems are
// found in the same order every time.
var exportColumnNames = func() []string {
	var names []string
	for n := range exportColumns {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}()

// addExport verifies an export's rows: each record on its own as it is
// read, then, all read, their chains, whatever order the rows are in. An
// export that cannot be read to its end (cut short, malformed) is
// reported as such before any row of it: a bad row in a broken file is
// better explained by the break.
func (v *Verifier) addExport(name string, order int, br *bufio.Reader, f exportFormat) error {
	var ents []entry
	var bad error
	_, err := readExport(name, br, f, func(row exportRow) error {
		if bad == nil {
			var e entry
			e, bad = exportEntry(name, f, row)
			ents = append(ents, e)
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case bad != nil:
		return bad
	}
	return v.addRows(name, order, ents)
}

// reasonRebuilt is why a record rebuilt from its columns does not verify:
// from the columns alone, an altered row and a record the columns do not
// hold exactly cannot be told apart, and both fail.
const reasonRebuilt = "its hash does not match the record rebuilt from the row's columns: the row was altered, " +
	"or the columns do not hold the record exactly (a time finer than the column keeps, a field the columns lack); " +
	"an export with the " + rawColumn + " column tells the two apart"

// exportEntry checks one row on its own, as parseEntry checks a line: from
// its RawRecord column, whose line must hash right and agree with every
// other column given, or, without one, from the line rebuilt from its
// columns.
func exportEntry(file string, format exportFormat, row exportRow) (entry, error) {
	cols, err := rowColumns(file, row)
	if err != nil {
		return entry{}, err
	}
	raw := cols[rawColumn].text
	rebuilt := raw == ""
	var line []byte
	if rebuilt {
		if line, err = rebuildLine(cols); err != nil {
			return entry{}, rowProblem(file, row.n, err.Error())
		}
	} else {
		if len(raw) > maxLine {
			return entry{}, rowProblem(file, row.n, fmt.Sprintf("%s is longer than %d MB: not an audit record", rawColumn, maxLine>>20))
		}
		line = []byte(raw)
	}
	e, err := parseEntry(file, row.n, line)
	if err != nil {
		var p *Problem
		if errors.As(err, &p) {
			p.Row = true
			if rebuilt && p.Reason == reasonAltered {
				p.Reason = reasonRebuilt
			}
		}
		return e, err
	}
	if !rebuilt {
		if reason := checkColumns(cols, line, format == formatCSV); reason != "" {
			return e, &Problem{File: file, Line: row.n, Row: true, Replica: e.replica, Seq: e.seq, RequestID: e.reqID, Reason: reason}
		}
	}
	return e, nil
}

// rebuildLine writes the record a row's columns hold as the proxy wrote
// it, hash included. Whether that is the line written only its hash can
// tell.
func rebuildLine(cols map[string]cell) ([]byte, error) {
	var missing []string
	for _, name := range exportColumnNames {
		if _, ok := cols[name]; !ok && !optionalColumns[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the row has no %s column, nor the columns %s to rebuild the record from: export every column (docs/audit.md, \"Verifying what Log Analytics holds\")",
			rawColumn, strings.Join(missing, ", "))
	}
	text := func(name string) string { return cols[name].text }
	var r Record
	var err error
	bad := func(name, what string) error {
		return fmt.Errorf("column %s: %q is not %s", name, clip(text(name)), what)
	}
	t, _, terr := exportTime(text("time"))
	if terr != nil {
		return nil, fmt.Errorf("column time: %w", terr)
	}
	r.Time = t
	if r.Seq, err = strconv.ParseUint(strings.TrimSpace(text("seq")), 10, 64); err != nil {
		return nil, bad("seq", "a sequence number")
	}
	for _, f := range []struct {
		name string
		p    *string
	}{
		{"replica", &r.Replica}, {"prev", &r.Prev}, {"hash", &r.Hash}, {"kind", &r.Kind}, {"proxyVersion", &r.ProxyVersion},
		{"policyDigest", &r.PolicyDigest}, {"requestId", &r.RequestID}, {"clientRequestId", &r.ClientRequestID},
		{"graphRequestId", &r.GraphRequestID}, {"method", &r.Method}, {"version", &r.Version}, {"path", &r.Path},
		{"route", &r.Route}, {"target", &r.Target}, {"rule", &r.Rule}, {"permission", &r.Permission},
		{"decision", &r.Decision}, {"reason", &r.Reason}, {"error", &r.Error}, {"direction", &r.Direction},
	} {
		*f.p = text(f.name)
	}
	for _, f := range []struct {
		name string
		p    *int
	}{{"status", &r.Status}, {"upstreamStatus", &r.UpstreamStatus}} {
		if *f.p, err = strconv.Atoi(strings.TrimSpace(text(f.name))); err != nil {
			return nil, bad(f.name, "an integer")
		}
	}
	if v := text("attempts"); !nullish(v) {
		if r.Attempts, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			return nil, bad("attempts", "an integer")
		}
	}
	for _, f := range []struct {
		name string
		p    *int64
	}{{"bytesIn", &r.BytesIn}, {"bytesOut", &r.BytesOut}} {
		if *f.p, err = strconv.ParseInt(strings.TrimSpace(text(f.name)), 10, 64); err != nil {
			return nil, bad(f.name, "an integer")
		}
	}
	for _, f := range []struct {
		name string
		p    *float64
	}{{"retryAfter", &r.RetryAfter}, {"durationMs", &r.DurationMs}, {"upstreamMs", &r.UpstreamMs}} {
		if *f.p, err = strconv.ParseFloat(strings.TrimSpace(text(f.name)), 64); err != nil || math.IsInf(*f.p, 0) || math.IsNaN(*f.p) {
			return nil, bad(f.name, "a number")
		}
	}
	for _, f := range []struct {
		name string
		p    any
	}{{"caller", &r.Caller}, {"actor", &r.Actor}, {"targets", &r.Targets}, {"query", &r.Query}, {"batch", &r.Batch}, {"checkpoint", &r.Checkpoint},
		{"response", &r.Response}, {"notification", &r.Notification}} {
		if s := text(f.name); !nullish(s) {
			if err := json.Unmarshal([]byte(s), f.p); err != nil {
				return nil, bad(f.name, "the JSON of the record's "+f.name)
			}
		}
	}
	line, _, err := appendRecord(nil, &r)
	return line, err
}

// nullish reports a dynamic cell that holds nothing: empty, JSON's null,
// or the az CLI's str(None).
func nullish(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s == "null" || s == "None"
}

// exportTime reads a datetime cell: ISO 8601, as the query API and az give
// it, or the portal's CSV form in English ("11/22/2026, 2:00:00.123 PM").
// unit is the precision the cell shows, one unit of its last digit.
func exportTime(s string) (t time.Time, unit time.Duration, err error) {
	s = strings.TrimSpace(s)
	t, err = time.Parse(time.RFC3339Nano, s)
	for _, layout := range []string{"1/2/2006, 3:04:05 PM", "1/2/2006 3:04:05 PM"} {
		if err == nil {
			break
		}
		t, err = time.Parse(layout, s)
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("%q is not a time (ISO 8601, or the portal's 11/22/2026, 2:00:00.123 PM)", clip(s))
	}
	unit = time.Second
	if i := strings.IndexByte(s, '.'); i >= 0 {
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9' && unit > 1; i++ {
			unit /= 10
		}
	}
	return t.UTC(), unit, nil
}

// checkColumns returns why a row's columns disagree with its record's
// line, or "". The security team queries the columns, not the line, so
// a column changed after the record was written must not pass for the
// line it came from. Columns not given are not checked; TimeGenerated,
// which the data collection rule may replace with the time of ingestion,
// is not either. A CSV's fields are read with their line ends as LF (lf),
// so its strings are compared with the line's so turned.
func checkColumns(cols map[string]cell, line []byte, csvExport bool) string {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return "not an audit record: " + err.Error()
	}
	for _, name := range exportColumnNames {
		c, ok := cols[name]
		if !ok {
			continue
		}
		f, present := fields[name]
		if exportColumns[name] == "datetime" {
			if _, _, err := exportTime(c.text); err != nil {
				return fmt.Sprintf("column %s: %v", name, err)
			}
		}
		if !sameValue(exportColumns[name], c.text, f, present, csvExport) {
			held := "nothing"
			if present {
				held = clip(string(f))
			}
			return fmt.Sprintf("column %s is %q, but the record's line (%s) holds %s: the row was altered after the record was written",
				name, clip(c.text), rawColumn, held)
		}
	}
	return ""
}

// sameValue reports whether a cell of the given Kusto type holds the
// line's value f of the same field (or nothing, when !present).
func sameValue(typ, text string, f json.RawMessage, present, csvExport bool) bool {
	text = strings.TrimSpace(text)
	switch typ {
	case "string":
		var want string
		if present && json.Unmarshal(f, &want) != nil {
			return false
		}
		if csvExport {
			want = lf(want)
		}
		return text == want
	case "int", "long":
		if !present {
			return nullish(text) // an optional number (attempts) absent: the CLI's None
		}
		return sameInt(text, string(f))
	case "real":
		if !present {
			return text == ""
		}
		a, err1 := strconv.ParseFloat(text, 64)
		b, err2 := strconv.ParseFloat(string(f), 64)
		return err1 == nil && err2 == nil && a == b
	case "datetime":
		var s string
		if !present || json.Unmarshal(f, &s) != nil {
			return false
		}
		want, err1 := time.Parse(time.RFC3339Nano, s)
		got, unit, err2 := exportTime(text)
		d := got.Sub(want)
		return err1 == nil && err2 == nil && -unit < d && d < unit
	case "dynamic":
		var got, want any
		if !nullish(text) && json.Unmarshal([]byte(text), &got) != nil {
			return false
		}
		if present && json.Unmarshal(f, &want) != nil {
			return false
		}
		// Nothing, null and an empty list or object all hold nothing:
		// which of them the table keeps for null or [] is Kusto's.
		if empty(got) && empty(want) {
			return true
		}
		return reflect.DeepEqual(got, want)
	}
	return false
}

func sameInt(a, b string) bool {
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		y, err := strconv.ParseInt(b, 10, 64)
		return err == nil && x == y
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x == y
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// clip shortens a value quoted in a problem.
func clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Duplicate is an export row that repeats a record read before it, byte
// for byte: Log Analytics ingests a record twice when an upload is sent
// again after it was taken, and two exports over overlapping windows hold
// the same rows.
type Duplicate struct {
	// At is the repeating row; Of is where the record was first read.
	At, Of Position
}

// addRows adds an export's records, which come in no particular order. A
// run is a replica's records that each follow the one before it, prev to
// hash with the next seq, each the only record that does; Done then links
// the runs and reports the gaps, forks and missing heads between them as
// it does for files. A record already read from an export is a duplicate,
// counted as such and otherwise passed over: the hash covers the whole
// line, prev included, so a second record with a hash that verifies and
// is already held is the same record, byte for byte.
func (v *Verifier) addRows(name string, order int, ents []entry) error {
	if v.seen == nil {
		v.seen = map[string]Position{}
	}
	kept := ents[:0]
	for _, e := range ents {
		at := Position{File: name, Line: e.line, Row: true}
		if first, ok := v.seen[e.hash]; ok {
			v.dups = append(v.dups, Duplicate{At: at, Of: first})
			continue
		}
		v.seen[e.hash] = at
		kept = append(kept, e)
	}
	slices.SortFunc(kept, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.replica, b.replica), cmp.Compare(a.seq, b.seq), cmp.Compare(a.line, b.line))
	})
	byHash := make(map[string]int, len(kept))
	for i, e := range kept {
		byHash[e.hash] = i
	}
	pred, next, succs := make([]int, len(kept)), make([]int, len(kept)), make([]int, len(kept))
	for i, e := range kept {
		pred[i] = -1
		if j, ok := byHash[e.prev]; ok && e.prev != "" && kept[j].replica == e.replica && kept[j].seq+1 == e.seq {
			pred[i], next[j] = j, i
			succs[j]++
		}
	}
	added := 0
	for i := range kept {
		if p := pred[i]; p >= 0 && succs[p] == 1 {
			continue // inside a run
		}
		rn, err := v.newRun(name, order, kept[i], true)
		if err != nil {
			return err
		}
		added++
		for j := i; succs[j] == 1; added++ {
			j = next[j]
			if err := v.extend(rn, kept[j]); err != nil {
				return err
			}
		}
	}
	if added != len(kept) {
		// Only records whose hashes link in a circle are in no run, and
		// SHA-256 makes that out of reach.
		return &Problem{File: name, Reason: "rows link in a circle: not records the proxy wrote"}
	}
	return nil
}

// ExportLines reads the rows of a Log Analytics export (any format
// Verifier.Add reads) and returns each record's line — its RawRecord, or
// the line rebuilt from its columns — with its row number, in chain order
// (by replica, then seq), leaving out a row that repeats a record already
// read. It is for readers of the records, such as audit report: whether
// the lines are the records the proxy wrote, and form intact chains, is
// for a Verifier given the same export to say. A row that holds no record
// at all is an error.
func ExportLines(name string, r io.Reader) (lines [][]byte, rows []int, err error) {
	br := bufio.NewReaderSize(r, sniffLen)
	f := sniff(br)
	if f == formatLines {
		return nil, nil, &Problem{File: name, Reason: "not a Log Analytics export"}
	}
	type row struct {
		line    []byte
		n       int
		replica string
		seq     uint64
	}
	var got []row
	seen := map[string]bool{}
	_, err = readExport(name, br, f, func(er exportRow) error {
		cols, err := rowColumns(name, er)
		if err != nil {
			return err
		}
		line := []byte(cols[rawColumn].text)
		if len(line) == 0 {
			if line, err = rebuildLine(cols); err != nil {
				return rowProblem(name, er.n, err.Error())
			}
		}
		var key struct {
			Replica string `json:"replica"`
			Seq     uint64 `json:"seq"`
			Hash    string `json:"hash"`
		}
		if err := json.Unmarshal(line, &key); err != nil {
			return rowProblem(name, er.n, "not an audit record: "+err.Error())
		}
		if key.Hash != "" && seen[key.Hash] {
			return nil
		}
		seen[key.Hash] = true
		got = append(got, row{line: line, n: er.n, replica: key.Replica, seq: key.Seq})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(got, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.replica, b.replica), cmp.Compare(a.seq, b.seq))
	})
	for _, g := range got {
		lines, rows = append(lines, g.line), append(rows, g.n)
	}
	return lines, rows, nil
}
