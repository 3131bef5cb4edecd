package shared

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// Members is a proxy.MemberCache in Redis: the group membership answers
// one replica had from Graph serve every replica, each until TTL after
// Graph gave it (the TTL of proxy.GraphMembership), so that N replicas
// ask Graph once rather than N times. A Redis that fails or is slow is a
// miss, and the proxy asks Graph: never an assumed answer.
type Members struct {
	Store *Store
	// TTL is how long an answer lasts from the time Graph gave it.
	TTL time.Duration
}

var _ proxy.MemberCache = (*Members)(nil)

func (m *Members) key(group, user string) string {
	return m.Store.o.Prefix + ":member:" + strings.ToLower(group) + ":" + strings.ToLower(user)
}

// Get implements proxy.MemberCache.
func (m *Members) Get(ctx context.Context, group, user string) (member bool, at time.Time, ok bool) {
	s := m.Store
	if !s.Sharing() {
		return false, time.Time{}, false
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	v, err := s.rdb.Get(cctx, m.key(group, user)).Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			s.failed(ctx, err)
		}
		return false, time.Time{}, false
	}
	// "1:<unix ms>" or "0:<unix ms>".
	flag, ms, found := strings.Cut(v, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !found || err != nil || (flag != "0" && flag != "1") {
		return false, time.Time{}, false
	}
	return flag == "1", time.UnixMilli(n), true
}

// Put implements proxy.MemberCache. The key expires when the answer
// does.
func (m *Members) Put(ctx context.Context, group, user string, member bool, at time.Time) {
	s := m.Store
	left := m.TTL - time.Since(at)
	if !s.Sharing() || left <= 0 {
		return
	}
	flag := "0"
	if member {
		flag = "1"
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	err := s.rdb.Set(cctx, m.key(group, user), flag+":"+strconv.FormatInt(at.UnixMilli(), 10), left).Err()
	s.failed(ctx, err)
}
