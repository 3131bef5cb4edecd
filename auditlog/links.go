package auditlog

import (
	"cmp"
	"fmt"
	"slices"
)

// Done links the runs of every input into chains and checks them as a
// whole: each chain begins at its start (or, with AllowPartialHead, one
// per replica may begin mid-way), no records are missing or repeated
// between inputs, and — unless Open — each chain ends with its closing
// record.
func (v *Verifier) Done() (Verified, error) {
	out := Verified{Records: v.records, Skipped: v.skipped, Duplicates: v.dups}
	if v.records == 0 {
		return out, &Problem{Reason: "no records"}
	}
	// Chain order, not input order: by replica, then sequence number, the
	// input and the line only breaking ties (between duplicates), so that
	// the same inputs in any order give the same verdict.
	runs := slices.Clone(v.runs)
	slices.SortStableFunc(runs, func(a, b *run) int {
		return cmp.Or(cmp.Compare(a.first.replica, b.first.replica), cmp.Compare(a.first.seq, b.first.seq),
			cmp.Compare(a.order, b.order), cmp.Compare(a.first.line, b.first.line))
	})
	if err := v.link(runs); err != nil {
		return out, err
	}
	for _, r := range runs {
		if r.next == nil && !r.closed && !v.Open {
			return out, r.problem(&r.last, "the chain ends without its closing record: the log was truncated, or the replica stopped abruptly (use --open for a live file)")
		}
	}
	if err := v.proveClaims(runs); err != nil {
		return out, err
	}
	for _, r := range runs {
		if r.pred == nil {
			if err := v.checkSigned(r); err != nil {
				return out, err
			}
		}
	}
	out.Chains = chains(runs)
	return out, nil
}

// link finds each run's predecessor: the run whose last record's hash is
// its first record's prev. A run without one must be a chain's start.
func (v *Verifier) link(runs []*run) error {
	byFirst := make(map[string]*run, len(runs))
	byLast := make(map[string]*run, len(runs))
	for _, r := range runs {
		if _, dup := byLast[r.last.hash]; !dup {
			byLast[r.last.hash] = r
		}
	}
	// A partial input lacks a replica's oldest records, so the one run
	// that may begin without its predecessor is the replica's oldest such
	// run, by time, and only if no chain start of the replica is older: a
	// run without its predecessor after the replica's start, or after
	// another such run, is a gap, not a head. Time, not seq, because a
	// chain restarted at seq 0 has lower numbers than the chain before it;
	// and at most one run per replica is let off, so a gap and a missing
	// head together are always reported.
	head, start := map[string]*run{}, map[string]*run{}
	for _, r := range runs {
		key := r.first.replica
		switch {
		case r.first.start():
			if o := start[key]; o == nil || r.first.time.Before(o.first.time) {
				start[key] = r
			}
		case byLast[r.first.prev] == nil:
			if o := head[key]; o == nil || r.first.time.Before(o.first.time) {
				head[key] = r
			}
		}
	}
	for key, h := range head {
		if s := start[key]; s != nil && s.first.time.Before(h.first.time) {
			delete(head, key)
		}
	}
	for _, r := range runs {
		if d := byFirst[r.first.hash]; d != nil {
			return r.problem(&r.first, fmt.Sprintf("the same record is at %s: records appear twice (a file given twice, or a copy of one)", d.at(d.first.line)))
		}
		byFirst[r.first.hash] = r
		if r.first.start() {
			continue
		}
		p := byLast[r.first.prev]
		if p == nil {
			if v.AllowPartialHead && head[r.first.replica] == r {
				continue
			}
			return orphan(runs, r)
		}
		at := p.at(p.last.line)
		switch {
		case p.next != nil:
			return r.problem(&r.first, fmt.Sprintf("the chain forks: this record and %s both continue %s (a file copied and changed, or two writers continuing one chain)", p.next.at(p.next.first.line), at))
		case p.order == r.order && p.last.line > r.first.line && !r.rows:
			// A stream is written in order: its records cannot follow
			// one further down (two files concatenated the wrong way).
			// An export's rows come in no order.
			return r.problem(&r.first, fmt.Sprintf("out of order: the record before it is further down, at %s", at))
		case r.first.seq != p.last.seq+1:
			return r.problem(&r.first, fmt.Sprintf("seq %d does not follow seq %d at %s, the record its prev names", r.first.seq, p.last.seq, at))
		case p.closed && r.first.kind != "genesis":
			return r.problem(&r.first, fmt.Sprintf("the chain continues after its closing record at %s", at))
		case p.last.replica != r.first.replica && r.first.kind != "genesis":
			return r.problem(&r.first, fmt.Sprintf("the record continues replica %s's chain (%s) without a genesis record", p.last.replica, at))
		}
		p.next, r.pred = r, p
	}
	return nil
}

// orphan explains a run that is not a chain's start and follows no record
// given: the head of the chain, or the records between it and an earlier
// run of the same replica, are missing.
func orphan(runs []*run, r *run) error {
	var before, over *run
	for _, o := range runs {
		if o == r || o.first.replica != r.first.replica {
			continue
		}
		switch {
		case o.first.seq <= r.first.seq && r.first.seq <= o.last.seq:
			if over == nil {
				over = o
			}
		case o.last.seq < r.first.seq:
			if before == nil || o.last.seq > before.last.seq {
				before = o
			}
		}
	}
	var reason string
	lines, cut := "lines", "a file missing between them, or records cut from this file's head"
	if r.rows {
		lines, cut = "rows", "rows missing from the export: outside the query, or never ingested (a sink that failed past its retry budget), or removed"
	}
	switch {
	case over != nil:
		reason = fmt.Sprintf("seq %d is also in %s (%s %d to %d) and no record given comes before it: inputs overlap (a duplicated, copied or spliced file)",
			r.first.seq, over.file, lines, over.first.line, over.last.line)
	case before != nil && before.last.seq+1 < r.first.seq:
		reason = fmt.Sprintf("records %d to %d are missing: nothing given continues %s (%s)",
			before.last.seq+1, r.first.seq-1, before.at(before.last.line), cut)
	case before != nil:
		reason = fmt.Sprintf("the record does not follow %s, seq %d: its prev is not that record's hash (records removed, reordered or inserted)",
			before.at(before.last.line), before.last.seq)
	default:
		reason = fmt.Sprintf("the chain begins mid-way: its first record is seq %d, not the chain's start (seq 0), and no file given holds the record before it: "+
			"the head of the log was removed, or the files holding it were not given (--allow-partial-head verifies the rest and reports the head unverified)", r.first.seq)
	}
	return r.problem(&r.first, reason)
}

// chains follows the links from each chain's first run to its last.
func chains(runs []*run) []Chain {
	var out []Chain
	for _, h := range runs {
		if h.pred != nil {
			continue
		}
		c := Chain{FirstSeq: h.first.seq, HeadVerified: h.first.start(), Head: h.at(h.first.line)}
		for r := h; r != nil; r = r.next {
			c.Records += r.records
			if n := len(c.Files); n == 0 || c.Files[n-1] != r.file {
				c.Files = append(c.Files, r.file)
			}
			if n := len(c.Replicas); n == 0 || c.Replicas[n-1] != r.first.replica {
				c.Replicas = append(c.Replicas, r.first.replica)
			}
			c.LastSeq, c.Tail, c.Closed = r.last.seq, r.at(r.last.line), r.closed
		}
		chainSignatures(h, &c)
		out = append(out, c)
	}
	return out
}
