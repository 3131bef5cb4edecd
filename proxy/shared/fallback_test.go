package shared_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/limitertest"
	"github.com/graph-proxy/graph-proxy/internal/redistest"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

// TestFallback: with Redis gone or hung, calls are neither all refused nor
// let through without limits: each replica admits them against the limits
// divided by the replicas last known (4 calls at a time in a mailbox among
// 3 replicas: 1 each), says so in its status, and returns to the shared
// limits once Redis answers again, releasing on the way the leases whose
// calls ended meanwhile.
func TestFallback(t *testing.T) {
	lim := policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 100, MailboxConcurrent: 4, MailboxPer10Min: 10000}
	mailbox := []string{"adele.vance@contoso.example"}
	tests := []struct {
		name    string
		fail    func(*redistest.Server)
		recover func(*redistest.Server)
	}{
		{name: "Redis stopped, then restarted empty", fail: (*redistest.Server).Stop, recover: (*redistest.Server).Restart},
		{name: "Redis hung, then answering", fail: (*redistest.Server).Pause, recover: (*redistest.Server).Resume},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			var rs []*replica
			for _, name := range []string{"a", "b", "c"} {
				r := newReplica(t, srv, shared.Options{Replica: name, Timeout: 100 * time.Millisecond, Prefix: "fallback"})
				rs = append(rs, r)
			}
			// Twice: the first replica to beat saw only itself.
			for _, r := range append(rs, rs...) {
				if err := r.store.Heartbeat(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			// A call in flight when Redis goes: its lease is released once
			// Redis is back, not left to expire.
			before, err := limitertest.Admit(rs[0].limiter, lim, 1, mailbox)
			if err != nil {
				t.Fatal(err)
			}

			tt.fail(srv)
			var ends []func()
			for i, want := range []string{"", "mailbox adele.vance@contoso.example concurrency"} {
				end, err := limitertest.Admit(rs[0].limiter, lim, 1, mailbox)
				var le *proxy.LimitedError
				switch {
				case want == "" && err != nil:
					t.Fatalf("replica a, call %d with Redis down: %v; want admitted by the fallback", i, err)
				case want != "" && (!errors.As(err, &le) || le.Limit != want):
					t.Fatalf("replica a, call %d with Redis down: %v; want %s (4 among 3 replicas: 1 each)", i, err, want)
				case err == nil:
					ends = append(ends, end)
				}
			}
			st := rs[0].store.Status()
			if st.Mode != "fallback" || st.Replicas != 3 || st.Fallbacks != 1 || st.Failures == 0 || st.LastError == "" {
				t.Errorf("replica a's status with Redis down: %+v; want fallback, 3 replicas, 1 fallback, its error", st)
			}
			before()
			for _, end := range ends {
				end()
			}

			tt.recover(srv)
			if err := rs[0].store.Heartbeat(context.Background()); err != nil {
				t.Fatalf("heartbeat with Redis back: %v", err)
			}
			if st := rs[0].store.Status(); st.Mode != "shared" || st.LastError != "" {
				t.Fatalf("replica a's status with Redis back: %+v; want shared", st)
			}
			for _, r := range rs[1:] {
				// b and c have not called Redis since: they may or may not
				// have noticed the outage; either way they are back.
				if err := r.store.Heartbeat(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			admitted := 0
			for i := range 6 {
				end, err := limitertest.Admit(rs[i%3].limiter, lim, 1, mailbox)
				if err == nil {
					admitted++
					defer end()
				}
			}
			if admitted != 4 {
				t.Errorf("%d calls admitted in one mailbox with Redis back; want the shared 4", admitted)
			}
		})
	}
}

// TestFallbackBeforeRedis: a replica that starts with Redis down has no
// replica count from Redis: it divides by AssumedReplicas (the
// deployment's maximum, in the templates).
func TestFallbackBeforeRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, shared.Options{Replica: "a", Timeout: 100 * time.Millisecond, AssumedReplicas: 4})
	srv.Stop()
	lim := policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 8, MailboxConcurrent: 4, MailboxPer10Min: 10000}
	if err := r.store.Heartbeat(context.Background()); err == nil {
		t.Fatal("heartbeat with Redis down succeeded")
	}
	var le *proxy.LimitedError
	end, err := limitertest.Admit(r.limiter, lim, 1, []string{"a@contoso.example"})
	if err != nil {
		t.Fatalf("first call: %v; want admitted", err)
	}
	defer end()
	if _, err := limitertest.Admit(r.limiter, lim, 1, []string{"a@contoso.example"}); !errors.As(err, &le) || le.Limit != "mailbox a@contoso.example concurrency" {
		t.Fatalf("second call: %v; want the mailbox's 4 divided by 4", err)
	}
	if st := r.store.Status(); st.Replicas != 4 || st.Mode != "fallback" || !st.ReplicasAt.IsZero() {
		t.Errorf("status %+v; want fallback, 4 replicas assumed", st)
	}
}

// TestReplicaCount: the heartbeat counts the replicas alive; one that
// stopped drops out after LeaseTTL.
func TestReplicaCount(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := limitertest.NewClock()
	ttl := 3 * time.Second
	var rs []*replica
	for _, name := range []string{"a", "b", "c"} {
		rs = append(rs, newReplica(t, srv, shared.Options{Replica: name, Clock: c.Now, LeaseTTL: ttl, Prefix: "count"}))
	}
	beat := func(rs ...*replica) {
		t.Helper()
		for _, r := range rs {
			if err := r.store.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	beat(rs...)
	beat(rs[0])
	if got := rs[0].store.Replicas(); got != 3 {
		t.Fatalf("replicas %d; want 3", got)
	}
	c.Advance(ttl - time.Second)
	beat(rs[0], rs[1])
	c.Advance(2 * time.Second) // c's last heartbeat expired
	beat(rs[0])
	if got := rs[0].store.Replicas(); got != 2 {
		t.Fatalf("replicas %d after c stopped; want 2", got)
	}
}

// TestMembers: an answer one replica put is another's until TTL after
// Graph gave it; with Redis down every answer is a miss (asked of Graph).
func TestMembers(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newReplica(t, srv, shared.Options{Replica: "a", Prefix: "members", Timeout: 100 * time.Millisecond})
	b := newReplica(t, srv, shared.Options{Replica: "b", Prefix: "members", Timeout: 100 * time.Millisecond})
	ttl := 5 * time.Minute
	ma, mb := &shared.Members{Store: a.store, TTL: ttl}, &shared.Members{Store: b.store, TTL: ttl}
	ctx := context.Background()
	group := "90000000-0000-4000-8000-000000000001"
	had := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	tests := []struct {
		name       string
		user       string
		put        bool
		member     bool
		at         time.Time
		wantOK     bool
		wantMember bool
	}{
		{name: "a member", user: "adele@contoso.example", put: true, member: true, at: had, wantOK: true, wantMember: true},
		{name: "not a member", user: "diego@contoso.example", put: true, member: false, at: had, wantOK: true},
		{name: "never asked", user: "grady@contoso.example"},
		{name: "expired before it was put", user: "lee@contoso.example", put: true, member: true, at: time.Now().Add(-ttl)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.put {
				ma.Put(ctx, group, tt.user, tt.member, tt.at)
			}
			member, at, ok := mb.Get(ctx, group, tt.user)
			if ok != tt.wantOK || member != tt.wantMember || (ok && !at.Equal(tt.at)) {
				t.Errorf("got member %v at %v, ok %v; want %v at %v, ok %v", member, at, ok, tt.wantMember, tt.at, tt.wantOK)
			}
		})
	}
	srv.Stop()
	if _, _, ok := mb.Get(ctx, group, "adele@contoso.example"); ok {
		t.Error("an answer from a Redis that is down; want a miss")
	}
	if b.store.Sharing() {
		t.Error("Redis down is not noticed by the membership cache")
	}
}
