package auditlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Problem is the first thing wrong found in an audit log.
type Problem struct {
	File      string
	Line      int
	Replica   string
	Seq       uint64
	RequestID string
	Reason    string
	// Row reports that Line numbers a row of a Log Analytics export, not
	// a line of a file.
	Row bool
}

func (p *Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = Position{File: p.File, Line: p.Line, Row: p.Row}.String()
	}
	switch {
	case p.Replica != "":
		return fmt.Sprintf("%s: replica %s seq %d (request %s): %s", loc, p.Replica, p.Seq, p.RequestID, p.Reason)
	case loc == "":
		return p.Reason
	}
	return loc + ": " + p.Reason
}

// Position is a line of one of the verified inputs, or a row of an
// export: "audit.jsonl:12", "rows.csv row 12".
type Position struct {
	File string
	Line int
	// Row reports that Line numbers a row of a Log Analytics export,
	// counted from 1 (a CSV's header not counted), not a line.
	Row bool
}

func (p Position) String() string {
	if p.Row {
		return fmt.Sprintf("%s row %d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Chain describes one verified chain, from its head to its tail.
type Chain struct {
	// Replicas name the replicas that wrote the chain, in order: one,
	// unless a restart under another name continued the file's chain.
	Replicas []string
	// FirstSeq and LastSeq are the sequence numbers of the chain's first
	// and last records among the inputs.
	FirstSeq, LastSeq uint64
	Records           int
	// HeadVerified reports that the chain begins at its start: seq 0 with
	// no prev, the genesis record the proxy writes first, so that nothing
	// before it can have been removed. It is false only with
	// AllowPartialHead, for a chain whose first record given has a
	// predecessor that no input holds.
	HeadVerified bool
	Head, Tail   Position
	// Closed reports that the chain ends with its closing record.
	Closed bool
	// Files are the inputs that hold the chain, in chain order.
	Files []string

	// Checkpoints counts the chain's checkpoints (its signed close
	// included); CheckpointsFailed those the proxy could not have signed,
	// the newest failure's reason in LastCheckpointError.
	Checkpoints, CheckpointsFailed int
	LastCheckpointError            string
	// Signed reports that a checkpoint, its signature verified with the
	// keys given, proves every record up to SignedThrough, signed at
	// SignedAt by the keys KeyIDs. Unsigned counts the records after the
	// last signed head, the closing record that signs it not counted:
	// none in a chain closed with a signed close.
	Signed        bool
	SignedThrough uint64
	SignedAt      time.Time
	KeyIDs        []string
	Unsigned      uint64
}

// Verified describes a verified log.
type Verified struct {
	Records int
	// Chains are the chains found, ordered by replica and sequence.
	Chains []Chain
	// Skipped are directory entries AddPath passed over: not regular
	// files.
	Skipped []string
	// Duplicates are the export rows that repeat a record byte for byte
	// (Log Analytics ingested it twice, or two exports overlap): one for
	// each copy after the first. Records counts each record once, and a
	// duplicate is no Problem. Lines repeated in files are a Problem.
	Duplicates []Duplicate
}

// Verifier checks the hash chains of audit logs: rotated files, a
// directory of them, a stream (stdout) in which several replicas'
// records are interleaved, or the rows of the GraphProxyAudit_CL table
// exported from Log Analytics (as JSON by az monitor log-analytics query,
// or as CSV by the portal), whose rows may come in any order. The inputs
// may be added in any order: they are put in chain order by their
// records' sequence numbers and hashes, not by their names.
//
// Each chain must be unbroken from its start: every record unaltered and
// following the one before it with the next sequence number, across files
// too; its first record must be the chain's start (seq 0, no prev) —
// unless AllowPartialHead — so that a removed head is caught; and — unless
// Open — it must end with the closing record written at shutdown. Files
// that are missing between others, duplicated, or overlapping are
// reported. A restart that continues the chain (the file sink's) starts
// with a genesis record linked to the last record before it; one that
// starts a new chain starts at seq 0 again, and is a chain of its own.
//
// The zero Verifier fails closed: a chain that does not begin at its start
// or does not end with its closing record is a Problem.
type Verifier struct {
	// Open accepts chains that end without their closing record: a file
	// still being written, or a replica that stopped abruptly.
	Open bool
	// AllowPartialHead accepts input that lacks a replica's oldest
	// records (the oldest files were rotated away, or an export covers a
	// time window): the replica's oldest record given (by time) may follow
	// a record no input holds, and Done reports that chain's head as not
	// verified. Every link after it is checked as usual, so a gap further
	// on is still a Problem.
	AllowPartialHead bool
	// Keys verify the checkpoints' signatures (checkpoint.go). With
	// keys, every checkpoint must verify and sign a record the chain
	// holds with the hash it holds, and — unless Open — each chain must
	// end with a signed closing record, so that every record is under a
	// signature: rewriting history and hashing it anew, removing a file
	// or cutting the tail no longer goes unseen. Without keys,
	// checkpoints are counted, not checked.
	Keys []CheckpointKey

	files   int
	records int
	runs    []*run
	skipped []string
	seen    map[string]Position // the records read from exports, by hash
	dups    []Duplicate
}

// entry is what the verifier keeps of a record: where it is and how it
// links.
type entry struct {
	line    int
	time    time.Time
	seq     uint64
	replica string
	prev    string
	hash    string
	kind    string
	reqID   string
	cp      *Checkpoint
}

// start reports whether e is a chain's first record: only the start has
// no prev, and the hash covers both fields, so a start cannot be made of
// a later record without rewriting every hash after it.
func (e *entry) start() bool { return e.seq == 0 && e.prev == "" }

// run is a replica's consecutive records within one input: the unit that
// Done links into chains.
type run struct {
	file        string
	order       int  // which input, counted from 1
	rows        bool // an export's: lines are rows, in no particular order
	first, last entry
	records     int
	closed      bool
	pred, next  *run
	signed      signedRun
}

func (r *run) problem(e *entry, reason string) *Problem {
	return &Problem{File: r.file, Line: e.line, Row: r.rows, Replica: e.replica, Seq: e.seq, RequestID: e.reqID, Reason: reason}
}

// at is where the run's record at line is.
func (r *run) at(line int) Position { return Position{File: r.file, Line: line, Row: r.rows} }

// newRun starts a run at e, a replica's first record in an input or one
// that links to no record before it there.
func (v *Verifier) newRun(file string, order int, e entry, rows bool) (*run, error) {
	rn := &run{file: file, order: order, rows: rows, first: e}
	v.runs = append(v.runs, rn)
	return rn, v.append(rn, e)
}

// extend adds e to rn, if it follows rn's last record.
func (v *Verifier) extend(rn *run, e entry) error {
	if reason := follows(&rn.last, &e); reason != "" {
		return rn.problem(&e, reason)
	}
	return v.append(rn, e)
}

func (v *Verifier) append(rn *run, e entry) error {
	rn.last, rn.closed = e, e.kind == "close"
	rn.records++
	v.records++
	return v.checkpointed(rn, &e)
}

// maxLine bounds one line: far above any record the proxy writes (a
// record holds no body), it keeps a hostile input from exhausting memory.
const maxLine = 16 << 20

var errLongLine = errors.New("line too long")

// AddPath verifies the file at path or, for a directory, every regular
// file directly in it; other entries (subdirectories, sockets) are listed
// in Verified.Skipped. The order of files and paths does not matter.
func (v *Verifier) AddPath(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return v.addFile(path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := filepath.Join(path, e.Name())
		st, err := os.Stat(name) // a symlink counts as what it points to
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			v.skipped = append(v.skipped, name)
			continue
		}
		if err := v.addFile(name); err != nil {
			return err
		}
	}
	return nil
}

func (v *Verifier) addFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return v.Add(name, f)
}

// Add verifies one input's records: JSON lines, as the proxy writes them,
// line by line; or a Log Analytics export — a JSON array of rows (az
// monitor log-analytics query -o json), the query API's result, or the
// portal's CSV — told apart by its first bytes and read whole, its rows
// put in chain order. The links between inputs, the heads and the tails
// are checked by Done.
func (v *Verifier) Add(name string, r io.Reader) error {
	v.files++
	order := v.files
	br := bufio.NewReaderSize(r, sniffLen)
	if f := sniff(br); f != formatLines {
		return v.addExport(name, order, br, f)
	}
	runs := map[string]*run{} // replica → its current run in this input
	var buf []byte
	for line := 1; ; line++ {
		var err error
		buf, err = readLine(br, buf[:0])
		switch {
		case errors.Is(err, errLongLine):
			return &Problem{File: name, Line: line, Reason: fmt.Sprintf("a line longer than %d MB: not an audit record", maxLine>>20)}
		case err == io.EOF && len(buf) == 0:
			return nil
		case err == io.EOF:
			return &Problem{File: name, Line: line, Reason: "the last line is incomplete: the file was truncated"}
		case err != nil:
			return err
		}
		raw := buf[:len(buf)-1]
		if len(bytes.TrimSpace(raw)) == 0 {
			return &Problem{File: name, Line: line, Reason: "empty line"}
		}
		e, err := parseEntry(name, line, raw)
		if err != nil {
			return err
		}
		if rn := runs[e.replica]; rn == nil || e.start() {
			// A replica's first record in this input, or a new chain of
			// the same replica (a restart that did not continue the
			// chain): where it links, if anywhere, is for Done to find.
			if runs[e.replica], err = v.newRun(name, order, e, false); err != nil {
				return err
			}
		} else if err := v.extend(rn, e); err != nil {
			return err
		}
	}
}

// readLine appends the next line of br to buf, '\n' included; at the end
// of the input it returns io.EOF with what there was after the last '\n'.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			return buf, errLongLine
		}
		buf = append(buf, chunk...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

const reasonAltered = "the record was altered: its hash does not match its content"

// parseEntry checks one record on its own: a JSON object with exactly one
// hash, which matches the line.
func parseEntry(file string, line int, raw []byte) (entry, error) {
	var r struct {
		Time       time.Time   `json:"time"`
		Replica    string      `json:"replica"`
		Seq        uint64      `json:"seq"`
		Prev       string      `json:"prev"`
		Hash       string      `json:"hash"`
		Kind       string      `json:"kind"`
		RequestID  string      `json:"requestId"`
		Checkpoint *Checkpoint `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return entry{}, &Problem{File: file, Line: line, Reason: "not an audit record: " + err.Error()}
	}
	e := entry{line: line, time: r.Time, seq: r.Seq, replica: r.Replica, prev: r.Prev, hash: r.Hash, kind: r.Kind, reqID: r.RequestID, cp: r.Checkpoint}
	p := &Problem{File: file, Line: line, Replica: r.Replica, Seq: r.Seq, RequestID: r.RequestID}
	hashed, hash, ok := unseal(raw)
	if !ok || hash != r.Hash {
		p.Reason = "the record has no single hash field"
		return e, p
	}
	if lineHash(r.Prev, hashed) != r.Hash {
		p.Reason = reasonAltered
		return e, p
	}
	return e, nil
}

// follows returns why e cannot come right after last, the record before
// it of the same replica in the same input, or "".
func follows(last, e *entry) string {
	switch {
	case e.prev == last.hash && e.seq == last.seq+1:
		if last.kind == "close" && e.kind != "genesis" {
			// Only a restart continuing the chain may follow its close.
			return "the chain continues after its closing record"
		}
		return ""
	case e.seq == last.seq+1:
		return "the record does not follow the one before it (lines removed, reordered or inserted)"
	case e.seq > last.seq+1:
		return fmt.Sprintf("records %d to %d are missing", last.seq+1, e.seq-1)
	}
	return fmt.Sprintf("out of order: seq %d after seq %d", e.seq, last.seq)
}
