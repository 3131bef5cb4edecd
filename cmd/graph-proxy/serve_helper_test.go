package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// serving is `graph-proxy serve` running in the test's process: its base
// URL and its output.
type serving struct {
	base           string
	stdout, stderr proxytest.SyncBuffer
	stop           context.CancelFunc
	done           chan error
}

// startServe runs serve on env, listening on addr, until the test ends or
// shutdown, and waits until its /readyz answers 200.
func startServe(t *testing.T, env []string, addr string) *serving {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	t.Cleanup(stop)
	s := &serving{base: "http://" + addr, stop: stop, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"serve"}, env, &s.stdout, &s.stderr) }()
	proxytest.WaitWithin(t, "the proxy ready", 15*time.Second, func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

// shutdown stops serve as a SIGTERM does and reports its error.
func (s *serving) shutdown(t *testing.T) {
	t.Helper()
	s.stop()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
