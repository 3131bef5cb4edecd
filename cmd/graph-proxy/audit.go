package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/vaultkey"
)

const auditUsage = `Usage:
  graph-proxy audit verify [--open] [--allow-partial-head] [--key KEY]... FILE|DIR...
      (files in any order: they are put in chain order by their records;
      a directory stands for the regular files in it. A file is JSON lines,
      as the proxy writes them, or the GraphProxyAudit_CL table's rows
      exported from Log Analytics, told apart by their content: the JSON of
      az monitor log-analytics query -o json, or the portal's Export to CSV;
      their rows may come in any order. docs/audit.md, "Verifying what Log
      Analytics holds")
      --key verifies the signed checkpoints with KEY: the Key Vault key's
      identifier (https://<vault>.vault.azure.net/keys/<name>, every
      version read with your Azure sign-in) or a file holding its public
      key (PEM, a JWK, or az keyvault key show's JSON); each chain must
      then end with a signed closing record (docs/audit.md, "Signed
      checkpoints")
  graph-proxy audit summary [--top N] FILE...
  graph-proxy audit report [flags] FILE|DIR...   (graph-proxy audit report -h)
  graph-proxy audit reconcile --graph-activity FILE --proxy-app ID FILE|DIR...
      (Graph's own activity log against the records: graph-proxy audit reconcile -h)
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
	case "reconcile":
		return auditReconcile(args[1:], stdout, stderr)
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
	var keyArgs multiFlag
	fs.Var(&keyArgs, "key", "verify checkpoint signatures with this key: a Key Vault key identifier or a public key file (repeatable)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() == 0 {
		return usageError("audit verify: name at least one file or directory")
	}
	keys, err := checkpointKeys(keyArgs)
	if err != nil {
		return fmt.Errorf("audit verify: --key: %w", err)
	}
	v := &auditlog.Verifier{Open: *open, AllowPartialHead: *partial, Keys: keys}
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
	unverified, unsigned := 0, 0
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
		if line := signatures(c, len(keys) > 0); line != "" {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
		if len(keys) > 0 && c.Unsigned > 0 {
			unsigned++
		}
	}
	if unsigned > 0 {
		fmt.Fprintf(stderr, "audit verify: warning: %d chain(s) end with records no signature covers (--open): records after their last signed head may have been cut or rewritten\n", unsigned)
	}
	if unverified > 0 {
		fmt.Fprintf(stderr, "audit verify: warning: the head of %d chain(s) was NOT verified (--allow-partial-head): records before their first record given may have been removed\n", unverified)
	}
	return nil
}

// signatures says what a chain's checkpoints prove.
func signatures(c auditlog.Chain, checked bool) string {
	failed := ""
	if c.CheckpointsFailed > 0 {
		failed = fmt.Sprintf("; %d could not be signed at the proxy (last: %s)", c.CheckpointsFailed, c.LastCheckpointError)
	}
	switch {
	case c.Checkpoints == 0 && !checked:
		return ""
	case c.Checkpoints == 0:
		return "signatures: none: the proxy wrote no checkpoints (audit.checkpoint.keyID unset)"
	case !checked:
		return fmt.Sprintf("signatures: %d checkpoint(s) NOT checked: give --key to prove the records under them%s", c.Checkpoints, failed)
	case !c.Signed:
		return fmt.Sprintf("signatures: %d checkpoint(s), none signed: no record is under a signature%s", c.Checkpoints, failed)
	case c.Unsigned == 0:
		return fmt.Sprintf("signatures: every record signed, through the closing record's head (seq %d); %d checkpoint(s) by %s%s",
			c.SignedThrough, c.Checkpoints, strings.Join(c.KeyIDs, ", "), failed)
	}
	return fmt.Sprintf("signatures: signed through seq %d (at %s) by %s; %d record(s) after it under no signature%s",
		c.SignedThrough, c.SignedAt.Format(time.RFC3339), strings.Join(c.KeyIDs, ", "), c.Unsigned, failed)
}

// checkpointKeys reads each --key: a Key Vault key identifier, read with
// the auditor's Azure sign-in, or a file.
func checkpointKeys(args []string) ([]auditlog.CheckpointKey, error) {
	var keys []auditlog.CheckpointKey
	for _, a := range args {
		if strings.HasPrefix(a, "https://") {
			o, err := vaultOptions()
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			k, err := vaultkey.PublicKeys(ctx, a, o)
			cancel()
			if err != nil {
				return nil, err
			}
			keys = append(keys, k...)
			continue
		}
		data, err := os.ReadFile(a)
		if err != nil {
			return nil, err
		}
		k, err := vaultkey.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// vaultOptions reach a vault with the auditor's own Azure sign-in (az
// login, environment, workload or managed identity). A variable, so that
// tests can reach the simulator's vault.
var vaultOptions = func() (vaultkey.Options, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return vaultkey.Options{}, fmt.Errorf("Azure sign-in: %w", err)
	}
	return vaultkey.Options{Credential: cred}, nil
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
