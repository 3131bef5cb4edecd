package shared_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/internal/redistest"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

func TestMain(m *testing.M) {
	// go-redis's own log lines (a pool's dial failures while a test's
	// Redis is down) are the tests' business, not their output's.
	redis.SetLogger(shared.Logger{Log: slog.New(slog.DiscardHandler)})
	os.Exit(m.Run())
}

// clock is a settable time, shared by the replicas of a test (Redis's
// own clock otherwise).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// replica is one proxy's Store and Limiter over a test's Redis.
type replica struct {
	store   *shared.Store
	limiter *shared.Limiter
}

// newReplica returns a replica of srv; o's Client is filled in. Its
// timeout is generous unless o says otherwise: a test under the race
// detector must not fall back by accident.
func newReplica(t testing.TB, srv *redistest.Server, o shared.Options) *replica {
	t.Helper()
	o.Client = shared.NewClient(shared.ClientOptions{Address: srv.Addr, TLS: srv.TLSConfig()})
	t.Cleanup(func() { o.Client.Close() })
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "test-" + strings.ReplaceAll(t.Name(), "/", "-")
	}
	s, err := shared.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{store: s, limiter: shared.NewLimiter(s)}
}

// admit takes a call of "engage" through a limiter as the handler does.
func admit(l proxy.CallLimiter, lim policy.Limits, n int, mailboxes []string) (end func(), err error) {
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

// TestLimiterMatchesLocal runs the same calls through the local Limiter
// and through the shared one (on a stepped clock): every call is admitted
// or refused alike, for the same limit and with the same wait. GCRA in
// Redis is the token bucket of the local Limiter.
func TestLimiterMatchesLocal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	lim := policy.Limits{RPS: 2, Burst: 3, Concurrent: 2, MailboxConcurrent: 1, MailboxPer10Min: 600}
	type step struct {
		advance   time.Duration
		n         int
		mailboxes []string
		release   bool // release the call right away
		limits    *policy.Limits
		wantLimit string
		wantRetry time.Duration
	}
	mailboxRate := policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 100, MailboxConcurrent: 4, MailboxPer10Min: 2}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "burst then refused with the exact wait", steps: []step{
			{n: 1, release: true}, {n: 1, release: true}, {n: 1, release: true},
			{n: 1, wantLimit: "caller rate", wantRetry: 500 * time.Millisecond},
		}},
		{name: "sustained rate", steps: []step{
			{n: 3, release: true},
			{advance: 500 * time.Millisecond, n: 1, release: true},
			{n: 1, wantLimit: "caller rate", wantRetry: 500 * time.Millisecond},
			{advance: 500 * time.Millisecond, n: 1, release: true},
		}},
		{name: "a batch counts each sub-request", steps: []step{
			{n: 2, release: true},
			{n: 2, wantLimit: "caller rate", wantRetry: 500 * time.Millisecond},
			{n: 1, release: true},
		}},
		{name: "more than the burst never fits", steps: []step{
			{n: 4, wantLimit: "caller burst", wantRetry: time.Second},
		}},
		{name: "concurrency cap", steps: []step{
			{n: 1}, {n: 1},
			{n: 1, wantLimit: "caller concurrency", wantRetry: time.Second},
		}},
		{name: "one call at a time per mailbox, by lower-case address", steps: []step{
			{n: 1, mailboxes: []string{"a@contoso.example"}},
			{n: 1, mailboxes: []string{"A@contoso.example"}, wantLimit: "mailbox a@contoso.example concurrency", wantRetry: time.Second},
			{n: 1, mailboxes: []string{"b@contoso.example"}, release: true},
		}},
		{name: "a refused mailbox takes nothing from the others", steps: []step{
			{n: 1, mailboxes: []string{"a@contoso.example"}},
			{n: 1, mailboxes: []string{"b@contoso.example", "a@contoso.example"}, wantLimit: "mailbox a@contoso.example concurrency", wantRetry: time.Second},
			{advance: time.Second, n: 1, mailboxes: []string{"b@contoso.example"}, release: true},
		}},
		{name: "mailbox rate per 10 minutes", steps: []step{
			{n: 1, mailboxes: []string{"a@contoso.example"}, limits: &mailboxRate, release: true},
			{n: 1, mailboxes: []string{"a@contoso.example"}, limits: &mailboxRate, release: true},
			{n: 1, mailboxes: []string{"a@contoso.example"}, limits: &mailboxRate, wantLimit: "mailbox a@contoso.example rate", wantRetry: 5 * time.Minute},
			{advance: 5 * time.Minute, n: 1, mailboxes: []string{"a@contoso.example"}, limits: &mailboxRate, release: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			local := proxy.NewLimiter(c.now)
			r := newReplica(t, srv, shared.Options{Replica: "a", Clock: c.now})
			for i, s := range tt.steps {
				c.advance(s.advance)
				l := lim
				if s.limits != nil {
					l = *s.limits
				}
				for _, lr := range []struct {
					name    string
					limiter proxy.CallLimiter
				}{{"local", local}, {"shared", r.limiter}} {
					end, err := admit(lr.limiter, l, s.n, s.mailboxes)
					var le *proxy.LimitedError
					switch {
					case s.wantLimit == "" && err != nil:
						t.Fatalf("%s, step %d: %v; want admitted", lr.name, i, err)
					case s.wantLimit != "" && (!errors.As(err, &le) || le.Limit != s.wantLimit || le.RetryAfter != s.wantRetry):
						t.Fatalf("%s, step %d: %v; want %s, retry after %s", lr.name, i, err, s.wantLimit, s.wantRetry)
					}
					if err == nil && s.release {
						end()
					}
				}
			}
			if st := r.store.Status(); st.Mode != "shared" || st.Failures != 0 {
				t.Errorf("status %+v; want shared, no failures", st)
			}
		})
	}
}

// TestReplicasShareLimits: three replicas over one Redis admit together
// what one limit allows, whichever replica each call reaches.
func TestReplicasShareLimits(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	lim := policy.Limits{RPS: 1, Burst: 5, Concurrent: 100, MailboxConcurrent: 4, MailboxPer10Min: 10000}
	mailbox := []string{"adele.vance@contoso.example"}
	tests := []struct {
		name      string
		calls     int
		release   bool
		wantAdmit int
		wantLimit string
	}{
		{name: "four at a time in one mailbox", calls: 9, wantAdmit: 4, wantLimit: "mailbox adele.vance@contoso.example concurrency"},
		{name: "the caller's burst", calls: 9, release: true, wantAdmit: 5, wantLimit: "caller rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var rs []*replica
			for _, name := range []string{"a", "b", "c"} {
				rs = append(rs, newReplica(t, srv, shared.Options{Replica: name, Clock: c.now}))
			}
			admitted := 0
			var ends []func()
			for i := range tt.calls {
				end, err := admit(rs[i%len(rs)].limiter, lim, 1, mailbox)
				var le *proxy.LimitedError
				switch {
				case err == nil:
					admitted++
					if tt.release {
						end()
					} else {
						ends = append(ends, end)
					}
				case !errors.As(err, &le) || le.Limit != tt.wantLimit:
					t.Fatalf("call %d: %v; want admitted or %s", i, err, tt.wantLimit)
				}
			}
			if admitted != tt.wantAdmit {
				t.Errorf("%d calls admitted across 3 replicas; want %d", admitted, tt.wantAdmit)
			}
			for _, end := range ends {
				end()
			}
		})
	}
}

// TestLeaseExpiry: the leases of a replica that stopped (killed: it
// neither releases nor renews) expire after LeaseTTL, and only then; the
// leases of a live replica are renewed by its heartbeat and do not.
func TestLeaseExpiry(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	lim := policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 100, MailboxConcurrent: 1, MailboxPer10Min: 10000}
	mailbox := []string{"adele.vance@contoso.example"}
	ttl := 3 * time.Second
	tests := []struct {
		name      string
		heartbeat bool // the holder renews its leases
		after     time.Duration
		wantFree  bool
	}{
		{name: "a dead replica's lease holds until it expires", after: ttl - time.Second, wantFree: false},
		{name: "a dead replica's lease expires", after: ttl + time.Millisecond, wantFree: true},
		{name: "a live replica's lease is renewed", heartbeat: true, after: ttl + time.Second, wantFree: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			holder := newReplica(t, srv, shared.Options{Replica: "holder", Clock: c.now, LeaseTTL: ttl})
			other := newReplica(t, srv, shared.Options{Replica: "other", Clock: c.now, LeaseTTL: ttl})
			if _, err := admit(holder.limiter, lim, 1, mailbox); err != nil {
				t.Fatal(err)
			}
			for step := time.Duration(0); step < tt.after; {
				d := min(time.Second, tt.after-step)
				c.advance(d)
				step += d
				if tt.heartbeat {
					if err := holder.store.Heartbeat(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			end, err := admit(other.limiter, lim, 1, mailbox)
			if got := err == nil; got != tt.wantFree {
				t.Fatalf("another replica's call %s after: admitted %v (%v); want %v", tt.after, got, err, tt.wantFree)
			}
			if end != nil {
				end()
			}
		})
	}
}

// TestCallerGone: a caller that goes away during a Redis call gets its
// own cancellation (499), and Redis is not taken for failing.
func TestCallerGone(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, shared.Options{Replica: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.limiter.Enter(ctx, "engage", policy.DefaultLimits)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Enter with the caller gone: %v; want context.Canceled", err)
	}
	if st := r.store.Status(); st.Mode != "shared" || st.Failures != 0 {
		t.Errorf("status %+v; want shared, no failures", st)
	}
}
