package policy_test

import (
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/policy"
)

// contentPolicy is a known-good policy with one content rule; each case
// changes the rule.
func contentPolicy(rule string) string {
	return `version: 1
callers:
  - name: engage
    match: { tenantID: "11111111-1111-4111-8111-111111111111", appID: "22222222-2222-4222-8222-222222222222" }
    permissions: [Files.ReadWrite.All]
rules:
  - ` + rule + "\n"
}

func TestContentRules(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want string // a problem's words; "" loads
	}{
		{name: "download", rule: `{ id: r, method: GET, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`},
		{name: "upload", rule: `{ id: r, method: PUT, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`},
		{name: "session", rule: `{ id: r, method: POST, path: "/drives/{d}/items/{i}/createUploadSession", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`},
		{name: "not a content path", rule: `{ id: r, method: GET, path: "/drives/{d}/items/{i}", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`,
			want: "content applies to paths ending in /content, /$value or /createUploadSession"},
		{name: "method", rule: `{ id: r, method: DELETE, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`,
			want: "takes method GET or PUT only"},
		{name: "no maxBytes", rule: `{ id: r, method: GET, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: {} }`,
			want: "content.maxBytes must be between 1 and"},
		{name: "unknown key", rule: `{ id: r, method: GET, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxbytes: 1 } }`,
			want: "maxbytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(contentPolicy(tt.rule)))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want the policy to load", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want a problem saying %q", err, tt.want)
			}
		})
	}
}

func TestDecideStream(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte(contentPolicy(`{ id: r, method: PUT, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }`)))
	if err != nil {
		t.Fatal(err)
	}
	req, err := policy.Canonicalize("PUT", "/v1.0/drives/b!x/items/01AB/content", "")
	if err != nil {
		t.Fatal(err)
	}
	rt := p.Route("engage", req)
	if !rt.StreamsBody() {
		t.Fatal("a PUT under a content rule does not stream")
	}
	tests := []struct {
		ct, want string
		result   policy.Result
	}{
		{ct: "application/octet-stream", want: "application/octet-stream", result: policy.Allow},
		{ct: "text/plain; charset=UTF-8", want: "text/plain; charset=UTF-8", result: policy.Allow},
		{ct: "", result: policy.Deny},
		{ct: "a/b, c/d", result: policy.Deny},
	}
	for _, tt := range tests {
		d := rt.DecideStream(tt.ct)
		if d.Result != tt.result || d.ContentType != tt.want || d.Content == nil || d.Content.MaxBytes != 1024 {
			t.Errorf("DecideStream(%q) = %v %q %+v; want %v %q", tt.ct, d.Result, d.ContentType, d.Content, tt.result, tt.want)
		}
		if d.Result == policy.Deny && d.Refusal != policy.RefusalMediaType {
			t.Errorf("DecideStream(%q) refusal %v; want the media type's", tt.ct, d.Refusal)
		}
	}
}
