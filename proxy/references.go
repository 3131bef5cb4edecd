package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
)

// The resolve stage: a call that reaches people it does not name (a reply
// goes to the message's sender, a draft sent by id to its recipients, a
// cancellation to the event's attendees, a response to its organizer)
// carries a policy.Lookup in its decision. The proxy reads that item from
// Graph, with the call's own upstream token and only the fields that name
// the people, and has the policy check them as if the call had named them
// (policy.Routed.DecideReferenced); the group scope then checks the new
// targets. Until that is done the call is not forwarded: an item that
// cannot be read, or an answer not of its shape, refuses the call — even
// in report-only mode, since who the call would reach cannot be told.

// KindReference marks the record of the proxy's read of the item a call
// refers to. It carries its own client-request-id, sent with the read, so
// that Graph's activity log shows every request the proxy made (audit
// reconcile).
const KindReference = "reference"

// referenceTimeout bounds the read of the item, its answer read whole.
const referenceTimeout = 10 * time.Second

// maxReferenceBytes bounds the item's answer: a message's recipients, or
// an event's attendees (at most 500 of them), with only those fields.
const maxReferenceBytes = 1 << 20

var (
	// errReferenceUnreadable: Graph did not answer the read of the
	// referenced item, failed, or answered with something that is not the
	// item's shape; 502, nothing sent.
	errReferenceUnreadable = errors.New("the item the call refers to could not be read")
	// errReferenceRefused: Graph refused the read of the referenced item
	// (it does not exist, or the token may not read it); 403, nothing
	// sent.
	errReferenceRefused = errors.New("the read of the item the call refers to was refused")
	// errUnresolved: a decision whose referenced people were never read
	// reached the forward stage; refused.
	errUnresolved = errors.New("the people the call reaches were not read")
)

// resolve reads the people of the item the call refers to, when its
// decision says it must, and decides the call with them; for a $batch,
// those of every sub-request that refers to one, before the batch goes to
// Graph whole. It needs c.token (the token stage) and runs before
// anything is forwarded.
func (h *Handler) resolve(ctx context.Context, c *call) error {
	if !c.decision.Unresolved() {
		return nil
	}
	ctx, span := h.startSpan(ctx, "resolve")
	var err error
	if len(c.decision.Batch) > 0 {
		err = h.resolveBatch(ctx, c)
	} else {
		err = h.resolveCall(ctx, c)
	}
	endSpan(span, err)
	return err
}

// resolveCall finishes a call of its own with the people of its item.
func (h *Handler) resolveCall(ctx context.Context, c *call) error {
	l := c.decision.Lookup
	if h.madeElsewhere(ctx, c, l, &c.decision) {
		return h.settled(c, notRead)
	}
	people, err := h.readPeople(ctx, c, l, "")
	if err != nil {
		return err
	}
	h.callerURLs(&c.caller, l, people)
	before := len(c.decision.Targets)
	d := c.routed.DecideReferenced(c.decision, people)
	h.scopeAdded(ctx, &d, before)
	c.decision = d
	return h.settled(c, readOf(l)+" read from the "+l.Item)
}

// resolveBatch finishes each sub-request of a $batch that refers to an
// item with that item's people, one after another within one deadline
// (scopeTimeout, as the group scope's checks); a sub-request refused so
// refuses the batch, as any other refusal of its parts does.
func (h *Handler) resolveBatch(ctx context.Context, c *call) error {
	ctx, cancel := context.WithTimeout(ctx, scopeTimeout)
	defer cancel()
	d := &c.decision
	var items []string
	for i := range d.Batch {
		sd := &d.Batch[i]
		l := sd.Decision.Lookup
		if l == nil {
			continue
		}
		if h.madeElsewhere(ctx, c, l, &sd.Decision) {
			sd.Decision.Reason = appendReason(sd.Decision.Reason, notRead)
			d.Settle(i)
			items = append(items, l.Item+" of request "+sd.ID+" ("+notRead+")")
			break
		}
		people, err := h.readPeople(ctx, c, l, sd.ID)
		if err != nil {
			return err
		}
		h.callerURLs(&c.caller, l, people)
		before := len(sd.Decision.Targets)
		sd.DecideReferenced(people)
		h.scopeAdded(ctx, &sd.Decision, before)
		sd.Decision.Reason = appendReason(sd.Decision.Reason, readOf(l)+" read from the "+l.Item) // its own record's
		d.Settle(i)
		items = append(items, l.Item+" of request "+sd.ID)
		if !d.Forwarded() {
			break // refused: the other items need not be read
		}
	}
	return h.settled(c, "recipients read from the "+strings.Join(items, ", the "))
}

// readPeople reads the people of item l for call c (for its $batch
// sub-request sub, when not ""), under an audit record of its own: the
// read is a request to Graph. An item that cannot be read refuses the
// call whatever the mode, since who it would reach is unknown.
func (h *Handler) readPeople(ctx context.Context, c *call, l *policy.Lookup, sub string) ([]policy.Recipient, error) {
	// Room for the read's record first, like a $batch's sub-requests.
	if err := c.ticket.Grow(1); err != nil {
		return nil, fmt.Errorf("%w: %w", errAuditUnavailable, err)
	}
	of := "request " + c.requestID
	if sub != "" {
		of += " ($batch request " + sub + ")"
	}
	rec := &auditlog.Record{
		Kind: KindReference, Replica: c.rec.Replica, RequestID: newID(), ClientRequestID: newID(),
		Caller: c.rec.Caller, Actor: c.rec.Actor, Method: http.MethodGet, Version: c.req.Version,
		Path:   strings.TrimPrefix(l.Path, "/"+c.req.Version),
		Reason: l.Kind.String() + " " + readOf(l) + " of " + of + " read from the " + l.Item,
	}
	if l.Select != "" {
		rec.Query = []string{"$select"}
	}
	start := h.now()
	people, err := h.readReference(ctx, c, l, rec)
	rec.Time, rec.DurationMs = start.UTC(), ms(h.now().Sub(start))
	if err != nil {
		rec.Decision, rec.Error = "unreadable", err.Error()
	} else {
		rec.Decision = "read"
		for _, p := range people {
			if l.Kind != policy.LookupSubscription {
				rec.Targets = append(rec.Targets, p.Address)
			}
		}
		if len(rec.Targets) > 0 {
			rec.Target = rec.Targets[0]
		}
	}
	h.append(c, rec)
	if err != nil {
		c.rec.Decision = policy.Deny.String()
		c.rec.Reason = appendReason(c.rec.Reason, readOf(l)+" could not be read from the "+l.Item)
		return nil, err
	}
	return people, nil
}

// scopeAdded checks the targets d gained from the item's people, those
// from before on: a caller scoped to a group may reach members only
// (users.withoutGroup aside). The targets before them were scoped at the
// scope stage.
func (h *Handler) scopeAdded(ctx context.Context, d *policy.Decision, before int) {
	if d.Group == "" || !d.Forwarded() || len(d.Targets) <= before {
		return
	}
	added := policy.Decision{Result: policy.Allow, Group: d.Group, ReportOnly: d.ReportOnly,
		Targets: d.Targets[before:], Unscoped: d.Unscoped}
	h.scope(ctx, &added)
	if added.Result != policy.Allow {
		d.Refuse(added.Reason)
	}
}

// settled records the call's decision as the people read left it, and
// refuses a call it no longer forwards.
func (h *Handler) settled(c *call, read string) error {
	d := c.decision
	c.rec.Decision, c.rec.Targets = d.Result.String(), d.Targets
	if len(d.Targets) > 0 {
		c.rec.Target = d.Targets[0]
	}
	c.rec.Reason = appendReason(d.Reason, read)
	if !d.Forwarded() {
		return denied(d)
	}
	return nil
}

// readReference GETs the item with the call's upstream token and reads
// its people, noting Graph's answer in rec.
func (h *Handler) readReference(ctx context.Context, c *call, l *policy.Lookup, rec *auditlog.Record) ([]policy.Recipient, error) {
	rctx, cancel := context.WithTimeout(ctx, referenceTimeout)
	defer cancel()
	u := &url.URL{Scheme: h.o.Graph.Scheme, Host: h.o.Graph.Host, Path: l.Path}
	if l.Select != "" {
		u.RawQuery = "$select=" + l.Select
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReferenceUnreadable, err)
	}
	req.Header = http.Header{
		"Authorization":     {c.token.Authorization()},
		"Client-Request-Id": {rec.ClientRequestID},
		"Accept":            {"application/json"},
		"User-Agent":        {""},
	}
	var attempts outbound.Attempts
	resp, err := outbound.Send(h.o.Transport, attempts.Trace(req))
	rec.Attempts = attempts.Count()
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx) // the caller went away, or the proxy shut down
		}
		return nil, fmt.Errorf("%w: %w", errReferenceUnreadable, outbound.Error(err))
	}
	defer resp.Body.Close()
	rec.UpstreamStatus, rec.GraphRequestID = resp.StatusCode, resp.Header.Get("request-id")
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: Graph answered %d", errReferenceRefused, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: Graph answered %d", errReferenceUnreadable, resp.StatusCode)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, maxReferenceBytes+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errReferenceUnreadable, err)
	case n > maxReferenceBytes:
		return nil, fmt.Errorf("%w: answer larger than %d bytes", errReferenceUnreadable, maxReferenceBytes)
	}
	people, err := l.Recipients(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReferenceUnreadable, err)
	}
	return people, nil
}

// readOf says what the read of l takes from the item, for the records.
func readOf(l *policy.Lookup) string {
	if l.Kind == policy.LookupSubscription {
		return "resource and notification URLs"
	}
	return "recipients"
}
