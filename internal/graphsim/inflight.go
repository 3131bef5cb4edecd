package graphsim

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// inFlight counts the requests Graph is answering at once for each
// mailbox, as Graph's own concurrency limit does (4 at a time per app and
// mailbox): the user a path names, /users/{id or UPN}/…, lower-cased.
type inFlight struct {
	mu   sync.Mutex
	now  map[string]int
	peak map[string]int
}

// track counts r as in flight for its mailbox until the returned func is
// called, when its answer is complete.
func (f *inFlight) track(r *http.Request) func() {
	_, rest := splitVersion(r.URL.Path)
	seg := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(seg) < 2 || !strings.EqualFold(seg[0], "users") {
		return func() {}
	}
	mailbox, err := url.PathUnescape(seg[1])
	if err != nil {
		return func() {}
	}
	mailbox = strings.ToLower(mailbox)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.now == nil {
		f.now, f.peak = map[string]int{}, map[string]int{}
	}
	f.now[mailbox]++
	f.peak[mailbox] = max(f.peak[mailbox], f.now[mailbox])
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.now[mailbox]--
	}
}

// PeakInFlight is the most requests Graph answered at once for the
// mailbox (an id or UPN, as the paths name it) since the last
// ResetPeakInFlight.
func (g *Graph) PeakInFlight(mailbox string) int {
	g.flights.mu.Lock()
	defer g.flights.mu.Unlock()
	return g.flights.peak[strings.ToLower(mailbox)]
}

// InFlight is the number of requests Graph is answering now for the
// mailbox.
func (g *Graph) InFlight(mailbox string) int {
	g.flights.mu.Lock()
	defer g.flights.mu.Unlock()
	return g.flights.now[strings.ToLower(mailbox)]
}

// ResetPeakInFlight starts every mailbox's peak again from the requests
// in flight now.
func (g *Graph) ResetPeakInFlight() {
	g.flights.mu.Lock()
	defer g.flights.mu.Unlock()
	for m := range g.flights.peak {
		g.flights.peak[m] = g.flights.now[m]
	}
}
