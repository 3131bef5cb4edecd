package policy

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A path can be read otherwise than the trie reads it, by Graph or by a
// lenient server before it: Graph binds an operation by its qualified
// name (microsoft.graph.getSchedule is getSchedule) and ignores a type
// cast to an entity's own type (users/{id}/microsoft.graph.user/
// mailboxSettings is the mailbox's settings); a server may drop what
// follows a ';' in a segment (a matrix parameter) and trim white space
// or invisible characters (blank) around it and dots after it
// ("mailboxSettings ", "calendar."); one that applies NFKC reads a
// compatibility form as the character it stands for (full-width
// "ｍailboxSettings", "calendar．", a ligature, a circled letter, a
// full-width '/'). The trie takes each such segment as it is, so a
// {name} rule beside the literal that names what the segment is read
// as would serve it, without the
// literal's select, response section or people's domains. decidedAsRead
// matches those readings again and refuses the path when they find
// another rule.

// readOtherwise reports whether a segment could be read otherwise: it
// is qualified, holds a ';', or starts or ends with white space or an
// invisible character, or ends with a dot, or is not in NFKC. It
// allocates nothing: every request pays for it.
func readOtherwise(seg string) bool {
	if seg == "" {
		return false
	}
	if !allASCII(seg) && !norm.NFKC.IsNormalString(seg) {
		return true
	}
	if strings.IndexByte(seg, ';') >= 0 {
		return true
	}
	first, _ := utf8.DecodeRuneInString(seg)
	last, _ := utf8.DecodeLastRuneInString(seg)
	if edgeBlank(first) || edgeBlank(last) || last == '.' {
		return true
	}
	return len(operationName(seg)) != len(seg)
}

// edgeBlank is blank, without looking up tables for an ASCII rune.
func edgeBlank(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return blank(r)
}

// compatibly is a segment as a reader that applies NFKC takes it: a
// compatibility form read as what it stands for (ｍ as m, ﬁ as fi, ⓢ as
// s, a full-width solidus as '/'). An ASCII segment is itself, and costs no allocation. Letters that
// are no compatibility forms (日本語, Kırmızı) are left as they are.
func compatibly(seg string) string {
	if allASCII(seg) {
		return seg
	}
	return norm.NFKC.String(seg)
}

func isSlash(r rune) bool { return r == '/' }

// leniently is a segment as a lenient reader takes it: cut at ';', white
// space and invisible characters trimmed, trailing dots dropped. A segment that would be left
// empty is kept as it is.
func leniently(seg string) string {
	s := seg
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimLeftFunc(s, blank)
	s = strings.TrimRightFunc(s, func(r rune) bool { return r == '.' || blank(r) })
	if s == "" {
		return seg
	}
	return s
}

// castAt reports whether a segment in NFKC, read leniently, is an identifier
// qualified by Graph's namespace or its alias (microsoft.graph.user,
// graph.group): a type cast to some reader, one Graph ignores when it is
// the entity's own type. A UPN or a file name that starts with "graph."
// is no identifier after it.
func castAt(seg string) bool {
	s := leniently(seg)
	name := operationName(s)
	if len(name) == len(s) || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// decidedAsRead refuses rt's request when another reading of its path
// (above) finds another rule than rt.rule:
//   - every segment by its name, read in NFKC (a '/' it makes splits
//     the segment) and leniently: refused when the rule
//     found names as a literal a segment rt.rule does not name so (a
//     literal getSchedule beside the {name} that took
//     microsoft.graph.getSchedule, mailboxSettings beside the {name} that
//     took "mailboxSettings;x=1"). A cast the SDKs write
//     (memberOf/graph.group) read as memberOf/group finds no literal
//     rt.rule lacks;
//   - without the casts rt.rule takes in a variable, all but a last one,
//     and all: refused when any other rule serves that path. A cast rt.rule
//     names as a literal is the author's, and kept.
//
// Only a request with such a segment pays for the matches.
//
//go:noinline
func (p *Policy) decidedAsRead(rt *Routed) {
	c, actor, req, served := rt.caller, rt.actor, &rt.req, rt.rule
	accept := func(r *rule) bool {
		return r.serves(c, actor, req.Method, req.Version)
	}
	// Each segment in NFKC, as pieces at a '/' NFKC made (℀ is "a/c"),
	// with the segment each piece is from, and each piece by its name.
	segs := req.Segments
	pieces := make([]string, 0, len(segs))
	from := make([]int, 0, len(segs))
	for i, s := range segs {
		for piece := range strings.FieldsFuncSeq(compatibly(s), isSlash) {
			pieces, from = append(pieces, piece), append(from, i)
		}
	}
	named := make([]string, len(pieces))
	for j, piece := range pieces {
		named[j] = operationName(leniently(piece))
	}
	if r := p.root.match(named, accept); r != nil && r != served && namesOtherLiteral(r, served, from) {
		p.readAs(rt, r, "names an operation or type by its qualified name, or has a segment a lenient server reads without a ';' parameter, white space or trailing dots, or in NFKC")
		return
	}
	last := len(pieces) - 1
	var kept []string
	for _, keepLast := range []bool{true, false} {
		kept = kept[:0]
		dropped := false
		for j, piece := range pieces {
			if served.tmpl.parts[from[j]].kind != literal && castAt(piece) && !(keepLast && j == last) {
				dropped = true
				continue
			}
			kept = append(kept, named[j])
		}
		if !dropped || len(kept) == 0 {
			continue
		}
		if r := p.root.match(kept, accept); r != nil && r != served {
			p.readAs(rt, r, "casts an entity to a type, which Graph ignores when it is the entity's own")
			return
		}
	}
}

// readAs refuses rt: rule r serves its path as another reading takes it.
func (p *Policy) readAs(rt *Routed, r *rule, why string) {
	rt.denial, rt.denied = deny("%s %s: rule %q serves it so read, and rule %q would serve this spelling; send it as Graph reads it, or name the cast in a rule", rt.req.Path, why, r.id, rt.rule.id), true
	rt.rule = nil
}

// namesOtherLiteral reports whether rule r, matched on segments each from
// segment from[j] of rule's path, names as a literal a segment rule does
// not name as the same literal.
func namesOtherLiteral(r, rule *rule, from []int) bool {
	for j, pt := range r.tmpl.parts {
		if pt.kind != literal {
			continue
		}
		if o := rule.tmpl.parts[from[j]]; o.kind != literal || o.lit != pt.lit {
			return true
		}
	}
	return false
}
