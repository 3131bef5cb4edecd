package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
)

const policyUsage = `Usage:
  graph-proxy policy lint FILE...
  graph-proxy policy explain [--policy FILE] --caller NAME [--body FILE] [--content-type TYPE] METHOD URL
  graph-proxy policy suggest --from AUDIT.jsonl [--from ...]
  graph-proxy policy permissions FILE      (the Graph application permissions the proxy's identity needs, one a line)
`

// policyCmd runs the policy tools. They read files only: no network.
func policyCmd(_ context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return usageError("policy: no subcommand given")
	}
	switch args[0] {
	case "lint":
		return policyLint(args[1:], stdout, stderr)
	case "explain":
		return policyExplain(args[1:], env, stdout, stderr)
	case "suggest":
		return policySuggest(args[1:], stdout, stderr)
	case "permissions":
		return policyPermissions(args[1:], stdout, stderr)
	default:
		fmt.Fprint(stderr, policyUsage)
		return usageError("policy: unknown subcommand %q", args[0])
	}
}

// policyLint checks policy files as serve would load them; exit 2 if any
// is invalid.
func policyLint(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy lint", stderr)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() == 0 {
		return usageError("policy lint: name at least one policy file")
	}
	bad := 0
	for _, f := range fs.Args() {
		p, err := policy.LoadFile(f)
		if err != nil {
			fmt.Fprintln(stdout, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%d callers, mode %s, %s)\n", f, len(p.Callers()), modeName(p), p.Digest)
	}
	if bad > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%d of %d policy files are invalid", bad, fs.NArg())}
	}
	return nil
}

// policyExplain shows the canonical form of one call and the decision on
// it, with the detailed reason the caller never sees.
func policyExplain(args, env []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy explain", stderr)
	file := fs.String("policy", lookupEnv(env, "GRAPH_PROXY_POLICY_FILE"), "policy file (default $GRAPH_PROXY_POLICY_FILE)")
	callerName := fs.String("caller", "", "the caller (callers[].name) making the call")
	bodyFile := fs.String("body", "", "a file holding the request body")
	ct := fs.String("content-type", "application/json", "the body's Content-Type")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() != 2 || *callerName == "" || *file == "" {
		fmt.Fprint(stderr, policyUsage)
		return usageError("policy explain: needs --policy, --caller, METHOD and URL")
	}
	p, err := policy.LoadFile(*file)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	u, err := url.Parse(fs.Arg(1))
	if err != nil {
		return usageError("policy explain: %v", err)
	}
	var body []byte
	if *bodyFile != "" {
		if body, err = os.ReadFile(*bodyFile); err != nil {
			return err
		}
	}
	req, err := policy.ParseRequest(fs.Arg(0), u)
	switch {
	case errors.Is(err, policy.ErrNotGraph):
		fmt.Fprintf(stdout, "not a Graph call: the proxy answers 404 (graphProxy.notFound)\n")
		return nil
	case err != nil:
		fmt.Fprintf(stdout, "refused before any rule: %v\n", strings.TrimPrefix(err.Error(), "policy: "))
		return nil
	}
	fmt.Fprintf(stdout, "canonical request:\n  method   %s\n  version  %s\n  path     %s\n  segments %q\n  query    %v\n",
		req.Method, req.Version, req.Path, req.Segments, req.Query)
	if len(req.Select) > 0 {
		fmt.Fprintf(stdout, "  $select  %v\n", req.Select)
	}
	d := p.Decide(policy.Args{Caller: *callerName, Request: req, ContentType: *ct, Body: body})
	printDecision(stdout, "", d)
	for _, sd := range d.Batch {
		fmt.Fprintf(stdout, "batch request %q: %s %s %s\n", sd.ID, sd.Request.Method, sd.Request.Version, sd.Request.Path)
		printDecision(stdout, "  ", sd.Decision)
	}
	return nil
}

func printDecision(w io.Writer, indent string, d policy.Decision) {
	fmt.Fprintf(w, "%sdecision: %s\n", indent, d.Result)
	if d.RuleID != "" {
		fmt.Fprintf(w, "%s  rule       %s (%s, %s)\n", indent, d.RuleID, d.Route, d.Permission)
	}
	if len(d.Targets) > 0 {
		fmt.Fprintf(w, "%s  targets    %s\n", indent, strings.Join(d.Targets, ", "))
	}
	if d.Group != "" && len(d.Targets) > 0 {
		fmt.Fprintf(w, "%s  scope      every target must be a member of group %s (checked by the proxy through Graph)\n", indent, d.Group)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, "%s  reason     %s\n", indent, d.Reason)
	}
}

// policyPermissions lists the Graph application permissions the proxy's
// identity needs for a policy: what scripts/Grant-GraphPermissions.ps1
// grants.
func policyPermissions(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy permissions", stderr)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() != 1 {
		return usageError("policy permissions: name one policy file")
	}
	p, err := policy.LoadFile(fs.Arg(0))
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	for _, perm := range p.Permissions() {
		fmt.Fprintln(stdout, perm)
	}
	return nil
}

// policySuggest writes a least-privilege policy from observed traffic,
// typically a report-only period's audit log.
func policySuggest(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy suggest", stderr)
	var from multiFlag
	fs.Var(&from, "from", "an audit log (JSON lines); repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(from) == 0 {
		return usageError("policy suggest: name at least one --from audit log")
	}
	var obs []policy.Observation
	for _, f := range from {
		err := readAudit(f, func(r auditlog.Record) {
			// Observed traffic only: calls that were forwarded.
			if r.Decision != "allow" && r.Decision != "report" {
				return
			}
			obs = append(obs, policy.Observation{Caller: r.Caller.Name, TenantID: r.Caller.TenantID, AppID: r.Caller.AppID,
				Method: r.Method, Version: r.Version, Path: r.Path, Query: r.Query})
		})
		if err != nil {
			return err
		}
	}
	out, err := policy.Suggest(obs)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// readAudit calls fn with every record of an audit log.
func readAudit(name string, fn func(auditlog.Record)) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var r auditlog.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s:%d: not an audit record: %w", name, line, err)
		}
		fn(r)
	}
	return sc.Err()
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var _ flag.Value = (*multiFlag)(nil)
