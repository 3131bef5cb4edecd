package graphsim

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File content, as Graph serves it: drives and their items, whose content
// Graph does not carry itself. GET …/content answers 302 to a
// pre-authenticated URL on a SharePoint host, driveItems carry such a URL
// in @microsoft.graph.downloadUrl, and createUploadSession hands out an
// uploadUrl on that host to which the content goes in ranges, without
// Authorization. The simulated SharePoint host is its own listener with a
// name of its own (localhost, where Graph is 127.0.0.1), so that a proxy's
// host allow-list decides by name.

var (
	readFiles  = []string{"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"}
	writeFiles = []string{"Files.ReadWrite.All", "Sites.ReadWrite.All"}
)

// maxFragment is the largest range Graph takes in one PUT of an upload
// session (60 MiB).
const maxFragment = 60 << 20

// SharePoint is the simulated SharePoint host: it serves the download
// URLs and upload URLs Graph hands out, and records what it receives.
type SharePoint struct {
	// URL is the host's base, https://localhost:port on a loopback
	// simulator.
	URL string

	mu       sync.Mutex
	links    map[string]downloadLink
	sessions map[string]*uploadSession
	recorded []Recorded
	fail     int
	files    *fileStore
}

// fileStore holds the drives' items, shared by Graph and SharePoint under
// its own lock (never Graph's).
type fileStore struct {
	mu         sync.Mutex
	sp         *SharePoint
	items      map[string]*driveItem // drive id + "/" + item id
	linkTTL    time.Duration
	redirectTo string
}

type driveItem struct {
	drive, id, name string
	content         []byte
	version         int
	created, mod    time.Time
}

type downloadLink struct {
	key     string
	expires time.Time
}

type uploadSession struct {
	id, key, auth string
	received      []byte
	total         int64 // -1 until the first range
	expires       time.Time
	// attachment: an Outlook attachment session (200 per range, 201 and
	// a Location at the end, no driveItem), served on the Outlook host
	// (attachments.go); mail is where its bytes go.
	attachment bool
	mail       *attachmentTarget
}

func newFileStore() *fileStore {
	return &fileStore{items: map[string]*driveItem{}, linkTTL: time.Hour}
}

// DriveOf returns the id of a user's OneDrive.
func DriveOf(userID string) string { return "b!" + strings.ReplaceAll(userID, "-", "") }

// AddFile stores a file in the drive of the user (id or UPN) and returns
// the drive's and the item's ids.
func (g *Graph) AddFile(userKey, name string, content []byte) (drive, item string) {
	g.mu.Lock()
	u := g.byKey[strings.ToLower(userKey)]
	g.mu.Unlock()
	if u == nil {
		panic("graphsim: AddFile: no user " + userKey)
	}
	f := g.files
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC()
	it := &driveItem{drive: DriveOf(u.ID), id: "01" + strings.ToUpper(randomHex(16)), name: name,
		content: bytes.Clone(content), version: 1, created: now, mod: now}
	f.items[it.drive+"/"+it.id] = it
	return it.drive, it.id
}

// FileContent returns an item's content, and whether there is such an
// item.
func (g *Graph) FileContent(drive, item string) ([]byte, bool) {
	g.files.mu.Lock()
	defer g.files.mu.Unlock()
	it := g.files.items[drive+"/"+item]
	if it == nil {
		return nil, false
	}
	return bytes.Clone(it.content), true
}

// SetDownloadLinkLifetime sets how long the download URLs handed out from
// now on are valid. Default one hour, as Graph's.
func (g *Graph) SetDownloadLinkLifetime(d time.Duration) {
	g.files.mu.Lock()
	defer g.files.mu.Unlock()
	g.files.linkTTL = d
}

// RedirectContentTo makes GET …/content answer 302 to u instead of a
// download URL of the SharePoint host ("" restores it): a redirect
// elsewhere, which a proxy must refuse to follow.
func (g *Graph) RedirectContentTo(u string) {
	g.files.mu.Lock()
	defer g.files.mu.Unlock()
	g.files.redirectTo = u
}

func (g *Graph) fileRoutes(m *http.ServeMux) {
	for _, base := range []string{"/{version}/drives/{drive}/items/{item}", "/{version}/users/{user}/drive/items/{item}"} {
		m.HandleFunc("GET "+base, g.getDriveItem)
		m.HandleFunc("GET "+base+"/content", g.getContent)
		m.HandleFunc("PUT "+base+"/content", g.putContent)
		m.HandleFunc("POST "+base+"/createUploadSession", g.createDriveUploadSession)
	}
	m.HandleFunc("POST /{version}/users/{user}/messages/{id}/attachments/createUploadSession", g.createAttachmentUploadSession)
}

// itemFor checks the caller holds one of perms and resolves the path's
// drive (or user's drive) and item, answering 403 or 404 itself when it
// cannot.
func (g *Graph) itemFor(w http.ResponseWriter, r *http.Request, perms []string) *driveItem {
	if !need(w, r, perms...) {
		return nil
	}
	drive := r.PathValue("drive")
	if r.PathValue("user") != "" {
		u := g.lookup(w, r)
		if u == nil {
			return nil
		}
		drive = DriveOf(u.ID)
	}
	g.files.mu.Lock()
	it := g.files.items[drive+"/"+r.PathValue("item")]
	g.files.mu.Unlock()
	if it == nil {
		graphError(w, r, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	}
	return it
}

// json is the driveItem as Graph answers it; call with f.mu held.
func (it *driveItem) json(graphURL string) map[string]any {
	return map[string]any{
		"@odata.context":       graphURL + "/v1.0/$metadata#drives('" + it.drive + "')/items/$entity",
		"id":                   it.id,
		"name":                 it.name,
		"size":                 len(it.content),
		"eTag":                 it.etag(),
		"cTag":                 fmt.Sprintf("\"c:{%s},%d\"", it.id, it.version),
		"createdDateTime":      it.created.Format(time.RFC3339),
		"lastModifiedDateTime": it.mod.Format(time.RFC3339),
		"file":                 map[string]any{"mimeType": mimeOf(it.name)},
		"parentReference":      map[string]any{"driveId": it.drive, "driveType": "business", "id": "01ROOT"},
	}
}

func (it *driveItem) etag() string { return fmt.Sprintf("\"{%s},%d\"", it.id, it.version) }

func mimeOf(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// downloadURL mints a pre-authenticated URL for it; call with f.mu held.
func (f *fileStore) downloadURL(it *driveItem) string {
	tok := randomHex(24)
	sp := f.sp
	sp.mu.Lock()
	sp.links[tok] = downloadLink{key: it.drive + "/" + it.id, expires: time.Now().Add(f.linkTTL)}
	sp.mu.Unlock()
	return sp.URL + "/_layouts/15/download.aspx?UniqueId=" + it.id + "&tempauth=" + tok
}

func (g *Graph) getDriveItem(w http.ResponseWriter, r *http.Request) {
	it := g.itemFor(w, r, readFiles)
	if it == nil {
		return
	}
	g.files.mu.Lock()
	out := it.json(g.URL)
	// First, as Graph writes it.
	out["@microsoft.graph.downloadUrl"] = g.files.downloadURL(it)
	g.files.mu.Unlock()
	writeOData(w, http.StatusOK, out)
}

// getContent answers as Graph does: 302 to the download URL, no body.
func (g *Graph) getContent(w http.ResponseWriter, r *http.Request) {
	it := g.itemFor(w, r, readFiles)
	if it == nil {
		return
	}
	g.files.mu.Lock()
	loc := g.files.redirectTo
	if loc == "" {
		loc = g.files.downloadURL(it)
	}
	g.files.mu.Unlock()
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

// putContent replaces an item's content (Graph's simple upload, up to
// 250 MB), answering the driveItem.
func (g *Graph) putContent(w http.ResponseWriter, r *http.Request) {
	it := g.itemFor(w, r, writeFiles)
	if it == nil {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 250<<20))
	if err != nil {
		graphError(w, r, http.StatusRequestEntityTooLarge, "invalidRequest", "The request body is too large for a simple upload.")
		return
	}
	g.files.mu.Lock()
	it.content, it.version, it.mod = body, it.version+1, time.Now().UTC()
	out := it.json(g.URL)
	g.files.mu.Unlock()
	writeOData(w, http.StatusOK, out)
}

func (g *Graph) createDriveUploadSession(w http.ResponseWriter, r *http.Request) {
	it := g.itemFor(w, r, writeFiles)
	if it == nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) // the item's conflict behaviour: replace
	sp := g.files.sp
	s := sp.newSession(it.drive+"/"+it.id, nil)
	writeOData(w, http.StatusOK, map[string]any{
		"@odata.context":     g.URL + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          sp.URL + "/_api/v2.0/drives/" + it.drive + "/items/" + it.id + "/uploadSession?guid='" + s.id + "'&tempauth=" + s.auth,
		"expirationDateTime": s.expires.Format(time.RFC3339),
		"nextExpectedRanges": []string{"0-"},
	})
}

// newSession opens an upload session: a drive item's, or with mail an
// attachment's.
func (sp *SharePoint) newSession(key string, mail *attachmentTarget) uploadSession {
	s := &uploadSession{id: randomHex(16), key: key, auth: randomHex(24), total: -1,
		expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second), attachment: mail != nil, mail: mail}
	sp.mu.Lock()
	sp.sessions[s.id] = s
	c := *s
	sp.mu.Unlock()
	return c
}

// startSharePoint starts the SharePoint host next to the other services.
func (s *Sim) startSharePoint(o Options, tlsConf *tls.Config) error {
	sp := &SharePoint{links: map[string]downloadLink{}, sessions: map[string]*uploadSession{}, files: s.Graph.files}
	u, err := s.serveHost(o, tlsConf, sp)
	if err != nil {
		return err
	}
	sp.URL = u
	s.Graph.files.mu.Lock()
	s.Graph.files.sp = sp
	s.Graph.files.mu.Unlock()
	s.SharePoint = sp
	return nil
}

// serveHost serves h on a listener of its own and returns its URL: by the
// name localhost on a loopback simulator, where Graph is reached by
// address, so that each such host has a name and port of its own.
func (s *Sim) serveHost(o Options, tlsConf *tls.Config, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, "0"))
	if err != nil {
		return "", fmt.Errorf("graphsim: %w", err)
	}
	name := o.Host
	if ip := net.ParseIP(o.Host); ip != nil && ip.IsLoopback() || o.Host == "localhost" {
		name = "localhost"
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{
		Handler:           logRequests(o.Logger, h),
		TLSConfig:         tlsConf.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("graphsim server stopped", "error", err)
		}
	}()
	return "https://" + net.JoinHostPort(name, port), nil
}

// Requests returns the requests the host received, without bodies.
func (sp *SharePoint) Requests() []Recorded {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]Recorded(nil), sp.recorded...)
}

// FailRanges makes the next n range PUTs of upload sessions fail with 500
// (which SDKs' retry handlers do not retry), the range not taken.
func (sp *SharePoint) FailRanges(n int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.fail = n
}

// sessionPath is a drive item's upload session on SharePoint; attachment
// sessions are the Outlook host's (attachmentSessionPath).
var sessionPath = regexp.MustCompile(`^/_api/v2\.0/drives/[^/]+/items/[^/]+/uploadSession$`)

func (sp *SharePoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sp.mu.Lock()
	sp.recorded = append(sp.recorded, Recorded{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), At: time.Now().UTC()})
	sp.mu.Unlock()
	// Pre-authenticated URLs take no token; SharePoint may refuse one.
	if r.Header.Get("Authorization") != "" {
		spError(w, http.StatusUnauthorized, "unauthenticated", "A pre-authenticated URL takes no Authorization header.")
		return
	}
	switch {
	case r.URL.Path == "/_layouts/15/download.aspx" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		sp.download(w, r)
	case sessionPath.MatchString(r.URL.Path):
		sp.session(w, r)
	default:
		spError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	}
}

func (sp *SharePoint) download(w http.ResponseWriter, r *http.Request) {
	sp.mu.Lock()
	l, ok := sp.links[r.URL.Query().Get("tempauth")]
	sp.mu.Unlock()
	if !ok || time.Now().After(l.expires) {
		spError(w, http.StatusUnauthorized, "unauthenticated", "The download URL has expired or is not valid.")
		return
	}
	f := sp.files
	f.mu.Lock()
	it := f.items[l.key]
	var content []byte
	var name, etag string
	var mod time.Time
	if it != nil {
		content, name, etag, mod = it.content, it.name, it.etag(), it.mod
	}
	f.mu.Unlock()
	if it == nil {
		spError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	w.Header().Set("Content-Type", mimeOf(name))
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	// Range, If-Range and 206/416 as SharePoint answers them.
	http.ServeContent(w, r, "", mod, bytes.NewReader(content))
}

func (sp *SharePoint) session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := strings.Trim(q.Get("guid"), "'")
	auth := q.Get("tempauth")
	m := attachmentSessionPath.FindStringSubmatch(r.URL.Path)
	if m != nil {
		id, auth = m[1], q.Get("authtoken")
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	s := sp.sessions[id]
	if s == nil || s.auth != auth || time.Now().After(s.expires) || s.attachment != (m != nil) {
		spError(w, http.StatusNotFound, "itemNotFound", "The upload session was not found.")
		return
	}
	switch {
	case r.Method == http.MethodGet && s.mail != nil:
		writeOData(w, http.StatusOK, s.outlookStatus())
	case r.Method == http.MethodGet:
		writeOData(w, http.StatusOK, s.status())
	case r.Method == http.MethodDelete:
		delete(sp.sessions, id)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		sp.putRange(w, r, id, s)
	default:
		spError(w, http.StatusMethodNotAllowed, "invalidRequest", "Method not allowed.")
	}
}

func (s *uploadSession) status() map[string]any {
	return map[string]any{"expirationDateTime": s.expires.Format(time.RFC3339), "nextExpectedRanges": []string{strconv.Itoa(len(s.received)) + "-"}}
}

// putRange takes one range of an upload session; call with sp.mu held.
func (sp *SharePoint) putRange(w http.ResponseWriter, r *http.Request, id string, s *uploadSession) {
	first, last, total, ok := parseContentRange(r.Header.Get("Content-Range"))
	switch {
	case !ok || last-first+1 > maxFragment:
		spError(w, http.StatusBadRequest, "invalidRequest", "Content-Range is missing or not valid.")
		return
	case s.total >= 0 && total != s.total:
		spError(w, http.StatusBadRequest, "invalidRequest", "The total size differs from the size given before.")
		return
	case first != int64(len(s.received)) || last >= total:
		spError(w, http.StatusRequestedRangeNotSatisfiable, "invalidRange", "The uploaded fragment does not start at the next expected range.")
		return
	case sp.fail > 0:
		sp.fail--
		io.Copy(io.Discard, r.Body)
		spError(w, http.StatusInternalServerError, "generalException", "Injected fault.")
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, last-first+2))
	if err != nil || int64(len(b)) != last-first+1 {
		spError(w, http.StatusBadRequest, "invalidRequest", "The body's length differs from the Content-Range.")
		return
	}
	s.total = total
	s.received = append(s.received, b...)
	if s.mail == nil {
		// SharePoint's sessions live on while ranges come; Outlook's
		// expire when createUploadSession said.
		s.expires = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	}
	if int64(len(s.received)) < total {
		if s.mail != nil {
			writeOData(w, http.StatusOK, s.outlookStatus())
			return
		}
		writeOData(w, http.StatusAccepted, s.status())
		return
	}
	delete(sp.sessions, id)
	if s.mail != nil {
		loc := s.mail.attach(s.received)
		if loc == "" {
			spError(w, http.StatusNotFound, "ErrorItemNotFound", "The message was removed during the upload.")
			return
		}
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusCreated)
		return
	}
	f := sp.files
	f.mu.Lock()
	it := f.items[s.key]
	var out map[string]any
	if it != nil {
		it.content, it.version, it.mod = s.received, it.version+1, time.Now().UTC()
		out = it.json("")
		delete(out, "@odata.context")
	}
	f.mu.Unlock()
	if it == nil {
		spError(w, http.StatusNotFound, "itemNotFound", "The item was removed during the upload.")
		return
	}
	writeOData(w, http.StatusOK, out) // 200: an existing item's content replaced
}

// parseContentRange reads "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	return first, last, total, err1 == nil && err2 == nil && err3 == nil && first >= 0 && last >= first && total > 0
}

func spError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
