package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// lines splits a file's content into its lines, '\n' kept.
func lines(data []byte) [][]byte {
	return bytes.SplitAfter(data, []byte("\n"))[:bytes.Count(data, []byte("\n"))]
}

// lineOf returns the 1-based line of data holding every one of subs.
func lineOf(t *testing.T, data []byte, subs ...string) int {
	t.Helper()
	for i, l := range lines(data) {
		found := true
		for _, s := range subs {
			found = found && bytes.Contains(l, []byte(s))
		}
		if found {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", subs)
	return 0
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		// files writes the inputs in dir and returns the paths to load and
		// what is wanted: the first problem (a substring, "" for intact)
		// and each replica's ("" for intact).
		files          func(t *testing.T, dir string) (paths []string, want string, replicas map[string]string)
		opts           LoadOptions
		wantUnreadable []string
	}{
		{name: "two replicas, intact", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			return fixtureFiles(t, dir), "", map[string]string{"r1": "", "r2": ""}
		}},
		{name: "a directory", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			fixtureFiles(t, dir)
			if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
				t.Fatal(err)
			}
			return []string{dir}, "", map[string]string{"r1": "", "r2": ""}
		}},
		{name: "a record altered", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			files := fixtureFiles(t, dir)
			data, _ := os.ReadFile(files[0])
			n := lineOf(t, data, `"name":"crm"`)
			os.WriteFile(files[0], bytes.Replace(data, []byte(`"name":"crm"`), []byte(`"name":"crn"`), 1), 0o600)
			want := fmt.Sprintf("r1.jsonl:%d: replica r1 seq %d (request req-1h30m0s): the record was altered", n, n-1)
			return files, want, map[string]string{"r1": want, "r2": ""}
		}},
		{name: "interleaved replicas, one's record removed", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			r1, r2 := fixture()
			a, b := lines(seal(t, "r1", r1, at(7*time.Hour))), lines(seal(t, "r2", r2, at(28*time.Hour)))
			// One stream, as replicas write to stdout: r2's records in
			// between r1's; r2's seq 2 dropped.
			var out []byte
			for i := range max(len(a), len(b)) {
				if i < len(a) {
					out = append(out, a[i]...)
				}
				if i < len(b) && i != 2 {
					out = append(out, b[i]...)
				}
			}
			path := writeFile(t, dir, "stdout.jsonl", out)
			n := lineOf(t, out, `"replica":"r2","seq":3`)
			want := fmt.Sprintf("stdout.jsonl:%d: replica r2 seq 3 (request ): records 2 to 2 are missing", n)
			return []string{path}, want, map[string]string{"r1": "", "r2": want}
		}},
		{name: "interleaved replicas, one without its closing record", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			r1, r2 := fixture()
			a, b := lines(seal(t, "r1", r1, at(7*time.Hour))), lines(seal(t, "r2", r2, time.Time{}))
			var out []byte
			for i := range max(len(a), len(b)) {
				if i < len(b) {
					out = append(out, b[i]...)
				}
				if i < len(a) {
					out = append(out, a[i]...)
				}
			}
			path := writeFile(t, dir, "stdout.jsonl", out)
			// Found once all is read (by Done), in r2's part of the
			// stream: reported at the stream's own line.
			n := lineOf(t, out, `"replica":"r2","seq":2`)
			want := fmt.Sprintf("stdout.jsonl:%d: replica r2 seq 2 (request req-27h0m0s): the chain ends without its closing record", n)
			return []string{path}, want, map[string]string{"r1": "", "r2": want}
		}},
		{name: "a line that is not a record", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			files := fixtureFiles(t, dir)
			data, _ := os.ReadFile(files[1])
			os.WriteFile(files[1], append(data, "<html>not JSON</html>\n"...), 0o600)
			// The verdict is broken; each replica's own records are intact.
			return files, "r2.jsonl:5: not an audit record", map[string]string{"r1": "", "r2": ""}
		}, wantUnreadable: []string{"r2.jsonl:5: not an audit record: invalid character '<' looking for beginning of value"}},
		{name: "the last line cut", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			files := fixtureFiles(t, dir)
			data, _ := os.ReadFile(files[1])
			os.WriteFile(files[1], data[:len(data)-20], 0o600)
			want := "the last line is incomplete"
			return files, want, map[string]string{"r1": "", "r2": "r2.jsonl:3: replica r2 seq 2 (request req-27h0m0s): the chain ends without its closing record"}
		}, wantUnreadable: []string{"r2.jsonl:4: the last line is incomplete: the file was truncated"}},
		{name: "no closing record", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			r1, r2 := fixture()
			files := []string{writeFile(t, dir, "r1.jsonl", seal(t, "r1", r1, at(7*time.Hour))), writeFile(t, dir, "r2.jsonl", seal(t, "r2", r2, time.Time{}))}
			want := "r2.jsonl:3: replica r2 seq 2 (request req-27h0m0s): the chain ends without its closing record"
			return files, want, map[string]string{"r1": "", "r2": want}
		}},
		{name: "no closing record, open", opts: LoadOptions{Open: true}, files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			r1, r2 := fixture()
			return []string{writeFile(t, dir, "r1.jsonl", seal(t, "r1", r1, at(7*time.Hour))), writeFile(t, dir, "r2.jsonl", seal(t, "r2", r2, time.Time{}))},
				"", map[string]string{"r1": "", "r2": ""}
		}},
		{name: "a restart under a new name, the first part broken", files: func(t *testing.T, dir string) ([]string, string, map[string]string) {
			r1, r2 := fixture()
			first := seal(t, "rev1", r1, at(7*time.Hour))
			second := sealAfter(t, "rev2", first, r2, at(28*time.Hour))
			files := []string{writeFile(t, dir, "a.jsonl", bytes.Replace(first, []byte(`"seq":3,`), []byte(`"seq":33,`), 1)),
				writeFile(t, dir, "b.jsonl", second), writeFile(t, dir, "other.jsonl", seal(t, "other", r1[:2], at(time.Hour)))}
			want := "a.jsonl:4: replica rev1 seq 33 (request req-20m0s): the record was altered"
			// rev2 continues rev1's chain: verified with it, broken with it.
			return files, want, map[string]string{"rev1": want, "rev2": want, "other": ""}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths, want, replicas := tt.files(t, dir)
			recs, ver, err := Load(paths, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ver.Err != nil {
				got = strings.ReplaceAll(ver.Err.Error(), dir+string(filepath.Separator), "")
			}
			if (want == "") != ver.Intact() || !strings.Contains(got, want) {
				t.Errorf("verdict %q (intact %v); want %q", got, ver.Intact(), want)
			}
			gotReplicas := map[string]string{}
			for _, r := range ver.Replicas {
				gotReplicas[r.Name] = ""
				if r.Err != nil {
					gotReplicas[r.Name] = strings.ReplaceAll(r.Err.Error(), dir+string(filepath.Separator), "")
				} else if len(r.Chains) == 0 {
					gotReplicas[r.Name] = "intact, but no chain"
				}
			}
			for name, w := range replicas {
				g, ok := gotReplicas[name]
				if !ok || (w == "") != (g == "") || !strings.Contains(g, w) {
					t.Errorf("replica %s: %q; want %q", name, g, w)
				}
			}
			if len(gotReplicas) != len(replicas) {
				t.Errorf("replicas %v; want %v", gotReplicas, replicas)
			}
			var unreadable []string
			for _, u := range ver.Unreadable {
				unreadable = append(unreadable, strings.ReplaceAll(u.Position.String(), dir+string(filepath.Separator), "")+": "+u.Reason)
			}
			if strings.Join(unreadable, "\n") != strings.Join(tt.wantUnreadable, "\n") {
				t.Errorf("unreadable lines %q; want %q", unreadable, tt.wantUnreadable)
			}
			n := 0
			for _, in := range ver.Inputs {
				n += in.Records
				if len(in.SHA256) != 64 {
					t.Errorf("%s: SHA-256 %q", in.Name, in.SHA256)
				}
			}
			if n != len(recs) || n == 0 {
				t.Errorf("%d records; the inputs count %d", len(recs), n)
			}
		})
	}
}

// TestLoadAsVerify holds Load's verdict to `audit verify`'s: the verifier
// over the same paths gives the same first problem.
func TestLoadAsVerify(t *testing.T) {
	dir := t.TempDir()
	files := fixtureFiles(t, dir)
	data, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(data, []byte(`"seq":5,`), []byte(`"seq":6,`), 1), 0o600)
	_, ver, err := Load([]string{dir}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := &auditlog.Verifier{}
	var want error
	if err := v.AddPath(dir); err != nil {
		want = err
	} else {
		_, want = v.Done()
	}
	var p *auditlog.Problem
	if !errors.As(ver.Err, &p) || want == nil || ver.Err.Error() != want.Error() {
		t.Errorf("Load: %v; audit verify: %v", ver.Err, want)
	}
}

// TestLoadExport: audit report reads what Log Analytics holds — the rows
// of az monitor log-analytics query -o json, in any order, and the
// portal's CSV — as it reads the files: the same records, the same
// verdict, problems named by row.
func TestLoadExport(t *testing.T) {
	dir := t.TempDir()
	files := fixtureFiles(t, dir)
	want, wantVer, err := Load(files, LoadOptions{})
	if err != nil || !wantVer.Intact() {
		t.Fatalf("the files: %v, %v", err, wantVer.Err)
	}
	var lines []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")...)
	}
	// az: every value a string; the rows reversed, and one repeated (an
	// upload Log Analytics ingested twice).
	var rows []map[string]string
	for i := len(lines) - 1; i >= 0; i-- {
		var r auditlog.Record
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, map[string]string{"TableName": "PrimaryResult", "RawRecord": lines[i], "replica": r.Replica,
			"seq": strconv.FormatUint(r.Seq, 10), "decision": r.Decision})
	}
	rows = append(rows, rows[3])
	az, _ := json.Marshal(rows)
	var portal bytes.Buffer
	w := csv.NewWriter(&portal)
	w.Write([]string{"RawRecord", "replica"})
	for _, l := range lines {
		var r auditlog.Record
		json.Unmarshal([]byte(l), &r)
		w.Write([]string{l, r.Replica})
	}
	w.Flush()
	for name, data := range map[string][]byte{"rows.json": az, "export.csv": append([]byte("\xef\xbb\xbf"), portal.Bytes()...)} {
		got, ver, err := Load([]string{writeFile(t, dir, name, data)}, LoadOptions{})
		if err != nil || !ver.Intact() {
			t.Fatalf("%s: %v, %v", name, err, ver.Err)
		}
		if len(got) != len(want) || ver.Verified.Records != wantVer.Verified.Records || len(ver.Replicas) != len(wantVer.Replicas) {
			t.Errorf("%s: %d records, %d replicas; want %d and %d, as from the files", name, len(got), len(ver.Replicas), len(want), len(wantVer.Replicas))
		}
	}
	// An altered row: the verdict names it, and the replica's own verdict
	// names its row too.
	rows[5]["RawRecord"] = strings.Replace(rows[5]["RawRecord"], `"requestId":"`, `"requestId":"x`, 1)
	altered, _ := json.Marshal(rows)
	_, ver, err := Load([]string{writeFile(t, dir, "altered.json", altered)}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p *auditlog.Problem
	if !errors.As(ver.Err, &p) || !p.Row || p.Line != 6 {
		t.Fatalf("altered export: %v; want row 6 named", ver.Err)
	}
	for _, r := range ver.Replicas {
		if r.Err != nil && (!errors.As(r.Err, &p) || !p.Row || p.Line != 6) {
			t.Errorf("replica %s: %v; want row 6 named", r.Name, r.Err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load([]string{filepath.Join(t.TempDir(), "nope.jsonl")}, LoadOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v; want os.ErrNotExist", err)
	}
}
