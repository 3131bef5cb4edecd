// Package limitertest holds what every proxy.CallLimiter must do alike:
// this replica's own Limiter and the one the replicas share through Redis
// run the same steps, so that the shared one is held to the local one —
// the simpler reference — call by call, limit by limit, wait by wait.
package limitertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// Clock is a settable time, safe for the replicas of a test to share.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Admit takes a call of "engage" through a limiter as the handler does:
// Enter before its body is read, Acquire once it is decided for n calls
// (a $batch's sub-requests) touching mailboxes.
func Admit(l proxy.CallLimiter, lim policy.Limits, n int, mailboxes []string) (end func(), err error) {
	ctx := context.Background()
	leave, err := l.Enter(ctx, "engage", lim)
	if err != nil {
		return nil, err
	}
	release, err := l.Acquire(ctx, "engage", lim, n, mailboxes)
	if err != nil {
		leave()
		return nil, err
	}
	return func() { release(); leave() }, nil
}

// Step is one call: after the clock moves on by Advance, n calls touching
// Mailboxes under Limits (or the cases' own), released at once when
// Release, admitted unless WantLimit names the limit that refuses it with
// WantRetry as its wait.
type Step struct {
	Advance   time.Duration
	N         int
	Mailboxes []string
	Release   bool
	Limits    *policy.Limits
	WantLimit string
	WantRetry time.Duration
}

// Case is a named run of steps on a fresh clock and fresh limiters.
type Case struct {
	Name  string
	Steps []Step
}

// Limits are the cases' limits unless a step has its own.
var Limits = policy.Limits{RPS: 2, Burst: 3, Concurrent: 2, MailboxConcurrent: 1, MailboxPer10Min: 600}

var mailboxRate = policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 100, MailboxConcurrent: 4, MailboxPer10Min: 2}

// Cases are the steps every limiter takes alike.
var Cases = []Case{
	{Name: "burst then refused with the exact wait", Steps: []Step{
		{N: 1, Release: true}, {N: 1, Release: true}, {N: 1, Release: true},
		{N: 1, WantLimit: "caller rate", WantRetry: 500 * time.Millisecond},
	}},
	{Name: "sustained rate", Steps: []Step{
		{N: 3, Release: true},
		{Advance: 500 * time.Millisecond, N: 1, Release: true},
		{N: 1, WantLimit: "caller rate", WantRetry: 500 * time.Millisecond},
		{Advance: 500 * time.Millisecond, N: 1, Release: true},
	}},
	{Name: "a batch counts each sub-request", Steps: []Step{
		{N: 2, Release: true},
		{N: 2, WantLimit: "caller rate", WantRetry: 500 * time.Millisecond},
		{N: 1, Release: true},
	}},
	{Name: "more than the burst never fits", Steps: []Step{
		{N: 4, WantLimit: "caller burst", WantRetry: time.Second},
	}},
	{Name: "concurrency cap", Steps: []Step{
		{N: 1}, {N: 1},
		{N: 1, WantLimit: "caller concurrency", WantRetry: time.Second},
	}},
	{Name: "one call at a time per mailbox, by lower-case address", Steps: []Step{
		{N: 1, Mailboxes: []string{"a@contoso.example"}},
		{N: 1, Mailboxes: []string{"A@contoso.example"}, WantLimit: "mailbox a@contoso.example concurrency", WantRetry: time.Second},
		{N: 1, Mailboxes: []string{"b@contoso.example"}, Release: true},
	}},
	{Name: "a refused mailbox takes nothing from the others", Steps: []Step{
		{N: 1, Mailboxes: []string{"a@contoso.example"}},
		{N: 1, Mailboxes: []string{"b@contoso.example", "a@contoso.example"}, WantLimit: "mailbox a@contoso.example concurrency", WantRetry: time.Second},
		{Advance: time.Second, N: 1, Mailboxes: []string{"b@contoso.example"}, Release: true},
	}},
	{Name: "mailbox rate per 10 minutes", Steps: []Step{
		{N: 1, Mailboxes: []string{"a@contoso.example"}, Limits: &mailboxRate, Release: true},
		{N: 1, Mailboxes: []string{"a@contoso.example"}, Limits: &mailboxRate, Release: true},
		{N: 1, Mailboxes: []string{"a@contoso.example"}, Limits: &mailboxRate, WantLimit: "mailbox a@contoso.example rate", WantRetry: 5 * time.Minute},
		{Advance: 5 * time.Minute, N: 1, Mailboxes: []string{"a@contoso.example"}, Limits: &mailboxRate, Release: true},
	}},
}

// Run takes every case through the limiters newLimiters makes on the
// case's clock, each step through every limiter in turn (in the order
// names gives them).
func Run(t *testing.T, names []string, newLimiters func(t *testing.T, now func() time.Time) map[string]proxy.CallLimiter) {
	for _, tc := range Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c := NewClock()
			limiters := newLimiters(t, c.Now)
			for i, s := range tc.Steps {
				c.Advance(s.Advance)
				lim := Limits
				if s.Limits != nil {
					lim = *s.Limits
				}
				for _, name := range names {
					end, err := Admit(limiters[name], lim, s.N, s.Mailboxes)
					var le *proxy.LimitedError
					switch {
					case s.WantLimit == "" && err != nil:
						t.Fatalf("%s, step %d: %v; want admitted", name, i, err)
					case s.WantLimit != "" && (!errors.As(err, &le) || le.Limit != s.WantLimit || le.RetryAfter != s.WantRetry):
						t.Fatalf("%s, step %d: %v; want %s, retry after %s", name, i, err, s.WantLimit, s.WantRetry)
					}
					if err == nil && s.Release {
						end()
					}
				}
			}
		})
	}
}
