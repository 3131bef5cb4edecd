package shared

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/policy"
)

// Options configure a Store. Client is required; every other field has a
// default.
type Options struct {
	// Client is the Redis every replica shares (NewClient).
	Client redis.UniversalClient
	// Prefix begins every key, so that deployments can share one Redis.
	// Default "graph-proxy".
	Prefix string
	// Replica names this replica (audit.replica) in the set of live
	// replicas; a random suffix makes each process a member of its own.
	Replica string
	// Timeout bounds each Redis call made for a Graph call: past it the
	// call is admitted or refused by the local fallback instead. Default
	// 5ms.
	Timeout time.Duration
	// LeaseTTL is how long a concurrency lease outlives the replica that
	// holds it, and a replica its last heartbeat: leases are renewed every
	// third of it while their calls last. Default 30s.
	LeaseTTL time.Duration
	// AssumedReplicas is the replica count the local fallback divides the
	// limits by until Redis has told this replica how many are alive: a
	// replica that starts while Redis is down. Default 1.
	AssumedReplicas int
	// Logger receives the changes between shared and fallback limits; nil
	// discards them.
	Logger *slog.Logger
	// Clock, when set, replaces Redis's clock (TIME) in the scripts'
	// arithmetic, so that tests can step time. Production leaves it nil:
	// replicas whose clocks disagree then still agree on every limit.
	Clock func() time.Time
}

// maintenanceTimeout bounds the heartbeat, lease renewals and the
// releases owed since an outage: work off the path of any call.
const maintenanceTimeout = time.Second

// Store is the state the replicas share in Redis: their limits (Limiter),
// membership answers (Members) and the set of replicas alive. It knows
// whether Redis answers: after a call to Redis fails or takes longer than
// Timeout it falls back — limits are counted locally, divided by the
// replica count last known — until its heartbeat finds Redis answering
// within Timeout again (Run). It is safe for concurrent use.
type Store struct {
	o        Options
	rdb      redis.UniversalClient
	log      *slog.Logger
	instance string // this process in the set of replicas, and its leases' prefix
	seq      atomic.Uint64

	down      atomic.Bool // falling back to local limits
	fallbacks atomic.Uint64
	failures  atomic.Uint64

	mu         sync.Mutex
	since      time.Time // of the current mode
	lastErr    string
	replicas   int // alive at the last heartbeat; 0 before the first
	replicasAt time.Time
	held       map[string][]string // lease member → its keys, renewed while held
	owed       []lease             // leases whose release failed, released once Redis is back
	renewed    time.Time
}

// lease is a lease member and the keys it holds.
type lease struct {
	member string
	keys   []string
}

// maxOwed bounds the releases kept through an outage; beyond it the
// oldest are left to expire (LeaseTTL).
const maxOwed = 10000

// New returns a Store over o.Client. It starts in shared mode; Run keeps
// it current.
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("shared: no Redis client")
	}
	if o.Prefix == "" {
		o.Prefix = "graph-proxy"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Millisecond
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.AssumedReplicas < 1 {
		o.AssumedReplicas = 1
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return &Store{o: o, rdb: o.Client, log: log, instance: o.Replica + "/" + hex.EncodeToString(rnd[:]),
		since: time.Now(), held: map[string][]string{}}, nil
}

// Status is what /status says of the shared limits.
type Status struct {
	// Store is "redis".
	Store string `json:"store"`
	// Mode is "shared" (Redis counts every replica's calls) or "fallback"
	// (each replica counts its own against the limits divided by
	// Replicas).
	Mode  string    `json:"mode"`
	Since time.Time `json:"since"`
	// Replicas is the replica count last known (or assumed, before Redis
	// has answered), and ReplicasAt when Redis said it.
	Replicas   int       `json:"replicas"`
	ReplicasAt time.Time `json:"replicasAt,omitzero"`
	// Fallbacks counts the times the limits fell back; Failures the
	// Redis calls that failed or timed out.
	Fallbacks uint64 `json:"fallbacks"`
	Failures  uint64 `json:"failures"`
	// LastError is the last Redis failure, while falling back.
	LastError string `json:"lastError,omitempty"`
	// Leases is the number of this replica's calls holding leases.
	Leases int `json:"leases"`
}

// Status reports the mode, the replica count and the failures.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Store: "redis", Mode: "shared", Since: s.since, Replicas: s.replicaCount(), ReplicasAt: s.replicasAt,
		Fallbacks: s.fallbacks.Load(), Failures: s.failures.Load(), Leases: len(s.held)}
	if s.down.Load() {
		st.Mode, st.LastError = "fallback", s.lastErr
	}
	return st
}

// Sharing reports whether limits are counted in Redis now (false: the
// local fallback).
func (s *Store) Sharing() bool { return !s.down.Load() }

// Fallbacks is the number of times the limits fell back to local ones.
func (s *Store) Fallbacks() uint64 { return s.fallbacks.Load() }

// Failures is the number of Redis calls that failed or timed out.
func (s *Store) Failures() uint64 { return s.failures.Load() }

// Replicas is the replica count the fallback divides limits by.
func (s *Store) Replicas() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicaCount()
}

func (s *Store) replicaCount() int {
	if s.replicas > 0 {
		return s.replicas
	}
	return s.o.AssumedReplicas
}

// failed reports whether err, from a Redis call made on behalf of parent
// (the Graph call's context, before the Redis call's own timeout), is
// Redis failing, and if so falls back. Neither a nil error nor the
// caller going away (parent ended) is.
func (s *Store) failed(parent context.Context, err error) bool {
	if err == nil || parent.Err() != nil {
		return false
	}
	s.failures.Add(1)
	if s.down.Swap(true) {
		return true
	}
	s.fallbacks.Add(1)
	s.mu.Lock()
	s.since, s.lastErr = time.Now(), err.Error()
	n := s.replicaCount()
	s.mu.Unlock()
	s.log.Warn("shared limits unavailable: each replica now counts its own calls against the limits divided by the replicas last known, until Redis answers again",
		"replicas", n, "timeout", s.o.Timeout.String(), "error", err)
	return true
}

// restore returns to shared limits, once Redis has answered in time.
func (s *Store) restore() {
	if !s.down.Load() {
		return
	}
	s.mu.Lock()
	since := s.since
	s.since, s.lastErr = time.Now(), ""
	s.mu.Unlock()
	s.down.Store(false)
	s.log.Info("shared limits restored: Redis answers again", "after", time.Since(since).Round(time.Millisecond).String())
}

// callCtx bounds one Redis call made for a Graph call.
func (s *Store) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.Timeout)
}

// clock is Options.Clock, or this machine's.
func (s *Store) clock() time.Time {
	if s.o.Clock == nil {
		return time.Now()
	}
	return s.o.Clock()
}

// now is the scripts' "now" argument: empty for Redis's clock.
func (s *Store) now() string {
	if s.o.Clock == nil {
		return ""
	}
	return strconv.FormatInt(s.o.Clock().UnixMicro(), 10)
}

func (s *Store) ttl() string { return strconv.FormatInt(s.o.LeaseTTL.Microseconds(), 10) }

// member names a new lease: this process, and a sequence number.
func (s *Store) member() string {
	return s.instance + "#" + strconv.FormatUint(s.seq.Add(1), 10)
}

// key names a caller's key. The caller is the hash tag ({…}), so that
// the keys one script touches live on one shard of a clustered Redis
// (Azure Managed Redis); braces in a name are escaped so it cannot end
// the tag early.
func (s *Store) key(caller string, parts ...string) string {
	k := s.o.Prefix + ":{" + url.QueryEscape(caller) + "}"
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

// hold records a lease taken, to be renewed while its call lasts.
func (s *Store) hold(member string, keys []string) {
	s.mu.Lock()
	s.held[member] = keys
	s.mu.Unlock()
}

// release ends a lease: at once, or, while Redis is down, once it is back
// (until then the lease cannot count against anyone: the limits are
// local). A release that fails is owed the same way; past maxOwed the
// lease is left to expire.
func (s *Store) release(member string) {
	s.mu.Lock()
	keys := s.held[member]
	delete(s.held, member)
	s.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	if s.Sharing() {
		ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
		defer cancel()
		if !s.failed(context.Background(), s.zrem(ctx, lease{member, keys})) {
			return
		}
	}
	s.owe(lease{member, keys})
}

// owe records a release to make once Redis is back: of a lease whose
// release failed, or whose acquisition timed out (Redis may have run the
// script after the call stopped waiting, leaving a lease nobody holds).
func (s *Store) owe(l lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.owed) >= maxOwed {
		s.owed = s.owed[1:]
	}
	s.owed = append(s.owed, l)
}

func (s *Store) zrem(ctx context.Context, ls ...lease) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range ls {
			for _, k := range l.keys {
				p.ZRem(ctx, k, l.member)
			}
		}
		return nil
	})
	return err
}

// Run keeps the store current until ctx ends: a heartbeat every second
// at most (a third of LeaseTTL when shorter) registers this replica and
// learns how many are alive; while falling back, the heartbeat that finds
// Redis answering within Timeout restores shared limits, with the
// releases owed since; while sharing, the leases held are renewed every
// third of LeaseTTL. When ctx ends, the replica leaves the set of those
// alive.
func (s *Store) Run(ctx context.Context) {
	every := min(time.Second, s.o.LeaseTTL/3)
	t := time.NewTicker(every)
	defer t.Stop()
	s.Heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), maintenanceTimeout)
			defer cancel()
			s.rdb.ZRem(dctx, s.o.Prefix+":replicas", s.instance)
			return
		case <-t.C:
			s.Heartbeat(ctx)
		}
	}
}

// Heartbeat runs one round of Run: it registers the replica, learns the
// replica count, and renews leases or restores shared limits as due. It
// returns Redis's error, if any.
func (s *Store) Heartbeat(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, maintenanceTimeout)
	defer cancel()
	n, err := heartbeatScript.Run(hctx, s.rdb, []string{s.o.Prefix + ":replicas"}, s.now(), s.ttl(), s.instance).Int()
	if err != nil {
		s.failed(ctx, err)
		return fmt.Errorf("shared: heartbeat: %w", err)
	}
	s.mu.Lock()
	if n != s.replicas && s.replicas > 0 {
		s.log.Info("replica count changed", "replicas", n, "was", s.replicas)
	}
	s.replicas, s.replicasAt = n, time.Now()
	renew := s.clock().Sub(s.renewed) >= s.o.LeaseTTL/3
	s.mu.Unlock()

	if !s.Sharing() {
		// A Redis that answers the heartbeat but slower than calls may
		// wait would only make each call wait, then fall back again.
		pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		err := s.rdb.Ping(pctx).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("shared: Redis answers, but not within %s: %w", s.o.Timeout, err)
		}
		// A Redis that restarted has lost its scripts: loaded now, the
		// first calls need not send them.
		for _, sc := range scripts {
			if err := sc.Load(hctx, s.rdb).Err(); err != nil {
				return fmt.Errorf("shared: loading scripts: %w", err)
			}
		}
		if err := s.payOwed(hctx); err != nil {
			return err
		}
		s.restore()
		renew = true
	} else if err := s.payOwed(hctx); err != nil {
		s.failed(ctx, err)
		return err
	}
	if renew {
		return s.renew(ctx, hctx)
	}
	return nil
}

// payOwed releases the leases whose release failed while Redis was down,
// so that they do not hold their slots until they expire.
func (s *Store) payOwed(ctx context.Context) error {
	s.mu.Lock()
	owed := s.owed
	s.owed = nil
	s.mu.Unlock()
	if len(owed) == 0 {
		return nil
	}
	if err := s.zrem(ctx, owed...); err != nil {
		s.mu.Lock()
		s.owed = append(owed, s.owed...)
		s.mu.Unlock()
		return fmt.Errorf("shared: releasing leases: %w", err)
	}
	return nil
}

// renew extends the leases of the calls in flight by LeaseTTL, in ctx
// (bounded) on behalf of parent.
func (s *Store) renew(parent, ctx context.Context) error {
	s.mu.Lock()
	byKey := map[string][]any{}
	for member, keys := range s.held {
		for _, k := range keys {
			byKey[k] = append(byKey[k], member)
		}
	}
	s.renewed = s.clock()
	s.mu.Unlock()
	if len(byKey) == 0 {
		return nil
	}
	if err := renewScript.Load(ctx, s.rdb).Err(); err != nil {
		s.failed(parent, err)
		return fmt.Errorf("shared: renewing leases: %w", err)
	}
	now, ttl := s.now(), s.ttl()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, members := range byKey {
			renewScript.EvalSha(ctx, p, []string{k}, append([]any{now, ttl}, members...)...)
		}
		return nil
	})
	if err != nil {
		s.failed(parent, err)
		return fmt.Errorf("shared: renewing leases: %w", err)
	}
	return nil
}

// divide is lim shared among n replicas, for the local fallback: every
// limit divided, none below one (the proxy keeps serving: with more
// replicas than a limit allows calls, each still admits one).
func divide(lim policy.Limits, n int) policy.Limits {
	if n <= 1 {
		return lim
	}
	part := func(v int) int { return max(1, v/n) }
	return policy.Limits{
		RPS:               lim.RPS / float64(n),
		Burst:             part(lim.Burst),
		Concurrent:        part(lim.Concurrent),
		MailboxConcurrent: part(lim.MailboxConcurrent),
		MailboxPer10Min:   part(lim.MailboxPer10Min),
	}
}
