package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/graph-proxy/graph-proxy/internal/tokenshape"
)

// HashPrefix starts every hash in a chain.
const HashPrefix = "sha256:"

// hashField is how the hash appears in a line; a sealed line has exactly
// one, after "prev", and the same line with its value emptied is what the
// hash covers.
var hashField = []byte(`,"hash":"`)

// chain assigns sequence numbers and hashes. Not safe for concurrent use:
// the pipeline calls it under its lock, in queue order.
type chain struct {
	replica string
	seq     uint64
	prev    string
	// scratch holds prev followed by the line being hashed, reused from
	// record to record.
	scratch []byte
}

// seal completes rec (replica, seq, prev, hash) and returns its line,
// newline included. Its allocations are the line and the hash string:
// prev and the line are encoded into one buffer kept between records, so
// that one call hashes both, and the digest is hex-encoded on the stack.
func (c *chain) seal(rec *Record) ([]byte, error) {
	rec.Replica, rec.Seq, rec.Prev, rec.Hash = c.replica, c.seq, c.prev, ""
	// An error's text is other code's (a library quoting an answer it
	// could not read): whatever in it is shaped as a token is withheld
	// before it is written anywhere.
	rec.Error = tokenshape.Withhold(rec.Error)
	if rec.Checkpoint != nil {
		rec.Checkpoint.Error = tokenshape.Withhold(rec.Checkpoint.Error)
	}
	buf, at, err := appendRecord(append(c.scratch[:0], c.prev...), rec)
	if err != nil {
		return nil, err
	}
	c.scratch = buf
	sum := sha256.Sum256(buf)
	var hb [len(HashPrefix) + 2*sha256.Size]byte
	hex.Encode(hb[copy(hb[:], HashPrefix):], sum[:])
	h := string(hb[:])
	line, at := buf[len(c.prev):], at-len(c.prev)
	out := make([]byte, 0, len(line)+len(h)+1)
	out = append(out, line[:at]...)
	out = append(out, h...)
	out = append(out, line[at:]...)
	out = append(out, '\n')
	rec.Hash = h
	c.prev = h
	c.seq++
	return out, nil
}

// lineHash is the hash a line carries: that of prev followed by the line
// with its hash emptied (seal hashes the same bytes, laid out in one
// buffer).
func lineHash(prev string, line []byte) string {
	s := sha256.New()
	io.WriteString(s, prev)
	s.Write(line)
	var sum [sha256.Size]byte
	return HashPrefix + hex.EncodeToString(s.Sum(sum[:0]))
}

// unseal returns the line as it was hashed (hash emptied) and the hash it
// carries, or false if the line does not have exactly one hash field.
func unseal(line []byte) (hashed []byte, hash string, ok bool) {
	i := bytes.Index(line, hashField)
	if i < 0 || bytes.Contains(line[i+1:], hashField) {
		return nil, "", false
	}
	start := i + len(hashField)
	end := bytes.IndexByte(line[start:], '"')
	if end < 0 {
		return nil, "", false
	}
	hash = string(line[start : start+end])
	hashed = make([]byte, 0, len(line)-end)
	hashed = append(hashed, line[:start]...)
	hashed = append(hashed, line[start+end:]...)
	return hashed, hash, true
}
