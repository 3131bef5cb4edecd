package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

type verdict struct {
	// Intact is the verifier's verdict over all inputs.
	Intact   bool
	Headline string
	Problem  text
	// Warnings qualify an intact verdict (heads not verified, open tails).
	Warnings []string
	Notes    []string
	Replicas []replicaView
	Chains   int
	Records  int
}

type replicaView struct {
	Name    text
	Intact  bool
	Problem text
	Chains  []chainView
}

type chainView struct {
	Replicas       text
	Seqs           string
	Records        int
	HeadOK, TailOK bool
	Head, Tail     string
	HeadAt, TailAt text
	TailHash       text
	Files          text
	// Shared marks a chain that several replicas wrote (a restart under
	// a new name continued it).
	Shared bool
	// Signed says what the checkpoints' signatures prove; SignedOK that
	// every record is under one.
	Signed   text
	SignedOK bool
}

type inputs struct {
	Files   []inputView
	Skipped []text
}

type inputView struct {
	Name    text
	Bytes   string
	Records int
	SHA256  string
}

func newInputs(ver Verification) inputs {
	var in inputs
	for _, f := range ver.Inputs {
		in.Files = append(in.Files, inputView{Name: clean(f.Name), Bytes: groupDigits(int(f.Bytes)), Records: f.Records, SHA256: f.SHA256})
	}
	for _, s := range ver.Skipped {
		in.Skipped = append(in.Skipped, clean(s))
	}
	return in
}

func newVerdict(ver Verification, recs []*auditlog.Record) verdict {
	v := verdict{Intact: ver.Intact(), Chains: len(ver.Verified.Chains), Records: ver.Verified.Records}
	switch {
	case v.Intact:
		v.Headline = fmt.Sprintf("Chains verified: %s records in %s, intact", groupDigits(v.Records), plural(v.Chains, "chain"))
	case ver.Err != nil:
		v.Headline = "THE AUDIT CHAIN IS NOT INTACT: these records cannot be relied on as complete and unaltered"
		v.Problem = clean(ver.Err.Error())
	default:
		v.Headline = "THE RECORDS WERE NOT VERIFIED: nothing on this page is proven complete or unaltered"
		v.Problem = "no chain verification was given for these records"
	}
	// The tail hashes, to compare with a copy held elsewhere; only where
	// (replica, seq) names one record.
	type key struct {
		replica string
		seq     uint64
	}
	hashes := map[key][]string{}
	for _, r := range recs {
		k := key{r.Replica, r.Seq}
		hashes[k] = append(hashes[k], r.Hash)
	}
	unverified, open, unsigned := 0, 0, 0
	for _, r := range ver.Replicas {
		rv := replicaView{Name: clean(r.Name), Intact: r.Err == nil}
		if r.Err != nil {
			rv.Problem = clean(r.Err.Error())
		}
		for _, c := range r.Chains {
			cv := chainView{Replicas: clean(strings.Join(c.Replicas, " then ")), Seqs: fmt.Sprintf("%d to %d", c.FirstSeq, c.LastSeq),
				Records: c.Records, HeadOK: c.HeadVerified, TailOK: c.Closed, Files: cleanList(c.Files, 12), Shared: len(c.Replicas) > 1}
			cv.HeadAt, cv.TailAt = clean(c.Head.String()), clean(c.Tail.String())
			if c.HeadVerified {
				cv.Head = "verified: starts at seq 0"
			} else {
				unverified++
				cv.Head = fmt.Sprintf("NOT verified: checked from seq %d; the records before it are in no input", c.FirstSeq)
			}
			if c.Closed {
				cv.Tail = "closed: ends with its closing record"
			} else {
				open++
				cv.Tail = "open: no closing record"
			}
			if h := hashes[key{c.Replicas[len(c.Replicas)-1], c.LastSeq}]; len(h) == 1 {
				cv.TailHash = clean(h[0])
			}
			cv.Signed, cv.SignedOK = signedView(c, len(ver.Options.Keys) > 0)
			if !cv.SignedOK {
				unsigned++
			}
			rv.Chains = append(rv.Chains, cv)
		}
		v.Replicas = append(v.Replicas, rv)
	}
	if unsigned > 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf("%s not under a signature of the checkpoint key: records someone rewrote with the hashes computed anew would verify there.", plural(unsigned, "chain")+" is, in part or whole,"))
	}
	if unverified > 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf("The head of %s was NOT verified (--allow-partial-head): records before the first one given may have been removed.", plural(unverified, "chain")))
	}
	if open > 0 {
		v.Warnings = append(v.Warnings, fmt.Sprintf("%s without a closing record (--open): a live file, a replica that stopped abruptly, or a tail cut off.", plural(open, "chain")+" end"))
	}
	if len(ver.Options.Keys) == 0 {
		v.Notes = append(v.Notes, "A chain cannot prove its own tail, nor that it was not rewritten with every hash computed anew: the signed checkpoints do (audit report --key, with the checkpoint key of the customer's Key Vault).")
	}
	return v
}

// signedView says what a chain's checkpoints prove, and whether every
// record of it is under a signature.
func signedView(c auditlog.Chain, keys bool) (text, bool) {
	switch {
	case !keys && c.Checkpoints == 0:
		return "no checkpoints", false
	case !keys:
		return clean(fmt.Sprintf("%d checkpoints, NOT checked (no --key)", c.Checkpoints)), false
	case !c.Signed:
		return "NO record signed", false
	case c.Unsigned == 0:
		return clean(fmt.Sprintf("every record signed (%d checkpoints)", c.Checkpoints)), true
	}
	return clean(fmt.Sprintf("signed through seq %d; %d records after it unsigned", c.SignedThrough, c.Unsigned)), false
}

// health is the audit trail's own record: how the chains link, the
// proxy's restarts, closes and policy loads, and what was refused before
// reaching the proxy's handler.
type health struct {
	Replicas    []replicaHealth
	Links       []linkRow
	LinksMore   int
	Duplicates  int
	Genesis     []proxyRow
	Closes      []proxyRow
	Policies    []proxyRow
	Rejected    int
	Connections table
	ConnRows    []proxyRow
	ConnCount   int
	ConnShown   int
	OtherKinds  table
	Unreadable  []unreadableRow
	UnreadMore  int
}

type replicaHealth struct {
	Name                                             text
	Records, Calls, Genesis, Closes, Policies, Conns int
	First, Last                                      string
	// FirstSeq and LastSeq are the lowest and highest seq given.
	FirstSeq, LastSeq uint64
}

type linkRow struct {
	Replica text
	Seq     uint64
	Time    string
	What    string
	Head    bool
}

type proxyRow struct {
	Time     string
	Replica  text
	Seq      uint64
	Version  text
	Digest   text
	Decision text
	Rejected bool
	Error    text
	Note     string
	IP       text
	Status   int
	Reason   text
}

type unreadableRow struct {
	Where  text
	Reason text
}

// Bounds of the health lists.
const (
	maxLinks      = 50
	maxConnRows   = 100
	maxUnreadable = 100
)

func (b *builder) health(recs []*auditlog.Record, ver Verification) {
	h := &b.p.Health
	byReplica := map[string]*replicaHealth{}
	hashes := map[string]int{}
	for _, r := range recs {
		if r.Hash != "" {
			hashes[r.Hash]++
		}
	}
	for _, n := range hashes {
		if n > 1 {
			h.Duplicates += n - 1
		}
	}
	conns := ranking{}
	kinds := map[string]int{}
	var connRows []proxyRow
	// Each replica's sequence numbers, to say what a missing link lacks:
	// records are in time order, and a call's time is when it began, so a
	// slow call's record comes after records with higher numbers.
	seqs := map[string][]uint64{}
	for _, r := range recs {
		seqs[r.Replica] = append(seqs[r.Replica], r.Seq)
	}
	for _, s := range seqs {
		slices.Sort(s)
	}
	for _, r := range recs {
		rh := byReplica[r.Replica]
		if rh == nil {
			rh = &replicaHealth{Name: clean(r.Replica), First: stamp(r.Time), FirstSeq: seqs[r.Replica][0], LastSeq: seqs[r.Replica][len(seqs[r.Replica])-1]}
			byReplica[r.Replica] = rh
		}
		rh.Records++
		rh.Last = stamp(r.Time)
		// A record whose prev is the hash of no record given follows a
		// record that is missing: the chain's head, cut off (rotated away,
		// or an export's window), if nothing of the replica comes before
		// it; a gap otherwise.
		if r.Prev != "" && hashes[r.Prev] == 0 {
			row := linkRow{Replica: clean(r.Replica), Seq: r.Seq, Time: stamp(r.Time)}
			s := seqs[r.Replica]
			i, _ := slices.BinarySearch(s, r.Seq)
			switch {
			case i == 0:
				row.Head = true
				row.What = fmt.Sprintf("the head is in no input: the records before seq %d are not here", r.Seq)
			case s[i-1]+1 < r.Seq:
				row.What = fmt.Sprintf("records %d to %d are missing", s[i-1]+1, r.Seq-1)
			default:
				row.What = fmt.Sprintf("does not follow the seq %d given: that record was altered, or this one is of another chain", s[i-1])
			}
			if len(h.Links) < maxLinks {
				h.Links = append(h.Links, row)
			} else {
				h.LinksMore++
			}
		}
		switch r.Kind {
		case "":
			rh.Calls++
		case "genesis":
			rh.Genesis++
			row := newProxyRow(r)
			row.Note = "a new chain (seq 0)"
			if r.Seq > 0 || r.Prev != "" {
				row.Note = "a restart continuing the chain"
			}
			h.Genesis = append(h.Genesis, row)
		case "close":
			rh.Closes++
			h.Closes = append(h.Closes, newProxyRow(r))
		case "policy":
			rh.Policies++
			row := newProxyRow(r)
			row.Rejected = r.Decision != "loaded"
			if row.Rejected {
				h.Rejected++
			}
			h.Policies = append(h.Policies, row)
		case "connection":
			rh.Conns++
			h.ConnCount++
			conns.add(r.Reason, r.Caller.IP, r.Decision)
			connRows = append(connRows, newProxyRow(r))
		default:
			kinds[r.Kind]++
		}
	}
	for _, name := range sortedKeys(byReplica) {
		h.Replicas = append(h.Replicas, *byReplica[name])
	}
	h.Connections = connTable(conns)
	// The most recent connection refusals, newest first.
	slices.Reverse(connRows)
	h.ConnShown = min(len(connRows), maxConnRows)
	h.ConnRows = connRows[:h.ConnShown]
	h.OtherKinds = table{LabelHeader: "kind", Columns: []string{"records"}}
	for _, k := range sortedKeys(kinds) {
		h.OtherKinds.Rows = append(h.OtherKinds.Rows, tableRow{Label: clean(k), Code: true, Counts: []int{kinds[k]}})
	}
	for i, u := range ver.Unreadable {
		if i == maxUnreadable {
			h.UnreadMore = len(ver.Unreadable) - i
			break
		}
		h.Unreadable = append(h.Unreadable, unreadableRow{Where: clean(u.Position.String()), Reason: clean(u.Reason)})
	}
}

func newProxyRow(r *auditlog.Record) proxyRow {
	return proxyRow{Time: r.Time.UTC().Format(millisLayout), Replica: clean(r.Replica), Seq: r.Seq, Version: clean(r.ProxyVersion),
		Digest: clean(r.PolicyDigest), Decision: clean(r.Decision), Error: clean(r.Error), IP: clean(r.Caller.IP),
		Status: r.Status, Reason: clean(r.Reason)}
}

func connTable(m ranking) table {
	rows, _ := m.top(len(m), func(r *ranked) int { return r.tally.Calls })
	t := table{LabelHeader: "reason", Columns: []string{"connections", "client IPs"}, HasBar: true}
	peak := 0
	for _, r := range rows {
		peak = max(peak, r.n)
	}
	for _, r := range rows {
		row := tableRow{Label: clean(r.key), Counts: []int{r.n, len(r.callers)},
			Bar: newInlineBar([]int{r.n}, []string{deny}, []string{"refused"}, peak)}
		if r.key == "" {
			row.Label, row.Missing = "no reason given", true
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
