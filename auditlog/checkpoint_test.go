package auditlog_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// testSigner signs as Key Vault does with an EC P-256 key (ES256, R‖S),
// from a key of its own: the vault's part is the simulator's, tested in
// internal/vaultkey. fail, when set, makes the signing fail; gate, when
// set, holds each signing until it is closed.
type testSigner struct {
	key  *ecdsa.PrivateKey
	kid  string
	mu   sync.Mutex
	fail error
	gate chan struct{}
}

func newTestSigner(t testing.TB, kid string) *testSigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{key: k, kid: kid}
}

func (s *testSigner) Sign(ctx context.Context, msg []byte) (string, string, []byte, error) {
	s.mu.Lock()
	fail, gate := s.fail, s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", "", nil, ctx.Err()
		}
	}
	if fail != nil {
		return "", "", nil, fail
	}
	d := sha256.Sum256(msg)
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		return "", "", nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return s.kid, "ES256", sig, nil
}

func (s *testSigner) public() auditlog.CheckpointKey {
	return auditlog.CheckpointKey{ID: s.kid, Public: &s.key.PublicKey}
}

// signedLog writes a genesis, n calls and the close through a log that
// checkpoints every `every` records, and returns its lines.
func signedLog(t *testing.T, s *testSigner, n, every int) []string {
	t.Helper()
	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}},
		Linger: -1, Checkpoint: auditlog.CheckpointOptions{Signer: s, Every: every, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(&auditlog.Record{Time: record(-1).Time, Kind: "genesis"}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%every == 0 {
			// Let the checkpoint of these records in before the next, so
			// that the test knows how many there are.
			waitUntil(t, func() bool { return strings.Count(buf.String(), `"kind":"checkpoint"`) == (i+1)/every })
		}
	}
	if err := l.Close(context.Background(), &auditlog.Record{Time: record(n).Time, Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	return splitLines(buf.String())
}

// rehash is what someone who can write the log does to hide a change:
// the lines kept, changed by keep, sealed again into a chain — new seqs
// and hashes from the first line on, copied checkpoints and all.
func rehash(t *testing.T, lines []string, keep func(i int, rec *auditlog.Record) bool) []string {
	return rehashAfter(t, "", lines, keep)
}

// rehashAfter is rehash with the chain continuing the record of line
// after, if not "".
func rehashAfter(t *testing.T, after string, lines []string, keep func(i int, rec *auditlog.Record) bool) []string {
	t.Helper()
	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range lines {
		var rec auditlog.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 0 && after != "":
			l.Continue(lineSeq(t, after), lineHash(t, after))
		case i == 0 && rec.Seq > 0:
			l.Continue(rec.Seq-1, rec.Prev)
		}
		if keep(i, &rec) {
			if err := l.Record(&rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return splitLines(buf.String())
}

func kindOf(t *testing.T, line string) (kind string, cp *auditlog.Checkpoint) {
	t.Helper()
	var rec auditlog.Record
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Kind, rec.Checkpoint
}

// indexOf returns the index of the nth (from 1) line of the kind.
func indexOf(t *testing.T, lines []string, kind string, nth int) int {
	t.Helper()
	for i, l := range lines {
		if k, _ := kindOf(t, l); k == kind {
			if nth--; nth == 0 {
				return i
			}
		}
	}
	t.Fatalf("no %d %s records", nth, kind)
	return -1
}

func verifySigned(inputs map[string][]string, keys []auditlog.CheckpointKey, open bool) (auditlog.Verified, error) {
	v := &auditlog.Verifier{Keys: keys, Open: open}
	for name, lines := range inputs {
		if err := v.Add(name, strings.NewReader(strings.Join(lines, ""))); err != nil {
			return auditlog.Verified{}, err
		}
	}
	return v.Done()
}

// TestCheckpointsSigned: the log signs its head every few records and at
// close, and a verifier with the key proves every record.
func TestCheckpointsSigned(t *testing.T) {
	s := newTestSigner(t, "https://gp.vault.example/keys/audit-checkpoint/v1")
	lines := signedLog(t, s, 23, 5)
	res, err := verifySigned(map[string][]string{"audit.jsonl": lines}, []auditlog.CheckpointKey{s.public()}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Chains[0]
	if c.Checkpoints != 5 || !c.Signed || c.SignedThrough != c.LastSeq-1 || c.Unsigned != 0 || len(c.KeyIDs) != 1 || c.KeyIDs[0] != s.kid {
		t.Fatalf("chain %+v; want 4 checkpoints and a signed close, signed through seq %d", c, c.LastSeq-1)
	}
	kind, cp := kindOf(t, lines[len(lines)-1])
	if kind != "close" || cp == nil || cp.Signature == "" || cp.Seq != uint64(len(lines)-2) {
		t.Fatalf("closing record %s: want a close signing seq %d", lines[len(lines)-1], len(lines)-2)
	}
	// Without keys the checkpoints are counted, not checked.
	res, err = verifySigned(map[string][]string{"audit.jsonl": lines}, nil, false)
	if err != nil || res.Chains[0].Checkpoints != 5 || res.Chains[0].Signed {
		t.Fatalf("verified without keys: %+v, %v; want the checkpoints counted and none taken as proof", res.Chains, err)
	}
}

// TestCheckpointsDetect: what a signed checkpoint makes detectable, by
// someone who rewrites the log and computes every hash anew (the chain
// alone verifies after each of these).
func TestCheckpointsDetect(t *testing.T) {
	s := newTestSigner(t, "https://gp.vault.example/keys/audit-checkpoint/v1")
	other := newTestSigner(t, s.kid)
	lines := signedLog(t, s, 40, 10) // checkpoints after calls 10, 20, 30, 40 and the close
	keys := []auditlog.CheckpointKey{s.public()}
	cp2 := indexOf(t, lines, "checkpoint", 2)
	for _, tc := range []struct {
		name   string
		inputs func() map[string][]string
		keys   []auditlog.CheckpointKey
		open   bool
		want   string // in the problem; "" verifies
		// rewrite: the inputs' chain verifies on its own (Open, no keys):
		// only the signatures tell.
		rewrite bool
	}{
		{name: "a range removed before a checkpoint", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": rehash(t, lines, func(i int, _ *auditlog.Record) bool { return i < 12 || i > 14 })}
		}, rewrite: true, want: "rewritten"},
		{name: "a range removed across checkpoints", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": rehash(t, lines, func(i int, _ *auditlog.Record) bool { return i < 5 || i > 30 })}
		}, rewrite: true, want: "rewritten"},
		{name: "a record changed", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": rehash(t, lines, func(i int, r *auditlog.Record) bool {
				if i == 3 {
					r.Path = "/users/ceo@contoso.example/messages"
				}
				return true
			})}
		}, rewrite: true, want: "rewritten"},
		{name: "a record inserted", inputs: func() map[string][]string {
			withExtra := append(append(append([]string{}, lines[:20]...), lines[3]), lines[20:]...)
			return map[string][]string{"audit.jsonl": rehash(t, withExtra, func(int, *auditlog.Record) bool { return true })}
		}, rewrite: true, want: "rewritten"},
		{name: "a file removed and the next hashed anew", inputs: func() map[string][]string {
			// Three files; the middle one is gone and the last is sealed
			// anew onto the first.
			first, last := lines[:15], lines[30:]
			rest := rehashAfter(t, first[len(first)-1], last, func(int, *auditlog.Record) bool { return true })
			return map[string][]string{"audit.jsonl.2": first, "audit.jsonl": rest}
		}, rewrite: true, want: "rewritten"},
		{name: "the tail cut after a checkpoint", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": lines[:cp2+1]}
		}, rewrite: true, want: "without its closing record"},
		{name: "the tail cut, with --open", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": lines[:cp2+5]}
		}, open: true},
		{name: "the tail cut and a close forged from a checkpoint", inputs: func() map[string][]string {
			cut := lines[:cp2]
			return map[string][]string{"audit.jsonl": rehash(t, append(append([]string{}, cut...), lines[cp2]), func(i int, r *auditlog.Record) bool {
				if i == len(cut) {
					r.Kind = "close"
				}
				return true
			})}
		}, rewrite: true, want: "signature"},
		{name: "a checkpoint signed by another key", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": signedLog(t, other, 12, 5)}
		}, want: "signature"},
		{name: "a key for other versions only", inputs: func() map[string][]string {
			return map[string][]string{"audit.jsonl": lines}
		}, keys: []auditlog.CheckpointKey{{ID: s.kid + "x", Public: &s.key.PublicKey}}, want: "none of the keys given"},
		{name: "rows in any order", inputs: func() map[string][]string {
			return map[string][]string{"rows.json": exportRowsShuffled(t, lines)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.keys
			if k == nil {
				k = keys
			}
			inputs := tc.inputs()
			_, err := verifySigned(inputs, k, tc.open)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("verify: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("verify: %v; want a problem saying %q", err, tc.want)
			}
			if tc.rewrite {
				if _, err := verifySigned(inputs, nil, true); err != nil {
					t.Errorf("without keys the rewrite should verify (it is what checkpoints are for): %v", err)
				}
			}
		})
	}
}

// exportRowsShuffled turns lines into the rows of an az CLI export (every
// value a string, the line in RawRecord), in reverse order.
func exportRowsShuffled(t *testing.T, lines []string) []string {
	t.Helper()
	var rows []map[string]string
	for i := len(lines) - 1; i >= 0; i-- {
		raw := strings.TrimSuffix(lines[i], "\n")
		rows = append(rows, map[string]string{"RawRecord": raw, "TableName": "PrimaryResult"})
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return []string{string(b)}
}

// TestCheckpointLag: records go on being written while a head is signed;
// the checkpoint signs the head as it was, records later, across a
// rotation too.
func TestCheckpointLag(t *testing.T) {
	s := newTestSigner(t, "kid-1")
	gate := make(chan struct{})
	s.gate = gate
	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}},
		Linger: -1, Checkpoint: auditlog.CheckpointOptions{Signer: s, Every: 3, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return l.Stats().Queued == 0 })
	time.Sleep(10 * time.Millisecond) // the checkpoint waits at the gate with head seq 2
	for i := 3; i < 9; i++ {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.gate = nil
	s.mu.Unlock()
	close(gate)
	waitUntil(t, func() bool { return strings.Contains(buf.String(), `"kind":"checkpoint"`) })
	if err := l.Close(context.Background(), &auditlog.Record{Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	lines := splitLines(buf.String())
	at := indexOf(t, lines, "checkpoint", 1)
	_, cp := kindOf(t, lines[at])
	if cp.Seq != 2 || at < 9 {
		t.Fatalf("checkpoint at line %d signs seq %d; want a head of seq 2 signed after the 9 calls", at, cp.Seq)
	}
	keys := []auditlog.CheckpointKey{s.public()}
	// The head in one file, its checkpoint in the next.
	if _, err := verifySigned(map[string][]string{"a.1": lines[:5], "a": lines[5:]}, keys, false); err != nil {
		t.Fatal(err)
	}
	// ...and the first file rewritten.
	first := rehash(t, lines[:5], func(i int, r *auditlog.Record) bool {
		if i == 2 {
			r.Status = 403
		}
		return true
	})
	rest := rehashAfter(t, first[len(first)-1], lines[5:], func(int, *auditlog.Record) bool { return true })
	if _, err := verifySigned(map[string][]string{"a.1": first, "a": rest}, keys, false); err == nil || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("verify: %v; want the rewritten head found across files", err)
	}
}

// TestCheckpointSigningFails: a head that cannot be signed is recorded as
// such, counted, and leaves the chain's tail unproven.
func TestCheckpointSigningFails(t *testing.T) {
	s := newTestSigner(t, "kid-1")
	s.fail = errors.New("vault unreachable")
	lines := signedLog(t, s, 6, 3)
	_, cp := kindOf(t, lines[indexOf(t, lines, "checkpoint", 1)])
	if cp.Error != "vault unreachable" || cp.Signature != "" {
		t.Fatalf("checkpoint %+v; want the error and no signature", cp)
	}
	keys := []auditlog.CheckpointKey{s.public()}
	if _, err := verifySigned(map[string][]string{"audit.jsonl": lines}, keys, false); err == nil || !strings.Contains(err.Error(), "could not be signed at shutdown (vault unreachable)") {
		t.Fatalf("verify: %v; want the unsigned close reported", err)
	}
	res, err := verifySigned(map[string][]string{"audit.jsonl": lines}, keys, true)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Chains[0]; c.CheckpointsFailed != 3 || c.Signed || c.Unsigned != uint64(len(lines)) || c.LastCheckpointError != "vault unreachable" {
		t.Fatalf("chain %+v; want 3 failed checkpoints and nothing proven", c)
	}
}

// TestCheckpointQuietLog: a log that writes nothing writes no checkpoints
// either, however often the interval comes round.
func TestCheckpointQuietLog(t *testing.T) {
	s := newTestSigner(t, "kid-1")
	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}},
		Linger: -1, Checkpoint: auditlog.CheckpointOptions{Signer: s, Interval: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(record(0)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return strings.Count(buf.String(), `"kind":"checkpoint"`) == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(buf.String(), `"kind":"checkpoint"`); n != 1 {
		t.Fatalf("%d checkpoints for one record; want 1", n)
	}
	st := l.Stats().Checkpoints
	if st == nil || st.Signed != 1 || st.LastSeq != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(context.Background(), &auditlog.Record{Kind: "close"}); err != nil {
		t.Fatal(err)
	}
}
