package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// attachPolicy lets "engage" create drafts and put large attachments on
// them through upload sessions, each at most 8 MiB.
const attachPolicy = `version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Mail.ReadWrite]
mail:
  recipientDomains: [` + graphsim.Domain + `]
rules:
  - { id: draft, method: POST, path: "/users/{user}/messages", permission: Mail.ReadWrite }
  - { id: attachment-session, method: POST, path: "/users/{user}/messages/{id}/attachments/createUploadSession", permission: Mail.ReadWrite, content: { maxBytes: 8388608 } }
`

// seenTransport keeps every answer its caller receives, headers and body.
type seenTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen bytes.Buffer
}

func (s *seenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	s.mu.Lock()
	defer s.mu.Unlock()
	resp.Header.Write(&s.seen)
	s.seen.Write(b)
	return resp, nil
}

func (s *seenTransport) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.seen.Bytes())
}

// attachClient is the SDK through the proxy under attachPolicy, keeping
// what it receives.
func attachClient(t *testing.T) (*proxytest.Env, *msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter, *seenTransport) {
	t.Helper()
	// An identity of its own holding Mail.ReadWrite, which the
	// simulator's default identities do not.
	e := proxytest.New(t, proxytest.Options{Policy: attachPolicy, FreshIdentity: true, IdentityRoles: []string{"Mail.ReadWrite"}})
	seen := &seenTransport{next: e.Server.Client().Transport}
	client, adapter := sdkClientOver(e, "v1.0", seen)
	return e, client, adapter, seen
}

// draft creates a draft in the user's mailbox and returns its id.
func draft(t *testing.T, client *msgraphsdk.GraphServiceClient, upn string) string {
	t.Helper()
	msg := models.NewMessage()
	subject := "Quarterly figures"
	msg.SetSubject(&subject)
	to := models.NewRecipient()
	addr := models.NewEmailAddress()
	a := "finance@" + graphsim.Domain
	addr.SetAddress(&a)
	to.SetEmailAddress(addr)
	msg.SetToRecipients([]models.Recipientable{to})
	created, err := client.Users().ByUserId(upn).Messages().Post(t.Context(), msg, nil)
	if err != nil || created.GetId() == nil {
		t.Fatalf("draft: %v", err)
	}
	return *created.GetId()
}

// attachmentSession creates an attachment upload session of size bytes
// for the draft through the proxy.
func attachmentSession(t *testing.T, client *msgraphsdk.GraphServiceClient, upn, message, name string, size int64) (models.UploadSessionable, error) {
	t.Helper()
	item := models.NewAttachmentItem()
	kind := models.FILE_ATTACHMENTTYPE
	item.SetAttachmentType(&kind)
	item.SetName(&name)
	item.SetSize(&size)
	body := users.NewItemMessagesItemAttachmentsCreateUploadSessionPostRequestBody()
	body.SetAttachmentItem(item)
	return client.Users().ByUserId(upn).Messages().ByMessageId(message).Attachments().CreateUploadSession().Post(t.Context(), body, nil)
}

// attachmentTask is a LargeFileUploadTask over a new attachment session,
// in ranges of 1 MiB.
func attachmentTask(t *testing.T, e *proxytest.Env, client *msgraphsdk.GraphServiceClient, adapter *msgraphsdk.GraphRequestAdapter,
	upn, message, name string, content []byte) fileuploader.LargeFileUploadTask[models.AttachmentItemable] {
	t.Helper()
	session, err := attachmentSession(t, client, upn, message, name, int64(len(content)))
	if err != nil {
		t.Fatalf("createUploadSession: %v", err)
	}
	if u := session.GetUploadUrl(); u == nil || !strings.HasPrefix(*u, e.Server.URL+proxy.FileLinkPrefix) {
		t.Fatalf("uploadUrl %v; want a file link of the proxy", u)
	}
	return fileuploader.NewLargeFileUploadTask[models.AttachmentItemable](adapter, session, uploadFile(t, content), 1<<20,
		models.CreateAttachmentItemFromDiscriminatorValue, abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
}

// noTokenToFileHosts fails when a file host received Authorization.
func noTokenToFileHosts(t *testing.T, e *proxytest.Env) {
	t.Helper()
	for _, r := range append(e.Sim.SharePoint.Requests(), e.Sim.Outlook.Requests()...) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("a file host received Authorization on %s %s", r.Method, r.Path)
		}
	}
}

func TestAttachUploadSession(t *testing.T) {
	e, client, adapter, seen := attachClient(t)
	_, upns := e.Sim.Graph.Users()
	message := draft(t, client, upns[0])
	content := randomBytes(t, 3<<20+1000) // over Graph's 3 MB minimum: four ranges

	task := attachmentTask(t, e, client, adapter, upns[0], message, "figures.xlsx", content)
	res := task.Upload(func(int64, int64) {})
	if !res.GetUploadSucceeded() {
		t.Fatalf("upload failed: %v", res.GetResponseErrors())
	}
	// Outlook's Location names the attachment on its own host: withheld.
	if u := res.GetURI(); u != nil {
		t.Errorf("the upload's Location %q reached the caller; want it withheld", *u)
	}
	atts := e.Sim.Graph.Attachments(upns[0], message)
	if len(atts) != 1 || atts[0].Name != "figures.xlsx" || !bytes.Equal(atts[0].Content, content) {
		t.Fatalf("the draft has %d attachment(s); want figures.xlsx with the %d bytes uploaded", len(atts), len(content))
	}

	noFileHost(t, e, "what the SDK received", seen.bytes())
	noTokenToFileHosts(t, e)
	var puts int
	for _, r := range e.Sim.Outlook.Requests() {
		if r.Method == http.MethodPut && strings.Contains(r.Path, "/AttachmentSessions(") {
			puts++
		}
	}
	if puts != 4 || len(e.Sim.SharePoint.Requests()) != 0 {
		t.Errorf("Outlook took %d ranges and SharePoint %d requests; want 4 and none", puts, len(e.Sim.SharePoint.Requests()))
	}

	recs := fileRecords(e, 5)
	outcomes, up := sessionTrail(t, recs, "/users/"+upns[0]+"/messages/"+message+"/attachments/createUploadSession", "attachment-session", "", message)
	want := "uploadSession:created uploadRange:accepted uploadRange:accepted uploadRange:accepted uploadRange:completed"
	if outcomes != want {
		t.Errorf("records %s; want %s", outcomes, want)
	}
	if up != int64(len(content)) {
		t.Errorf("%d bytes up in the session; want %d", up, len(content))
	}
	last := recs[len(recs)-1]
	wantRange := "bytes " + strconv.Itoa(3<<20) + "-" + strconv.Itoa(len(content)-1) + "/" + strconv.Itoa(len(content))
	if last.UpstreamStatus != http.StatusCreated || last.Status != http.StatusCreated || last.File.Range != wantRange ||
		last.File.BytesUp != 1000 || last.BytesIn != 1000 || !strings.Contains(last.Reason, "Location to a host other than Graph withheld") {
		t.Errorf("the last range's record: status %d (Outlook %d), %+v, reason %q; want 201, %s, 1000 bytes, the Location withheld",
			last.Status, last.UpstreamStatus, *last.File, last.Reason, wantRange)
	}
}

func TestAttachUploadSessionCancelled(t *testing.T) {
	e, client, adapter, seen := attachClient(t)
	_, upns := e.Sim.Graph.Users()
	message := draft(t, client, upns[1])
	task := attachmentTask(t, e, client, adapter, upns[1], message, "cancelled.pdf", randomBytes(t, 4<<20))
	if err := task.Cancel(); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if atts := e.Sim.Graph.Attachments(upns[1], message); len(atts) != 0 {
		t.Errorf("the draft has %d attachment(s) after the cancel; want none", len(atts))
	}
	var deletes int
	for _, r := range e.Sim.Outlook.Requests() {
		if r.Method == http.MethodDelete {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("Outlook received %d DELETEs; want the one cancel", deletes)
	}
	noFileHost(t, e, "what the SDK received", seen.bytes())
	noTokenToFileHosts(t, e)

	recs := fileRecords(e, 2)
	outcomes, _ := sessionTrail(t, recs, "/users/"+upns[1]+"/messages/"+message+"/attachments/createUploadSession", "attachment-session", "", message)
	if outcomes != "uploadSession:created uploadCancel:cancelled" || recs[1].Method != http.MethodDelete || recs[1].Status != http.StatusNoContent {
		t.Errorf("records %s (%s %d); want the session created, then cancelled by DELETE with 204", outcomes, recs[1].Method, recs[1].Status)
	}
}

func TestAttachUploadSessionRefusals(t *testing.T) {
	e, client, _, _ := attachClient(t)
	_, upns := e.Sim.Graph.Users()
	message := draft(t, client, upns[2])

	t.Run("under Graph's minimum", func(t *testing.T) {
		_, err := attachmentSession(t, client, upns[2], message, "small.txt", 1<<20)
		assertODataError(t, err, http.StatusBadRequest, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")
	})
	t.Run("no such message", func(t *testing.T) {
		_, err := attachmentSession(t, client, upns[2], "AAMknosuchmessage", "a.bin", 4<<20)
		assertODataError(t, err, http.StatusNotFound, "ErrorItemNotFound")
	})
	t.Run("a range past the rule's maxBytes", func(t *testing.T) {
		session, err := attachmentSession(t, client, upns[2], message, "big.bin", 9<<20)
		if err != nil {
			t.Fatalf("createUploadSession: %v", err)
		}
		before := len(e.Sim.Outlook.Requests())
		link := strings.TrimPrefix(*session.GetUploadUrl(), e.Server.URL)
		resp := e.Do("PUT", link, bytes.NewReader(make([]byte, 1024)), "Content-Range", "bytes 0-1023/"+strconv.Itoa(9<<20),
			"Content-Type", "application/octet-stream")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %s; want 413", resp.StatusCode, b)
		}
		if n := len(e.Sim.Outlook.Requests()); n != before {
			t.Errorf("Outlook received %d requests; want none", n-before)
		}
		// The two sessions Graph refused above have records too.
		proxytest.WaitFor(t, "the refused range's record", func() bool {
			for _, r := range e.Audit.Records(t) {
				if r.File != nil && r.File.Op == "uploadRange" && r.File.Outcome == "refused" && r.Status == http.StatusRequestEntityTooLarge {
					return true
				}
			}
			return false
		})
	})
}
