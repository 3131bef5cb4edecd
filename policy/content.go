package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Content rules: file content moved through the proxy (docs/policy.md,
// "File content"). A rule with a content section serves …/content (and
// …/$value) with GET or PUT, or …/createUploadSession with POST; the
// proxy then follows Graph's download redirect itself, streams uploads to
// Graph unread, and relays upload sessions through links of its own.
// Without one, those calls go as any other: the pre-authenticated URLs in
// their answers are withheld unless externalLinks.

// yamlContent is a rule's content section as written.
type yamlContent struct {
	MaxBytes int64 `yaml:"maxBytes"`
}

// Content is a rule's content section.
type Content struct {
	// MaxBytes bounds one file the rule moves: a download's length, a
	// simple upload's body, an upload session's total. Larger is refused
	// (413 for an upload, 403 for a download) before a byte of it moves,
	// or, where the length was not said, cut where it passes the bound.
	MaxBytes int64
}

// MaxContentBytes is the largest maxBytes: Graph's largest file (250 GB).
const MaxContentBytes = 250 << 30

// contentTails are the last segments a content rule's path may end with,
// and the methods each takes.
var contentTails = map[string][]string{
	"content":             {"GET", "PUT"},
	"$value":              {"GET", "PUT"},
	"createuploadsession": {"POST"},
}

// compileContent reads the rules' content sections and checks each rule
// can be one.
func (l *policyLoader) compileContent(f *fileSchema, p *Policy) {
	for i, yr := range f.Rules {
		if yr.Content == nil {
			continue
		}
		r := ruleByID(p.rules, yr.ID)
		if r == nil {
			continue
		}
		name := fmt.Sprintf("rule %q", r.id)
		line := l.lineOf("rules", i, "content")
		parts := r.tmpl.parts
		var tail string
		if n := len(parts); n > 0 && parts[n-1].kind == literal {
			tail = strings.ToLower(parts[n-1].lit)
		}
		allowed, ok := contentTails[tail]
		switch {
		case !ok:
			l.add(line, name, "content applies to paths ending in /content, /$value or /createUploadSession, not %s", r.tmpl.text)
			continue
		case slices.ContainsFunc(r.methods, func(m string) bool { return !slices.Contains(allowed, m) }):
			l.add(line, name, "content on …/%s takes method %s only", parts[len(parts)-1].lit, strings.Join(allowed, " or "))
			continue
		case yr.Content.MaxBytes <= 0 || yr.Content.MaxBytes > MaxContentBytes:
			l.add(l.lineOf("rules", i, "content", "maxBytes"), name, "content.maxBytes must be between 1 and %d (Graph's largest file), e.g. maxBytes: 104857600 for 100 MiB", int64(MaxContentBytes))
			continue
		case r.response != nil || yr.Response != nil || len(yr.Select) > 0:
			l.add(line, name, "a content rule moves file bytes, which a response section or select cannot filter; remove one of them")
			continue
		}
		r.content = &Content{MaxBytes: yr.Content.MaxBytes}
	}
}

// StreamsBody reports whether the routed request's body is file content
// the proxy streams to Graph unread: a PUT under a content rule. Its
// decision then needs no body (DecideStream).
func (rt *Routed) StreamsBody() bool {
	return !rt.denied && rt.rule != nil && rt.rule.content != nil && rt.req.Method == "PUT"
}

// DecideStream decides a request whose body streams (StreamsBody) on all
// but its body: the rule, the query, the targets, and the Content-Type,
// which must be one well-formed media type (written out again for Graph,
// as for any file content). The body is file bytes, never read.
func (rt *Routed) DecideStream(contentType string) Decision {
	d := rt.Decide("", nil)
	if !d.Forwarded() {
		return d
	}
	ct, _, reason := decideMediaType(contentType, mediaStream)
	if reason != "" {
		if d.Result == Allow {
			d.Refuse(reason)
			d.Refusal = RefusalMediaType
		}
		return d
	}
	d.ContentType = ct
	return d
}
