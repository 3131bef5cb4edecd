package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDumpTotal: the count is the first event of a dump's summary line,
// in either spelling callgrind has used; a dump without one is an error,
// never a count of 0.
func TestDumpTotal(t *testing.T) {
	tests := []struct {
		name, dump string
		want       int64
		fails      bool
	}{
		{name: "summary", dump: "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n0 12\nsummary: 123456789\n", want: 123456789},
		{name: "totals", dump: "events: Ir\ntotals: 42 7\n", want: 42},
		{name: "totals before summary", dump: "totals: 5\nsummary: 6\n", want: 5},
		{name: "none", dump: "events: Ir\nfn=(1) main\n0 12\n", fails: true},
		{name: "not a number", dump: "summary: many\n", fails: true},
		{name: "empty summary", dump: "summary:\n", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "callgrind.bare.1.1")
			if err := os.WriteFile(path, []byte(tt.dump), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := dumpTotal(path)
			if tt.fails {
				if err == nil {
					t.Fatalf("got %d, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// TestDumpNumber: dumps are ordered by their number, not as text.
func TestDumpNumber(t *testing.T) {
	for path, want := range map[string]int{"/d/callgrind.bare.7.2": 2, "/d/callgrind.graph-proxy.77.10": 10, "/d/callgrind.x.1": 1} {
		if got := dumpNumber(path); got != want {
			t.Errorf("dumpNumber(%q) = %d, want %d", path, got, want)
		}
	}
}

// TestInstructionsSection: ratios are taken round by round against the
// bare proxy and the baseline, and a configuration without counts has no
// row.
func TestInstructionsSection(t *testing.T) {
	o := options{configs: []string{"direct", "bare", "nginx", "graph-proxy", "baseline"}, rounds: 2, rate: 100, paceConns: 20}
	results := []sample{
		{Config: "bare", Round: 1, InstrPerReq: 500_000}, {Config: "bare", Round: 2, InstrPerReq: 510_000},
		{Config: "graph-proxy", Round: 1, InstrPerReq: 550_000}, {Config: "graph-proxy", Round: 2, InstrPerReq: 561_000},
		{Config: "baseline", Round: 1, InstrPerReq: 500_000}, {Config: "baseline", Round: 2, InstrPerReq: 510_000},
		{Config: "nginx", Round: 1}, {Config: "direct", Round: 1},
	}
	got := instructionsSection(o, results)
	for _, want := range []string{"| bare | 505.0 (500.0–510.0) | — | — |", "| graph-proxy | 555.5 (550.0–561.0) | 1.10 (1.10–1.10) | 1.10 (1.10–1.10) |",
		"| baseline | 505.0 (500.0–510.0) | 1.00 (1.00–1.00) | — |"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "| nginx") || strings.Contains(got, "| direct") {
		t.Errorf("a row without counts:\n%s", got)
	}
}
