package auditlog

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// FuzzSeal holds a sealed line to what the verifier checks: each line is
// json.Marshal of the sealed record and a newline, its hash that of the
// previous hash followed by the line with the hash emptied, and the next
// record's prev that hash.
func FuzzSeal(f *testing.F) {
	f.Add("graph-proxy--r1", "", "engage-eu", "/users/adelev@contoso.example/events", int64(1764072000), int64(123456789), 0, 41.25, 0.5, int64(200), byte(2))
	f.Add("r\u2028", "sha256:00", "<script>&\"\\", "\x00\x01\b\f\n\r\t\x1f\x7f", int64(-62135596800), int64(0), 3600, 1e-7, 2e21, int64(-1), byte(0))
	f.Add("", "\xff", "\xff\xfe invalid \xc3", "é✓😀", int64(253402300800), int64(1), -86400, math.Inf(1), 0.0, int64(0), byte(1))
	f.Add("r", "x", "report.docx", "/drives/b!x/items/01AB/content", int64(1764072000), int64(5), 0, 0.0, 3.5, int64(1048576), byte(32+16+8+4))
	f.Fuzz(func(t *testing.T, replica, prev, text, path string, secs, nsec int64, zone int, f1, f2 float64, n int64, lists byte) {
		c := chain{replica: replica, seq: uint64(n), prev: prev}
		for i := range 3 {
			before := c.prev
			rec := fuzzRecord(text, path, secs+int64(i), nsec, zone, f1, f2, n, lists+byte(i))
			line, err := c.seal(rec)
			if _, wantErr := json.Marshal(rec); (err != nil) != (wantErr != nil) {
				t.Fatalf("seal error %v; json.Marshal error %v", err, wantErr)
			}
			if err != nil {
				if c.prev != before {
					t.Fatalf("a failed seal moved the chain from %q to %q", before, c.prev)
				}
				continue
			}
			want, _ := json.Marshal(rec)
			if !bytes.Equal(line, append(want, '\n')) {
				t.Fatalf("seal wrote\n%s\njson.Marshal of the sealed record writes\n%s", line, want)
			}
			hashed, hash, ok := unseal(bytes.TrimSuffix(line, []byte("\n")))
			if !ok {
				t.Fatalf("unseal failed on %s", line)
			}
			if rec.Prev != before || hash != rec.Hash || lineHash(before, hashed) != hash {
				t.Fatalf("record %d: prev %q hash %q; want prev %q and hash %q", i, rec.Prev, hash, before, lineHash(before, hashed))
			}
			if c.prev != hash {
				t.Fatalf("chain head %q; want %q", c.prev, hash)
			}
		}
	})
}
