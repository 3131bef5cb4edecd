package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
)

// Response minimisation (issue 21): a rule's response section says which
// properties of Graph's answers to its calls reach the caller. The allow-
// list of calls decides what a vendor may ask; this decides what it gets
// back, whatever Graph adds by default or ignores of a $select.
//
// Paths are property names joined by dots (start.dateTime,
// attendees.emailAddress.address), matched without case. A list on the way
// is transparent: attendees.emailAddress is every attendee's. At the top of
// an answer, a "value" list is the collection: paths apply to each of its
// elements, so one section serves an entity, a page of a collection and a
// delta page alike. Control annotations (@odata.context, count, nextLink,
// deltaLink, etag, type, and @removed in delta) are kept wherever their
// object is; an annotation of a property (attendees@odata.type,
// members@delta) goes with its property.

// yamlResponse is a rule's response section as written.
type yamlResponse struct {
	Fields       []string `yaml:"fields"`
	Redact       []string `yaml:"redact"`
	Pseudonymise []string `yaml:"pseudonymise"`
}

// Response is a rule's response section, compiled: what of Graph's answers
// to the rule's calls reaches the caller. A rule that lists select fields
// has one even without a response: key, limited to those fields. A nil
// *Response filters nothing.
type Response struct {
	// Rule is the id of the rule whose section this is.
	Rule string
	// Fields are the only paths a caller receives; empty receives every
	// path but those Redact lists.
	Fields []string
	// Select are the rule's select fields: the answer is limited to them
	// too, whatever Graph makes of a $select.
	Select []string
	// Redact are the paths removed from what Fields let through.
	Redact []string
	// Pseudonymise are the paths whose values are replaced by keyed
	// hashes (HMAC-SHA256 under the customer's key): stable per value, so
	// that a caller can still join on them.
	Pseudonymise []string

	root *ResponseNode
}

// Root is the node of the answer's entity: of the object itself, or of
// each element of its top-level value collection. It never returns nil;
// a nil section's root passes everything.
func (r *Response) Root() *ResponseNode {
	if r == nil {
		return wholeNode
	}
	return r.root
}

// Pseudonymises reports whether the section replaces values by
// pseudonyms, for which the call needs the key.
func (r *Response) Pseudonymises() bool { return r != nil && len(r.Pseudonymise) > 0 }

// ResponseNode is where a path stands in an answer: what becomes of the
// members of the object there (Child), and of the values (Pseudonymised,
// Restricts). Lists are transparent: a list's elements share its node.
type ResponseNode struct {
	edges []responseEdge
	// rest is the node of members no edge names; nil removes them.
	rest   *ResponseNode
	pseudo bool
}

type responseEdge struct {
	name []byte
	node *ResponseNode // nil: removed
}

// wholeNode passes everything below it; pseudoNode pseudonymises every
// value below it.
var wholeNode, pseudoNode = &ResponseNode{}, &ResponseNode{pseudo: true}

func init() {
	wholeNode.rest = wholeNode
	pseudoNode.rest = pseudoNode
}

// Child returns the node of the member named name (a property name,
// without any @annotation suffix), compared without ASCII case, or nil
// when the member is removed. A name that only Unicode folding joins to a
// path ("ſtatus", with U+017F, for status) is removed: a reader that
// folds so would take it for the path, one that does not for another
// member, and Graph's own names are ASCII. So it neither passes fields
// as the path nor escapes redact or pseudonymise as another member.
func (n *ResponseNode) Child(name []byte) *ResponseNode {
	folded := false
	for i := range n.edges {
		if e := n.edges[i].name; bytes.EqualFold(e, name) {
			if ascii.EqualFold(e, name) {
				return n.edges[i].node
			}
			folded = true
		}
	}
	if folded {
		return nil
	}
	return n.rest
}

// Whole reports whether nothing below n is removed or pseudonymised.
func (n *ResponseNode) Whole() bool { return n == wholeNode }

// Pseudonymised reports whether the values at n, and below it, are
// replaced by pseudonyms (null stays null).
func (n *ResponseNode) Pseudonymised() bool { return n.pseudo }

// Restricts reports whether only the members n names pass: a value that is
// not an object (a string, a number, a list's scalar element) is then
// removed, being none of the paths listed below n.
func (n *ResponseNode) Restricts() bool { return n.rest == nil }

// ErrorAnswer is the section error answers (status 400 and above) of a
// call with a response section are filtered by: Graph's error shape, which
// the SDKs parse, and nothing else, so that an error that echoes data
// echoes none.
var ErrorAnswer = mustResponse("(error answers)", []string{
	"error.code", "error.message", "error.target",
	"error.details.code", "error.details.message", "error.details.target",
	"error.innerError.code", "error.innerError.date", "error.innerError.request-id", "error.innerError.client-request-id",
})

func mustResponse(rule string, fields []string) *Response {
	r := &Response{Rule: rule, Fields: fields}
	r.root = build(treeOf(fields), nil, nil, false)
	return r
}

// NewResponse compiles a response section outside a policy file, for
// tests and tools; the paths must be valid (see docs/policy.md).
func NewResponse(rule string, fields, selectFields, redact, pseudonymise []string) (*Response, error) {
	for _, list := range [][]string{fields, selectFields, redact, pseudonymise} {
		for _, p := range list {
			if err := checkPath(p); err != nil {
				return nil, fmt.Errorf("path %q %v", p, err)
			}
		}
	}
	return compileResponse(rule, fields, selectFields, redact, pseudonymise), nil
}

func compileResponse(rule string, fields, selectFields, redact, pseudonymise []string) *Response {
	r := &Response{Rule: rule, Fields: fields, Select: selectFields, Redact: redact, Pseudonymise: pseudonymise}
	r.root = build(intersect(treeOf(fields), treeOf(selectFields)), treeOf(redact), treeOf(pseudonymise), false)
	return r
}

// pathTree is a list of paths as a tree; a leaf stands for everything
// below it. A nil *pathTree is no list at all.
type pathTree struct {
	leaf bool
	kids map[string]*pathTree // by lower-case name
	name map[string]string    // lower-case name → as written
}

func treeOf(paths []string) *pathTree {
	if len(paths) == 0 {
		return nil
	}
	root := &pathTree{}
	for _, p := range paths {
		t := root
		for seg := range strings.SplitSeq(p, ".") {
			if t.leaf {
				break // under a path listed whole: adds nothing
			}
			k := strings.ToLower(seg)
			if t.kids == nil {
				t.kids, t.name = map[string]*pathTree{}, map[string]string{}
			}
			next := t.kids[k]
			if next == nil {
				next = &pathTree{}
				t.kids[k], t.name[k] = next, seg
			}
			t = next
		}
		t.leaf, t.kids = true, nil
	}
	return root
}

// intersect is what two allow-lists both let through; nil lets through
// everything.
func intersect(a, b *pathTree) *pathTree {
	switch {
	case a == nil || b != nil && a.leaf:
		return b
	case b == nil || b.leaf:
		return a
	}
	out := &pathTree{kids: map[string]*pathTree{}, name: map[string]string{}}
	for k, ka := range a.kids {
		if kb := b.kids[k]; kb != nil {
			out.kids[k], out.name[k] = intersect(ka, kb), a.name[k]
		}
	}
	return out
}

// build compiles the node where allow (nil or a leaf: everything), redact
// and pseudo (nil: nothing) stand, under pseudonymised ancestors when
// pseudo is set.
func build(allow, redact, pseudo *pathTree, pseudonymised bool) *ResponseNode {
	all := allow == nil || allow.leaf
	if pseudo != nil && pseudo.leaf {
		pseudonymised, pseudo = true, nil
	}
	if all && redact == nil && pseudo == nil {
		if pseudonymised {
			return pseudoNode
		}
		return wholeNode
	}
	n := &ResponseNode{pseudo: pseudonymised}
	if all {
		n.rest = build(nil, nil, nil, pseudonymised)
	}
	names := map[string]string{}
	for _, t := range []*pathTree{redact, pseudo} {
		if t != nil {
			for k, v := range t.name {
				names[k] = v
			}
		}
	}
	if !all {
		for k, v := range allow.name {
			names[k] = v
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var ca, cr, cp *pathTree
		if !all {
			if ca = allow.kids[k]; ca == nil {
				continue // not allowed: rest removes it
			}
		}
		if redact != nil {
			cr = redact.kids[k]
		}
		if pseudo != nil {
			cp = pseudo.kids[k]
		}
		e := responseEdge{name: []byte(names[k])}
		if cr == nil || !cr.leaf {
			e.node = build(ca, cr, cp, pseudonymised)
		}
		n.edges = append(n.edges, e)
	}
	return n
}

// Limits on paths: Graph's property names are short, and a path longer
// than these is a mistake.
const (
	maxPathSegments  = 32
	maxSegmentLength = 128
	maxPathsPerList  = 256
)

// checkPath returns what is wrong with a path, or nil.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("is empty")
	}
	segs := strings.Split(p, ".")
	if len(segs) > maxPathSegments {
		return fmt.Errorf("has more than %d segments", maxPathSegments)
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("has an empty segment: join property names with single dots, e.g. start.dateTime")
		}
		if len(s) > maxSegmentLength {
			return fmt.Errorf("has a segment longer than %d bytes", maxSegmentLength)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
				if c == '@' {
					return fmt.Errorf("names an annotation: an annotation goes with its property (name the property), and control annotations (@odata.nextLink, …) are always kept")
				}
				return fmt.Errorf("segment %q: property names are letters, digits, _ and -", s)
			}
		}
	}
	return nil
}

// compileResponses compiles every rule's response section (and its select
// fields, which limit answers too) into the rule, and returns the
// warnings about paths that can never match.
func (l *policyLoader) compileResponses(f *fileSchema, p *Policy) (warnings []Problem) {
	for i, yr := range f.Rules {
		r := ruleByID(p.rules, yr.ID)
		if r == nil || (yr.Response == nil && len(r.selectFields) == 0) {
			continue
		}
		name := fmt.Sprintf("rule %q", r.id)
		var fields, redact, pseudo []string
		if s := yr.Response; s != nil {
			fields, redact, pseudo = s.Fields, s.Redact, s.Pseudonymise
			if len(fields)+len(redact)+len(pseudo) == 0 {
				l.add(l.lineOf("rules", i, "response"), name, "response lists no fields, redact or pseudonymise paths; remove it, or list what a caller may receive")
				continue
			}
		}
		ok := true
		lists := []struct {
			key   string
			paths []string
		}{{"fields", fields}, {"redact", redact}, {"pseudonymise", pseudo}}
		lower := map[string]map[string]bool{}
		for _, ls := range lists {
			lower[ls.key] = map[string]bool{}
			if len(ls.paths) > maxPathsPerList {
				l.add(l.lineOf("rules", i, "response", ls.key), name, "response.%s lists %d paths; at most %d", ls.key, len(ls.paths), maxPathsPerList)
				ok = false
			}
			for j, path := range ls.paths {
				line := l.lineOf("rules", i, "response", ls.key, j)
				if err := checkPath(path); err != nil {
					l.add(line, name, "response.%s path %q %v", ls.key, path, err)
					ok = false
					continue
				}
				k := strings.ToLower(path)
				if lower[ls.key][k] {
					l.add(line, name, "response.%s lists %q twice", ls.key, path)
					ok = false
				}
				lower[ls.key][k] = true
				if ls.key == "pseudonymise" && lower["redact"][k] {
					l.add(line, name, "%q is in both redact and pseudonymise: a redacted value is removed; keep it in one of them", path)
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		r.response = compileResponse(r.id, fields, r.selectFields, redact, pseudo)
		warnings = append(warnings, l.lintResponse(i, r, yr.Response)...)
	}
	return warnings
}

// Warnings are what policy lint says about a policy that loads, in line
// order: response paths that can never match (a property the route's
// answers do not have, one outside the rule's select or fields, one
// removed already), and permission names read by their alias
// (ApplicationAliases).
func (p *Policy) Warnings() []Problem { return p.warnings }

// Pseudonymises reports whether some rule pseudonymises answers: the proxy
// then needs the pseudonym key.
func (p *Policy) Pseudonymises() bool {
	return slices.ContainsFunc(p.rules, func(r *rule) bool { return r.response.Pseudonymises() })
}

// withholdsID reports whether the section keeps a resource's id from the
// caller: not among its fields, redacted, or pseudonymised. A change
// notification names its resource by that id, around the filter.
func (r *Response) withholdsID() bool {
	isID := func(path string) bool { return strings.EqualFold(path, "id") }
	return len(r.Fields) > 0 && !slices.ContainsFunc(r.Fields, isID) ||
		slices.ContainsFunc(r.Redact, isID) || slices.ContainsFunc(r.Pseudonymise, isID)
}
