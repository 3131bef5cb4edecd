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
// decision says it must, and decides the call with them. It needs c.token
// (the token stage) and runs before anything is forwarded.
func (h *Handler) resolve(ctx context.Context, c *call) error {
	l := c.decision.Lookup
	if l == nil {
		return nil
	}
	ctx, span := h.startSpan(ctx, "resolve")
	err := h.resolveLookup(ctx, c, l)
	endSpan(span, err)
	return err
}

func (h *Handler) resolveLookup(ctx context.Context, c *call, l *policy.Lookup) error {
	// The read is a request to Graph of its own, so it has a record of
	// its own: room for it first, like a $batch's sub-requests.
	if err := c.ticket.Grow(1); err != nil {
		return fmt.Errorf("%w: %w", errAuditUnavailable, err)
	}
	rec := &auditlog.Record{
		Kind: KindReference, Replica: c.rec.Replica, RequestID: newID(), ClientRequestID: newID(),
		Caller: c.rec.Caller, Actor: c.rec.Actor, Method: http.MethodGet, Version: c.req.Version,
		Path: strings.TrimPrefix(l.Path, "/"+c.req.Version), Query: []string{"$select"},
		Reason: l.Kind.String() + " recipients of request " + c.requestID + " read from the " + l.Item,
	}
	start := h.now()
	people, err := h.readReference(ctx, c, l, rec)
	rec.Time, rec.DurationMs = start.UTC(), ms(h.now().Sub(start))
	if err != nil {
		rec.Decision, rec.Error = "unreadable", err.Error()
	} else {
		rec.Decision = "read"
		for _, p := range people {
			rec.Targets = append(rec.Targets, p.Address)
		}
		if len(rec.Targets) > 0 {
			rec.Target = rec.Targets[0]
		}
	}
	h.append(c, rec)
	if err != nil {
		// Refused whatever the mode: who the call would reach is unknown.
		c.rec.Decision = policy.Deny.String()
		c.rec.Reason = appendReason(c.rec.Reason, "recipients could not be read from the "+l.Item)
		return err
	}

	before := len(c.decision.Targets)
	d := c.routed.DecideReferenced(c.decision, people)
	// The people read are targets like the body's: a caller scoped to a
	// group may reach members only (users.withoutGroup aside). The
	// targets before them were scoped at the scope stage.
	if d.Group != "" && d.Forwarded() && len(d.Targets) > before {
		added := policy.Decision{Result: policy.Allow, Group: d.Group, ReportOnly: d.ReportOnly,
			Targets: d.Targets[before:], Unscoped: d.Unscoped}
		h.scope(ctx, &added)
		if added.Result != policy.Allow {
			d.Refuse(added.Reason)
		}
	}
	c.decision = d
	c.rec.Decision, c.rec.Targets = d.Result.String(), d.Targets
	if len(d.Targets) > 0 {
		c.rec.Target = d.Targets[0]
	}
	c.rec.Reason = appendReason(d.Reason, "recipients read from the "+l.Item)
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
	u := &url.URL{Scheme: h.o.Graph.Scheme, Host: h.o.Graph.Host, Path: l.Path, RawQuery: "$select=" + l.Select}
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
	resp, err := h.o.Transport.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller went away
		}
		return nil, fmt.Errorf("%w: %w", errReferenceUnreadable, err)
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
