package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
)

// The mail and subscription endpoints: enough of Graph's sendMail,
// drafts, reply and forward (JSON and MIME) and change-notification
// subscriptions for the proxy's rules on people to be exercised end to end.

var (
	sendMail  = []string{"Mail.Send"}
	writeMail = []string{"Mail.ReadWrite"}
)

func (g *Graph) mailRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /{version}/users/{user}/sendMail", g.acceptMail(sendMail, http.StatusAccepted))
	m.HandleFunc("POST /{version}/users/{user}/messages", g.acceptMail(writeMail, http.StatusCreated))
	m.HandleFunc("PATCH /{version}/users/{user}/messages/{id}", g.acceptMail(writeMail, http.StatusOK))
	for _, action := range []string{"reply", "replyAll", "forward"} {
		m.HandleFunc("POST /{version}/users/{user}/messages/{id}/"+action, g.acceptMail(sendMail, http.StatusAccepted))
	}
	m.HandleFunc("POST /{version}/users/{user}/messages/{id}/send", g.acceptMail(sendMail, http.StatusAccepted))
	m.HandleFunc("GET /{version}/users/{user}/messages/{id}", g.getMessage)
	m.HandleFunc("GET /{version}/users/{user}/mailFolders/{folder}/messages/{id}", g.getMessage)
	g.Subscriptions.routes(m)
}

// readMail are the application permissions that read a message's
// recipients (Mail.ReadBasic.All reads all but its body).
var readMail = []string{"Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"}

// Message is a message in a simulated mailbox: who it is from and to,
// as addresses. An empty From or Sender is null in Graph's answer.
type Message struct {
	Subject              string
	From, Sender         string
	ReplyTo, To, Cc, Bcc []string
	IsDraft              bool
}

// AddMessage puts a message in the mailbox of the user (id or UPN) and
// returns its id; "" for an unknown user.
func (g *Graph) AddMessage(userKey string, msg Message) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.byKey[strings.ToLower(userKey)]
	if u == nil {
		return ""
	}
	id := "AAMk" + strings.ReplaceAll(newID(), "-", "")
	one := func(a string) any {
		if a == "" {
			return nil
		}
		return recipient(a)
	}
	g.storeMessage(u.ID, id, map[string]any{
		"id": id, "@odata.etag": `W/"` + newID()[:8] + `"`, "subject": msg.Subject, "isDraft": msg.IsDraft,
		"from": one(msg.From), "sender": one(msg.Sender), "replyTo": recipients(msg.ReplyTo),
		"toRecipients": recipients(msg.To), "ccRecipients": recipients(msg.Cc), "bccRecipients": recipients(msg.Bcc),
	})
	return id
}

// storeMessage keeps a message; the caller holds g.mu.
func (g *Graph) storeMessage(userID, id string, msg map[string]any) {
	if g.messages == nil {
		g.messages = map[string]map[string]any{}
	}
	g.messages[userID+"/"+id] = msg
}

// recipient is Graph's recipient resource: {"emailAddress":{name, address}}.
func recipient(addr string) map[string]any {
	name, _, _ := strings.Cut(addr, "@")
	return map[string]any{"emailAddress": map[string]any{"name": name, "address": addr}}
}

func recipients(addrs []string) []any {
	out := []any{} // Graph answers an empty collection as [], never null
	for _, a := range addrs {
		out = append(out, recipient(a))
	}
	return out
}

// getMessage answers a message by id, with $select, as Graph does; 404
// for one the mailbox does not hold.
func (g *Graph) getMessage(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, readMail...)
	if u == nil {
		return
	}
	g.mu.Lock()
	msg, ok := g.messages[u.ID+"/"+r.PathValue("id")]
	var out map[string]any
	if ok {
		out = selectFields(r, msg)
	}
	g.mu.Unlock()
	if !ok {
		graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	writeOData(w, http.StatusOK, out)
}

// holdsMessage reports whether u's mailbox holds the message id: one put
// there (AddMessage) or created through Graph, from JSON or MIME.
func (g *Graph) holdsMessage(u *user, id string) bool {
	g.mu.Lock()
	_, ok := g.messages[u.ID+"/"+id]
	g.mu.Unlock()
	if !ok {
		_, ok = g.drafts.exists(u.ID, id)
	}
	return ok
}

// acceptMail answers a mail call as Graph does once its body reads: a
// JSON object, or (Content-Type text/plain) a base64 MIME message.
func (g *Graph) acceptMail(perms []string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := g.authorize(w, r, perms...)
		if u == nil {
			return
		}
		if id := r.PathValue("id"); id != "" && !g.holdsMessage(u, id) {
			// Graph acts on a message it holds: a reply to, a send of or
			// an update of any other is 404, whatever the body.
			graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body.")
			return
		}
		switch {
		case len(body) == 0 && strings.HasSuffix(r.URL.Path, "/send"):
		case mt == "text/plain":
			raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body)))
			if err == nil {
				_, err = mail.ReadMessage(strings.NewReader(string(raw)))
			}
			if err != nil {
				graphError(w, r, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
				return
			}
		default:
			var v map[string]any
			if !readBodyBytes(w, r, body, &v) {
				return
			}
		}
		if status == http.StatusAccepted {
			w.WriteHeader(status)
			return
		}
		id := "AAMk" + strings.ReplaceAll(newID(), "-", "")
		if r.Method == http.MethodPost {
			g.drafts.add(u.ID, id) // a draft: attachments may be put on it
			g.keepDraft(u, id, mt, body)
		}
		writeOData(w, status, map[string]any{"id": id, "isDraft": true})
	}
}

// keepDraft stores a draft created from JSON, so that it can be read back
// by id: its recipients as given (Graph's empty collections where none
// are), from and sender the mailbox's until it is sent.
func (g *Graph) keepDraft(u *user, id, mediaType string, body []byte) {
	var v map[string]any
	if mediaType == "text/plain" || json.Unmarshal(body, &v) != nil {
		return
	}
	msg := map[string]any{"id": id, "isDraft": true, "from": nil, "sender": nil}
	for _, k := range []string{"replyTo", "toRecipients", "ccRecipients", "bccRecipients"} {
		if l, ok := v[k].([]any); ok {
			msg[k] = l
		} else {
			msg[k] = []any{}
		}
	}
	msg["subject"], _ = v["subject"].(string)
	g.mu.Lock()
	g.storeMessage(u.ID, id, msg)
	g.mu.Unlock()
}
