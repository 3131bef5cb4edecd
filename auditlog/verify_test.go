package auditlog_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// logFile is one input to verify: a name and its lines, each ending in
// '\n'.
type logFile struct {
	name  string
	lines []string
}

// rotatedLog writes a genesis, n call records and the closing record
// through the file sink, rotating every few dozen records and keeping every
// file, and returns the files oldest first (audit.jsonl.N … audit.jsonl).
func rotatedLog(t *testing.T, n int) []logFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := auditlog.OpenFile(path, 16<<10, 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{fs}, Linger: -1, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, n)
	var files []logFile
	for i := 100; i >= 0; i-- {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		data, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, logFile{name: filepath.Base(name), lines: splitLines(string(data))})
	}
	return files
}

// splitLines splits a log into lines, each keeping its '\n'.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	return lines[:len(lines)-1] // after the last '\n'
}

// dropHead removes the first n records of the log, across files.
func dropHead(files []logFile, n int) []logFile {
	for i := range files {
		k := min(n, len(files[i].lines))
		files[i].lines = files[i].lines[k:]
		n -= k
	}
	return files
}

func copyFiles(files []logFile) []logFile {
	out := make([]logFile, len(files))
	for i, f := range files {
		out[i] = logFile{name: f.name, lines: slices.Clone(f.lines)}
	}
	return out
}

// writeFiles writes the inputs into a new directory, in their order, and
// returns it.
func writeFiles(t *testing.T, files []logFile) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(strings.Join(f.lines, "")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestVerifyRotatedFiles(t *testing.T) {
	base := rotatedLog(t, 300) // genesis is seq 0, the calls 1–300, close 301
	if len(base) < 6 {
		t.Fatalf("%d files; want the log rotated at least 5 times", len(base))
	}
	var names []string
	for _, f := range base {
		names = append(names, f.name)
	}
	tests := []struct {
		name    string
		change  func([]logFile) []logFile
		dir     bool // verify the directory, not the files one by one
		open    bool
		partial bool
		want    string // the problem, or "" when it verifies
		// When it verifies: the chain's first seq, whether its head is
		// verified, and its files in chain order (nil: all, oldest first).
		wantFirst      uint64
		wantLast       uint64 // 0: 301, the closing record
		wantUnverified bool
		wantFiles      []string
	}{
		{name: "every file, oldest first", change: func(f []logFile) []logFile { return f }},
		{name: "every file, newest first", change: func(f []logFile) []logFile { slices.Reverse(f); return f }},
		{name: "every file, shuffled", change: func(f []logFile) []logFile {
			f[0], f[3], f[1], f[len(f)-1] = f[3], f[len(f)-1], f[0], f[1]
			return f
		}},
		{name: "a directory", dir: true, change: func(f []logFile) []logFile { return f }},
		{name: "files renamed out of name order", change: func(f []logFile) []logFile {
			// Names do not order the files; their chain does.
			f[0].name, f[2].name = f[2].name, f[0].name
			return f
		}, wantFiles: append([]string{names[2], names[1], names[0]}, names[3:]...)},
		{name: "the genesis removed", change: func(f []logFile) []logFile { return dropHead(f, 1) },
			want: names[0] + ":1: replica r1 seq 1 (request req-0): the chain begins mid-way: its first record is seq 1, not the chain's start (seq 0)"},
		{name: "the first 100 records removed", change: func(f []logFile) []logFile { return dropHead(f, 100) },
			want: "replica r1 seq 100 (request req-99): the chain begins mid-way"},
		{name: "the first 100 records removed, in a directory", dir: true, change: func(f []logFile) []logFile { return dropHead(f, 100) },
			want: "the chain begins mid-way"},
		{name: "the oldest file missing", change: func(f []logFile) []logFile { return f[1:] },
			want: "the chain begins mid-way"},
		{name: "the genesis removed, partial head allowed", partial: true, change: func(f []logFile) []logFile { return dropHead(f, 1) },
			wantFirst: 1, wantUnverified: true},
		{name: "the first 100 removed, partial head allowed", partial: true, change: func(f []logFile) []logFile { return dropHead(f, 100) },
			wantFirst: 100, wantUnverified: true},
		{name: "a file in the middle missing", change: func(f []logFile) []logFile { return slices.Delete(f, 2, 3) },
			want: "are missing: nothing given continues " + names[1] + ":"},
		{name: "a file in the middle missing, partial head allowed", partial: true, change: func(f []logFile) []logFile { return slices.Delete(f, 2, 3) },
			want: "are missing"},
		{name: "a file in the middle missing and the head removed, partial head allowed", partial: true, change: func(f []logFile) []logFile {
			return dropHead(slices.Delete(f, 2, 3), 3)
		}, want: "are missing"},
		{name: "a file's first record removed", change: func(f []logFile) []logFile {
			f[3].lines = f[3].lines[1:]
			return f
		}, want: "are missing: nothing given continues " + names[2] + ":"},
		{name: "a file given twice", change: func(f []logFile) []logFile {
			return append(f, logFile{name: "copy-of-" + f[2].name, lines: f[2].lines})
		}, want: "records appear twice"},
		{name: "the first file given twice", change: func(f []logFile) []logFile {
			return append(f, logFile{name: "copy-of-" + f[0].name, lines: f[0].lines})
		}, want: "records appear twice"},
		{name: "a file's second half copied into another", change: func(f []logFile) []logFile {
			half := f[2].lines[len(f[2].lines)/2:]
			return append(f, logFile{name: "spliced", lines: half})
		}, want: "inputs overlap"},
		{name: "two files concatenated out of order", change: func(f []logFile) []logFile {
			joined := logFile{name: "joined", lines: append(slices.Clone(f[2].lines), f[1].lines...)}
			return append([]logFile{f[0], joined}, f[3:]...)
		}, want: ": out of order: seq "},
		{name: "the first file concatenated after the second", change: func(f []logFile) []logFile {
			joined := logFile{name: "joined", lines: append(slices.Clone(f[1].lines), f[0].lines...)}
			return append([]logFile{joined}, f[2:]...)
		}, want: "out of order: the record before it is further down"},
		{name: "the tail cut (the closing record removed)", change: func(f []logFile) []logFile {
			last := &f[len(f)-1]
			last.lines = last.lines[:len(last.lines)-1]
			return f
		}, want: "replica r1 seq 300 (request req-299): the chain ends without its closing record"},
		{name: "the newest file missing", change: func(f []logFile) []logFile { return f[:len(f)-1] },
			want: "the chain ends without its closing record"},
		{name: "the tail cut, verified as a live file", open: true, wantLast: 300, change: func(f []logFile) []logFile {
			last := &f[len(f)-1]
			last.lines = last.lines[:len(last.lines)-1]
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.change(copyFiles(base))
			dir := writeFiles(t, files)
			v := &auditlog.Verifier{Open: tt.open, AllowPartialHead: tt.partial}
			err := v.AddPath(dir)
			if !tt.dir {
				v = &auditlog.Verifier{Open: tt.open, AllowPartialHead: tt.partial}
				for _, f := range files {
					if err = v.AddPath(filepath.Join(dir, f.name)); err != nil {
						break
					}
				}
			}
			var res auditlog.Verified
			if err == nil {
				res, err = v.Done()
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), tt.want) {
					t.Fatalf("got %v; want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want ok", err)
			}
			if len(res.Chains) != 1 {
				t.Fatalf("%d chains; want 1: %+v", len(res.Chains), res.Chains)
			}
			c := res.Chains[0]
			wantLast := cmp.Or(tt.wantLast, 301)
			if c.FirstSeq != tt.wantFirst || c.HeadVerified == tt.wantUnverified || c.LastSeq != wantLast || c.Closed == tt.open {
				t.Errorf("chain seq %d to %d, head verified %v, closed %v; want %d to %d, %v, %v",
					c.FirstSeq, c.LastSeq, c.HeadVerified, c.Closed, tt.wantFirst, wantLast, !tt.wantUnverified, !tt.open)
			}
			var got []string
			for _, f := range c.Files {
				got = append(got, filepath.Base(f))
			}
			want := tt.wantFiles
			if want == nil {
				// Every file that still holds records, oldest first.
				for _, name := range names {
					if i := slices.IndexFunc(files, func(f logFile) bool { return f.name == name }); i >= 0 && len(files[i].lines) > 0 {
						want = append(want, name)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("files in chain order %v; want %v", got, want)
			}
		})
	}
}

// stream is several logs written to one stream, as the replicas of a
// deployment write to stdout: their records interleave.
type stream struct {
	t   *testing.T
	buf proxytest.SyncBuffer
}

// start starts a replica's log on the stream, continuing the chain of the
// last record of replica after, as the file sink's restart does, when
// after is not empty.
func (s *stream) start(replica, after string) *auditlog.Log {
	s.t.Helper()
	l, err := auditlog.New(auditlog.Options{Replica: replica, Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "stdout", W: &s.buf}}, Linger: -1})
	if err != nil {
		s.t.Fatal(err)
	}
	if after != "" {
		l.Continue(s.last(after))
	}
	return l
}

func (s *stream) append(l *auditlog.Log, recs ...*auditlog.Record) {
	s.t.Helper()
	for _, r := range recs {
		if err := l.Record(r); err != nil {
			s.t.Fatal(err)
		}
	}
}

// stop closes the log with a closing record, or, when crash is set,
// without one (a replica killed outright).
func (s *stream) stop(l *auditlog.Log, crash bool) {
	s.t.Helper()
	var final *auditlog.Record
	if !crash {
		final = &auditlog.Record{Time: record(1000).Time, Kind: "close"}
	}
	if err := l.Close(context.Background(), final); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stream) lines() []string { return splitLines(s.buf.String()) }

// last returns the seq and hash of the stream's last record of replica.
func (s *stream) last(replica string) (uint64, string) {
	s.t.Helper()
	var seq uint64
	var hash string
	for _, line := range s.lines() {
		if strings.Contains(line, `"replica":"`+replica+`"`) {
			seq, hash = lineSeq(s.t, line), lineHash(s.t, line)
		}
	}
	return seq, hash
}

func lineSeq(t *testing.T, line string) uint64 {
	t.Helper()
	var seq uint64
	i := strings.Index(line, `"seq":`)
	if _, err := fmt.Sscanf(line[i+len(`"seq":`):], "%d", &seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

func lineHash(t *testing.T, line string) string {
	t.Helper()
	i := strings.Index(line, `"hash":"`) + len(`"hash":"`)
	return line[i : i+strings.IndexByte(line[i:], '"')]
}

// genesis returns a genesis record of the time of record i.
func genesis(i int) *auditlog.Record {
	return &auditlog.Record{Time: record(i).Time, Kind: "genesis", ProxyVersion: "test"}
}

func TestVerifyStreams(t *testing.T) {
	calls := func(from, n int) []*auditlog.Record {
		var out []*auditlog.Record
		for i := range n {
			out = append(out, record(from+i))
		}
		return out
	}
	tests := []struct {
		name  string
		write func(s *stream)
		// change edits the stream's lines before verification.
		change       func(s *stream, lines []string) []string
		open         bool
		partial      bool
		want         string
		wantChains   int
		wantReplicas [][]string
		wantHeads    []bool // whether each chain's head is verified; nil: all
	}{
		{name: "two replicas interleaved", write: func(s *stream) {
			a, b := s.start("r1", ""), s.start("r2", "")
			s.append(a, genesis(-1))
			s.append(b, genesis(99))
			for i := range 20 {
				s.append(a, record(i))
				s.append(b, record(100+i))
			}
			s.stop(a, false)
			s.stop(b, false)
		}, wantChains: 2, wantReplicas: [][]string{{"r1"}, {"r2"}}},
		{name: "two replicas interleaved, one's genesis removed", write: func(s *stream) {
			a, b := s.start("r1", ""), s.start("r2", "")
			s.append(a, genesis(-1))
			s.append(b, genesis(99))
			for i := range 5 {
				s.append(a, record(i))
				s.append(b, record(100+i))
			}
			s.stop(a, false)
			s.stop(b, false)
		}, change: func(s *stream, lines []string) []string {
			return slices.DeleteFunc(lines, func(l string) bool {
				return strings.Contains(l, `"replica":"r2"`) && strings.Contains(l, `"kind":"genesis"`)
			})
		}, want: "replica r2 seq 1 (request req-100): the chain begins mid-way"},
		{name: "a restart that starts a new chain", write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, false)
			a = s.start("r1", "") // seq 0 again: a new chain, not a lost head
			s.append(a, genesis(4))
			s.append(a, calls(5, 5)...)
			s.stop(a, false)
		}, wantChains: 2, wantReplicas: [][]string{{"r1"}, {"r1"}}},
		{name: "a restart that starts a new chain after a crash", write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, true)
			a = s.start("r1", "")
			s.append(a, genesis(4))
			s.stop(a, false)
		}, want: "replica r1 seq 5 (request req-4): the chain ends without its closing record"},
		{name: "a restart that starts a new chain after a crash, open", open: true, write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, true)
			a = s.start("r1", "")
			s.append(a, genesis(4))
			s.stop(a, false)
		}, wantChains: 2, wantReplicas: [][]string{{"r1"}, {"r1"}}},
		{name: "a restart that continues the chain after a crash", write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, true)
			a = s.start("r1", "r1")
			s.append(a, genesis(4))
			s.stop(a, false)
		}, wantChains: 1, wantReplicas: [][]string{{"r1"}}},
		{name: "a restart under another name continuing the chain", write: func(s *stream) {
			a := s.start("graph-proxy--rev1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, false)
			b := s.start("graph-proxy--rev2", "graph-proxy--rev1")
			s.append(b, genesis(4))
			s.append(b, calls(5, 5)...)
			s.stop(b, false)
		}, wantChains: 1, wantReplicas: [][]string{{"graph-proxy--rev1", "graph-proxy--rev2"}}},
		{name: "another replica's chain continued without a genesis", write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 2)...)
			s.stop(a, true)
			b := s.start("r2", "r1")
			s.append(b, calls(2, 2)...)
			s.stop(b, false)
		}, want: "replica r2 seq 3 (request req-2): the record continues replica r1's chain (stdout:3) without a genesis record"},
		{name: "an export that begins mid-chain, the replica restarted since", partial: true, write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, false)
			a = s.start("r1", "") // a new chain at seq 0, younger than the cut one
			s.append(a, genesis(10))
			s.append(a, calls(11, 3)...)
			s.stop(a, false)
		}, change: func(s *stream, lines []string) []string { return lines[3:] },
			wantChains: 2, wantReplicas: [][]string{{"r1"}, {"r1"}}, wantHeads: []bool{true, false}},
		{name: "an export that begins mid-chain and has a gap", partial: true, write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, false)
			a = s.start("r1", "")
			s.append(a, genesis(10))
			s.append(a, calls(11, 3)...)
			s.stop(a, false)
		}, change: func(s *stream, lines []string) []string { return slices.Delete(lines[3:], 5, 6) },
			want: "replica r1 seq 2 (request req-12): records 1 to 1 are missing"},
		{name: "a gap after the head, partial head allowed", partial: true, write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.append(a, calls(0, 5)...)
			s.stop(a, false)
		}, change: func(s *stream, lines []string) []string {
			// The head is there; a record after it is not.
			return slices.Delete(lines, 2, 3)
		}, want: "records 2 to 2 are missing"},
		{name: "a chain continued after its closing record", write: func(s *stream) {
			a := s.start("r1", "")
			s.append(a, genesis(-1))
			s.stop(a, false)
			b := s.start("r2", "r1")
			s.append(b, calls(0, 1)...)
			s.stop(b, false)
		}, want: "the chain continues after its closing record at stdout:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stream{t: t}
			tt.write(s)
			lines := s.lines()
			if tt.change != nil {
				lines = tt.change(s, lines)
			}
			v := &auditlog.Verifier{Open: tt.open, AllowPartialHead: tt.partial}
			err := v.Add("stdout", strings.NewReader(strings.Join(lines, "")))
			var res auditlog.Verified
			if err == nil {
				res, err = v.Done()
			}
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v; want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want ok", err)
			}
			if len(res.Chains) != tt.wantChains {
				t.Fatalf("%d chains; want %d: %+v", len(res.Chains), tt.wantChains, res.Chains)
			}
			for i, c := range res.Chains {
				wantHead := tt.wantHeads == nil || tt.wantHeads[i]
				if c.HeadVerified != wantHead || !slices.Equal(c.Replicas, tt.wantReplicas[i]) {
					t.Errorf("chain %d: head verified %v, replicas %v; want %v, %v", i, c.HeadVerified, c.Replicas, wantHead, tt.wantReplicas[i])
				}
			}
		})
	}
}

func TestVerifyDirectorySkipsSubdirectories(t *testing.T) {
	dir := writeFiles(t, rotatedLog(t, 10))
	sub := filepath.Join(dir, "archive")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	v := &auditlog.Verifier{}
	if err := v.AddPath(dir); err != nil {
		t.Fatal(err)
	}
	res, err := v.Done()
	if err != nil || !slices.Equal(res.Skipped, []string{sub}) {
		t.Errorf("got %v, skipped %v; want ok, %s skipped", err, res.Skipped, sub)
	}
}

func TestVerifyNothing(t *testing.T) {
	v := &auditlog.Verifier{}
	if err := v.AddPath(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Done(); err == nil || err.Error() != "no records" {
		t.Errorf("an empty directory: %v; want no records", err)
	}
}

// A restart after a rotation whose new file was never written continues
// the chain from the rotated file, rather than starting a new chain under
// the same name.
func TestLastRecordAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	files := rotatedLog(t, 100)
	old := files[len(files)-2]
	if err := os.WriteFile(path+".1", []byte(strings.Join(old.lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	last := old.lines[len(old.lines)-1]
	for _, current := range []string{"missing", "empty"} {
		t.Run(current, func(t *testing.T) {
			os.Remove(path)
			if current == "empty" {
				os.WriteFile(path, nil, 0o600)
			}
			seq, hash, ok, err := auditlog.LastRecord(path)
			if err != nil || !ok || seq != lineSeq(t, last) || hash != lineHash(t, last) {
				t.Errorf("LastRecord: %d %s %v %v; want the last record of %s.1", seq, hash, ok, err, path)
			}
		})
	}
}

// A rotation that fails after closing the file is tried again by the next
// write, which then continues the chain in a new file.
func TestFileSinkRecoversFromFailedRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	fs, err := auditlog.OpenFile(path, 1, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	// A non-empty directory where the rotated file goes: renaming onto it
	// fails, for root too.
	if err := os.MkdirAll(filepath.Join(path+".1", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := fs.Write(ctx, [][]byte{[]byte("one\n")}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Write(ctx, [][]byte{[]byte("two\n")}); err == nil {
		t.Fatal("rotated onto a directory")
	}
	if err := os.RemoveAll(path + ".1"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Write(ctx, [][]byte{[]byte("two\n")}); err != nil {
		t.Fatalf("the write after the failed rotation: %v", err)
	}
	got1, _ := os.ReadFile(path + ".1")
	got, _ := os.ReadFile(path)
	if string(got1) != "one\n" || string(got) != "two\n" {
		t.Errorf("files %q, %q; want %q, %q", got1, got, "one\n", "two\n")
	}
}
