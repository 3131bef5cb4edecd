package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// forward sends the decided call to Graph with the proxy's own token and
// relays Graph's answer. It returns an error only while nothing has been
// written to the caller; a failure after that is recorded in the call's
// record, and an upstream failure mid-body aborts the caller's connection
// (panic(http.ErrAbortHandler)) so that the caller cannot mistake a cut
// answer for a complete one.
//
// This is the work httputil.ReverseProxy did before, written for the one
// upstream the proxy has: the request is built from the allow-listed
// headers rather than cloned from the caller's and pruned, the answer's
// headers are moved rather than copied, a small answer read whole goes out
// in one write, and the one trace hook is the count of attempts: every
// time the request goes on the wire is counted (the record's attempts), and a write is never sent again unless Graph certainly did
// not process it (outbound.Send): a transport's resend is one more request
// made with the proxy's token, which the record must account for.
func (h *Handler) forward(ctx context.Context, w *responseWriter, r *http.Request, c *call, body []byte) error {
	if c.decision.Unresolved() {
		// Never sent before the people it reaches are checked (resolve),
		// nor a $batch before those of each of its parts.
		return errUnresolved
	}
	// Graph receives what was decided: the canonical method (never the
	// caller's spelling of it), the $select the policy adds, the body the
	// policy wrote out again ($batch) and the Content-Type it read the
	// body as.
	if c.decision.Body != nil {
		body = c.decision.Body
	}
	var src io.Reader
	if len(body) > 0 {
		src = bytes.NewReader(body) // sets ContentLength and GetBody
	}
	if up := c.streamedBody(); up != nil {
		src = up // file content, streamed unread (content.go)
	}
	out, err := http.NewRequestWithContext(c.attempts.Context(ctx), c.req.Method, "", src)
	if err != nil {
		return err
	}
	query := r.URL.RawQuery
	if c.decision.AddSelect != "" {
		query = policy.WithSelect("?"+query, c.decision.AddSelect)[1:]
	}
	out.URL = &url.URL{Scheme: h.o.Graph.Scheme, Host: h.o.Graph.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: query}
	out.Header = h.outboundHeader(r, c, src != nil)
	if src != nil && len(body) == 0 {
		out.ContentLength = r.ContentLength
	}
	h.prepareMint(c)

	c.upstreamStart = h.now()
	resp, err := outbound.Send(h.o.Transport, out)
	if err != nil {
		if e := c.uploadErr(); e != nil {
			return e
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			// The caller went away, or the proxy shut down (ErrShutdown).
			return context.Cause(r.Context())
		}
		return outbound.Error(err)
	}
	if h.o.UpstreamIdle > 0 {
		resp.Body = newIdleBody(resp.Body, h.o.UpstreamIdle)
	}
	if c.followsRedirect(resp) {
		return h.followDownload(ctx, w, r, c, resp)
	}
	if c.answersFile(resp) {
		return h.directDownload(w, r, c, resp)
	}
	// Closed as it is at the end: answer may replace it with a link
	// rewriter, whose pooled buffers go back when it is closed.
	defer func() { resp.Body.Close() }()
	answer, whole, err := h.answer(c, resp)
	defer h.bufs.putAnswer(answer) // after relay: a streamed answer may start with it
	if err != nil {
		return err
	}
	h.noteSubscription(ctx, c, resp.StatusCode, answer, whole)

	dst := w.Header()
	removeHopByHop(resp.Header)
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	w.WriteHeader(resp.StatusCode)
	if whole {
		if _, err := w.Write(answer.Bytes()); err != nil {
			c.rec.Error = errCallerGone(err)
		}
		return nil
	}
	h.relay(w, r, resp, c)
	return nil
}

// forwardedHeaders are policy.ForwardedHeaders in canonical form but for
// Content-Type, which the policy decides: the request headers sent on to
// Graph. Every other header, the caller's Authorization and Cookie among
// them, stays behind.
var forwardedHeaders = func() []string {
	out := make([]string, 0, len(policy.ForwardedHeaders))
	for _, h := range policy.ForwardedHeaders {
		if k := http.CanonicalHeaderKey(h); k != "Content-Type" {
			out = append(out, k)
		}
	}
	return out
}()

// outboundHeader is the header of the request to Graph: the allow-listed
// headers of the caller's, the Content-Type the policy read the body as,
// the proxy's token and the client-request-id.
func (h *Handler) outboundHeader(r *http.Request, c *call, withBody bool) http.Header {
	// Sized for what calls carry (a few of the allowed headers, the token
	// and the id): a small map, where room for every allowed header would
	// be a table.
	out := make(http.Header, 8)
	for _, k := range forwardedHeaders {
		if v, ok := r.Header[k]; ok {
			out[k] = v
		}
	}
	switch {
	case !withBody:
	case c.decision.ContentType != "":
		out["Content-Type"] = c.value(c.decision.ContentType)
	case c.decision.Result == policy.Report:
		// Report-only forwards what the policy would have refused, as
		// the caller sent it.
		if ct, ok := r.Header["Content-Type"]; ok {
			out["Content-Type"] = ct
		}
	}
	if _, ok := out["User-Agent"]; !ok {
		out["User-Agent"] = c.value("") // not Go's default
	}
	out["Authorization"] = c.value(c.token.Authorization())
	out["Client-Request-Id"] = c.value(c.clientRequestID)
	// Accept-Encoding is the transport's (graph.compression): when it
	// asks for gzip it also decompresses, so links can be checked.
	return out
}

// answer records Graph's answer in the call's record and makes its headers
// fit to relay. A JSON answer of at most maxBufferedAnswer bytes is read
// whole into a buffer lent by h.bufs (whole: the buffer is the answer, its
// links rewritten); a longer one gets resp.Body replaced by a link rewriter
// (and, when its length was unknown, the buffer holds its first bytes,
// which the rewriter reads first); any other answer passes as it is. The
// buffer goes back to h.bufs once the answer is relayed.
func (h *Handler) answer(c *call, resp *http.Response) (buf *bytes.Buffer, whole bool, err error) {
	c.rec.UpstreamStatus = resp.StatusCode
	c.rec.UpstreamMs = ms(h.now().Sub(c.upstreamStart))
	c.rec.GraphRequestID = resp.Header.Get("request-id")
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		c.rec.RetryAfter, _ = strconv.ParseFloat(ra, 64)
	}
	if c.rec.Actor != nil && resp.StatusCode == http.StatusUnauthorized {
		if claims, ok := claimsChallenge(resp.Header.Values("WWW-Authenticate")); ok {
			// Continuous access evaluation of a signed-in user's token
			// (a session revoked, a location Conditional Access refuses):
			// only the user can satisfy it, by signing in again through
			// the caller's app. The challenge goes to the caller as the
			// proxy's own (Microsoft's guidance for a middle tier); the
			// new user token the caller then brings is exchanged afresh.
			return nil, false, &upstream.ClaimsChallenge{Claims: claims, Code: "Graph: insufficient_claims"}
		}
	}
	// Graph's challenges of an app-only token concern the proxy's own
	// token; relayed, they would make SDKs retry with claims they cannot
	// satisfy.
	resp.Header.Del("WWW-Authenticate")
	resp.Header.Del("Set-Cookie")
	// A Location elsewhere (SharePoint, a download) would carry the
	// caller outside the audited path; so would any header naming another
	// host (headerlinks.go).
	h.headerLinks(c, resp.Header)
	if err := h.restoreAnswer(c, resp); err != nil {
		return nil, false, err
	}
	if c.filtered() {
		return h.filteredAnswer(c, resp)
	}
	withhold := !c.decision.ExternalLinks || c.mint != nil
	media := answerMedia(resp.Header)
	if withhold && media == mediaUnknown && !emptyBody(resp) {
		// Nobody can say how the caller reads it: as JSON, perhaps.
		return nil, false, fmt.Errorf("%w: Content-Type %q", errAnswerUntyped, resp.Header.Values("Content-Type"))
	}
	enc := resp.Header.Get("Content-Encoding")
	if enc != "" && withhold && resp.Body != http.NoBody {
		// Encoded in a way the transport did not undo (it undoes only
		// what it asked for, graph.compression): a JSON answer's links
		// cannot be read, nor can another's bytes be told from JSON,
		// which a caller's reader, decoding them, may take them for.
		return nil, false, fmt.Errorf("%w: Content-Encoding %q", errAnswerEncoded, enc)
	}
	if withhold && media == mediaOther && resp.Body != http.NoBody {
		// Labelled otherwise, yet a caller's reader may take it for
		// JSON (answerjson.go): read as JSON if it reads so.
		asJSON, err := answerReadsAsJSON(resp)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", errUpstreamBodyAbort, err)
		}
		if asJSON {
			media = mediaJSON
		}
	}
	if media != mediaJSON || enc != "" || resp.Body == http.NoBody {
		return nil, false, nil
	}
	if withhold && !jsonCharsetOK(resp.Header.Get("Content-Type")) {
		return nil, false, fmt.Errorf("%w: Content-Type %q", errAnswerCharset, resp.Header.Get("Content-Type"))
	}
	var raw *bytes.Buffer
	switch {
	case resp.ContentLength > maxBufferedAnswer:
	case resp.ContentLength >= 0:
		raw = h.bufs.getAnswer(resp.ContentLength)
		if _, err := raw.ReadFrom(resp.Body); err != nil {
			return raw, false, fmt.Errorf("%w: %w", errUpstreamBodyAbort, err)
		}
	default:
		// Length unknown: usually Graph's gzip answer, decompressed by the
		// transport. Read up to the bound: an answer that ends within it
		// goes out like one of known length (a Content-Length, one write);
		// a longer one streams, starting with what was read.
		raw = h.bufs.getAnswer(0)
		n, err := raw.ReadFrom(io.LimitReader(resp.Body, maxBufferedAnswer+1))
		if err != nil {
			return raw, false, fmt.Errorf("%w: %w", errUpstreamBodyAbort, err)
		}
		if n > maxBufferedAnswer {
			resp.Body = prefixedBody{io.MultiReader(bytes.NewReader(raw.Bytes()), resp.Body), resp.Body}
			break
		}
		resp.ContentLength = n
	}
	if resp.ContentLength < 0 || resp.ContentLength > maxBufferedAnswer {
		c.links = h.linksFor(c, resp.Body, withhold)
		resp.Body = c.links
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		return raw, false, nil
	}
	// A small answer, read whole, is rewritten only if it has a link: the
	// caller gets a Content-Length and one write.
	out := raw
	if h.links.mayRewrite(raw.Bytes(), withhold) {
		c.links = h.linksFor(c, io.NopCloser(raw), withhold)
		out = h.bufs.getAnswer(int64(raw.Len()) + 512) // back to the pool after relay, as raw would have gone
		_, err := out.ReadFrom(c.links)
		c.links.Close()
		h.bufs.putAnswer(raw)
		if err != nil {
			return out, false, err // errAnswerUncheckable: nothing written yet
		}
	}
	resp.Header.Set("Content-Length", strconv.Itoa(out.Len()))
	return out, true, nil
}

// prefixedBody is an answer's body with its first bytes, already read,
// put back in front.
type prefixedBody struct {
	io.Reader
	io.Closer
}

// maxBufferedAnswer is the largest JSON answer of known length rewritten
// whole rather than streamed.
const maxBufferedAnswer = 256 << 10

// relay streams the answer's body to the caller. An answer of unknown
// length (a streamed collection, a link rewriter's output) or an event
// stream is flushed as it arrives, so the caller sees what Graph has sent.
func (h *Handler) relay(w *responseWriter, r *http.Request, resp *http.Response, c *call) {
	flush := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	p := inPool.Get().(*[]byte)
	defer inPool.Put(p)
	buf := *p
	var rc *http.ResponseController
	if c.file != nil {
		rc = http.NewResponseController(w) // file content outlasts the write timeout
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			extendDeadline(rc, false)
			if _, err := w.Write(buf[:n]); err != nil {
				c.rec.Error = errCallerGone(err)
				return
			}
			if flush {
				w.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if r.Context().Err() != nil {
				c.rec.Error = errCallerGone(r.Context().Err())
				return
			}
			c.rec.Error = fmt.Sprintf("%v: %v", errUpstreamBodyAbort, rerr)
			if errors.Is(rerr, response.ErrUnfilterable) {
				// Found past the answer's first bytes: cut, so that the
				// caller cannot take what it has for the whole.
				c.rec.Error = fmt.Sprintf("%v, mid-answer: %v", errAnswerWithheld, rerr)
			}
			if errors.Is(rerr, errAnswerUncheckable) {
				c.rec.Error = fmt.Sprintf("%v, mid-answer", rerr)
			}
			panic(http.ErrAbortHandler)
		}
	}
	// Graph's trailers, if it ever sends any, stay behind: nothing
	// checks their links as the headers' are (headerlinks.go), and Graph
	// documents none a caller needs.
}

func errCallerGone(err error) string {
	return "caller connection lost mid-answer: " + err.Error()
}

// hopByHop are the headers of one connection (RFC 9110 §7.6.1), never
// relayed. Go's transport keeps Transfer-Encoding out of Header already.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop deletes the hop-by-hop headers and those the Connection
// header names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

func isAbsolute(u string) bool {
	p, err := url.Parse(u)
	return err != nil || p.IsAbs() || strings.HasPrefix(u, "//")
}

// isJSON reports a Content-Type that labels JSON, in any of the ways a
// caller's reader takes for JSON: application/json, text/json,
// application/x-json, a +json type, ASCII case aside.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return policy.JSONFamily(strings.TrimSpace(mt))
}

// What an answer's Content-Type says its body is.
type answerKind uint8

const (
	mediaOther   answerKind = iota // one media type, not JSON's
	mediaJSON                      // JSON (isJSON)
	mediaUnknown                   // none, two, a list, no type/subtype
)

// answerMedia reads an answer's Content-Type as a caller would have to:
// one header, one type/subtype of token characters before any
// parameter. Anything else (no Content-Type, two, "text/plain,
// application/json", "json") is no media type the proxy can tell the
// caller reads one way rather than another.
func answerMedia(h http.Header) answerKind {
	vv := h["Content-Type"]
	if len(vv) != 1 {
		return mediaUnknown
	}
	mt, _, _ := strings.Cut(vv[0], ";")
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !httpguts.ValidHeaderFieldName(typ) || !httpguts.ValidHeaderFieldName(sub) { // RFC 9110 tokens, as a header's name is
		return mediaUnknown
	}
	if isJSON(mt) {
		return mediaJSON
	}
	return mediaOther
}

// emptyBody reports an answer without a body: none, a length of 0, or
// one of unknown length that ends at once (its first byte is read to
// tell: call it only where a body that has one is not relayed).
func emptyBody(resp *http.Response) bool {
	if resp.Body == http.NoBody || resp.ContentLength == 0 {
		return true
	}
	if resp.ContentLength > 0 {
		return false
	}
	var one [1]byte
	n, err := io.ReadFull(resp.Body, one[:])
	return n == 0 && errors.Is(err, io.EOF)
}
