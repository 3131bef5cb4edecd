package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// isFileLink reports whether a request is for one of the proxy's file
// links.
func isFileLink(path string) bool { return strings.HasPrefix(path, FileLinkPrefix) }

// serveFileLink serves a file link (content.go) through the same stages
// as a Graph call: the caller is authenticated and must be the one the
// link was made for (the same credential, callers.Caller.Identity),
// acting as the same signed-in user or app-only as
// then; the Graph call the link stands for is decided again
// under the policy in force, scoped and limited; then the file host is
// reached without Authorization. The record names that Graph call, never
// the link or the file host's URL.
func (h *Handler) serveFileLink(w *responseWriter, r *http.Request, c *call) error {
	c.rec.Path = FileLinkPrefix + "…"
	_, span := h.startSpan(r.Context(), "authenticate")
	caller, err := h.o.Callers.Authenticate(r)
	endSpan(span, err)
	c.rec.Caller = auditlog.Caller{Name: caller.Name, TenantID: caller.TenantID, AppID: caller.AppID, Auth: caller.Auth, IP: caller.IP}
	c.rec.Actor = auditActor(caller.Actor)
	if c.rec.Caller.IP == "" {
		c.rec.Caller.IP = callers.RemoteIP(r)
	}
	if err != nil {
		return err
	}
	f := h.o.Files
	if f == nil || f.Links == nil {
		return errFilesUnavailable
	}
	link, err := f.Links.Open(strings.TrimPrefix(r.URL.Path, FileLinkPrefix), h.now())
	if err != nil {
		return fmt.Errorf("%w: %w", errFileLink, err)
	}
	if link.Identity != caller.Identity() {
		// Not its name: the policy may since have renamed the caller the
		// link was made for, or given its name to another.
		return fmt.Errorf("%w: made for another caller (%q when it was made)", errFileLink, link.Caller)
	}
	if link.Actor != actorID(caller.Actor) {
		return fmt.Errorf("%w: made for another signed-in user, or for an app-only call", errFileLink)
	}
	method := http.MethodGet
	if link.Kind == filelink.Upload {
		method = http.MethodPost
	}
	req, err := policy.Canonicalize(method, link.Graph, "")
	if err != nil {
		return fmt.Errorf("%w: %w", errFileLink, err)
	}
	c.req = req
	c.rec.Version, c.rec.Path = req.Version, req.Path
	var routed policy.Routed
	h.o.Policy.RouteInto(&routed, caller.Name, policyActor(caller.Actor), &req)
	d := routed.Decide("", nil)
	h.scope(r.Context(), &d)
	if d.Forwarded() && d.Content == nil {
		d.Refuse("rule " + d.RuleID + " has no content section now: the link is no longer served")
	}
	c.decision = d
	c.rec.Decision, c.rec.Rule, c.rec.Route, c.rec.Permission, c.rec.Reason = d.Result.String(), d.RuleID, d.Route, d.Permission, d.Reason
	c.rec.Targets = d.Targets
	if len(d.Targets) > 0 {
		c.rec.Target = d.Targets[0]
	}
	drive, item := fileOf(req.Segments)
	c.file = &fileCall{rec: auditlog.File{Drive: drive, Item: item}}
	op, ok := linkOp(link.Kind, r.Method)
	if !ok {
		return fmt.Errorf("%w: %s on a %s link", errFileLinkMethod, r.Method, link.Kind)
	}
	c.file.rec.Op = op
	if !d.Forwarded() || d.Content == nil {
		c.file.rec.Outcome = "refused"
		return denied(d)
	}
	if h.o.Limiter != nil {
		release, err := h.o.Limiter.Acquire(r.Context(), caller.Name, h.o.Limits.Limits(caller.Name), 1, d.Targets)
		if err != nil {
			return err
		}
		defer release()
	}
	c.upstreamStart = h.now()
	if link.Kind == filelink.Download {
		return h.download(r.Context(), w, r, c, link.URL)
	}
	return h.uploadSession(r.Context(), w, r, c, link.URL)
}

// linkOp is the record's op for a method on a link, and whether the link
// takes it.
func linkOp(kind filelink.Kind, method string) (string, bool) {
	switch {
	case kind == filelink.Download && method == http.MethodGet:
		return "download", true
	case kind == filelink.Upload && method == http.MethodPut:
		return "uploadRange", true
	case kind == filelink.Upload && method == http.MethodGet:
		return "uploadStatus", true
	case kind == filelink.Upload && method == http.MethodDelete:
		return "uploadCancel", true
	}
	return string(kind), false
}

// uploadSession relays one request of an upload session to its upload
// URL: a range (PUT with Content-Range, within the rule's maxBytes), the
// session's status (GET) or its cancellation (DELETE).
func (h *Handler) uploadSession(ctx context.Context, w *responseWriter, r *http.Request, c *call, upload string) error {
	u, err := url.Parse(upload)
	if err != nil || !h.o.Files.Hosts.Allows(u) {
		c.file.rec.Outcome = "refused"
		return fmt.Errorf("%w: the upload URL's host is not one of the cloud's", errRedirectRefused)
	}
	c.file.rec.Session = sessionID(upload)
	out, err := http.NewRequestWithContext(ctx, r.Method, "", nil)
	if err != nil {
		return err
	}
	out.URL = u
	// Graph's upload URLs are pre-authenticated: a request with
	// Authorization may be refused, and the proxy's token is not theirs.
	out.Header = http.Header{"User-Agent": {""}, "Accept-Encoding": {"identity"}}
	var rng filelink.Range
	if r.Method == http.MethodPut {
		var ok bool
		if rng, ok = filelink.ParseContentRange(r.Header.Get("Content-Range")); !ok {
			c.file.rec.Outcome = "refused"
			return fmt.Errorf("%w: Content-Range %q is not bytes FIRST-LAST/TOTAL", errBadRange, r.Header.Get("Content-Range"))
		}
		c.file.rec.Range = rng.String()
		switch enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); {
		case rng.Total > c.decision.Content.MaxBytes:
			c.file.rec.Outcome = "refused"
			return &http.MaxBytesError{Limit: c.decision.Content.MaxBytes}
		case r.ContentLength != rng.Len():
			c.file.rec.Outcome = "refused"
			return fmt.Errorf("%w: Content-Length %d is not the range's %d bytes", errBadRange, r.ContentLength, rng.Len())
		case enc != "" && !strings.EqualFold(enc, "identity"):
			c.file.rec.Outcome = "refused"
			return fmt.Errorf("%w: %q on file content", errUnsupportedEncoding, enc)
		}
		c.file.upload = &fileBody{r: http.MaxBytesReader(w, r.Body, rng.Len()), rc: http.NewResponseController(w)}
		out.Body = noClose{c.file.upload}
		out.ContentLength = rng.Len()
		out.Header["Content-Range"] = []string{rng.String()}
		out.Header["Content-Type"] = []string{"application/octet-stream"}
	}
	resp, err := h.fileTransport().RoundTrip(out)
	if err != nil {
		if e := c.uploadErr(); e != nil {
			return e
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			return r.Context().Err()
		}
		return fmt.Errorf("the upload host: %w", outbound.Error(err))
	}
	defer resp.Body.Close()
	c.rec.UpstreamStatus = resp.StatusCode
	c.rec.UpstreamMs = ms(h.now().Sub(c.upstreamStart))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case !ok:
		c.file.rec.Outcome = "refused"
	case r.Method == http.MethodDelete:
		c.file.rec.Outcome = "cancelled"
	case r.Method == http.MethodPut && rng.Last+1 == rng.Total:
		c.file.rec.Outcome = "completed"
	case r.Method == http.MethodPut:
		c.file.rec.Outcome = "accepted"
	default:
		c.file.rec.Outcome = "open"
	}
	if err := h.relayFileAnswer(w, r, c, resp, []string{"Content-Type", "Content-Length"}); err != nil {
		return err
	}
	h.relay(w, r, resp, c)
	return nil
}

// noClose keeps the transport from closing the caller's body, which is
// the server's.
type noClose struct{ r *fileBody }

func (n noClose) Read(p []byte) (int, error) { return n.r.Read(p) }
func (noClose) Close() error                 { return nil }
