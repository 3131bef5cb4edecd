package response

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/policy"
)

// testLinks rewrites Graph's origin to the proxy's, as proxy.LinkRewriter
// does, with its keys.
type testLinks struct{}

// Scope marks an object under "link" (a sharing link's, to the proxy).
func (testLinks) Scope(k []byte) LinkScope {
	if string(k) == "link" {
		return 1
	}
	return 0
}

// Kind names links as the proxy does, more simply: a sharing link's
// webUrl is external, names ending in Url (or Urls for a list) and a
// top-level value are read as headers, any other string for a URL with a
// credential.
func (testLinks) Kind(k []byte, scope LinkScope, top, list bool) LinkKind {
	switch string(k) {
	case "@odata.nextLink", "@odata.deltaLink":
		return GraphLink
	case "uploadUrl", "@microsoft.graph.downloadUrl", "postParameters":
		return ExternalLink
	case "webUrl":
		if scope == 1 {
			return ExternalLink
		}
		return NotLink
	case "value":
		if top && !list {
			return HeaderLink
		}
	}
	if bytes.HasSuffix(k, []byte("Url")) || list && bytes.HasSuffix(k, []byte("Urls")) {
		return HeaderLink
	}
	return CredentialLink
}

// Credential withholds a value starting with "https://" (decoded), not
// at Graph, with "sig=" in it, and a longer one starting so: a rule
// simpler than the proxy's, with the same interface.
func (testLinks) Credential(raw []byte, complete bool) bool {
	v := unquote(nil, raw)
	if !bytes.HasPrefix(v, []byte("https://")) || bytes.HasPrefix(v, []byte("https://graph.microsoft.com")) {
		return false
	}
	return !complete || bytes.Contains(v, []byte("sig="))
}

// Body withholds a sub-response's string body whose first
// BodySniff bytes, decoded and past spaces, open an object (or show
// nothing but spaces, cut).
func (testLinks) Body(raw []byte, complete bool) bool {
	if len(raw) >= BodySniff {
		raw, complete = raw[:BodySniff], false
	}
	v := bytes.TrimLeft(unquote(nil, raw), " ")
	return len(v) > 0 && v[0] == '{' || len(v) == 0 && !complete
}

func (testLinks) Rewrite(dst, raw []byte) ([]byte, bool) {
	const graph = "https://graph.microsoft.com"
	if !bytes.HasPrefix(raw, []byte(graph)) {
		return dst, false
	}
	return append(append(dst, "https://gp.example"...), raw[len(graph):]...), true
}

// Header rewrites a value starting at Graph, and withholds any other
// value with "://" (decoded), and any value too long to hold; strict,
// also one at Graph or starting with a slash: a rule simpler than the
// proxy's, with the same interface.
func (l testLinks) Header(dst, raw []byte, complete, strict bool) ([]byte, bool) {
	if !complete || strict && (bytes.HasPrefix(raw, []byte("/")) || bytes.Contains(unquote(nil, raw), []byte("://"))) {
		return dst, true
	}
	if out, ok := l.Rewrite(dst, raw); ok {
		return out, false
	}
	if bytes.Contains(unquote(nil, raw), []byte("://")) {
		return dst, true
	}
	return append(dst, raw...), false
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func mustSection(t testing.TB, fields, sel, redact, pseudo []string) *policy.Response {
	t.Helper()
	r, err := policy.NewResponse("test", fields, sel, redact, pseudo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fuzzSections are the sections the fuzzer picks from: none, each kind of
// list alone, and together, nested.
func fuzzSections(t testing.TB) []*policy.Response {
	return []*policy.Response{
		nil,
		mustSection(t, []string{"id", "start.dateTime", "attendees.emailAddress.address", "a.b"}, nil, nil, nil),
		mustSection(t, nil, nil, []string{"subject", "attendees.emailAddress.name", "a"}, []string{"mail", "attendees.emailAddress.address", "b.c"}),
		mustSection(t, []string{"a", "b.c", "value"}, []string{"a", "b"}, []string{"a.x"}, []string{"b.c.d", "a.y"}),
		mustSection(t, []string{"scheduleItems.status", "scheduleItems.start", "scheduleId"}, nil, nil, []string{"scheduleId"}),
		mustSection(t, nil, nil, nil, []string{"a"}),
	}
}

// fuzzOptions picks the options from the fuzzer's bytes.
func fuzzOptions(t testing.TB, mode uint8) Options {
	secs := fuzzSections(t)
	o := Options{Response: secs[int(mode)%len(secs)], Links: testLinks{}, Key: testKey, Status: 200}
	if mode&0x08 != 0 {
		o.Status = 404
	}
	switch (mode >> 4) % 4 {
	case 1:
		o.Batch = map[string]*policy.Response{"1": secs[1], "2": nil, "x": secs[2]}
	case 2:
		o.Batch = map[string]*policy.Response{"a": nil, "A": secs[4], "b": nil}
	case 3:
		o.Key = nil
	}
	return o
}

// filterAll runs the streaming filter over in, read split bytes at a time,
// pausing its output every limit bytes.
func filterAll(in []byte, o Options, split, limit int) ([]byte, *Filter, error) {
	var src io.Reader = bytes.NewReader(in)
	if split > 0 {
		src = &chunkReader{r: src, n: split}
	}
	f := New(io.NopCloser(src), o)
	if limit > 0 {
		f.limit = limit
	}
	out, err := io.ReadAll(f)
	f.Close()
	return out, f, err
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// FuzzFilter holds the streaming filter to the whole-document reference:
// for any input, any section, any split into reads and any pause of the
// output, the same bytes, counts and verdict; an input encoding/json
// finds invalid is never filterable, and what comes out is valid JSON,
// with no $batch sub-response header value naming another host.
func FuzzFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add([]byte(s), uint8(1), uint8(3), uint8(7))
		f.Add([]byte(s), uint8(0x12), uint8(1), uint8(1))
		f.Add([]byte(s), uint8(0x2c), uint8(5), uint8(64))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode, split, limit uint8) {
		o := fuzzOptions(t, mode)
		want, wantCounts, wantPer, wantErr := refFilter(in, o)
		got, flt, err := filterAll(in, o, int(split%64)+1, int(limit)+1)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("mode %#x: streaming error %v; reference error %v\nin  %q\nout %q", mode, err, wantErr, in, got)
		}
		if err != nil {
			if !errors.Is(err, ErrUnfilterable) {
				t.Fatalf("error %v does not wrap ErrUnfilterable", err)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("mode %#x:\nin        %q\nstreaming %q\nreference %q", mode, in, got, want)
		}
		if flt.Counts() != wantCounts {
			t.Fatalf("mode %#x: counts %+v; reference %+v\nin %q", mode, flt.Counts(), wantCounts, in)
		}
		for id, c := range wantPer {
			if got := flt.SubCounts(id); got != *c {
				t.Fatalf("mode %#x: sub-response %q counts %+v; reference %+v", mode, id, got, *c)
			}
		}
		if len(bytes.Trim(in, " \t\r\n")) > 0 && !json.Valid(got) {
			t.Fatalf("output is not JSON: %q", got)
		}
		if !json.Valid(in) && len(got) > 0 {
			t.Fatalf("invalid JSON passed: %q", in)
		}
		if o.Batch != nil && o.Status < 400 {
			var doc struct {
				Responses []struct {
					Headers any `json:"headers"`
				} `json:"responses"`
			}
			json.Unmarshal(got, &doc)
			for _, r := range doc.Responses {
				if _, str := r.Headers.(string); !str {
					headerStrings(r.Headers, func(s string) {
						if strings.Contains(s, "://") && !strings.HasPrefix(s, "https://gp.example") {
							t.Fatalf("mode %#x: header value %q to another host survived\nin %q", mode, s, in)
						}
					})
				}
			}
		}
	})
}

// headerStrings calls f with every string in v.
func headerStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for _, e := range x {
			headerStrings(e, f)
		}
	case []any:
		for _, e := range x {
			headerStrings(e, f)
		}
	}
}

var filterSeeds = []string{
	`{"getUrl":"https://e.example/?access_token=x","postParameters":"access_token=y","value":"https://e.example/?sig=z","link":{"webUrl":"https://1drv.ms/x"},"webUrl":"https://contoso.sharepoint.com/a"}`,
	`{"value":[{"link":[{"webUrl":"/r","value":"https://e.example/"}]}],"responses":[{"id":"1","status":200,"body":{"value":"https://e.example/","link":{"webUrl":"https://e.example/"}}}]}`,
	`{"responses":[{"headers":{"Location":"https://graph.microsoft.com/v1.0/e/1","x":["/a","b"]},"id":"1","status":201,"body":{"id":"1"}},{"id":"2","status":201,"headers":{"content-location":"/x","OData-EntityId":"y","Link":"<https://graph.microsoft.com/z>"}}]}`,
	``, ` `, `{}`, `[]`, `"x"`, `{"a":1}x`, `{"a":1`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":tru}`,
	`{"id":"1","subject":"Quarterly","start":{"dateTime":"2030-01-01T09:00:00.0000000","timeZone":"UTC"},"attendees":[{"type":"required","emailAddress":{"name":"Adele","address":"adele@contoso.example"}},"x",null]}`,
	`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[{"id":"1","mail":"a@b.example","displayName":"A"},{"id":"2","@removed":{"reason":"deleted"}}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=x"}`,
	`{"value":[{"scheduleId":"a@b","scheduleItems":[{"status":"busy","subject":"s","start":{"dateTime":"d"}}],"workingHours":{}}]}`,
	`{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":{"id":"u","mail":"m","start":{"dateTime":"x","timeZone":"y"}}},{"id":"2","status":404,"body":{"error":{"code":"NotFound","message":"m","innerError":{"date":"d","request-id":"r","extra":"leak"}}}},{"id":"x","status":201,"body":{"subject":"s","mail":"m"}}]}`,
	`{"responses":[{"body":{"a":1},"id":"1","status":200}]}`,
	`{"responses":[{"id":"A","status":200,"body":{"scheduleId":"x","scheduleItems":[{"status":"free","subject":"s"}]}},{"id":"b","status":204}]}`,
	`{"error":{"code":"ErrorItemNotFound","message":"The item","innerError":{"date":"2030","request-id":"1","client-request-id":"2","echo":{"subject":"secret"}}}}`,
	`{"a\u0040b":1,"sub\u006aect":"x","m\u0061il":"\ud83d\ude00\ud800x\u00e9","a":{"x":[1,true,false,null,-0.5e+3,"s"],"y":"\u2028"}}`,
	`{"uploadUrl":"https://contoso.sharepoint.com/x","@microsoft.graph.downloadUrl":"https://graph.microsoft.com/d","@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=1"}`,
	"{\"b\":{\"c\":{\"d\":\"\xff\xfe\",\"e\":[{\"d\":12}]}},\"attendees@odata.type\":\"x\",\"value\":\"notalist\"}",
	// Control annotations under a section: keys in a context, a type or
	// etag of another shape, a property's annotations, @removed's members.
	`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('48d3')/events(subject,a(b))/$entity","@odata.type":"#x.y","@odata.etag":"W/\"QQ==\"","a":{"@odata.context":"$metadata#u/1-2","@odata.type":"#a b","@odata.id":"x"},"a@odata.navigationLink":"u('1')","b@delta":[{"c":1}],"b@removed":{"reason":"x","d":1}}`,
	`{"value":[{"@odata.etag":"\"{A-1},2\"","@odata.count":"x","@removed":{"reason":"deleted","mail":"m"},"@odata.context":{"k":"v"}}],"@odata.count":3,"@odata.context":"https://e.example/?sig=1#x","responses":[{"id":"1","status":200,"body":{"@odata.context":"$metadata#u(''')"}}]}`,
	// $batch sub-response headers: a Location elsewhere, at Graph, in a
	// list, nested, under other spellings of the name (long ones are
	// TestHeaderLinks's: seeds that large stall the fuzzer minimising).
	`{"responses":[{"id":"1","status":302,"headers":{"Location":"https://contoso.sharepoint.com/d?tempauth=x","location":"https://graph.microsoft.com/v1.0/x","X":["https://a.example/"],"Y":{"Z":"https://b.example/"},"Content-Type":"text/plain"}}]}`,
	`{"responses":[{"id":"2","status":201,"headers":{"L\u006fcation":"https:\/\/contoso.sharepoint.com\/x","LOCATION":"/relative","n":5,"o":null}}]}`,
	`{"responses":[{"id":"a","status":302,"headers":{"Location":"https://e.example/"}},{"id":"b","status":200,"Headers":{"Location":"https://e.example/"}}]}`,
	`{"location":{"displayName":"Room 4","address":{"street":"https://not.a.header/"}},"headers":{"Location":"https://e.example/"}}`,
	// As deep as the filter reads, and one level deeper.
	`{"a":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}`,
	`{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`,
}
