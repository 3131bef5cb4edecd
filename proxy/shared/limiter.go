package shared

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// Limiter is a proxy.CallLimiter whose counts every replica shares: the
// policy's per-caller and per-caller-per-mailbox rates and concurrency
// hold for the deployment as a whole. Each stage of a call is one Redis
// script, atomic and all or nothing: Enter takes a lease on the caller's
// calls in flight; Acquire takes the caller's rate and, for every mailbox
// the call touches, a lease and a call of its rate.
//
// When Redis fails or is slower than the store's Timeout, the call is
// admitted or refused by a local Limiter over the limits divided by the
// replica count last known, and so are the calls after it until the
// store's heartbeat finds Redis answering again (Store.Run): the limits
// hold, approximately, and calls keep flowing. It fails neither open nor
// closed.
type Limiter struct {
	s     *Store
	local *proxy.Limiter
}

// NewLimiter returns the Limiter of s.
func NewLimiter(s *Store) *Limiter {
	return &Limiter{s: s, local: proxy.NewLimiter(nil)}
}

var _ proxy.CallLimiter = (*Limiter)(nil)

// Enter implements proxy.CallLimiter.
func (l *Limiter) Enter(ctx context.Context, caller string, lim policy.Limits) (leave func(), err error) {
	if l.s.Sharing() {
		leave, err := l.enter(ctx, caller, lim)
		if !l.fellBack(ctx, err) {
			return leave, err
		}
	}
	return l.local.Enter(ctx, caller, divide(lim, l.s.Replicas()))
}

// Acquire implements proxy.CallLimiter.
func (l *Limiter) Acquire(ctx context.Context, caller string, lim policy.Limits, n int, mailboxes []string) (release func(), err error) {
	if l.s.Sharing() {
		release, err := l.acquire(ctx, caller, lim, n, mailboxes)
		if !l.fellBack(ctx, err) {
			return release, err
		}
	}
	return l.local.Acquire(ctx, caller, divide(lim, l.s.Replicas()), n, mailboxes)
}

// fellBack reports whether err, from a stage in Redis, is Redis failing
// rather than an admission, a refusal or the caller gone; the store then
// falls back.
func (l *Limiter) fellBack(ctx context.Context, err error) bool {
	var le *proxy.LimitedError
	if err == nil || errors.As(err, &le) {
		return false
	}
	return l.s.failed(ctx, err)
}

func (l *Limiter) enter(ctx context.Context, caller string, lim policy.Limits) (func(), error) {
	member := l.s.member()
	keys := []string{l.s.key(caller, "calls")}
	cctx, cancel := l.s.callCtx(ctx)
	defer cancel()
	refused, err := leaseScript.Run(cctx, l.s.rdb, keys, l.s.now(), member, l.s.ttl(), lim.Concurrent).Int()
	switch {
	case err != nil:
		l.s.owe(lease{member, keys})
		return nil, l.callErr(ctx, err)
	case refused != 0:
		return nil, &proxy.LimitedError{Limit: "caller concurrency", RetryAfter: time.Second}
	}
	l.s.hold(member, keys)
	return once(func() { l.s.release(member) }), nil
}

func (l *Limiter) acquire(ctx context.Context, caller string, lim policy.Limits, n int, mailboxes []string) (func(), error) {
	member := l.s.member()
	// The mailboxes as the local Limiter counts them: by lower-case
	// address, each once.
	var names []string
	seen := map[string]bool{}
	keys := []string{l.s.key(caller, "rate")}
	for _, m := range mailboxes {
		m = strings.ToLower(m)
		if seen[m] {
			continue
		}
		seen[m] = true
		names = append(names, m)
		keys = append(keys, l.s.key(caller, "mailbox", m, "calls"), l.s.key(caller, "mailbox", m, "rate"))
	}
	perMailbox := float64(lim.MailboxPer10Min) / 600
	cctx, cancel := l.s.callCtx(ctx)
	defer cancel()
	res, err := acquireScript.Run(cctx, l.s.rdb, keys, l.s.now(), member, l.s.ttl(), n,
		interval(lim.RPS), lim.Burst, lim.MailboxConcurrent, interval(perMailbox), lim.MailboxPer10Min).Int64Slice()
	leased := make([]string, 0, len(names))
	for i := 1; i < len(keys); i += 2 {
		leased = append(leased, keys[i])
	}
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("shared: unexpected answer %v", res)
	}
	if err != nil {
		if len(leased) > 0 {
			l.s.owe(lease{member, leased})
		}
		return nil, l.callErr(ctx, err)
	}
	wait := time.Duration(res[2]) * time.Microsecond
	mailbox := func() string { return names[max(0, min(int(res[1])-1, len(names)-1))] }
	switch res[0] {
	case 0:
	case refusedCallerBurst:
		return nil, &proxy.LimitedError{Limit: "caller burst", RetryAfter: time.Second}
	case refusedCallerRate:
		return nil, &proxy.LimitedError{Limit: "caller rate", RetryAfter: wait}
	case refusedMailboxConc:
		return nil, &proxy.LimitedError{Limit: "mailbox " + mailbox() + " concurrency", RetryAfter: time.Second}
	case refusedMailboxRate:
		return nil, &proxy.LimitedError{Limit: "mailbox " + mailbox() + " rate", RetryAfter: wait}
	default:
		return nil, l.callErr(ctx, fmt.Errorf("shared: unexpected answer %v", res))
	}
	if len(leased) == 0 {
		return func() {}, nil
	}
	l.s.hold(member, leased)
	return once(func() { l.s.release(member) }), nil
}

// callErr is the error of a Redis call: the caller's own cancellation
// when it went away (answered 499, and not Redis failing), else Redis's.
func (l *Limiter) callErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("shared limits: %w", ctx.Err())
	}
	return fmt.Errorf("shared limits: %w", err)
}

// interval is the GCRA emission interval of a rate per second, in
// microseconds: the time one call uses up. A rate of zero admits its
// burst and then, as near as makes no difference, nothing.
func interval(perSecond float64) string {
	if perSecond <= 0 {
		return "1e15"
	}
	return strconv.FormatFloat(1e6/perSecond, 'f', 3, 64)
}

// once returns a func that runs f the first time it is called.
func once(f func()) func() {
	var o sync.Once
	return func() { o.Do(f) }
}
