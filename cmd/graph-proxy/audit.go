package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

const auditUsage = `Usage:
  graph-proxy audit verify [--open] [--allow-partial-head] FILE|DIR...
      (files in any order: they are put in chain order by their records;
      a directory stands for the regular files in it. A file is JSON lines,
      as the proxy writes them, or the GraphProxyAudit_CL table's rows
      exported from Log Analytics, told apart by their content: the JSON of
      az monitor log-analytics query -o json, or the portal's Export to CSV;
      their rows may come in any order. docs/audit.md, "Verifying what Log
      Analytics holds")
  graph-proxy audit summary [--top N] FILE...
`

func auditCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return usageError("audit: no subcommand given")
	}
	switch args[0] {
	case "verify":
		return auditVerify(args[1:], stdout, stderr)
	case "summary":
		return auditSummary(args[1:], stdout, stderr)
	case "report":
		return auditReport(args[1:], stdout, stderr)
	default:
		fmt.Fprint(stderr, auditUsage)
		return usageError("audit: unknown subcommand %q", args[0])
	}
}

// auditVerify proves a log complete and untampered from each chain's
// genesis to its closing record, or names the first bad record and exits
// 1. A head not verified (--allow-partial-head) is said so, on stdout and
// stderr, never passed over in silence; so are the rows of an export that
// repeat a record, which are counted, listed and otherwise passed over.
func auditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", stderr)
	open := fs.Bool("open", false, "accept chains without their closing record (a live file, or a replica that stopped abruptly)")
	partial := fs.Bool("allow-partial-head", false, "accept, per replica, a chain whose first records are in no file given (the oldest files rotated away); its head is reported NOT verified")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() == 0 {
		return usageError("audit verify: name at least one file or directory")
	}
	v := &auditlog.Verifier{Open: *open, AllowPartialHead: *partial}
	for _, name := range fs.Args() {
		if err := v.AddPath(name); err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
	}
	res, err := v.Done()
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "audit verify: skipped %s: not a regular file (directories are not searched recursively)\n", s)
	}
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %d records, %d chain(s) intact\n", res.Records, len(res.Chains))
	if n := len(res.Duplicates); n > 0 {
		fmt.Fprintf(stdout, "  %d duplicate row(s), each a byte-identical copy of a record counted once (Log Analytics ingested it twice, or exports overlap):\n", n)
		for i, d := range res.Duplicates {
			if i == maxDuplicatesListed {
				fmt.Fprintf(stdout, "    and %d more\n", n-i)
				break
			}
			fmt.Fprintf(stdout, "    %s repeats %s\n", d.At, d.Of)
		}
	}
	unverified := 0
	for _, c := range res.Chains {
		head := fmt.Sprintf("head verified: seq 0 at %s", c.Head)
		if !c.HeadVerified {
			unverified++
			head = fmt.Sprintf("head NOT verified: checked from seq %d at %s; the records before it are in no file given", c.FirstSeq, c.Head)
		}
		tail := fmt.Sprintf("closed at %s", c.Tail)
		if !c.Closed {
			tail = fmt.Sprintf("open: no closing record after %s", c.Tail)
		}
		fmt.Fprintf(stdout, "  replica %s: seq %d to %d, %d records; %s; %s\n", strings.Join(c.Replicas, " then "), c.FirstSeq, c.LastSeq, c.Records, head, tail)
		fmt.Fprintf(stdout, "    files in chain order: %s\n", strings.Join(c.Files, " "))
	}
	if unverified > 0 {
		fmt.Fprintf(stderr, "audit verify: warning: the head of %d chain(s) was NOT verified (--allow-partial-head): records before their first record given may have been removed\n", unverified)
	}
	return nil
}

// maxDuplicatesListed bounds the duplicate rows verify lists by name: a
// retried upload can repeat hundreds.
const maxDuplicatesListed = 10

func auditSummary(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit summary", stderr)
	top := fs.Int("top", 10, "how many refused paths to list")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() == 0 {
		return usageError("audit summary: name at least one file")
	}
	s := auditlog.NewSummary()
	for _, name := range fs.Args() {
		if err := readAudit(name, s.Add); err != nil {
			return err
		}
	}
	s.Write(stdout, *top)
	return nil
}
