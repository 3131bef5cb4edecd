package auditlog

import (
	"bufio"
	"bytes"
	"io"
	"time"
)

// ReadRows reads any table's rows exported from Log Analytics — the JSON
// of az monitor log-analytics query, the query API's answer, or the
// portal's CSV — and hands fn each row's number (from 1) and its cells by
// column name (a CSV's "time [UTC]" named "time"), every value as text:
// for tables other than the audit table, such as MicrosoftGraphActivityLogs.
func ReadRows(name string, r io.Reader, fn func(row int, cells map[string]string) error) error {
	br := bufio.NewReaderSize(r, sniffLen)
	f := sniff(br)
	if f == formatLines {
		return &Problem{File: name, Reason: "not a Log Analytics export (az monitor log-analytics query -o json, the query API's answer, or the portal's CSV)"}
	}
	_, err := readExport(name, br, f, func(er exportRow) error {
		cells := make(map[string]string, len(er.cells))
		for k, v := range er.cells {
			col, _ := splitColumn(k)
			cells[col] = v
		}
		return fn(er.n, cells)
	})
	return err
}

// ParseTime reads a datetime cell of an export: ISO 8601, as the query
// API and az give it, or the portal's CSV form in English ("11/22/2026,
// 2:00:00.123 PM", in the time zone the portal showed: set it to UTC).
func ParseTime(s string) (time.Time, error) {
	t, _, err := exportTime(s)
	return t, err
}

// IsExport tells a Log Analytics export (of any table) from the JSON lines
// the proxy writes, by data's first bytes, as Verifier.Add does.
func IsExport(data []byte) bool {
	return sniff(bufio.NewReaderSize(bytes.NewReader(data), sniffLen)) != formatLines
}
