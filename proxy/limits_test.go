package proxy

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
)

// clock is a settable time for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// admit takes a call of "engage" through the limiter as the handler does:
// Enter before its body is read, Acquire once it is decided.
func admit(l *Limiter, lim policy.Limits, n int, mailboxes []string) (end func(), err error) {
	leave, err := l.Enter(context.Background(), "engage", lim)
	if err != nil {
		return nil, err
	}
	release, err := l.Acquire(context.Background(), "engage", lim, n, mailboxes)
	if err != nil {
		leave()
		return nil, err
	}
	return func() { release(); leave() }, nil
}

func TestLimiterMailboxRate(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	l := NewLimiter(c.now)
	lim := policy.Limits{RPS: 1000, Burst: 1000, Concurrent: 100, MailboxConcurrent: 4, MailboxPer10Min: 10}
	for i := 0; i < 10; i++ {
		release, err := l.Acquire(context.Background(), "engage", lim, 1, []string{"a@contoso.example"})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		release()
	}
	_, err := l.Acquire(context.Background(), "engage", lim, 1, []string{"a@contoso.example"})
	var le *LimitedError
	if !errors.As(err, &le) || le.Limit != "mailbox a@contoso.example rate" || le.RetryAfter != time.Minute {
		t.Fatalf("got %v; want the mailbox's 10 per 10 minutes exceeded, retry in a minute", err)
	}
	// Refused calls took nothing: the caller's own budget is untouched,
	// and another caller's mailbox budget is its own.
	if release, err := l.Acquire(context.Background(), "other", lim, 1, []string{"a@contoso.example"}); err != nil {
		t.Errorf("another caller, same mailbox: %v", err)
	} else {
		release()
	}
	if got := retryAfterSeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("Retry-After for 1.5 s = %d; want 2 (rounded up)", got)
	}
}

// A policy reload that changes a caller's limits while its calls are in
// flight: those calls still count until they end, and once they have ended
// they count no more, so the caller is not left limited by calls long over.
func TestLimiterReloadInFlight(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	l := NewLimiter(c.now)
	before := policy.Limits{RPS: 100, Burst: 100, Concurrent: 1, MailboxConcurrent: 1, MailboxPer10Min: 600}
	after := before
	after.RPS, after.MailboxPer10Min = 50, 300
	mailbox := []string{"a@contoso.example"}

	end, err := admit(l, before, 1, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitedError
	if _, err := l.Enter(context.Background(), "engage", after); !errors.As(err, &le) || le.Limit != "caller concurrency" {
		t.Fatalf("a call in flight across the reload: %v; want caller concurrency", err)
	}
	if _, err := l.Acquire(context.Background(), "engage", after, 1, mailbox); !errors.As(err, &le) || le.Limit != "mailbox a@contoso.example concurrency" {
		t.Fatalf("its mailbox across the reload: %v; want mailbox concurrency", err)
	}
	end()
	end, err = admit(l, after, 1, mailbox)
	if err != nil {
		t.Fatalf("after the call in flight ended: %v; want admitted", err)
	}
	end()
}

// Nor does a reload refill a caller's bucket: limits changed by a policy
// reload apply to the tokens left, so reloading is no way around a rate.
func TestLimiterReloadKeepsTokens(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	l := NewLimiter(c.now)
	before := policy.Limits{RPS: 1, Burst: 2, Concurrent: 10, MailboxConcurrent: 1, MailboxPer10Min: 600}
	for range 2 {
		release, err := l.Acquire(context.Background(), "engage", before, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	after := before
	after.RPS = 2
	var le *LimitedError
	if _, err := l.Acquire(context.Background(), "engage", after, 1, nil); !errors.As(err, &le) || le.Limit != "caller rate" || le.RetryAfter != 500*time.Millisecond {
		t.Fatalf("after the reload: %v; want caller rate, retry after 500ms (the new rate, no new tokens)", err)
	}
}

// BenchmarkLimiterCall is the limiter's share of a call: Enter, Acquire
// for one mailbox, release and leave, over 1,000 mailboxes as the load
// benchmark's calls spread.
func BenchmarkLimiterCall(b *testing.B) {
	l := NewLimiter(nil)
	lim := policy.Limits{RPS: 1e9, Burst: 1e9, Concurrent: 1e6, MailboxConcurrent: 4, MailboxPer10Min: 1e9}
	mailboxes := make([][]string, 1000)
	for i := range mailboxes {
		mailboxes[i] = []string{"User" + strconv.Itoa(i) + "@Contoso.example"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		end, err := admit(l, lim, 1, mailboxes[i%len(mailboxes)])
		if err != nil {
			b.Fatal(err)
		}
		end()
		i++
	}
}
