package shared

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// Owners is a proxy.OwnerStore in Redis: the identity of the caller that
// made each subscription through any replica (callers.Caller.Identity),
// so that every replica refuses a call on another caller's subscription
// without reading it from Graph. A Redis that fails or is slow is a miss,
// and the proxy reads the subscription: never an assumed maker.
type Owners struct {
	Store *Store
}

var _ proxy.OwnerStore = (*Owners)(nil)

// ownersKey is the keys' namespace. Versions before identities held the
// maker's policy name under {prefix}:subscription:{id}; those keys are
// never read, so what they hold is unknown (the subscription is read from
// Graph), never compared with an identity, and they expire with their
// subscriptions.
const ownersKey = ":subscription-maker:v2:"

func (o *Owners) key(id string) string {
	return o.Store.o.Prefix + ownersKey + id
}

// GetOwner implements proxy.OwnerStore.
func (o *Owners) GetOwner(ctx context.Context, id string) (string, bool) {
	s := o.Store
	if !s.Sharing() {
		return "", false
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	identity, err := s.rdb.Get(cctx, o.key(id)).Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			s.failed(ctx, err)
		}
		return "", false
	}
	return identity, identity != ""
}

// PutOwner implements proxy.OwnerStore. The key expires with the entry.
func (o *Owners) PutOwner(ctx context.Context, id, identity string, until time.Time) {
	s := o.Store
	left := time.Until(until)
	if !s.Sharing() || left <= 0 {
		return
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	s.failed(ctx, s.rdb.Set(cctx, o.key(id), identity, left).Err())
}

// DeleteOwner implements proxy.OwnerStore.
func (o *Owners) DeleteOwner(ctx context.Context, id string) {
	s := o.Store
	if !s.Sharing() {
		return
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	s.failed(ctx, s.rdb.Del(cctx, o.key(id)).Err())
}
