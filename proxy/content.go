package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/outbound"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// File content under a content rule (policy content:, docs/policy.md
// "File content"): downloads followed, uploads streamed, upload sessions
// relayed. The file host's pre-authenticated URLs never reach a caller:
// the proxy goes there itself, without Authorization, to the cloud's file
// hosts only, and hands the caller links of its own (filelink), which it
// serves below.

// Files is what the proxy needs to move file content.
type Files struct {
	// Hosts are the file hosts of the proxy's cloud
	// (filelink.CloudHosts): the only hosts a download is fetched from or
	// an upload range sent to. The zero value allows none: every content
	// call is refused at the redirect (502).
	Hosts filelink.Hosts
	// Links seals and opens the proxy's file links; every replica must
	// hold the same key.
	Links *filelink.Sealer
	// Transport carries requests to the file hosts; nil uses the
	// Handler's Transport. No request through it carries Authorization.
	Transport http.RoundTripper
	// DownloadLinkTTL is how long a download link lives; default 15
	// minutes (Graph's own live about an hour).
	DownloadLinkTTL time.Duration
	// UploadLinkTTL is how long an upload session's link lives; default
	// 24 hours (the session itself expires sooner when left idle).
	UploadLinkTTL time.Duration
}

// FileReceiveWindow is the HTTP/2 receive window of the transport to the
// file hosts (TransportOptions.ReceiveWindow): a download's bytes in flight
// to the proxy, per stream, which a slow caller holds in its memory. Go's
// default, 4 MiB, would make 100 slow downloads 400 MB; 1 MiB still moves
// 50 MB/s per download at a 20 ms round trip to the file host.
const FileReceiveWindow = 1 << 20

// FileLinkPrefix starts the path of every file link the proxy hands out,
// outside Graph's /v1.0 and /beta.
const FileLinkPrefix = "/graph-proxy/files/"

// fileCall is what the call does with file content, for its record.
type fileCall struct {
	rec auditlog.File
	// upload is a simple upload's body, streamed to Graph.
	upload *fileBody
	// minted counts the links handed out in the answer.
	minted int
}

// fileIdle bounds each wait for more of a file's bytes, either way. The
// server's read and write timeouts bound a whole request and answer, which
// a large file at a modest rate outlasts: while bytes keep moving, a
// content call's deadline moves on by fileIdle (extendDeadline); a
// transfer that stalls longer is cut.
const fileIdle = 2 * time.Minute

// extendDeadline moves the connection's write deadline, and while the
// body is still coming (read) its read deadline, to fileIdle from now,
// where the connection allows it (HTTP/1 and HTTP/2 do). The write
// deadline moves during an upload too: the answer follows the body, and an
// HTTP/2 stream's write deadline runs from the request's start.
func extendDeadline(rc *http.ResponseController, read bool) {
	if rc == nil {
		return
	}
	next := time.Now().Add(fileIdle)
	if read {
		rc.SetReadDeadline(next)
	}
	rc.SetWriteDeadline(next)
}

// fileBody is a streamed body: bounded, counted, and keeping the error
// that ended it (the transport reports its own). With rc, each read first
// moves the caller connection's read deadline on (fileIdle). The
// transport reads it on a goroutine of its own, which may still be
// reading when Graph has answered (a range refused early): the count and
// the error are read through n and failure.
type fileBody struct {
	r     io.Reader
	rc    *http.ResponseController
	count atomic.Int64
	mu    sync.Mutex
	err   error
}

func (b *fileBody) Read(p []byte) (int, error) {
	extendDeadline(b.rc, true)
	n, err := b.r.Read(p)
	b.count.Add(int64(n))
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// n is the bytes read so far.
func (b *fileBody) n() int64 { return b.count.Load() }

// failure is the error that ended the body, if one did.
func (b *fileBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// fileOf names the drive and item of a Graph path: …/drives/{d}/items/{i}…,
// …/drive/items/{i}… (a user's drive), or …/messages/{m}/attachments…
// (a mail attachment's message).
func fileOf(segs []string) (drive, item string) {
	for i := 0; i+1 < len(segs); i++ {
		switch strings.ToLower(segs[i]) {
		case "items":
			if i >= 2 && strings.EqualFold(segs[i-2], "drives") {
				drive = segs[i-1]
			}
			return drive, segs[i+1]
		case "messages":
			if i+2 < len(segs) && strings.EqualFold(segs[i+2], "attachments") {
				return "", segs[i+1]
			}
		}
	}
	return "", ""
}

// graphPath is the version and escaped path of a canonical request.
func graphPath(req policy.Request) string {
	var b strings.Builder
	b.WriteString("/" + req.Version)
	for _, s := range req.Segments {
		b.WriteString("/" + url.PathEscape(s))
	}
	return b.String()
}

func sessionID(uploadURL string) string {
	sum := sha256.Sum256([]byte(uploadURL))
	return hex.EncodeToString(sum[:8])
}

func isUploadSession(req policy.Request) bool {
	n := len(req.Segments)
	return req.Method == "POST" && n > 0 && strings.EqualFold(req.Segments[n-1], "createUploadSession")
}

func (h *Handler) fileTransport() http.RoundTripper {
	if h.o.Files != nil && h.o.Files.Transport != nil {
		return h.o.Files.Transport
	}
	return h.o.Transport
}

// streamUpload decides a simple upload (PUT …/content under a content
// rule) without its body, and readies the body to stream to Graph:
// bounded by the rule's maxBytes, counted, never held.
func (h *Handler) streamUpload(w http.ResponseWriter, r *http.Request, c *call, routed *policy.Routed) (policy.Decision, error) {
	d := routed.DecideStream(r.Header.Get("Content-Type"))
	drive, item := fileOf(c.req.Segments)
	c.file = &fileCall{rec: auditlog.File{Op: "upload", Drive: drive, Item: item}}
	if !d.Forwarded() || d.Content == nil {
		return d, nil
	}
	refuse := func(err error) (policy.Decision, error) {
		c.rec.Rule, c.rec.Route, c.rec.Permission = d.RuleID, d.Route, d.Permission
		c.file.rec.Outcome = "refused"
		return d, err
	}
	// A compressed body would have to be decoded to be bounded and
	// counted: Graph SDKs send it again uncompressed on 415.
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return refuse(fmt.Errorf("%w: %q on file content", errUnsupportedEncoding, enc))
	}
	r.Header.Del("Content-Encoding")
	if r.ContentLength > d.Content.MaxBytes {
		return refuse(&http.MaxBytesError{Limit: d.Content.MaxBytes})
	}
	if r.Body != nil && r.Body != http.NoBody {
		c.file.upload = &fileBody{r: http.MaxBytesReader(w, r.Body, d.Content.MaxBytes), rc: http.NewResponseController(w)}
	}
	return d, nil
}

// streamedBody is the upload streamed to Graph, or nil.
func (c *call) streamedBody() io.Reader {
	if c.file == nil || c.file.upload == nil {
		return nil
	}
	return c.file.upload
}

// uploadErr is why a streamed upload stopped: over its bound, or the
// caller gone; nil otherwise.
func (c *call) uploadErr() error {
	if c.file == nil || c.file.upload == nil {
		return nil
	}
	err := c.file.upload.failure()
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("%w: reading the file content: %w", context.Canceled, err)
}

// followsRedirect reports whether Graph's answer is the redirect of a
// download under a content rule, which the proxy follows itself.
func (c *call) followsRedirect(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusFound, http.StatusMovedPermanently, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return c.decision.Content != nil && c.req.Method == "GET"
	}
	return false
}

// answersFile reports whether Graph's answer to a download under a
// content rule is the file's bytes themselves (a message's or an
// attachment's $value; a file Graph does not redirect): they go to the
// caller as a file host's would (sendFile), bounded and recorded.
func (c *call) answersFile(resp *http.Response) bool {
	return c.decision.Content != nil && c.req.Method == "GET" && resp.StatusCode >= 200 && resp.StatusCode < 300
}

// followDownload follows Graph's redirect of GET …/content to the file
// host, if it is one of the cloud's, and streams the file to the caller.
func (h *Handler) followDownload(ctx context.Context, w *responseWriter, r *http.Request, c *call, resp *http.Response) error {
	h.graphFileAnswer(c, resp)
	loc := resp.Header.Get("Location")
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return h.download(ctx, w, r, c, loc)
}

// directDownload streams the file Graph answered with itself
// (answersFile) to the caller, as a file host's answer.
func (h *Handler) directDownload(w *responseWriter, r *http.Request, c *call, resp *http.Response) error {
	h.graphFileAnswer(c, resp)
	defer resp.Body.Close()
	return h.sendFile(w, r, c, resp)
}

// graphFileAnswer records Graph's answer to a download and readies the
// call's file record.
func (h *Handler) graphFileAnswer(c *call, resp *http.Response) {
	c.rec.UpstreamStatus = resp.StatusCode
	c.rec.UpstreamMs = ms(h.now().Sub(c.upstreamStart))
	c.rec.GraphRequestID = resp.Header.Get("request-id")
	drive, item := fileOf(c.req.Segments)
	c.file = &fileCall{rec: auditlog.File{Op: "download", Drive: drive, Item: item}}
}

// download fetches the file at loc, a file host's URL, and streams it to
// the caller with its headers. Range requests pass through, and so do 206
// and 416.
func (h *Handler) download(ctx context.Context, w *responseWriter, r *http.Request, c *call, loc string) error {
	u, err := url.Parse(loc)
	if h.o.Files == nil || err != nil || !h.o.Files.Hosts.Allows(u) {
		host := "(none)"
		if err == nil && u.Host != "" {
			host = u.Hostname()
		}
		c.file.rec.Outcome = "refused"
		// The host, never the URL: its query is a credential.
		c.rec.Reason = appendReason(c.rec.Reason, "file host "+host+" is not one of the cloud's; not followed")
		return fmt.Errorf("%w: %s", errRedirectRefused, host)
	}
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return err
	}
	out.URL = u
	out.Header = http.Header{"User-Agent": {""}, "Accept-Encoding": {"identity"}}
	for _, k := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since"} {
		if v, ok := r.Header[k]; ok {
			out.Header[k] = v
		}
	}
	resp, err := h.fileTransport().RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			return r.Context().Err()
		}
		return fmt.Errorf("the file host: %w", outbound.Error(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		c.file.rec.Outcome = "refused"
		c.rec.Reason = appendReason(c.rec.Reason, "the file host redirected again; not followed")
		return fmt.Errorf("%w: the file host answered %d", errRedirectRefused, resp.StatusCode)
	}
	return h.sendFile(w, r, c, resp)
}

// sendFile streams a file's answer to the caller with its headers, a file
// over the rule's maxBytes refused before a byte of it is sent.
func (h *Handler) sendFile(w *responseWriter, r *http.Request, c *call, resp *http.Response) error {
	max := c.decision.Content.MaxBytes
	if size, known := fileSize(resp); resp.StatusCode < 300 && (!known || size > max || resp.ContentLength > max) {
		c.file.rec.Outcome = "refused"
		if !known {
			return fmt.Errorf("%w: a partial answer whose file's size is not one Content-Range's", errFileTooLarge)
		}
		return fmt.Errorf("%w: the file has %d bytes, more than the rule's content.maxBytes %d", errFileTooLarge, size, max)
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		c.file.rec.Name = params["filename"]
	}
	c.file.rec.Range = resp.Header.Get("Content-Range")
	if err := h.relayFileAnswer(w, r, c, resp, []string{"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Content-Disposition"}); err != nil {
		return err
	}
	if resp.ContentLength < 0 {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{&capped{r: resp.Body, left: max}, resp.Body}
	}
	h.relay(w, r, resp, c)
	return nil
}

// fileSize is the size of the file a file host's answer carries, and
// whether it is known: for a partial answer (206) the total of its one
// Content-Range, since content.maxBytes bounds the file, not the part of
// it asked for (a file larger than the rule allows would otherwise pass
// in ranges each within it); one without a single well-formed
// Content-Range (several ranges, multipart/byteranges) is not known. For
// any other answer, its length (-1 when not said: the body is then
// capped).
func fileSize(resp *http.Response) (int64, bool) {
	if resp.StatusCode != http.StatusPartialContent {
		return resp.ContentLength, true
	}
	vs := resp.Header.Values("Content-Range")
	if len(vs) != 1 {
		return 0, false
	}
	rng, ok := filelink.ParseContentRange(vs[0])
	if !ok {
		return 0, false
	}
	return rng.Total, true
}

// capped reads at most left bytes, and fails past them: a file of unsaid
// length is cut where it passes the rule's bound.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, errFileTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// relayFileAnswer writes a file host's status and the headers named in
// keep. A downloaded file's bytes (a 2xx answer to a download) pass
// unchanged, whatever their type. Any other JSON answer (a session's
// status, the driveItem at its end, an error) is read whole, its
// @odata.context withheld unless it points at Graph (fileanswer.go), and
// goes through the link rewriter, every link outside Graph withheld; one
// that cannot be read so is an error, and nothing is written. Any other
// body is withheld, its status relayed.
func (h *Handler) relayFileAnswer(w *responseWriter, r *http.Request, c *call, resp *http.Response, keep []string) error {
	fileBytes := c.file != nil && c.file.rec.Op == "download" && resp.StatusCode < 300
	rewrite := !fileBytes && isJSON(resp.Header.Get("Content-Type")) && resp.Body != http.NoBody
	if rewrite && !jsonCharsetOK(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("%w: the file host's answer: Content-Type %q", errAnswerCharset, resp.Header.Get("Content-Type"))
	}
	if rewrite {
		b, err := h.fileHostJSON(resp.Body)
		if err != nil {
			return err
		}
		// The original body is closed by the caller's deferred Close.
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	dst := w.Header()
	for _, k := range keep {
		if v, ok := resp.Header[http.CanonicalHeaderKey(k)]; ok {
			dst[http.CanonicalHeaderKey(k)] = v
		}
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		dst.Set("Retry-After", v)
	}
	switch {
	case rewrite:
		dst.Set("Content-Type", resp.Header.Get("Content-Type"))
		c.links = h.links.body(resp.Body, true)
		resp.Body = c.links
		resp.ContentLength = -1
		dst.Del("Content-Length")
	case !fileBytes && resp.Body != http.NoBody && resp.ContentLength != 0:
		// Not a file's bytes and not JSON (an HTML or XML error page, a
		// type not given): nothing the proxy can check for the host's own
		// URLs. The status goes to the caller; the body is withheld.
		dst.Del("Content-Type")
		dst.Del("Content-Length")
		resp.Body = http.NoBody
		resp.ContentLength = 0
		c.rec.Reason = appendReason(c.rec.Reason, "the file host's answer of type "+strconv.Quote(resp.Header.Get("Content-Type"))+" withheld")
	}
	if resp.Header.Get("Location") != "" {
		c.rec.Reason = appendReason(c.rec.Reason, "Location to a host other than Graph withheld")
	}
	w.WriteHeader(resp.StatusCode)
	return nil
}

// linksFor is the rewriter of a JSON answer: links to Graph moved to the
// proxy, and the pre-authenticated URLs a caller may use through the
// proxy replaced by file links (mint), the others withheld unless
// externalLinks.
func (h *Handler) linksFor(c *call, rc io.ReadCloser, withhold bool) *jsonLinks {
	j := h.links.body(rc, withhold || c.mint != nil)
	j.mint = c.mint
	return j
}

// prepareMint sets c.mint when the answer may carry URLs the caller gets
// file links for: the uploadUrl of an upload session created under a
// content rule, or the download URLs of a driveItem whose content a
// content rule lets the caller read.
func (h *Handler) prepareMint(c *call) {
	f := h.o.Files
	if f == nil || f.Links == nil || !c.decision.Forwarded() {
		return
	}
	caller := c.rec.Caller.Name
	var kind filelink.Kind
	var graph string
	var ttl time.Duration
	switch {
	case c.decision.Content != nil && isUploadSession(c.req):
		kind, graph, ttl = filelink.Upload, graphPath(c.req), f.UploadLinkTTL
		if ttl <= 0 {
			ttl = 24 * time.Hour
		}
		drive, item := fileOf(c.req.Segments)
		c.file = &fileCall{rec: auditlog.File{Op: "uploadSession", Drive: drive, Item: item}}
	case c.req.Method == "GET" && len(c.req.Segments) >= 2 && strings.EqualFold(c.req.Segments[len(c.req.Segments)-2], "items"):
		content := c.req
		content.Segments = append(content.Segments[:len(content.Segments):len(content.Segments)], "content")
		content.Path += "/content"
		content.Query, content.Select = nil, nil
		var routed policy.Routed
		h.o.Policy.RouteInto(&routed, caller, policyActor(c.caller.Actor), &content)
		if d := routed.Decide("", nil); d.Result != policy.Allow || d.Content == nil {
			return
		}
		kind, graph, ttl = filelink.Download, graphPath(content), f.DownloadLinkTTL
		if ttl <= 0 {
			ttl = 15 * time.Minute
		}
	default:
		return
	}
	// A caller with no identity (none of its credential) gets links that
	// never open (filelink.Open), rather than the host's URLs.
	identity := c.caller.Identity()
	base := strings.TrimSuffix(h.o.PublicBase.String(), "/") + FileLinkPrefix
	c.mint = func(key string, raw []byte) ([]byte, bool) {
		if (kind == filelink.Upload) != (key == "uploadUrl") {
			return nil, false
		}
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
			return nil, false
		}
		if u, err := url.Parse(s); err != nil || !f.Hosts.Allows(u) {
			return nil, false
		}
		tok, err := f.Links.Seal(filelink.Link{Kind: kind, Caller: caller, Identity: identity, Actor: actorID(c.caller.Actor), Graph: graph, URL: s, Expires: h.now().Add(ttl)})
		if err != nil {
			return nil, false
		}
		if c.file != nil {
			c.file.rec.Session, c.file.rec.Outcome = sessionID(s), "created"
		}
		c.fileLinks++
		return []byte(base + tok), true
	}
}

// minted returns the file link that replaces an external link's raw
// value, if the call hands one out: only for a member of the answer's own
// object, the item or session asked for. A URL nested deeper (an
// expanded child's, a version's) is another item's: its link would be
// decided and recorded as the requested item's content while it fetches
// the other's bytes, so it is withheld.
func (j *jsonLinks) minted(raw []byte) ([]byte, bool) {
	if j.mint == nil || j.depth != 1 || j.overflow != 0 {
		return nil, false
	}
	return j.mint(j.extKey, raw)
}

// noteFile completes the record of a call that moved file content.
func (c *call) noteFile(w *responseWriter) {
	if c.fileLinks > 0 {
		c.rec.Reason = appendReason(c.rec.Reason, fmt.Sprintf("%d file link(s) handed out", c.fileLinks))
	}
	if c.file == nil {
		return
	}
	f := c.file.rec
	if c.file.upload != nil {
		f.BytesUp = c.file.upload.n()
		c.rec.BytesIn = f.BytesUp
	}
	if f.Op == "download" {
		f.BytesDown = w.bytes
	}
	if f.Outcome == "" {
		switch {
		case c.rec.Status >= 200 && c.rec.Status < 300 && c.rec.Error == "":
			f.Outcome = "completed"
		default:
			f.Outcome = "refused"
		}
	}
	c.rec.File = &f
}
