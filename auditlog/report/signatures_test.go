package report

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// reportSigner signs checkpoints as Key Vault does (ES256, R‖S).
type reportSigner struct{ key *ecdsa.PrivateKey }

func (s reportSigner) Sign(_ context.Context, msg []byte) (string, string, []byte, error) {
	d := sha256.Sum256(msg)
	r, v, err := ecdsa.Sign(rand.Reader, s.key, d[:])
	if err != nil {
		return "", "", nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	v.FillBytes(sig[32:])
	return "kid-1", "ES256", sig, nil
}

// TestWriteHTMLSignatures checks the page says what the checkpoints
// prove: every record signed with the key given, not checked without.
func TestWriteHTMLSignatures(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := auditlog.OpenFile(file, 1<<20, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{fs}, Linger: -1,
		Checkpoint: auditlog.CheckpointOptions{Signer: reportSigner{key}, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Record(&auditlog.Record{Time: t0.Add(time.Duration(i) * time.Second), RequestID: "r", Decision: "allow", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(context.Background(), &auditlog.Record{Time: t0.Add(time.Minute), Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys []auditlog.CheckpointKey
		want string
	}{
		{[]auditlog.CheckpointKey{{ID: "kid-1", Public: &key.PublicKey}}, `<td class="ok-text">every record signed (1 checkpoints)</td>`},
		{nil, `<td class="bad-text">1 checkpoints, NOT checked (no --key)</td>`},
	} {
		recs, ver, err := Load([]string{file}, LoadOptions{Keys: tc.keys})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Build(recs, ver, Options{}).WriteHTML(&out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("keys %v: the page lacks %s", tc.keys, tc.want)
		}
	}
}
