package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// Problem is the first thing wrong found in an audit log.
type Problem struct {
	File      string
	Line      int
	Replica   string
	Seq       uint64
	RequestID string
	Reason    string
}

func (p *Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Replica != "" {
		return fmt.Sprintf("%s: replica %s seq %d (request %s): %s", loc, p.Replica, p.Seq, p.RequestID, p.Reason)
	}
	return loc + ": " + p.Reason
}

// Verified describes a verified log.
type Verified struct {
	Records int
	// Chains maps each replica to its last sequence number.
	Chains map[string]uint64
}

// Verifier checks the hash chains of audit logs read in order (rotated
// files oldest first). Each replica's chain must be unbroken: every record
// unaltered, following the one before it with the next sequence number,
// and — unless Open is set — ending with the closing record written at
// shutdown, so that a truncated tail is caught.
type Verifier struct {
	// Open accepts chains still being written (a live file).
	Open bool

	records int
	chains  map[string]*chainState
}

type chainState struct {
	seq    uint64
	hash   string
	kind   string
	file   string
	line   int
	reqID  string
	closed bool
}

// Add verifies one file's records, continuing the chains of earlier files.
func (v *Verifier) Add(name string, r io.Reader) error {
	if v.chains == nil {
		v.chains = map[string]*chainState{}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n := bytes.Count(data, []byte("\n")) + 1
		return &Problem{File: name, Line: n, Reason: "the last line is incomplete: the file was truncated"}
	}
	line := 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		raw := data[:i]
		data = data[i+1:]
		line++
		if len(bytes.TrimSpace(raw)) == 0 {
			return &Problem{File: name, Line: line, Reason: "empty line"}
		}
		if err := v.check(name, line, raw); err != nil {
			return err
		}
	}
	return nil
}

func (v *Verifier) check(file string, line int, raw []byte) error {
	var r struct {
		Replica   string `json:"replica"`
		Seq       uint64 `json:"seq"`
		Prev      string `json:"prev"`
		Hash      string `json:"hash"`
		Kind      string `json:"kind"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return &Problem{File: file, Line: line, Reason: "not an audit record: " + err.Error()}
	}
	p := &Problem{File: file, Line: line, Replica: r.Replica, Seq: r.Seq, RequestID: r.RequestID}
	hashed, hash, ok := unseal(raw)
	if !ok || hash != r.Hash {
		p.Reason = "the record has no single hash field"
		return p
	}
	if lineHash(r.Prev, hashed) != r.Hash {
		p.Reason = "the record was altered: its hash does not match its content"
		return p
	}
	st := v.chains[r.Replica]
	switch {
	case st == nil:
		// The first record seen of this replica: a genesis, or the first
		// record of the oldest file kept.
	case st.closed && r.Kind == "genesis" && r.Prev == st.hash && r.Seq == st.seq+1:
		// A restart continuing the chain.
	case st.closed:
		p.Reason = "the chain continues after its closing record"
		return p
	case r.Prev != st.hash && r.Seq == st.seq+1:
		p.Reason = "the record does not follow the one before it (lines removed, reordered or inserted)"
		return p
	case r.Seq > st.seq+1:
		p.Reason = fmt.Sprintf("records %d to %d are missing", st.seq+1, r.Seq-1)
		return p
	case r.Seq <= st.seq:
		p.Reason = fmt.Sprintf("out of order: seq %d after seq %d", r.Seq, st.seq)
		return p
	}
	if st == nil {
		st = &chainState{}
		v.chains[r.Replica] = st
	}
	*st = chainState{seq: r.Seq, hash: r.Hash, kind: r.Kind, file: file, line: line, reqID: r.RequestID, closed: r.Kind == "close"}
	v.records++
	return nil
}

// Done finishes verification: every chain must be closed unless Open.
func (v *Verifier) Done() (Verified, error) {
	out := Verified{Records: v.records, Chains: map[string]uint64{}}
	replicas := make([]string, 0, len(v.chains))
	for r := range v.chains {
		replicas = append(replicas, r)
	}
	sort.Strings(replicas)
	for _, r := range replicas {
		st := v.chains[r]
		out.Chains[r] = st.seq
		if !st.closed && !v.Open {
			return out, &Problem{File: st.file, Line: st.line, Replica: r, Seq: st.seq, RequestID: st.reqID,
				Reason: "the chain ends without its closing record: the log was truncated, or the replica stopped abruptly (use --open for a live file)"}
		}
	}
	if v.records == 0 {
		return out, &Problem{Reason: "no records"}
	}
	return out, nil
}
