package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// Error is an error the proxy answers itself, in Graph's error shape. Code
// and Message are stable strings for callers; Err is the cause, for the log
// and the audit record only.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int // seconds; 0 sends no Retry-After
	// Challenge, when set, is the WWW-Authenticate header sent (a claims
	// challenge); a 401 without one sends Bearer error="invalid_token".
	Challenge string
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

const deniedMessage = "The request is not allowed by this proxy's policy."

// denied is the error for a denying decision. The caller learns which
// $batch sub-requests were refused, never why: the reason names rules and
// goes to the audit log.
func denied(d policy.Decision) error {
	var refused []string
	var why []string
	for _, sd := range d.Batch {
		if !sd.Decision.Forwarded() {
			refused = append(refused, sd.ID)
			if sd.Decision.Refusal != policy.RefusalPolicy {
				why = append(why, sd.ID+": "+sd.Decision.Reason)
			}
		}
	}
	err := fmt.Errorf("%w: %s", errDenied, d.Reason)
	switch {
	case d.Refusal == policy.RefusalMediaType && len(d.Batch) == 0:
		// The caller's own request, not the policy, is what is wrong: it
		// is told what, as Graph would tell it.
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "graphProxy.unsupportedMediaType",
			Message: "The request body's Content-Type is not one the proxy reads for this call: " + d.Reason + ".", Err: err}
	case d.Refusal != policy.RefusalPolicy && len(refused) == 0:
		return &Error{Status: http.StatusBadRequest, Code: "graphProxy.badRequest",
			Message: "The request is malformed: " + d.Reason + ".", Err: err}
	case d.Refusal != policy.RefusalPolicy:
		return &Error{Status: http.StatusBadRequest, Code: "graphProxy.badRequest",
			Message: "Invalid batch request: " + strings.Join(why, "; ") + ".", Err: err}
	case len(refused) == 0:
		return err
	}
	return &Error{Status: http.StatusForbidden, Code: "graphProxy.policyDenied",
		Message: deniedMessage + " Refused batch requests: " + strings.Join(refused, ", ") + ".", Err: err}
}

// StatusClientClosedRequest is recorded when the caller went away before
// the answer; nothing is sent.
const StatusClientClosedRequest = 499

// ErrShutdown is the cause the server's contexts are cancelled with when
// the proxy shuts down past its grace period: a call cut then is recorded
// as cut by the shutdown (503 graphProxy.shutDown), not as a caller gone.
var ErrShutdown = errors.New("the proxy shut down with the call in flight")

var (
	errDenied            = errors.New("denied by policy")
	errAuditUnavailable  = errors.New("audit log unavailable")
	errUpstreamBodyAbort = errors.New("upstream response aborted mid-body")
)

// The errors of change notifications relayed through the proxy
// (proxy/notify), each answered as classify says.
var (
	// ErrRelayUnavailable: the proxy cannot relay notifications now (no
	// key, no relay configured); 503, nothing forwarded.
	ErrRelayUnavailable = errors.New("change notifications cannot be relayed")
	// ErrNotificationRefused: a delivery that is not Graph's for a
	// subscription the proxy made (a forged, altered or foreign token,
	// clientState or validation token); 403.
	ErrNotificationRefused = errors.New("change notification refused")
	// ErrNotificationMethod: anything but POST at the notification
	// endpoint; 405.
	ErrNotificationMethod = errors.New("change notifications are POSTed")
	// ErrNotificationMediaType: a delivery that is not application/json;
	// 415.
	ErrNotificationMediaType = errors.New("change notifications are application/json")
	// ErrReceiverUnreachable: the caller's notification endpoint did not
	// answer; 502, so that Graph delivers again later.
	ErrReceiverUnreachable = errors.New("the caller's notification endpoint could not be reached")
)

// The errors of file content (content.go, filelinks.go).
var (
	// errRedirectRefused: Graph (or a file host) sent the proxy to a host
	// that is not one of the cloud's file hosts; 502, not followed.
	errRedirectRefused = errors.New("redirect to a host that is not a file host of the cloud")
	// errFileTooLarge: a download beyond the rule's content.maxBytes; 403.
	errFileTooLarge = errors.New("file larger than the rule's content.maxBytes")
	// errFilesUnavailable: the proxy has no file links configured; 503.
	errFilesUnavailable = errors.New("file links are not configured")
	// errFileLink: a file link that does not open, has expired or was
	// made for another caller; 403, saying no more.
	errFileLink = errors.New("file link refused")
	// errFileLinkMethod: a method a file link does not take; 405.
	errFileLinkMethod = errors.New("method not taken by the file link")
	// errBadRange: an upload range whose Content-Range or length is not
	// one the proxy reads; 400.
	errBadRange = errors.New("upload range malformed")
)

// classify maps an error from any stage to the answer the caller gets.
// It is the only place that chooses statuses for the proxy's own errors.
func classify(err error) *Error {
	var pe *Error
	var le *LimitedError
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case delegatedError(err) != nil:
		return delegatedError(err)
	case errors.As(err, &le):
		return &Error{Status: http.StatusTooManyRequests, Code: "graphProxy.rateLimited",
			Message: "Too many requests from this application; retry after the time given.", RetryAfter: retryAfterSeconds(le.RetryAfter), Err: err}
	case errors.Is(err, policy.ErrNotGraph):
		return &Error{Status: http.StatusNotFound, Code: "graphProxy.notFound",
			Message: "Only /v1.0/ and /beta/ Microsoft Graph paths are served by this proxy.", Err: err}
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "graphProxy.requestTooLarge",
			Message: "The request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes.", Err: err}
	case errors.Is(err, callers.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Code: "graphProxy.unauthenticated",
			Message: "A valid access token for this proxy is required.", Err: err}
	case errors.Is(err, callers.ErrUnknownCaller):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.callerNotAllowed",
			Message: "The calling application is not allowed by this proxy's policy.", Err: err}
	case errors.Is(err, errDenied):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.policyDenied",
			Message: deniedMessage, Err: err}
	case errors.Is(err, errUnsupportedEncoding):
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "graphProxy.unsupportedContentEncoding",
			Message: "Request bodies may be sent uncompressed or gzip-compressed only.", Err: err}
	case errors.Is(err, errBadBody):
		return &Error{Status: http.StatusBadRequest, Code: "graphProxy.badRequest",
			Message: "The request is malformed or uses an unsupported feature.", Err: err}
	case errors.Is(err, errAuditUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.auditUnavailable",
			Message: "The proxy cannot record the call in its audit log; try again later.", RetryAfter: 5, Err: err}
	case errors.Is(err, errPseudonymKey):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.pseudonymKeyUnavailable",
			Message: "The proxy cannot obtain the key its policy pseudonymises this answer with; try again later.", RetryAfter: 10, Err: err}
	case errors.Is(err, errAnswerWithheld):
		// Graph had answered: the call may have taken effect.
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.answerWithheld",
			Message: "Microsoft Graph's answer is not one this proxy's policy can filter, so it was withheld; the request may have taken effect.", Err: err}
	case errors.Is(err, errAnswerUncheckable):
		// Graph had answered: the call may have taken effect.
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.answerWithheld",
			Message: "Microsoft Graph's answer could not be checked for links to other hosts (encoded, nested too deep, or not well-formed JSON), so it was withheld; the request may have taken effect.", Err: err}
	case errors.Is(err, errUnrestorable):
		// Graph had answered: the call may have taken effect.
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.answerWithheld",
			Message: "Microsoft Graph's answer about subscriptions is too long for this proxy to show you your own, so it was withheld; ask for fewer (a filter, or $top).", Err: err}
	case errors.Is(err, ErrRelayUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.relayUnavailable",
			Message: "The proxy cannot relay change notifications now; try again later.", RetryAfter: 10, Err: err}
	case errors.Is(err, ErrNotificationRefused):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.notificationRefused",
			Message: "The notification is not accepted.", Err: err}
	case errors.Is(err, ErrNotificationMethod):
		return &Error{Status: http.StatusMethodNotAllowed, Code: "graphProxy.methodNotAllowed",
			Message: "Change notifications are delivered with POST.", Err: err}
	case errors.Is(err, ErrNotificationMediaType):
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "graphProxy.unsupportedMediaType",
			Message: "Change notifications are delivered as application/json.", Err: err}
	case errors.Is(err, ErrReceiverUnreachable):
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.receiverUnreachable",
			Message: "The notification's receiver could not be reached.", Err: err}
	case errors.Is(err, errRedirectRefused):
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.redirectRefused",
			Message: "Microsoft Graph sent the file to a host this proxy does not reach.", Err: err}
	case errors.Is(err, errFileTooLarge):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.policyDenied",
			Message: deniedMessage + " The file is larger than the policy allows.", Err: err}
	case errors.Is(err, errFilesUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.filesUnavailable",
			Message: "The proxy cannot serve file links now; try again later.", RetryAfter: 10, Err: err}
	case errors.Is(err, errFileLink):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.fileLinkInvalid",
			Message: "The file link is not valid for this caller, or has expired.", Err: err}
	case errors.Is(err, errFileLinkMethod):
		return &Error{Status: http.StatusMethodNotAllowed, Code: "graphProxy.methodNotAllowed",
			Message: "The file link does not take this method.", Err: err}
	case errors.Is(err, errBadRange):
		return &Error{Status: http.StatusBadRequest, Code: "graphProxy.badRequest",
			Message: "An upload range needs Content-Range: bytes FIRST-LAST/TOTAL and a Content-Length of its size.", Err: err}
	case errors.Is(err, errReferenceRefused):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.referenceUnreadable",
			Message: "The item this call refers to (the message or event whose people it reaches) could not be read, so the proxy cannot check who the call would reach; nothing was sent.", Err: err}
	case errors.Is(err, errReferenceUnreadable):
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.referenceUnreadable",
			Message: "Microsoft Graph did not give the item this call refers to (the message or event whose people it reaches) in a form the proxy reads, so it cannot check who the call would reach; nothing was sent.", Err: err}
	case errors.Is(err, errUnresolved):
		return &Error{Status: http.StatusForbidden, Code: "graphProxy.policyDenied",
			Message: deniedMessage, Err: err}
	case errors.Is(err, upstream.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.tokenUnavailable",
			Message: "The proxy cannot obtain its Microsoft Graph token; try again later.", RetryAfter: 10, Err: err}
	case errors.Is(err, errUpstreamBodyAbort):
		// Graph had answered: the call may have taken effect.
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.upstreamAborted",
			Message: "Microsoft Graph's answer was cut off before it was complete; the request may have taken effect.", Err: err}
	case errors.Is(err, ErrShutdown):
		return &Error{Status: http.StatusServiceUnavailable, Code: "graphProxy.shutDown",
			Message: "The proxy shut down before Microsoft Graph answered; the request may have taken effect.", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: StatusClientClosedRequest, Code: "graphProxy.clientClosedRequest",
			Message: "The client closed the request.", Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Status: http.StatusGatewayTimeout, Code: "graphProxy.upstreamTimeout",
			Message: "Microsoft Graph did not answer in time.", Err: err}
	default:
		return &Error{Status: http.StatusBadGateway, Code: "graphProxy.upstreamUnreachable",
			Message: "Microsoft Graph could not be reached.", Err: err}
	}
}

// graphError is Graph's error body, so that SDKs parse the proxy's errors
// as they parse Graph's.
type graphError struct {
	Error graphErrorBody `json:"error"`
}

type graphErrorBody struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError innerError `json:"innerError"`
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// writeError answers e in Graph's shape. A 499 writes nothing: nobody is
// listening.
func writeError(w http.ResponseWriter, e *Error, requestID, clientRequestID string, now time.Time) {
	if e.Status == StatusClientClosedRequest {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("request-id", requestID)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	} else if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	body, _ := json.Marshal(graphError{Error: graphErrorBody{
		Code:    e.Code,
		Message: e.Message,
		InnerError: innerError{
			Date:            now.UTC().Format(time.RFC3339),
			RequestID:       requestID,
			ClientRequestID: clientRequestID,
		},
	}})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
