package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// auditLog writes, through the file sink of each replica, a genesis, n
// calls and the closing record, rotating every few dozen records and
// keeping every file; it returns each replica's files oldest first.
func auditLog(t *testing.T, dir string, n int, replicas ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, replica := range replicas {
		path := filepath.Join(dir, replica+".jsonl")
		fs, err := auditlog.OpenFile(path, 16<<10, 100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		l, err := auditlog.New(auditlog.Options{Replica: replica, Sinks: []auditlog.Sink{fs}, BatchSize: 1, Linger: -1})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
		recs := []*auditlog.Record{{Time: at, Kind: "genesis", ProxyVersion: "test"}}
		for i := range n {
			recs = append(recs, &auditlog.Record{Time: at.Add(time.Duration(i+1) * time.Second), RequestID: fmt.Sprintf("req-%d", i),
				Method: "GET", Version: "v1.0", Path: fmt.Sprintf("/users/u%d@contoso.example/events", i), Decision: "allow", Status: 200})
		}
		for _, r := range recs {
			if err := l.Record(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(context.Background(), &auditlog.Record{Time: at.Add(time.Hour), Kind: "close"}); err != nil {
			t.Fatal(err)
		}
		for i := 100; i >= 0; i-- {
			name := path
			if i > 0 {
				name = fmt.Sprintf("%s.%d", path, i)
			}
			if _, err := os.Stat(name); err == nil {
				out[replica] = append(out[replica], name)
			}
		}
		if len(out[replica]) < 4 {
			t.Fatalf("%d files; want the log rotated at least 3 times", len(out[replica]))
		}
	}
	return out
}

// dropLines removes the first n records across the files, oldest first.
func dropLines(t *testing.T, files []string, n int) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(data), "\n")
		lines = lines[:len(lines)-1]
		k := min(n, len(lines))
		n -= k
		if err := os.WriteFile(f, []byte(strings.Join(lines[k:], "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name     string
		args     func(t *testing.T, dir string) []string
		wantCode int
		want     []string
	}{
		{name: "rotated files, oldest first", args: func(t *testing.T, dir string) []string {
			return auditLog(t, dir, 200, "r1")["r1"]
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "replica r1: seq 0 to 201, 202 records; head verified: seq 0 at ", "r1.jsonl.1 " + filepath.Join(dir0(), "r1.jsonl")}},
		{name: "rotated files, shuffled", args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			f[0], f[1], f[2], f[len(f)-1] = f[len(f)-1], f[2], f[0], f[1]
			return f
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "head verified"}},
		{name: "a directory", args: func(t *testing.T, dir string) []string {
			auditLog(t, dir, 200, "r1")
			return []string{dir}
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "head verified"}},
		{name: "a directory of two replicas' files", args: func(t *testing.T, dir string) []string {
			auditLog(t, dir, 200, "r1", "r2")
			return []string{dir}
		}, want: []string{"ok: 404 records, 2 chain(s) intact", "replica r1: seq 0 to 201", "replica r2: seq 0 to 201"}},
		{name: "the genesis removed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			dropLines(t, f, 1)
			return f
		}, want: []string{"r1.jsonl.", ":1: replica r1 seq 1 (request req-0): the chain begins mid-way"}},
		{name: "the first 100 records removed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			dropLines(t, f, 100)
			return []string{dir}
		}, want: []string{"replica r1 seq 100 (request req-99): the chain begins mid-way"}},
		{name: "the first 100 records removed, partial head allowed", args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			dropLines(t, f, 100)
			return []string{"--allow-partial-head", dir}
		}, want: []string{"ok: 102 records, 1 chain(s) intact", "head NOT verified: checked from seq 100 at ",
			"warning: the head of 1 chain(s) was NOT verified"}},
		{name: "a file in the middle missing", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			return append(f[:1:1], f[2:]...)
		}, want: []string{"are missing: nothing given continues "}},
		{name: "a file in the middle missing, partial head allowed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			return append([]string{"--allow-partial-head", f[0]}, f[2:]...)
		}, want: []string{"are missing"}},
		{name: "a file given twice", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			return append(f, f[1])
		}, want: []string{"records appear twice"}},
		{name: "the closing record removed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			last := f[len(f)-1]
			data, _ := os.ReadFile(last)
			lines := strings.SplitAfter(string(data), "\n")
			os.WriteFile(last, []byte(strings.Join(lines[:len(lines)-2], "")), 0o600)
			return f
		}, want: []string{"replica r1 seq 200 (request req-199): the chain ends without its closing record"}},
		{name: "the closing record removed, a live file", args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			last := f[len(f)-1]
			data, _ := os.ReadFile(last)
			lines := strings.SplitAfter(string(data), "\n")
			os.WriteFile(last, []byte(strings.Join(lines[:len(lines)-2], "")), 0o600)
			return append([]string{"--open"}, f...)
		}, want: []string{"ok: 201 records, 1 chain(s) intact", "open: no closing record after "}},
		{name: "a subdirectory", args: func(t *testing.T, dir string) []string {
			auditLog(t, dir, 200, "r1")
			os.Mkdir(filepath.Join(dir, "old"), 0o700)
			return []string{dir}
		}, want: []string{"ok: 202 records", "skipped " + filepath.Join(dir0(), "old") + ": not a regular file"}},
		{name: "no file", wantCode: 2, args: func(t *testing.T, dir string) []string { return nil },
			want: []string{"name at least one file or directory"}},
		{name: "a file that does not exist", wantCode: 1, args: func(t *testing.T, dir string) []string {
			return []string{filepath.Join(dir, "nope.jsonl")}
		}, want: []string{"no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out, code := runCmd(t, append([]string{"audit", "verify"}, tt.args(t, dir)...)...)
			out = strings.ReplaceAll(out, dir, dir0())
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d:\n%s", code, tt.wantCode, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// dir0 stands for the test's directory in the output expected.
func dir0() string { return "DIR" }

// exportRows returns the records of files as the rows of the
// GraphProxyAudit_CL table, with its RawRecord column: each field's value
// as az monitor log-analytics query -o json gives it (a string; a dynamic
// value's JSON text; None for null), keyed by column.
func exportRows(t *testing.T, files []string) []map[string]string {
	t.Helper()
	var rows []map[string]string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			row := map[string]string{"TableName": "PrimaryResult", "RawRecord": line}
			for k, v := range rec {
				var s string
				switch {
				case string(v) == "null":
					s = "None"
				case json.Unmarshal(v, &s) != nil:
					s = string(v)
				}
				row[k] = s
			}
			rows = append(rows, row)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// writeExport writes rows to dir/name as az's JSON or, for a name ending
// in .csv, as the portal's CSV.
func writeExport(t *testing.T, dir, name string, rows []map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	if strings.HasSuffix(name, ".csv") {
		var cols []string
		for _, r := range rows {
			for k := range r {
				if !slices.Contains(cols, k) {
					cols = append(cols, k)
				}
			}
		}
		slices.Sort(cols)
		w := csv.NewWriter(&buf)
		w.Write(cols)
		for _, r := range rows {
			var rec []string
			for _, c := range cols {
				rec = append(rec, r[c])
			}
			w.Write(rec)
		}
		w.Flush()
	} else {
		b, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuditVerifyExport verifies what Log Analytics holds, as exported:
// the rows in any order, a repeated row reported and counted once, a
// missing or broken row named by its row number.
func TestAuditVerifyExport(t *testing.T) {
	tests := []struct {
		name     string
		args     func(t *testing.T, dir string) []string
		wantCode int
		want     []string
	}{
		{name: "az's JSON, shuffled", args: func(t *testing.T, dir string) []string {
			return []string{writeExport(t, dir, "rows.json", exportRows(t, auditLog(t, dir, 200, "r1")["r1"]))}
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "head verified: seq 0 at DIR/rows.json row ", "closed at DIR/rows.json row "}},
		{name: "the portal's CSV, two replicas", args: func(t *testing.T, dir string) []string {
			logs := auditLog(t, dir, 100, "r1", "r2")
			return []string{writeExport(t, dir, "rows.csv", exportRows(t, append(logs["r1"], logs["r2"]...)))}
		}, want: []string{"ok: 204 records, 2 chain(s) intact", "replica r1: seq 0 to 101", "replica r2: seq 0 to 101"}},
		{name: "a row ingested twice", args: func(t *testing.T, dir string) []string {
			rows := exportRows(t, auditLog(t, dir, 200, "r1")["r1"])
			rows = append(rows, rows[7])
			return []string{writeExport(t, dir, "rows.csv", rows)}
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "1 duplicate row(s), each a byte-identical copy of a record counted once", "DIR/rows.csv row 203 repeats DIR/rows.csv row 8"}},
		{name: "two overlapping exports", args: func(t *testing.T, dir string) []string {
			rows := exportRows(t, auditLog(t, dir, 200, "r1")["r1"])
			return []string{writeExport(t, dir, "a.json", rows[:150]), writeExport(t, dir, "b.json", rows[100:])}
		}, want: []string{"ok: 202 records, 1 chain(s) intact", "50 duplicate row(s)", "and 40 more"}},
		{name: "a row missing", wantCode: 1, args: func(t *testing.T, dir string) []string {
			rows := exportRows(t, auditLog(t, dir, 200, "r1")["r1"])
			rows = slices.DeleteFunc(rows, func(r map[string]string) bool { return r["seq"] == "100" })
			return []string{writeExport(t, dir, "rows.json", rows)}
		}, want: []string{"DIR/rows.json row ", ": replica r1 seq 101 (request req-100): records 100 to 100 are missing: nothing given continues DIR/rows.json row "}},
		{name: "a column changed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			rows := exportRows(t, auditLog(t, dir, 200, "r1")["r1"])
			rows[5]["decision"] = "deny"
			return []string{writeExport(t, dir, "rows.csv", rows)}
		}, want: []string{"DIR/rows.csv row 6: replica r1 seq ", `column decision is "deny", but the record's line (RawRecord) holds "allow": the row was altered`}},
		{name: "a malformed CSV", wantCode: 1, args: func(t *testing.T, dir string) []string {
			path := filepath.Join(dir, "rows.csv")
			os.WriteFile(path, []byte("RawRecord,hash\n\"{}\",x\n{\"a\",y\n"), 0o600)
			return []string{path}
		}, want: []string{`audit verify: DIR/rows.csv row 2: malformed CSV: line 3, column 2: bare " in non-quoted-field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out, code := runCmd(t, append([]string{"audit", "verify"}, tt.args(t, dir)...)...)
			out = strings.ReplaceAll(out, dir, dir0())
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d:\n%s", code, tt.wantCode, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
