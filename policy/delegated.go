package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Delegated access: a caller may act as a signed-in user of the customer's
// tenant (callers[].delegated), with the Graph delegated scopes it lists.
// A rule names the delegated scope its calls need (delegatedScope); the
// proxy exchanges the user's token on behalf of the user for a Graph token
// with that scope. /me is the signed-in user, a target like any other: the
// group scope applies to it, and a call naming another user needs a rule
// that says so (otherUsers, for shared and delegated mailboxes).

// Actor is the signed-in user of a delegated call, as the proxy validated
// the user's token.
type Actor struct {
	// ObjectID is the user's object id; UPN the user's principal name,
	// possibly empty.
	ObjectID, UPN string
}

// name is how the actor is a target: the UPN in lower case, as a path
// names a user, else the object id.
func (a *Actor) name() string {
	if a.UPN != "" {
		return strings.ToLower(a.UPN)
	}
	return strings.ToLower(a.ObjectID)
}

// is reports whether a path's user segment names the actor.
func (a *Actor) is(user string) bool {
	return strings.EqualFold(user, a.ObjectID) || (a.UPN != "" && strings.EqualFold(user, a.UPN))
}

// DelegatedScopes are the Microsoft Graph delegated permissions a caller
// may hold and a rule may name. A policy naming any other is rejected at
// load, with the nearest known name suggested.
var DelegatedScopes = []string{
	"Calendars.Read",
	"Calendars.Read.Shared",
	"Calendars.ReadBasic",
	"Calendars.ReadWrite",
	"Calendars.ReadWrite.Shared",
	"Channel.ReadBasic.All",
	"ChannelMessage.Send",
	"Chat.Create",
	"Chat.Read",
	"Chat.ReadBasic",
	"Chat.ReadWrite",
	"ChatMessage.Read",
	"ChatMessage.Send",
	"Contacts.Read",
	"Contacts.ReadWrite",
	"Files.Read",
	"Files.Read.All",
	"Files.ReadWrite",
	"Files.ReadWrite.All",
	"Mail.Read",
	"Mail.Read.Shared",
	"Mail.ReadBasic",
	"Mail.ReadWrite",
	"Mail.ReadWrite.Shared",
	"Mail.Send",
	"Mail.Send.Shared",
	"MailboxSettings.Read",
	"MailboxSettings.ReadWrite",
	"OnlineMeetings.Read",
	"OnlineMeetings.ReadWrite",
	"People.Read",
	"Presence.Read",
	"Presence.Read.All",
	"Sites.Read.All",
	"Sites.ReadWrite.All",
	"Tasks.Read",
	"Tasks.ReadWrite",
	"Team.ReadBasic.All",
	"User.Read",
	"User.ReadBasic.All",
}

var knownDelegatedScope = func() map[string]string {
	m := make(map[string]string, len(DelegatedScopes))
	for _, s := range DelegatedScopes {
		m[lowerASCII(s)] = s
	}
	return m
}()

type yamlDelegated struct {
	Scopes []string `yaml:"scopes"`
}

func unknownScope(s string) string {
	reason := fmt.Sprintf("unknown delegated scope %q", s)
	if n := nearest(s, DelegatedScopes); n != "" {
		reason += fmt.Sprintf(" (did you mean %q?)", n)
	}
	return reason
}

// compileDelegated reads a caller's delegated section.
func (l *policyLoader) compileDelegated(i int, yc yamlCaller, c *caller) {
	name := fmt.Sprintf("caller %q", yc.Name)
	line := func(k ...any) int { return l.lineOf(append([]any{"callers", i, "delegated"}, k...)...) }
	yd := yc.Delegated
	if yd == nil {
		return
	}
	if c.appID == "" {
		l.add(line(), name, "delegated access needs match.appID: a user's token names the application that signed the user in")
	}
	if len(yd.Scopes) == 0 {
		l.add(line(), name, "delegated.scopes are required: the Graph delegated permissions the caller may use on behalf of a signed-in user")
	}
	c.delegated = map[string]bool{}
	for j, s := range yd.Scopes {
		canon, ok := knownDelegatedScope[lowerASCII(s)]
		if !ok {
			l.add(line("scopes", j), name, "%s", unknownScope(s))
			continue
		}
		c.delegated[canon] = true
	}
}

// compileRuleScope reads a rule's delegatedScope and otherUsers, and
// reports whether the rule names a permission of either kind.
func (l *policyLoader) compileRuleScope(i int, yr yamlRule, r *rule) bool {
	line := func(k ...any) int { return l.lineOf(append([]any{"rules", i}, k...)...) }
	name := fmt.Sprintf("rule %q", yr.ID)
	r.otherUsers = yr.OtherUsers
	me := len(r.tmpl.parts) > 0 && r.tmpl.parts[0].kind == literal && r.tmpl.parts[0].lit == "me"
	if yr.DelegatedScope == "" {
		if me {
			l.add(line("path"), name, "/me is the signed-in user: the rule needs delegatedScope, and only delegated calls can use it")
		}
		if yr.OtherUsers {
			l.add(line("otherUsers"), name, "otherUsers applies to delegated calls: give delegatedScope too")
		}
		return false
	}
	canon, ok := knownDelegatedScope[lowerASCII(yr.DelegatedScope)]
	if !ok {
		l.add(line("delegatedScope"), name, "%s", unknownScope(yr.DelegatedScope))
		return true
	}
	r.delegatedScope = canon
	if me && yr.Permission != "" {
		l.add(line("permission"), name, "/me has no meaning for an app-only call: remove permission, delegatedScope serves it")
	}
	if me && yr.OtherUsers {
		l.add(line("otherUsers"), name, "otherUsers has no meaning under /me")
	}
	return true
}

// checkDelegatedHeld reports a rule whose delegated scope no caller may use.
func (l *policyLoader) checkDelegatedHeld(i int, r *rule, p *Policy) {
	if r.delegatedScope == "" {
		return
	}
	for _, c := range p.callerOrder {
		if c.delegated[r.delegatedScope] {
			return
		}
	}
	l.add(l.lineOf("rules", i, "delegatedScope"), fmt.Sprintf("rule %q", r.id),
		"no caller's delegated.scopes holds %s, so no delegated call can use this rule; add it to a caller's delegated.scopes or remove it", r.delegatedScope)
}

// delegatedTwice names a caller before c that declares delegated access
// for c's application as c does, or "": CallerForDelegatedApp would name
// it for every user's token of the application, and c's users.group, rules
// and limits would never apply to them.
func delegatedTwice(before []*caller, c *caller) string {
	if c.delegated == nil || c.appID == "" {
		return ""
	}
	for _, o := range before {
		if o.delegated != nil && o.appID == c.appID {
			return o.name
		}
	}
	return ""
}

// CallerForDelegatedApp names the caller that declares delegated access
// for an Entra ID application: a user's token is issued by the user's
// tenant, so the application alone names the caller.
func (p *Policy) CallerForDelegatedApp(appID string) (string, bool) {
	a := strings.ToLower(appID)
	for _, c := range p.callerOrder {
		if c.delegated != nil && c.appID == a && a != "" {
			return c.name, true
		}
	}
	return "", false
}

// DelegatedScopesNeeded returns the Graph delegated permissions the
// proxy's app registration needs consented for this policy: every rule's
// delegatedScope, and the scopes with which the proxy reads the items its
// calls refer to where the rule's own does not allow it (ReferenceReads).
// Sorted.
func (p *Policy) DelegatedScopesNeeded() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, r := range p.rules {
		add(r.delegatedScope)
		for _, scope := range r.delegatedReads {
			add(scope)
		}
	}
	slices.Sort(out)
	return out
}

// RouteAs is RouteInto returning the Routed, for a caller that holds it
// by value.
func (p *Policy) RouteAs(caller string, actor *Actor, req Request) Routed {
	return p.routeAs(caller, actor, req, true)
}

// RouteInto routes req into rt: see Decider.
func (p *Policy) RouteInto(rt *Routed, caller string, actor *Actor, req *Request) {
	p.routeInto(rt, caller, actor, req, true)
}

// usable reports whether caller c may use rule r: by an application
// permission it holds, or, acting as a signed-in user, by a delegated
// scope it may use.
func usable(c *caller, actor *Actor, r *rule) bool {
	if actor != nil {
		return r.delegatedScope != "" && c.delegated[r.delegatedScope]
	}
	return r.permission != "" && c.permissions[r.permission]
}

// serves reports whether rule r serves method and version to caller c
// acting as actor (nil: app-only): what the trie's match asks of a rule
// for the request as sent, and for each other reading of it.
func (r *rule) serves(c *caller, actor *Actor, method, version string) bool {
	return slices.Contains(r.methods, method) && slices.Contains(r.versions, version) && usable(c, actor, r)
}

// delegatedDenial is the denial of a delegated call before any rule: a
// caller that does not declare delegated access.
func delegatedDenial(c *caller, actor *Actor) (Decision, bool) {
	if actor != nil && c.delegated == nil {
		return deny("caller %q acts as signed-in user %s but does not declare delegated access (callers[].delegated)", c.name, actor.name()), true
	}
	return Decision{}, false
}

// noDelegatedRule explains a delegated call no rule serves, when a rule
// matches all but the scope.
func noDelegatedRule(c *caller, near *rule) Decision {
	if near.delegatedScope == "" {
		return deny("rule %q serves app-only calls only (no delegatedScope), and this call is a signed-in user's", near.id)
	}
	return deny("caller %q may not use the delegated scope %s, which rule %q needs", c.name, near.delegatedScope, near.id)
}

// delegate completes a delegated call's decision: the scope it needs, the
// signed-in user as a target, and another user's mailbox only where the
// rule allows it. It returns why the call is refused, or "".
func (rt *Routed) delegate(d *Decision) string {
	a, r, req := rt.actor, rt.rule, rt.req
	d.Permission = r.delegatedScope
	d.Scopes = []string{r.delegatedScope}
	d.Targets = append(d.Targets, a.name())
	if len(req.Segments) > 0 && strings.EqualFold(req.Segments[0], "me") {
		return ""
	}
	if u := r.tmpl.userOf(req.Segments); u != "" && !a.is(u) && !r.otherUsers {
		return fmt.Sprintf("rule %q serves the signed-in user only, and %s names another user; a rule with otherUsers: true allows it", r.id, req.Path)
	}
	return ""
}

// userOf returns the user a call on segs under t acts on: the {user} it
// binds, else the segment after users whatever takes it — {id}, any
// variable, a user written out — for Graph reads it as a user's id or
// UPN all the same. A literal that names no user (users/delta) is the
// collection's, no one's.
func (t template) userOf(segs []string) string {
	if u := t.bind(segs); u != "" {
		return u
	}
	if len(segs) < 2 || len(t.parts) < 2 || !strings.EqualFold(segs[0], "users") {
		return ""
	}
	if t.parts[1].kind == literal && !isUser(segs[1]) {
		return ""
	}
	return segs[1]
}
