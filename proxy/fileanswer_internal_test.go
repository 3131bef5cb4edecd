package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func fileAnswerHandler() *Handler {
	return &Handler{links: NewLinkRewriter("https://graph.microsoft.com", "https://proxy.contoso.example")}
}

func TestFileHostJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for an error
	}{
		{name: "Outlook's range answer loses its context",
			in:   `{"@odata.context":"https://outlook.office.com/api/v2.0/$metadata#Users('u%40t')/Messages('m')/AttachmentSessions/$entity","ExpirationDateTime":"2026-01-01T00:00:00Z","nextExpectedRanges":["1048576"]}`,
			want: `{"ExpirationDateTime":"2026-01-01T00:00:00Z","nextExpectedRanges":["1048576"]}`},
		{name: "a context at Graph stays, as written",
			in:   `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession","a":1}`,
			want: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession","a":1}`},
		{name: "a look-alike of Graph's host goes",
			in: `{"@odata.context":"https://graph.microsoft.com.evil.example/x","a":1}`, want: `{"a":1}`},
		{name: "an escaped key is the same key",
			in: `{"\u0040odata.context":"https://contoso.sharepoint.com/_api/v2.0/$metadata","id":"01A"}`, want: `{"id":"01A"}`},
		{name: "every context given goes",
			in: `{"@odata.context":"https://a.example/","@odata.context":"https://b.example/","x":null}`, want: `{"x":null}`},
		{name: "a context that is no string goes",
			in: `{"@odata.context":{"u":"https://outlook.office.com/"},"x":true}`, want: `{"x":true}`},
		{name: "nested contexts are the link rewriter's",
			in:   `{"value":[{"@odata.context":"https://outlook.office.com/x"}], "n" : 1.50}`,
			want: `{"value":[{"@odata.context":"https://outlook.office.com/x"}],"n":1.50}`},
		{name: "an error answer passes", in: `{"error":{"code":"itemNotFound","message":"gone"}}`,
			want: `{"error":{"code":"itemNotFound","message":"gone"}}`},
		{name: "the empty object", in: ` {} `, want: `{}`},
		{name: "an array is refused", in: `[{"a":1}]`},
		{name: "two objects are refused", in: `{"a":1}{"b":2}`},
		{name: "trailing bytes are refused", in: `{"a":1} x`},
		{name: "a truncated object is refused", in: `{"a":1,`},
		{name: "nothing is refused", in: ``},
		{name: "over the bound is refused", in: `{"a":"` + strings.Repeat("x", maxFileHostJSON) + `"}`},
	}
	h := fileAnswerHandler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.fileHostJSON(strings.NewReader(tt.in))
			if tt.want == "" {
				if !errors.Is(err, errAnswerWithheld) {
					t.Fatalf("got %.100s, %v; want errAnswerWithheld", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzFileHostJSON: whatever a file host answers, what is relayed is one
// JSON object with no top-level @odata.context off Graph, and every other
// top-level member kept.
func FuzzFileHostJSON(f *testing.F) {
	for _, s := range []string{
		`{"@odata.context":"https://outlook.office.com/api/v2.0/$metadata#x","nextExpectedRanges":["5"]}`,
		`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#x","id":"1","size":3}`,
		`{"\u0040odata.context":"https://x.example/","a":[1,{"b":null}]}`,
		`{"a":1}{"b":2}`, `[1]`, `{"a":"\ud800"}`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	h := fileAnswerHandler()
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := h.fileHostJSON(bytes.NewReader(in))
		if err != nil {
			return
		}
		var got, src map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("relayed %q: not one JSON object: %v", out, err)
		}
		if json.Unmarshal(in, &src) != nil {
			t.Fatalf("relayed %q from %q, which is not one JSON object", out, in)
		}
		if v, ok := got["@odata.context"]; ok && !h.atGraph(v) {
			t.Fatalf("relayed a context off Graph: %s", v)
		}
		for k := range src {
			if _, ok := got[k]; !ok && k != "@odata.context" {
				t.Fatalf("member %q of %q lost", k, in)
			}
		}
	})
}
