package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Query options that choose or order an answer's items by their values
// ($filter, $orderby, $search, and any of them nested in $expand) tell the
// caller something of every property they test, even one the answer does
// not carry: $filter=contains(subject,'merger') lists the events whose
// subject the rule's response section removes, and startswith, a letter
// at a time, spells it out; $orderby=subject sorts by it. So under a
// rule with a response section (or select:, which makes one), every
// property a $filter or $orderby names must be one the section passes as
// Graph wrote it (neither removed nor pseudonymised, nor any part of
// it); an expression the proxy cannot read so is refused (fail closed),
// and so are $search, which tests properties Graph chooses, and these
// options nested in $expand.

// queryTestRefusal is why the query options of req test what the
// section s withholds, or "".
func queryTestRefusal(s *Response, req *Request) string {
	if s == nil {
		return ""
	}
	for _, q := range req.Query {
		if q == "$search" {
			return fmt.Sprintf("$search tests properties the response section of rule %q withholds", s.Rule)
		}
	}
	if expandTests(req.expand) {
		return fmt.Sprintf("$expand carries query options that test what the response section of rule %q withholds", s.Rule)
	}
	for _, o := range [...]struct{ name, expr string }{{"$filter", req.filter}, {"$orderby", req.orderby}} {
		if o.expr == "" {
			continue
		}
		paths, ok := testedPaths(o.expr)
		if !ok {
			return fmt.Sprintf("%s cannot be read for the properties it tests (rule %q has a response section)", o.name, s.Rule)
		}
		for _, p := range paths {
			if !s.passesAsWritten(p.segs, p.whole) {
				return fmt.Sprintf("%s tests %s, which the response section of rule %q withholds", o.name, shownName(strings.Join(p.segs, ".")), s.Rule)
			}
		}
	}
	return ""
}

// countTestRefusal is queryTestRefusal for a count: …/$count answers a
// number, on which a section has nothing to remove, but it counts the
// items of its collection, and a $filter on a property the collection's
// answers withhold reads it through the count as surely as through the
// items. So a count's query is held to the section of the rule that
// serves the collection's GET to this caller, when one does.
func (rt *Routed) countTestRefusal() string {
	req := &rt.req
	n := len(req.Segments)
	// "$count;x=1" and "$count " are the count to a lenient server, and a
	// rule's {id} may take them (readings.go).
	if n < 2 || !strings.EqualFold(leniently(req.Segments[n-1]), "$count") ||
		req.filter == "" && req.orderby == "" && req.expand == "" && !slices.Contains(req.Query, "$search") {
		return ""
	}
	c, actor := rt.caller, rt.actor
	r := rt.p.root.match(req.Segments[:n-1], func(r *rule) bool {
		return r.serves(c, actor, "GET", req.Version)
	})
	if r == nil {
		return ""
	}
	return queryTestRefusal(r.response, req)
}

// expandTests reports whether a $expand value (decoded) carries, in an
// expanded property's options, one that tests values: $filter, $orderby,
// $search, with or without '$', however spaced.
func expandTests(expand string) bool {
	e := strings.ToLower(expand)
	for i := 0; i < len(e); i++ {
		if e[i] != '(' && e[i] != ';' {
			continue
		}
		o := strings.TrimLeft(e[i+1:], " \t$")
		for _, name := range [...]string{"filter", "orderby", "search"} {
			if rest, ok := strings.CutPrefix(o, name); ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), "=") {
				return true
			}
		}
	}
	return false
}

// passesAsWritten reports whether the values at path reach the caller as
// Graph wrote them: no step of it removed or pseudonymised and, whole,
// nothing below it either (a path only counted or tested for members,
// attendees/$count, attendees/any(…), need only be there).
func (s *Response) passesAsWritten(path []string, whole bool) bool {
	n := s.Root()
	for _, seg := range path {
		if n = n.Child([]byte(seg)); n == nil || n.Pseudonymised() {
			return false
		}
	}
	return !whole || !n.Restricts()
}

// testedPath is a property path an expression names, its segments lower
// case; whole when its values are tested, not only its members counted.
type testedPath struct {
	segs  []string
	whole bool
}

// filterWords are the words of OData's expressions that name no property.
var filterWords = map[string]bool{"and": true, "or": true, "not": true, "eq": true, "ne": true, "gt": true,
	"ge": true, "lt": true, "le": true, "has": true, "in": true, "add": true, "sub": true, "mul": true,
	"div": true, "divby": true, "mod": true, "true": true, "false": true, "null": true, "asc": true,
	"desc": true, "inf": true, "nan": true}

// testedPaths reads an expression of $filter or $orderby (decoded) for the
// property paths it names. It is a tokenizer, not a parser: string
// literals ('…', a quote doubled inside) are skipped, and so are numbers, dates and
// GUIDs, typed literals (duration'P1D', an enum's type'value'), functions
// (a name before '('), and the words of the grammar; a lambda's variable
// (attendees/any(a: a/status/response eq 'accepted')) stands for its
// collection's path, and $it for the item. ok is false for what it cannot
// read: an unterminated literal, a parameter alias, $root.
func testedPaths(expr string) (paths []testedPath, ok bool) {
	if !utf8.ValidString(expr) {
		return nil, false // names no reader would agree on
	}
	type lambdaVar struct {
		name  string
		path  []string
		depth int // the parentheses it is declared in
	}
	depth := 0
	var vars []lambdaVar
	var lambda []string // the collection of the lambda whose variable comes next
	resolve := func(tok string) ([]string, bool) {
		segs := strings.Split(strings.ToLower(tok), "/")
		switch {
		case segs[0] == "$it":
			segs = segs[1:]
		case segs[0] == "$this":
			return nil, false
		case strings.HasPrefix(segs[0], "$") || strings.HasPrefix(segs[0], "@"):
			return nil, false // $root, a parameter alias: not read
		}
		for _, v := range slices.Backward(vars) { // the innermost first
			if len(segs) > 0 && segs[0] == v.name {
				segs = append(append([]string(nil), v.path...), segs[1:]...)
				break
			}
		}
		for _, s := range segs {
			if s == "" {
				return nil, false
			}
		}
		return segs, true
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '\'':
			for i++; ; i++ {
				if i >= len(expr) {
					return nil, false
				}
				if expr[i] == '\'' {
					if i+1 < len(expr) && expr[i+1] == '\'' {
						i++
						continue
					}
					i++
					break
				}
			}
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			// A number, a date, a time, a GUID: a literal, of their
			// shapes only (a name cannot hide in one).
			j := i + 1
			for j < len(expr) && (isWordByte(expr[j]) || strings.IndexByte(":.+-", expr[j]) >= 0) {
				j++
			}
			if !literalShape(expr[i:j]) {
				return nil, false
			}
			i = j
		case isWordByte(c) || c == '$' || c == '@':
			j := i + 1
			for j < len(expr) && (isWordByte(expr[j]) || expr[j] == '/' || expr[j] == '.' || expr[j] == '$') {
				j++
			}
			tok := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			next := byte(0)
			if k < len(expr) {
				next = expr[k]
			}
			lowTok := strings.ToLower(tok)
			switch {
			case next == '\'' && k == j:
				// A typed literal's type: the literal follows.
			case next == ':':
				vars = append(vars, lambdaVar{name: lowTok, path: lambda, depth: depth})
				lambda = nil
			case next == '(':
				// A function, whose arguments are read as they come; or a
				// path's lambda, any or all, whose variable stands for it.
				// Cut in tok: lowering can change a token's length.
				if last := strings.LastIndexByte(tok, '/'); last >= 0 {
					if fn := strings.ToLower(tok[last+1:]); fn != "any" && fn != "all" {
						return nil, false // a function bound to a path: not read
					}
					segs, ok := resolve(tok[:last])
					if !ok {
						return nil, false
					}
					paths = append(paths, testedPath{segs: segs})
					lambda = segs
				}
			case filterWords[lowTok]:
			default:
				segs, ok := resolve(tok)
				if !ok {
					return nil, false
				}
				whole := true
				if n := len(segs); n > 0 && segs[n-1] == "$count" {
					segs, whole = segs[:n-1], false
				}
				if len(segs) > 0 {
					paths = append(paths, testedPath{segs: segs, whole: whole})
				}
			}
			i = j
		case c == '(':
			depth++
			i++
		case c == ')':
			// A lambda's variable names its collection only inside it:
			// past it, the name is the item's property again.
			depth--
			for len(vars) > 0 && vars[len(vars)-1].depth > depth {
				vars = vars[:len(vars)-1]
			}
			i++
		default:
			i++
		}
	}
	return paths, true
}

// literalShape reports whether tok, read as a number, a date or a time,
// is one: its letters are an exponent's e, a time's T or Z; or it is a
// GUID.
func literalShape(tok string) bool {
	if len(tok) == 36 && tok[8] == '-' && tok[13] == '-' && tok[18] == '-' && tok[23] == '-' {
		return strings.Trim(strings.ReplaceAll(tok, "-", ""), "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(tok, "0123456789:.+-eETZ") == ""
}

// isWordByte reports a byte of an identifier: an ASCII letter, a digit,
// '_'; and any byte of a non-ASCII character, read as part of one.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c >= 0x80
}
