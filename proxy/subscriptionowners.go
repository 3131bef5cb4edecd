package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// Who made each subscription. Graph lets the proxy's application — every
// caller of the proxy — read, renew, redirect and delete every
// subscription the application holds, so a call on /subscriptions/{id}
// is decided on the subscription itself, read from Graph first
// (policy.LookupSubscription). That read is a request to Graph on the
// subscription's path even when the call is then refused: the proxy acts
// on another caller's subscription on an attacker's behalf, if only to
// read it. The proxy therefore remembers which caller made each
// subscription it created, and refuses a call on one another caller made
// before anything of it is sent to Graph, alone or in a $batch, whichever
// way it was made. A subscription it does not know (made before the
// proxy started, or elsewhere while the shared store failed, or whose
// answer the proxy did not read whole) is read as before; one the caller made is read
// too, since the policy may have changed since.
//
// A caller is remembered by its identity (callers.Caller.Identity: the
// credential that made the call), never by its policy name: renaming a
// caller in the policy must not take its subscriptions from it, and a
// new caller given an old name must not receive the subscriptions of the
// caller that bore it. A caller whose credential changes (a rotated
// certificate, a new application) is another identity, and what the old
// one made is refused to it as another's until it expires: fail closed —
// the proxy cannot tell a rotation from a policy that now names someone
// else. Refusals and records still name the caller by its policy name.

// SubscriptionOwners remembers the identity of the caller that made each
// subscription created through the proxy (callers.Caller.Identity), until
// the subscription expires. The zero
// value keeps this replica's own; Shared makes every replica's known to
// all.
type SubscriptionOwners struct {
	// Shared, when set, holds what every replica made (shared.Owners,
	// limits.store: redis). A store that fails is a miss: the
	// subscription is then read from Graph.
	Shared OwnerStore
	// MaxEntries bounds the subscriptions remembered here; 0 means
	// maxOwners.
	MaxEntries int

	mu sync.Mutex
	m  map[string]owned
}

// OwnerStore is where several replicas share who (a caller identity)
// made a subscription. Get reports a miss (ok false) for anything it
// cannot answer, its own failures included, and for anything an earlier
// version wrote (a policy name); Put and Delete are best effort.
type OwnerStore interface {
	GetOwner(ctx context.Context, id string) (identity string, ok bool)
	PutOwner(ctx context.Context, id, identity string, until time.Time)
	DeleteOwner(ctx context.Context, id string)
}

type owned struct {
	identity string
	until    time.Time
}

// maxOwners bounds the subscriptions one replica remembers: Graph holds
// at most a few thousand per application and resource kind.
const maxOwners = 100000

// ownerLinger keeps a subscription's maker past its expiry: Graph may
// still hold it for a while, and a renewal elsewhere may not be known.
const ownerLinger = time.Hour

// Owner returns the identity of the caller that made subscription id,
// when known.
func (o *SubscriptionOwners) Owner(ctx context.Context, id string) (string, bool) {
	id = strings.ToLower(id)
	o.mu.Lock()
	e, ok := o.m[id]
	o.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.identity, true
	}
	if o.Shared != nil {
		return o.Shared.GetOwner(ctx, id)
	}
	return "", false
}

// Made records that the caller of identity made or renewed subscription
// id, which expires at expires. Nothing is recorded for the identity ""
// (a caller the proxy cannot name by its credential): such a
// subscription is read from Graph, as any the proxy does not know.
func (o *SubscriptionOwners) Made(ctx context.Context, id, identity string, expires time.Time) {
	id, until := strings.ToLower(id), expires.Add(ownerLinger)
	if identity == "" || !time.Now().Before(until) {
		return
	}
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]owned{}
	}
	if _, ok := o.m[id]; !ok && len(o.m) >= o.max() {
		o.evictLocked()
	}
	o.m[id] = owned{identity, until}
	o.mu.Unlock()
	if o.Shared != nil {
		o.Shared.PutOwner(ctx, id, identity, until)
	}
}

// Gone forgets subscription id, deleted.
func (o *SubscriptionOwners) Gone(ctx context.Context, id string) {
	id = strings.ToLower(id)
	o.mu.Lock()
	delete(o.m, id)
	o.mu.Unlock()
	if o.Shared != nil {
		o.Shared.DeleteOwner(ctx, id)
	}
}

func (o *SubscriptionOwners) max() int {
	if o.MaxEntries > 0 {
		return o.MaxEntries
	}
	return maxOwners
}

// evictLocked makes room: the expired entries go, and when none has, an
// arbitrary one (map order is random) — forgetting a maker costs a read
// from Graph, never a wrong answer.
func (o *SubscriptionOwners) evictLocked() {
	now := time.Now()
	for id, e := range o.m {
		if !now.Before(e.until) {
			delete(o.m, id)
		}
	}
	if len(o.m) < o.max() {
		return
	}
	for id := range o.m {
		delete(o.m, id)
		return
	}
}

// subscriptionID is the id of the subscription a LookupSubscription
// reads: its path's last segment.
func subscriptionID(l *policy.Lookup) string {
	return l.Path[strings.LastIndexByte(l.Path, '/')+1:]
}

// madeElsewhere refuses, without reading it, a call on a subscription
// another caller made through the proxy: another identity, whatever the
// policy names either now. It leaves report-only calls to the read, which
// forwards what the policy would refuse.
func (h *Handler) madeElsewhere(ctx context.Context, c *call, l *policy.Lookup, d *policy.Decision) bool {
	if h.o.SubscriptionOwners == nil || l.Kind != policy.LookupSubscription || d.ReportOnly {
		return false
	}
	owner, known := h.o.SubscriptionOwners.Owner(ctx, subscriptionID(l))
	if !known || owner == c.caller.Identity() {
		return false
	}
	d.Refuse("the subscription was made by another caller")
	return true
}

// notRead is what a refusal by madeElsewhere adds to the record's reason.
const notRead = "not read from Graph: the proxy knows who made it"

// noteSubscription remembers who made a subscription the call created or
// renewed, from Graph's answer (when it was read whole), and forgets one
// it deleted; in a $batch, for each sub-request on subscriptions, from
// its sub-response.
func (h *Handler) noteSubscription(ctx context.Context, c *call, status int, answer *bytes.Buffer, whole bool) {
	if h.o.SubscriptionOwners == nil {
		return
	}
	if len(c.decision.Batch) == 0 {
		var body []byte
		if whole {
			body = answer.Bytes()
		}
		h.noteOne(ctx, &c.caller, c.req, status, body)
		return
	}
	if !whole || status != http.StatusOK || !slices.ContainsFunc(c.decision.Batch, func(sd policy.SubDecision) bool { return onSubscriptions(sd.Request) }) {
		return
	}
	var batch struct {
		Responses []struct {
			ID     string          `json:"id"`
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		} `json:"responses"`
	}
	if json.Unmarshal(answer.Bytes(), &batch) != nil {
		return // not known: such a subscription is read from Graph
	}
	for _, r := range batch.Responses {
		for i := range c.decision.Batch {
			if sd := &c.decision.Batch[i]; sd.ID == r.ID && onSubscriptions(sd.Request) {
				h.noteOne(ctx, &c.caller, sd.Request, r.Status, r.Body)
			}
		}
	}
}

// noteOne is noteSubscription for one request on subscriptions and its
// answer's status and body (nil when not read).
func (h *Handler) noteOne(ctx context.Context, caller *callers.Caller, req policy.Request, status int, body []byte) {
	if !onSubscriptions(req) {
		return
	}
	switch {
	case req.Method == http.MethodDelete && len(req.Segments) == 2 && status == http.StatusNoContent:
		h.o.SubscriptionOwners.Gone(ctx, req.Segments[1])
	case body != nil && (req.Method == http.MethodPost && len(req.Segments) == 1 && status == http.StatusCreated ||
		req.Method == http.MethodPatch && len(req.Segments) == 2 && status == http.StatusOK):
		var sub struct {
			ID         string    `json:"id"`
			Expiration time.Time `json:"expirationDateTime"`
		}
		if json.Unmarshal(body, &sub) == nil && sub.ID != "" {
			h.o.SubscriptionOwners.Made(ctx, sub.ID, caller.Identity(), sub.Expiration)
		}
	}
}
