package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/response"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options are a Handler's dependencies. Every field is required unless its
// comment says otherwise.
type Options struct {
	// Graph is the upstream Graph endpoint, scheme and host only.
	Graph *url.URL
	// PublicBase is the base URL vendors use to reach the proxy; Graph
	// links are rewritten to it.
	PublicBase *url.URL
	// Transport carries forwarded calls to Graph.
	Transport http.RoundTripper
	// UpstreamIdle bounds each wait for more of Graph's answer body (the
	// transport bounds the wait for its headers): an answer that stalls
	// longer is cut, the caller's answer with it, and recorded as such, so
	// that a stalled stream holds neither a call nor its limits forever.
	// Zero waits as long as Graph's connection lives.
	UpstreamIdle time.Duration
	// Callers authenticates inbound requests.
	Callers callers.Authenticator
	// Policy decides canonical requests.
	Policy policy.Decider
	// Members checks group membership for callers scoped to a group
	// (policy users.group). Nil denies every call that needs a check.
	Members Membership
	// Limiter and Limits enforce each caller's rate and concurrency
	// (policy callers[].rateLimit): this replica's own Limiter, or one
	// every replica shares (shared.Limiter); nil Limiter limits nothing.
	Limiter CallLimiter
	Limits  interface {
		Limits(caller string) policy.Limits
	}
	// Tokens supplies the proxy's Graph token.
	Tokens upstream.TokenSource
	// Delegated exchanges a signed-in user's token for the user's Graph
	// token (delegated access, proxy/delegated.go). Nil refuses (403)
	// every call a caller makes as a signed-in user.
	Delegated Delegated
	// PseudonymKey supplies the key of pseudonyms (policy
	// response.pseudonymise). Nil refuses (503) every call whose answer
	// would be pseudonymised, before it is forwarded.
	PseudonymKey PseudonymKey
	// Audit receives one record per call.
	Audit AuditLog
	// Files moves file content for content rules (content.go): the
	// cloud's file hosts and the key of file links. Nil refuses every
	// file link (503) and every download redirect (502); simple uploads
	// still stream.
	Files *Files
	// MaxBodyBytes caps request bodies (413 beyond).
	MaxBodyBytes int64
	// MaxHeaderBytes caps the request's header names and values (431
	// beyond, audited); 0 leaves it to the HTTP server's own limit, which
	// refuses without reaching the handler.
	MaxHeaderBytes int
	// Replica names this replica in audit records.
	Replica string
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Telemetry receives spans and metrics; nil records none.
	Telemetry *telemetry.Telemetry
	// TraceCallers names the callers whose W3C trace context is honoured
	// (as a link from the proxy's span); others' is ignored. It is never
	// forwarded to Graph.
	TraceCallers []string
	// Ready lists readiness checks for /readyz; nil means always ready.
	Ready []ReadyCheck
	// Notifications relays change notifications (policy
	// callers[].notifications: relay): the subscriptions' URLs going out,
	// Graph's deliveries at NotificationsPath coming in. Nil refuses
	// (503) every call the policy marks for relay, and answers 404 at
	// NotificationsPath.
	Notifications Notifications
	// SubscriptionOwners remembers which caller made each subscription
	// created through the proxy, so that a call on another caller's is
	// refused without reading it from Graph; nil reads every one.
	SubscriptionOwners *SubscriptionOwners
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// AuditLog takes the audit records. Room is reserved before a call is
// acted on, so that a forwarded call's record cannot be refused after the
// fact; when no room can be reserved the call is refused with 503.
type AuditLog interface {
	Reserve(n int) (*auditlog.Ticket, error)
}

// Handler is the proxy's http.Handler: every Graph call passes through its
// stages in order (docs/architecture.md, "The data path") and leaves one
// audit record.
type Handler struct {
	o     Options
	links *LinkRewriter
	bufs  buffers
	// metricAttrs caches the per-call metrics' attribute sets.
	metricAttrs metricSets
	log         *slog.Logger
	now         func() time.Time
	tracer      trace.Tracer
	tracing     bool // spans go somewhere; otherwise none are started
}

// New returns a Handler built from o.
func New(o Options) (*Handler, error) {
	if o.Graph == nil || o.PublicBase == nil || o.Transport == nil || o.Callers == nil ||
		o.Policy == nil || o.Tokens == nil || o.Audit == nil || o.MaxBodyBytes <= 0 {
		return nil, errors.New("proxy: incomplete options")
	}
	h := &Handler{o: o, log: o.Logger, now: o.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.tracer = noop.NewTracerProvider().Tracer("")
	if o.Telemetry != nil && o.Telemetry.Tracing {
		h.tracer, h.tracing = o.Telemetry.Tracer, true
	}
	h.links = NewLinkRewriter(o.Graph.Scheme+"://"+o.Graph.Host, o.PublicBase.Scheme+"://"+o.PublicBase.Host)
	return h, nil
}

// call is the state of one request as it moves through the stages.
type call struct {
	start           time.Time
	requestID       string
	clientRequestID string
	caller          callers.Caller // who is calling (the authenticate stage)
	token           upstream.Token
	req             policy.Request // canonical: what is forwarded
	routed          policy.Routed  // req routed for the caller
	decision        policy.Decision
	// what the call took from the limiter, given back when serve returns
	leave, release func()
	links          *jsonLinks       // the answer's link rewriter, when JSON
	filter         *response.Filter // the answer's response filter, when the rule has a section
	key            []byte           // the pseudonym key, when the answer is pseudonymised
	ticket         *auditlog.Ticket
	subsReserved   bool // room is held for the sub-requests' records
	rec            auditlog.Record
	upstreamStart  time.Time
	// attempts counts the times the request to Graph went on the wire
	attempts outbound.Attempts
	// file content (content.go): what moved, and how the answer's
	// pre-authenticated URLs become file links
	file      *fileCall
	mint      func(key string, raw []byte) ([]byte, bool)
	fileLinks int
	// rw is the call's response writer, allocated with the call.
	rw responseWriter
	// values back the one-value headers the call sets (value): its ids
	// on the answer, and the token, id and type on Graph's request.
	values  [6]string
	nValues int
}

// value is []string{s} for a header the call sets, from the call's own
// room while it lasts. Each is capped at its one element, so that an
// append to one header's values never writes into another's.
func (c *call) value(s string) []string {
	if c.nValues == len(c.values) {
		return []string{s}
	}
	i := c.nValues
	c.nValues++
	c.values[i] = s
	return c.values[i : i+1 : i+1]
}

// ambiguousFraming reports a request whose end net/http settled on its own
// between two readings: with Transfer-Encoding and Content-Length both, it
// goes by the chunks and drops the length; on HTTP/1.0 it ignores
// Transfer-Encoding and goes by the length. Either way the handler sees no
// trace of the header set aside. A front end that framed the request the
// other way would have sent what the proxy takes as the next request as
// part of this one's body (request smuggling), so RFC 9112 §6.1 has the
// server close the connection after answering such a request. Which of
// them carried the other header cannot be told here, so every chunked
// HTTP/1.1 request and every HTTP/1.0 request is the last on its
// connection; Graph SDKs send lengths, or use HTTP/2.
func ambiguousFraming(r *http.Request) bool {
	return r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	handled(r)
	if ambiguousFraming(r) {
		w.Header().Set("Connection", "close")
	}
	switch r.URL.Path {
	case "/healthz":
		h.healthz(w, r)
		return
	case "/readyz":
		h.readyz(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, NotificationsPath) {
		// Graph's deliveries of change notifications: their own stages
		// and records (proxy/notify), never forwarded to Graph.
		h.notifications(w, r)
		return
	}

	c := h.newCall(w, r)
	rw := &c.rw
	if h.tracing {
		var span trace.Span
		r, span = h.callSpan(r, c)
		defer span.End()
	}
	ticket, err := h.o.Audit.Reserve(1)
	if err != nil {
		h.refuseUnrecorded(rw, c, err)
		return
	}
	c.ticket = ticket
	defer ticket.Release()

	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			h.log.Error("panic serving request", "request_id", c.requestID, "panic", fmt.Sprint(p))
			if !rw.wroteHeader {
				h.fail(rw, c, &Error{Status: http.StatusInternalServerError, Code: "graphProxy.internalError",
					Message: "The proxy failed to process the request.", Err: fmt.Errorf("panic: %v", p)})
			}
		}
		if p == http.ErrAbortHandler && c.rec.Error == "" {
			c.rec.Error = errUpstreamBodyAbort.Error()
		}
		h.finish(r.Context(), rw, c)
		if p == http.ErrAbortHandler {
			// The response is cut short; let net/http abort the connection
			// so the caller cannot mistake it for a complete one.
			panic(p)
		}
	}()

	if err := h.serve(rw, r, c); err != nil {
		if errors.Is(err, context.Canceled) && errors.Is(context.Cause(r.Context()), ErrShutdown) {
			err = fmt.Errorf("%w: %w", ErrShutdown, err) // not the caller's doing
		}
		h.fail(rw, c, classify(err))
	}
	// The answer is complete. Over HTTP/1 it leaves now, not after the
	// bookkeeping deferred above (the audit record, metrics): the same
	// write, earlier. Over HTTP/2 it leaves when the handler returns, so
	// that the stream's end travels in the answer's last DATA frame:
	// flushed now, the end would follow in a frame of its own (another
	// TLS record, another write on both sides) after the bookkeeping,
	// and the caller's read of the answer ends only there anyway.
	if rw.wroteHeader && r.ProtoMajor == 1 {
		rw.Flush()
	}
}

// RequestIDHeader carries the proxy's own request id on every answer.
// Graph's request-id header, when Graph answered, passes through as is.
const RequestIDHeader = "x-graph-proxy-request-id"

var (
	requestIDKey       = http.CanonicalHeaderKey(RequestIDHeader)
	clientRequestIDKey = http.CanonicalHeaderKey("client-request-id")
)

// newCall is the state of a call just arrived: its ids, on its answer
// too, and the start of its record.
func (h *Handler) newCall(w http.ResponseWriter, r *http.Request) *call {
	c := &call{start: h.now(), requestID: newID()}
	c.clientRequestID = r.Header.Get("client-request-id")
	if !validClientRequestID(c.clientRequestID) {
		c.clientRequestID = newID()
	}
	c.rec.Replica = h.o.Replica
	c.rec.RequestID = c.requestID
	c.rec.ClientRequestID = c.clientRequestID
	c.rec.Method = r.Method
	c.rec.Caller.IP = callers.RemoteIP(r)
	c.rw = responseWriter{ResponseWriter: w}
	// Keys in canonical form, set directly: Set would canonicalise (and
	// allocate) both on every call.
	w.Header()[clientRequestIDKey] = c.value(c.clientRequestID)
	w.Header()[requestIDKey] = c.value(c.requestID)
	return c
}

// callSpan starts the call's span, when spans go somewhere.
func (h *Handler) callSpan(r *http.Request, c *call) (*http.Request, trace.Span) {
	ctx, span := h.tracer.Start(r.Context(), "graph-proxy "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
	span.SetAttributes(attribute.String("graph_proxy.request_id", c.requestID), attribute.String("http.request.method", r.Method))
	return r.WithContext(ctx), span
}

// refuseUnrecorded refuses a call for which the audit log has no room: no
// record can be written, so nothing may be done (fail closed).
func (h *Handler) refuseUnrecorded(w *responseWriter, c *call, err error) {
	h.log.Warn("call refused: audit log unavailable", "request_id", c.requestID, "error", err)
	writeError(w, classify(fmt.Errorf("%w: %w", errAuditUnavailable, err)), c.requestID, c.clientRequestID, h.now())
}

// serve runs the stages. It returns the error of the first stage that
// refuses the call; forwarding has happened only if it returns nil. Each
// stage is a function of its own that leaves what it settles in the call
// (stages.go), so that serve's frame, which the call's goroutine holds
// while it waits for Graph, stays small.
func (h *Handler) serve(w *responseWriter, r *http.Request, c *call) error {
	defer c.giveBack()
	// guard
	if err := guardHeaders(r, h.o.MaxHeaderBytes); err != nil {
		c.rec.Path = r.URL.EscapedPath()
		return err
	}
	// the proxy's own file links (filelinks.go) are not Graph's paths
	if isFileLink(r.URL.Path) {
		return h.serveFileLink(w, r, c)
	}
	// canonicalise, authenticate
	if err := h.identify(r, c); err != nil {
		return err
	}
	// read the body if it can matter, decide, scope the targets to the
	// caller's group
	body, err := h.decide(w, r, c)
	if err != nil {
		return err
	}
	// limit
	if err := h.limit(r.Context(), c); err != nil {
		return err
	}
	// relay: a relayed subscription is created with the proxy's
	// notification URLs in place of the caller's.
	if body, err = h.relaySubscription(c, body); err != nil {
		return err
	}
	// token
	if err := h.token(r.Context(), c); err != nil {
		return err
	}
	// resolve: the people a call reaches without naming them (a reply's
	// sender, a cancelled event's attendees), read from Graph and decided
	// on before anything is sent (references.go).
	if err := h.resolve(r.Context(), c); err != nil {
		return err
	}
	// the pseudonym key, when the answer is pseudonymised
	if err := h.pseudonymKey(c); err != nil {
		return err
	}
	// forward and respond
	return h.forwardTraced(w, r, c, body)
}

func (h *Handler) fail(w *responseWriter, c *call, e *Error) {
	c.rec.Error = e.Error()
	if c.rec.Decision == "" {
		c.rec.Decision = policy.Deny.String()
	}
	w.status = e.Status // recorded even when nothing is written (499)
	writeError(w, e, c.requestID, c.clientRequestID, h.now())
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable {
		h.log.Warn("request failed", "request_id", c.requestID, "status", e.Status, "error", e.Err)
	}
}

// finish completes and appends the audit record.
func (h *Handler) finish(ctx context.Context, w *responseWriter, c *call) {
	end := h.now()
	c.rec.Time = c.start.UTC()
	c.rec.Status = w.status
	if c.rec.Status == 0 {
		c.rec.Status = http.StatusOK
	}
	c.rec.BytesOut = w.bytes
	c.rec.DurationMs = ms(end.Sub(c.start))
	c.rec.Attempts = c.attempts.Count()
	if !c.upstreamStart.IsZero() && c.rec.UpstreamMs == 0 {
		c.rec.UpstreamMs = ms(end.Sub(c.upstreamStart))
	}
	if c.links != nil && c.links.withheld > 0 {
		c.rec.Reason = appendReason(c.rec.Reason, fmt.Sprintf("%d link(s) to hosts other than Graph withheld", c.links.withheld))
	}
	c.noteResponse(&c.rec)
	c.noteFile(w)
	h.append(c, &c.rec)
	h.observe(ctx, c)
	h.finishBatch(c)
}

// finishBatch appends one record per $batch sub-request, linked to the
// batch's record. Without room for them the batch was refused before
// anything was forwarded, and its own record says so.
func (h *Handler) finishBatch(c *call) {
	if !c.subsReserved {
		return
	}
	for i := range c.decision.Batch {
		sd := &c.decision.Batch[i] // not a copy in this frame, under which each record is sealed
		sub := auditlog.Record{
			Time: c.rec.Time, Replica: c.rec.Replica, RequestID: newID(), ClientRequestID: c.rec.ClientRequestID,
			Caller: c.rec.Caller, Actor: c.rec.Actor, Method: sd.Request.Method, Version: sd.Request.Version, Path: sd.Request.Path,
			Query: sd.Request.Query, Rule: sd.Decision.RuleID, Route: sd.Decision.Route, Permission: sd.Decision.Permission,
			Decision: sd.Decision.Result.String(), Reason: sd.Decision.Reason, Targets: sd.Decision.Targets,
			Batch: &auditlog.Batch{RequestID: c.requestID, ID: sd.ID}, Status: c.rec.Status, Error: c.rec.Error,
		}
		if sd.Decision.AddSelect != "" {
			sub.Query = addedSelect(sub.Query)
			sub.Reason = appendReason(sub.Reason, "$select="+sd.Decision.AddSelect+" added: rule "+sd.Decision.RuleID+" lists the fields a caller may receive")
		}
		if len(sd.Decision.Targets) > 0 {
			sub.Target = sd.Decision.Targets[0]
		}
		if c.decision.Result == policy.Deny && sd.Decision.Result != policy.Deny {
			// Allowed alone, yet never sent: a batch goes to Graph whole
			// or not at all. "allow" here would count, in a query on
			// decisions, a request Graph never saw.
			sub.Decision = policy.Deny.String()
			sub.Reason = appendReason(sub.Reason, "not sent: the $batch it is part of was refused")
		}
		c.noteSubResponse(sd.ID, sd.Decision.Response, &sub)
		h.append(c, &sub)
	}
}

func (h *Handler) append(c *call, rec *auditlog.Record) {
	if err := c.ticket.Append(rec); err != nil {
		h.log.Error("audit record lost", "request_id", rec.RequestID, "error", err)
	}
}

// addedSelect is a record's query option names with the $select the
// proxy added.
func addedSelect(q []string) []string {
	out := append(q[:len(q):len(q)], "$select")
	slices.Sort(out)
	return out
}

func appendReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// responseWriter records the status and size of the answer.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush passes through, so streamed responses reach the caller promptly.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newID is a random (version 4) UUID. uuid.NewString reads its random
// bytes through an io.Reader, which puts them on the heap; read here into
// the UUID itself, one allocation (its text) is left per id, and every call
// takes two.
func newID() string {
	var u uuid.UUID
	rand.Read(u[:])         // crypto/rand.Read never returns an error
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return u.String()
}

// validClientRequestID accepts what SDKs send (a GUID) and other short
// printable ids; anything else is replaced, so it cannot inject into logs
// or headers.
func validClientRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
