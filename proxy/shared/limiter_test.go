package shared_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/internal/limitertest"
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

// TestLimiterMatchesLocal runs the same calls through the local Limiter
// and through the shared one (on a stepped clock): every call is admitted
// or refused alike, for the same limit and with the same wait. GCRA in
// Redis is the token bucket of the local Limiter.
func TestLimiterMatchesLocal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	limitertest.Run(t, []string{"local", "shared"}, func(t *testing.T, now func() time.Time) map[string]proxy.CallLimiter {
		r := newReplica(t, srv, shared.Options{Replica: "a", Clock: now})
		t.Cleanup(func() {
			if st := r.store.Status(); st.Mode != "shared" || st.Failures != 0 {
				t.Errorf("status %+v; want shared, no failures", st)
			}
		})
		return map[string]proxy.CallLimiter{"local": proxy.NewLimiter(now), "shared": r.limiter}
	})
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
			c := limitertest.NewClock()
			var rs []*replica
			for _, name := range []string{"a", "b", "c"} {
				rs = append(rs, newReplica(t, srv, shared.Options{Replica: name, Clock: c.Now}))
			}
			admitted := 0
			var ends []func()
			for i := range tt.calls {
				end, err := limitertest.Admit(rs[i%len(rs)].limiter, lim, 1, mailbox)
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
			c := limitertest.NewClock()
			holder := newReplica(t, srv, shared.Options{Replica: "holder", Clock: c.Now, LeaseTTL: ttl})
			other := newReplica(t, srv, shared.Options{Replica: "other", Clock: c.Now, LeaseTTL: ttl})
			if _, err := limitertest.Admit(holder.limiter, lim, 1, mailbox); err != nil {
				t.Fatal(err)
			}
			for step := time.Duration(0); step < tt.after; {
				d := min(time.Second, tt.after-step)
				c.Advance(d)
				step += d
				if tt.heartbeat {
					if err := holder.store.Heartbeat(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			end, err := limitertest.Admit(other.limiter, lim, 1, mailbox)
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
