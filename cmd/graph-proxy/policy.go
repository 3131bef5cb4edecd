package main

import (
	"bytes"
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
      (--policy defaults to $GRAPH_PROXY_POLICY_FILE. Exit 0: the call is forwarded;
      1: it is refused, or reported in report-only mode, where the policy would
      refuse it; 2: bad usage or a policy that does not load. Group membership
      (users.group) is checked by the running proxy only.)
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
		// Warnings do not stop a policy from loading: a path that can
		// never match filters nothing, and Graph adds properties.
		for _, w := range p.Warnings() {
			w.Reason = "warning: " + w.Reason
			fmt.Fprintln(stdout, w)
		}
	}
	if bad > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%d of %d policy files are invalid", bad, fs.NArg())}
	}
	return nil
}

// policyExplain shows the canonical form of one call and the decision on
// it, with the detailed reason the caller never sees. Its exit code is the
// verdict: 0 forwarded, 1 refused (or reported, in report-only mode), 2 an
// error; see policyUsage.
func policyExplain(args, env []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy explain", stderr)
	file := fs.String("policy", lookupEnv(env, "GRAPH_PROXY_POLICY_FILE"), "policy file (default $GRAPH_PROXY_POLICY_FILE)")
	callerName := fs.String("caller", "", "the caller (callers[].name) making the call")
	bodyFile := fs.String("body", "", "a file holding the request body")
	ct := fs.String("content-type", "application/json", "the body's Content-Type")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage, err: err}
	}
	var missing []string
	if *file == "" {
		missing = append(missing, "a policy file (--policy FILE or GRAPH_PROXY_POLICY_FILE)")
	}
	if *callerName == "" {
		missing = append(missing, "--caller NAME")
	}
	if fs.NArg() != 2 {
		missing = append(missing, "METHOD and URL, after the flags")
	}
	if len(missing) > 0 {
		fmt.Fprint(stderr, policyUsage)
		return usageError("policy explain: needs %s", strings.Join(missing, ", "))
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
			return usageError("policy explain: --body: %v", err)
		}
	}
	req, err := policy.ParseRequest(fs.Arg(0), u)
	switch {
	case errors.Is(err, policy.ErrNotGraph):
		fmt.Fprintf(stdout, "not a Graph call: the proxy answers 404 (graphProxy.notFound)\n")
		return refused("the proxy answers 404")
	case err != nil:
		fmt.Fprintf(stdout, "refused before any rule: %v\n", strings.TrimPrefix(err.Error(), "policy: "))
		fmt.Fprintf(stdout, "  answer        403 graphProxy.policyDenied\n")
		return refused("the proxy answers 403")
	}
	fmt.Fprintf(stdout, "canonical request:\n  method   %s\n  version  %s\n  path     %s\n  segments %q\n  query    %v\n",
		req.Method, req.Version, req.Path, req.Segments, req.Query)
	if len(req.Select) > 0 {
		fmt.Fprintf(stdout, "  $select  %v\n", req.Select)
	}
	d := p.Decide(policy.Args{Caller: *callerName, Request: req, ContentType: *ct, Body: body})
	printDecision(stdout, "", d, false)
	for _, sd := range d.Batch {
		fmt.Fprintf(stdout, "batch request %q: %s %s %s\n", sd.ID, sd.Request.Method, sd.Request.Version, sd.Request.Path)
		printDecision(stdout, "  ", sd.Decision, true)
	}
	switch d.Result {
	case policy.Allow:
		return nil
	case policy.Report:
		return refused("report-only mode forwards the call, but the policy would refuse it: " + answer(d))
	}
	return refused("the proxy answers " + answer(d))
}

// refused is policy explain's verdict on a call the proxy does not
// forward as allowed: exit 1.
func refused(why string) error {
	return &exitError{code: exitFailure, err: fmt.Errorf("policy explain: refused: %s", why)}
}

// answer is what the proxy answers a call refused by d, as proxy's
// error mapping writes it: 415 for a body under a Content-Type its route
// is not read as, 400 for a request it cannot read whole (a $batch with
// such a sub-request included), 403 for a call the policy does not allow.
func answer(d policy.Decision) string {
	switch {
	case d.Refusal == policy.RefusalMediaType && len(d.Batch) == 0:
		return "415 graphProxy.unsupportedMediaType"
	case d.Refusal != policy.RefusalPolicy:
		return "400 graphProxy.badRequest"
	}
	return "403 graphProxy.policyDenied"
}

// refusalKind names a $batch sub-request's kind of refusal; the batch's
// own answer is printed with the batch.
func refusalKind(r policy.Refusal) string {
	switch r {
	case policy.RefusalMediaType:
		return "unsupported media type (the batch is answered 400)"
	case policy.RefusalMalformed:
		return "malformed (the batch is answered 400)"
	}
	return "not allowed by the policy"
}

func printDecision(w io.Writer, indent string, d policy.Decision, sub bool) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s  %-13s %s\n", indent, label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "%sdecision: %s\n", indent, d.Result)
	switch {
	case d.Result == policy.Allow:
	case sub:
		line("refusal", "%s", refusalKind(d.Refusal))
	case d.Result == policy.Report:
		line("answer", "forwarded (report-only); enforcing, the proxy would answer %s", answer(d))
	default:
		line("answer", "%s", answer(d))
	}
	if d.RuleID != "" {
		line("rule", "%s (%s, %s)", d.RuleID, d.Route, d.Permission)
	}
	if len(d.Targets) > 0 {
		line("targets", "%s", strings.Join(d.Targets, ", "))
	}
	if d.Group != "" && len(d.Targets) > 0 {
		line("scope", "every target must be a member of group %s (checked by the proxy through Graph)", d.Group)
		if len(d.Unscoped) > 0 {
			line("unscoped", "%s (users.withoutGroup: no membership check)", strings.Join(d.Unscoped, ", "))
		}
	}
	if l := d.Lookup; l != nil {
		line("then", "the proxy reads %s?$select=%s and checks the people it names (%s) as if the call named them; anyone not allowed refuses the call", l.Path, l.Select, l.Kind)
	}
	// What Graph receives in place of what the caller sent: only for a
	// call that goes to Graph.
	if d.AddSelect != "" && d.Forwarded() {
		line("added", "$select=%s (rule %s lists the fields a caller may receive)", d.AddSelect, d.RuleID)
	}
	if d.ContentType != "" && d.Forwarded() {
		line("content-type", "%s (what Graph receives with the body)", d.ContentType)
	}
	if s := d.Response; s != nil && d.Forwarded() {
		label := "response"
		for _, l := range []struct {
			name  string
			paths []string
		}{{"fields", s.Fields}, {"select", s.Select}, {"redact", s.Redact}, {"pseudonymise", s.Pseudonymise}} {
			if len(l.paths) > 0 {
				line(label, "%-13s %s", l.name, strings.Join(l.paths, ", "))
				label = ""
			}
		}
		line("", "what Graph answers is filtered so (pseudonyms keyed by pseudonymKey); an error answer keeps Graph's error shape only")
	}
	if d.Reason != "" {
		line("reason", "%s", d.Reason)
	}
}

// policyPermissions lists the Graph application permissions the proxy's
// identity needs for a policy (policy.Policy.Permissions: the rules', and
// those of the proxy's own reads of the items replies and event changes
// refer to): what scripts/Grant-GraphPermissions.ps1 grants and
// graph-proxy check expects the token to hold.
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
// readAudit hands fn the records of an audit file: JSON lines, as the
// proxy writes them, or the GraphProxyAudit_CL table's rows exported from
// Log Analytics (in chain order).
func readAudit(name string, fn func(auditlog.Record)) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if auditlog.IsExport(data) {
		lines, rows, err := auditlog.ExportLines(name, bytes.NewReader(data))
		if err != nil {
			return err
		}
		for i, line := range lines {
			var r auditlog.Record
			if err := json.Unmarshal(line, &r); err != nil {
				return fmt.Errorf("%s row %d: not an audit record: %w", name, rows[i], err)
			}
			fn(r)
		}
		return nil
	}
	for line, raw := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var r auditlog.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s:%d: not an audit record: %w", name, line+1, err)
		}
		fn(r)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var _ flag.Value = (*multiFlag)(nil)
