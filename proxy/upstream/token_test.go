package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestTokenRedacted(t *testing.T) {
	tok := Token{Value: "eyJhbGciOi.secret-token-value.sig", ExpiresOn: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("token", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token", "token", tok)
	fmt.Fprintf(&buf, "%v %s %+v\n", tok, tok, tok)
	if strings.Contains(buf.String(), "secret-token-value") || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("a token was printed:\n%s", buf.String())
	}
}

// stepCred hands out tokens expiring at the times queued, one per call,
// then blocks until released (a renewal still in flight).
type stepCred struct {
	expiries chan time.Time
	release  chan struct{}
}

func (s stepCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	select {
	case exp := <-s.expiries:
		return azcore.AccessToken{Token: "tok", ExpiresOn: exp}, nil
	default:
	}
	select {
	case <-s.release:
		return azcore.AccessToken{}, errors.New("released")
	case <-ctx.Done():
		return azcore.AccessToken{}, ctx.Err()
	}
}

// Ready says why the proxy holds no valid token: none acquired yet, the
// last acquisition's error, or an expired token whose renewal is pending.
func TestCacheReadyReasons(t *testing.T) {
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	now := start
	cred := stepCred{expiries: make(chan time.Time, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(cred.release) })
	c := NewCache(cred, "https://graph.microsoft.com/.default")
	c.now = func() time.Time { return now }

	if err := c.Ready(); err == nil || !strings.Contains(err.Error(), "not acquired yet") {
		t.Errorf("before any acquisition: %v", err)
	}
	cred.expiries <- start.Add(time.Hour)
	if _, err := c.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(); err != nil {
		t.Errorf("with a valid token: %v", err)
	}
	now = start.Add(2 * time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Token(ctx); err == nil {
		t.Fatal("an expired token was served")
	}
	err := c.Ready()
	if err == nil || !strings.Contains(err.Error(), "expired at 2026-12-02T10:00:00Z") || !strings.Contains(err.Error(), "renewal has not completed") {
		t.Errorf("expired, renewal in flight: %v", err)
	}
}
