package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

const usage = `graph-proxy: a Microsoft Graph egress proxy under the customer's control.

Usage:
  graph-proxy serve   [--config FILE] [--listen ADDR] [--public-base-url URL] [--policy FILE]
  graph-proxy check   [--config FILE] [--json] [--graph-read PATH]
  graph-proxy policy  lint FILE... | explain ... | suggest --from AUDIT.jsonl
  graph-proxy audit   verify [--open] [--allow-partial-head] FILE|DIR... | summary FILE... | report [--title T] [-o FILE] FILE|DIR...
  graph-proxy sim     [--state-dir DIR] [--host ADDR] [--base-port N]
  graph-proxy sim token [--state-dir DIR]
  graph-proxy version

Configuration precedence, highest first: flags, GRAPH_PROXY_* environment
variables, the configuration file (--config or GRAPH_PROXY_CONFIG), defaults.
`

// exitError carries a process exit code with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes: 1 for a failure at run time, 2 for bad usage or configuration.
const (
	exitFailure = 1
	exitUsage   = 2
)

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes one subcommand. It is main without the process: tests call
// it with their own arguments, environment and output.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: exitUsage, err: errors.New("no subcommand given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stdout, stderr)
	case "sim":
		return sim(ctx, args[1:], stdout, stderr)
	case "policy":
		return policyCmd(ctx, args[1:], env, stdout, stderr)
	case "audit":
		return auditCmd(args[1:], stdout, stderr)
	case "check":
		return check(ctx, args[1:], env, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "graph-proxy", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError("unknown subcommand %q", args[0])
	}
}

// exitCode prints err, if any, and returns the process exit code. It is
// the only place that decides one.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "graph-proxy:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailure
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("graph-proxy "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage, err: err}
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
