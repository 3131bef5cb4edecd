package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The route model: the kinds of Graph call whose body the policy must
// read a way of their own — where people appear in them, how the body is
// labelled, which members the call cannot work without, which calls reach
// people of an item they refer to (read by the proxy, references.go), and
// which calls are refused whatever their body. It is the one place that
// says so:
// checkBody reads it for every call, the policy loader for every rule.
// Its table is in routetable.go, its requirements' checks in
// requirements.go.
//
// People are found in every JSON body by the shapes that name them
// (people.go), whatever the route; the model adds what a shape alone
// cannot say.

// A route is one kind of call: its methods and the last segments of its
// canonical path.
type route struct {
	name    string
	methods []string
	// tail are the path's last segments, lower case; an entry may list
	// alternatives ("reply|forward"), "*" matches any one segment.
	tail []string
	// whole: the path is the tail and nothing before it.
	whole bool
	// exact: the tail's names match only as spelled, never as an
	// operation's qualified name (operationName). A route that relaxes
	// what is read (file content, passed unread) must not be reached by
	// a spelling Graph would not read as it.
	exact bool
	media bodyMedia
	// mail: the call writes or sends mail; mail.recipientDomains applies
	// to every person it names.
	mail bool
	// sends: the call sends mail now; a policy that allows it must say
	// where mail may go (mail.recipientDomains).
	sends bool
	// refuse, when set, refuses the call whatever its body, and says why.
	refuse string
	// resolve, when set, says which people of the item the call refers
	// to it reaches without naming them: the proxy reads them from Graph
	// before the call is decided (references.go).
	resolve LookupKind
	// resolveSelf: the item read is the path itself, not the path without
	// its last segment (an action's).
	resolveSelf bool
	// people says where the call names people, for the docs and lint.
	people string
	// check reads the members the call cannot work without.
	check requirement
	// action: the tail's last entry names an action that reaches people
	// (a mail sent, an invitation, a meeting's cancellation or answer).
	// Graph binds an action by its name to whatever item the path before
	// it addresses; the model reads whom it reaches only on the items its
	// tails name, so a POST ending in one of these names that no action
	// route matches is refused (unmodelledAction).
	action bool
	// sharingText: the body's top-level message is the text of the
	// sharing mail Graph sends (a string), not a mail message.
	sharingText bool
	// paths, when set, must also hold of the whole path: the items the
	// route is, where its tail alone would take in others.
	paths func(segs []string) bool
	// alts is tail with each entry's alternatives split (init).
	alts [][]string
	// lastFirst holds the first bytes, lower case, of the alternatives
	// of the tail's last entry, or is "" when that entry is "*" or the
	// route is exact (init): the request's last segment, read as an
	// operation name, can match only if it starts with one of them when
	// it starts with an ASCII byte.
	lastFirst string
}

func init() {
	for i := range routes {
		for _, t := range routes[i].tail {
			routes[i].alts = append(routes[i].alts, strings.Split(t, "|"))
		}
		if len(routes[i].alts) > maxTail {
			panic("policy: route " + routes[i].name + " has a tail longer than maxTail")
		}
		if last := routes[i].alts[len(routes[i].alts)-1]; last[0] != "*" && !routes[i].exact {
			for _, w := range last {
				if c := lower(w[0]); strings.IndexByte(routes[i].lastFirst, c) < 0 {
					routes[i].lastFirst += string(c)
				}
			}
		}
	}
}

// actionNames are the names of the actions routes mark as reaching
// people, lower case (init).
var actionNames []string

func init() {
	for _, rt := range routes {
		if rt.action {
			for _, w := range rt.alts[len(rt.alts)-1] {
				if !slices.Contains(actionNames, w) {
					actionNames = append(actionNames, w)
				}
			}
		}
	}
}

// unmodelledAction says why a call of an action that reaches people, on
// an item addressed otherwise than the route model reads it, is refused,
// or "". rt is routeOf(req). Graph binds the action to whatever the path
// before it names (a drive's special folder, an item by its path, a
// meeting message's event, a type cast); the people it reaches are then
// not read, so the call is refused. A PATCH or DELETE of an event under
// such a path (…/microsoft.graph.eventMessage/event) is refused alike: an
// organizer's sends the change to its attendees.
func unmodelledAction(req *Request, rt *route) string {
	if len(req.Segments) == 0 || rt != nil && (rt.action || rt.resolve != LookupNone) {
		return ""
	}
	name := operationName(compatibly(req.Segments[len(req.Segments)-1]))
	is := func(w string) bool { return strings.EqualFold(name, w) || spelledAs(name, w) }
	switch req.Method {
	case "POST":
		for _, w := range actionNames {
			if is(w) {
				return "the action " + w + " reaches people, and the policy reads whom only on the item paths the route model knows (docs/policy.md, \"Who a call touches\"); address the item by one of them"
			}
		}
	case "PATCH", "DELETE":
		if is("event") {
			return "an event's update or deletion reaches its attendees, and the policy reads them only on the event paths the route model knows (docs/policy.md, \"Who a call touches\"); address the event by one of them"
		}
	}
	return ""
}

// routeOf returns the route a request is, or nil for a call the model
// has nothing particular to say about (its body is still read as JSON,
// people and all). The request's last segments are read as operation
// names once, not once for every route, in NFKC: a reader that applies
// it takes full-width "ｓｅｎｄ" for send, so the call is taken as send
// (and refused as oddly spelled when send is not refused).
func routeOf(req *Request) *route {
	segs := req.Segments
	var buf [maxTail]string
	names := buf[:min(len(segs), maxTail)]
	for i, seg := range segs[len(segs)-len(names):] {
		names[i] = operationName(compatibly(seg))
	}
	for i := range routes {
		rt := &routes[i]
		if slices.Contains(rt.methods, req.Method) && rt.matches(segs, names) {
			return rt
		}
	}
	return nil
}

// maxTail bounds a route's tail (init checks it).
const maxTail = 4

// matches reports whether segs end in rt's tail; names are the last of
// segs as operationName reads them. Unless rt is exact, a segment matches
// a name also as an operation's other spellings Graph binds to it:
// "microsoft.graph.send", "send()" and "send;x=1" are "send" (spelledAs).
// The whole path must then be one of rt.paths, when set.
// FuzzRouteOf holds it to tailMatches, which reads every name afresh.
func (rt *route) matches(segs, names []string) bool {
	k := len(rt.alts)
	if len(segs) < k || rt.whole && len(segs) != k {
		return false
	}
	if last := names[len(names)-1]; rt.lastFirst != "" && last != "" && last[0] < utf8.RuneSelf &&
		strings.IndexByte(rt.lastFirst, lower(last[0])) < 0 {
		// Neither equal without case (an ASCII letter is equal only to
		// itself in either case) nor spelled as one of them (which starts
		// with it).
		return false
	}
	whole := segs
	segs, names = segs[len(segs)-k:], names[len(names)-k:]
	for i, alts := range rt.alts {
		if alts[0] == "*" {
			continue
		}
		seg := names[i]
		if rt.exact {
			seg = segs[i]
		}
		found := false
		for _, w := range alts {
			if strings.EqualFold(w, seg) || !rt.exact && spelledAs(seg, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return rt.paths == nil || rt.paths(whole)
}

// oddlySpelled returns the segment of segs that matched rt only as
// spelledAs has it ("send;x=1"): the call is taken as rt for its refusal,
// and refused as malformed when rt would not refuse it.
func (rt *route) oddlySpelled(segs []string) (string, bool) {
	if rt == nil || rt.exact || len(segs) < len(rt.alts) {
		return "", false
	}
	segs = segs[len(segs)-len(rt.alts):]
	for i, alts := range rt.alts {
		if alts[0] == "*" {
			continue
		}
		seg := operationName(segs[i])
		if !slices.ContainsFunc(alts, func(w string) bool { return strings.EqualFold(w, seg) }) {
			return segs[i], true
		}
	}
	return "", false
}

// spelledAs reports whether seg is name followed by something that is not
// part of an identifier ("send;x=1", "send ", "send.x"): a spelling whose
// meaning to Graph the proxy cannot establish is taken as the call it
// starts with, so that it meets that call's checks or refusal.
func spelledAs(seg, name string) bool {
	rest, ok := cutPrefixFold(seg, name)
	if !ok || rest == "" {
		return false
	}
	b := rest[0]
	return !(b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z')
}

// cutPrefixFold returns s without prefix when s starts with it, letters
// compared as strings.EqualFold compares them, which is how the route
// model matches a name: "ſend " (U+017F, a long s) starts with "send" and
// "microſoft.graph.send" with Graph's namespace, to a reader that folds
// 'ſ' to 's' as it does 'S'. A byte-wise prefix would leave both for no
// route, and the action unchecked. prefix is ASCII (a name of Graph's),
// so s is at least as long when it starts with it.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) {
		return "", false
	}
	for _, p := range prefix {
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || !equalFoldRune(r, p) {
			return "", false
		}
		s = s[n:]
	}
	return s, true
}

// equalFoldRune reports whether a and b are equal under Unicode simple
// case folding, as strings.EqualFold has it.
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		return 'A' <= a && a <= 'Z' && a+'a'-'A' == b || 'A' <= b && b <= 'Z' && b+'a'-'A' == a
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// operationName is the name of the action or function a segment calls,
// as OData lets it be spelled: qualified by Graph's namespace or its alias
// (microsoft.graph.send, graph.send) and with an empty or filled parameter
// list (send(), delta(token='…')). A rule with a variable there matches
// every spelling; the route model must see each as the call it is.
func operationName(seg string) string {
	if i := strings.IndexByte(seg, '('); i > 0 && strings.HasSuffix(seg, ")") {
		seg = seg[:i]
	}
	for _, ns := range []string{"microsoft.graph.", "graph."} {
		if rest, ok := cutPrefixFold(seg, ns); ok && rest != "" {
			return rest
		}
	}
	return seg
}

// routesOfRule lists the routes a rule's path and methods can reach: a
// variable in the rule matches any segment of the route's tail, and a
// route's "*" any segment of the rule.
func routesOfRule(r *rule) []*route {
	var out []*route
	for i := range routes {
		rt := &routes[i]
		if !slices.ContainsFunc(r.methods, func(m string) bool { return slices.Contains(rt.methods, m) }) {
			continue
		}
		parts := r.tmpl.parts
		if len(parts) < len(rt.tail) || rt.whole && len(parts) != len(rt.tail) {
			continue
		}
		parts = parts[len(parts)-len(rt.tail):]
		ok := true
		for j, alts := range rt.alts {
			if alts[0] != "*" && parts[j].kind == userVar {
				// {user} binds a GUID or a UPN, never a route's name.
				ok = false
				break
			}
			if alts[0] == "*" || parts[j].kind != literal {
				continue
			}
			lit := parts[j].lit
			if !rt.exact {
				lit = strings.ToLower(operationName(lit))
			}
			if !slices.Contains(alts, lit) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, rt)
		}
	}
	return out
}

// checkPeopleRules holds the rules on people to the route model: a rule
// that can write or send mail needs mail.recipientDomains, and
// peopleDomains on a rule whose calls name no one would check nothing.
func (l *policyLoader) checkPeopleRules(f *fileSchema, p *Policy) {
	for i, yr := range f.Rules {
		r := ruleByID(p.rules, yr.ID)
		if r == nil {
			continue
		}
		name := fmt.Sprintf("rule %q", r.id)
		reached := routesOfRule(r)
		if len(p.recipientDomains) == 0 {
			for _, rt := range reached {
				if rt.mail {
					l.add(l.lineOf("rules", i, "path"), name, "its calls can write or send mail (%s), so the policy needs mail.recipientDomains: the domains mail may go to", rt.name)
					break
				}
			}
		}
		if len(r.peopleDomains) > 0 && !slices.ContainsFunc(reached, func(rt *route) bool { return rt.people != "" }) {
			key := "peopleDomains"
			if len(yr.PeopleDomains) == 0 {
				key = "attendeeDomains"
			}
			l.add(l.lineOf("rules", i, key), name, "%s would check nothing: %s %s names no people the proxy reads (see docs/policy.md, \"Who a call touches\")", key, strings.Join(r.methods, ","), r.tmpl.text)
		}
	}
}

func ruleByID(rules []*rule, id string) *rule {
	for _, r := range rules {
		if r.id == id {
			return r
		}
	}
	return nil
}
