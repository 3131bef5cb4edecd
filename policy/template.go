package policy

import (
	"fmt"
	"strings"
)

// A template is a rule's path: literal segments (matched case-insensitively),
// {user} (a user object id or UPN) and {name} (any one segment).
type template struct {
	text  string
	parts []part
}

type partKind uint8

const (
	literal partKind = iota
	userVar
	anyVar
)

type part struct {
	kind partKind
	lit  string // lower case, for literals
	name string // for variables
}

// parseTemplate validates and splits a rule path.
func parseTemplate(s string) (template, error) {
	t := template{text: s}
	if !strings.HasPrefix(s, "/") {
		return t, fmt.Errorf("path %q must start with '/'", s)
	}
	for _, v := range Versions {
		if strings.HasPrefix(strings.ToLower(s), "/"+strings.ToLower(v)+"/") || strings.EqualFold(s, "/"+v) {
			return t, fmt.Errorf("path %q must not name the version; use versions: [%s]", s, v)
		}
	}
	if s == "/" {
		return t, fmt.Errorf("path %q names no resource", s)
	}
	seen := map[string]bool{}
	for seg := range strings.SplitSeq(s[1:], "/") {
		switch {
		case seg == "":
			return t, fmt.Errorf("path %q has an empty segment", s)
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if name == "" || strings.ContainsAny(name, "{}*") {
				return t, fmt.Errorf("path %q: %q is not a variable; use {user} or {name}", s, seg)
			}
			if seen[name] {
				return t, fmt.Errorf("path %q binds {%s} twice", s, name)
			}
			seen[name] = true
			kind := anyVar
			if name == "user" {
				kind = userVar
			}
			t.parts = append(t.parts, part{kind: kind, name: name})
		case strings.ContainsAny(seg, "{}*?%()'\\"):
			return t, fmt.Errorf("path %q: segment %q may not contain {, }, *, ?, %%, (, ), ' or \\ — wildcards across segments are not supported; a variable is a whole segment such as {id}", s, seg)
		case seg == "." || seg == "..":
			return t, fmt.Errorf("path %q has a dot segment", s)
		default:
			t.parts = append(t.parts, part{kind: literal, lit: strings.ToLower(seg)})
		}
	}
	return t, nil
}

// isUser reports whether a segment can name a user: an object id (GUID) or
// a UPN (local@domain).
func isUser(s string) bool {
	if isGUID(s) {
		return true
	}
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && strings.IndexByte(s[at+1:], '@') < 0 && strings.IndexByte(s[at+1:], '.') > 0
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// node is a trie node over path segments. Rules ending here are in rules,
// in file order.
type node struct {
	lits  map[string]*node // literal child by lower-case segment
	user  *node
	param *node
	rules []*rule
}

func (n *node) insert(t template, r *rule) {
	cur := n
	for _, p := range t.parts {
		switch p.kind {
		case literal:
			if cur.lits == nil {
				cur.lits = map[string]*node{}
			}
			next := cur.lits[p.lit]
			if next == nil {
				next = &node{}
				cur.lits[p.lit] = next
			}
			cur = next
		case userVar:
			if cur.user == nil {
				cur.user = &node{}
			}
			cur = cur.user
		case anyVar:
			if cur.param == nil {
				cur.param = &node{}
			}
			cur = cur.param
		}
	}
	cur.rules = append(cur.rules, r)
}

// match finds the most specific rule for segs that accept reports as
// applicable: at each segment a literal beats {user}, which beats {name}.
// It allocates nothing.
func (n *node) match(segs []string, accept func(*rule) bool) *rule {
	if len(segs) == 0 {
		for _, r := range n.rules {
			if accept(r) {
				return r
			}
		}
		return nil
	}
	seg := segs[0]
	if n.lits != nil {
		if next := n.lookup(seg); next != nil {
			if r := next.match(segs[1:], accept); r != nil {
				return r
			}
		}
	}
	if n.user != nil && isUser(seg) {
		if r := n.user.match(segs[1:], accept); r != nil {
			return r
		}
	}
	if n.param != nil {
		return n.param.match(segs[1:], accept)
	}
	return nil
}

// lookup finds the literal child for seg, compared in ASCII lower case,
// without allocating for segments of up to 64 bytes.
func (n *node) lookup(seg string) *node {
	if len(seg) > 64 {
		return n.lits[asciiLower(seg)]
	}
	var buf [64]byte
	b := buf[:len(seg)]
	for i := 0; i < len(seg); i++ {
		b[i] = lower(seg[i])
	}
	return n.lits[string(b)]
}

// lower is an ASCII byte in lower case, any other byte as it is.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiLower lower-cases s without allocating when it is lower case
// already, as canonical Graph segments nearly always are.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// bind returns the value of {user} in segs under t, if t has one.
func (t template) bind(segs []string) string {
	for i, p := range t.parts {
		if p.kind == userVar && i < len(segs) {
			return segs[i]
		}
	}
	return ""
}
