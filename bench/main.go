// Command bench is graph-proxy's side-by-side load harness (make bench).
//
// In one run it starts a fast TLS upstream that answers like Graph
// (getSchedule JSON of about 1 KB, a 2 KB event echoed), and in front of it,
// each pinned to its own core with taskset: graph-proxy with JWT
// authentication, a 200-rule policy and the file audit sink; a bare
// httputil.ReverseProxy with an HTTP/2 transport (the floor of a Go proxy);
// nginx; and the OPA peer, the bare proxy authorising each call with the
// same policy in Rego through OPA's Go SDK (opa.go). wrk, pinned to the
// other core, loads each in turn, rounds interleaved (the bare proxy and
// graph-proxy always side by side, their ratio being the target): first paced at a
// fixed rate (CPU microseconds per request and latency there are the stable
// figures on a noisy machine), then saturated, then, with -upstream-delay,
// with the backend answering as slowly as Graph does at several levels of
// calls in flight (delay.go: memory and goroutines per call in flight).
// Results go to bench/RESULTS.md with a machine-readable line per
// configuration.
//
//	bench run [-rounds 3] [-duration 10s] [-rate 1000] [-soak 10m]
//	          [-only opa,graph-proxy] [-upstream-delay 300ms [-in-flight 300,2000]]
//
// The subcommands backend, bare and opa are the harness's own servers;
// h2load is its HTTP/2 load (h2load.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench run|backend|bare|opa|h2load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "backend":
		err = backend(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	case "opa":
		err = opaPeer(os.Args[2:])
	case "h2load":
		err = h2LoadMain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
