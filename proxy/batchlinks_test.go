package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// batchFilesPolicy lets "engage" read drive items and their content, in
// report-only mode: a $batch with a content call, which enforcing refuses,
// is forwarded and recorded.
const batchFilesPolicy = `version: 1
mode: report-only
externalLinks: EXTERNAL
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: item, method: GET, path: "/drives/{drive}/items/{item}", permission: Files.ReadWrite.All ITEMSECTION}
  - { id: read, method: GET, path: "/drives/{drive}/items/{item}/content", permission: Files.ReadWrite.All, content: { maxBytes: 8388608 } }
`

// TestBatchRedirectLocationWithheld: Graph answers a download inside
// $batch with a 302 whose Location, written in the sub-response's
// headers, is SharePoint's pre-authenticated URL. The caller never gets
// it unless the policy allows external links, and the record says it was
// withheld. The answer goes through the link rewriter, or, when a
// sub-request's rule has a response section, through the response filter:
// the same rule either way.
func TestBatchRedirectLocationWithheld(t *testing.T) {
	tests := []struct {
		name       string
		external   bool
		filtered   bool // the item read's rule has a response section
		wantHidden bool
	}{
		{name: "withheld", external: false, wantHidden: true},
		{name: "withheld, filtered", external: false, filtered: true, wantHidden: true},
		// The simulator's 302 does carry the URL: the policy is what
		// keeps it from the caller.
		{name: "external links allowed", external: true, wantHidden: false},
		{name: "external links allowed, filtered", external: true, filtered: true, wantHidden: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := strings.Replace(batchFilesPolicy, "EXTERNAL", map[bool]string{false: "false", true: "true"}[tt.external], 1)
			pol = strings.Replace(pol, "ITEMSECTION", map[bool]string{false: "", true: ", response: { fields: [id, name] } "}[tt.filtered], 1)
			e := proxytest.New(t, proxytest.Options{Policy: pol})
			_, upns := e.Sim.Graph.Users()
			drive, item := e.Sim.Graph.AddFile(upns[0], "report.bin", []byte("secret content"))
			batch := `{"requests":[{"id":"1","method":"GET","url":"/drives/` + drive + `/items/` + item + `/content"}]}`
			subs := 1
			if tt.filtered {
				batch = `{"requests":[{"id":"1","method":"GET","url":"/drives/` + drive + `/items/` + item + `/content"},` +
					`{"id":"2","method":"GET","url":"/drives/` + drive + `/items/` + item + `"}]}`
				subs = 2
			}
			resp := e.Do("POST", "/v1.0/$batch", strings.NewReader(batch), "Content-Type", "application/json")
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d, %v: %s", resp.StatusCode, err, body)
			}
			var out struct {
				Responses []struct {
					ID      string            `json:"id"`
					Status  int               `json:"status"`
					Headers map[string]string `json:"headers"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(body, &out); err != nil || len(out.Responses) != subs || out.Responses[0].Status != http.StatusFound {
				t.Fatalf("answer %s (%v); want %d sub-response(s), the first Graph's 302", body, err, subs)
			}
			sp, _ := url.Parse(e.Sim.SharePoint.URL)
			shown := strings.Contains(string(body), sp.Host) || strings.Contains(string(body), "tempauth")
			if shown == tt.wantHidden {
				t.Errorf("SharePoint's URL shown: %v; want %v: %s", shown, !tt.wantHidden, body)
			}
			if loc := out.Responses[0].Headers["Location"]; tt.wantHidden && loc != "" {
				t.Errorf("sub-response Location %q; want it withheld", loc)
			}
			recs := e.Records(1 + subs)
			r := recs[0]
			if r.Decision != "report" || r.Path != "/$batch" {
				t.Fatalf("record %+v; want the batch's, reported", r)
			}
			if filtered := r.Response != nil; filtered != tt.filtered {
				t.Errorf("answer filtered: %v; want %v", filtered, tt.filtered)
			}
			if got := strings.Contains(r.Reason, "1 link(s) to hosts other than Graph withheld"); got != tt.wantHidden {
				t.Errorf("record reason %q; want the withheld link noted: %v", r.Reason, tt.wantHidden)
			}
			if strings.Contains(r.Reason, "tempauth") || strings.Contains(recs[1].Reason, "tempauth") {
				t.Errorf("a record holds the URL: %q, %q", r.Reason, recs[1].Reason)
			}
		})
	}
}

// TestTooDeepAnswerWithheld: an answer nested deeper than the rewriter
// tracks could hide a pre-authenticated URL: read whole, it is refused
// (502); streamed, the caller's connection is cut before its end. Either
// way the URL never reaches the caller and the record says why.
func TestTooDeepAnswerWithheld(t *testing.T) {
	deep := `"a":` + strings.Repeat("[", 300) + `{"uploadUrl":"https://contoso.sharepoint.com/x?tempauth=1"}` + strings.Repeat("]", 300) + `}`
	tests := []struct {
		name     string
		body     string
		streamed bool
	}{
		{name: "read whole", body: `{` + deep},
		{name: "streamed", body: `{"pad":"` + strings.Repeat("x", 300<<10) + `",` + deep, streamed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{})
			e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Body: tt.body, Times: 1})
			resp := e.Do("GET", "/v1.0/users", nil)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "tempauth") {
				t.Fatalf("the URL reached the caller")
			}
			if tt.streamed {
				if err == nil {
					t.Errorf("got a complete %d answer of %d bytes; want the connection cut", resp.StatusCode, len(body))
				}
			} else {
				var ge proxytest.GraphError
				json.Unmarshal(body, &ge)
				if resp.StatusCode != http.StatusBadGateway || ge.Error.Code != "graphProxy.answerWithheld" {
					t.Errorf("got %d %s; want 502 graphProxy.answerWithheld", resp.StatusCode, body)
				}
			}
			if r := e.Records(1)[0]; !strings.Contains(r.Error, "nested too deep") || r.UpstreamStatus != http.StatusOK {
				t.Errorf("record error %q upstream %d; want the refusal", r.Error, r.UpstreamStatus)
			}
		})
	}
}
