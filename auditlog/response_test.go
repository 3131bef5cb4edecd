package auditlog

import (
	"strings"
	"testing"
	"time"
)

// TestExportResponseColumn: a record a response section filtered is
// rebuilt from its columns, response included, and verifies; a table
// created before the response column (or the checkpoint column) rebuilds
// the records without those fields, which verify as before.
func TestExportResponseColumn(t *testing.T) {
	at := func(i int) time.Time { return time.Date(2026, 11, 22, 14, 0, i, 0, time.UTC) }
	filtered := exCall(2, at(2))
	filtered.Response = &Response{Rule: "free-busy", Removed: 7, Pseudonymised: 2}
	tests := []struct {
		name    string
		rec     *Record
		without []string // columns the table lacks
	}{
		{name: "response rebuilt", rec: filtered},
		{name: "no response, table without the column", rec: exCall(2, at(2)), without: []string{"response"}},
		{name: "table without checkpoint and response", rec: exCall(0, at(0)), without: []string{"checkpoint", "response"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chain{replica: "r1"}
			line, err := c.seal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			x := exMake(t, []string{string(line)}, false, false)
			cells := exCells(x.rows[0])
			for _, col := range tt.without {
				delete(cells, col)
			}
			got, err := rebuildLine(cells)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if string(got) != strings.TrimSuffix(string(line), "\n") {
				t.Errorf("rebuilt\n%s\nwritten\n%s", got, line)
			}
		})
	}
}
