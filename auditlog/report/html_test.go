package report

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/graph-proxy/graph-proxy/auditlog"
)

// hostile are strings a record could carry to attack the page: markup,
// attribute and style break-outs, a bidi override.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(2)>`,
	`'/><svg onload=alert(3)>`,
	`</title><script>alert(4)</script>`,
	`</style><link rel=stylesheet href=https://evil.example/x.css>`,
	`javascript:alert(5)`,
	"rev7-\u202egnp.exe",
}

// hostileRecords are the fixture's records with every string field a page
// shows set to one of the hostile strings.
func hostileRecords(t *testing.T, dir string) ([]string, time.Time) {
	t.Helper()
	h := func(i int) string { return hostile[i%len(hostile)] }
	var recs []*auditlog.Record
	recs = append(recs, &auditlog.Record{Time: at(0), Kind: "genesis", ProxyVersion: h(0), PolicyDigest: h(1)})
	for i := range 14 {
		recs = append(recs, &auditlog.Record{Time: at(time.Duration(i+1) * time.Minute), RequestID: h(i), ClientRequestID: h(i + 1),
			Caller: auditlog.Caller{Name: h(i), AppID: h(i + 1), TenantID: h(i + 2), Auth: h(i + 3), IP: h(i + 4)},
			Method: h(i + 5), Version: "v1.0", Path: "/users/" + h(i), Route: h(i + 1), Target: h(i + 2), Targets: []string{h(i + 2), h(i + 3)},
			Rule: h(i + 3), Permission: h(i + 4), Decision: []string{allow, deny, report, h(i)}[i%4], Reason: h(i + 5),
			Batch: &auditlog.Batch{RequestID: h(i), ID: h(i + 1)}, Status: 200, UpstreamStatus: 200, UpstreamMs: 10, Error: h(i + 6)})
	}
	recs = append(recs,
		&auditlog.Record{Time: at(20 * time.Minute), Kind: "policy", PolicyDigest: h(2), Decision: "rejected", Error: h(3)},
		&auditlog.Record{Time: at(21 * time.Minute), Kind: "connection", Caller: auditlog.Caller{IP: h(4)}, Decision: deny, Reason: h(5), Error: h(6)},
		&auditlog.Record{Time: at(22 * time.Minute), Kind: h(0)})
	// A file named to attack the page too, and a line that is not JSON.
	data := append(seal(t, h(6), recs, at(time.Hour)), h(0)+"\n"...)
	return []string{writeFile(t, dir, `<b>x.jsonl`, data)}, at(time.Hour)
}

// allowedTags are the only elements the page may have: any other one
// came from a record.
var allowedTags = map[string]bool{
	"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "header": true, "section": true,
	"nav": true, "div": true, "p": true, "span": true, "strong": true, "em": true, "code": true, "ol": true, "ul": true, "li": true,
	"a": true, "h1": true, "h2": true, "h3": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true,
	"br": true, "figure": true, "figcaption": true, "svg": true, "line": true, "text": true, "rect": true, "details": true,
	"summary": true, "footer": true,
}

func renderHostile(t *testing.T) (string, *html.Node) {
	t.Helper()
	dir := t.TempDir()
	paths, _ := hostileRecords(t, dir)
	recs, ver, err := Load(paths, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Build(recs, ver, Options{Title: hostile[0], Generator: hostile[1]}).WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), doc
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

// TestWriteHTMLEscapes renders records whose every string is hostile and
// parses the page as a browser does: no element, attribute or style from
// a record, and each hostile string shown as text.
func TestWriteHTMLEscapes(t *testing.T) {
	page, doc := renderHostile(t)
	var texts strings.Builder
	styles := 0
	walk(doc, func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			texts.WriteString(n.Data)
			texts.WriteByte('\n')
		case html.ElementNode:
			if !allowedTags[n.Data] {
				t.Errorf("element <%s> in the page", n.Data)
			}
			if n.Data == "style" {
				styles++
				if n.FirstChild == nil || strings.Contains(n.FirstChild.Data, "evil") || strings.Contains(n.FirstChild.Data, "alert") {
					t.Errorf("the style element holds a record's text")
				}
			}
			for _, a := range n.Attr {
				switch {
				case strings.HasPrefix(a.Key, "on"), a.Key == "src", a.Key == "style", a.Key == "srcdoc", a.Key == "xlink:href":
					t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
				case a.Key == "href" && !strings.HasPrefix(a.Val, "#"):
					t.Errorf("<%s href=%q>: a link out of the page", n.Data, a.Val)
				case strings.Contains(a.Val, "alert") || strings.Contains(a.Val, "evil"):
					t.Errorf("<%s %s=%q>: a record's text in an attribute", n.Data, a.Key, a.Val)
				}
			}
		}
	})
	if styles != 1 {
		t.Errorf("%d style elements; want the page's own", styles)
	}
	shown := texts.String()
	for _, h := range hostile {
		if want := string(clean(h)); !strings.Contains(shown, want) {
			t.Errorf("%q is not shown as text", want)
		}
	}
	if strings.ContainsRune(page, '\u202e') {
		t.Error("the page holds a bidi override")
	}
	if !strings.Contains(shown, `rev7-\u202egnp.exe`) {
		t.Error("the bidi override is not shown as \\u202e")
	}
}

// TestWriteHTMLSelfContained checks the page loads nothing: a strict
// Content-Security-Policy, no element that fetches, no URL in its style.
func TestWriteHTMLSelfContained(t *testing.T) {
	page, doc := renderHostile(t)
	csp := ""
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignObject", "base", "form":
			t.Errorf("<%s> in the page", n.Data)
		case "meta":
			var equiv, content string
			for _, a := range n.Attr {
				switch a.Key {
				case "http-equiv":
					equiv = a.Val
				case "content":
					content = a.Val
				}
			}
			if equiv == "Content-Security-Policy" {
				csp = content
			}
		}
	})
	if csp != "default-src 'none'; style-src 'unsafe-inline'" {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, s := range []string{"url(", "@import", "http://", "https://evil", "<script"} {
		if strings.Contains(strings.ToLower(pageHTML), s) {
			t.Errorf("the template holds %q", s)
		}
		if s == "<script" && strings.Contains(strings.ToLower(page), s) {
			t.Errorf("the page holds %q", s)
		}
	}
}

// TestWriteHTMLDeterministic renders the same records in two orders, and
// without a generation time: the same bytes.
func TestWriteHTMLDeterministic(t *testing.T) {
	recs, ver, err := Load(fixtureFiles(t, t.TempDir()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	render := func(recs []auditlog.Record, opts Options) string {
		var out bytes.Buffer
		if err := Build(recs, ver, opts).WriteHTML(&out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	want := render(recs, Options{})
	shuffled := slices.Clone(recs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := render(shuffled, Options{}); got != want {
		t.Error("the page depends on the records' order")
	}
	if strings.Contains(want, "Made by") || strings.Contains(want, " at 20") {
		t.Error("a page without GeneratedAt names a time it was made")
	}
	stamped := render(recs, Options{GeneratedAt: time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600)), Generator: "graph-proxy v1.4.0"})
	if !strings.Contains(stamped, "Made by graph-proxy v1.4.0 at 2026-12-01 08:30:00Z") {
		t.Error("GeneratedAt is not shown, in UTC")
	}
}

// TestWriteHTMLBrokenChain checks a page over a broken chain says so
// before anything else.
func TestWriteHTMLBrokenChain(t *testing.T) {
	files := fixtureFiles(t, t.TempDir())
	data, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(data, []byte(`"name":"crm"`), []byte(`"name":"crn"`), 1), 0o600)
	recs, ver, err := Load(files, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Build(recs, ver, Options{}).WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	banner := strings.Index(page, "THE AUDIT CHAIN IS NOT INTACT")
	if banner < 0 || banner > strings.Index(page, `<section id="chains">`) || !strings.Contains(page, `class="verdict bad"`) {
		t.Fatal("the page does not say the chain is broken at its top")
	}
	if !strings.Contains(page[banner:], "the record was altered") {
		t.Error("the banner does not name the problem")
	}
	if strings.Contains(page, "Chains verified:") {
		t.Error("a broken chain's page says chains verified")
	}
}

// TestWriteHTMLNotVerified checks records given without a verification
// (the zero Verification) are not shown as verified.
func TestWriteHTMLNotVerified(t *testing.T) {
	r1, _ := fixture()
	var recs []auditlog.Record
	for _, r := range r1 {
		recs = append(recs, *r)
	}
	var out bytes.Buffer
	if err := Build(recs, Verification{}, Options{}).WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "THE RECORDS WERE NOT VERIFIED") {
		t.Error("unverified records are not said so")
	}
}

// TestWriteHTMLEmpty renders no records at all.
func TestWriteHTMLEmpty(t *testing.T) {
	var out bytes.Buffer
	if err := Build(nil, Verification{}, Options{}).WriteHTML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No calls in the input.") {
		t.Error("an empty page does not say there are no calls")
	}
}
