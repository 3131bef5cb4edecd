package policy

import (
	"slices"
	"strings"
)

// What $filter, $orderby and $search read of the items an answer holds.
// A rule's response section (or select) withholds properties from its
// answers, but a filter on a withheld property answers a question about
// it all the same: which events are kept by contains(subject,'merger'),
// in which order orderby=subject puts them, how many @odata.count says
// there are. Asked letter by letter, the property is read whole. So where
// a rule's answers are filtered, $filter and $orderby may name only
// properties its answers show as Graph holds them (not removed, not
// pseudonymised), and $search, whose text Graph matches against
// properties of its own choosing, is refused.

// countReadsWithheld is queryReadsWithheld for a count: …/$count answers
// a number, on which no section has anything to remove, but it counts the
// items of its collection, which a filter on a property withheld from the
// collection's answers reads as surely as the collection would. So its
// query is held to the section of the rule that serves the collection to
// the caller, when one does.
func (rt *Routed) countReadsWithheld() string {
	req := &rt.req
	n := len(req.Segments)
	if n < 2 || !strings.EqualFold(req.Segments[n-1], "$count") || req.Filter == "" && req.OrderBy == "" && !hasOption(req, "$search") {
		return ""
	}
	c, actor := rt.caller, rt.actor
	r := rt.p.root.match(req.Segments[:n-1], func(r *rule) bool {
		return slices.Contains(r.methods, "GET") && slices.Contains(r.versions, req.Version) && usable(c, actor, r)
	})
	if r == nil {
		return ""
	}
	return queryReadsWithheld(r, req)
}

// queryReadsWithheld says why the request's $filter, $orderby or $search
// reads what rule r's answers withhold, or "".
func queryReadsWithheld(r *rule, req *Request) string {
	if r.response == nil || r.response.Root().Whole() {
		return ""
	}
	if hasOption(req, "$search") {
		return "$search matches properties rule " + quoteID(r.id) + " withholds from its answers (its response section or select)"
	}
	for _, e := range [...]struct{ option, expr string }{{"$filter", req.Filter}, {"$orderby", req.OrderBy}} {
		if e.expr == "" {
			continue
		}
		if why := exprReadsWithheld(r.response.Root(), e.expr); why != "" {
			return e.option + " " + why + " (rule " + quoteID(r.id) + " withholds properties from its answers, and a filter or an order reads what it names all the same)"
		}
	}
	return ""
}

func hasOption(req *Request, name string) bool {
	for _, q := range req.Query {
		if q == name {
			return true
		}
	}
	return false
}

func quoteID(id string) string { return `"` + id + `"` }

// filterWords are the words of OData's expressions that name no property:
// operators, literals, and the order's direction.
var filterWords = map[string]bool{
	"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true, "and": true, "or": true, "not": true,
	"has": true, "in": true, "add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true,
	"true": true, "false": true, "null": true, "asc": true, "desc": true, "inf": true, "nan": true,
}

// exprReadsWithheld says which property an OData expression ($filter or
// $orderby) names that node does not show whole, or why the expression
// cannot be read so, or "". String literals are skipped, numbers and
// dates too; a name followed by "(" is a function's (contains, startswith);
// any other name, with its "/"-separated path, is a property of the
// item. A lambda (attendees/any(a:…)), a parameter alias (@p), $it,
// $root and anything unterminated are not read: refused.
func exprReadsWithheld(root *ResponseNode, expr string) string {
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '\'':
			// A string: '' is a quote inside it.
			j := i + 1
			for {
				k := strings.IndexByte(expr[j:], '\'')
				if k < 0 {
					return "has an unterminated string"
				}
				j += k + 1
				if j < len(expr) && expr[j] == '\'' {
					j++
					continue
				}
				break
			}
			i = j
		case '0' <= c && c <= '9' || c == '-' && i+1 < len(expr) && '0' <= expr[i+1] && expr[i+1] <= '9':
			// A number, a date, a time, a GUID starting with a digit.
			i++
			for i < len(expr) && (isWordByte(expr[i]) || strings.IndexByte("-:.+", expr[i]) >= 0) {
				i++
			}
		case isWordByte(c) || c == '$' || c == '@':
			j := i
			for j < len(expr) && (isWordByte(expr[j]) || strings.IndexByte("/.$@", expr[j]) >= 0) {
				j++
			}
			path := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			call := k < len(expr) && expr[k] == '('
			switch {
			case strings.ContainsAny(path, "$@"):
				return "names " + shownName(path) + ", which the proxy does not read"
			case call && strings.Contains(path, "/"):
				return "has a lambda or a bound function (" + shownName(path) + "), which the proxy does not read"
			case call, filterWords[strings.ToLower(path)]:
			case strings.Contains(path, "."):
				// A type or an enum's qualified name
				// (microsoft.graph.eventType'…'), or a cast: not read.
				return "names " + shownName(path) + ", which the proxy does not read"
			default:
				if !shownWhole(root, path) {
					return "reads " + shownName(path)
				}
			}
			i = j
		case c == ' ' || c == '(' || c == ')' || c == ',':
			i++
		default:
			return "has a character the proxy does not read there"
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// shownWhole reports whether an item's property at path (a/b) reaches the
// caller as Graph holds it: not removed, not pseudonymised, nothing below
// it removed.
func shownWhole(root *ResponseNode, path string) bool {
	n := root
	for seg := range strings.SplitSeq(path, "/") {
		if n = n.Child([]byte(seg)); n == nil || n.Pseudonymised() {
			return false
		}
	}
	return n.Whole()
}
