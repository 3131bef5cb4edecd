// Package outbound is what every request the proxy makes to another
// service shares: the count of the times a transport put one request on
// the wire, the refusal of a transport's silent resend of a request that
// may have been processed, and the text of a failed request's error
// without what its URL's query carries.
//
// Go's HTTP/2 transport sends a request again on its own when the
// connection ends under it: after GOAWAY above the request's stream or
// REFUSED_STREAM (Graph did not process it), but also after a
// PROTOCOL_ERROR reset from the peer, which may come after Graph processed
// it. It does so whenever the request's body can be replayed (GetBody) or
// it has none. A request the proxy makes with its own Graph token must be
// one its audit accounts for, and a write must not take effect twice for
// one call: so every attempt is counted (Attempts), and Send keeps the
// transport from replaying a write's body, resending it itself only when
// the error says the server did not process it.
package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
)

// Attempts counts the times a request's headers were written: each one a
// request the server received, or may have.
type Attempts struct {
	n     atomic.Int32
	trace httptrace.ClientTrace // Context's, held with the count it keeps
}

// Count is the number of attempts so far.
func (a *Attempts) Count() int { return int(a.n.Load()) }

// Trace returns req counting its attempts in a: the transport reports
// each write of the headers, its own resends included.
func (a *Attempts) Trace(req *http.Request) *http.Request {
	return req.WithContext(a.Context(req.Context()))
}

// Context returns ctx with a trace that counts in a the attempts of the
// requests made with it: for a request built with it, what Trace does
// without a copy of the request.
// An Attempts is for one request (and its resends): Context is called
// once.
func (a *Attempts) Context(ctx context.Context) context.Context {
	a.trace.WroteHeaders = a.wrote
	return httptrace.WithClientTrace(ctx, &a.trace)
}

func (a *Attempts) wrote() { a.n.Add(1) }

// Replayable reports a method without side effects, which a transport
// may send again whatever became of the first attempt.
func Replayable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// Send sends req with rt. A request with side effects goes without
// GetBody, so that the transport cannot send its body again after an
// error that leaves unknown whether the server processed it; when the
// error says the server did not (Unprocessed), Send sends it once more
// itself. A request without a body may still be resent by the transport
// (Go does not ask): Attempts counts it.
func Send(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	getBody := req.GetBody
	if req.Body == nil || req.Body == http.NoBody || Replayable(req.Method) || getBody == nil {
		return rt.RoundTrip(req)
	}
	req.GetBody = nil
	resp, err := rt.RoundTrip(req)
	if err == nil || !Unprocessed(err) || req.Context().Err() != nil {
		return resp, err
	}
	body, gerr := getBody()
	if gerr != nil {
		return nil, err
	}
	again := *req
	again.Body = body
	return rt.RoundTrip(&again)
}

// Unprocessed reports an error after which the server certainly did not
// process the request: a GOAWAY whose last stream is below the request's,
// or the stream refused (RFC 9113 §8.7). Go's transport keeps these errors
// unexported and gives them only as text, so the text is what is read;
// anything else (a PROTOCOL_ERROR reset, a connection lost) may have come
// after the server processed the request.
func Unprocessed(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "REFUSED_STREAM") || strings.Contains(msg, "Server's graceful shutdown GOAWAY")
}

// Error is err without the URL of the request it failed: a *url.Error's
// URL reduced to scheme://host/path (its query and user info may be a
// credential: a receiver's function key, a file host's pre-authenticated
// URL, a validation token), and that URL's text removed wherever else
// err's text repeats it. Errors keep their chain (errors.Is, a timeout)
// but for that text.
func Error(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	return &redacted{err: err, msg: redact(err.Error(), ue.URL)}
}

// Text is Error(err)'s text, "" for nil.
func Text(err error) string {
	if err = Error(err); err == nil {
		return ""
	}
	return err.Error()
}

type redacted struct {
	err error
	msg string
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Timeout keeps net.Error's meaning for the error redacted.
func (e *redacted) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// redact replaces raw (a URL) in msg with its scheme, host and path, and
// removes its query wherever else it appears.
func redact(msg, raw string) string {
	short, _ := Short(raw)
	msg = strings.ReplaceAll(msg, raw, short)
	if u, err := url.Parse(raw); err == nil {
		for _, part := range []string{u.RawQuery, u.Query().Encode(), u.Fragment, u.User.String()} {
			if len(part) >= 4 {
				msg = strings.ReplaceAll(msg, part, "…")
			}
		}
	}
	return msg
}

// NotShown stands for what a record, log or reason may not show.
const NotShown = "(not shown)"

// Short is what a record, a log or a refusal's reason may show of a URL:
// its scheme, host and path, never its user information, query or
// fragment (whole true); an opaque one (EventGrid:?…) by its scheme alone,
// and one that does not parse, or has no scheme, not at all (whole
// false). One rule for every URL the proxy writes down: an outbound
// request's, or one a request carried.
func Short(raw string) (shown string, whole bool) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		return NotShown, false
	case u.Opaque != "" || u.Host == "":
		return u.Scheme + ":" + NotShown, false
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String(), true
}
