package auditlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

func record(i int) *auditlog.Record {
	return &auditlog.Record{Time: time.Date(2026, 11, 22, 14, 0, i, 0, time.UTC), RequestID: fmt.Sprintf("req-%d", i),
		Method: "GET", Version: "v1.0", Path: fmt.Sprintf("/users/u%d@contoso.example/events", i), Decision: "allow", Status: 200,
		Caller: auditlog.Caller{Name: "engage"}, DurationMs: 41.2, Query: []string{"$top"}}
}

// writeLog writes a genesis, n call records and a closing record, and
// returns the log's lines.
func writeLog(t *testing.T, n int) []string {
	t.Helper()
	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}}})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, n)
	return strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// fill writes a genesis record, n call records and the closing record,
// and closes the log.
func fill(t *testing.T, l *auditlog.Log, n int) { fillFrom(t, l, 0, n) }

// fillFrom is fill with the calls numbered from, their times following
// those of earlier runs.
func fillFrom(t *testing.T, l *auditlog.Log, from, n int) {
	t.Helper()
	if err := l.Record(&auditlog.Record{Time: record(from - 1).Time, Kind: "genesis", PolicyDigest: "sha256:00"}); err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Append(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background(), &auditlog.Record{Time: record(from + n).Time, Kind: "close"}); err != nil {
		t.Fatal(err)
	}
}

func verify(lines []string, open bool) error {
	v := &auditlog.Verifier{Open: open}
	if err := v.Add("audit.jsonl", strings.NewReader(strings.Join(lines, ""))); err != nil {
		return err
	}
	_, err := v.Done()
	return err
}

func TestVerify(t *testing.T) {
	lines := writeLog(t, 8) // genesis (line 1), calls (lines 2–9), close (line 10)
	if len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	if !strings.HasSuffix(lines[9], "\n") {
		lines[9] += "\n"
	}
	tests := []struct {
		name   string
		change func([]string) []string
		open   bool
		want   string // "" verifies
	}{
		{name: "untouched", change: func(l []string) []string { return l }},
		{name: "a changed byte", change: func(l []string) []string {
			l[3] = strings.Replace(l[3], "u2@contoso", "u9@contoso", 1)
			return l
		}, want: "audit.jsonl:4: replica r1 seq 3 (request req-2): the record was altered: its hash does not match its content"},
		{name: "a changed status", change: func(l []string) []string {
			l[5] = strings.Replace(l[5], `"status":200`, `"status":403`, 1)
			return l
		}, want: "audit.jsonl:6: replica r1 seq 5 (request req-4): the record was altered"},
		{name: "an added field", change: func(l []string) []string {
			l[5] = strings.Replace(l[5], `{"time"`, `{"note":"x","time"`, 1)
			return l
		}, want: "the record was altered"},
		{name: "a removed line", change: func(l []string) []string { return append(l[:4:4], l[5:]...) },
			want: "audit.jsonl:5: replica r1 seq 5 (request req-4): records 4 to 4 are missing"},
		{name: "a swapped pair", change: func(l []string) []string {
			l[4], l[5] = l[5], l[4]
			return l
		}, want: "audit.jsonl:5: replica r1 seq 5 (request req-4): records 4 to 4 are missing"},
		{name: "the genesis removed", change: func(l []string) []string { return l[1:] },
			want: "audit.jsonl:1: replica r1 seq 1 (request req-0): the chain begins mid-way"},
		{name: "the first five records removed", change: func(l []string) []string { return l[5:] },
			want: "audit.jsonl:1: replica r1 seq 5 (request req-4): the chain begins mid-way"},
		{name: "a truncated tail", change: func(l []string) []string { return l[:7] },
			want: "audit.jsonl:7: replica r1 seq 6 (request req-5): the chain ends without its closing record"},
		{name: "a truncated tail of a live file", change: func(l []string) []string { return l[:7] }, open: true},
		{name: "a half-written last line", change: func(l []string) []string {
			l[9] = l[9][:40]
			return l
		}, want: "audit.jsonl:10: the last line is incomplete: the file was truncated"},
		{name: "a record replayed", change: func(l []string) []string { return append(l[:6:6], append([]string{l[3]}, l[6:]...)...) },
			want: "audit.jsonl:7: replica r1 seq 3 (request req-2): out of order: seq 3 after seq 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := tt.change(append([]string(nil), lines...))
			err := verify(changed, tt.open)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want ok", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want %q", err, tt.want)
			}
		})
	}
}

func TestRecordFields(t *testing.T) {
	lines := writeLog(t, 1)
	for _, want := range []string{`"replica":"r1"`, `"seq":1`, `"prev":"sha256:`, `"hash":"sha256:`, `"requestId":"req-0"`, `"kind":"genesis"`, `"kind":"close"`} {
		if !strings.Contains(strings.Join(lines, ""), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func TestFileSinkRotatesAndContinues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	run := func(from, n int) {
		fs, err := auditlog.OpenFile(path, 4<<10, 3, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		// A write per record, so that rotations come every few records.
		l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{fs}, BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if seq, hash, ok, err := auditlog.LastRecord(path); err != nil {
			t.Fatal(err)
		} else if ok {
			l.Continue(seq, hash)
		}
		fillFrom(t, l, from, n)
	}
	run(0, 20)
	run(20, 5) // a restart continues the chain
	files := []string{path + ".3", path + ".2", path + ".1", path}
	verifyFiles := func(partial bool) (auditlog.Verified, error) {
		v := &auditlog.Verifier{AllowPartialHead: partial}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Add(f, bytes.NewReader(data)); err != nil {
				t.Fatalf("verify across rotated files and a restart: %v", err)
			}
		}
		return v.Done()
	}
	if _, err := os.Stat(path + ".4"); err == nil {
		t.Error("more rotated files kept than maxFiles")
	}
	// The oldest files were rotated away, so what is kept begins mid-chain:
	// that is reported, unless the partial head is allowed, and then the
	// head is said to be unverified; what is kept must be intact and
	// closed, one chain across the rotations and the restart.
	if _, err := verifyFiles(false); err == nil || !strings.Contains(err.Error(), "the chain begins mid-way") {
		t.Errorf("verify without the head: %v; want the missing head reported", err)
	}
	res, err := verifyFiles(true)
	if err != nil || len(res.Chains) != 1 {
		t.Fatalf("Done: %v %+v", err, res)
	}
	if c := res.Chains[0]; c.HeadVerified || c.FirstSeq == 0 || !c.Closed || !slices.Equal(c.Files, files) {
		t.Errorf("chain %+v; want an unverified head, closed, across %v", c, files)
	}
}

func TestOpenFileUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere; use a path whose parent is a file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		if _, err := auditlog.OpenFile(filepath.Join(f, "audit.jsonl"), 1<<20, 1, time.Second); err == nil {
			t.Fatal("opened a file under a file")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if _, err := auditlog.OpenFile(filepath.Join(dir, "audit.jsonl"), 1<<20, 1, time.Second); err == nil {
		t.Fatal("opened a file in a read-only directory")
	}
}

// gateSink fails or blocks on command: a stand-in for a disk or service
// that stops accepting writes.
type gateSink struct {
	mu      sync.Mutex
	fail    bool
	block   chan struct{}
	entered chan struct{} // told when a write starts waiting on block
	lines   int
	writes  int
}

func (g *gateSink) Name() string { return "gate" }
func (g *gateSink) Close() error { return nil }
func (g *gateSink) Write(ctx context.Context, lines [][]byte) error {
	g.mu.Lock()
	block, fail := g.block, g.fail
	g.mu.Unlock()
	if block != nil {
		if g.entered != nil {
			g.entered <- struct{}{}
		}
		<-block
	}
	if fail {
		return errors.New("disk full")
	}
	g.mu.Lock()
	g.lines += len(lines)
	g.writes++
	g.mu.Unlock()
	return nil
}

// Records appended while the writer lingers join its batch, and closing
// the log ends the linger: with a linger far longer than the test, ten
// records and the closing one reach the sink in a single write.
func TestGroupCommit(t *testing.T) {
	g := &gateSink{}
	l, _ := auditlog.New(auditlog.Options{Replica: "r", Sinks: []auditlog.Sink{g}, Linger: time.Hour})
	for i := 0; i < 10; i++ {
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatal(err)
		}
		tk.Append(record(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx, &auditlog.Record{Kind: "close"}); err != nil {
		t.Fatalf("close while the writer lingers: %v", err)
	}
	if g.lines != 11 || g.writes != 1 {
		t.Errorf("%d records in %d writes; want 11 in 1", g.lines, g.writes)
	}
}

// A batch is closed by the first record that arrives after Linger, not by
// a timer at Linger; when no record comes, a timer at twice Linger writes
// it.
func TestGroupCommitClosedByLateRecord(t *testing.T) {
	const linger = 500 * time.Millisecond
	g := &gateSink{}
	l, _ := auditlog.New(auditlog.Options{Replica: "r", Sinks: []auditlog.Sink{g}, Linger: linger})
	appendOne := func(i int) {
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatal(err)
		}
		tk.Append(record(i))
	}
	written := func() (lines, writes int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.lines, g.writes
	}
	appendOne(0)
	time.Sleep(linger + linger/5) // past Linger, before the timer at 2×Linger
	appendOne(1)
	waitUntil(t, func() bool { lines, _ := written(); return lines == 2 })
	if lines, writes := written(); writes != 1 {
		t.Errorf("%d records in %d writes; want the late record to join the first's batch", lines, writes)
	}
	appendOne(2) // nothing follows: the timer writes it
	waitUntil(t, func() bool { lines, _ := written(); return lines == 3 })
	if lines, writes := written(); writes != 2 {
		t.Errorf("%d records in %d writes; want 3 in 2", lines, writes)
	}
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestFailClosed(t *testing.T) {
	// QueueSize bounds every record accepted and not written, whether
	// queued or in the batch the writer holds at a stalled sink: a batch
	// of one record, or one left open for more (Linger) that takes in
	// what arrives.
	for _, batch := range []int{1, 256} {
		t.Run(fmt.Sprintf("queue full while the sink is stalled, batches of %d", batch), func(t *testing.T) { queueFull(t, batch) })
	}
	t.Run("every sink failing, then recovering", func(t *testing.T) {
		g := &gateSink{fail: true}
		l, _ := auditlog.New(auditlog.Options{Replica: "r", Sinks: []auditlog.Sink{g}, RetryBudget: 50 * time.Millisecond})
		tk, _ := l.Reserve(1)
		tk.Append(record(0))
		waitUntil(t, func() bool { return l.Stats().Down })
		if _, err := l.Reserve(1); !errors.Is(err, auditlog.ErrUnavailable) {
			t.Fatalf("Reserve while down: %v", err)
		}
		g.mu.Lock()
		g.fail = false
		g.mu.Unlock()
		waitUntil(t, func() bool { return l.Ready() == nil })
		if err := l.Close(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if g.lines != 1 {
			t.Errorf("the record written while down was lost: %d", g.lines)
		}
	})
	t.Run("one sink failing, another healthy", func(t *testing.T) {
		bad, good := &gateSink{fail: true}, &gateSink{}
		l, _ := auditlog.New(auditlog.Options{Replica: "r", Sinks: []auditlog.Sink{bad, good}, RetryBudget: 20 * time.Millisecond})
		for i := 0; i < 3; i++ {
			tk, err := l.Reserve(1)
			if err != nil {
				t.Fatalf("refused while one sink is healthy: %v", err)
			}
			tk.Append(record(i))
		}
		l.Close(context.Background(), nil)
		st := l.Stats()
		if good.lines != 3 || st.Sinks[0].Failed != 3 || !st.Sinks[0].Failing || st.Sinks[1].Written != 3 {
			t.Errorf("good %d, stats %+v", good.lines, st)
		}
	})
}

func queueFull(t *testing.T, batchSize int) {
	g := &gateSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	l, _ := auditlog.New(auditlog.Options{Replica: "r", Sinks: []auditlog.Sink{g}, QueueSize: 4, BatchSize: batchSize})
	tk, _ := l.Reserve(1)
	tk.Append(record(0))
	if batchSize == 1 {
		<-g.entered // the writer holds the first record at the stalled sink
	}
	var err error
	n := 1
	for ; n < 10; n++ {
		var tk *auditlog.Ticket
		if tk, err = l.Reserve(1); err != nil {
			break
		}
		tk.Append(record(n))
	}
	// Four records are accepted, with the stalled sink, in the batch
	// or queued; the fifth is refused.
	if !errors.Is(err, auditlog.ErrUnavailable) || n != 4 {
		t.Fatalf("after %d records: %v; want ErrUnavailable after 4", n, err)
	}
	if l.Ready() == nil || l.Stats().Rejected != 1 {
		t.Errorf("Ready %v, stats %+v", l.Ready(), l.Stats())
	}
	g.mu.Lock()
	close(g.block)
	g.block = nil
	g.mu.Unlock()
	waitUntil(t, func() bool { return l.Ready() == nil })
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if g.lines != 4 {
		t.Errorf("sink got %d records; want all 4 accepted", g.lines)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSummary(t *testing.T) {
	s := auditlog.NewSummary()
	s.Add(auditlog.Record{Kind: "genesis"})
	s.Add(auditlog.Record{Caller: auditlog.Caller{Name: "engage"}, Rule: "free-busy", Decision: "allow", Status: 200})
	s.Add(auditlog.Record{Caller: auditlog.Caller{Name: "engage"}, Rule: "free-busy", Decision: "allow", Status: 429, UpstreamStatus: 429, RetryAfter: 7})
	s.Add(auditlog.Record{Caller: auditlog.Caller{Name: "engage"}, Decision: "deny", Method: "GET", Path: "/users/x/messages", Status: 403})
	s.Add(auditlog.Record{Decision: "deny", Method: "GET", Path: "/users", Status: 401})
	var out bytes.Buffer
	s.Write(&out, 5)
	for _, want := range []string{"calls                     4", "throttled by Graph (429)  1 (Retry-After total 7s)",
		"engage             2      1     0", "(unauthenticated)  0      1     0", "GET /users/x/messages         1", "429     1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// BenchmarkAppendFile measures the audit stage's cost per call with the
// file sink: reserve, seal and queue from many goroutines at once, the
// writer group-committing to disk.
func BenchmarkAppendFile(b *testing.B) {
	fs, err := auditlog.OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"), 1<<30, 2, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Options{Replica: "bench", Sinks: []auditlog.Sink{fs}, QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	rec := record(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, err := l.Reserve(1)
			for err != nil { // the writer is behind: back off, as a caller's 503 would
				time.Sleep(10 * time.Microsecond)
				tk, err = l.Reserve(1)
			}
			r := *rec
			if err := tk.Append(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := l.Close(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
}

// TestRecordErrorWithholdsTokens: an error's text that quotes a token (a
// library quoting a token endpoint's answer it could not read) is written
// with the token withheld, and the chain verifies over what was written.
func TestRecordErrorWithholdsTokens(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJncmFwaCJ9.c2lnbmF0dXJlLWJ5dGVz"
	var out bytes.Buffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &out}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := record(0)
	rec.Error = `token: invalid character in {"access_token":"` + jwt
	if err := l.Record(rec); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "c2lnbmF0dXJlLWJ5dGVz") || !strings.Contains(out.String(), "[token withheld]") {
		t.Errorf("record: %s", out.String())
	}
	v := &auditlog.Verifier{Open: true}
	if err := v.Add("log", &out); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Done(); err != nil {
		t.Fatal(err)
	}
}
