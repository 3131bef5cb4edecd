package auditlog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Reading an export: which of the formats a file is in, and its rows,
// cells and columns as the verifier checks them (export.go).

// exportFormat is how an input holds its records.
type exportFormat int

const (
	formatLines  exportFormat = iota // JSON lines, as the file and stdout sinks write them
	formatRows                       // a JSON array of row objects (az monitor log-analytics query -o json)
	formatTables                     // the Log Analytics query API's answer
	formatCSV                        // the portal's Export to CSV
)

var bom = []byte("\xef\xbb\xbf")

// sniffLen is how much of an input sniff looks at: the bufio.Reader's
// size, so that Peek never fails for want of room.
const sniffLen = 64 << 10

// sniff tells the format of an input from its first bytes, leaving them
// unread. JSON lines begin with '{' and their first key is never "tables";
// anything else whose first line reads as a CSV header of more than one
// column is taken for CSV, so that a CSV lacking the table's columns is
// told so rather than called a malformed record.
func sniff(br *bufio.Reader) exportFormat {
	head, _ := br.Peek(sniffLen)
	head = bytes.TrimPrefix(head, bom)
	body := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(body) == 0:
		return formatLines
	case body[0] == '[':
		return formatRows
	case body[0] == '{':
		if bytes.HasPrefix(bytes.TrimLeft(body[1:], " \t\r\n"), []byte(`"tables"`)) {
			return formatTables
		}
		return formatLines
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	names, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil || len(names) < 2 {
		return formatLines
	}
	return formatCSV
}

// exportRow is one row of an export: its number, counted from 1 (a CSV's
// header not counted), and its cells by column name as given. A JSON null
// is an empty cell.
type exportRow struct {
	n     int
	cells map[string]string
}

func rowProblem(file string, row int, reason string) *Problem {
	return &Problem{File: file, Line: row, Row: true, Reason: reason}
}

// readExport reads an export of the given format, handing fn each row in
// turn, and returns a CSV's header as given. The rows are not kept: an
// export can hold hundreds of thousands, and what verifying keeps of each
// (an entry) is a fraction of it.
func readExport(name string, br *bufio.Reader, f exportFormat, fn func(exportRow) error) (header []string, err error) {
	if p, _ := br.Peek(len(bom)); bytes.Equal(p, bom) {
		br.Discard(len(bom)) // the portal's CSV starts with one
	}
	switch f {
	case formatRows:
		return nil, readRows(name, br, fn)
	case formatTables:
		return nil, readTables(name, br, fn)
	case formatCSV:
		return readCSV(name, br, fn)
	}
	return nil, &Problem{File: name, Reason: "not an export"}
}

func readRows(name string, r io.Reader, fn func(exportRow) error) error {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return &Problem{File: name, Reason: "not a JSON array of rows"}
	}
	n := 1
	for ; dec.More(); n++ {
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			return rowProblem(name, n, "not a row (a JSON object of columns, as az monitor log-analytics query -o json writes): "+err.Error())
		}
		if obj == nil {
			return rowProblem(name, n, "not a row: null")
		}
		cells := make(map[string]string, len(obj))
		for k, v := range obj {
			cells[k] = cellText(v)
		}
		if err := fn(exportRow{n: n, cells: cells}); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return rowProblem(name, n, "the JSON array of rows is cut short or malformed here: "+err.Error())
	}
	if err := jsonEnd(dec); err != nil {
		return &Problem{File: name, Reason: err.Error()}
	}
	return nil
}

// readTables reads the query API's answer, which comes whole.
func readTables(name string, r io.Reader, fn func(exportRow) error) error {
	var resp struct {
		Tables []struct {
			Columns []struct {
				Name string `json:"name"`
			} `json:"columns"`
			Rows [][]json.RawMessage `json:"rows"`
		} `json:"tables"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&resp); err != nil {
		return &Problem{File: name, Reason: "not a Log Analytics query result ({\"tables\":[…]}): " + err.Error()}
	}
	if err := jsonEnd(dec); err != nil {
		return &Problem{File: name, Reason: err.Error()}
	}
	n := 0
	for _, tb := range resp.Tables {
		for _, row := range tb.Rows {
			n++
			if len(row) != len(tb.Columns) {
				return rowProblem(name, n, fmt.Sprintf("%d values for %d columns", len(row), len(tb.Columns)))
			}
			cells := make(map[string]string, len(row))
			for i, c := range tb.Columns {
				if _, dup := cells[c.Name]; dup {
					return rowProblem(name, n, fmt.Sprintf("column %q is named twice", c.Name))
				}
				cells[c.Name] = cellText(row[i])
			}
			if err := fn(exportRow{n: n, cells: cells}); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonEnd checks that nothing but white space follows the JSON value dec
// has read.
func jsonEnd(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more follows the JSON value: not one export")
	}
	return nil
}

// cellText is a JSON value as a cell: a string's contents, "" for null,
// and for anything else (a number, or a dynamic column given as JSON
// rather than as a string of it) the value written again compactly, so
// that a cell is always valid UTF-8, as a JSON string holds it.
func cellText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber() // numbers keep their digits
	var x any
	if dec.Decode(&x) == nil {
		if b, err := json.Marshal(x); err == nil {
			return string(b)
		}
	}
	return strings.ToValidUTF8(string(v), "\ufffd")
}

func readCSV(name string, r io.Reader, fn func(exportRow) error) ([]string, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, &Problem{File: name, Reason: "the CSV header: " + csvError(err)}
	}
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] {
			return nil, &Problem{File: name, Reason: fmt.Sprintf("the CSV header names column %q twice", h)}
		}
		seen[h] = true
	}
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return header, nil
		}
		if err != nil {
			return nil, rowProblem(name, n, "malformed CSV: "+csvError(err))
		}
		cells := make(map[string]string, len(rec))
		for i, h := range header {
			cells[h] = lf(rec[i])
		}
		if err := fn(exportRow{n: n, cells: cells}); err != nil {
			return nil, err
		}
	}
}

// lf turns the line ends of a CSV field into LF: encoding/csv turns a
// CRLF that ends a line of a quoted field into LF, but not the CR before
// it ("\r\r\n"), so the field is taken to the point where it has none
// left, which writing and reading it again does not change.
func lf(s string) string {
	for strings.Contains(s, "\r\n") {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	return s
}

// csvError says where in the file a CSV error is: a row can span lines.
func csvError(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.StartLine != pe.Line {
			return fmt.Sprintf("line %d, column %d (the row starts at line %d): %v", pe.Line, pe.Column, pe.StartLine, pe.Err)
		}
		return fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err.Error()
}

// cell is a column's value in a row, and the time zone the portal shows a
// datetime column's values in ("UTC" from "time [UTC]").
type cell struct {
	text, zone string
}

// splitColumn splits a column name as the portal's CSV header gives it,
// "TimeGenerated [UTC]", into the name and the time zone.
func splitColumn(s string) (name, zone string) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "]") {
		if i := strings.LastIndex(s, " ["); i > 0 {
			return s[:i], s[i+2 : len(s)-1]
		}
	}
	return s, ""
}

// rowColumns returns a row's cells by column name.
func rowColumns(file string, row exportRow) (map[string]cell, error) {
	cols := make(map[string]cell, len(row.cells))
	for k, v := range row.cells {
		name, zone := splitColumn(k)
		if _, dup := cols[name]; dup {
			return nil, rowProblem(file, row.n, fmt.Sprintf("column %s is given twice", name))
		}
		cols[name] = cell{text: v, zone: zone}
	}
	if c, ok := cols["time"]; ok && c.zone != "" && c.zone != "UTC" {
		return nil, rowProblem(file, row.n, fmt.Sprintf("column time is shown in %s, not UTC: set the portal's display time zone to UTC before exporting", c.zone))
	}
	return cols, nil
}
