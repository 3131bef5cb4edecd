package auditlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// The budget the tests give a sink, and the margin they allow past it for
// the log to notice (issue 17: refused within budget + a few seconds, not
// after a per-attempt timeout of 30 s).
const (
	onTimeBudget = time.Second
	onTimeMargin = 3 * time.Second
)

// hangSink takes writes until Hang; a write after that blocks until
// Release whatever its context says, as write(2) does on a pipe nobody
// reads or on a stalled disk.
type hangSink struct {
	name    string
	mu      sync.Mutex
	release chan struct{} // non-nil while hung
	fail    bool          // writes fail at once
	lines   [][]byte
}

func (h *hangSink) Name() string { return h.name }
func (h *hangSink) Close() error { return nil }

func (h *hangSink) Write(_ context.Context, lines [][]byte) error {
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	if release != nil {
		<-release
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return errors.New("write failed")
	}
	h.lines = append(h.lines, lines...)
	return nil
}

// Fail makes writes fail at once (or succeed again).
func (h *hangSink) Fail(fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = fail
}

func (h *hangSink) Hang() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release = make(chan struct{})
}

func (h *hangSink) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release != nil {
		close(h.release)
		h.release = nil
	}
}

func (h *hangSink) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines)
}

func (h *hangSink) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(bytes.Join(h.lines, nil))
}

// hangCase is a sink that can be made to hang and to recover.
type hangCase struct {
	sink auditlog.Sink
	// hang makes the sink's writes block from now on.
	hang func(t *testing.T)
	// refused, when set, checks more once the log has refused a call.
	refused func(t *testing.T)
	// recover lets writes through again.
	recover func(t *testing.T)
	// written is what reached the sink's destination, once the log is
	// closed.
	written func(t *testing.T) string
	// closeErr tells an error of closing the sink that the case expects.
	closeErr func(error) bool
}

// failsClosedOnTime runs one sink through a hang and its recovery: the log
// keeps taking records for the budget, then refuses them (Reserve fails,
// Ready reports it) within the margin; once the sink recovers, the log
// takes records again, and every record accepted — held in memory while
// the sink hung — reaches the sink once, in chain order.
func failsClosedOnTime(t *testing.T, c hangCase) {
	t.Helper()
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{c.sink}, RetryBudget: onTimeBudget})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(&auditlog.Record{Time: record(-1).Time, Kind: "genesis", PolicyDigest: "sha256:00"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return l.Stats().Sinks[0].Written == 1 })

	c.hang(t)
	start := time.Now()
	n := 0
	for {
		tk, err := l.Reserve(1)
		if err != nil {
			if !errors.Is(err, auditlog.ErrUnavailable) {
				t.Fatalf("Reserve: %v; want ErrUnavailable", err)
			}
			break
		}
		if err := tk.Append(record(n)); err != nil {
			t.Fatal(err)
		}
		n++
		if time.Since(start) > onTimeBudget+10*time.Second {
			t.Fatalf("still taking records %s after the sink hung, with a retry budget of %s", time.Since(start), onTimeBudget)
		}
		time.Sleep(20 * time.Millisecond)
	}
	refused := time.Since(start)
	// Timers never fire early: the sink had its whole budget.
	if refused < onTimeBudget || refused > onTimeBudget+onTimeMargin {
		t.Errorf("calls refused %s after the sink hung; want within [%s, %s]", refused, onTimeBudget, onTimeBudget+onTimeMargin)
	}
	if err := l.Ready(); !errors.Is(err, auditlog.ErrUnavailable) {
		t.Errorf("Ready while the only sink hangs: %v; want ErrUnavailable", err)
	}
	if st := l.Stats(); !st.Down || !st.Sinks[0].Failing {
		t.Errorf("stats while the only sink hangs: %+v; want down and the sink failing", st)
	}
	if c.refused != nil {
		c.refused(t)
	}

	c.recover(t)
	waitUntil(t, func() bool { return l.Ready() == nil })
	for i := n; i < n+3; i++ {
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatalf("Reserve after the sink recovered: %v", err)
		}
		if err := tk.Append(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.Close(ctx, &auditlog.Record{Time: record(n + 3).Time, Kind: "close"}); err != nil && (c.closeErr == nil || !c.closeErr(err)) {
		t.Fatalf("Close: %v", err)
	}

	got := c.written(t)
	v := &auditlog.Verifier{}
	if err := v.Add("sink", strings.NewReader(got)); err != nil {
		t.Fatalf("what reached the sink: %v", err)
	}
	res, err := v.Done()
	if err != nil {
		t.Fatalf("what reached the sink: %v", err)
	}
	// genesis, the calls before and after the hang, close: a closed chain
	// from seq 0 that verifies has each of them exactly once, in order.
	if want := n + 5; res.Records != want {
		t.Errorf("%d records reached the sink; want %d, each once", res.Records, want)
	}
	t.Logf("%d records accepted while the sink hung; refused after %s", n, refused.Round(time.Millisecond))
}

// TestFailsClosedOnTime: whatever hangs — a sink that ignores its
// context, standard output into a pipe nobody reads, Azure Monitor
// accepting connections and never answering — calls are refused within
// the retry budget (not after a fixed 30 s attempt), and nothing accepted
// is lost or written twice.
func TestFailsClosedOnTime(t *testing.T) {
	t.Run("a sink that ignores its context", func(t *testing.T) {
		h := &hangSink{name: "hang"}
		failsClosedOnTime(t, hangCase{
			sink:    h,
			hang:    func(*testing.T) { h.Hang() },
			recover: func(*testing.T) { h.Release() },
			written: func(*testing.T) string { return h.text() },
		})
	})
	t.Run("stdout: a pipe nobody reads", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var filler int
		var out bytes.Buffer
		copied := make(chan error, 1)
		failsClosedOnTime(t, hangCase{
			sink: &auditlog.WriterSink{SinkName: "stdout", W: w},
			hang: func(t *testing.T) { filler = fillPipe(t, w) },
			recover: func(*testing.T) {
				go func() {
					_, err := io.Copy(&out, r)
					copied <- err
				}()
			},
			written: func(t *testing.T) string {
				w.Close()
				if err := <-copied; err != nil {
					t.Fatal(err)
				}
				return withoutFiller(out.String(), filler)
			},
		})
	})
	t.Run("Azure Monitor: accepts and never answers", func(t *testing.T) {
		sim, sink := monitorSink(t)
		failsClosedOnTime(t, hangCase{
			sink: sink,
			hang: func(*testing.T) { sim.Monitor.Hang() },
			// The deadline reached the upload itself: the client gave up
			// on it, rather than waiting for its transport's timeouts.
			refused: func(t *testing.T) {
				waitUntil(t, func() bool { return sim.Monitor.GivenUp() > 0 })
			},
			recover: func(*testing.T) { sim.Monitor.Answer() },
			written: func(*testing.T) string {
				// Rows with their exact lines: an export.
				var rows []string
				for _, r := range sim.Monitor.Rows() {
					rows = append(rows, string(r))
				}
				return "[" + strings.Join(rows, ",") + "]"
			},
		})
	})
}

// fillPipe writes to w until it would block (the pipe's buffer is full),
// and returns how many bytes it wrote: filler the reader skips later.
func fillPipe(t *testing.T, w *os.File) int {
	t.Helper()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	total := 0
	for {
		if err := w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatalf("a pipe without deadlines: %v", err)
		}
		n, err := w.Write(chunk)
		total += n
		if errors.Is(err, os.ErrDeadlineExceeded) && n < len(chunk) {
			break
		}
		if err != nil {
			t.Fatalf("filling the pipe: %v", err)
		}
	}
	if err := w.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return total
}

// withoutFiller removes the filler that follows the stream's first line.
func withoutFiller(s string, n int) string {
	i := strings.IndexByte(s, '\n') + 1
	if i == 0 || len(s) < i+n || strings.Trim(s[i:i+n], "x") != "" {
		return s // left for the verifier to report
	}
	return s[:i] + s[i+n:]
}

// monitorSink is a MonitorSink over the real Logs Ingestion client,
// authenticated by the managed identity, to the simulator's endpoint.
func monitorSink(t *testing.T) (*graphsim.Sim, *auditlog.MonitorSink) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := graphsim.Start(graphsim.Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id := uuid.NewString()
	sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: uuid.NewString(),
		Roles: map[string][]string{graphsim.MonitorResource: nil}})
	opts := azcore.ClientOptions{Transport: sim.Client(), Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond}}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: azidentity.ClientID(id)})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azlogs.NewClient(sim.Monitor.URL, cred, &azlogs.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	return sim, &auditlog.MonitorSink{Client: client, RuleID: sim.Monitor.RuleID, Stream: sim.Monitor.Stream}
}

// TestHungSinkHoldsUpNoOther: one sink hangs while another works. The
// working sink gets every record within the budget of its batch — it is
// not made to wait for the hung one, neither for its budget nor, once it
// is failing, for its tries — and the log never refuses a call. The hung
// sink's blocked write is not repeated beside itself: when it returns, the
// sink has that batch once, and with its next batch it writes the records
// it missed meanwhile (its backlog), in chain order: it misses nothing.
func TestHungSinkHoldsUpNoOther(t *testing.T) {
	const budget = 2 * time.Second
	hung, good := &hangSink{name: "hung"}, &hangSink{name: "good"}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{hung, good}, RetryBudget: budget})
	if err != nil {
		t.Fatal(err)
	}
	hung.Hang()
	const total = 12
	for i := range total {
		if i == total-2 {
			hung.Release()
			waitUntil(t, func() bool { return !l.Stats().Sinks[0].Failing })
		}
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatalf("record %d refused while a sink works: %v", i, err)
		}
		appended := time.Now()
		if err := tk.Append(record(i)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return good.count() == i+1 })
		if took := time.Since(appended); took >= budget {
			t.Errorf("record %d reached the working sink after %s; want within the budget (%s)", i, took, budget)
		}
		if i == 0 {
			waitUntil(t, func() bool { return l.Stats().Sinks[0].Failing })
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx, nil); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if g := st.Sinks[1]; g.Written != total || g.Failed != 0 || g.Failing {
		t.Errorf("working sink: %+v; want all %d written", g, total)
	}
	// The hung sink took its first batch (record 0) when released, and
	// the records it missed with the next.
	h := st.Sinks[0]
	if h.Written != total || h.Failed != 0 || h.Pending != 0 || h.Failing || st.Down {
		t.Errorf("hung sink: %+v; want all %d written, none failed or pending", h, total)
	}
	var seqs []uint64
	for _, line := range strings.SplitAfter(strings.TrimSuffix(hung.text(), "\n"), "\n") {
		var r struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
	for i, seq := range seqs {
		if seq != uint64(i) || len(seqs) != total {
			t.Fatalf("the hung sink got seqs %v; want 0 to %d, each once, in order", seqs, total-1)
		}
	}
}

// TestSinkBacklogBounded: a failing sink keeps at most Options.Backlog of
// the records it missed; the rest are given up for it and counted, and
// what it kept is written, in order, when it recovers.
func TestSinkBacklogBounded(t *testing.T) {
	bad, good := &hangSink{name: "bad"}, &hangSink{name: "good"}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{bad, good}, RetryBudget: 200 * time.Millisecond,
		Backlog: 3, Linger: -1, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad.Hang()
	if err := l.Record(record(0)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return l.Stats().Sinks[0].Failing })
	bad.Release() // the write of record 0 returns; the sink takes the next batch with its backlog
	waitUntil(t, func() bool { return !l.Stats().Sinks[0].Failing })
	bad.Fail(true)
	for i := 1; i <= 6; i++ {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return good.count() == i+1 })
	}
	waitUntil(t, func() bool { return l.Stats().Sinks[0].Pending == 3 })
	bad.Fail(false)
	if err := l.Record(record(7)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := l.Stats().Sinks[0]
	if st.Written+st.Failed != 8 || st.Failed != 3 || st.Pending != 0 {
		t.Errorf("bounded sink: %+v; want 3 of the 6 missed given up, the rest written", st)
	}
	var seqs []uint64
	for _, line := range strings.SplitAfter(strings.TrimSuffix(bad.text(), "\n"), "\n") {
		var r struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != "[0 1 2 3 7]" {
		t.Errorf("the bounded sink got seqs %v; want [0 1 2 3 7]: the first 3 it missed kept, 4 to 6 given up", seqs)
	}
}

// TestCloseLeavesABlockedSinkOpen: at shutdown a write still blocked on a
// failing sink does not hold up Close past its context, nor is the sink
// closed under it; the working sink has everything, the closing record
// included.
func TestCloseLeavesABlockedSinkOpen(t *testing.T) {
	hung, good := &hangSink{name: "hung"}, &hangSink{name: "good"}
	defer hung.Release()
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{hung, good}, RetryBudget: onTimeBudget})
	if err != nil {
		t.Fatal(err)
	}
	hung.Hang()
	for i := range 3 {
		tk, err := l.Reserve(1)
		if err != nil {
			t.Fatal(err)
		}
		tk.Append(record(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), onTimeBudget+2*time.Second)
	defer cancel()
	start := time.Now()
	err = l.Close(ctx, &auditlog.Record{Kind: "close"})
	if err == nil || !strings.Contains(err.Error(), "hung: a write is still in progress") {
		t.Errorf("Close: %v; want the hung sink named", err)
	}
	if took := time.Since(start); took > onTimeBudget+2*time.Second+onTimeMargin {
		t.Errorf("Close took %s; want it bounded by its context", took)
	}
	if n := good.count(); n != 4 {
		t.Errorf("the working sink has %d records; want 4, the closing one included", n)
	}
}

// staticCredential is a token credential that needs no identity endpoint.
type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestMonitorSinkResumesABatch: a batch too large for one upload goes in
// several. When one of them fails — as an upload cut off by the budget's
// deadline does — the retry of the same batch sends only what was not
// taken, so no row arrives twice; another batch is sent whole.
func TestMonitorSinkResumesABatch(t *testing.T) {
	var mu sync.Mutex
	var rows []json.RawMessage
	uploads, failAt := 0, 2
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		uploads++
		if uploads == failAt {
			// Not retried by the SDK: the sink's caller retries.
			http.Error(w, `{"error":{"code":"InvalidContent","message":"injected"}}`, http.StatusBadRequest)
			return
		}
		var got []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rows = append(rows, got...)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	client, err := azlogs.NewClient(srv.URL, staticCredential{}, &azlogs.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &auditlog.MonitorSink{Client: client, RuleID: "dcr-1", Stream: "Custom-GraphProxyAudit"}
	batch := func(from, n int) [][]byte {
		var lines [][]byte
		for i := from; i < from+n; i++ {
			lines = append(lines, fmt.Appendf(nil, `{"i":%d,"pad":%q}`+"\n", i, strings.Repeat("x", 200<<10)))
		}
		return lines
	}
	ctx := context.Background()
	a := batch(0, 10) // about 2 MB: three uploads
	if err := sink.Write(ctx, a); err == nil {
		t.Fatal("the second upload's failure was not reported")
	}
	if err := sink.Write(ctx, a); err != nil {
		t.Fatalf("retrying the batch: %v", err)
	}
	mu.Lock()
	failAt = 0
	mu.Unlock()
	if err := sink.Write(ctx, batch(10, 2)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var got []int
	for _, row := range rows {
		var r struct{ I int }
		if err := json.Unmarshal(row, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.I)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("rows %v; want %v, each once", got, want)
	}
}
