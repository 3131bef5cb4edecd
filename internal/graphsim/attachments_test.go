package graphsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// answer is one of the simulator's answers, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// TestAttachmentUploadSession: an attachment's upload session answers as
// Graph's documentation shows it (attachment-createuploadsession, "Attach
// large files to Outlook messages or events").
func TestAttachmentUploadSession(t *testing.T) {
	s := start(t)
	tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID,
		Audience: graphsim.GraphResource, Roles: []string{"Mail.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, u, token string, body []byte, hdr ...string) answer {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, b}
	}
	_, upns := s.Graph.Users()
	user := s.Graph.URL + "/v1.0/users/" + upns[0]
	a := do("POST", user+"/messages", tok, []byte(`{"subject":"s"}`), "Content-Type", "application/json")
	var msg struct{ ID string }
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &msg) != nil || msg.ID == "" {
		t.Fatalf("draft: %d %s", a.status, a.body)
	}
	const size = 3<<20 + 10
	session := func(message, kind string, size int) answer {
		return do("POST", user+"/messages/"+message+"/attachments/createUploadSession", tok,
			[]byte(`{"AttachmentItem":{"attachmentType":"`+kind+`","name":"a.pdf","size":`+strconv.Itoa(size)+`}}`), "Content-Type", "application/json")
	}

	refusals := []struct {
		name, message, kind string
		size, status        int
		code                string
	}{
		{name: "under 3 MB", message: msg.ID, kind: "file", size: 3<<20 - 1, status: 400, code: "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"},
		{name: "over 150 MB", message: msg.ID, kind: "file", size: 150<<20 + 1, status: 400, code: "ErrorAttachmentSizeShouldNotBeMoreThanMaximumSize"},
		{name: "not a file", message: msg.ID, kind: "reference", size: size, status: 400, code: "ErrorInvalidRequest"},
		{name: "no such message", message: "AAMkmissing", kind: "file", size: size, status: 404, code: "ErrorItemNotFound"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			a := session(tt.message, tt.kind, tt.size)
			if a.status != tt.status || !strings.Contains(string(a.body), `"`+tt.code+`"`) {
				t.Errorf("got %d %s; want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}

	a = session(msg.ID, "file", size)
	var us struct {
		UploadURL          string   `json:"uploadUrl"`
		NextExpectedRanges []string `json:"nextExpectedRanges"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &us) != nil || strings.Join(us.NextExpectedRanges, ",") != "0-" {
		t.Fatalf("createUploadSession: %d %s; want 201 and a session from 0-", a.status, a.body)
	}
	u, _ := url.Parse(us.UploadURL)
	outlook, _ := url.Parse(s.Outlook.URL)
	sp, _ := url.Parse(s.SharePoint.URL)
	if u.Host != outlook.Host || outlook.Host == sp.Host || u.Query().Get("authtoken") == "" ||
		!strings.HasPrefix(u.Path, "/api/v2.0/Users('") || !strings.Contains(u.Path, "')/Messages('"+msg.ID+"')/AttachmentSessions('") {
		t.Fatalf("uploadUrl %s; want Outlook's, of the message, with an authtoken", us.UploadURL)
	}

	content := bytes.Repeat([]byte("0123456789"), size/10+1)[:size]
	put := func(first, last int, token string) answer {
		return do("PUT", us.UploadURL, token, content[first:last+1], "Content-Type", "application/octet-stream",
			"Content-Range", "bytes "+strconv.Itoa(first)+"-"+strconv.Itoa(last)+"/"+strconv.Itoa(size))
	}
	if a := put(0, 1<<20-1, tok); a.status != http.StatusUnauthorized {
		t.Errorf("a range with Authorization: %d; want 401", a.status)
	}
	if a := do("PUT", strings.Replace(us.UploadURL, outlook.Host, sp.Host, 1), "", content[:10], "Content-Range", "bytes 0-9/"+strconv.Itoa(size)); a.status != http.StatusNotFound {
		t.Errorf("the session on SharePoint's host: %d; want 404", a.status)
	}
	a = put(0, 1<<20-1, "")
	var st map[string]any
	if a.status != http.StatusOK || json.Unmarshal(a.body, &st) != nil || st["ExpirationDateTime"] == nil ||
		!strings.HasPrefix(st["@odata.context"].(string), s.Outlook.URL+"/api/v2.0/$metadata#Users(") {
		t.Fatalf("first range: %d %s; want 200 and the session's state as Outlook writes it", a.status, a.body)
	}
	if got, _ := json.Marshal(st["nextExpectedRanges"]); string(got) != `["1048576"]` {
		t.Errorf("nextExpectedRanges %s; want [\"1048576\"] (Outlook's {start})", got)
	}
	if len(s.Graph.Attachments(upns[0], msg.ID)) != 0 {
		t.Error("an attachment before the last range")
	}
	a = put(1<<20, size-1, "")
	loc, _ := url.Parse(a.header.Get("Location"))
	if a.status != http.StatusCreated || len(a.body) != 0 || loc == nil || loc.Host != outlook.Host ||
		!strings.Contains(loc.Path, "')/Messages('"+msg.ID+"')/Attachments('") {
		t.Fatalf("last range: %d %q Location %q; want 201, no body, the attachment's URL on Outlook's host", a.status, a.body, a.header.Get("Location"))
	}
	atts := s.Graph.Attachments(upns[0], msg.ID)
	if len(atts) != 1 || atts[0].Name != "a.pdf" || atts[0].ContentType != "application/pdf" || !bytes.Equal(atts[0].Content, content) ||
		!strings.Contains(loc.Path, "Attachments('"+atts[0].ID+"')") {
		t.Fatalf("attachments %d; want a.pdf with the bytes, named by the Location", len(atts))
	}

	a = session(msg.ID, "file", size)
	json.Unmarshal(a.body, &us)
	if a := do("DELETE", us.UploadURL, "", nil); a.status != http.StatusNoContent {
		t.Errorf("cancel: %d; want 204", a.status)
	}
	if a := put(0, 9, ""); a.status != http.StatusNotFound {
		t.Errorf("a range after the cancel: %d; want 404", a.status)
	}
}
