package policy

//go:generate go run ./internal/shapesgen

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The answer shapes policy lint checks response paths against: for the
// routes whose answers it knows, the Graph type each answer holds (an
// entity, or the elements of its value collection), and that type's
// properties (shapes_graph.go, from the Graph SDK's models). A path that
// names a property the type does not have, or goes below a scalar, can
// never match: lint warns, and the policy still loads (Graph adds
// properties; beta has more).

type shapeProp struct {
	name string // as Graph spells it
	typ  string // "" a scalar, "*" an entity (not checked), else a type in graphShapes
}

// shapes are graphShapes parsed: type → lower-case property → property.
var shapes = sync.OnceValue(func() map[string]map[string]shapeProp {
	out := make(map[string]map[string]shapeProp, len(graphShapes))
	for typ, list := range graphShapes {
		props := map[string]shapeProp{}
		for f := range strings.FieldsSeq(list) {
			name, t, _ := strings.Cut(f, ":")
			props[strings.ToLower(name)] = shapeProp{name: name, typ: t}
		}
		out[typ] = props
	}
	return out
})

// answerShapeOf names the type of a rule's answers, or "" when lint does
// not know it: by the rule path's last literal segment (and the one before
// a delta), whatever variable follows it.
func answerShapeOf(r *rule) string {
	var lits []string
	for _, p := range r.tmpl.parts {
		if p.kind == literal {
			lits = append(lits, p.lit)
		}
	}
	if len(lits) == 0 {
		return ""
	}
	last := lits[len(lits)-1]
	if last == "delta" && len(lits) > 1 {
		last = lits[len(lits)-2]
	}
	switch last {
	case "getschedule":
		return "scheduleInformation"
	case "findmeetingtimes":
		return "meetingTimeSuggestionsResult"
	case "events", "calendarview", "instances":
		return "event"
	case "users", "me":
		return "user"
	case "onlinemeetings":
		return "onlineMeeting"
	case "contacts":
		return "contact"
	case "messages":
		if slices.ContainsFunc(lits, func(s string) bool { return s == "chats" || s == "channels" || s == "teams" }) {
			return "" // Teams messages are chatMessage
		}
		return "message"
	}
	return ""
}

// shapeProblem says why path can never match in answers of type typ, or
// returns "".
func shapeProblem(typ, path string) string {
	all := shapes()
	segs := strings.Split(path, ".")
	t := typ
	for i, seg := range segs {
		props := all[t]
		if len(props) == 0 {
			return "" // an open type: anything may be there
		}
		p, ok := props[strings.ToLower(seg)]
		if !ok {
			reason := fmt.Sprintf("%s has no property %q", t, seg)
			names := make([]string, 0, len(props))
			for _, q := range props {
				names = append(names, q.name)
			}
			slices.Sort(names)
			if s := nearest(seg, names); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return reason
		}
		if i == len(segs)-1 || p.typ == "*" {
			return ""
		}
		if p.typ == "" {
			return fmt.Sprintf("%s.%s holds a value, not an object: nothing is below it", t, p.name)
		}
		t = p.typ
	}
	return ""
}

// lintResponse warns about a rule's response paths that can never match:
// outside the rule's select, removed already, starting with the top-level
// collection, or not in the shape of the route's answers.
func (l *policyLoader) lintResponse(i int, r *rule, s *yamlResponse) []Problem {
	if s == nil {
		return nil
	}
	var out []Problem
	name := fmt.Sprintf("rule %q", r.id)
	warn := func(key string, j int, format string, args ...any) {
		out = append(out, Problem{File: l.file, Line: l.lineOf("rules", i, "response", key, j), Rule: name, Reason: fmt.Sprintf(format, args...)})
	}
	if tail := r.tmpl.parts[len(r.tmpl.parts)-1]; tail.kind == literal && (tail.lit == "$value" || tail.lit == "content") {
		out = append(out, Problem{File: l.file, Line: l.lineOf("rules", i, "response"), Rule: name,
			Reason: fmt.Sprintf("%s answers with file content, not JSON: a response section withholds every answer (502)", r.tmpl.text)})
	}
	allowed := intersect(treeOf(s.Fields), treeOf(r.selectFields))
	typ := answerShapeOf(r)
	for _, ls := range []struct {
		key   string
		paths []string
	}{{"fields", s.Fields}, {"redact", s.Redact}, {"pseudonymise", s.Pseudonymise}} {
		for j, path := range ls.paths {
			lower := strings.ToLower(path)
			first, _, _ := strings.Cut(lower, ".")
			switch {
			case first == "value":
				warn(ls.key, j, "response.%s path %q starts with value: at the top of an answer, value is the collection, and paths apply to its elements; drop the value. prefix", ls.key, path)
				continue
			case ls.key == "fields" && len(r.selectFields) > 0 && !slices.Contains(r.selectFields, first):
				warn(ls.key, j, "response.fields path %q is outside the rule's select (%s): a caller never receives it", path, strings.Join(r.selectFields, ", "))
				continue
			case ls.key != "fields" && !passes(allowed, lower):
				warn(ls.key, j, "response.%s path %q is not among the fields a caller receives: it is removed anyway", ls.key, path)
				continue
			}
			if under := coveredBy(lower, s.Redact); under != "" {
				warn(ls.key, j, "response.%s path %q is removed with redact %q already", ls.key, path, under)
				continue
			}
			if typ != "" {
				if reason := shapeProblem(typ, path); reason != "" {
					warn(ls.key, j, "response.%s path %q can never match: %s (%s answers hold %s)", ls.key, path, reason, r.tmpl.text, typ)
				}
			}
		}
	}
	return out
}

// passes reports whether an allow-list (nil: everything) lets the
// lower-case path through, whole or in part.
func passes(t *pathTree, path string) bool {
	for seg := range strings.SplitSeq(path, ".") {
		if t == nil || t.leaf {
			return true
		}
		if t = t.kids[seg]; t == nil {
			return false
		}
	}
	return true
}

// coveredBy returns the path of list that the lower-case path is below,
// as listed, or "".
func coveredBy(path string, list []string) string {
	for _, p := range list {
		if strings.HasPrefix(path, strings.ToLower(p)+".") {
			return p
		}
	}
	return ""
}
