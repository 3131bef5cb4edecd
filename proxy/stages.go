package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// The stages before forward, each a function of its own that serve calls
// in turn (handler.go). What a stage settles goes into the call, never
// into serve's locals: a call waits for Graph with serve's frame on its
// goroutine's stack, and at Graph's latency every call in flight holds
// such a stack. A decision, a routed request and a caller held there (with
// the temporaries of the calls that make them) took serve's frame to
// 3.6 KB and the waiting stack past 8 KB, so that every call's goroutine
// grew to 16 KB, twice; each stage's frame is now gone before the wait
// (TestCallStack, proxy/bench_stack_test.go).

// identify canonicalises the request's path and authenticates its
// caller. A path that is not Graph's is a 404 for anyone; an ambiguous one
// is denied, but only once the caller is known.
func (h *Handler) identify(r *http.Request, c *call) error {
	req, canonErr := policy.ParseRequest(r.Method, r.URL)
	c.req = req
	if errors.Is(canonErr, policy.ErrNotGraph) {
		c.rec.Path = r.URL.EscapedPath()
		return canonErr
	}
	c.rec.Version, c.rec.Path, c.rec.Query = req.Version, req.Path, req.Query
	if canonErr != nil {
		c.rec.Version, c.rec.Path = "", r.URL.EscapedPath()
	}

	_, span := h.startSpan(r.Context(), "authenticate")
	caller, err := h.o.Callers.Authenticate(r)
	endSpan(span, err)
	h.traceLink(r, caller.Name)
	c.caller = caller
	// Whatever was established is recorded, even for a refused caller;
	// the connection's address (newCall) unless the authenticator
	// established another.
	ip := c.rec.Caller.IP
	c.rec.Caller = auditlog.Caller{Name: caller.Name, TenantID: caller.TenantID, AppID: caller.AppID, Auth: caller.Auth, IP: caller.IP}
	c.rec.Actor = auditActor(caller.Actor)
	if c.rec.Caller.IP == "" {
		c.rec.Caller.IP = ip
	}
	if err != nil {
		return err
	}
	if canonErr != nil {
		c.rec.Decision, c.rec.Reason = policy.Deny.String(), strings.TrimPrefix(canonErr.Error(), "policy: ")
		return fmt.Errorf("%w: %w", errDenied, canonErr)
	}
	return nil
}

// decide reads the body, only now and only if it can matter, decides the
// call and scopes its targets to the caller's group. A caller not known,
// a path that is not Graph's, or a request no rule of the caller's serves
// cannot make the proxy read or hold up to maxBodyBytes (nor, with Expect:
// 100-continue, be asked to send it). It returns the body read.
//
// Its parts are functions of their own too: the body's check recurses
// through the body, and goes as deep as the frames above it leave room for.
func (h *Handler) decide(w *responseWriter, r *http.Request, c *call) ([]byte, error) {
	decided, err := h.route(w, r, c)
	if err != nil {
		return nil, err
	}
	var body []byte
	if !decided {
		if body, err = h.readCallBody(w, r, c); err != nil {
			return nil, err
		}
	}
	_, span := h.startSpan(r.Context(), "decide")
	if !decided {
		h.decideBody(r, c, body)
	}
	h.scope(r.Context(), &c.decision)
	traceDecision(span, &c.decision)
	span.End()
	return body, h.noteDecision(c)
}

// route routes the request for the caller. It reports whether that
// decided the call: a denial no body can change, or file content under a
// content rule, decided on the route and then streamed to Graph unread
// (content.go).
func (h *Handler) route(w *responseWriter, r *http.Request, c *call) (bool, error) {
	h.o.Policy.RouteInto(&c.routed, c.caller.Name, policyActor(c.caller.Actor), &c.req)
	if d, ok := c.routed.DenyWithoutBody(); ok {
		c.decision = d
		return true, nil
	}
	if !c.routed.StreamsBody() {
		return false, nil
	}
	d, err := h.streamUpload(w, r, c, &c.routed)
	if err != nil {
		return false, err
	}
	c.decision = d
	return true, nil
}

// readCallBody reads the body whole, the caller's calls in flight bounding
// the bodies held for it.
func (h *Handler) readCallBody(w *responseWriter, r *http.Request, c *call) ([]byte, error) {
	if h.o.Limiter != nil {
		caller := c.caller.Name
		leave, err := h.o.Limiter.Enter(r.Context(), caller, h.o.Limits.Limits(caller))
		if err != nil {
			return nil, err
		}
		c.leave = leave
	}
	body, read, err := readBody(w, r, h.o.MaxBodyBytes)
	c.rec.BytesIn = read
	return body, err
}

func (h *Handler) decideBody(r *http.Request, c *call, body []byte) {
	// One Content-Type at most: guardHeaders refused a request with two,
	// which the proxy and Graph could each read differently.
	c.routed.DecideInto(&c.decision, r.Header.Get("Content-Type"), body)
}

func traceDecision(span trace.Span, d *policy.Decision) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("graph_proxy.decision", d.Result.String()), attribute.String("graph_proxy.rule", d.RuleID))
	for _, sd := range d.Batch {
		span.AddEvent("batch request", trace.WithAttributes(attribute.String("graph_proxy.batch.id", sd.ID),
			attribute.String("graph_proxy.decision", sd.Decision.Result.String()), attribute.String("graph_proxy.rule", sd.Decision.RuleID)))
	}
}

// noteDecision records the decision, reserves room for the records of a
// $batch's sub-requests, and refuses the call unless it is forwarded.
func (h *Handler) noteDecision(c *call) error {
	d := &c.decision
	c.rec.Decision, c.rec.Rule, c.rec.Route, c.rec.Permission, c.rec.Reason = d.Result.String(), d.RuleID, d.Route, d.Permission, d.Reason
	c.rec.Targets = d.Targets
	if len(d.Targets) > 0 {
		c.rec.Target = d.Targets[0]
	}
	if d.AddSelect != "" {
		c.rec.Query = addedSelect(c.rec.Query)
		c.rec.Reason = appendReason(c.rec.Reason, "$select="+d.AddSelect+" added: rule "+d.RuleID+" lists the fields a caller may receive")
	}
	// Each $batch sub-request gets a record of its own: room for them
	// too, before anything is forwarded.
	if len(d.Batch) > 0 {
		if err := c.ticket.Grow(len(d.Batch)); err != nil {
			return fmt.Errorf("%w: %w", errAuditUnavailable, err)
		}
		c.subsReserved = true
	}
	if !d.Result.Forwarded() {
		return denied(*d)
	}
	return nil
}

// limit takes the call's tokens from the caller's and its mailboxes'
// rates: Graph counts each $batch sub-request, and so do the rates.
func (h *Handler) limit(ctx context.Context, c *call) error {
	if h.o.Limiter == nil {
		return nil
	}
	caller := c.caller.Name
	release, err := h.o.Limiter.Acquire(ctx, caller, h.o.Limits.Limits(caller), max(1, len(c.decision.Batch)), c.decision.Targets)
	if err != nil {
		return err
	}
	c.release = release
	return nil
}

// token gets the Graph token the call is forwarded with (delegated.go).
func (h *Handler) token(ctx context.Context, c *call) error {
	ctx, span := h.startSpan(ctx, "token")
	tok, err := h.upstreamToken(ctx, c.caller, c.decision)
	endSpan(span, err)
	c.token = tok
	return err
}

// forwardTraced is forward in a span of its own.
func (h *Handler) forwardTraced(w *responseWriter, r *http.Request, c *call, body []byte) error {
	ctx, span := h.startSpan(r.Context(), "upstream", trace.WithSpanKind(trace.SpanKindClient))
	err := h.forward(ctx, w, r, c, body)
	endUpstreamSpan(span, c, err)
	return err
}

func endUpstreamSpan(span trace.Span, c *call, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", c.rec.UpstreamStatus), attribute.String("graph_proxy.graph_request_id", c.rec.GraphRequestID))
	}
	endSpan(span, err)
}

// giveBack returns what the stages took from the limiter, the rates'
// tokens first, once the call is done (when serve returns).
func (c *call) giveBack() {
	if c.release != nil {
		c.release()
	}
	if c.leave != nil {
		c.leave()
	}
}
