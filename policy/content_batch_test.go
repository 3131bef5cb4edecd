package policy

import (
	"strings"
	"testing"
)

// TestContentNotInBatch: a call a content rule allows on its own is
// refused inside $batch, where Graph's redirect to the file host (or an
// upload session's URL) would reach the caller in the batch's answer;
// the batch is refused whole. Its non-content neighbours are unaffected
// on their own.
func TestContentNotInBatch(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`version: 1
callers:
  - name: engage
    match: { tenantID: "11111111-1111-4111-8111-111111111111", appID: "22222222-2222-4222-8222-222222222222" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: item, method: GET, path: "/drives/{d}/items/{i}", permission: Files.ReadWrite.All }
  - { id: read, method: GET, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }
  - { id: session, method: POST, path: "/drives/{d}/items/{i}/createUploadSession", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sub string
		want      Result
	}{
		{name: "item metadata", sub: `{"id":"1","method":"GET","url":"/drives/b!x/items/01AB"}`, want: Allow},
		{name: "content download", sub: `{"id":"1","method":"GET","url":"/drives/b!x/items/01AB/content"}`, want: Deny},
		{name: "upload session", sub: `{"id":"1","method":"POST","url":"/drives/b!x/items/01AB/createUploadSession","headers":{"Content-Type":"application/json"},"body":{}}`, want: Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideURL(t, p, "engage", "POST", "/v1.0/$batch", `{"requests":[`+tt.sub+`]}`)
			if d.Result != tt.want {
				t.Fatalf("batch %v (%s); want %v", d.Result, d.Reason, tt.want)
			}
			if tt.want == Deny && (len(d.Batch) != 1 || !strings.Contains(d.Batch[0].Decision.Reason, "cannot be moved inside $batch")) {
				t.Errorf("sub-decisions %+v; want the content refusal", d.Batch)
			}
		})
	}
	// On its own the download is allowed.
	if d := decideURL(t, p, "engage", "GET", "/v1.0/drives/b!x/items/01AB/content", ""); d.Result != Allow {
		t.Errorf("the download on its own: %v (%s)", d.Result, d.Reason)
	}
}
