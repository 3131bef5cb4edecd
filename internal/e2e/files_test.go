package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go-core/fileuploader"
	"github.com/microsoftgraph/msgraph-sdk-go/drives"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// filesPolicy lets "engage" read a drive item's metadata and move its
// content: downloads, simple uploads and upload sessions, each file at
// most 8 MiB.
const filesPolicy = `version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", query: [$select], permission: Files.ReadWrite.All }
  - { id: read, method: GET, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: 8388608 } }
  - { id: write, method: PUT, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: 8388608 } }
  - { id: session, method: POST, path: "/drives/{drive}/items/{item}/createUploadSession", permission: Files.ReadWrite.All, content: { maxBytes: 8388608 } }
`

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// fileRecords waits (bounded) for at least n audit records with a file
// sub-object and returns them, in order.
func fileRecords(e *proxytest.Env, n int) []auditlog.Record {
	var out []auditlog.Record
	proxytest.WaitFor(e.T(), "file records", func() bool {
		out = out[:0]
		for _, r := range e.Audit.Records(e.T()) {
			if r.File != nil {
				out = append(out, r)
			}
		}
		return len(out) >= n
	})
	return out
}

// noFileHost fails when what the caller saw names a simulated file host,
// SharePoint's or Outlook's (its URL's host and port), or carries their
// URLs' credentials.
func noFileHost(t *testing.T, e *proxytest.Env, what string, b []byte) {
	t.Helper()
	for _, host := range []string{e.Sim.SharePoint.URL, e.Sim.Outlook.URL} {
		u, _ := url.Parse(host)
		if bytes.Contains(b, []byte(u.Host)) {
			t.Errorf("%s shows the file host's URL: %.300s", what, b)
		}
	}
	if bytes.Contains(b, []byte("tempauth")) || bytes.Contains(b, []byte("authtoken")) {
		t.Errorf("%s shows a file host's credential: %.300s", what, b)
	}
}

// uploadFile is content in a file, which an upload task reads.
func uploadFile(t *testing.T, content []byte) *os.File {
	t.Helper()
	f := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(f, content, 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}

// sessionTrail checks that the records are of one upload session, each
// naming the createUploadSession call at path, its rule, the drive (""
// for a message) and the item (or message), and returns their op:outcome
// in order and the bytes they moved up.
func sessionTrail(t *testing.T, recs []auditlog.Record, path, rule, drive, item string) (string, int64) {
	t.Helper()
	var outcomes []string
	var up int64
	session := ""
	for _, r := range recs {
		outcomes = append(outcomes, r.File.Op+":"+r.File.Outcome)
		if session == "" {
			session = r.File.Session
		}
		if r.File.Session != session || r.File.Item != item || r.File.Drive != drive {
			t.Errorf("record %+v; want session %s of item %s", *r.File, session, item)
		}
		up += r.File.BytesUp
		if r.Path != path || r.Rule != rule {
			t.Errorf("record path %s rule %s; want the createUploadSession call %s and its rule %s", r.Path, r.Rule, path, rule)
		}
	}
	if session == "" {
		t.Error("the records name no session")
	}
	return strings.Join(outcomes, " "), up
}

func TestFilesDownload(t *testing.T) {
	e := filesEnv(t)
	client, _ := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()
	content := randomBytes(t, 1<<20+17)
	drive, item := e.Sim.Graph.AddFile(upns[0], "report.bin", content)
	ctx := t.Context()
	builder := client.Drives().ByDriveId(drive).Items().ByDriveItemId(item)

	t.Run("whole", func(t *testing.T) {
		got, err := builder.Content().Get(ctx, nil)
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("got %d bytes; want the file's %d", len(got), len(content))
		}
	})
	t.Run("range", func(t *testing.T) {
		h := abstractions.NewRequestHeaders()
		h.Add("Range", "bytes=1000-1999")
		got, err := builder.Content().Get(ctx, &drives.ItemItemsItemContentRequestBuilderGetRequestConfiguration{Headers: h})
		if err != nil {
			t.Fatalf("download a range: %v", err)
		}
		if !bytes.Equal(got, content[1000:2000]) {
			t.Fatalf("got %d bytes; want bytes 1000-1999", len(got))
		}
		resp := e.Do("GET", "/v1.0/drives/"+drive+"/items/"+item+"/content", nil, "Range", "bytes=0-9")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 0-9/"+strconv.Itoa(len(content)) ||
			resp.Header.Get("ETag") == "" || !bytes.Equal(body, content[:10]) {
			t.Errorf("got %d %q etag %q, %d bytes; want 206 bytes 0-9", resp.StatusCode, resp.Header.Get("Content-Range"), resp.Header.Get("ETag"), len(body))
		}
		var hdr bytes.Buffer
		resp.Header.Write(&hdr)
		noFileHost(t, e, "the answer's headers", hdr.Bytes())
	})
	t.Run("downloadUrl", func(t *testing.T) {
		resp := e.Do("GET", "/v1.0/drives/"+drive+"/items/"+item, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		noFileHost(t, e, "the driveItem", body)
		di, err := builder.Get(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		link, _ := di.GetAdditionalData()["@microsoft.graph.downloadUrl"].(*string)
		if link == nil || !strings.HasPrefix(*link, e.Server.URL+proxy.FileLinkPrefix) {
			t.Fatalf("downloadUrl %v; want a file link of the proxy", link)
		}
		path := strings.TrimPrefix(*link, e.Server.URL)
		resp = e.Do("GET", path, nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, content) {
			t.Fatalf("through the link: %d, %d bytes; want 200 and the file", resp.StatusCode, len(got))
		}
		// Bound to the caller: without its token, refused.
		resp = e.Do("GET", path, nil, "Authorization", "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the link without a token: %d; want 401", resp.StatusCode)
		}
		// Sealed: a link changed in one place is no link.
		tampered := path[:len(path)-3] + "AAA"
		if tampered == path {
			tampered = path[:len(path)-3] + "BBB"
		}
		resp = e.Do("GET", tampered, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "graphProxy.fileLinkInvalid") {
			t.Errorf("a changed link: %d %s; want 403 graphProxy.fileLinkInvalid", resp.StatusCode, b)
		}
	})

	for _, r := range e.Sim.SharePoint.Requests() {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the file host received Authorization on %s %s", r.Method, r.Path)
		}
	}
	var downloads int
	for _, r := range fileRecords(e, 4) {
		if r.File.Op != "download" || r.Status >= 300 {
			continue
		}
		downloads++
		if r.File.Drive != drive || r.File.Item != item || r.File.Name != "report.bin" || r.File.BytesDown != r.BytesOut || r.File.BytesDown == 0 {
			t.Errorf("download record %+v (bytesOut %d); want drive, item, name and the bytes sent", *r.File, r.BytesOut)
		}
	}
	if downloads != 4 {
		t.Errorf("got %d download records; want 4 (whole, two ranges, the link)", downloads)
	}
}

// TestFilesDownloadJSONUnchanged: a file's bytes are the file's, whatever
// its type: a JSON file is not read for links.
func TestFilesDownloadJSONUnchanged(t *testing.T) {
	e := filesEnv(t)
	_, upns := e.Sim.Graph.Users()
	content := []byte(`{"uploadUrl":"https://contoso.sharepoint.com/up?tempauth=x","@odata.nextLink":"` + e.Sim.Graph.URL +
		`/v1.0/users?$skiptoken=1","@odata.context":"https://outlook.office.com/api/v2.0/$metadata"}`)
	drive, item := e.Sim.Graph.AddFile(upns[0], "data.json", content)
	resp := e.Do("GET", "/v1.0/drives/"+drive+"/items/"+item+"/content", nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s %s; want 200 and the file as stored", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
}

func TestFilesRedirectElsewhereRefused(t *testing.T) {
	e := filesEnv(t)
	client, _ := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[1], "a.txt", []byte("hello"))
	sp, _ := url.Parse(e.Sim.SharePoint.URL)
	// The same server by another name: not on the cloud's list.
	e.Sim.Graph.RedirectContentTo("https://127.0.0.1:" + sp.Port() + "/_layouts/15/download.aspx?tempauth=x")
	_, err := client.Drives().ByDriveId(drive).Items().ByDriveItemId(item).Content().Get(t.Context(), nil)
	assertODataError(t, err, http.StatusBadGateway, "graphProxy.redirectRefused")
	if n := len(e.Sim.SharePoint.Requests()); n != 0 {
		t.Errorf("the other host received %d requests; want none", n)
	}
	recs := fileRecords(e, 1)
	if len(recs) != 1 || recs[0].File.Outcome != "refused" || !strings.Contains(recs[0].Reason, "file host 127.0.0.1 is not one of the cloud's") ||
		strings.Contains(recs[0].Reason, "tempauth") || recs[0].UpstreamStatus != http.StatusFound {
		t.Fatalf("records %+v; want one refused download naming the host, not the URL", recs)
	}
}

func TestFilesSimpleUpload(t *testing.T) {
	e := filesEnv(t)
	client, _ := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[2], "notes.txt", []byte("old"))
	content := randomBytes(t, 300<<10)
	di, err := client.Drives().ByDriveId(drive).Items().ByDriveItemId(item).Content().Put(t.Context(), content, nil)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if di.GetSize() == nil || *di.GetSize() != int64(len(content)) {
		t.Errorf("driveItem size %v; want %d", di.GetSize(), len(content))
	}
	if got, _ := e.Sim.Graph.FileContent(drive, item); !bytes.Equal(got, content) {
		t.Fatalf("Graph holds %d bytes; want the %d uploaded", len(got), len(content))
	}
	// The SDK sends the body gzip-compressed first: refused (415) without
	// a byte read, then sent again as it is.
	var ok int
	for _, r := range fileRecords(e, 2) {
		if r.File.Op == "upload" && r.Status == 200 {
			ok++
			if r.File.BytesUp != int64(len(content)) || r.BytesIn != int64(len(content)) || r.File.Item != item || r.File.Outcome != "completed" {
				t.Errorf("upload record %+v; want %d bytes up, completed", *r.File, len(content))
			}
		}
	}
	if ok != 1 {
		t.Errorf("got %d completed upload records; want 1", ok)
	}

	t.Run("over the rule's maxBytes", func(t *testing.T) {
		resp := e.Do("PUT", "/v1.0/drives/"+drive+"/items/"+item+"/content", bytes.NewReader(make([]byte, 8<<20+1)), "Content-Type", "application/octet-stream")
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d; want 413", resp.StatusCode)
		}
	})
}

// uploadTask creates an upload session through the proxy and a
// LargeFileUploadTask over it, in ranges of 320 KiB.
func uploadTask(t *testing.T, e *proxytest.Env, drive, item string, content []byte) fileuploader.LargeFileUploadTask[models.DriveItemable] {
	t.Helper()
	client, adapter := sdkClient(e, "v1.0")
	body := drives.NewItemItemsItemCreateUploadSessionPostRequestBody()
	props := models.NewDriveItemUploadableProperties()
	props.SetAdditionalData(map[string]any{"@microsoft.graph.conflictBehavior": "replace"})
	body.SetItem(props)
	session, err := client.Drives().ByDriveId(drive).Items().ByDriveItemId(item).CreateUploadSession().Post(t.Context(), body, nil)
	if err != nil {
		t.Fatalf("createUploadSession: %v", err)
	}
	if u := session.GetUploadUrl(); u == nil || !strings.HasPrefix(*u, e.Server.URL+proxy.FileLinkPrefix) {
		t.Fatalf("uploadUrl %v; want a file link of the proxy", u)
	}
	return fileuploader.NewLargeFileUploadTask[models.DriveItemable](adapter, session, uploadFile(t, content), 320<<10,
		models.CreateDriveItemFromDiscriminatorValue, abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
}

func TestFilesUploadSession(t *testing.T) {
	e := filesEnv(t)
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[3], "big.bin", nil)
	content := randomBytes(t, 4*(320<<10)+1000) // five ranges

	task := uploadTask(t, e, drive, item, content)
	res := task.Upload(func(int64, int64) {})
	if !res.GetUploadSucceeded() {
		t.Fatalf("upload failed: %v", res.GetResponseErrors())
	}
	if got, _ := e.Sim.Graph.FileContent(drive, item); !bytes.Equal(got, content) {
		t.Fatalf("Graph holds %d bytes; want the %d uploaded", len(got), len(content))
	}
	for _, r := range e.Sim.SharePoint.Requests() {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the upload host received Authorization on %s", r.Method)
		}
	}

	outcomes, up := sessionTrail(t, fileRecords(e, 6), "/drives/"+drive+"/items/"+item+"/createUploadSession", "session", drive, item)
	want := "uploadSession:created uploadRange:accepted uploadRange:accepted uploadRange:accepted uploadRange:accepted uploadRange:completed"
	if outcomes != want {
		t.Errorf("records %s; want %s", outcomes, want)
	}
	if up != int64(len(content)) {
		t.Errorf("%d bytes up in the session; want %d", up, len(content))
	}
}

func TestFilesUploadSessionResumed(t *testing.T) {
	e := filesEnv(t)
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[4], "resumed.bin", nil)
	content := randomBytes(t, 2*(320<<10)+5) // three ranges

	task := uploadTask(t, e, drive, item, content)
	armed := false
	res := task.Upload(func(int64, int64) {
		if !armed {
			// The second range fails on both of the SDK's tries; the
			// third is then out of order (416).
			e.Sim.SharePoint.FailRanges(2)
			armed = true
		}
	})
	if res.GetUploadSucceeded() {
		t.Fatal("the upload succeeded with a failing range")
	}
	res, err := task.Resume(func(int64, int64) {})
	if err != nil || !res.GetUploadSucceeded() {
		t.Fatalf("resume: %v %v", err, res)
	}
	if got, _ := e.Sim.Graph.FileContent(drive, item); !bytes.Equal(got, content) {
		t.Fatalf("Graph holds %d bytes; want the %d uploaded", len(got), len(content))
	}
	var statuses, completed int
	for _, r := range fileRecords(e, 9) {
		switch {
		case r.File.Op == "uploadStatus":
			statuses++
		case r.File.Outcome == "completed":
			completed++
		}
	}
	if statuses != 1 || completed != 1 {
		t.Errorf("got %d status and %d completed records; want 1 and 1", statuses, completed)
	}
}

func TestFilesUploadSessionCancelled(t *testing.T) {
	e := filesEnv(t)
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[5], "cancelled.bin", []byte("kept"))
	task := uploadTask(t, e, drive, item, randomBytes(t, 1<<20))
	if err := task.Cancel(); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	err := task.RefreshUploadStatus()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != http.StatusNotFound {
		t.Errorf("status after cancel: %v; want 404", err)
	}
	if got, _ := e.Sim.Graph.FileContent(drive, item); string(got) != "kept" {
		t.Errorf("the item holds %q; want its content unchanged", got)
	}
	var cancelled bool
	for _, r := range fileRecords(e, 3) {
		cancelled = cancelled || r.File.Op == "uploadCancel" && r.File.Outcome == "cancelled" && r.Method == "DELETE"
	}
	if !cancelled {
		t.Error("no record of the cancelled session")
	}
}

// TestFilesOutlastServerTimeouts: a download and an upload that take
// longer than the server's read and write timeouts, bytes moving all the
// while, complete: a content call's deadlines move on as its bytes do.
func TestFilesOutlastServerTimeouts(t *testing.T) {
	e := filesEnv(t, func(o *proxytest.Options) { o.ServerTimeout = 300 * time.Millisecond })
	_, upns := e.Sim.Graph.Users()
	// Larger than the HTTP/2 windows between the proxy and the caller, so
	// that the proxy's writes wait on the reader.
	content := randomBytes(t, 7<<20) // under the rule's maxBytes
	drive, item := e.Sim.Graph.AddFile(upns[0], "slow.bin", content)
	path := "/v1.0/drives/" + drive + "/items/" + item + "/content"

	resp := e.Do("GET", path, nil)
	var got bytes.Buffer
	for {
		// A slow reader: the proxy's writes wait on it for about a second
		// in all, three times the write timeout.
		time.Sleep(20 * time.Millisecond)
		n, err := io.CopyN(&got, resp.Body, 128<<10)
		if err != nil || n == 0 {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got.Bytes(), content) {
		t.Errorf("slow download: %d, %d of %d bytes", resp.StatusCode, got.Len(), len(content))
	}

	up := e.Do("PUT", path, &slowReader{r: bytes.NewReader(content[:1<<20]), chunk: 64 << 10, pause: 60 * time.Millisecond},
		"Content-Type", "application/octet-stream")
	io.Copy(io.Discard, up.Body)
	up.Body.Close()
	if up.StatusCode != http.StatusOK && up.StatusCode != http.StatusCreated {
		t.Errorf("slow upload: %d; want it stored", up.StatusCode)
	}
}

// slowReader hands out chunk bytes at a time, pausing before each.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	return s.r.Read(p)
}

// filesEnv is the proxy in front of a simulator, with the files policy.
func filesEnv(t *testing.T, opts ...func(*proxytest.Options)) *proxytest.Env {
	t.Helper()
	o := proxytest.Options{Policy: filesPolicy}
	for _, f := range opts {
		f(&o)
	}
	return proxytest.New(t, o)
}

// TestFilesDownloadRangesOfALargerFile: content.maxBytes bounds the file,
// not the part of it asked for: a file larger than the rule allows is not
// read in ranges each within it — one range, several at once, from the end
// (bytes=-N), through Graph's path or a file link — and a partial answer
// whose file's size cannot be read from one Content-Range (several ranges
// in multipart/byteranges) is refused too. A file within the bound still
// downloads in ranges.
func TestFilesDownloadRangesOfALargerFile(t *testing.T) {
	e := filesEnv(t, func(o *proxytest.Options) {
		o.Policy = strings.ReplaceAll(filesPolicy, "maxBytes: 8388608", "maxBytes: 4096")
	})
	_, upns := e.Sim.Graph.Users()
	large := randomBytes(t, 64<<10)
	drive, item := e.Sim.Graph.AddFile(upns[0], "large.bin", large)
	small := randomBytes(t, 2048)
	_, smallItem := e.Sim.Graph.AddFile(upns[0], "small.bin", small)
	content := "/v1.0/drives/" + drive + "/items/" + item + "/content"
	for _, rng := range []string{"bytes=0-1023", "bytes=8192-9215", "bytes=-1024", "bytes=0-9,100-109", "bytes=0-1023,0-1023"} {
		resp := e.Do("GET", content, nil, "Range", rng)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || bytes.Contains(body, large[:16]) {
			t.Errorf("Range %s of a file over maxBytes: %d, %d bytes; want 403 and none of it", rng, resp.StatusCode, len(body))
		}
	}
	resp := e.Do("GET", "/v1.0/drives/"+drive+"/items/"+smallItem+"/content", nil, "Range", "bytes=0-9")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, small[:10]) {
		t.Errorf("Range of a file within maxBytes: %d, %d bytes; want 206 and its bytes", resp.StatusCode, len(body))
	}
}

// TestFilesDownloadAnsweredByGraph: a download under a content rule that
// Graph answers with the bytes themselves, not a redirect (a message's or
// an attachment's $value), is held to the same rule as one fetched from
// the file host: a file over maxBytes is refused before a byte of it is
// sent, and every download leaves a file record with the bytes sent.
func TestFilesDownloadAnsweredByGraph(t *testing.T) {
	e := filesEnv(t, func(o *proxytest.Options) {
		o.Policy = strings.ReplaceAll(filesPolicy, "maxBytes: 8388608", "maxBytes: 4096")
	})
	_, upns := e.Sim.Graph.Users()
	drive, item := e.Sim.Graph.AddFile(upns[0], "any.bin", []byte("x"))
	path := "/drives/" + drive + "/items/" + item + "/content"
	for _, tt := range []struct {
		name string
		size int
		want int
	}{
		{name: "over maxBytes", size: 64 << 10, want: http.StatusForbidden},
		{name: "over maxBytes, within one write", size: 4097, want: http.StatusForbidden},
		{name: "within maxBytes", size: 1000, want: http.StatusOK},
	} {
		content := randomBytes(t, tt.size)
		e.Sim.Graph.ClearFaults()
		e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: path, Body: string(content), ContentType: "application/octet-stream"})
		resp := e.Do("GET", "/v1.0"+path, nil)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case tt.want == http.StatusOK && (resp.StatusCode != 200 || err != nil || !bytes.Equal(body, content)):
			t.Errorf("%s: %d, %d bytes, %v; want 200 and the file", tt.name, resp.StatusCode, len(body), err)
		case tt.want != http.StatusOK && resp.StatusCode < 300 && (err == nil || len(body) > 4096):
			// Of a length not said, the answer is cut where it passes
			// the bound, never completed.
			t.Errorf("%s: %d, %d bytes, %v; want it refused or cut at maxBytes", tt.name, resp.StatusCode, len(body), err)
		case tt.want != http.StatusOK && resp.StatusCode >= 300 && bytes.Contains(body, content[:16]):
			t.Errorf("%s: refused %d with the file's bytes", tt.name, resp.StatusCode)
		}
		rec := e.Record(resp)
		if rec.File == nil || rec.File.Op != "download" || (tt.want == http.StatusOK && rec.File.BytesDown != int64(tt.size)) {
			t.Errorf("%s: record's file %+v; want a download with the bytes sent", tt.name, rec.File)
		}
	}
}

// TestFileLinksBoundToTheSignedInUser: a file link is made for the caller
// and for whoever it acted as: the link of an app-only call is not served
// to a call made as a signed-in user of the same caller, which the policy
// decides as that user (and records with the user), nor one user's to
// another.
func TestFileLinksBoundToTheSignedInUser(t *testing.T) {
	pol := strings.Replace(filesPolicy, "    permissions: [Files.ReadWrite.All]\n",
		"    permissions: [Files.ReadWrite.All]\n    delegated:\n      scopes: [User.Read]\n", 1)
	e := filesEnv(t, func(o *proxytest.Options) { o.Policy = pol; o.Delegated = true })
	ids, upns := e.Sim.Graph.Users()
	content, path := fileLinkOf(t, e, upns[0])
	user := e.UserToken(graphsim.UserTokenSpec{ObjectID: ids[1], UPN: upns[1]})
	resp := e.Do("GET", path, nil, "Authorization", "Bearer "+user)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || bytes.Contains(body, content[:16]) {
		t.Errorf("an app-only call's link used as a signed-in user: %d, %d bytes; want it refused", resp.StatusCode, len(body))
	}
	resp = e.Do("GET", path, nil)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Errorf("the link used as it was made for: %d; want 200 and the file", resp.StatusCode)
	}
}

// fileLinkOf puts a 1,000-byte file in user's drive and returns it and
// the path of the file link the proxy hands out for it.
func fileLinkOf(t *testing.T, e *proxytest.Env, user string) (content []byte, path string) {
	t.Helper()
	content = randomBytes(t, 1000)
	drive, item := e.Sim.Graph.AddFile(user, "a.bin", content)
	resp := e.Do("GET", "/v1.0/drives/"+drive+"/items/"+item, nil)
	var di map[string]any
	json.NewDecoder(resp.Body).Decode(&di)
	resp.Body.Close()
	link, _ := di["@microsoft.graph.downloadUrl"].(string)
	if !strings.HasPrefix(link, e.Server.URL+proxy.FileLinkPrefix) {
		t.Fatalf("downloadUrl %q; want a file link", link)
	}
	return content, strings.TrimPrefix(link, e.Server.URL)
}

// TestFileLinksBoundToTheCredential: a file link is made for the
// credential that called, not for the policy's name of its caller: a
// caller renamed in the policy keeps its links; a new caller given the
// old name (another application) cannot use them.
func TestFileLinksBoundToTheCredential(t *testing.T) {
	const otherApp = "e0000000-0000-4000-8000-0000000000e2"
	e := filesEnv(t, func(o *proxytest.Options) { o.Reloadable = true })
	other, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: otherApp,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	_, upns := e.Sim.Graph.Users()
	content, path := fileLinkOf(t, e, upns[0])
	renamed := strings.Replace(filesPolicy, "  - name: engage\n", "  - name: engage-v2\n", 1)
	withNewEngage := strings.Replace(renamed, "rules:\n", `  - name: engage
    match: { tenantID: "`+graphsim.VendorTenant+`", appID: "`+otherApp+`" }
    permissions: [Files.ReadWrite.All]
rules:
`, 1)
	steps := []struct {
		name, policy, token string // token "" is the link's maker's
		want                int
	}{
		{name: "its maker, renamed", policy: renamed, want: http.StatusOK},
		{name: "another app given the maker's old name", policy: withNewEngage, token: other, want: http.StatusForbidden},
		{name: "its maker still, beside it", want: http.StatusOK},
	}
	for _, s := range steps {
		if s.policy != "" {
			e.SetPolicy(s.policy)
		}
		var hdr []string
		if s.token != "" {
			hdr = []string{"Authorization", "Bearer " + s.token}
		}
		resp := e.Do("GET", path, nil, hdr...)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case s.want == http.StatusOK && (resp.StatusCode != http.StatusOK || !bytes.Equal(body, content)):
			t.Errorf("%s: %d, %d bytes; want 200 and the file", s.name, resp.StatusCode, len(body))
		case s.want != http.StatusOK && (resp.StatusCode < 400 || bytes.Contains(body, content[:16])):
			t.Errorf("%s: %d, %d bytes; want it refused", s.name, resp.StatusCode, len(body))
		}
	}
}
