package auditlog

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// sealedLog returns a log as the pipeline writes it: for each replica, a
// genesis, n calls and — if closed — the closing record, the replicas'
// records interleaved.
func sealedLog(t testing.TB, replicas []string, n int, closed bool) []byte {
	return sealedLogSigned(t, replicas, n, closed, false)
}

// fuzzKey signs the checkpoints of the fuzzer's signed seeds.
var fuzzKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// fuzzSign signs a checkpoint's head with fuzzKey, as Key Vault does.
func fuzzSign(t testing.TB, kind, replica string, seq uint64, hash string) *Checkpoint {
	d := sha256.Sum256(CheckpointMessage(kind, replica, seq, hash))
	r, s, err := ecdsa.Sign(rand.Reader, fuzzKey(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return &Checkpoint{Seq: seq, Hash: hash, KeyID: "fuzz", Alg: "ES256", Signature: base64.RawURLEncoding.EncodeToString(sig)}
}

// sealedLogSigned is sealedLog with, if signed, a checkpoint after every
// second call and a signed close.
func sealedLogSigned(t testing.TB, replicas []string, n int, closed, signed bool) []byte {
	var out []byte
	chains := make([]*chain, len(replicas))
	for i, r := range replicas {
		chains[i] = &chain{replica: r}
	}
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for i := -1; i <= n; i++ {
		for _, c := range chains {
			rec := &Record{Time: at.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i), Method: "GET", Path: "/users", Decision: "allow", Status: 200}
			switch {
			case i == -1:
				rec = &Record{Time: rec.Time, Kind: "genesis", ProxyVersion: "v1"}
			case i == n && !closed:
				continue
			case i == n:
				rec = &Record{Time: rec.Time, Kind: "close"}
				if signed {
					rec.Checkpoint = fuzzSign(t, KindClose, c.replica, c.seq-1, c.prev)
				}
			}
			line, err := c.seal(rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, line...)
			if signed && i >= 0 && i < n && i%2 == 1 {
				cp := &Record{Time: rec.Time, Kind: KindCheckpoint, Checkpoint: fuzzSign(t, KindCheckpoint, c.replica, c.seq-1, c.prev)}
				if line, err = c.seal(cp); err != nil {
					t.Fatal(err)
				}
				out = append(out, line...)
			}
		}
	}
	return out
}

// FuzzVerify feeds the verifier untrusted input — two files cut from the
// fuzzer's bytes, in either order — and holds it to its contract: it never
// panics, fails only with a *Problem, and what it passes is consistent:
// every record in exactly one chain, each chain beginning at its start
// (seq 0) unless a partial head was allowed, and closed unless Open; with
// the checkpoint key, every record of a closed chain under a signature. The
// seeds are real logs, whole and with their heads, tails and middles cut.
func FuzzVerify(f *testing.F) {
	one := sealedLog(f, []string{"r1"}, 6, true)
	two := sealedLog(f, []string{"r1", "r2"}, 4, true)
	live := sealedLog(f, []string{"r1"}, 3, false)
	lines := bytes.SplitAfter(one, []byte("\n"))
	f.Add(one, uint16(0), byte(0))
	f.Add(one, uint16(len(lines[0])+len(lines[1])), byte(1)) // two files, swapped
	f.Add(two, uint16(len(two)/2), byte(0))
	f.Add(live, uint16(0), byte(2))
	f.Add(bytes.Join(lines[1:], nil), uint16(0), byte(0))                                // the genesis removed
	f.Add(bytes.Join(lines[1:], nil), uint16(0), byte(4))                                // … and allowed
	f.Add(bytes.Join(append([][]byte{lines[0]}, lines[3:]...), nil), uint16(0), byte(0)) // a middle cut
	f.Add(bytes.Join(lines[:len(lines)-2], nil), uint16(0), byte(0))                     // the tail cut
	f.Add(append(append([]byte{}, one...), one...), uint16(0), byte(0))                  // repeated
	f.Add([]byte("{}\n\n"), uint16(1), byte(7))
	f.Add([]byte(`{"seq":0,"prev":"","hash":"","kind":"genesis"}`+"\n"), uint16(0), byte(0))
	signed := sealedLogSigned(f, []string{"r1", "r2"}, 5, true, true)
	slines := bytes.SplitAfter(signed, []byte("\n"))
	f.Add(signed, uint16(len(signed)/2), byte(8))
	f.Add(signed, uint16(0), byte(8|2))
	f.Add(bytes.Join(slines[:len(slines)-3], nil), uint16(0), byte(8|2)) // the tail cut
	f.Add(sealedLogSigned(f, []string{"r1"}, 4, false, true), uint16(0), byte(8|2))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, mode byte) {
		at := int(cut) % (len(data) + 1)
		files := [][]byte{data[:at], data[at:]}
		if mode&1 != 0 {
			files[0], files[1] = files[1], files[0]
		}
		v := &Verifier{Open: mode&2 != 0, AllowPartialHead: mode&4 != 0}
		if mode&8 != 0 {
			v.Keys = []CheckpointKey{{ID: "fuzz", Public: &fuzzKey().PublicKey}}
		}
		var p *Problem
		for i, b := range files {
			if err := v.Add(fmt.Sprintf("f%d", i), bytes.NewReader(b)); err != nil {
				if !errors.As(err, &p) {
					t.Fatalf("Add failed with %v, not a *Problem", err)
				}
				return
			}
		}
		res, err := v.Done()
		if err != nil {
			if !errors.As(err, &p) {
				t.Fatalf("Done failed with %v, not a *Problem", err)
			}
			return
		}
		records := 0
		for _, c := range res.Chains {
			records += c.Records
			switch {
			case c.HeadVerified != (c.FirstSeq == 0) && !v.AllowPartialHead:
				t.Fatalf("chain %+v passed with its head at seq %d", c, c.FirstSeq)
			case !c.HeadVerified && !v.AllowPartialHead:
				t.Fatalf("chain %+v passed without its head", c)
			case !c.Closed && !v.Open:
				t.Fatalf("chain %+v passed without its closing record", c)
			case c.LastSeq < c.FirstSeq || len(c.Files) == 0 || len(c.Replicas) == 0:
				t.Fatalf("chain %+v is not a chain", c)
			case v.Keys != nil && !v.Open && (c.Unsigned != 0 || !c.Signed || c.SignedThrough != c.LastSeq-1):
				t.Fatalf("chain %+v passed with records under no signature", c)
			case c.Signed && (c.SignedThrough < c.FirstSeq || c.SignedThrough >= c.LastSeq):
				t.Fatalf("chain %+v signed through a record it does not hold", c)
			}
		}
		if records != res.Records || records == 0 {
			t.Fatalf("%d records in the chains of %d verified", records, res.Records)
		}
	})
}
