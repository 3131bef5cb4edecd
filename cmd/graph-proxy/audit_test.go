package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
