package notify

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// The inbound half: Graph's POSTs to the proxy's notification URLs.

// scopeTimeout bounds the membership checks of one delivery, within the
// 3 seconds Graph gives it; an answer not known by then answers 503, and
// Graph delivers again later.
const scopeTimeout = 1500 * time.Millisecond

// maxValidationToken bounds the validationToken Graph sends.
const maxValidationToken = 4096

// inbound is one request at the notification endpoint as it is served.
type inbound struct {
	start  time.Time
	id     string
	rec    auditlog.Record // what every record of the request shares
	ticket *auditlog.Ticket
}

// ServeHTTP answers one request at the notification endpoint: a
// validation request, relayed to the caller's endpoint and its echo
// checked; or a delivery, checked, scoped, recorded notification by
// notification, and passed on to the caller's endpoint, whose status
// Graph is answered with.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := &inbound{start: rl.now(), id: uuid.NewString()}
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	w.Header().Set(proxy.RequestIDHeader, in.id)
	ticket, err := rl.o.Audit.Reserve(1)
	if err != nil {
		// No record could be written: nothing is relayed. Graph retries.
		proxy.WriteError(w, fmt.Errorf("%w: audit log unavailable: %w", proxy.ErrRelayUnavailable, err), in.id, rl.now())
		return
	}
	defer ticket.Release()
	in.ticket = ticket
	in.rec = auditlog.Record{
		Replica: rl.o.Replica, RequestID: in.id, ClientRequestID: in.id, Direction: "inbound",
		Method: r.Method, Path: strings.TrimSuffix(proxy.NotificationsPath, "/"), Route: proxy.NotificationsPath + "{token}",
		Caller: auditlog.Caller{Auth: "notification", IP: callers.RemoteIP(r)},
	}
	_, recs, err := rl.serve(w, r, in)
	if err != nil {
		proxy.WriteError(w, err, in.id, rl.now())
		if sw.status == 0 {
			sw.status = proxy.StatusClientClosedRequest // nothing written: Graph went away
		}
		if len(recs) == 0 {
			recs = []auditlog.Record{in.rec}
		}
		undeliverable := errors.Is(err, proxy.ErrReceiverUnreachable)
		for i := range recs {
			// A notification the policy allowed and the receiver did not
			// take stays allowed: the record's error says what failed.
			allowed := undeliverable && recs[i].Decision == policy.Allow.String()
			if !allowed && (recs[i].Decision == "" || recs[i].Decision == policy.Allow.String()) {
				recs[i].Decision = policy.Deny.String()
			}
			if recs[i].Error == "" {
				recs[i].Error = err.Error()
			}
			switch {
			case recs[i].Reason != "":
			case allowed:
				recs[i].Reason = "not delivered: " + err.Error()
			default:
				recs[i].Reason = "refused: " + err.Error()
			}
		}
	}
	if len(recs) == 1 {
		recs[0].BytesOut = sw.bytes // a delivery's records share no answer
	}
	rl.record(in, sw.status, recs)
}

// statusWriter keeps the status answered, for the records.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// serve runs the checks in order and returns the status answered and the
// records to append; an error is answered by ServeHTTP, each record
// then a refusal.
func (rl *Relay) serve(w http.ResponseWriter, r *http.Request, in *inbound) (int, []auditlog.Record, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return 0, nil, proxy.ErrNotificationMethod
	}
	rt, err := rl.seal.open(strings.TrimPrefix(r.URL.Path, proxy.NotificationsPath))
	switch {
	case errors.Is(err, errNoKey):
		return 0, nil, fmt.Errorf("%w: %w", proxy.ErrRelayUnavailable, err)
	case err != nil:
		// errNoIdentity among them: an earlier version's token is never
		// matched by the name it carries instead.
		return 0, nil, fmt.Errorf("%w: %w", proxy.ErrNotificationRefused, err)
	}
	// The rate is spent on URLs the relay made, once their token opens
	// (a bounded, cheap check): an outsider posting to URLs of its own
	// invention cannot make Graph's deliveries fail for every caller.
	if !rl.limiter.Allow() {
		return 0, nil, &proxy.LimitedError{Limit: "notification endpoint rate", RetryAfter: time.Second}
	}
	// The subscription is its maker's credential's: the caller the
	// policy in force names by it, whatever it named it then, decides.
	pol := rl.o.Policy()
	// The record names the credential (an application's tenant and id),
	// even when no caller has it now.
	_, in.rec.Caller.TenantID, in.rec.Caller.AppID = callers.IdentityParts(rt.Identity)
	caller, ok := callers.NameOf(pol, rt.Identity, rt.CertSHA1)
	if !ok {
		return 0, nil, fmt.Errorf("%w: no caller of the policy in force has the credential that made the subscription", proxy.ErrNotificationRefused)
	}
	in.rec.Caller.Name = caller
	sub, known := pol.Subscriber(caller)
	switch {
	case !known || !sub.Relay:
		return 0, nil, fmt.Errorf("%w: the policy no longer relays caller %q's notifications", proxy.ErrNotificationRefused, caller)
	case !pol.NotificationURLAllowed(rt.URL):
		return 0, nil, fmt.Errorf("%w: the caller's URL is no longer in subscriptions.notificationUrls", proxy.ErrNotificationRefused)
	case rt.Resource == "":
		return 0, nil, fmt.Errorf("%w: the notification URL names no subscription resource the policy can decide", proxy.ErrNotificationRefused)
	}
	reason, data := pol.SubscriptionRefusal(caller, rt.actor(), rt.Version, rt.Resource)
	if reason != "" {
		// The policy's reason names the rule, never the resource.
		return 0, nil, fmt.Errorf("%w: under the policy in force: %s", proxy.ErrNotificationRefused, reason)
	}
	if q := r.URL.Query(); q.Has("validationToken") {
		return rl.validate(w, r, in, rt, q.Get("validationToken"))
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" ||
		len(params) > 1 || (len(params) == 1 && !strings.EqualFold(params["charset"], "utf-8")) {
		return 0, nil, proxy.ErrNotificationMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rl.o.MaxBodyBytes))
	in.rec.BytesIn = int64(len(body))
	if err != nil {
		return 0, nil, err
	}
	d, err := parseDelivery(body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: delivery: %w", proxy.ErrNotificationRefused, err)
	}
	if err := in.ticket.Grow(len(d.notes) - 1); err != nil {
		return 0, nil, fmt.Errorf("%w: audit log unavailable: %w", proxy.ErrRelayUnavailable, err)
	}
	recs := make([]auditlog.Record, len(d.notes))
	for i, n := range d.notes {
		recs[i] = in.rec
		recs[i].BytesIn = int64(n.size)
		recs[i].Path = in.rec.Path
		recs[i].Notification = &auditlog.Notification{SubscriptionID: n.subscriptionID, ChangeType: n.changeType,
			LifecycleEvent: n.lifecycleEvent, Resource: n.resource, TenantID: n.tenantID, ResourceData: n.resourceData}
		if i > 0 {
			recs[i].RequestID = uuid.NewString()
		}
	}
	// A delivery is Graph's whole or not at all: one notification that is
	// not refuses them all.
	if err := rl.authentic(d, rt, data); err != nil {
		return 0, recs, fmt.Errorf("%w: %w", proxy.ErrNotificationRefused, err)
	}
	kept, err := rl.scope(r.Context(), d, sub, recs)
	if err != nil {
		return 0, recs, err
	}
	if len(kept) == 0 {
		// Nothing is the caller's to hear: Graph need not deliver again.
		w.WriteHeader(http.StatusAccepted)
		return http.StatusAccepted, recs, nil
	}
	notes, err := rl.forCaller(rt, d, kept, recs)
	if err != nil {
		return 0, recs, fmt.Errorf("%w: %w", proxy.ErrNotificationRefused, err)
	}
	status, vendorMs, err := rl.deliver(r.Context(), rt, notes)
	for _, i := range kept {
		recs[i].UpstreamStatus, recs[i].UpstreamMs = status, vendorMs
		recs[i].Decision = policy.Allow.String()
	}
	if err != nil {
		return 0, recs, fmt.Errorf("%w: %w", proxy.ErrReceiverUnreachable, err)
	}
	// The caller's status is Graph's: a caller that is down gets Graph's
	// retries, as it would without the proxy.
	if status < 200 || (status >= 300 && status < 400) {
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	return status, recs, nil
}

// authentic checks that every notification is Graph's, for this
// subscription: the clientState the proxy gave Graph, the proxy's tenant,
// and for rich notifications, which the policy in force must still
// allow (data), validation tokens from Microsoft.
func (rl *Relay) authentic(d *delivery, rt route, data bool) error {
	rich := len(d.validationTokens) > 0
	for i, n := range d.notes {
		if subtle.ConstantTimeCompare([]byte(n.clientState), []byte(rt.Proxy)) != 1 {
			return fmt.Errorf("notification %d: clientState is not the subscription's", i)
		}
		if !strings.EqualFold(n.tenantID, rl.o.TenantID) {
			return fmt.Errorf("notification %d: tenant %q is not the proxy's", i, n.tenantID)
		}
		if rt.Lifecycle && n.lifecycleEvent == "" {
			return fmt.Errorf("notification %d: a change notification at the subscription's lifecycleNotificationUrl", i)
		}
		rich = rich || n.resourceData
	}
	if !rich {
		return nil
	}
	if !data {
		return errors.New("resource data, which the policy in force does not allow for the subscription's resource (subscriptions.includeResourceData, or a read it filters)")
	}
	if len(d.validationTokens) == 0 {
		return errors.New("resource data without validationTokens")
	}
	if rl.o.Tokens == nil {
		return errors.New("validation tokens cannot be verified: no verifier configured")
	}
	for i, raw := range d.validationTokens {
		tok, err := rl.o.Tokens.Verify(raw)
		if err != nil {
			// Not wrapped: a token refused here is a delivery refused
			// (403), not a caller unauthenticated.
			return fmt.Errorf("validationTokens[%d]: %v", i, err)
		}
		if tok.AppID != ChangeTrackingAppID {
			return fmt.Errorf("validationTokens[%d]: issued to application %s, not Microsoft Graph change notifications", i, tok.AppID)
		}
	}
	return nil
}

// scope drops the notifications about a user outside the caller's group,
// recording why, and returns the indexes of those kept. A membership not
// known refuses the delivery (503): Graph delivers again later.
func (rl *Relay) scope(ctx context.Context, d *delivery, sub policy.Subscriber, recs []auditlog.Record) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, scopeTimeout)
	defer cancel()
	var kept []int
	for i, n := range d.notes {
		user := resourceUser(n.resource)
		recs[i].Target = user
		if user != "" {
			recs[i].Targets = []string{user}
		}
		switch {
		case n.lifecycleEvent != "" || sub.Group == "":
			// Lifecycle notifications carry no one's data.
		case user == "":
			recs[i].Decision, recs[i].Reason = policy.Deny.String(), "dropped: the resource names no user the users.group scope can check"
			continue
		case rl.o.Members == nil:
			return nil, fmt.Errorf("%w: no membership checker configured for users.group", proxy.ErrRelayUnavailable)
		default:
			member, err := rl.o.Members.IsMember(ctx, sub.Group, user)
			if err != nil {
				return nil, fmt.Errorf("%w: membership of %s unknown: %w", proxy.ErrRelayUnavailable, user, err)
			}
			if !member {
				recs[i].Decision, recs[i].Reason = policy.Deny.String(), "dropped: "+user+" is not a member of group "+sub.Group
				continue
			}
		}
		kept = append(kept, i)
	}
	return kept, nil
}

// resourceUser is the user a notification's resource belongs to
// (Users/{id}/..., users('{id}')/...), or "".
func resourceUser(resource string) string {
	if resource == "" {
		return ""
	}
	path, _, _ := strings.Cut(resource, "?")
	req, err := policy.Canonicalize("GET", "/v1.0/"+strings.TrimPrefix(path, "/"), "")
	if err != nil || len(req.Segments) < 2 || !strings.EqualFold(req.Segments[0], "users") {
		return ""
	}
	return req.Segments[1]
}

// forCaller writes the notifications kept out again for the caller: each
// with the caller's own clientState, and through the link rule of
// answers, links to other hosts withheld (a notification carries no more
// than an answer may: a URL of another host under a link's name, or one
// that carries its credential, whatever its name), the record saying how
// many.
func (rl *Relay) forCaller(rt route, d *delivery, kept []int, recs []auditlog.Record) ([]json.RawMessage, error) {
	notes := make([]json.RawMessage, 0, len(kept))
	for _, i := range kept {
		note, n, err := rl.links.Withhold(d.notes[i].forCaller(rt.State))
		if err != nil {
			return nil, fmt.Errorf("notification %d: %w", i, err)
		}
		if n > 0 {
			recs[i].Reason = fmt.Sprintf("%d link(s) to hosts other than Graph withheld", n)
		}
		notes = append(notes, note)
	}
	return notes, nil
}

// deliver posts the notifications to the caller's URL and returns the
// caller's status.
func (rl *Relay) deliver(ctx context.Context, rt route, notes []json.RawMessage) (int, float64, error) {
	out := struct {
		Value []json.RawMessage `json:"value"`
	}{Value: notes}
	// The validation tokens are not passed on: their audience is the
	// proxy, which has checked them; the caller could not.
	body, err := json.Marshal(out)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, rl.o.ReceiverTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := rl.now()
	resp, err := rl.o.Client.Do(req)
	ms := float64(rl.now().Sub(start).Microseconds()) / 1000
	if err != nil {
		return 0, ms, outbound.Error(err) // the URL's query may be the receiver's key
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, ms, nil
}

// validate relays Graph's validation request to the caller's URL, with
// the same validationToken, and answers Graph the token in plain text
// only when the caller's endpoint echoed it: a subscription is created
// only for an endpoint that really answers.
func (rl *Relay) validate(w http.ResponseWriter, r *http.Request, in *inbound, rt route, token string) (int, []auditlog.Record, error) {
	rec := in.rec
	rec.Reason = "validation request"
	if token == "" || len(token) > maxValidationToken || strings.IndexFunc(token, notTokenChar) >= 0 {
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: not a validation token", proxy.ErrNotificationRefused)
	}
	// Graph's validation request has no body: one with a body (a
	// delivery beside the token) is neither, and is refused whole.
	var one [1]byte
	if n, _ := io.ReadFull(r.Body, one[:]); n > 0 {
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: a validation request with a body", proxy.ErrNotificationRefused)
	}
	ctx, cancel := context.WithTimeout(r.Context(), rl.o.ValidationTimeout)
	defer cancel()
	u, err := url.Parse(rt.URL)
	if err != nil {
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: the receiver's URL does not parse", proxy.ErrReceiverUnreachable)
	}
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: %w", proxy.ErrReceiverUnreachable, outbound.Error(err))
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	start := rl.now()
	resp, err := rl.o.Client.Do(req)
	rec.UpstreamMs = float64(rl.now().Sub(start).Microseconds()) / 1000
	if err != nil {
		// Neither the receiver's key nor the validation token in the
		// URL's query goes into the record.
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: %w", proxy.ErrReceiverUnreachable, outbound.Error(err))
	}
	echo, _ := io.ReadAll(io.LimitReader(resp.Body, maxValidationToken+1))
	resp.Body.Close()
	rec.UpstreamStatus = resp.StatusCode
	if resp.StatusCode != http.StatusOK || string(echo) != token {
		return 0, []auditlog.Record{rec}, fmt.Errorf("%w: the endpoint answered %d without echoing the validation token", proxy.ErrReceiverUnreachable, resp.StatusCode)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, token)
	rec.Decision = policy.Allow.String()
	return http.StatusOK, []auditlog.Record{rec}, nil
}

// notTokenChar: a character Graph's validation tokens do not hold, which
// the proxy does not send to the caller's endpoint nor echo; they are
// printable ASCII.
func notTokenChar(c rune) bool { return c < ' ' || c > '~' }

// record appends the request's records, completed.
func (rl *Relay) record(in *inbound, status int, recs []auditlog.Record) {
	end := rl.now()
	for i := range recs {
		rec := &recs[i]
		rec.Time = in.start.UTC()
		rec.Status = status
		rec.DurationMs = float64(end.Sub(in.start).Microseconds()) / 1000
		if rec.Decision == "" {
			rec.Decision = policy.Deny.String()
		}
		if err := in.ticket.Append(rec); err != nil {
			rl.log.Error("audit record lost", "request_id", rec.RequestID, "error", err)
		}
	}
}
