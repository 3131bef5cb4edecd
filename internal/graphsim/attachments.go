package graphsim

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mail attachments' upload sessions, as Graph and Outlook serve them
// (Graph's "Attach large files to Outlook messages or events" and
// attachment-createuploadsession): POST
// …/messages/{id}/attachments/createUploadSession answers 201 with an
// uploadUrl on Outlook's host (outlook.office.com in the global cloud),
// pre-authenticated by its authtoken. Each range PUT there answers 200
// with nextExpectedRanges holding the next byte as "{start}" (no "-", as
// Outlook writes it), the last one 201 with no body and a Location on
// Outlook's host naming the attachment, and DELETE cancels with 204. The
// session's expiry stays what createUploadSession said. The simulated
// Outlook host is a listener of its own, another name than SharePoint's,
// so that a proxy's host allow-list decides for it separately.

// Attachments smaller than minAttachment go in one POST, not a session;
// larger than maxAttachment are not taken at all (Graph's 3 MB and
// 150 MB).
const (
	minAttachment = 3 << 20
	maxAttachment = 150 << 20
)

// Outlook is the simulated Outlook host: it serves the upload URLs of
// mail attachment upload sessions, and records what it receives.
type Outlook struct {
	// URL is the host's base, https://localhost:port on a loopback
	// simulator.
	URL string

	sp       *SharePoint // the sessions' store and range handling
	mu       sync.Mutex
	recorded []Recorded
}

// Attachment is a file attachment of a message, as an upload session
// left it.
type Attachment struct {
	ID, Name, ContentType string
	Content               []byte
}

// drafts are the messages created through Graph (POST …/messages) and
// their attachments, under a lock of their own (never Graph's). The zero
// value is empty.
type drafts struct {
	mu       sync.Mutex
	messages map[string][]Attachment // user id + "/" + message id
	outlook  string                  // the Outlook host's URL
}

func (d *drafts) add(userID, messageID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.messages == nil {
		d.messages = map[string][]Attachment{}
	}
	d.messages[userID+"/"+messageID] = nil
}

func (d *drafts) exists(userID, messageID string) (outlook string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok = d.messages[userID+"/"+messageID]
	return d.outlook, ok
}

// Attachments returns the attachments of a message created through Graph
// by the user (id or UPN), in the order their uploads ended.
func (g *Graph) Attachments(userKey, messageID string) []Attachment {
	g.mu.Lock()
	u := g.byKey[strings.ToLower(userKey)]
	g.mu.Unlock()
	if u == nil {
		return nil
	}
	g.drafts.mu.Lock()
	defer g.drafts.mu.Unlock()
	out := make([]Attachment, 0, len(g.drafts.messages[u.ID+"/"+messageID]))
	for _, a := range g.drafts.messages[u.ID+"/"+messageID] {
		a.Content = bytes.Clone(a.Content)
		out = append(out, a)
	}
	return out
}

// attachmentTarget is where an attachment session's bytes go.
type attachmentTarget struct {
	drafts                           *drafts
	userID, messageID, name, outlook string
}

// path is the message's path on the Outlook host, as Outlook writes it.
func (a *attachmentTarget) path() string {
	return "/api/v2.0/Users('" + a.userID + "@" + CustomerTenant + "')/Messages('" + a.messageID + "')"
}

// attach adds the uploaded file to the message and returns the
// attachment's URL on the Outlook host, or "" if the message is gone.
func (a *attachmentTarget) attach(content []byte) string {
	d := a.drafts
	d.mu.Lock()
	defer d.mu.Unlock()
	key := a.userID + "/" + a.messageID
	atts, ok := d.messages[key]
	if !ok {
		return ""
	}
	id := "AAMkAtt" + randomHex(12)
	d.messages[key] = append(atts, Attachment{ID: id, Name: a.name, ContentType: mimeOf(a.name), Content: content})
	return a.outlook + a.path() + "/Attachments('" + id + "')"
}

// createAttachmentUploadSession answers as Graph does, with the session's
// URL on the Outlook host.
func (g *Graph) createAttachmentUploadSession(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, writeMail...)
	if u == nil {
		return
	}
	var body struct {
		AttachmentItem struct {
			AttachmentType string `json:"attachmentType"`
			Name           string `json:"name"`
			Size           int64  `json:"size"`
		} `json:"AttachmentItem"`
	}
	if !readBody(w, r, &body) {
		return
	}
	item := body.AttachmentItem
	switch {
	case !strings.EqualFold(item.AttachmentType, "file") || item.Name == "":
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", "AttachmentItem needs attachmentType file and a name.")
		return
	case item.Size < minAttachment:
		graphError(w, r, http.StatusBadRequest, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
			"Attachment size should not be less than 3 MB; attach it with a POST on the attachments instead.")
		return
	case item.Size > maxAttachment:
		graphError(w, r, http.StatusBadRequest, "ErrorAttachmentSizeShouldNotBeMoreThanMaximumSize", "Attachment size should not be more than 150 MB.")
		return
	}
	outlook, ok := g.drafts.exists(u.ID, r.PathValue("id"))
	if !ok {
		graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	target := &attachmentTarget{drafts: &g.drafts, userID: u.ID, messageID: r.PathValue("id"), name: item.Name, outlook: outlook}
	g.files.mu.Lock()
	sp := g.files.sp
	g.files.mu.Unlock()
	s := sp.newSession("attachment/"+u.ID+"/"+target.messageID+"/"+item.Name, target)
	writeOData(w, http.StatusCreated, map[string]any{
		"@odata.context":     g.URL + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          outlook + target.path() + "/AttachmentSessions('" + s.id + "')?authtoken=" + s.auth,
		"expirationDateTime": s.expires.Format(time.RFC3339),
		"nextExpectedRanges": []string{"0-"},
	})
}

// attachmentSessionPath is an attachment session's path on the Outlook
// host; its submatch is the session's id.
var attachmentSessionPath = regexp.MustCompile(`^/api/v2\.0/Users\('[^']+'\)/Messages\('[^']+'\)/AttachmentSessions\('([0-9a-f]+)'\)$`)

// outlookStatus is an attachment session's state as Outlook answers a
// range: the next byte expected, as "{start}".
func (s *uploadSession) outlookStatus() map[string]any {
	return map[string]any{
		"@odata.context":     s.mail.outlook + "/api/v2.0/$metadata#Users('" + s.mail.userID + "%40" + CustomerTenant + "')/Messages('" + s.mail.messageID + "')/AttachmentSessions/$entity",
		"ExpirationDateTime": s.expires.Format(time.RFC3339),
		"nextExpectedRanges": []string{strconv.Itoa(len(s.received))},
	}
}

// Requests returns the requests the host received, without bodies.
func (o *Outlook) Requests() []Recorded {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Recorded(nil), o.recorded...)
}

// ServeHTTP serves attachment sessions' upload URLs: ranges, status,
// cancellation; anything else is 404, and any request with Authorization
// 401.
func (o *Outlook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.recorded = append(o.recorded, Recorded{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), At: time.Now().UTC()})
	o.mu.Unlock()
	// The upload URL is pre-authenticated; Outlook takes no token there.
	if r.Header.Get("Authorization") != "" {
		spError(w, http.StatusUnauthorized, "unauthenticated", "A pre-authenticated URL takes no Authorization header.")
		return
	}
	if !attachmentSessionPath.MatchString(r.URL.Path) {
		spError(w, http.StatusNotFound, "ErrorItemNotFound", "The resource could not be found.")
		return
	}
	o.sp.session(w, r)
}

// startOutlook starts the Outlook host next to SharePoint's.
func (s *Sim) startOutlook(o Options, tlsConf *tls.Config) error {
	ol := &Outlook{sp: s.SharePoint}
	u, err := s.serveHost(o, tlsConf, ol)
	if err != nil {
		return err
	}
	ol.URL = u
	s.Graph.drafts.mu.Lock()
	s.Graph.drafts.outlook = u
	s.Graph.drafts.mu.Unlock()
	s.Outlook = ol
	return nil
}
