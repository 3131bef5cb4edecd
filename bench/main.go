// Command bench is graph-proxy's side-by-side load harness (make bench).
//
// In one run it starts a fast TLS upstream that answers like Graph
// (getSchedule JSON of about 1 KB, a 2 KB event echoed), and in front of it,
// each pinned to its own core with taskset: graph-proxy with JWT
// authentication, a 200-rule policy and the file audit sink; a bare
// httputil.ReverseProxy with an HTTP/2 transport (the floor of a Go proxy);
// and nginx. wrk, pinned to the other core, loads each in turn, rounds
// interleaved: first paced at a fixed rate (CPU microseconds per request and
// latency there are the stable figures on a noisy machine), then saturated.
// Results go to bench/RESULTS.md with a machine-readable line per
// configuration.
//
//	bench run [-rounds 3] [-duration 10s] [-rate 1000] [-soak 10m]
//
// The subcommands backend and bare are the harness's own servers.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench run|backend|bare [flags]")
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
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
