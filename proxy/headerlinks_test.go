package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// spURL is a pre-authenticated SharePoint download URL, as Graph sends
// in the Location of a content call's 302.
const spURL = "https://contoso.sharepoint.com/sites/s/_layouts/15/download.aspx?UniqueId=1&tempauth=eyJ0eXAi"

// rewritten runs the link rewriter over in, read size bytes at a time (0:
// whole), and returns its output, the links it withheld and its error.
func rewritten(in string, size int, withhold bool) (string, int, error) {
	l := NewLinkRewriter(testGraph, testPublic)
	var src io.Reader = strings.NewReader(in)
	if size > 0 {
		src = &chunkReader{r: src, n: size}
	}
	body := l.body(io.NopCloser(src), withhold)
	defer body.Close()
	out, err := io.ReadAll(body)
	return string(out), body.withheld, err
}

// wholeAnswer is what answer does with a small JSON answer read whole:
// rewritten only when mayRewrite finds a key to look at.
func wholeAnswer(in string, withhold bool) (string, int, error) {
	if !NewLinkRewriter(testGraph, testPublic).mayRewrite([]byte(in), withhold) {
		return in, 0, nil
	}
	return rewritten(in, 0, withhold)
}

// filtered runs the response filter over in as the proxy plugs it in:
// no section of its own, a $batch answer when batch. Read whole and a
// byte at a time, the two must agree.
func filtered(in string, batch, withhold bool) (string, response.Counts, error) {
	o := response.Options{Status: 200, Links: NewLinkRewriter(testGraph, testPublic).FilterLinks(withhold)}
	if batch {
		o.Batch = map[string]*policy.Response{"1": nil}
	}
	run := func(r io.Reader) (string, response.Counts, error) {
		f := response.New(io.NopCloser(r), o)
		defer f.Close()
		out, err := io.ReadAll(f)
		return string(out), f.Counts(), err
	}
	out, counts, err := run(strings.NewReader(in))
	out1, counts1, err1 := run(iotest.OneByteReader(strings.NewReader(in)))
	if out != out1 || counts != counts1 || (err == nil) != (err1 == nil) {
		return out, counts, fmt.Errorf("read whole and byte by byte differ:\n%.300s %+v %v\n%.300s %+v %v", out, counts, err, out1, counts1, err1)
	}
	return out, counts, err
}

func sub(status, headers string) string {
	return `{"responses":[{"id":"1","status":` + status + `,"headers":` + headers + `}]}`
}

// TestHeaderLinks holds the three ways an answer's links are checked —
// streamed, read whole, filtered — to one rule for $batch sub-response
// headers: a value at Graph moved to the proxy, a URL of another host
// withheld unless external links are allowed, anything else kept.
func TestHeaderLinks(t *testing.T) {
	long := strings.Repeat("x", maxLinkBytes+10)
	tests := []struct {
		name     string
		in       string
		external bool // the policy allows external links
		notBatch bool // filtered as an answer of its own, not a $batch
		want     string
		withheld int
		// filterDrops: the filter removes the member (a name it does
		// not read) rather than withholding the value.
		filterDrops bool
		gone        []string // in no output
		kept        []string // in every output
	}{
		{
			name:     "Location at Graph rewritten",
			in:       sub("201", `{"Location":"https://graph.microsoft.com/v1.0/users('a')/events('b')","Content-Type":"application/json"}`),
			want:     sub("201", `{"Location":"https://gp.contoso.example/v1.0/users('a')/events('b')","Content-Type":"application/json"}`),
			withheld: 0,
			kept:     []string{`"Location":"https://gp.contoso.example/v1.0/users('a')/events('b')"`},
		},
		{
			name:     "Location elsewhere withheld",
			in:       sub("302", `{"Location":"`+spURL+`"}`),
			want:     sub("302", `{"Location":""}`),
			withheld: 1,
			gone:     []string{"sharepoint", "tempauth"},
		},
		{
			name:     "Location elsewhere kept under externalLinks",
			in:       sub("302", `{"Location":"`+spURL+`"}`),
			external: true,
			want:     sub("302", `{"Location":"`+spURL+`"}`),
			kept:     []string{spURL},
		},
		{
			name:     "Location at Graph rewritten under externalLinks",
			in:       sub("202", `{"Location":"https://graph.microsoft.com/v1.0/x"}`),
			external: true,
			want:     sub("202", `{"Location":"https://gp.contoso.example/v1.0/x"}`),
			kept:     []string{"https://gp.contoso.example/v1.0/x"},
		},
		{
			name:     "names in any case",
			in:       sub("302", `{"location":"`+spURL+`","LOCATION":"`+spURL+`","LoCaTiOn":"https://graph.microsoft.com/v1.0/y"}`),
			want:     sub("302", `{"location":"","LOCATION":"","LoCaTiOn":"https://gp.contoso.example/v1.0/y"}`),
			withheld: 2,
			gone:     []string{"tempauth"},
		},
		{
			name:     "names and values spelled with escapes",
			in:       sub("302", `{"L\u006fcation":"https:\/\/contoso.sharepoint.com\/x?tempauth=1","Location":"\u0068ttps://contoso.sharepoint.com/x?tempauth=2","Loc\u0061tion":"https:\/\/graph.microsoft.com\/v1.0\/z"}`),
			want:     sub("302", `{"L\u006fcation":"","Location":"","Loc\u0061tion":"https://gp.contoso.example\/v1.0\/z"}`),
			withheld: 2,
			gone:     []string{"sharepoint", "tempauth"},
		},
		{
			name:     "headers member spelled with escapes",
			in:       `{"responses":[{"id":"1","status":302,"h\u0065aders":{"Location":"` + spURL + `"}}]}`,
			want:     `{"responses":[{"id":"1","status":302,"h\u0065aders":{"Location":""}}]}`,
			withheld: 1,
			gone:     []string{"tempauth"},
		},
		{
			name:        "responses and headers members in other case",
			in:          `{"Responses":[{"id":"1","status":302,"Headers":{"Location":"` + spURL + `"}}]}`,
			want:        `{"Responses":[{"id":"1","status":302,"Headers":{"Location":""}}]}`,
			withheld:    1,
			filterDrops: true,
			gone:        []string{"tempauth"},
		},
		{
			name: "every header value examined, only URLs withheld",
			in: sub("201", `{"Content-Location":"https://e.example/x","X-Link":["https://e.example/a","/rel"],"X-Nested":{"u":"https://e.example/b"},`+
				`"Content-Type":"application/json;odata.metadata=minimal","Date":"Thu, 04 Dec 2026 00:00:00 GMT","ETag":"W/\"abc\"","Retry-After":"10",`+
				`"x-ms-ags-diagnostic":"{\"ServerInfo\":{\"DataCenter\":\"West Europe\"}}","n":5,"b":true,"z":null}`),
			want: sub("201", `{"Content-Location":"","X-Link":["","/rel"],"X-Nested":{"u":""},`+
				`"Content-Type":"application/json;odata.metadata=minimal","Date":"Thu, 04 Dec 2026 00:00:00 GMT","ETag":"W/\"abc\"","Retry-After":"10",`+
				`"x-ms-ags-diagnostic":"{\"ServerInfo\":{\"DataCenter\":\"West Europe\"}}","n":5,"b":true,"z":null}`),
			withheld: 3,
			gone:     []string{"e.example"},
			kept:     []string{`"/rel"`, `"Date":"Thu, 04 Dec 2026 00:00:00 GMT"`, `"x-ms-ags-diagnostic":"{\"ServerInfo\"`},
		},
		{
			name: "relative kept; scheme-relative, odd spellings and look-alike hosts withheld",
			in: sub("302", `{"a":"/v1.0/users/x","b":"//evil.example/x","c":"\\\\evil.example\\x","d":" https://evil.example/","e":"\nhttps://evil.example/",`+
				`"f":"ht\ttps://evil.example/","g":"javascript:alert(1)","h":"/\\evil.example/","i":"https://graph.microsoft.com.evil.example/x",`+
				`"j":"https://graph.microsoft.com@evil.example/","k":"HTTPS:evil.example"}`),
			want: sub("302", `{"a":"/v1.0/users/x","b":"","c":"","d":"","e":"",`+
				`"f":"","g":"","h":"","i":"",`+
				`"j":"","k":""}`),
			withheld: 10,
			gone:     []string{"evil", "javascript"},
			kept:     []string{`"a":"/v1.0/users/x"`},
		},
		{
			// The rest of a value too long to hold may hold a URL.
			name:     "long values withheld, relative ones too",
			in:       sub("302", `{"Location":"https://e.example/`+long+`","G":"https://graph.microsoft.com/v1.0/`+long+`","R":"/v1.0/`+long+`","S":"short"}`),
			want:     sub("302", `{"Location":"","G":"","R":"","S":"short"}`),
			withheld: 3,
			gone:     []string{"e.example", "graph.microsoft.com", "xxx"},
			kept:     []string{`"S":"short"`},
		},
		{
			name: "URLs inside values: elsewhere withheld, at Graph moved",
			in: sub("200", `{"Link":"<`+spURL+`>; rel=\"alternate\"","Refresh":"0;url=`+spURL+`","X":" , \\\\e.example\\x",`+
				`"Next":"<https://graph.microsoft.com/v1.0/x?$skiptoken=X1>; rel=\"next\"","Kept":"</v1.0/drive/root:/a.docx:>; rel=\"self\""}`),
			want: sub("200", `{"Link":"","Refresh":"","X":"",`+
				`"Next":"<https://gp.contoso.example/v1.0/x?$skiptoken=X1>; rel=\"next\"","Kept":"</v1.0/drive/root:/a.docx:>; rel=\"self\""}`),
			withheld: 3,
			gone:     []string{"tempauth", "e.example", "graph.microsoft.com"},
			kept:     []string{`root:/a.docx:`},
		},
		{
			name:     "an event's location objects are the event's",
			in:       `{"value":[{"subject":"s","location":{"displayName":"https://e.example/room","locationUri":"room@contoso.example"},"locations":[{"displayName":"https://e.example/"}]}]}`,
			notBatch: true,
			want:     `{"value":[{"subject":"s","location":{"displayName":"https://e.example/room","locationUri":"room@contoso.example"},"locations":[{"displayName":"https://e.example/"}]}]}`,
			kept:     []string{`"displayName":"https://e.example/room"`},
		},
		{
			name: "headers inside a sub-response's body are the body's",
			in:   `{"responses":[{"id":"1","status":200,"body":{"location":{"displayName":"https://e.example/room"},"headers":{"Location":"https://e.example/"}}}]}`,
			want: `{"responses":[{"id":"1","status":200,"body":{"location":{"displayName":"https://e.example/room"},"headers":{"Location":"https://e.example/"}}}]}`,
			kept: []string{`"headers":{"Location":"https://e.example/"}`},
		},
		{
			name:     "headers outside a $batch answer are not headers",
			in:       `{"headers":{"Location":"https://e.example/"},"value":[{"responses":[{"headers":{"Location":"https://e.example/"}}]}]}`,
			notBatch: true,
			want:     `{"headers":{"Location":"https://e.example/"},"value":[{"responses":[{"headers":{"Location":"https://e.example/"}}]}]}`,
			kept:     []string{`"headers":{"Location":"https://e.example/"}`},
		},
		{
			name:     "long external links withheld",
			in:       `{"uploadUrl":"https://e.example/` + long + `","value":[{"@microsoft.graph.downloadUrl":"https://e.example/` + long + `"}]}`,
			notBatch: true,
			want:     `{"uploadUrl":"","value":[{"@microsoft.graph.downloadUrl":""}]}`,
			withheld: 2,
			gone:     []string{"e.example"},
		},
		{
			name:     "a thumbnail's url on the file host withheld",
			in:       `{"value":[{"id":"0","small":{"height":96,"url":"` + spURL + `","width":96},"large":{"url":"https:\/\/contoso-my.sharepoint.com\/t?tempauth=2"}}]}`,
			notBatch: true,
			want:     `{"value":[{"id":"0","small":{"height":96,"url":"","width":96},"large":{"url":""}}]}`,
			withheld: 2,
			gone:     []string{"sharepoint", "tempauth"},
		},
		{
			name:     "a url at Graph moved to the proxy, a relative one kept, names in any case",
			in:       `{"a":{"url":"https://graph.microsoft.com/v1.0/x"},"b":{"url":"/drives/x"},"c":{"url":5},"d":{"URL":"https://e.example/"}}`,
			notBatch: true,
			want:     `{"a":{"url":"https://gp.contoso.example/v1.0/x"},"b":{"url":"/drives/x"},"c":{"url":5},"d":{"URL":""}}`,
			withheld: 1,
			kept:     []string{`"url":"/drives/x"`},
		},
		{
			name:     "an export's downloadUrl in storage withheld",
			in:       `{"id":"e","downloadUrl":"https://storage.example/export.zip?sig=abc"}`,
			notBatch: true,
			want:     `{"id":"e","downloadUrl":""}`,
			withheld: 1,
			gone:     []string{"sig=abc"},
		},
		{
			name:     "a thumbnail's url with external links allowed",
			in:       `{"value":[{"small":{"url":"` + spURL + `"}}]}`,
			external: true,
			notBatch: true,
			want:     `{"value":[{"small":{"url":"` + spURL + `"}}]}`,
			kept:     []string{"tempauth"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withhold := !tt.external
			check := func(path, out string) {
				t.Helper()
				for _, s := range tt.gone {
					if strings.Contains(out, s) {
						t.Errorf("%s: output has %q: %.300s", path, s, out)
					}
				}
				for _, s := range tt.kept {
					if !strings.Contains(out, s) {
						t.Errorf("%s: output lacks %q: %.300s", path, s, out)
					}
				}
			}
			for _, size := range []int{0, 1, 3, 7, 4096} {
				out, n, err := rewritten(tt.in, size, withhold)
				if err != nil {
					t.Fatalf("streamed, read size %d: %v", size, err)
				}
				if out != tt.want || n != tt.withheld {
					t.Errorf("streamed, read size %d: %d withheld\ngot  %.400s\nwant %.400s; %d withheld", size, n, out, tt.want, tt.withheld)
				}
				check("streamed", out)
			}
			out, n, err := wholeAnswer(tt.in, withhold)
			if err != nil || out != tt.want || n != tt.withheld {
				t.Errorf("read whole: %v, %d withheld\ngot  %.400s\nwant %.400s; %d withheld", err, n, out, tt.want, tt.withheld)
			}
			check("read whole", out)

			out, counts, err := filtered(tt.in, !tt.notBatch, withhold)
			if err != nil {
				t.Fatalf("filtered: %v", err)
			}
			wantWithheld := tt.withheld
			if tt.filterDrops {
				wantWithheld = 0
				if counts.Removed == 0 {
					t.Errorf("filtered: nothing removed: %.300s", out)
				}
			}
			if counts.Withheld != wantWithheld {
				t.Errorf("filtered: %d withheld; want %d: %.400s", counts.Withheld, wantWithheld, out)
			}
			check("filtered", out)
		})
	}
}

// TestTooDeepWithheld: below maxDepth a key cannot be told from a value,
// so an answer nested deeper is refused while external links are
// withheld — streamed or read whole — and filtered, is unfilterable. With
// external links allowed it passes: only paging links could be missed.
func TestTooDeepWithheld(t *testing.T) {
	deep := func(levels int) string {
		return `{"a":` + strings.Repeat(`[`, levels) + `{"uploadUrl":"https://e.example/tempauth"}` + strings.Repeat(`]`, levels) + `}`
	}
	tests := []struct {
		name     string
		in       string
		withhold bool
		wantErr  bool
	}{
		{name: "as deep as tracked", in: deep(maxDepth - 2), withhold: true},
		{name: "one level deeper", in: deep(maxDepth - 1), withhold: true, wantErr: true},
		{name: "far deeper", in: deep(4 * maxDepth), withhold: true, wantErr: true},
		{name: "deeper, external links allowed", in: deep(4 * maxDepth), withhold: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{0, 1, 5} {
				out, _, err := rewritten(tt.in, size, tt.withhold)
				if tt.wantErr != (err != nil) || err != nil && !errors.Is(err, errAnswerTooDeep) {
					t.Fatalf("read size %d: error %v; want errAnswerTooDeep: %v", size, err, tt.wantErr)
				}
				if tt.withhold && strings.Contains(out, "tempauth") {
					t.Errorf("read size %d: the external link passed: %.300s", size, out)
				}
				if !tt.withhold && out != tt.in {
					t.Errorf("read size %d: changed with external links allowed", size)
				}
			}
			if _, _, err := wholeAnswer(tt.in, tt.withhold); tt.wantErr != (err != nil) {
				t.Errorf("read whole: error %v; want one: %v", err, tt.wantErr)
			}
			out, _, err := filtered(tt.in, false, tt.withhold)
			if deeper := strings.Count(tt.in, "[")+2 > response.MaxDepth; deeper != (err != nil) || strings.Contains(out, "tempauth") && tt.withhold {
				t.Errorf("filtered: error %v, output %.200s", err, out)
			}
		})
	}
}

// TestHeaderURLs: a header value is withheld when it holds a URL of
// another host anywhere a URL may begin, however spelled, and its URLs at
// Graph are moved to the proxy; a value that only looks like one in a
// word (a date, a media type, an entity tag, base64) is kept.
func TestHeaderURLs(t *testing.T) {
	tests := []struct {
		in         string
		json       bool // a JSON string's contents, escapes and all
		incomplete bool
		elsewhere  bool
		out        string // rewritten; "" when the same as in
	}{
		// at the start
		{in: "https://contoso.sharepoint.com/x", elsewhere: true},
		{in: "HTTP://x", elsewhere: true},
		{in: "//x.example/", elsewhere: true},
		{in: "\\\\x.example\\", elsewhere: true},
		{in: "/\\x.example", elsewhere: true},
		{in: " \x01https://x", elsewhere: true},
		{in: "ht\ttps://x", elsewhere: true},
		{in: "h\nt\rtps://x", elsewhere: true},
		{in: "mailto:a@b.example", elsewhere: true},
		{in: "c:\\x", elsewhere: true},
		{in: "https://graph.microsoft.com.evil.example/", elsewhere: true},
		{in: "https://graph.microsoft.com@evil.example/", elsewhere: true},
		// inside
		{in: `<https://contoso.sharepoint.com/dl?tempauth=X>; rel="alternate"`, elsewhere: true},
		{in: "0;url=https://contoso.sharepoint.com/dl", elsewhere: true},
		{in: "0; url=//evil.example/", elsewhere: true},
		{in: "</v1.0/x>; rel=next, <https://e.example/>; rel=alt", elsewhere: true},
		{in: "see\thttps://e.example", elsewhere: true},
		{in: "a:https://e.example", elsewhere: true},
		{in: "a@https://e.example", elsewhere: true},
		{in: "0;url='https://e.example'", elsewhere: true},
		{in: "x=javascript:alert(1)", elsewhere: true},
		{in: "</a>,<\\\\e.example>", elsewhere: true},
		{in: "<https://graph.microsoft.com/v1.0/x>; rel=next, <https://e.example/>", elsewhere: true,
			out: "<https://gp.contoso.example/v1.0/x>; rel=next, <https://e.example/>"},
		{in: "https://graph.microsoft.com/v1.0/x?u=https://e.example/", elsewhere: true,
			out: "https://gp.contoso.example/v1.0/x?u=https://e.example/"},
		// Graph's, moved
		{in: "https://graph.microsoft.com/v1.0/x", out: "https://gp.contoso.example/v1.0/x"},
		{in: `<https://graph.microsoft.com/v1.0/a>; rel="next", <HTTPS://Graph.Microsoft.com?b>`,
			out: `<https://gp.contoso.example/v1.0/a>; rel="next", <https://gp.contoso.example?b>`},
		// kept
		{in: ""},
		{in: "   "},
		{in: "/v1.0/users"},
		{in: "users('a')"},
		{in: "./x:y"},
		{in: "/v1.0/drives/b!x/root:/Documents/a.docx:/content"},
		{in: "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com:/sites/hr:", out: "https://gp.contoso.example/v1.0/sites/contoso.sharepoint.com:/sites/hr:"},
		{in: "https://graph.microsoft.com/v1.0/teams('1')/channels('19:a@thread.tacv2')", out: "https://gp.contoso.example/v1.0/teams('1')/channels('19:a@thread.tacv2')"},
		{in: "AAMk+a///b=="},
		{in: "1x:y"},
		{in: "Thu, 04 Dec 2026 00:00:00 GMT"},
		{in: "2026-12-04T08:12:31Z"},
		{in: "application/json;odata.metadata=minimal"},
		{in: `W/"CQAAABYAAAD+ab//cd/ef"`},
		{in: "10"},
		{in: `{"ServerInfo":{"DataCenter":"West Europe","Slice":"E"}}`},
		{in: "odata.maxpagesize=10"},
		{in: "bytes 0-99/1000"},
		// JSON escapes
		{json: true, in: `https:\/\/x`, elsewhere: true},
		{json: true, in: `\u0068ttps://x`, elsewhere: true},
		{json: true, in: `\nhttps://x`, elsewhere: true},
		{json: true, in: `\thttps://x`, elsewhere: true},
		{json: true, in: `\u0020//x`, elsewhere: true},
		{json: true, in: `\\\\x`, elsewhere: true},
		{json: true, in: `/\\x`, elsewhere: true},
		{json: true, in: `<\u0068ttps://x>`, elsewhere: true},
		{json: true, in: `0;url\u003dhttps://x`, elsewhere: true},
		{json: true, in: `\u00e9https://x`, elsewhere: true},
		{json: true, in: `\u00`, elsewhere: true}, // malformed
		{json: true, in: `\x`, elsewhere: true},
		{json: true, in: `/v1.0/x`},
		{json: true, in: `W\/\"abc\"`},
		{json: true, in: `<https:\/\/graph.microsoft.com\/v1.0\/x>`, out: `<https://gp.contoso.example\/v1.0\/x>`},
		// only the start seen: the rest may hold one
		{json: true, in: `abc`, incomplete: true, elsewhere: true},
		{json: true, in: `/v1`, incomplete: true, elsewhere: true},
	}
	l := NewLinkRewriter(testGraph, testPublic)
	for _, tt := range tests {
		in := tt.in
		dec := jsonChars
		if !tt.json {
			dec = plainChars
		}
		want := tt.out
		if want == "" {
			want = in
		}
		out, u := l.headerURLs([]byte("<"), []byte(in), dec, !tt.incomplete)
		if u.elsewhere != tt.elsewhere || string(out) != "<"+want {
			t.Errorf("headerURLs(%q, json %v) = %q, elsewhere %v; want %q, %v", in, tt.json, out[1:], u.elsewhere, want, tt.elsewhere)
		}
	}
}

// TestHeaderLinksTopLevel: the same rule on the headers of Graph's answer
// itself.
func TestHeaderLinksTopLevel(t *testing.T) {
	tests := []struct {
		name       string
		header     http.Header
		external   bool
		want       http.Header
		wantReason string
	}{
		{
			name:   "Location at Graph rewritten",
			header: http.Header{"Location": {"https://graph.microsoft.com/v1.0/users('a')"}, "Content-Type": {"application/json"}},
			want:   http.Header{"Location": {"https://gp.contoso.example/v1.0/users('a')"}, "Content-Type": {"application/json"}},
		},
		{
			name:       "Location elsewhere withheld",
			header:     http.Header{"Location": {spURL}, "Request-Id": {"r"}},
			want:       http.Header{"Request-Id": {"r"}},
			wantReason: "Location to a host other than Graph withheld",
		},
		{
			name:     "Location elsewhere kept under externalLinks",
			header:   http.Header{"Location": {spURL}},
			external: true,
			want:     http.Header{"Location": {spURL}},
		},
		{
			name:       "any header naming another host withheld",
			header:     http.Header{"Content-Location": {"//e.example/x"}, "Date": {"Thu, 04 Dec 2026 00:00:00 GMT"}, "X-Ms-Ags-Diagnostic": {`{"ServerInfo":{"DataCenter":"West Europe"}}`}},
			want:       http.Header{"Date": {"Thu, 04 Dec 2026 00:00:00 GMT"}, "X-Ms-Ags-Diagnostic": {`{"ServerInfo":{"DataCenter":"West Europe"}}`}},
			wantReason: "Content-Location to a host other than Graph withheld",
		},
		{
			name: "a URL inside a value withheld, one at Graph moved",
			header: http.Header{"Link": {`<` + spURL + `>; rel="alternate"`},
				"X-Next": {`<https://graph.microsoft.com/v1.0/x>; rel="next"`}, "Etag": {`W/"CQAAABYAAAD+ab//cd"`}},
			want:       http.Header{"X-Next": {`<https://gp.contoso.example/v1.0/x>; rel="next"`}, "Etag": {`W/"CQAAABYAAAD+ab//cd"`}},
			wantReason: "Link to a host other than Graph withheld",
		},
		{
			name:       "a URL after url= withheld",
			header:     http.Header{"Refresh": {"0;url=" + spURL}, "Date": {"Thu, 04 Dec 2026 00:00:00 GMT"}},
			want:       http.Header{"Date": {"Thu, 04 Dec 2026 00:00:00 GMT"}},
			wantReason: "Refresh to a host other than Graph withheld",
		},
		{
			name:   "a relative Location kept",
			header: http.Header{"Location": {"/v1.0/users/a"}},
			want:   http.Header{"Location": {"/v1.0/users/a"}},
		},
		{
			name:       "a Location spelled to fool a parser withheld",
			header:     http.Header{"Location": {`\\e.example/x`}},
			want:       http.Header{},
			wantReason: "Location to a host other than Graph withheld",
		},
		{
			name:       "a Location Go cannot parse withheld",
			header:     http.Header{"Location": {"a b:c/%zz"}},
			want:       http.Header{},
			wantReason: "Location to a host other than Graph withheld",
		},
	}
	h := &Handler{links: NewLinkRewriter(testGraph, testPublic)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &call{}
			c.decision.ExternalLinks = tt.external
			h.headerLinks(c, tt.header)
			if !reflect.DeepEqual(tt.header, tt.want) {
				t.Errorf("got %v; want %v", tt.header, tt.want)
			}
			if c.rec.Reason != tt.wantReason {
				t.Errorf("reason %q; want %q", c.rec.Reason, tt.wantReason)
			}
		})
	}
}

// TestMintBounded: a download URL too long to hold is withheld, never
// handed to the minting of file links, nor passed on; one that fits is
// minted, and one the minting refuses is withheld.
func TestMintBounded(t *testing.T) {
	long := "https://contoso.sharepoint.com/d?tempauth=" + strings.Repeat("x", maxLinkBytes)
	tests := []struct {
		name      string
		url       string
		refuse    bool
		want      string
		wantMints int
	}{
		{name: "minted", url: spURL, want: "https://gp.contoso.example/graph-proxy/files/tok", wantMints: 1},
		{name: "refused by the minting", url: spURL, refuse: true, want: "", wantMints: 1},
		{name: "too long to mint", url: long, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"id":"01A","@microsoft.graph.downloadUrl":"` + tt.url + `"}`
			for _, size := range []int{0, 1, 7} {
				var src io.Reader = strings.NewReader(in)
				if size > 0 {
					src = &chunkReader{r: src, n: size}
				}
				j := NewLinkRewriter(testGraph, testPublic).body(io.NopCloser(src), true)
				mints := 0
				j.mint = func(key string, raw []byte) ([]byte, bool) {
					mints++
					return []byte("https://gp.contoso.example/graph-proxy/files/tok"), !tt.refuse
				}
				out, err := io.ReadAll(j)
				j.Close()
				want := `{"id":"01A","@microsoft.graph.downloadUrl":"` + tt.want + `"}`
				if err != nil || string(out) != want || mints != tt.wantMints {
					t.Errorf("read size %d: %v, %d mint(s)\ngot  %.200s\nwant %.200s", size, err, mints, out, want)
				}
			}
		})
	}
}

// referenceHeaderURLs is headerURLs as first written: every character
// read, and urlStart asked at every word start. headerURLs now passes
// over word starts that cannot begin a URL and over what urlStart has
// already read; FuzzHeaderURLs holds it to this.
func referenceHeaderURLs(l *LinkRewriter, dst, raw []byte, dec decoder, complete bool) ([]byte, valueURLs) {
	var u valueURLs
	copied, inWord, first := 0, false, true
	inGraph, inQuery := false, false
	for i := 0; i < len(raw); {
		r, n := dec.next(raw[i:])
		if n == 0 {
			u.elsewhere = true
			break
		}
		if r == '\t' || r == '\n' || r == '\r' {
			i += n
			continue
		}
		if first && r > ' ' {
			first = false
			u.path = r == '/' || r == '\\'
		}
		if r <= ' ' || strings.ContainsRune(`"<>`, r) {
			inGraph, inQuery = false, false
		} else if strings.ContainsRune("?#", r) && !inGraph && !inQuery {
			inQuery = true
			if referenceQueryCredential(raw[i+n:], dec) {
				u.elsewhere = true
			}
		}
		if r > ' ' && !inWord {
			if split, ok := l.prefix(raw[i:], dec); ok {
				u.graph = true
				dst = append(append(dst, raw[copied:i]...), l.to...)
				i += split
				copied = i
				inWord = true
				inGraph = true
				continue
			}
			var s urlStart
			for j := i; j < len(raw); {
				r, n := dec.next(raw[j:])
				if n == 0 {
					u.elsewhere = true
					break
				}
				j += n
				if done, abs := s.step(r); done {
					u.elsewhere = u.elsewhere || abs
					break
				}
			}
		}
		inWord = isSchemeChar(r) || r == '/'
		i += n
	}
	if !complete {
		u.elsewhere = true
	}
	return append(dst, raw[copied:]...), u
}

// referenceQueryCredential is queryCredential read whole: the URL's rest
// decoded, cut at its end, split into parameters, each name (before its
// '=', percent-decoded) asked of credentialParam.
func referenceQueryCredential(raw []byte, dec decoder) bool {
	var rest []rune
	for i := 0; i < len(raw); {
		r, n := dec.next(raw[i:])
		if n == 0 {
			break
		}
		i += n
		rest = append(rest, r)
	}
	q := string(rest)
	if end := strings.IndexFunc(q, func(r rune) bool {
		return r <= ' ' && !strings.ContainsRune("\t\n\r", r) || strings.ContainsRune(`"<>`, r)
	}); end >= 0 {
		q = q[:end]
	}
	for _, p := range strings.FieldsFunc(q, func(r rune) bool { return strings.ContainsRune("?#&;", r) }) {
		name, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		var b []byte
		rs := []rune(name)
		for k := 0; k < len(rs); k++ {
			if strings.ContainsRune("\t\n\r", rs[k]) {
				continue // skipped, as browsers skip them
			}
			c := byte(rs[k])
			if f, ok := asciiFold(rs[k]); ok {
				c = f
			}
			if rs[k] == '%' && k+2 < len(rs) && isHex(rs[k+1]) && isHex(rs[k+2]) {
				v, _ := strconv.ParseUint(string(rs[k+1:k+3]), 16, 8)
				c, k = byte(v), k+2
			}
			b = append(b, lower(c))
		}
		for from, to := range map[string]string{"\u212a": "k", "\u017f": "s", "\u0130": "i", "\u0131": "i"} {
			b = bytes.ReplaceAll(b, []byte(from), []byte(to))
		}
		if len(b) > 0 && b[0] == '$' {
			continue
		}
		if credentialParam(b[:min(len(b), 64)], len(b) > 64) {
			return true
		}
	}
	return false
}

func isHex(r rune) bool { return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F' }

// FuzzHeaderURLs: headerURLs reads every value, raw or JSON-escaped,
// complete or cut, as the reference does: the same output and verdicts.
func FuzzHeaderURLs(f *testing.F) {
	for _, s := range []string{"https://graph.microsoft.com/v1.0/me", `\https:x`, `\\evil.example/a`, "Sat, 05 Dec 2026 20:25:16 GMT",
		"</v1.0/users?$skiptoken=x>; rel=\"next\"", "0;url=https://evil.example", `W/"x" root:/a.docx:`, "a\tb:c", `\/\/evil`, `\u0068ttps:x`,
		"HTTPS://GRAPH.MICROSOFT.COM:443/x", "javascript:alert(1)", "x=/\t/evil", "application/json;odata.metadata=minimal",
		"/_layouts/15/download.aspx?UniqueId=1&tempauth=x", "contoso.sharepoint.com/d?%74empauth=x", "<https://graph.microsoft.com/v1.0/d?token=x>, </d?sig=y>",
		"/v1.0/users?$skiptoken=x&%2", "?a=1;b#x-amz-signature=2", "/d?ſig=x"} {
		f.Add(s, false, true)
		f.Add(s, true, true)
		f.Add(s, false, false)
	}
	l := NewLinkRewriter(testGraph, testPublic)
	f.Fuzz(func(t *testing.T, v string, json, complete bool) {
		dec := plainChars
		if json {
			dec = jsonChars
		}
		got, gu := l.headerURLs([]byte("<"), []byte(v), dec, complete)
		want, wu := referenceHeaderURLs(l, []byte("<"), []byte(v), dec, complete)
		if string(got) != string(want) || gu != wu {
			t.Fatalf("%q (json %v, complete %v): got %q %+v, want %q %+v", v, json, complete, got, gu, want, wu)
		}
	})
}
