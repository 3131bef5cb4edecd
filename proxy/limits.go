package proxy

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/graph-proxy/graph-proxy/policy"
)

// CallLimiter admits calls against the policy's per-caller and
// per-caller-per-mailbox rates and concurrency (callers[].rateLimit).
// Limiter counts this replica's calls alone; shared.Limiter counts every
// replica's in Redis (limits.store: redis), so that the policy's limits
// hold for the whole deployment however many replicas serve it.
type CallLimiter interface {
	// Enter counts a call against the caller's calls in flight before its
	// body is read; leave must be called when the call ends.
	Enter(ctx context.Context, caller string, lim policy.Limits) (leave func(), err error)
	// Acquire takes the call's rates (n calls, a $batch counting each
	// sub-request) and its mailboxes' concurrency and rates, all or
	// nothing; release must be called when the call ends.
	Acquire(ctx context.Context, caller string, lim policy.Limits, n int, mailboxes []string) (release func(), err error)
}

var _ CallLimiter = (*Limiter)(nil)

// Limiter enforces per-caller and per-caller-per-mailbox rates and
// concurrency (policy callers[].rateLimit) among the calls of this
// replica. It is safe for concurrent use; the zero value is not, use
// NewLimiter.
type Limiter struct {
	now func() time.Time

	mu        sync.Mutex
	callers   map[string]*bucket
	mailboxes map[mailboxKey]*bucket
	swept     time.Time
}

type mailboxKey struct{ caller, mailbox string }

// bucket is one limited stream of calls.
type bucket struct {
	rate     *rate.Limiter
	limit    rate.Limit
	burst    int
	inflight int
	used     time.Time
}

// NewLimiter returns a Limiter on the clock now (nil: time.Now).
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, callers: map[string]*bucket{}, mailboxes: map[mailboxKey]*bucket{}}
}

// LimitedError is a call refused by a limit: 429 with Retry-After.
type LimitedError struct {
	// Limit names what was exceeded, for the audit record.
	Limit      string
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limited: %s (retry after %s)", e.Limit, e.RetryAfter)
}

// Enter counts a call of caller against the caller's calls in flight
// (rateLimit.concurrent), before the proxy reads its body: the bodies held
// for one caller are bounded by its calls in flight. It either admits the
// call — the returned leave must then be called when it ends — or refuses
// it with a *LimitedError. Acquire then takes the call's rates and
// mailboxes. It never blocks: ctx is not used.
func (l *Limiter) Enter(_ context.Context, caller string, lim policy.Limits) (leave func(), err error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	cb := bucketFor(l.callers, caller, rate.Limit(lim.RPS), lim.Burst, now)
	if cb.inflight >= lim.Concurrent {
		return nil, &LimitedError{Limit: "caller concurrency", RetryAfter: time.Second}
	}
	a := &admission{l: l}
	a.room[0] = cb
	a.held = a.room[:1]
	cb.inflight++
	return a.end, nil
}

// admission is what one admitted call holds of the limiter: the buckets
// that count it among their calls in flight, given back once, whichever
// of the call's paths ends it first.
type admission struct {
	l     *Limiter
	held  []*bucket
	room  [2]*bucket // held's room for the usual call: one caller or one mailbox
	ended bool       // under l.mu
}

func (a *admission) end() {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	for _, b := range a.held {
		b.inflight--
	}
}

// Acquire admits a call of caller, entered with Enter, that counts as n
// calls toward the rates (a $batch counts each sub-request, as Graph does)
// and touches mailboxes. It either admits the call — the returned release
// must then be called when it ends — or refuses it with a *LimitedError,
// admitting nothing: every bucket is checked before any is taken from,
// all under the lock, so a refusal has nothing to give back.
func (l *Limiter) Acquire(_ context.Context, caller string, lim policy.Limits, n int, mailboxes []string) (release func(), err error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)

	cb := bucketFor(l.callers, caller, rate.Limit(lim.RPS), lim.Burst, now)
	if why, retry := shortOf(cb.rate, now, n); why != "" { // its concurrency: Enter's
		return nil, &LimitedError{Limit: "caller " + why, RetryAfter: retry}
	}
	perMailbox := rate.Limit(float64(lim.MailboxPer10Min) / 600)
	a := &admission{l: l}
	mbs := a.room[:0]
	for _, m := range mailboxes {
		m = strings.ToLower(m)
		mb := bucketFor(l.mailboxes, mailboxKey{caller, m}, perMailbox, lim.MailboxPer10Min, now)
		if slices.Contains(mbs, mb) {
			continue // the same mailbox named twice counts once
		}
		if mb.inflight >= lim.MailboxConcurrent {
			return nil, &LimitedError{Limit: "mailbox " + m + " concurrency", RetryAfter: time.Second}
		}
		if why, retry := shortOf(mb.rate, now, 1); why != "" {
			return nil, &LimitedError{Limit: "mailbox " + m + " " + why, RetryAfter: retry}
		}
		mbs = append(mbs, mb)
	}
	// Every bucket has what the call takes: take it.
	cb.rate.AllowN(now, n)
	for _, mb := range mbs {
		mb.rate.AllowN(now, 1)
		mb.inflight++
	}
	a.held = mbs
	return a.end, nil
}

// shortOf reports what r lacks for tokens at now — "burst" when it can
// never hold that many, "rate" with the wait until it holds them — or ""
// when r.AllowN(now, tokens) would take them. It takes nothing: Acquire
// checks every bucket before it takes from any.
func shortOf(r *rate.Limiter, now time.Time, tokens int) (why string, retry time.Duration) {
	limit := r.Limit()
	switch {
	case limit == rate.Inf:
		return "", 0
	case tokens > r.Burst():
		return "burst", time.Second
	case limit == 0: // no refill: the burst is all it has, and holds these
		return "", 0
	}
	if short := float64(tokens) - r.TokensAt(now); short > 0 {
		return "rate", time.Duration(short / float64(limit) * float64(time.Second))
	}
	return "", 0
}

// bucketFor returns the bucket for key in m, made when missing. When the
// policy changed its limits, the bucket takes them in place: the calls in
// flight hold it and end in it (a new bucket would keep counting them
// forever), and it keeps the tokens it has (a new one would start full).
func bucketFor[K comparable](m map[K]*bucket, key K, r rate.Limit, burst int, now time.Time) *bucket {
	b := m[key]
	switch {
	case b == nil:
		b = &bucket{rate: rate.NewLimiter(r, burst), limit: r, burst: burst}
		m[key] = b
	case b.limit != r || b.burst != burst:
		b.rate.SetLimitAt(now, r)
		b.rate.SetBurstAt(now, burst)
		b.limit, b.burst = r, burst
	}
	b.used = now
	return b
}

// sweep forgets mailboxes idle for longer than a full 10-minute window, so
// that the table stays as small as the set of mailboxes in use. A bucket
// idle that long is full again, so forgetting it changes nothing.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.mailboxes {
		if b.inflight == 0 && now.Sub(b.used) > 10*time.Minute {
			delete(l.mailboxes, k)
		}
	}
}

// retryAfterSeconds rounds up: a caller that waits the whole seconds it
// is told gets through.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
