package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
}

// seal completes rec (replica, seq, prev, hash) and returns its line,
// newline included.
func (c *chain) seal(rec *Record) ([]byte, error) {
	rec.Replica, rec.Seq, rec.Prev, rec.Hash = c.replica, c.seq, c.prev, ""
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	h := lineHash(c.prev, line)
	i := bytes.Index(line, hashField)
	if i < 0 {
		return nil, errors.New("audit: record has no hash field")
	}
	at := i + len(hashField) // the closing quote of the empty hash
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

func lineHash(prev string, line []byte) string {
	s := sha256.New()
	s.Write([]byte(prev))
	s.Write(line)
	return HashPrefix + hex.EncodeToString(s.Sum(nil))
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
