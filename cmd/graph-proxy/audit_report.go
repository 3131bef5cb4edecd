package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog/report"
)

const auditReportUsage = `Usage:
  graph-proxy audit report [--title T] [-o FILE] [--open] [--allow-partial-head]
      [--key KEY]... [--calls-per-caller N] [--top N] [--no-generated-at] FILE|DIR...

Writes one self-contained HTML page for an auditor's review of the audit
files given (a directory stands for the regular files in it) — JSON lines
as the proxy writes them, or the GraphProxyAudit_CL table's rows exported
from Log Analytics (az monitor log-analytics query -o json, the portal's
CSV): the chains verified, as audit verify does, per replica, and with
--key the checkpoints' signatures; calls over time by caller and
decision; refusals by reason and rule; top routes, permissions and people;
Graph's statuses, throttling and latency; the audit trail's health; and each
caller's calls. The page runs no script and loads nothing (inline SVG, a
Content-Security-Policy of default-src 'none'); it is written to FILE, or to
standard output. It exits 1 when a chain is not intact, after writing the
page, which says so at its top.

Flags:
`

// auditReport writes the audit report page. Like audit verify, it fails
// closed: a page over chains that are not intact is written, so that the
// auditor sees what is there, but the exit status says it is not proven.
func auditReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit report", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, auditReportUsage)
		fs.PrintDefaults()
	}
	title := fs.String("title", report.DefaultTitle, "the page's title")
	out := fs.String("o", "", "write the page to `FILE`, replaced whole (default standard output)")
	open := fs.Bool("open", false, "accept chains without their closing record (a live file); the page says their tails are open")
	partial := fs.Bool("allow-partial-head", false, "accept, per replica, a chain whose first records are in no file given; the page says that head is NOT verified")
	var keyArgs multiFlag
	fs.Var(&keyArgs, "key", "verify the checkpoints' signatures with this `KEY`: a Key Vault key identifier or a public key file (repeatable)")
	perCaller := fs.Int("calls-per-caller", 500, "list at most `N` of each caller's most recent calls")
	top := fs.Int("top", 20, "rows of each ranking table (routes, permissions, people, refusals)")
	noStamp := fs.Bool("no-generated-at", false, "leave out when the page was made, so that the same files give the same page")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage, err: err}
	}
	switch {
	case fs.NArg() == 0:
		return usageError("audit report: name at least one file or directory")
	case *perCaller < 1:
		return usageError("audit report: --calls-per-caller must be at least 1")
	case *top < 1:
		return usageError("audit report: --top must be at least 1")
	}
	keys, err := checkpointKeys(keyArgs)
	if err != nil {
		return fmt.Errorf("audit report: --key: %w", err)
	}
	records, ver, err := report.Load(fs.Args(), report.LoadOptions{Open: *open, AllowPartialHead: *partial, Keys: keys})
	if err != nil {
		return fmt.Errorf("audit report: %w", err)
	}
	for _, s := range ver.Skipped {
		fmt.Fprintf(stderr, "audit report: skipped %s: not a regular file (directories are not searched recursively)\n", s)
	}
	opts := report.Options{Title: *title, Generator: "graph-proxy " + version(), CallsPerCaller: *perCaller, Top: *top}
	if !*noStamp {
		opts.GeneratedAt = time.Now().UTC()
	}
	page := report.Build(records, ver, opts)
	dest, status := "standard output", stderr
	if *out == "" {
		err = page.WriteHTML(stdout)
	} else {
		dest, status = *out, stdout
		err = replaceFile(*out, page.WriteHTML)
	}
	if err != nil {
		return fmt.Errorf("audit report: %w", err)
	}
	if !ver.Intact() {
		return &exitError{code: exitFailure, err: fmt.Errorf("audit report: the page is written to %s and says at its top that the audit chain is NOT intact: %w", dest, ver.Err)}
	}
	unverified, unclosed := 0, 0
	for _, c := range ver.Verified.Chains {
		if !c.HeadVerified {
			unverified++
		}
		if !c.Closed {
			unclosed++
		}
	}
	fmt.Fprintf(status, "audit report: %s: %d records, %d chain(s) intact\n", dest, ver.Verified.Records, len(ver.Verified.Chains))
	if unverified > 0 {
		fmt.Fprintf(stderr, "audit report: warning: the head of %d chain(s) was NOT verified (--allow-partial-head); the page says so\n", unverified)
	}
	if unclosed > 0 {
		fmt.Fprintf(stderr, "audit report: warning: %d chain(s) end without their closing record (--open); the page says so\n", unclosed)
	}
	return nil
}

// replaceFile writes name through write, whole or not at all: into a
// temporary file beside it (mode 0600: the page names callers, people and
// IPs), renamed over name once written and synced.
func replaceFile(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
