package graphsim

import (
	"encoding/base64"
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
	g.Subscriptions.routes(m)
}

// acceptMail answers a mail call as Graph does once its body reads: a
// JSON object, or (Content-Type text/plain) a base64 MIME message.
func (g *Graph) acceptMail(perms []string, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := g.authorize(w, r, perms...)
		if u == nil {
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
		}
		writeOData(w, status, map[string]any{"id": id, "isDraft": true})
	}
}
