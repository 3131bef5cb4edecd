package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// exBuffer is a stream several logs write to.
type exBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *exBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *exBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.b.String(), "\n"), "\n")
}

// exCall is call record i, with what an export finds hard: lists, empty
// and null lists, a $batch link, quotes, commas, a new line, HTML
// characters and non-ASCII in its strings, and numbers that are not
// integers.
func exCall(i int, at time.Time) *Record {
	r := &Record{Time: at, RequestID: fmt.Sprintf("req-%d", i), ClientRequestID: fmt.Sprintf("c-%d", i),
		Caller: Caller{Name: "engage", TenantID: "t-1", AppID: "a-1", Auth: "entra", IP: "10.0.0.1"},
		Method: "POST", Version: "v1.0", Path: fmt.Sprintf("/users/u%d@contoso.example/calendar/getSchedule", i),
		Route: "/users/{id}/calendar/getSchedule", Target: fmt.Sprintf("u%d@contoso.example", i),
		Targets: []string{fmt.Sprintf("u%d@contoso.example", i), "room1@contoso.example"}, Query: []string{"$select"},
		Rule: "schedule", Permission: "Calendars.Read", Decision: "deny",
		Reason: "refused, because \"room1\" is not\nin the list; <ünïcode> & more", Status: 403,
		RetryAfter: 1.5, BytesIn: 120, BytesOut: 240, DurationMs: 41.2, UpstreamMs: 1e-7}
	switch i % 3 {
	case 1:
		r.Batch, r.Targets, r.Query = &Batch{RequestID: "req-b", ID: strconv.Itoa(i)}, nil, []string{}
	case 2:
		r.Decision, r.Reason, r.Status, r.UpstreamStatus, r.Error = "allow", "", 200, 200, "upstream: \"slow\", then fine"
		r.Actor = &Actor{ObjectID: "10000000-0000-4000-8000-000000000000", UPN: "adele.vance0@contoso.example", TenantID: "t-2"}
	}
	return r
}

// exMs and exNs are record times: the first holds to milliseconds, as the
// portal's CSV shows them; the second, as the proxy takes them, does not.
func exMs(i int) time.Time {
	return time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second + 250*time.Millisecond)
}

func exNs(i int) time.Time {
	return time.Date(2026, 11, 22, 14, 0, 0, 123456789, time.UTC).Add(time.Duration(i) * time.Second)
}

// exLog writes, through the audit pipeline and its encoder, a replica's
// chain to w: a genesis record, n calls and the closing record, continuing
// the chain (seq, hash) when hash is not empty.
func exLog(t testing.TB, w *exBuffer, replica string, n int, at func(int) time.Time, seq uint64, hash string) {
	t.Helper()
	l, err := New(Options{Replica: replica, Sinks: []Sink{&WriterSink{SinkName: "stdout", W: w}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	if hash != "" {
		l.Continue(seq, hash)
	}
	if err := l.Record(&Record{Time: at(-1), Kind: "genesis", ProxyVersion: "test", PolicyDigest: "sha256:00"}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Record(exCall(i, at(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background(), &Record{Time: at(n), Kind: "close", ProxyVersion: "test"}); err != nil {
		t.Fatal(err)
	}
}

// exTwoReplicas is r1's and r2's chains of n calls each, in one stream.
func exTwoReplicas(t testing.TB, n int, at func(int) time.Time) []string {
	var w exBuffer
	exLog(t, &w, "r1", n, at, 0, "")
	exLog(t, &w, "r2", n, at, 0, "")
	return w.lines()
}

// exColumn is a column of the GraphProxyAudit_CL table.
type exColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// exTableColumns are the table's columns as deployed.
func exTableColumns(t testing.TB) []exColumn {
	t.Helper()
	data, err := os.ReadFile("../deploy/bicep/modules/audit-columns.json")
	if err != nil {
		t.Fatal(err)
	}
	var cols []exColumn
	if err := json.Unmarshal(data, &cols); err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(cols, func(c exColumn) bool { return c.Name == rawColumn })
}

// exIngest is what Log Analytics keeps of a line: each column's typed
// value (nil for null), datetimes to Kusto's 100 ns, TimeGenerated from
// time as the data collection rule's transformation derives it, and the
// line itself in RawRecord when raw.
func exIngest(t testing.TB, cols []exColumn, line string, raw bool) map[string]any {
	t.Helper()
	var rec map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	row := map[string]any{}
	for _, c := range cols {
		f, ok := rec[c.Name]
		if c.Name == "TimeGenerated" {
			f, ok = rec["time"]
		}
		var v any
		switch c.Type {
		case "string":
			var s string
			if ok {
				json.Unmarshal(f, &s)
			}
			v = s
		case "datetime":
			var s string
			json.Unmarshal(f, &s)
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			v = tm.UTC().Truncate(100 * time.Nanosecond)
		case "int", "long":
			if ok {
				n, err := strconv.ParseInt(string(f), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				v = n
			}
		case "real":
			if ok {
				x, err := strconv.ParseFloat(string(f), 64)
				if err != nil {
					t.Fatal(err)
				}
				v = x
			}
		case "dynamic":
			if ok {
				json.Unmarshal(f, &v)
			}
		default:
			t.Fatalf("column %s: type %s", c.Name, c.Type)
		}
		row[c.Name] = v
	}
	if raw {
		row[rawColumn] = line
	}
	return row
}

// exAz is a value as az monitor log-analytics query -o json gives it: the
// query API's value passed through Python's str(). The API gives a
// datetime as ISO 8601 with 7 digits and a dynamic value as its JSON text.
func exAz(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64: // Python's repr
		if v == math.Trunc(v) && math.Abs(v) < 1e16 {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		if a := math.Abs(v); a < 1e-4 || a >= 1e16 {
			return strconv.FormatFloat(v, 'e', -1, 64)
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		return v.Format("2006-01-02T15:04:05.0000000Z")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// exPortal is a value as the portal's Export to CSV writes it.
func exPortal(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		return v.Format("1/2/2006, 3:04:05.000 PM")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// exExport is an export of the table, its cells as the tool writes them.
type exExport struct {
	csv  bool
	cols []exColumn // the CSV's columns, in order
	rows []map[string]string
}

// exMake exports lines as the table holds them: as az's JSON or the
// portal's CSV, with the RawRecord column or without.
func exMake(t testing.TB, lines []string, csvExport, raw bool) *exExport {
	t.Helper()
	x := &exExport{csv: csvExport, cols: exTableColumns(t)}
	if raw {
		x.cols = append(x.cols, exColumn{rawColumn, "string"})
	}
	for _, line := range lines {
		row := map[string]string{}
		for k, v := range exIngest(t, x.cols, line, raw) {
			if csvExport {
				row[k] = exPortal(v)
			} else {
				row[k] = exAz(v)
			}
		}
		if !csvExport {
			row["TableName"] = "PrimaryResult"
		}
		x.rows = append(x.rows, row)
	}
	return x
}

// bytes writes the export: az's array of objects, or the portal's CSV
// (a byte order mark, CRLF line ends, datetime columns named "… [UTC]").
func (x *exExport) bytes(t testing.TB) []byte {
	t.Helper()
	if !x.csv {
		b, err := json.MarshalIndent(x.rows, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var buf bytes.Buffer
	buf.Write(bom)
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	var header []string
	for _, c := range x.cols {
		if c.Type == "datetime" {
			header = append(header, c.Name+" [UTC]")
		} else {
			header = append(header, c.Name)
		}
	}
	w.Write(header)
	for _, row := range x.rows {
		var rec []string
		for _, c := range x.cols {
			rec = append(rec, row[c.Name])
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// find returns the index of replica's row with seq.
func (x *exExport) find(t testing.TB, replica string, seq int) int {
	t.Helper()
	for i, r := range x.rows {
		if r["replica"] == replica && r["seq"] == strconv.Itoa(seq) {
			return i
		}
	}
	t.Fatalf("no row of %s seq %d", replica, seq)
	return -1
}

func (x *exExport) shuffle(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(x.rows), func(i, j int) { x.rows[i], x.rows[j] = x.rows[j], x.rows[i] })
}

func (x *exExport) drop(i int) { x.rows = slices.Delete(x.rows, i, i+1) }

// forge adds a row of its own: the record at row i with its path changed
// and its hash computed again, as a writer holding the chain could.
func (x *exExport) forge(t testing.TB, i int) {
	t.Helper()
	row := exCopy(x.rows[i])
	row["path"] = "/users/forged@contoso.example"
	if line, ok := row[rawColumn]; ok {
		line = strings.Replace(line, x.rows[i]["path"], row["path"], 1)
		hashed, _, ok := unseal([]byte(line))
		if !ok {
			t.Fatal("no hash")
		}
		row["hash"] = lineHash(row["prev"], hashed)
		row[rawColumn] = strings.Replace(line, x.rows[i]["hash"], row["hash"], 1)
	} else {
		line, err := rebuildLine(exCells(row))
		if err != nil {
			t.Fatal(err)
		}
		hashed, _, _ := unseal(line)
		row["hash"] = lineHash(row["prev"], hashed)
	}
	x.rows = append(x.rows, row)
}

func exCopy(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func exCells(row map[string]string) map[string]cell {
	out := map[string]cell{}
	for k, v := range row {
		out[k] = cell{text: v}
	}
	return out
}

// exVerify verifies exports, given in order.
func exVerify(t testing.TB, v *Verifier, data map[string][]byte, names ...string) (Verified, error) {
	t.Helper()
	for _, name := range names {
		if err := v.Add(name, bytes.NewReader(data[name])); err != nil {
			return Verified{}, err
		}
	}
	return v.Done()
}

// TestVerifyExport verifies the table as its exports hold it — az's JSON
// and the portal's CSV, with the RawRecord column and without — its rows
// shuffled, and with rows removed, repeated, changed and forged.
func TestVerifyExport(t *testing.T) {
	lines := exTwoReplicas(t, 9, exMs) // per replica: genesis seq 0, calls 1–9 (req-0 to req-8), close 10
	type shape struct {
		name     string
		csv, raw bool
	}
	shapes := []shape{{"az", false, false}, {"az+RawRecord", false, true}, {"csv", true, false}, {"csv+RawRecord", true, true}}
	tests := []struct {
		name    string
		change  func(t *testing.T, x *exExport) string // returns what the problem must say
		partial bool
		want    string // the problem, after change's: "" when it verifies
		// When it verifies: the records, duplicates and chains.
		wantRecords, wantDups, wantChains int
		rawOnly, rebuiltOnly              bool
	}{
		{name: "rows in order", change: func(t *testing.T, x *exExport) string { return "" },
			wantRecords: 22, wantChains: 2},
		{name: "rows shuffled", change: func(t *testing.T, x *exExport) string { x.shuffle(1); return "" },
			wantRecords: 22, wantChains: 2},
		{name: "rows reversed", change: func(t *testing.T, x *exExport) string { slices.Reverse(x.rows); return "" },
			wantRecords: 22, wantChains: 2},
		{name: "a row dropped", change: func(t *testing.T, x *exExport) string {
			x.shuffle(2)
			x.drop(x.find(t, "r1", 5))
			return fmt.Sprintf("rows row %d: replica r1 seq 6 (request req-5): records 5 to 5 are missing: nothing given continues rows row %d (rows missing from the export",
				x.find(t, "r1", 6)+1, x.find(t, "r1", 4)+1)
		}},
		{name: "a row twice", change: func(t *testing.T, x *exExport) string {
			x.shuffle(3)
			x.rows = append(x.rows, exCopy(x.rows[x.find(t, "r2", 3)]))
			return ""
		}, wantRecords: 22, wantDups: 1, wantChains: 2},
		{name: "every row twice", change: func(t *testing.T, x *exExport) string {
			x.rows = append(x.rows, x.rows...)
			x.shuffle(4)
			return ""
		}, wantRecords: 22, wantDups: 22, wantChains: 2},
		{name: "a field changed", rebuiltOnly: true, change: func(t *testing.T, x *exExport) string {
			x.shuffle(5)
			i := x.find(t, "r2", 3)
			x.rows[i]["path"] = "/users/someone.else@contoso.example/calendar/getSchedule"
			return fmt.Sprintf("rows row %d: replica r2 seq 3 (request req-2): its hash does not match the record rebuilt from the row's columns", i+1)
		}},
		{name: "a field changed", rawOnly: true, change: func(t *testing.T, x *exExport) string {
			x.shuffle(5)
			i := x.find(t, "r2", 3)
			x.rows[i]["path"] = "/users/someone.else@contoso.example/calendar/getSchedule"
			return fmt.Sprintf("rows row %d: replica r2 seq 3 (request req-2): column path is \"/users/someone.else@contoso.example/calendar/getSchedule\", but the record's line (RawRecord) holds \"/users/u2@contoso.example/calendar/getSchedule\": the row was altered", i+1)
		}},
		{name: "a dynamic field changed", rawOnly: true, change: func(t *testing.T, x *exExport) string {
			i := x.find(t, "r1", 1)
			x.rows[i]["targets"] = `["someone.else@contoso.example"]`
			return fmt.Sprintf("rows row %d: replica r1 seq 1 (request req-0): column targets is", i+1)
		}},
		{name: "the line changed", rawOnly: true, change: func(t *testing.T, x *exExport) string {
			x.shuffle(6)
			i := x.find(t, "r1", 7)
			x.rows[i][rawColumn] = strings.Replace(x.rows[i][rawColumn], `"status":403`, `"status":200`, 1)
			return fmt.Sprintf("rows row %d: replica r1 seq 7 (request req-6): the record was altered: its hash does not match its content", i+1)
		}},
		{name: "a forged record beside the real one", change: func(t *testing.T, x *exExport) string {
			x.forge(t, x.find(t, "r1", 4))
			x.shuffle(7)
			return "replica r1 seq 4 (request req-3): the chain forks: this record and rows row "
		}},
		{name: "the genesis dropped", change: func(t *testing.T, x *exExport) string {
			x.shuffle(8)
			x.drop(x.find(t, "r2", 0))
			return fmt.Sprintf("rows row %d: replica r2 seq 1 (request req-0): the chain begins mid-way", x.find(t, "r2", 1)+1)
		}},
		{name: "the genesis dropped, partial head allowed", partial: true, change: func(t *testing.T, x *exExport) string {
			x.shuffle(8)
			x.drop(x.find(t, "r2", 0))
			return ""
		}, wantRecords: 21, wantChains: 2},
		{name: "the closing record dropped", change: func(t *testing.T, x *exExport) string {
			x.shuffle(9)
			x.drop(x.find(t, "r1", 10))
			return fmt.Sprintf("rows row %d: replica r1 seq 9 (request req-8): the chain ends without its closing record", x.find(t, "r1", 9)+1)
		}},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			if tt.rawOnly && !sh.raw || tt.rebuiltOnly && sh.raw {
				continue
			}
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				x := exMake(t, lines, sh.csv, sh.raw)
				want := tt.change(t, x)
				res, err := exVerify(t, &Verifier{AllowPartialHead: tt.partial}, map[string][]byte{"rows": x.bytes(t)}, "rows")
				switch {
				case want != "" && err == nil:
					t.Fatalf("verified; want %q", want)
				case want != "" && !strings.Contains(err.Error(), want):
					t.Fatalf("got %v\nwant %q", err, want)
				case want != "":
					var p *Problem
					if !errors.As(err, &p) || !p.Row {
						t.Errorf("got %#v; want a *Problem at a row", err)
					}
					return
				case err != nil:
					t.Fatalf("got %v; want it verified", err)
				}
				if res.Records != tt.wantRecords || len(res.Duplicates) != tt.wantDups || len(res.Chains) != tt.wantChains {
					t.Errorf("got %d records, %d duplicates, %d chains; want %d, %d, %d",
						res.Records, len(res.Duplicates), len(res.Chains), tt.wantRecords, tt.wantDups, tt.wantChains)
				}
				for _, d := range res.Duplicates {
					if !d.At.Row || !d.Of.Row || d.At == d.Of || x.rows[d.At.Line-1]["hash"] != x.rows[d.Of.Line-1]["hash"] {
						t.Errorf("duplicate %+v: not two rows of one record", d)
					}
				}
				unverified := 0
				for _, c := range res.Chains {
					if !c.HeadVerified {
						unverified++
					}
					if !c.Head.Row || !c.Tail.Row || !c.Closed {
						t.Errorf("chain %+v", c)
					}
				}
				if want := map[bool]int{false: 0, true: 1}[tt.partial]; unverified != want {
					t.Errorf("%d chains with their heads not verified; want %d", unverified, want)
				}
			})
		}
	}
}

// TestVerifyExportChains verifies exports of chains that restart, shuffled:
// a restart that starts a new chain under the same name (a replica whose
// only sinks are azureMonitor and stdout), one that continues the chain
// under another name (the file sink's), and two exports that overlap.
func TestVerifyExportChains(t *testing.T) {
	var restarted exBuffer
	exLog(t, &restarted, "r1", 4, exMs, 0, "")
	exLog(t, &restarted, "r1", 3, func(i int) time.Time { return exMs(100 + i) }, 0, "")
	var continued exBuffer
	exLog(t, &continued, "r1", 4, exMs, 0, "")
	last := continued.lines()[5]
	exLog(t, &continued, "r1-new", 3, func(i int) time.Time { return exMs(100 + i) }, 5, mustHash(t, last))
	both := exTwoReplicas(t, 9, exMs)

	tests := []struct {
		name     string
		exports  func(t *testing.T, csvExport, raw bool) (map[string][]byte, []string)
		want     string
		wantRecs int
		wantDups int
		// wantChains are the chains' replicas.
		wantChains []string
	}{
		{name: "a new chain under the same name", exports: func(t *testing.T, c, r bool) (map[string][]byte, []string) {
			x := exMake(t, restarted.lines(), c, r)
			x.shuffle(10)
			return map[string][]byte{"rows": x.bytes(t)}, []string{"rows"}
		}, wantRecs: 11, wantChains: []string{"r1", "r1"}},
		{name: "the chain continued under another name", exports: func(t *testing.T, c, r bool) (map[string][]byte, []string) {
			x := exMake(t, continued.lines(), c, r)
			x.shuffle(11)
			return map[string][]byte{"rows": x.bytes(t)}, []string{"rows"}
		}, wantRecs: 11, wantChains: []string{"r1 r1-new"}},
		{name: "two overlapping exports", exports: func(t *testing.T, c, r bool) (map[string][]byte, []string) {
			x := exMake(t, both, c, r)
			a, b := *x, *x
			a.rows, b.rows = slices.Clone(x.rows[:15]), slices.Clone(x.rows[8:])
			a.shuffle(12)
			b.shuffle(13)
			return map[string][]byte{"late": b.bytes(t), "early": a.bytes(t)}, []string{"late", "early"}
		}, wantRecs: 22, wantDups: 7, wantChains: []string{"r1", "r2"}},
		{name: "two exports with a gap between them", exports: func(t *testing.T, c, r bool) (map[string][]byte, []string) {
			x := exMake(t, both, c, r)
			a, b := *x, *x
			a.rows, b.rows = slices.Clone(x.rows[:4]), slices.Clone(x.rows[6:])
			return map[string][]byte{"late": b.bytes(t), "early": a.bytes(t)}, []string{"late", "early"}
		}, want: "late row 1: replica r1 seq 6 (request req-5): records 4 to 5 are missing: nothing given continues early row 4"},
	}
	for _, sh := range []struct {
		name     string
		csv, raw bool
	}{{"az", false, false}, {"csv+RawRecord", true, true}} {
		for _, tt := range tests {
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				data, names := tt.exports(t, sh.csv, sh.raw)
				res, err := exVerify(t, &Verifier{}, data, names...)
				if tt.want != "" {
					if err == nil || !strings.Contains(err.Error(), tt.want) {
						t.Fatalf("got %v; want %q", err, tt.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var chains []string
				for _, c := range res.Chains {
					chains = append(chains, strings.Join(c.Replicas, " "))
					if !c.HeadVerified || !c.Closed {
						t.Errorf("chain %+v", c)
					}
				}
				if res.Records != tt.wantRecs || len(res.Duplicates) != tt.wantDups || !slices.Equal(chains, tt.wantChains) {
					t.Errorf("got %d records, %d duplicates, chains %q; want %d, %d, %q",
						res.Records, len(res.Duplicates), chains, tt.wantRecs, tt.wantDups, tt.wantChains)
				}
			})
		}
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), sniffLen) }

// exRead reads an export's rows, as Add does, and keeps them.
func exRead(name string, data []byte) (header []string, rows []exportRow, err error) {
	br := bufioReader(data)
	header, err = readExport(name, br, sniff(br), func(r exportRow) error {
		rows = append(rows, r)
		return nil
	})
	return header, rows, err
}

func mustHash(t *testing.T, line string) string {
	t.Helper()
	var r struct{ Hash string }
	if err := json.Unmarshal([]byte(line), &r); err != nil || r.Hash == "" {
		t.Fatalf("no hash in %q", line)
	}
	return r.Hash
}

// TestVerifyExportPrecision shows why the RawRecord column is needed: the
// proxy times its records to the nanosecond, Kusto keeps 100 ns and the
// portal shows milliseconds, so the line rebuilt from the columns is not
// the line written, and only the line itself verifies.
func TestVerifyExportPrecision(t *testing.T) {
	lines := exTwoReplicas(t, 3, exNs)
	tests := []struct {
		name     string
		csv, raw bool
		want     string
	}{
		{name: "az", want: "rows row 1: replica r1 seq 0 (request ): its hash does not match the record rebuilt from the row's columns"},
		{name: "csv", csv: true, want: "its hash does not match the record rebuilt from the row's columns: the row was altered, or the columns do not hold the record exactly (a time finer than the column keeps"},
		{name: "az+RawRecord", raw: true},
		{name: "csv+RawRecord", csv: true, raw: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := exMake(t, lines, tt.csv, tt.raw)
			_, err := exVerify(t, &Verifier{}, map[string][]byte{"rows": x.bytes(t)}, "rows")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want it verified", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want %q", err, tt.want)
			}
		})
	}
}

// TestVerifyExportCSVQuoting checks that the portal's CSV, whose fields
// hold commas, quotes and new lines, is read field for field.
func TestVerifyExportCSVQuoting(t *testing.T) {
	lines := exTwoReplicas(t, 3, exMs)
	for _, raw := range []bool{false, true} {
		x := exMake(t, lines, true, raw)
		data := x.bytes(t)
		for _, want := range []string{"\"refused, because \"\"room1\"\" is not\r\nin the list; <ünïcode> & more\"", "\"[\"\"u0@contoso.example\"\",\"\"room1@contoso.example\"\"]\""} {
			if !bytes.Contains(data, []byte(want)) {
				t.Fatalf("the CSV lacks %q: the test exports nothing hard", want)
			}
		}
		_, rows, err := exRead("rows.csv", data)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(lines) {
			t.Fatalf("%d rows; want %d", len(rows), len(lines))
		}
		if got, want := rows[1].cells["reason"], "refused, because \"room1\" is not\nin the list; <ünïcode> & more"; got != want {
			t.Errorf("reason: got %q; want %q", got, want)
		}
		if _, err := exVerify(t, &Verifier{}, map[string][]byte{"rows.csv": data}, "rows.csv"); err != nil {
			t.Errorf("RawRecord %v: %v", raw, err)
		}
	}
}

// TestVerifyExportQueryResult verifies the query API's own answer, as
// az rest or an SDK gives it: typed values, dynamic ones as JSON text.
func TestVerifyExportQueryResult(t *testing.T) {
	lines := exTwoReplicas(t, 3, exNs)
	cols := append(exTableColumns(t), exColumn{rawColumn, "string"})
	var rows [][]any
	for _, line := range lines {
		in := exIngest(t, cols, line, true)
		var row []any
		for _, c := range cols {
			v := in[c.Name]
			switch w := v.(type) {
			case time.Time:
				v = w.Format(time.RFC3339Nano)
			case map[string]any, []any:
				b, _ := json.Marshal(w)
				v = string(b)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	data, err := json.Marshal(map[string]any{"tables": []any{map[string]any{"name": "PrimaryResult", "columns": cols, "rows": rows}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exVerify(t, &Verifier{}, map[string][]byte{"result.json": data}, "result.json")
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != len(lines) {
		t.Errorf("%d records; want %d", res.Records, len(lines))
	}
}

// TestReadExportMalformed checks that an export that cannot be read is
// refused with where and why.
func TestReadExportMalformed(t *testing.T) {
	good := exMake(t, exTwoReplicas(t, 1, exMs), false, true)
	tests := []struct {
		name string
		data string
		want string
	}{
		{name: "CSV: a bare quote", data: "replica,seq,hash\nr1,0,x\nr1,1,a\"b\n",
			want: `x row 2: malformed CSV: line 3, column 7: bare " in non-quoted-field`},
		{name: "CSV: a row too short", data: "replica,seq,hash\nr1,0,x\nr1,1\n",
			want: "x row 2: malformed CSV: line 3, column 1: wrong number of fields"},
		{name: "CSV: a quote never closed", data: "replica,seq,hash\nr1,0,\"x\nr1,1,y\n",
			want: "x row 1: malformed CSV: line 3, column 8 (the row starts at line 2): extraneous or missing \" in quoted-field"},
		{name: "CSV: a column twice", data: "replica,seq,replica\nr1,0,r1\n",
			want: `x: the CSV header names column "replica" twice`},
		{name: "CSV: not the table's columns", data: "a,b\n1,2\n",
			want: "x row 1: the row has no RawRecord column, nor the columns batch, bytesIn, bytesOut, caller"},
		{name: "CSV: times not in UTC", data: "replica,time [UTC+02:00]\nr1,\"11/22/2026, 4:00:00.250 PM\"\n",
			want: "x row 1: column time is shown in UTC+02:00, not UTC: set the portal's display time zone to UTC"},
		{name: "JSON: a row that is not an object", data: `[{"hash":"x"}, 3]`,
			want: "x row 2: not a row (a JSON object of columns, as az monitor log-analytics query -o json writes): json: cannot unmarshal number"},
		{name: "JSON: cut in a row", data: `[{"hash":"x"}, {"hash":`,
			want: "x row 2: not a row (a JSON object of columns, as az monitor log-analytics query -o json writes): unexpected EOF"},
		{name: "JSON: the array not closed", data: `[{"hash":"x"}`,
			want: "x row 2: the JSON array of rows is cut short or malformed here: EOF"},
		{name: "JSON: more after the array", data: `[] []`,
			want: "x: more follows the JSON value: not one export"},
		{name: "JSON: a column twice", data: `[{"time":"1","time [UTC]":"2"}]`,
			want: "x row 1: column time is given twice"},
		{name: "JSON: a time the portal shows in another language", data: strings.Replace(string(good.bytes(t)), `"time": "2026-11-22T14:00:00.2500000Z"`, `"time": "22.11.2026 14:00:00"`, 1),
			want: `x row 2: replica r1 seq 1 (request req-0): column time: "22.11.2026 14:00:00" is not a time (ISO 8601, or the portal's 11/22/2026, 2:00:00.123 PM)`},
		{name: "JSON: not the table's columns", data: `[{"seq":"x","time":"2026-11-22T14:00:00Z"}]`,
			want: "x row 1: the row has no RawRecord column, nor the columns"},
		{name: "query result: a row too short", data: `{"tables":[{"name":"PrimaryResult","columns":[{"name":"a","type":"string"}],"rows":[["1"],[]]}]}`,
			want: "x row 2: 0 values for 1 columns"},
		{name: "query result: not one", data: `{"tables":3}`,
			want: "x: not a Log Analytics query result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{}
			err := v.Add("x", strings.NewReader(tt.data))
			if err == nil {
				_, err = v.Done()
			}
			var p *Problem
			switch {
			case err == nil:
				t.Fatalf("read; want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got %v\nwant %q", err, tt.want)
			case !errors.As(err, &p):
				t.Errorf("got %T; want a *Problem", err)
			}
		})
	}
}

// TestRebuildLineErrors checks the columns a record is rebuilt from one
// at a time, from a good row.
func TestRebuildLineErrors(t *testing.T) {
	x := exMake(t, exTwoReplicas(t, 1, exMs), false, false)
	base := x.rows[1]
	if _, err := rebuildLine(exCells(base)); err != nil {
		t.Fatalf("the good row: %v", err)
	}
	tests := []struct{ column, value, want string }{
		{"time", "yesterday", `column time: "yesterday" is not a time`},
		{"seq", "-1", `column seq: "-1" is not a sequence number`},
		{"status", "4O3", `column status: "4O3" is not an integer`},
		{"bytesIn", "1.5", `column bytesIn: "1.5" is not an integer`},
		{"durationMs", "NaN", `column durationMs: "NaN" is not a number`},
		{"caller", "{'name': 'engage'}", `column caller: "{'name': 'engage'}" is not the JSON of the record's caller`},
		{"targets", `"u@contoso.example"`, `column targets: "\"u@contoso.example\"" is not the JSON of the record's targets`},
	}
	for _, tt := range tests {
		t.Run(tt.column, func(t *testing.T) {
			row := exCopy(base)
			row[tt.column] = tt.value
			_, err := rebuildLine(exCells(row))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v; want %s", err, tt.want)
			}
		})
	}
}

// TestExportTime reads the datetimes exports hold, and the precision
// each shows.
func TestExportTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		unit time.Duration
	}{
		{"2026-11-22T14:00:00Z", time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC), time.Second},
		{"2026-11-22T14:00:00.1234567Z", time.Date(2026, 11, 22, 14, 0, 0, 123456700, time.UTC), 100 * time.Nanosecond},
		{"2026-11-22T16:00:00.5+02:00", time.Date(2026, 11, 22, 14, 0, 0, 5e8, time.UTC), 100 * time.Millisecond},
		{"11/22/2026, 2:00:00.250 PM", time.Date(2026, 11, 22, 14, 0, 0, 25e7, time.UTC), time.Millisecond},
		{"1/2/2026, 12:00:00.000 AM", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), time.Millisecond},
		{"2026-11-22T14:00:00.123456789123Z", time.Date(2026, 11, 22, 14, 0, 0, 123456789, time.UTC), time.Nanosecond},
	}
	for _, tt := range tests {
		got, unit, err := exportTime(tt.in)
		if err != nil || !got.Equal(tt.want) || unit != tt.unit {
			t.Errorf("exportTime(%q) = %v, %v, %v; want %v, %v", tt.in, got, unit, err, tt.want, tt.unit)
		}
	}
}

// TestSniff tells the formats apart by their first bytes.
func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want exportFormat
	}{
		{`{"time":"2026-11-22T14:00:00Z","replica":"r1"}` + "\n", formatLines},
		{"\n{}\n", formatLines},
		{"", formatLines},
		{"not a log\n", formatLines},
		{"  [\n  {", formatRows},
		{"\xef\xbb\xbf[]", formatRows},
		{"{\n  \"tables\": [", formatTables},
		{"\xef\xbb\xbf\"TimeGenerated [UTC]\",replica,seq\r\n", formatCSV},
		{"replica,seq,hash\n", formatCSV},
	}
	for _, tt := range tests {
		if got := sniff(bufioReader([]byte(tt.in))); got != tt.want {
			t.Errorf("sniff(%q) = %d; want %d", tt.in, got, tt.want)
		}
	}
}

// TestExportColumns holds exportColumns to the table as deployed and to
// the record: every field of the record is a column of the type the
// table gives it, and RawRecord, when the table has it, is a string.
func TestExportColumns(t *testing.T) {
	data, err := os.ReadFile("../deploy/bicep/modules/audit-columns.json")
	if err != nil {
		t.Fatal(err)
	}
	var cols []exColumn
	if err := json.Unmarshal(data, &cols); err != nil {
		t.Fatal(err)
	}
	table := map[string]string{}
	for _, c := range cols {
		switch c.Name {
		case "TimeGenerated":
		case rawColumn:
			if c.Type != "string" {
				t.Errorf("column %s is a %s; want a string", c.Name, c.Type)
			}
		default:
			table[c.Name] = c.Type
		}
	}
	if !reflect.DeepEqual(table, exportColumns) {
		t.Errorf("exportColumns\n  %v\nwant the table's\n  %v", exportColumns, table)
	}
	rt := reflect.TypeOf(Record{})
	for i := range rt.NumField() {
		name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		if _, ok := exportColumns[name]; !ok {
			t.Errorf("the record's field %s has no column", name)
		}
	}
}
