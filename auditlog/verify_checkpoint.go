package auditlog

import (
	"fmt"
	"slices"
	"time"
)

// checkpointLookback is how many of a run's latest hashes the verifier
// keeps to find the head a checkpoint signed: twice the lag the writer
// allows (maxCheckpointLag).
const checkpointLookback = 2 * maxCheckpointLag

// signedRun is what the verifier learns of a run's checkpoints.
type signedRun struct {
	// hashes holds the run's latest hashes, by seq, up to
	// checkpointLookback of them (kept only with keys to check).
	hashes []string
	// claims are heads signed before the run's first record: found in
	// the runs before it once Done has linked them.
	claims []claim
	// through is the highest head proven by a signature, at the time
	// of the record that carried it; ok says there is one.
	through uint64
	at      time.Time
	ok      bool
	// count counts checkpoints (close included), failed those whose
	// signing had failed at the proxy.
	count, failed int
	lastError     string
	closeSigned   bool
	keyIDs        []string
}

type claim struct {
	by   entry // the record that carries the checkpoint
	seq  uint64
	hash string
}

// keep remembers e's hash, if checkpoints are to be checked.
func (s *signedRun) keep(first uint64, e *entry) {
	i := int((e.seq - first) % checkpointLookback)
	if i == len(s.hashes) {
		s.hashes = append(s.hashes, e.hash)
		return
	}
	s.hashes[i] = e.hash
}

// hashAt returns the hash of the run's record at seq, if kept.
func (r *run) hashAt(seq uint64) (string, bool) {
	if seq < r.first.seq || seq > r.last.seq || r.last.seq-seq >= checkpointLookback {
		return "", false
	}
	return r.signed.hashes[(seq-r.first.seq)%checkpointLookback], true
}

// checkpointed checks the checkpoint e carries, if any, as far as the run
// so far allows; a head before the run is left for Done.
func (v *Verifier) checkpointed(rn *run, e *entry) error {
	s := &rn.signed
	if len(v.Keys) > 0 {
		s.keep(rn.first.seq, e)
	}
	cp := e.cp
	if cp == nil || (e.kind != KindCheckpoint && e.kind != KindClose) {
		return nil
	}
	s.count++
	if e.kind == KindClose {
		s.closeSigned = false
	}
	if cp.Signature == "" {
		s.failed++
		s.lastError = cp.Error
		return nil
	}
	if len(v.Keys) == 0 {
		return nil
	}
	switch {
	case cp.Seq >= e.seq:
		return rn.problem(e, fmt.Sprintf("the checkpoint signs seq %d, not a record before it: the chain before it was rewritten (records removed and their hashes computed anew)", cp.Seq))
	case e.kind == KindClose && cp.Seq != e.seq-1:
		return rn.problem(e, fmt.Sprintf("the closing record signs seq %d, not the record just before it", cp.Seq))
	}
	if err := verifyCheckpoint(v.Keys, cp.KeyID, cp.Alg, CheckpointMessage(e.kind, e.replica, cp.Seq, cp.Hash), cp.Signature); err != nil {
		return rn.problem(e, fmt.Sprintf("the checkpoint's signature (key %s, %s): %v: the checkpoint was forged or altered, or the key given is not the proxy's", cp.KeyID, cp.Alg, err))
	}
	if !slices.Contains(s.keyIDs, cp.KeyID) {
		s.keyIDs = append(s.keyIDs, cp.KeyID)
	}
	c := claim{by: *e, seq: cp.Seq, hash: cp.Hash}
	if cp.Seq < rn.first.seq {
		s.claims = append(s.claims, c)
		return nil
	}
	return rn.prove(rn, c)
}

// prove checks that holder, the run that holds seq c.seq, has the hash the
// checkpoint in rn signed, and marks rn signed through it.
func (rn *run) prove(holder *run, c claim) error {
	h, ok := holder.hashAt(c.seq)
	switch {
	case !ok:
		return rn.problem(&c.by, fmt.Sprintf("the checkpoint signs seq %d, more than %d records before it: not a checkpoint the proxy wrote", c.seq, checkpointLookback))
	case h != c.hash:
		return rn.problem(&c.by, fmt.Sprintf("the checkpoint's signature covers seq %d with hash %s, but the record at seq %d (%s) has hash %s: "+
			"the records up to it were rewritten and their hashes computed anew (records removed, changed or inserted)",
			c.seq, c.hash, c.seq, holder.at(holder.last.line).File, h))
	}
	s := &rn.signed
	if !s.ok || c.seq > s.through {
		s.through, s.at, s.ok = c.seq, c.by.time, true
	}
	if c.by.kind == KindClose {
		s.closeSigned = true
	}
	return nil
}

// proveClaims finds, in the runs before each run, the heads its
// checkpoints signed before its first record. A head in no input given
// can only be one before a partial head (AllowPartialHead): it stays
// unproven.
func (v *Verifier) proveClaims(runs []*run) error {
	for _, r := range runs {
		for _, c := range r.signed.claims {
			for p := r.pred; p != nil; p = p.pred {
				if c.seq >= p.first.seq {
					if err := r.prove(p, c); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	return nil
}

// checkSigned reports a chain, from its first run h, whose records are
// not all under a signature: with keys and not Open, its last record
// must be a signed close.
func (v *Verifier) checkSigned(h *run) error {
	if len(v.Keys) == 0 || v.Open {
		return nil
	}
	t := h
	for t.next != nil {
		t = t.next
	}
	if t.closed && t.signed.closeSigned {
		return nil
	}
	var through string
	for r := t; r != nil; r = r.pred {
		if r.signed.ok {
			through = fmt.Sprintf("; the last signed head is seq %d (signed at %s)", r.signed.through, r.signed.at.Format(time.RFC3339))
			break
		}
	}
	if through == "" {
		through = "; no record of the chain is under a signature"
	}
	reason := "the chain does not end with a signed closing record"
	if t.closed {
		reason = "the closing record's checkpoint could not be signed at shutdown"
		if e := t.last.cp; e != nil && e.Error != "" {
			reason += " (" + e.Error + ")"
		}
	}
	return t.problem(&t.last, reason+through+
		": records after it may have been cut or rewritten (use --open to verify a live log and report its unsigned tail)")
}

// chainSignatures sums up the checkpoints of the chain starting at h.
func chainSignatures(h *run, c *Chain) {
	tail := h
	for r := h; r != nil; r = r.next {
		tail = r
		s := &r.signed
		c.Checkpoints += s.count
		c.CheckpointsFailed += s.failed
		if s.lastError != "" {
			c.LastCheckpointError = s.lastError
		}
		if s.ok && (!c.Signed || s.through >= c.SignedThrough) {
			c.Signed, c.SignedThrough, c.SignedAt = true, s.through, s.at
		}
		for _, k := range s.keyIDs {
			if !slices.Contains(c.KeyIDs, k) {
				c.KeyIDs = append(c.KeyIDs, k)
			}
		}
	}
	switch {
	case tail.closed && tail.signed.closeSigned:
		c.Unsigned = 0
	case c.Signed:
		c.Unsigned = c.LastSeq - c.SignedThrough
	default:
		c.Unsigned = uint64(c.Records)
	}
}
