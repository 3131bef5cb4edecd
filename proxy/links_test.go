package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/proxy/response"
)

const (
	testGraph  = "https://graph.microsoft.com"
	testPublic = "https://gp.contoso.example"
)

func rewriteAll(t testing.TB, in string, readSize int) string {
	t.Helper()
	return rewrite(t, in, readSize, false)
}

// rewrite is rewriteAll that also withholds external links when asked.
func rewrite(t testing.TB, in string, readSize int, withhold bool) string {
	t.Helper()
	out, _, err := rewritten(in, readSize, withhold)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

// chunkReader returns at most n bytes a read, to split tokens across reads.
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

func TestLinkRewriterBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "nextLink",
			in:   `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=3&$skiptoken=c2tpcDoxMA%3D%3D"}`,
			want: `{"value":[],"@odata.nextLink":"https://gp.contoso.example/v1.0/users?$top=3&$skiptoken=c2tpcDoxMA%3D%3D"}`,
		},
		{
			name: "deltaLink with whitespace around the colon",
			in:   "{\"@odata.deltaLink\" : \n \"https://graph.microsoft.com/beta/users/delta?$deltatoken=abc\"}",
			want: "{\"@odata.deltaLink\" : \n \"https://gp.contoso.example/beta/users/delta?$deltatoken=abc\"}",
		},
		{
			name: "path and query bytes kept, escapes included",
			in:   `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$filter=startswith(displayName,%27A%27)\u0026$top=1"}`,
			want: `{"@odata.nextLink":"https://gp.contoso.example/v1.0/users?$filter=startswith(displayName,%27A%27)\u0026$top=1"}`,
		},
		{
			name: "escaped slashes in the origin",
			in:   `{"@odata.nextLink":"https:\/\/graph.microsoft.com\/v1.0\/users?$skiptoken=x"}`,
			want: `{"@odata.nextLink":"https://gp.contoso.example\/v1.0\/users?$skiptoken=x"}`,
		},
		{
			name: "upper-case host",
			in:   `{"@odata.nextLink":"HTTPS://GRAPH.MICROSOFT.COM/v1.0/users"}`,
			want: `{"@odata.nextLink":"https://gp.contoso.example/v1.0/users"}`,
		},
		{
			name: "nested inside a batch response",
			in:   `{"responses":[{"id":"1","status":200,"body":{"value":[{"id":"a"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=1"}}]}`,
			want: `{"responses":[{"id":"1","status":200,"body":{"value":[{"id":"a"}],"@odata.nextLink":"https://gp.contoso.example/v1.0/users?$skiptoken=1"}}]}`,
		},
		{
			name: "other hosts left alone",
			in:   `{"@odata.nextLink":"https://graph.microsoft.com.evil.example/v1.0/users","x":{"@odata.deltaLink":"https://contoso.sharepoint.com/x"}}`,
			want: `{"@odata.nextLink":"https://graph.microsoft.com.evil.example/v1.0/users","x":{"@odata.deltaLink":"https://contoso.sharepoint.com/x"}}`,
		},
		{
			name: "other keys holding Graph URLs left alone",
			in:   `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","webLink":"https://graph.microsoft.com/x","uploadUrl":"https://graph.microsoft.com/y"}`,
			want: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","webLink":"https://graph.microsoft.com/x","uploadUrl":"https://graph.microsoft.com/y"}`,
		},
		{
			name: "a value equal to a link key is not a key",
			in:   `{"a":"@odata.nextLink","b":"https://graph.microsoft.com/v1.0/x",["@odata.nextLink","https://graph.microsoft.com/v1.0/y"]}`,
			want: `{"a":"@odata.nextLink","b":"https://graph.microsoft.com/v1.0/x",["@odata.nextLink","https://graph.microsoft.com/v1.0/y"]}`,
		},
		{
			name: "escaped quote in a key does not fool the key match",
			in:   `{"@odata.next\"Link":"https://graph.microsoft.com/v1.0/x"}`,
			want: `{"@odata.next\"Link":"https://graph.microsoft.com/v1.0/x"}`,
		},
		{
			name: "non-string link value",
			in:   `{"@odata.nextLink":null,"@odata.deltaLink":5}`,
			want: `{"@odata.nextLink":null,"@odata.deltaLink":5}`,
		},
		{
			name: "origin only",
			in:   `{"@odata.nextLink":"https://graph.microsoft.com"}`,
			want: `{"@odata.nextLink":"https://gp.contoso.example"}`,
		},
		{
			name: "truncated inside a link",
			in:   `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/us`,
			want: `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/us`,
		},
		{
			name: "not JSON at all",
			in:   "\x00\xff plain bytes",
			want: "\x00\xff plain bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{0, 1, 3, 7} {
				if got := rewriteAll(t, tt.in, size); got != tt.want {
					t.Errorf("read size %d:\ngot  %s\nwant %s", size, got, tt.want)
				}
			}
		})
	}
}

func TestLinkRewriterLongValuePassesThrough(t *testing.T) {
	long := "https://graph.microsoft.com/v1.0/users?$skiptoken=" + strings.Repeat("a", maxLinkBytes+10)
	in := `{"@odata.nextLink":"` + long + `","@odata.deltaLink":"https://graph.microsoft.com/v1.0/d"}`
	want := `{"@odata.nextLink":"` + long + `","@odata.deltaLink":"https://gp.contoso.example/v1.0/d"}`
	if got := rewriteAll(t, in, 0); got != want {
		t.Errorf("got %.80s…; want the long value untouched and the next link rewritten", got)
	}
}

func TestLinkRewriterReadErrors(t *testing.T) {
	l := NewLinkRewriter(testGraph, testPublic)
	body := l.Body(io.NopCloser(iotest.TimeoutReader(strings.NewReader(`{"value":[1,2,3]}`))))
	if _, err := io.ReadAll(body); err != iotest.ErrTimeout {
		t.Errorf("got %v; want the source's error", err)
	}
}

func TestLinkRewriterURL(t *testing.T) {
	l := NewLinkRewriter(testGraph, testPublic)
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"https://graph.microsoft.com/v1.0/users/x/events/y", "https://gp.contoso.example/v1.0/users/x/events/y", true},
		{"https://graph.microsoft.com?x", "https://gp.contoso.example?x", true},
		{"https://graph.microsoft.com:443/v1.0", "https://graph.microsoft.com:443/v1.0", false},
		{"https://graph.microsoft.comx/v1.0", "https://graph.microsoft.comx/v1.0", false},
		{"http://graph.microsoft.com/v1.0", "http://graph.microsoft.com/v1.0", false},
		{"/v1.0/users", "/v1.0/users", false},
	}
	for _, tt := range tests {
		got, ok := l.URL(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("URL(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzLinkRewriter checks that rewriting changes nothing but link origins:
// the result does not depend on how the body is split into reads; a body
// without the Graph origin comes out byte for byte; valid JSON stays valid;
// and no link to Graph's origin survives in a link property or a $batch
// sub-response header of valid JSON. Withholding, it checks that no
// external link and no header value naming another host survives, the
// answer read whole agrees with it streamed, and the only refusals are an
// answer nested too deep and one that is not JSON (never valid JSON,
// as encoding/json has it).
func FuzzLinkRewriter(f *testing.F) {
	for _, s := range []string{
		`{"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=a%3D"}`,
		`{"responses":[{"body":{"@odata.deltaLink":"https://graph.microsoft.com/beta/x"}}]}`,
		`{"@odata.nextLink":"https:\/\/graph.microsoft.com\/v1.0"}`,
		`[{"a":"\"@odata.nextLink\""},"https://graph.microsoft.com/"]`,
		`{"@odata.nextLink":"https://graph.microsoft.com.evil/x"}`,
		`not json {"@odata.nextLink":"`,
		`{"@odata.next\u004cink":"https://graph.microsoft.com/v1.0/users"}`,
		`{"uploadUrl":"https://contoso.sharepoint.com/upload?tempauth=x","mail":"a@b.example"}`,
		`{"value":[{"small":{"url":"https://contoso.sharepoint.com/t?tempauth=x"},"medium":{"url":"/rel"}}]}`,
		`{"value":[{"@microsoft.graph.downloadUrl":"https://contoso.sharepoint.com/d"}],"@@odata.nextLink":"x"}`,
		`@{"@content.downloadUrl":"https://x.example/"}`,
		`{"subject":"a \"quoted\" word \\","@odata.nextLink":"https://graph.microsoft.com/v1.0/x"}`,
		`{"responses":[{"id":"1","status":302,"headers":{"Location":"https://contoso.sharepoint.com/d?tempauth=x","Content-Type":"text/plain"}}]}`,
		`{"responses":[{"id":"2","status":201,"headers":{"location":"https://graph.microsoft.com/v1.0/users('a')","LOCATION":"/rel","X":["//e.example/"],"Y":{"Z":"\\e.example"}}}]}`,
		`{"Responses":[{"H\u0065aders":{"L\u006fcation":"https:\/\/e.example\/x","d":"Thu, 04 Dec 2026 00:00:00 GMT"}}]}`,
		`{"responses":[{"headers":{"a":" https://e.example","b":"\nhttps://e.example","c":"ht\ttps://e.example","d":"javascript:x"}}]}`,
		`{"value":[{"location":{"displayName":"https://e.example/","locationUri":"https://e.example/"}}],"headers":{"Location":"https://e.example/"}}`,
		`{"responses":[{"headers":{"Link":"<https://e.example/?tempauth=x>; rel=\"alternate\"","Refresh":"0;url=\\\\e.example","N":"<https:\/\/graph.microsoft.com\/v1.0\/x>, <https://graph.microsoft.com?y>"}}]}`,
		`{"responses":[{"headers":{"a":"W/\"ab//cd\"","b":"</v1.0/root:/a:>; rel=self","c":"x@\u0068ttps://e.example"}}]}`,
		`{"uploadUrl" "https://e.example/x"}`,
		`{"a":"x" "uploadUrl":"https://e.example/x"}`,
		`{"a":1 2,"uploadUrl":"https://e.example/x"}`,
		`[{"uploadUrl":"https://e.example/x"}}`,
		`{"a":[1,2],"b":{"c":null,"d":[true,false,-1.5e3,""]}} `,
		`{"getUrl":"https://e.example/?access_token=x","postUrl":"https://e.example/","postParameters":"access_token=y","GETURL":"/rel"}`,
		`{"value":[{"link":{"webUrl":"https://1drv.ms/x","webHtml":"<iframe src=\"https://e.example/?authkey=x\">"},"webUrl":"https://contoso.sharepoint.com/a"}]}`,
		`{"Link":[{"WEBURL":"/r"}],"sharingLink":{"webUrl":"https://graph.microsoft.com/v1.0/x"}}`,
		`{"value" : "https://e.example/?sig=x"}`,
		`{"responses":[{"id":"1","body":"eyJ1cmwiOiJodHRwczovL2UuZXhhbXBsZS8ifQ=="},{"id":"2","body":" {\"a\":1}"},{"id":"3","body":"/9j/4AAQ"}]}`,
		`{"responses":[{"id":"1","body":{"value":"https://e.example/?sig=x","a":{"value":"https://e.example/"}}}]}`,
		`{"@odata.mediaReadLink":"https://e.example/d","downloadUri":"https://e.example/","azureStorageUri":"//e.example/","webLink":"https://outlook.office.com/x","joinWebUrl":"https://teams.microsoft.com/l/x"}`,
		`{"` + strings.Repeat("k", maxKeyBytes+3) + `Url":"https://e.example/","` + strings.Repeat("k", maxKeyBytes+3) + `\u0055rl":"https://e.example/"}`,
		`{"@ODATA.NEXTLINK":"https://graph.microsoft.com/v1.0/x","HEADERS":{"value":"x"}}`,
		`{"a":` + strings.Repeat("[", maxDepth) + `{"uploadUrl":"https://e.example/"}` + strings.Repeat("]", maxDepth) + `}`,
	} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, size uint8) {
		whole := rewriteAll(t, in, 0)
		split := rewriteAll(t, in, int(size%64)+1)
		if whole != split {
			t.Fatalf("result depends on read size:\n%q\n%q", whole, split)
		}
		// The scanner copying plain string values in runs writes what
		// it writes one byte at a time.
		plainRuns = false
		bytewise := rewriteAll(t, in, int(size%64)+1)
		plainRuns = true
		if bytewise != whole {
			t.Fatalf("copying runs changed the result:\n%q\n%q", bytewise, whole)
		}
		for _, withhold := range []bool{false, true} {
			if got, want := NewLinkRewriter(testGraph, testPublic).mayRewrite([]byte(in), withhold), mayRewriteReference([]byte(in), withhold); got != want {
				t.Fatalf("mayRewrite(withhold %v) = %v, the reference says %v: %q", withhold, got, want, in)
			}
		}
		if !NewLinkRewriter(testGraph, testPublic).mayRewrite([]byte(in), false) && whole != in {
			t.Fatalf("mayRewrite said no, yet the body changed:\n%q\n%q", in, whole)
		}
		w, _, werr := rewritten(in, 0, true)
		switch {
		case werr == nil, errors.Is(werr, errAnswerTooDeep):
		case errors.Is(werr, errAnswerMalformed):
			if json.Valid([]byte(in)) {
				t.Fatalf("withholding: valid JSON refused as malformed: %q", in)
			}
		default:
			t.Fatalf("withholding: error %v", werr)
		}
		if ws, _, err := rewritten(in, int(size%64)+1, true); ws != w || !errors.Is(err, werr) {
			t.Fatalf("withholding: result depends on read size:\n%q %v\n%q %v", w, werr, ws, err)
		}
		if werr == nil && !NewLinkRewriter(testGraph, testPublic).mayRewrite([]byte(in), true) && w != in {
			t.Fatalf("mayRewrite (withholding) said no, yet the body changed:\n%q\n%q", in, w)
		}
		if !strings.Contains(strings.ToLower(in), "graph.microsoft.com") && whole != in {
			t.Fatalf("changed a body without the Graph origin:\n%q\n%q", in, whole)
		}
		if json.Valid([]byte(in)) {
			if !json.Valid([]byte(whole)) {
				t.Fatalf("valid JSON became invalid:\n%q\n%q", in, whole)
			}
			var v any
			json.Unmarshal([]byte(whole), &v)
			checkNoGraphLinks(t, v)
			checkBatchHeaders(t, v, func(s string) {
				if _, graph := NewLinkRewriter(testGraph, testPublic).URL(s); graph && len(s) <= maxLinkBytes/6 {
					t.Fatalf("header value %q still points at Graph", s)
				}
			})
			if werr == nil {
				if !json.Valid([]byte(w)) {
					t.Fatalf("valid JSON became invalid, withholding:\n%q\n%q", in, w)
				}
				json.Unmarshal([]byte(w), &v)
				checkNoExternalLinks(t, v)
				checkBatchHeaders(t, v, func(s string) {
					// Read as if the proxy were Graph: no other host's URL.
					if _, u := NewLinkRewriter(testPublic, testPublic).headerURLs(nil, []byte(s), plainChars, true); u.elsewhere {
						t.Fatalf("header value %q to another host survived", s)
					}
				})
			}
		}
	})
}

// checkNoExternalLinks fails on a member memberKind names external
// holding anything but nothing or a link moved to the proxy, and on one it
// reads as a URL holding another host's. A $batch answer's headers are
// checkBatchHeaders'.
func checkNoExternalLinks(t *testing.T, v any) {
	// Read as if the proxy were Graph: no other host's URL.
	asGraph := NewLinkRewriter(testPublic, testPublic)
	check := func(kind valueKind, k, s string) {
		switch kind {
		case externalValue:
			if s != "" && !strings.HasPrefix(s, testPublic) {
				t.Fatalf("external link %s: %q survived", k, s)
			}
		case headerValue:
			if _, u := asGraph.headerURLs(nil, []byte(s), plainChars, true); u.elsewhere {
				t.Fatalf("link %s: %q to another host survived", k, s)
			}
		case credentialValue:
			// Graph's own URLs are left as they are under such names.
			raw, _ := json.Marshal(s)
			if len(raw) <= maxLinkBytes && NewLinkRewriter(testGraph, testPublic).credentialURL(raw[1:len(raw)-1], true) {
				t.Fatalf("%s: %q, a URL with a credential, survived", k, s)
			}
		}
	}
	var walk func(v any, scope response.LinkScope, top bool, role batchRole, list valueKind)
	walk = func(v any, scope response.LinkScope, top bool, role batchRole, list valueKind) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				kind := memberKind([]byte(k), scope, top, true)
				if s, ok := e.(string); ok {
					check(stringKind(kind, false), k, s)
				}
				child, childTop := roleNone, false
				switch {
				case role == roleRoot && strings.EqualFold(k, "responses"):
					child = roleBatchList
				case role == roleSub && strings.EqualFold(k, "headers"):
					continue
				case role == roleSub && strings.EqualFold(k, "body"):
					childTop = true
				}
				walk(e, scopeOf([]byte(k)), childTop, child, stringKind(kind, true))
			}
		case []any:
			for _, e := range x {
				child := roleNone
				if role == roleBatchList {
					child = roleSub
				}
				if s, ok := e.(string); ok {
					check(list, "a list's string", s)
				}
				walk(e, scope, false, child, list)
			}
		}
	}
	walk(v, scopePlain, true, roleRoot, credentialValue)
}

// checkBatchHeaders calls check with every string in a $batch answer's
// sub-response headers object or list (members named in any case), down
// to the depth the rewriter tracks.
func checkBatchHeaders(t *testing.T, v any, check func(string)) {
	root, _ := v.(map[string]any)
	for k, list := range root {
		subs, _ := list.([]any)
		if !strings.EqualFold(k, "responses") {
			continue
		}
		for _, s := range subs {
			sub, _ := s.(map[string]any)
			for hk, h := range sub {
				if _, str := h.(string); !str && strings.EqualFold(hk, "headers") {
					eachString(h, 4, check)
				}
			}
		}
	}
}

// eachString calls f with every string in v, a value inside a container
// at depth; containers below maxDepth are not looked in.
func eachString(v any, depth int, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for _, e := range x {
			if depth < maxDepth {
				eachString(e, depth+1, f)
			}
		}
	case []any:
		for _, e := range x {
			if depth < maxDepth {
				eachString(e, depth+1, f)
			}
		}
	}
}

func checkNoGraphLinks(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "@odata.nextLink" || k == "@odata.deltaLink") {
				if _, graph := NewLinkRewriter(testGraph, testPublic).URL(s); graph && len(s) <= maxLinkBytes/6 {
					t.Fatalf("link %q still points at Graph", s)
				}
			}
			checkNoGraphLinks(t, e)
		}
	case []any:
		for _, e := range x {
			checkNoGraphLinks(t, e)
		}
	}
}

func BenchmarkLinkRewriter(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[`)
	for i := 0; i < 50; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"id":"10000000-0000-4000-8000-000000000000","displayName":"Adele Vance","userPrincipalName":"adele.vance0@contoso.example"}`)
	}
	buf.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=50&$skiptoken=c2tpcDoxMA%3D%3D"}`)
	in := buf.Bytes()
	l := NewLinkRewriter(testGraph, testPublic)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		body := l.Body(io.NopCloser(bytes.NewReader(in)))
		io.Copy(io.Discard, body)
		body.Close()
	}
}

// mayRewriteReference is mayRewrite written plainly, to hold it to: the
// body folded to lower case, searched for each name ending before a quote.
func mayRewriteReference(body []byte, withhold bool) bool {
	if bytes.Contains(body, []byte(`\u`)) {
		return true
	}
	// lowered: ASCII case folded, byte for byte (bytes.Map would turn
	// bytes that are not UTF-8 into three); folded: names' endings read
	// with the four letters readers fold to ASCII ones as those.
	lowered := bytes.Clone(body)
	for i, c := range lowered {
		if 'A' <= c && c <= 'Z' {
			lowered[i] = c + 'a' - 'A'
		}
	}
	folded := lowered
	for from, to := range map[string]string{"\u212a": "k", "\u017f": "s", "\u0130": "i", "\u0131": "i"} {
		folded = bytes.ReplaceAll(folded, []byte(from), []byte(to))
	}
	ends := []string{"link", headersKey}
	if withhold {
		ends = append(ends, "url", "uri", "urls", "uris", "links", "postparameters", "webhtml")
	}
	for _, e := range ends {
		if bytes.Contains(folded, []byte(e+`"`)) {
			return true
		}
	}
	if !withhold {
		return false
	}
	if valueString.Match(folded) || bodyString.Match(folded) || bytes.IndexByte(body, 0) >= 0 || bytes.Contains(body, []byte(`\/`)) || bytes.Contains(body, []byte(`\\`)) ||
		userinfo.Match(body) {
		return true
	}
	// After every '?' and '#', to the string's end: a parameter named as
	// a credential, or one with an escape.
	for _, m := range queryTail.FindAllSubmatch(lowered, -1) {
		if bytes.ContainsRune(m[1], '\\') {
			return true
		}
		for _, p := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r <= ' ' || strings.ContainsRune("?#&;", r) }) {
			name, _, _ := strings.Cut(p, "=")
			if strings.ContainsAny(name, `\%`) || strings.ContainsFunc(name, func(r rune) bool { return r >= utf8.RuneSelf }) || credentialParam([]byte(name), len(name) > 64) {
				return true
			}
		}
	}
	return false
}

var (
	valueString = regexp.MustCompile(`value"[ \t\r\n]*:[ \t\r\n]*"`)
	bodyString  = regexp.MustCompile(`body"[ \t\r\n]*:[ \t\r\n]*"`)
	userinfo    = regexp.MustCompile(`[/\\][^" ?#@/\\]*@`)
	queryTail   = regexp.MustCompile(`[?#]([^"]*)`)
)

// BenchmarkMayRewrite is the check every small JSON answer gets: a
// getSchedule answer without links, mailbox addresses and all.
func BenchmarkMayRewrite(b *testing.B) {
	body := []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)","value":[` +
		strings.Repeat(`{"scheduleId":"adelev@contoso.example","availabilityView":"000220000000000000000000","scheduleItems":[{"isPrivate":false,"status":"busy","subject":"Quarterly planning","location":"Conference room 4","start":{"dateTime":"2026-12-01T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"}}]},`, 3) +
		`{}]}`)
	l := NewLinkRewriter(testGraph, testPublic)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if l.mayRewrite(body, true) {
			b.Fatal("no links here")
		}
	}
}

// TestLinkRewriterMalformed: while external links are withheld, an answer
// that breaks JSON's grammar where keys and values are told apart is
// refused at that byte, and nothing after it goes out; one that ends
// before its value does is refused at its end (cut, never taken for the
// whole); valid JSON of every shape passes.
func TestLinkRewriterMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		refused  bool
	}{
		{name: "key without its colon", in: `{"uploadUrl" "https://e.example/x"}`, refused: true},
		{name: "value where a comma belongs", in: `{"a":"x" "uploadUrl":"https://e.example/x"}`, refused: true},
		{name: "two literals", in: `{"a":1 2,"uploadUrl":"https://e.example/x"}`, refused: true},
		{name: "colon in an array", in: `["uploadUrl":"https://e.example/x"]`, refused: true},
		{name: "object closed as an array", in: `{"a":1]`, refused: true},
		{name: "key where a value belongs", in: `{"a":{"b"},"uploadUrl":"https://e.example/x"}`, refused: true},
		{name: "second value after the answer", in: `{} {"uploadUrl":"https://e.example/x"}`, refused: true},
		{name: "cut inside a string", in: `{"id":"1","source":"https://e.example/x?si`, refused: true},
		{name: "cut inside an object", in: `{"id":"1","thumbnail":{"href":"/x"}`, refused: true},
		{name: "cut after a key", in: `{"a":"x","b"`, refused: true},
		{name: "cut inside a top-level string", in: `"https://e.example/x`, refused: true},
		{name: "nothing at all", in: ` `},
		{name: "nested containers and literals", in: `{"a":[1,-2.5e3,true,false,null,"s",{},[]],"b":{"c":{"d":[]}}}`},
		{name: "top-level array", in: `[{"uploadUrl":"https://e.example/x"},"y"]`},
		{name: "top-level string", in: `"https://e.example/x"`},
		{name: "whitespace everywhere", in: " {\n\t\"a\" :\r [ 1 , 2 ] } "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{0, 1, 3} {
				out, _, err := rewritten(tt.in, size, true)
				if tt.refused != errors.Is(err, errAnswerMalformed) {
					t.Fatalf("read size %d: error %v; want refused %v", size, err, tt.refused)
				}
				if tt.refused && strings.Contains(out, "e.example") {
					t.Errorf("read size %d: %q went out", size, out)
				}
			}
		})
	}
}

// BenchmarkHeaderURLs is the check every answer's headers get: those a
// Graph answer carries without a link.
func BenchmarkHeaderURLs(b *testing.B) {
	values := [][]byte{[]byte("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
		[]byte("0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d"), []byte("Sat, 05 Dec 2026 20:25:16 GMT"), []byte("1234"),
		[]byte(`{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"002","RoleInstance":"AM2PEPF0001B1C2"}}`),
		[]byte("max-age=31536000"), []byte("4.0"), []byte("private")}
	l := NewLinkRewriter(testGraph, testPublic)
	var buf [256]byte
	for b.Loop() {
		for _, v := range values {
			if _, u := l.headerURLs(buf[:0], v, plainChars, true); u.url() {
				b.Fatalf("%s: no URL here", v)
			}
		}
	}
}
