package main

import (
	"fmt"
	"io"
	"os"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

const auditUsage = `Usage:
  graph-proxy audit verify [--open] FILE...     (rotated files oldest first: audit.jsonl.2 audit.jsonl.1 audit.jsonl)
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
	default:
		fmt.Fprint(stderr, auditUsage)
		return usageError("audit: unknown subcommand %q", args[0])
	}
}

// auditVerify proves a log complete and untampered, or names the first bad
// record and exits 1.
func auditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", stderr)
	open := fs.Bool("open", false, "accept chains without their closing record (a live file)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() == 0 {
		return usageError("audit verify: name at least one file")
	}
	v := &auditlog.Verifier{Open: *open}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = v.Add(name, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
	}
	res, err := v.Done()
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %d records, %d chain(s) intact\n", res.Records, len(res.Chains))
	for r, seq := range res.Chains {
		fmt.Fprintf(stdout, "  replica %s: through seq %d\n", r, seq)
	}
	return nil
}

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
