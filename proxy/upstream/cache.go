package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Token is a Graph access token. Its String and LogValue never reveal the
// value.
type Token struct {
	Value     string
	ExpiresOn time.Time
	// bearer is the Authorization header value, built once per token
	// rather than per call (a token is over a kilobyte).
	bearer string
}

// Authorization is the value of the Authorization header that presents
// the token.
func (t Token) Authorization() string {
	if t.bearer != "" {
		return t.bearer
	}
	return "Bearer " + t.Value
}

// String redacts the token.
func (t Token) String() string { return "REDACTED" }

// LogValue redacts the token in structured logs, whatever the log's
// format: a token logged by mistake shows as REDACTED.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("value", "REDACTED"), slog.Time("expiresOn", t.ExpiresOn))
}

// TokenSource yields the current Graph token.
type TokenSource interface {
	// Token returns a valid token or an error wrapping ErrUnavailable.
	Token(ctx context.Context) (Token, error)
}

// ErrUnavailable means no valid Graph token can be had now. Its cause is for
// the operator's log; callers get a generic 503.
var ErrUnavailable = errors.New("upstream: Graph token unavailable")

// Cache is a TokenSource over an azcore.TokenCredential. It is safe for
// concurrent use; the zero value is not usable, use NewCache.
type Cache struct {
	// OnError, when set, is told of every failed acquisition (for the
	// operator's log: the error may carry token endpoint detail).
	OnError func(error)
	// OnAcquired, when set, is told of every acquisition's result.
	OnAcquired func(error)

	cred    azcore.TokenCredential
	scope   string
	timeout time.Duration
	now     func() time.Time

	mu       sync.Mutex
	tok      Token
	lastErr  error
	inflight *flight
	// fetches counts acquisitions started, for /status and tests.
	fetches int
}

type flight struct {
	done chan struct{}
	tok  Token
	err  error
}

// NewCache returns a Cache that acquires tokens for scope (e.g.
// "https://graph.microsoft.com/.default") from cred.
func NewCache(cred azcore.TokenCredential, scope string) *Cache {
	return &Cache{cred: cred, scope: scope, timeout: 30 * time.Second, now: time.Now}
}

// Token returns the cached token while it is valid, starting a background
// refresh once it is due; when none is valid it waits for the single shared
// acquisition (or ctx).
func (c *Cache) Token(ctx context.Context) (Token, error) {
	c.mu.Lock()
	now := c.now()
	if c.valid(now) {
		tok := c.tok
		if now.After(c.refreshAt()) {
			c.startLocked()
		}
		c.mu.Unlock()
		return tok, nil
	}
	f := c.startLocked()
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return Token{}, fmt.Errorf("%w: %w", ErrUnavailable, f.err)
		}
		return f.tok, nil
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// Ready reports nil when a valid token is held, else why not.
func (c *Cache) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid(c.now()) {
		return nil
	}
	switch {
	case c.lastErr != nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, c.lastErr)
	case c.tok.Value != "":
		return fmt.Errorf("%w: the token expired at %s and its renewal has not completed", ErrUnavailable, c.tok.ExpiresOn.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%w: not acquired yet", ErrUnavailable)
}

// ExpiresOn is the current token's expiry; zero when none is held.
func (c *Cache) ExpiresOn() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok.ExpiresOn
}

// Run keeps the token fresh until ctx ends: it acquires one at once, then
// again ahead of each expiry, retrying failures with jittered exponential
// backoff (1 s doubling to 1 min).
func (c *Cache) Run(ctx context.Context) {
	backoff := time.Second
	for {
		c.mu.Lock()
		f := c.startLocked()
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
		var wait time.Duration
		if f.err != nil {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
			c.mu.Lock()
			wait = c.refreshAt().Sub(c.now())
			c.mu.Unlock()
		}
		t := time.NewTimer(max(wait, 100*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func (c *Cache) valid(now time.Time) bool {
	// A token that would expire within the next few seconds is as good as
	// expired: Graph would reject it mid-flight.
	return c.tok.Value != "" && now.Add(5*time.Second).Before(c.tok.ExpiresOn)
}

// refreshAt is when the current token is due for renewal: five minutes
// before expiry, or half-way through a shorter lifetime.
func (c *Cache) refreshAt() time.Time {
	ahead := 5 * time.Minute
	if life := c.tok.ExpiresOn.Sub(c.now()); life < 2*ahead {
		ahead = life / 2
	}
	return c.tok.ExpiresOn.Add(-ahead)
}

// startLocked returns the acquisition in flight, starting one if none is.
// It runs on its own context, not a request's: one caller giving up must
// not cancel the acquisition the others wait for.
func (c *Cache) startLocked() *flight {
	if c.inflight != nil {
		return c.inflight
	}
	f := &flight{done: make(chan struct{})}
	c.inflight = f
	c.fetches++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		at, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
		c.mu.Lock()
		if err == nil {
			c.tok = Token{Value: at.Token, ExpiresOn: at.ExpiresOn, bearer: "Bearer " + at.Token}
			c.lastErr = nil
		} else {
			c.lastErr = err
		}
		f.tok, f.err = c.tok, err
		if err == nil && !c.valid(c.now()) {
			f.err = errors.New("acquired token is already expired")
		}
		c.inflight = nil
		c.mu.Unlock()
		// Told before the waiters wake (not under the lock), so that what
		// a waiter does next — a readiness check, a log line — comes after.
		if err != nil && c.OnError != nil {
			c.OnError(err)
		}
		if c.OnAcquired != nil {
			c.OnAcquired(err)
		}
		close(f.done)
	}()
	return f
}

// Fetches reports how many acquisitions the cache has started.
func (c *Cache) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}
