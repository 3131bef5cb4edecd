package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// LoadOptions are the verifier's settings, as `audit verify`'s flags.
// The zero value fails closed: every chain must begin at its genesis
// record and end with its closing record.
type LoadOptions struct {
	// Open accepts chains that end without their closing record (a file
	// still being written).
	Open bool
	// AllowPartialHead accepts, per replica, a chain whose first records
	// are in no input; the page says that head is not verified.
	AllowPartialHead bool
	// Keys verify the checkpoints' signatures (auditlog.Verifier.Keys);
	// without them the page says the signatures were not checked.
	Keys []auditlog.CheckpointKey
}

// Verification is what verifying the inputs found: the verdict of
// auditlog.Verifier over all of them, the verdict for each replica, and
// what was read.
type Verification struct {
	// Options are the verifier's settings.
	Options LoadOptions
	// Err is nil when every chain is intact; otherwise it is the first
	// problem found, the one `audit verify` reports (an
	// *auditlog.Problem). The zero Verification is not intact: Verified
	// then holds no chain, and the page says nothing was verified.
	Err error
	// Verified is the verifier's result when Err is nil.
	Verified auditlog.Verified
	// Replicas are the verdicts per replica, ordered by name.
	Replicas []Replica
	// Inputs are the files read, in the order read.
	Inputs []Input
	// Unreadable are the lines that are not audit records.
	Unreadable []Unreadable
	// Skipped are directory entries passed over: not regular files.
	Skipped []string
}

// Intact reports whether every chain of the inputs was verified.
func (v *Verification) Intact() bool { return v.Err == nil && len(v.Verified.Chains) > 0 }

// Replica is one replica's verdict.
type Replica struct {
	Name string
	// Err is why the replica's records do not form intact chains, nil
	// when they do. A restart under another name continues the chain of
	// the replica before it, so replicas linked that way are verified
	// together and share their verdict.
	Err error
	// Chains are the chains that hold the replica's records, when Err is
	// nil.
	Chains []auditlog.Chain
}

// Input is one file read.
type Input struct {
	Name    string
	Bytes   int64
	Records int
	// SHA256 is the hex SHA-256 of the file's content as read, which ties
	// the page to the evidence it was made from.
	SHA256 string
}

// Unreadable is a line that is not an audit record.
type Unreadable struct {
	auditlog.Position
	Reason string
}

// maxLine is the verifier's bound on a line: no record comes near it.
const maxLine = 16 << 20

// Load reads the audit files at paths — a directory stands for the
// regular files directly in it — and verifies their chains as `audit
// verify` does: the same files, in the same order, with the same settings.
// When that verdict is not intact, each group of linked replicas is
// verified again on its own, so that one broken replica does not leave the
// others without a verdict.
//
// Lines that are not records are skipped and listed in
// Verification.Unreadable (they also break the chain). The error is for
// inputs that cannot be read at all: a missing file, a permission denied,
// an export row that holds no record. A Log Analytics export (the JSON of
// az monitor log-analytics query, the query API's answer, the portal's
// CSV) is verified as audit verify verifies it, and its records read in
// chain order (auditlog.ExportLines); problems found per replica name its
// rows.
func Load(paths []string, opts LoadOptions) ([]auditlog.Record, Verification, error) {
	ver := Verification{Options: opts}
	files, err := expand(paths, &ver.Skipped)
	if err != nil {
		return nil, ver, err
	}
	all := &auditlog.Verifier{Open: opts.Open, AllowPartialHead: opts.AllowPartialHead, Keys: opts.Keys}
	var recs []auditlog.Record
	// lineReplica[i][j] is the replica (an index into names) of line j+1 of
	// files[i], or -1 for a line that is not a record: the per-replica
	// pass needs it, without keeping the files in memory.
	lineReplica := make([][]int32, len(files))
	names := map[string]int32{}
	var replicas []string
	exports := map[string]export{}
	for i, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, ver, err
		}
		sum := sha256.Sum256(data)
		in := Input{Name: name, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		if ver.Err == nil {
			// The verifier stops at its first problem, as `audit verify`
			// does: its verdict is that problem; the records are read on.
			if err := all.Add(name, bytes.NewReader(data)); err != nil {
				ver.Err = err
			}
		}
		if auditlog.IsExport(data) {
			// The export's records, as lines in chain order: what the
			// rest reads, the per-replica pass included.
			lines, rows, err := auditlog.ExportLines(name, bytes.NewReader(data))
			if err != nil {
				return nil, ver, err
			}
			data = append(bytes.Join(lines, []byte("\n")), '\n')
			exports[name] = export{data: data, rows: rows}
		}
		readLines(data, func(line int, r *auditlog.Record, reason string) {
			if r == nil {
				ver.Unreadable = append(ver.Unreadable, Unreadable{Position: auditlog.Position{File: name, Line: line}, Reason: reason})
				lineReplica[i] = append(lineReplica[i], -1)
				return
			}
			k, ok := names[r.Replica]
			if !ok {
				k = int32(len(replicas))
				names[r.Replica] = k
				replicas = append(replicas, r.Replica)
			}
			lineReplica[i] = append(lineReplica[i], k)
			recs = append(recs, *r)
			in.Records++
		})
		ver.Inputs = append(ver.Inputs, in)
	}
	if ver.Err == nil {
		ver.Verified, ver.Err = all.Done()
	}
	if ver.Err == nil {
		byName := map[string][]auditlog.Chain{}
		for _, c := range ver.Verified.Chains {
			for _, r := range slices.Compact(slices.Clone(c.Replicas)) {
				byName[r] = append(byName[r], c)
			}
		}
		for _, name := range sortedKeys(byName) {
			ver.Replicas = append(ver.Replicas, Replica{Name: name, Chains: byName[name]})
		}
		return recs, ver, nil
	}
	ver.Replicas, err = verifyEach(files, exports, lineReplica, replicas, recs, opts)
	return recs, ver, err
}

// export is a Log Analytics export as Load reads it: its records' lines
// in chain order, and the row each came from.
type export struct {
	data []byte
	rows []int
}

// expand lists the files paths stand for, as Verifier.AddPath does.
func expand(paths []string, skipped *[]string) ([]string, error) {
	var files []string
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, path)
			continue
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name := filepath.Join(path, e.Name())
			st, err := os.Stat(name) // a symlink counts as what it points to
			if err != nil {
				return nil, err
			}
			if !st.Mode().IsRegular() {
				*skipped = append(*skipped, name)
				continue
			}
			files = append(files, name)
		}
	}
	return files, nil
}

// readLines calls fn with each record of JSON lines, or, for a line that
// is none, with a nil record and why not.
func readLines(data []byte, fn func(line int, r *auditlog.Record, reason string)) {
	forEachLine(data, func(line int, raw []byte, complete bool) {
		var r auditlog.Record
		reason := ""
		switch {
		case !complete:
			reason = "the last line is incomplete: the file was truncated"
		case len(raw) > maxLine:
			reason = fmt.Sprintf("a line longer than %d MB: not an audit record", maxLine>>20)
		case len(bytes.TrimSpace(raw)) == 0:
			reason = "empty line"
		default:
			if err := json.Unmarshal(raw, &r); err != nil {
				reason = "not an audit record: " + err.Error()
			}
		}
		if reason != "" {
			fn(line, nil, reason)
			return
		}
		fn(line, &r, "")
	})
}

// forEachLine calls fn with each line of data, without its '\n'; the last
// one, if data does not end with '\n', is not complete.
func forEachLine(data []byte, fn func(line int, raw []byte, complete bool)) {
	for line := 1; len(data) > 0; line++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fn(line, data, false)
			return
		}
		fn(line, data[:i], true)
		data = data[i+1:]
	}
}

// verifyEach verifies each group of linked replicas on its own: a replica
// whose genesis continues another replica's chain (a restart under a new
// name) is in that replica's group.
func verifyEach(files []string, exports map[string]export, lineReplica [][]int32, replicas []string, recs []auditlog.Record, opts LoadOptions) ([]Replica, error) {
	group, n := groups(replicas, recs)
	verifiers := make([]*auditlog.Verifier, n)
	for g := range verifiers {
		verifiers[g] = &auditlog.Verifier{Open: opts.Open, AllowPartialHead: opts.AllowPartialHead, Keys: opts.Keys}
	}
	errs := make([]error, n)
	// lines[g][file] are the file's own line numbers of the lines given to
	// group g's verifier, whose problems count lines in what it was given.
	lines := make([]map[string][]int, n)
	for g := range lines {
		lines[g] = map[string][]int{}
	}
	for i, name := range files {
		ex, isExport := exports[name]
		data := ex.data
		if !isExport {
			var err error
			if data, err = os.ReadFile(name); err != nil {
				return nil, err
			}
		}
		parts := make([]*bytes.Buffer, n)
		forEachLine(data, func(line int, raw []byte, complete bool) {
			if line > len(lineReplica[i]) || lineReplica[i][line-1] < 0 || !complete {
				return // not a record, or appended since the first read
			}
			g := group[lineReplica[i][line-1]]
			if parts[g] == nil {
				parts[g] = &bytes.Buffer{}
			}
			parts[g].Write(raw)
			parts[g].WriteByte('\n')
			if isExport {
				line = ex.rows[line-1] // the row the record came from
			}
			lines[g][name] = append(lines[g][name], line)
		})
		for g, part := range parts {
			if part == nil || errs[g] != nil {
				continue
			}
			if err := verifiers[g].Add(name, part); err != nil {
				errs[g] = fileLine(err, lines[g], exports)
			}
		}
	}
	results := make([]auditlog.Verified, n)
	for g, v := range verifiers {
		if errs[g] == nil {
			res, err := v.Done()
			results[g], errs[g] = res, fileLine(err, lines[g], exports)
		}
	}
	out := make([]Replica, 0, len(replicas))
	for k, name := range replicas {
		r := Replica{Name: name, Err: errs[group[k]]}
		if r.Err == nil {
			for _, c := range results[group[k]].Chains {
				if slices.Contains(c.Replicas, name) {
					r.Chains = append(r.Chains, fileLines(c, lines[group[k]], exports))
				}
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Replica) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// fileLine maps the line of a problem found in a group's part of a file
// back to the file's own line.
// An export's lines map to its rows.
func fileLine(err error, lines map[string][]int, exports map[string]export) error {
	var p *auditlog.Problem
	if !errors.As(err, &p) {
		return err
	}
	q := *p
	q.Line = mapLine(lines, p.File, p.Line)
	_, q.Row = exports[p.File]
	return &q
}

// fileLines maps a chain's head and tail positions as fileLine does.
func fileLines(c auditlog.Chain, lines map[string][]int, exports map[string]export) auditlog.Chain {
	c.Head.Line = mapLine(lines, c.Head.File, c.Head.Line)
	c.Tail.Line = mapLine(lines, c.Tail.File, c.Tail.Line)
	_, c.Head.Row = exports[c.Head.File]
	_, c.Tail.Row = exports[c.Tail.File]
	return c
}

func mapLine(lines map[string][]int, file string, line int) int {
	if l := lines[file]; line >= 1 && line <= len(l) {
		return l[line-1]
	}
	return line
}

// groups numbers the n groups of linked replicas: group[k] for
// replicas[k].
// A record whose prev is the hash of another replica's record links the
// two.
func groups(replicas []string, recs []auditlog.Record) (group []int, n int) {
	index := make(map[string]int, len(replicas))
	for k, name := range replicas {
		index[name] = k
	}
	parent := make([]int, len(replicas))
	for k := range parent {
		parent[k] = k
	}
	var find func(int) int
	find = func(k int) int {
		for parent[k] != k {
			parent[k] = parent[parent[k]]
			k = parent[k]
		}
		return k
	}
	owner := make(map[string]int, len(recs))
	for _, r := range recs {
		if r.Hash != "" {
			owner[r.Hash] = index[r.Replica]
		}
	}
	for _, r := range recs {
		if o, ok := owner[r.Prev]; ok && r.Prev != "" {
			a, b := find(o), find(index[r.Replica])
			if a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	// Dense numbers, in order of first appearance.
	num := map[int]int{}
	group = make([]int, len(replicas))
	for k := range replicas {
		root := find(k)
		g, ok := num[root]
		if !ok {
			g = len(num)
			num[root] = g
		}
		group[k] = g
	}
	return group, len(num)
}
