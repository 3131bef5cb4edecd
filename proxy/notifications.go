package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// The relay of change notifications (policy callers[].notifications:
// relay), on the proxy's side: the relay stage rewrites a subscription's
// creation, the respond stage restores the caller's own URLs in the
// answer, and Graph's deliveries at NotificationsPath go to the
// Notifications handler. proxy/notify implements Notifications.

// NotificationsPath is where Graph delivers the notifications of relayed
// subscriptions: NotificationsPath + a sealed token.
const NotificationsPath = "/notifications/"

// Notifications relays change notifications through the proxy.
type Notifications interface {
	// Subscribe returns the body of a subscription's creation, decided
	// and allowed, with the proxy's notification URLs (and clientState)
	// in place of the caller's, bound to the caller's identity
	// (callers.Caller.Identity), never its policy name: a renamed caller
	// keeps its subscriptions, and a new caller given an old name gets
	// none of them. An error wraps ErrRelayUnavailable, or says why the
	// body cannot be rewritten: the call is then refused.
	Subscribe(caller *callers.Caller, version string, body []byte) ([]byte, error)
	// Restore returns an answer about subscriptions with the caller's own
	// notification URLs and clientState in place of the proxy's: those of
	// subscriptions the caller's identity made; another caller's relayed
	// subscriptions keep the proxy's URL and lose the clientState that
	// proves deliveries. The answer is unchanged when it names none; an
	// answer that names the relay's path and cannot be read as one JSON
	// value is an error, and is then withheld.
	Restore(identity string, answer []byte) ([]byte, error)
	// Owner reads a notification URL Graph holds for a subscription:
	// relayed reports whether it is one of the proxy's, and then
	// identity and url are the identity of the caller it was sealed for
	// and that caller's own URL, or empty when its token does not open
	// (or, made by an earlier version, carries no identity).
	Owner(notificationURL string) (identity, url string, relayed bool)
	// ServeHTTP answers Graph's deliveries at NotificationsPath: each is
	// checked, recorded and passed on, or refused.
	http.Handler
}

// WriteError answers err in Graph's shape, with the status classify
// chooses for it: the notification endpoint's errors are the proxy's.
func WriteError(w http.ResponseWriter, err error, requestID string, now time.Time) {
	writeError(w, classify(err), requestID, "", now)
}

// notifications answers at NotificationsPath.
func (h *Handler) notifications(w http.ResponseWriter, r *http.Request) {
	if h.o.Notifications == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "graphProxy.notFound",
			Message: "Only /v1.0/ and /beta/ Microsoft Graph paths are served by this proxy."}, newID(), "", h.now())
		return
	}
	h.o.Notifications.ServeHTTP(w, r)
}

// relaySubscription is the relay stage: a subscription the policy marks for relay is
// created with the proxy's URLs, or not at all.
func (h *Handler) relaySubscription(c *call, body []byte) ([]byte, error) {
	if !c.decision.Relay {
		return body, nil
	}
	if h.o.Notifications == nil {
		return nil, fmt.Errorf("%w: the policy relays caller %q's notifications, and no relay is configured", ErrRelayUnavailable, c.rec.Caller.Name)
	}
	if c.req.Method != http.MethodPost || len(c.req.Segments) != 1 {
		return body, nil // renewals, reads and deletions pass as they are
	}
	out, err := h.o.Notifications.Subscribe(&c.caller, c.req.Version, body)
	switch {
	case errors.Is(err, ErrRelayUnavailable):
		return nil, err
	case err != nil:
		// A body the policy read but the relay cannot rewrite (report-only
		// mode forwards what it would refuse): never forwarded as it is.
		return nil, fmt.Errorf("%w: %w", errBadBody, err)
	}
	c.rec.Reason = appendReason(c.rec.Reason, "notifications relayed through the proxy")
	return out, nil
}

// errUnrestorable is an answer about subscriptions the relay cannot show
// the caller as its own: longer than the proxy reads whole, encoded, not
// JSON, or JSON the relay cannot read. It would carry the other callers'
// relayed subscriptions as Graph holds them — their notification URLs and
// the clientState that proves Graph's deliveries — so it is withheld.
var errUnrestorable = errors.New("answer about subscriptions withheld: too long, encoded or unreadable to restore")

// aboutSubscriptions reports a call whose answer the relay restores: a
// call on /subscriptions, or a $batch with one among its sub-requests,
// whose sub-response carries Graph's answer as it is.
func (h *Handler) aboutSubscriptions(c *call) bool {
	if h.o.Notifications == nil {
		return false
	}
	if onSubscriptions(c.req) {
		return true
	}
	for i := range c.decision.Batch {
		if onSubscriptions(c.decision.Batch[i].Request) {
			return true
		}
	}
	return false
}

func onSubscriptions(req policy.Request) bool {
	return len(req.Segments) > 0 && strings.EqualFold(req.Segments[0], "subscriptions")
}

// restoreAnswer shows the caller its own notification URLs in an answer
// about subscriptions, and withholds the clientState Graph holds for other
// callers' relayed subscriptions: every caller's, since Graph lists the
// subscriptions of the proxy's application, whoever made them. It reads
// the answer whole, as Graph sent it, before anything else does: a
// response section could drop the notificationUrl that tells whose a
// clientState is, and a streamed answer would be relayed unread. A
// successful answer that cannot be read so is errUnrestorable.
func (h *Handler) restoreAnswer(c *call, resp *http.Response) error {
	if resp.Body == http.NoBody || resp.ContentLength == 0 || !h.aboutSubscriptions(c) {
		return nil
	}
	failed := resp.StatusCode >= 300 || resp.StatusCode == http.StatusNoContent
	if !isJSON(resp.Header.Get("Content-Type")) || resp.Header.Get("Content-Encoding") != "" || resp.ContentLength > maxBufferedAnswer {
		if failed {
			return nil // an error's answer names no subscription
		}
		return errUnrestorable
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBufferedAnswer+1))
	if err != nil {
		return fmt.Errorf("%w: %w", errUpstreamBodyAbort, err)
	}
	if len(b) > maxBufferedAnswer {
		return errUnrestorable
	}
	out, err := h.o.Notifications.Restore(c.caller.Identity(), b)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnrestorable, err)
	}
	// The original body is still the one closed once the answer is relayed.
	resp.Body = prefixedBody{bytes.NewReader(out), resp.Body}
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// anotherCallersURL stands, for the policy, in place of a notification URL
// the relay holds for another caller (or whose token does not open): no
// subscriptions.notificationUrls entry matches it, and the record does
// not carry the relay's token.
const anotherCallersURL = "(a notification URL the relay holds for another caller)"

// callerURLs puts a relayed subscription's notification URLs, as the
// proxy read them from Graph (policy.LookupSubscription), back as its
// caller gave them, so that the policy checks them as at creation: the
// caller's own, when the relay made the subscription for this caller's
// identity (callers.Caller.Identity: whatever the policy names it now);
// anotherCallersURL otherwise. A URL that is not the relay's stays as
// it is.
func (h *Handler) callerURLs(caller *callers.Caller, l *policy.Lookup, read []policy.Recipient) {
	if l.Kind != policy.LookupSubscription || h.o.Notifications == nil {
		return
	}
	identity := caller.Identity()
	for i := range read {
		if read[i].Where == "resource" || read[i].Where == "creatorId" {
			continue
		}
		owner, url, relayed := h.o.Notifications.Owner(read[i].Address)
		switch {
		case !relayed:
		case owner != "" && owner == identity:
			read[i].Address = url
		default:
			read[i].Address = anotherCallersURL
		}
	}
}
