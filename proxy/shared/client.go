package shared

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"
)

// ClientOptions are how to reach the shared Redis.
type ClientOptions struct {
	// Address is host:port: Azure Managed Redis listens on 10000, Azure
	// Cache for Redis on 6380 (TLS).
	Address string
	// TLS, when not nil, is the connection's TLS configuration; nil
	// connects in the clear (loopback only: the configuration refuses it
	// elsewhere).
	TLS *tls.Config
	// Credentials, when not nil, supplies the user and password and
	// replaces them on every connection when they change (EntraCredentials).
	Credentials auth.StreamingCredentialsProvider
	// Username and Password authenticate when Credentials is nil; both
	// empty authenticates no one.
	Username, Password string
	// PoolSize bounds the connections; 0 is go-redis's default (10 per
	// CPU).
	PoolSize int
}

// NewClient returns a go-redis client for the store. Its calls have no
// timeout of their own and are never retried: each call is bounded by
// its context (Options.Timeout, a few milliseconds), and when it fails
// the store falls back rather than retrying. Connections are dialled in
// the background and kept warm, since a new connection (TLS, and an
// Entra token's AUTH) takes longer than one call may wait.
func NewClient(o ClientOptions) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                         o.Address,
		TLSConfig:                    o.TLS,
		StreamingCredentialsProvider: o.Credentials,
		Username:                     o.Username,
		Password:                     o.Password,
		ContextTimeoutEnabled:        true,
		MaxRetries:                   -1,
		DialTimeout:                  5 * time.Second,
		ReadTimeout:                  2 * time.Second,
		WriteTimeout:                 2 * time.Second,
		PoolSize:                     o.PoolSize,
		PoolTimeout:                  time.Second,
		MinIdleConns:                 4,
		// Pipelines (lease releases and renewals) share the warm pool:
		// go-redis's own pipeline pool never dials ahead.
		PipelinePoolSize: -1,
		// CLIENT SETINFO is a round trip per connection that tells Redis
		// the library's name; Azure's Redis need not know it.
		DisableIdentity: true,
		// RESP2: RESP3's push notifications (and the check for them
		// before each command) serve nothing here.
		Protocol: 2,
	})
}

// Logger adapts a slog.Logger to go-redis's process-wide logger
// (redis.SetLogger), whose lines would otherwise reach stderr as plain
// text among the proxy's JSON logs: failures at Warn, the pool's routine
// notices at Debug. go-redis logs neither passwords nor tokens.
type Logger struct{ Log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l Logger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	level := slog.LevelDebug
	if strings.Contains(msg, "fail") || strings.Contains(msg, "error") {
		level = slog.LevelWarn
	}
	l.Log.Log(ctx, level, "redis client", "detail", msg)
}
