package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// limiting is how calls are limited (limits.store): by this replica's own
// counts, or by counts every replica shares in Redis, which then shares
// group membership answers too.
type limiting struct {
	limiter proxy.CallLimiter
	// members and owners are nil unless the answers are shared.
	members proxy.MemberCache
	owners  proxy.OwnerStore
	// store is nil with limits.store: local.
	store      *shared.Store
	background []func(context.Context)
	close      func()
}

// status is what /status says of the limits.
func (l *limiting) status() any {
	if l.store == nil {
		return map[string]any{"store": config.StoreLocal}
	}
	return l.store.Status()
}

// memberTTL is how long a group membership answer is kept, by each
// replica and in Redis alike.
const memberTTL = 5 * time.Minute

// newLimiting builds the limiter of cfg.Limits.Store. With redis, it
// builds the Entra credential (before the identity endpoint's secret is
// scrubbed from the environment), fetches the first token and beats once,
// each bounded: a Redis that does not answer at start is not a reason not
// to serve (the limits fall back), and the log says so.
func newLimiting(ctx context.Context, cfg config.Config, roots *x509.CertPool, loginURL *url.URL, client *http.Client,
	replica string, log *slog.Logger, tel *telemetry.Telemetry) (*limiting, error) {
	if cfg.Limits.Store != config.StoreRedis {
		return &limiting{limiter: proxy.NewLimiter(nil), close: func() {}}, nil
	}
	r := cfg.Limits.Redis
	// go-redis logs through one process-wide logger; its lines go into
	// the proxy's structured log rather than plain text on stderr.
	redis.SetLogger(shared.Logger{Log: log})
	co := shared.ClientOptions{Address: r.Address}
	if r.TLS {
		co.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	var background []func(context.Context)
	switch r.Auth {
	case config.RedisAuthEntra:
		mi, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
			ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
		if err != nil {
			return nil, fmt.Errorf("limits.redis.auth: %w", err)
		}
		creds := &shared.EntraCredentials{Credential: mi, Logger: log}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = creds.Refresh(tctx)
		cancel()
		if err != nil {
			log.Error("no Entra token for Redis yet: the limits are local (divided by limits.redis.assumedReplicas) until one is had",
				"error", err, "fix", "give the managed identity a data access policy assignment on the cache (the templates do)")
		}
		co.Credentials = creds
		background = append(background, creds.Run)
	case config.RedisAuthPassword:
		co.Username, co.Password = r.Username, r.Password
	}
	rdb := shared.NewClient(co)
	store, err := shared.New(shared.Options{
		Client:          rdb,
		Prefix:          r.KeyPrefix,
		Replica:         replica,
		Timeout:         r.Timeout,
		LeaseTTL:        r.LeaseTTL,
		AssumedReplicas: r.AssumedReplicas,
		Logger:          log,
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	if err := store.Heartbeat(ctx); err != nil {
		log.Error("shared limits: Redis does not answer at start; each replica counts its own calls against the limits divided by limits.redis.assumedReplicas until it does",
			"address", r.Address, "replicas", store.Replicas(), "error", err)
	} else {
		log.Info("shared limits in Redis", "address", r.Address, "replicas", store.Replicas())
	}
	mode := func() int64 {
		if store.Sharing() {
			return 0
		}
		return 1
	}
	if err := errors.Join(
		tel.Gauge("graph_proxy.limits.fallback", "1 while the limits are this replica's own (divided by the replica count) because Redis failed or was slow; 0 while they are shared.", mode),
		tel.Gauge("graph_proxy.limits.replicas", "The replica count the shared limits' fallback divides by: alive at the last heartbeat, or assumed.", func() int64 { return int64(store.Replicas()) }),
		tel.Counter("graph_proxy.limits.fallbacks", "Times the limits fell back from Redis to local ones.", func() int64 { return int64(store.Fallbacks()) }),
		tel.Counter("graph_proxy.limits.redis_failures", "Redis calls that failed or exceeded limits.redis.timeout.", func() int64 { return int64(store.Failures()) }),
	); err != nil {
		rdb.Close()
		return nil, err
	}
	// The store leaves the set of replicas alive when its Run ends; the
	// client is closed only after that (or a second later).
	var running atomic.Bool
	ran := make(chan struct{})
	run := func(ctx context.Context) {
		running.Store(true)
		defer close(ran)
		store.Run(ctx)
	}
	return &limiting{
		limiter:    shared.NewLimiter(store),
		members:    &shared.Members{Store: store, TTL: memberTTL},
		owners:     &shared.Owners{Store: store},
		store:      store,
		background: append(background, run),
		close: func() {
			if running.Load() {
				select {
				case <-ran:
				case <-time.After(2 * time.Second):
				}
			}
			rdb.Close()
		},
	}, nil
}
