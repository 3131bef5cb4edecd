package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditReport(t *testing.T) {
	const page = "report.html"
	tests := []struct {
		name string
		// args returns the arguments after "audit report"; PAGE in them
		// stands for the page's path.
		args     func(t *testing.T, dir string) []string
		wantCode int
		want     []string
		// wantPage is in the page written, which none is when nil.
		wantPage []string
		notPage  []string
	}{
		{name: "a directory of two replicas' files", args: func(t *testing.T, dir string) []string {
			logs := filepath.Join(dir, "logs")
			if err := os.Mkdir(logs, 0o700); err != nil {
				t.Fatal(err)
			}
			auditLog(t, logs, 200, "r1", "r2")
			return []string{"-o", "PAGE", filepath.Join(dir, "logs")}
		}, want: []string{"audit report: DIR/report.html: 404 records, 2 chain(s) intact"},
			wantPage: []string{"<title>graph-proxy audit report</title>", "Chains verified: 404 records in 2 chains, intact",
				`content="default-src 'none'; style-src 'unsafe-inline'"`, "Made by graph-proxy ", " at 20"},
			notPage: []string{"NOT INTACT", "<script"}},
		{name: "a title, no generation time", args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			return append([]string{"--title", "Contoso <Q4> review", "--no-generated-at", "-o", "PAGE"}, f...)
		}, want: []string{"202 records, 1 chain(s) intact"},
			wantPage: []string{"<title>Contoso &lt;Q4&gt; review</title>", "<h1>Contoso &lt;Q4&gt; review</h1>"},
			notPage:  []string{" at 20"}},
		{name: "to standard output", args: func(t *testing.T, dir string) []string {
			return auditLog(t, dir, 200, "r1")["r1"]
		}, want: []string{"<!DOCTYPE html>", "Chains verified: 202 records in 1 chain, intact", "audit report: standard output: 202 records, 1 chain(s) intact"}},
		{name: "the genesis removed", wantCode: 1, args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			dropLines(t, f, 1)
			return append([]string{"-o", "PAGE"}, f...)
		}, want: []string{"the page is written to DIR/report.html and says at its top that the audit chain is NOT intact: ",
			"replica r1 seq 1 (request req-0): the chain begins mid-way"},
			wantPage: []string{"THE AUDIT CHAIN IS NOT INTACT", "the chain begins mid-way"},
			notPage:  []string{"Chains verified:"}},
		{name: "the first records removed, partial head allowed", args: func(t *testing.T, dir string) []string {
			f := auditLog(t, dir, 200, "r1")["r1"]
			dropLines(t, f, 100)
			return []string{"--allow-partial-head", "-o", "PAGE", dir}
		}, want: []string{"102 records, 1 chain(s) intact", "warning: the head of 1 chain(s) was NOT verified"},
			wantPage: []string{"NOT verified: checked from seq 100"}},
		{name: "bounded drill-down", args: func(t *testing.T, dir string) []string {
			return append([]string{"--calls-per-caller", "7", "--top", "3", "-o", "PAGE"}, auditLog(t, dir, 200, "r1")["r1"]...)
		}, want: []string{"202 records"}, wantPage: []string{"at most the 7 most recent", "the 7 most recent shown", "The top 3 shown; 197 more not shown."}},
		{name: "no file", wantCode: 2, args: func(t *testing.T, dir string) []string { return []string{"-o", "PAGE"} },
			want: []string{"name at least one file or directory"}},
		{name: "a file that does not exist", wantCode: 1, args: func(t *testing.T, dir string) []string {
			return []string{"-o", "PAGE", filepath.Join(dir, "nope.jsonl")}
		}, want: []string{"no such file or directory"}},
		{name: "a page where none can be written", wantCode: 1, args: func(t *testing.T, dir string) []string {
			return append([]string{"-o", filepath.Join(dir, "no", "report.html")}, auditLog(t, dir, 200, "r1")["r1"]...)
		}, want: []string{"audit report: open DIR/no/."}},
		{name: "a bad bound", wantCode: 2, args: func(t *testing.T, dir string) []string {
			return []string{"--top", "0", "x.jsonl"}
		}, want: []string{"--top must be at least 1"}},
		{name: "help", args: func(t *testing.T, dir string) []string { return []string{"-h"} },
			want: []string{"Usage:\n  graph-proxy audit report [--title T] [-o FILE]", "-calls-per-caller N"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := tt.args(t, dir)
			for i, a := range args {
				if a == "PAGE" {
					args[i] = filepath.Join(dir, page)
				}
			}
			out, code := runCmd(t, append([]string{"audit", "report"}, args...)...)
			out = strings.ReplaceAll(out, dir, dir0())
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d:\n%s", code, tt.wantCode, tail(out))
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, tail(out))
				}
			}
			data, err := os.ReadFile(filepath.Join(dir, page))
			if tt.wantPage == nil {
				if err == nil {
					t.Errorf("a page is written")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := os.Stat(filepath.Join(dir, page)); st.Mode().Perm() != 0o600 {
				t.Errorf("page mode %v; want 0600: it names callers, people and IPs", st.Mode().Perm())
			}
			for _, want := range tt.wantPage {
				if !strings.Contains(string(data), want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			for _, not := range tt.notPage {
				if strings.Contains(string(data), not) {
					t.Errorf("the page holds %q", not)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 0 {
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), ".") {
						t.Errorf("temporary file %s left behind", e.Name())
					}
				}
			}
		})
	}
}

// TestAuditReportReproducible runs the report twice over the same files
// without a generation time: the same bytes.
func TestAuditReportReproducible(t *testing.T) {
	dir := t.TempDir()
	f := auditLog(t, dir, 200, "r1", "r2")
	files := append(f["r1"], f["r2"]...)
	var pages []string
	for _, name := range []string{"a.html", "b.html"} {
		out := filepath.Join(t.TempDir(), name)
		if msg, code := runCmd(t, append([]string{"audit", "report", "--no-generated-at", "-o", out}, files...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, msg)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, string(data))
	}
	if pages[0] != pages[1] {
		t.Error("two runs over the same files give different pages")
	}
}

// tail shortens a page written to standard output for a failure message.
func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
