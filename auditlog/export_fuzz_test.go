package auditlog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzReadExport feeds the export reader untrusted input and holds it to
// simpler references. Verifying never panics and fails only with a
// *Problem. What is read of an export is what the tools write: written
// again — a CSV with encoding/csv, a JSON export as az's array of strings
// with encoding/json — and read back, it gives the same rows, cell for
// cell, and the same verdict. The seeds are real
// logs exported every way, whole, shuffled, with a row repeated, cut and
// changed, and broken CSV and JSON.
func FuzzReadExport(f *testing.F) {
	// Small exports, so that the fuzzer's inputs, and minimizing them
	// (which tries them without each byte in turn), stay quick: a
	// replica's genesis and closing records, and two replicas' in a CSV.
	lines := func(replicas ...string) []string {
		return strings.Split(strings.TrimSuffix(string(sealedLog(f, replicas, 0, true)), "\n"), "\n")
	}
	two := exMake(f, lines("r1", "r2"), true, false)
	two.shuffle(2)
	f.Add(two.bytes(f))
	for _, csvExport := range []bool{false, true} {
		for _, raw := range []bool{false, true} {
			x := exMake(f, lines("r1"), csvExport, raw)
			add := func() []byte {
				data := x.bytes(f)
				if !csvExport {
					var buf bytes.Buffer
					json.Compact(&buf, data)
					data = buf.Bytes()
				}
				f.Add(data)
				return data
			}
			add()
			x.shuffle(1)
			x.rows = append(x.rows, exCopy(x.rows[0]))
			data := add()
			f.Add(data[:len(data)*2/3])
			x.rows[1]["path"] = "/users/x,\"y\"\nz"
			add()
		}
	}
	f.Add([]byte("replica,seq,hash\nr1,0,\"a\r\r\nb\"\nr1,1,a\"b\n"))
	f.Add([]byte("\xef\xbb\xbf\"time [UTC]\",hash\n\"11/22/2026, 2:00:00.250 PM\",x\n"))
	f.Add([]byte(`[{"seq":0,"caller":{"name":"a"},"targets":null,"x":[1,"\u00ff"]}, {"hash":"y"}]`))
	f.Add([]byte(`{"tables":[{"name":"PrimaryResult","columns":[{"name":"hash","type":"string"},{"name":"seq","type":"long"}],"rows":[["x",1],["y",null]]}]}`))
	f.Add([]byte("[] ]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzExport {
			return // longer adds rows, not cases, and slows minimizing
		}
		verdict := func(data []byte) (Verified, error) {
			v := &Verifier{}
			if err := v.Add("x", bytes.NewReader(data)); err != nil {
				return Verified{}, err
			}
			return v.Done()
		}
		res, err := verdict(data)
		var p *Problem
		if err != nil && !errors.As(err, &p) {
			t.Fatalf("failed with %v, not a *Problem", err)
		}
		format := sniff(bufioReader(data))
		if format == formatLines {
			return
		}
		header, rows, rerr := exRead("x", data)
		if rerr != nil {
			if !errors.As(rerr, &p) {
				t.Fatalf("reading failed with %v, not a *Problem", rerr)
			}
			return
		}
		// The same kind of export: a CSV's cells may be any bytes, which
		// JSON cannot carry; JSON's are valid UTF-8, which CSV can.
		again := map[exportFormat][]byte{}
		if format == formatCSV {
			again[formatCSV] = exWriteCSV(t, header, rows)
		} else {
			again[formatRows] = exWriteRows(t, rows)
		}
		for as, out := range again {
			if got := sniff(bufioReader(out)); got != as {
				if as == formatCSV && exHeaderAmbiguous(header) {
					continue // a header the sniffing cannot tell from JSON or from one line
				}
				t.Fatalf("written again as %d, sniffed as %d:\n%q", as, got, out)
			}
			_, rows2, rerr := exRead("x", out)
			if rerr != nil {
				t.Fatalf("written again as %d, not read: %v\n%q", as, rerr, out)
			}
			if len(rows2) != len(rows) {
				t.Fatalf("written again as %d: %d rows; want %d", as, len(rows2), len(rows))
			}
			for i := range rows {
				if a, b := rows[i], rows2[i]; a.n != b.n || !maps.Equal(a.cells, b.cells) {
					t.Fatalf("written again as %d, row %d reads back as\n%q\nnot\n%q", as, i+1, b.cells, a.cells)
				}
			}
			res2, err2 := verdict(out)
			switch {
			case (err == nil) != (err2 == nil):
				t.Fatalf("written again as %d: verdict %v; want %v", as, err2, err)
			case err != nil && err.Error() != err2.Error():
				t.Fatalf("written again as %d: verdict %v; want %v", as, err2, err)
			case err == nil && (res.Records != res2.Records || len(res.Duplicates) != len(res2.Duplicates) || len(res.Chains) != len(res2.Chains)):
				t.Fatalf("written again as %d: %+v; want %+v", as, res2, res)
			}
		}
	})
}

// maxFuzzExport bounds the inputs FuzzReadExport tries, above its seeds.
const maxFuzzExport = 8 << 10

// exWriteRows writes an export's rows as az does: a JSON array of
// objects whose values are strings.
func exWriteRows(t *testing.T, rows []exportRow) []byte {
	cells := make([]map[string]string, len(rows))
	for i, r := range rows {
		cells[i] = r.cells
	}
	out, err := json.Marshal(cells)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exWriteCSV writes a CSV export again, header first, with encoding/csv.
func exWriteCSV(t *testing.T, header []string, rows []exportRow) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(header)
	for _, r := range rows {
		rec := make([]string, len(header))
		for i, h := range header {
			rec[i] = r.cells[h]
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exHeaderAmbiguous reports a CSV header that sniff may take for
// something else once written again: its first name begins like JSON, or
// its first line is not the whole header.
func exHeaderAmbiguous(header []string) bool {
	first := strings.TrimLeft(strings.TrimPrefix(header[0], string(bom)), " \t\r\n")
	return first == "" || first[0] == '[' || first[0] == '{' ||
		slices.ContainsFunc(header, func(h string) bool { return strings.ContainsAny(h, "\r\n") })
}
