package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// Membership answers whether a user is a (transitive) member of a group.
type Membership interface {
	// IsMember returns the answer, or an error when it is unknown.
	IsMember(ctx context.Context, group, user string) (bool, error)
}

// scopeTimeout bounds the membership checks of one call, all its targets
// together: the waits for a token and for Graph's answers, read whole.
// Answers already cached are given past it; a check it cuts short is
// unknown, and refuses.
const scopeTimeout = 30 * time.Second

// scope checks that every target of d (and of its sub-decisions) is a
// member of d.Group. Unknown membership refuses: the scope fails closed.
// The policy bounds the targets of a call (policy.MaxTargets), so a body
// cannot turn into more membership calls than that, and scopeTimeout
// bounds the time they take.
func (h *Handler) scope(ctx context.Context, d *policy.Decision) {
	if d.Group == "" || !d.Forwarded() {
		return
	}
	// One deadline for the stage, not one per check: the checks run one
	// after another, and each was bounded only by the transport's wait for
	// headers (graph.timeout, 100 s by default) with nothing on the body,
	// so a Graph that answers slowly or stalls mid-answer held the call —
	// its room in the audit queue and its concurrency slot — for up to
	// policy.MaxTargets times that (issue 17).
	ctx, cancel := context.WithTimeout(ctx, scopeTimeout)
	defer cancel()
	check := func(sd *policy.Decision) {
		for _, t := range sd.Targets {
			if slices.Contains(sd.Unscoped, t) {
				continue // users.withoutGroup: a room, a resource, a guest
			}
			if reason := h.memberReason(ctx, d.Group, t); reason != "" {
				sd.Refuse(reason)
				return
			}
		}
	}
	if len(d.Batch) == 0 {
		check(d)
		return
	}
	var refused []string
	for i := range d.Batch {
		check(&d.Batch[i].Decision)
		if d.Batch[i].Decision.Result != policy.Allow {
			refused = append(refused, d.Batch[i].ID)
		}
	}
	if len(refused) > 0 {
		d.Refuse("batch requests refused: " + strings.Join(refused, ", "))
	}
}

func (h *Handler) memberReason(ctx context.Context, group, user string) string {
	if h.o.Members == nil {
		return "no membership checker configured for users.group"
	}
	ok, err := h.o.Members.IsMember(ctx, group, user)
	switch {
	case err != nil:
		return fmt.Sprintf("membership of %s in group %s unknown: %v", user, group, err)
	case !ok:
		return fmt.Sprintf("%s is not a member of group %s", user, group)
	}
	return ""
}

// GraphMembership checks membership with Graph's checkMemberGroups, using
// the proxy's own token, and caches answers for TTL. An answer older than
// three quarters of TTL is refreshed in the background when asked for, so
// steady traffic rarely waits; an expired one is fetched again, and a
// failure then is an error (the caller denies). At most MaxEntries answers
// are kept.
type GraphMembership struct {
	Graph      *url.URL
	Transport  http.RoundTripper
	Tokens     upstream.TokenSource
	TTL        time.Duration
	MaxEntries int
	// Shared, when set, holds the answers every replica has from Graph
	// (shared.Members, limits.store: redis): an answer another replica
	// had less than three quarters of TTL ago is taken instead of asking
	// Graph again, and keeps the time it was had, so it expires with the
	// same TTL on every replica. Nil: each replica asks Graph itself.
	Shared MemberCache
	// Audit, when set, takes a record of each check (kind membership)
	// before it is sent, whose client-request-id the check carries: every
	// request made with the proxy's token is one the proxy recorded, and
	// Graph's activity log shows which (audit reconcile). No room for the
	// record, no check: the call that needed it is refused.
	Audit AuditLog
	// Background bounds the refreshes made in the background: they stop
	// when it ends (the proxy's shutdown begins), and the record of one cut
	// then is written while the audit log still takes it, not left to
	// outlast the log's bounded wait at Close. Nil: context.Background.
	Background context.Context

	mu      sync.Mutex
	entries map[memberKey]*memberEntry
}

// MemberCache holds membership answers several replicas share. Get
// reports a miss (ok false) for anything it cannot answer, its own
// failures included, so that a failing cache costs a call to Graph and
// never an assumed answer; Put is best effort.
type MemberCache interface {
	// Get returns the answer for user in group and when it was had from
	// Graph.
	Get(ctx context.Context, group, user string) (member bool, at time.Time, ok bool)
	// Put stores an answer had from Graph at the time given.
	Put(ctx context.Context, group, user string, member bool, at time.Time)
}

type memberKey struct{ group, user string }

type memberEntry struct {
	member     bool
	at         time.Time
	refreshing bool
}

// IsMember implements Membership.
func (m *GraphMembership) IsMember(ctx context.Context, group, user string) (bool, error) {
	k := memberKey{strings.ToLower(group), strings.ToLower(user)}
	now := time.Now()
	m.mu.Lock()
	if m.entries == nil {
		m.entries = map[memberKey]*memberEntry{}
	}
	e := m.entries[k]
	if e != nil && now.Sub(e.at) < m.TTL {
		if now.Sub(e.at) > m.TTL*3/4 && !e.refreshing {
			e.refreshing = true
			go m.refresh(k)
		}
		member := e.member
		m.mu.Unlock()
		return member, nil
	}
	m.mu.Unlock()
	return m.refreshCtx(ctx, k, time.Time{})
}

func (m *GraphMembership) refresh(k memberKey) {
	base := m.Background
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithTimeout(base, scopeTimeout)
	defer cancel()
	var held time.Time
	m.mu.Lock()
	if e := m.entries[k]; e != nil {
		held = e.at
	}
	m.mu.Unlock()
	if _, err := m.refreshCtx(ctx, k, held); err != nil {
		m.mu.Lock()
		if e := m.entries[k]; e != nil {
			e.refreshing = false
		}
		m.mu.Unlock()
	}
}

// refreshCtx fetches the answer for k, newer than the one had at held:
// from the shared cache when another replica had it recently, else from
// Graph (and then shares it).
func (m *GraphMembership) refreshCtx(ctx context.Context, k memberKey, held time.Time) (bool, error) {
	if m.Shared != nil {
		member, at, ok := m.Shared.Get(ctx, k.group, k.user)
		// Another replica's clock may run ahead: an answer is never
		// taken as younger than now, or it would outlive its TTL here.
		if now := time.Now(); at.After(now) {
			at = now
		}
		if ok && at.After(held) && time.Since(at) < m.TTL*3/4 {
			m.store(k, member, at)
			return member, nil
		}
	}
	member, err := m.check(ctx, k.group, k.user)
	if err != nil {
		return false, err
	}
	at := time.Now()
	m.store(k, member, at)
	if m.Shared != nil {
		m.Shared.Put(ctx, k.group, k.user, member, at)
	}
	return member, nil
}

// store keeps the answer for k, had at the time given.
func (m *GraphMembership) store(k memberKey, member bool, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.MaxEntries {
		// Bounded: drop an arbitrary entry (map order is random).
		for old := range m.entries {
			delete(m.entries, old)
			break
		}
	}
	m.entries[k] = &memberEntry{member: member, at: at}
}

// KindMembership marks the record of a membership check the proxy made.
const KindMembership = "membership"

// check asks Graph whether user is a member of group, under a record of
// its own when m.Audit is set.
func (m *GraphMembership) check(ctx context.Context, group, user string) (bool, error) {
	if m.Audit == nil {
		return m.ask(ctx, group, user, nil)
	}
	ticket, err := m.Audit.Reserve(1)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errAuditUnavailable, err)
	}
	defer ticket.Release()
	path := "/users/" + url.PathEscape(user) + "/checkMemberGroups"
	rec := &auditlog.Record{
		Kind: KindMembership, RequestID: newID(), ClientRequestID: newID(),
		Method: http.MethodPost, Version: "v1.0", Path: path, Target: user, Targets: []string{user},
	}
	start := time.Now()
	member, err := m.ask(ctx, group, user, rec)
	rec.Time, rec.DurationMs = time.Now().UTC(), float64(time.Since(start).Microseconds())/1000
	switch {
	case err != nil:
		rec.Decision, rec.Error = "unknown", err.Error()
	case member:
		rec.Decision = "member"
	default:
		rec.Decision = "notMember"
	}
	rec.Reason = "group " + group
	if aerr := ticket.Append(rec); aerr != nil {
		return false, fmt.Errorf("%w: %w", errAuditUnavailable, aerr)
	}
	return member, err
}

// ask sends checkMemberGroups, with rec's client-request-id when rec is
// set, and notes Graph's answer in rec.
func (m *GraphMembership) ask(ctx context.Context, group, user string, rec *auditlog.Record) (bool, error) {
	tok, err := m.Tokens.Token(ctx)
	if err != nil {
		return false, err
	}
	body, _ := json.Marshal(map[string][]string{"groupIds": {group}})
	u := m.Graph.String() + "/v1.0/users/" + url.PathEscape(user) + "/checkMemberGroups"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", tok.Authorization())
	req.Header.Set("Content-Type", "application/json")
	if rec != nil {
		req.Header.Set("client-request-id", rec.ClientRequestID)
	}
	var attempts outbound.Attempts
	resp, err := outbound.Send(m.Transport, attempts.Trace(req))
	if rec != nil {
		rec.Attempts = attempts.Count()
	}
	if err != nil {
		return false, fmt.Errorf("checkMemberGroups: %w", outbound.Error(err))
	}
	defer resp.Body.Close()
	if rec != nil {
		rec.UpstreamStatus, rec.GraphRequestID = resp.StatusCode, resp.Header.Get("request-id")
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil // no such user: certainly not a member
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("checkMemberGroups: Graph answered %d", resp.StatusCode)
	}
	var out struct {
		Value []string `json:"value"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&out); err != nil {
		return false, fmt.Errorf("checkMemberGroups: %w", err)
	}
	for _, g := range out.Value {
		if strings.EqualFold(g, group) {
			return true, nil
		}
	}
	return false, nil
}

var _ Membership = (*GraphMembership)(nil)
