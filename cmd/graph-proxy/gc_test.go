package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/gcpace"
)

// TestCountCalls: every call is counted in flight while the handler runs
// and no longer once it has returned, an aborted one too (net/http's
// ErrAbortHandler, which the handler re-panics to cut an answer).
func TestCountCalls(t *testing.T) {
	pacer := gcpace.Start(gcpace.Config{Period: time.Hour})
	defer pacer.Stop()
	var during int64
	h := countCalls(pacer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = pacer.Calls()
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
	}))
	for _, path := range []string{"/", "/abort"} {
		func() {
			defer func() { recover() }()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
		}()
		if during != 1 || pacer.Calls() != 0 {
			t.Errorf("%s: %d calls counted during the call, %d after; want 1 and 0", path, during, pacer.Calls())
		}
	}
}
