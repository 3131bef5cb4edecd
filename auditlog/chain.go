package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
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
	scratch []byte    // the line being hashed, reused
	sum     hash.Hash // reused
}

// seal completes rec (replica, seq, prev, hash) and returns its line,
// newline included.
func (c *chain) seal(rec *Record) ([]byte, error) {
	rec.Replica, rec.Seq, rec.Prev, rec.Hash = c.replica, c.seq, c.prev, ""
	line, at, err := appendRecord(c.scratch[:0], rec)
	if err != nil {
		return nil, err
	}
	c.scratch = line
	if c.sum == nil {
		c.sum = sha256.New()
	}
	h := hashLine(c.sum, c.prev, line)
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

func lineHash(prev string, line []byte) string { return hashLine(sha256.New(), prev, line) }

func hashLine(s hash.Hash, prev string, line []byte) string {
	s.Reset()
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
