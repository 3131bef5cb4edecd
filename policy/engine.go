package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy is a compiled policy file. It is immutable and safe for
// concurrent use; a reload builds a new one.
type Policy struct {
	// Digest is "sha256:" and the hex digest of the file's bytes.
	Digest string

	reportOnly          bool
	callers             map[string]*caller
	callerOrder         []*caller
	rules               []*rule
	root                *node
	notificationURLs    []string
	includeResourceData bool
	recipientDomains    []string
	externalLinks       bool
	warnings            []Problem // response paths that can never match, permissions named by an alias
	aliased             map[string]string
}

type caller struct {
	name, tenantID, appID, thumbprint, group string
	permissions                              map[string]bool
	limits                                   Limits
	// relay: the caller's subscriptions deliver through the proxy
	// (callers[].notifications: relay).
	relay bool
	// withoutGroup are the people a call may name in its body without
	// being members of group: rooms, resources and outside guests.
	withoutGroupDomains, withoutGroupAddresses []string

	// delegated are the Graph delegated scopes the caller may use acting
	// as a signed-in user; nil when it declares no delegated access.
	delegated map[string]bool
}

// unscoped reports whether a person named in a body may be named without
// being a member of the caller's group.
func (c *caller) unscoped(p person) bool {
	if p.addr == nil || !p.bodyNamed {
		return false
	}
	return p.addr.InDomains(c.withoutGroupDomains) || slices.Contains(c.withoutGroupAddresses, p.addr.String())
}

// Limits bound one caller's traffic (policy callers[].rateLimit).
type Limits struct {
	// RPS and Burst are the caller's sustained rate and burst of calls.
	RPS   float64
	Burst int
	// Concurrent bounds the caller's calls in flight.
	Concurrent int
	// MailboxConcurrent and MailboxPer10Min bound the caller's calls to one
	// mailbox: Graph allows one app 4 at a time and 10,000 per 10 minutes
	// per mailbox, and every vendor shares the proxy's app.
	MailboxConcurrent int
	MailboxPer10Min   int
}

// DefaultLimits apply where a caller's rateLimit says nothing: sized to
// Graph's Outlook limits, so that no vendor can use up the tenant's budget
// on its own.
var DefaultLimits = Limits{RPS: 10000.0 / 600, Burst: 100, Concurrent: 20, MailboxConcurrent: 4, MailboxPer10Min: 10000}

type rule struct {
	id            string
	tmpl          template
	methods       []string
	versions      []string
	query         []string
	selectFields  []string
	permission    string
	peopleDomains []string
	response      *Response // nil: answers pass as Graph sends them
	content       *Content  // nil: not a content rule (content.go)
	// delegatedScope is the Graph delegated scope a signed-in user's call
	// needs (delegated.go); otherUsers lets such a call name a user other
	// than the signed-in one.
	delegatedScope string
	otherUsers     bool
	// delegatedReads are the delegated scopes the proxy's reads of the
	// items this rule's calls refer to need beyond delegatedScope, by
	// ReferenceRead.Item (readpermissions.go).
	delegatedReads map[string]string
}

// Args are what a Decider decides on. A struct keeps the Decider interface
// stable as fields are added.
type Args struct {
	// Caller is the name of the authenticated caller (callers[].name).
	Caller string
	// Request is the canonical request.
	Request Request
	// ContentType is the request's Content-Type header.
	ContentType string
	// Body is the decoded request body; nil when there is none.
	Body []byte
	// Actor is the signed-in user of a delegated call; nil for app-only.
	Actor *Actor

	// doc is the body already parsed (a $batch sub-request's), which
	// Body then does not hold.
	doc any
	// inBatch: the request is a $batch sub-request, with a body or not.
	inBatch bool
}

// Decider decides requests.
type Decider interface {
	Decide(Args) Decision
	// Route finds, before the body is read, what decides a request: the
	// rule that serves it, or a denial no body can change. The Routed
	// then decides with the body, by the same policy.
	Route(caller string, req Request) Routed
	// RouteInto is Route into rt, for a caller acting as a signed-in user
	// (a delegated call) or, with a nil actor, as itself; rt is the
	// caller's, kept where it is not copied again (see Routed.Decide).
	RouteInto(rt *Routed, caller string, actor *Actor, req *Request)
}

// Decision is the verdict on one request. The zero value denies.
type Decision struct {
	Result Result
	// RuleID is the rule that matched; empty when none did.
	RuleID string
	// Route is the matching rule's path template.
	Route string
	// Permission is the Graph permission the matching rule exercises: its
	// delegated scope for a signed-in user's call.
	Permission string
	// Scopes are the Graph delegated scopes a signed-in user's call needs
	// (a $batch: all its requests'); empty for an app-only call.
	Scopes []string
	// Reason says why the call was denied (or would have been in
	// report-only mode); for the audit log, never for the caller.
	Reason string
	// Targets are the users the call touches: the {user} of the path and
	// those named in the body (getSchedule's schedules, attendees).
	Targets []string
	// Group, when set, is the security group every target must be a member
	// of; the proxy checks membership before forwarding.
	Group string
	// ExternalLinks allows links to hosts other than Graph in the answer
	// (uploadUrl, @microsoft.graph.downloadUrl, Location).
	ExternalLinks bool
	// Batch holds one decision per sub-request of a $batch call.
	Batch []SubDecision
	// ReportOnly is set when the policy forwards would-be denials: a
	// denial found after Decide (group membership) must then report, not
	// deny.
	ReportOnly bool
	// Refusal is the kind of denial, when the call is refused (or would
	// be, in report-only mode).
	Refusal Refusal
	// Unscoped are the targets users.withoutGroup lets through without a
	// membership check: people named in the body (rooms, guests) by an
	// address or domain the caller's policy lists.
	Unscoped []string
	// ContentType is the Content-Type Graph receives with the body, as
	// the policy read it; empty for a call without a body.
	ContentType string
	// AddSelect, when set, is the $select the proxy adds to a call that
	// sent none: the fields of a rule that lists them, so that the caller
	// never receives more than those.
	AddSelect string
	// Body, when not nil, is the body Graph receives in place of the
	// caller's: a $batch written out again from what was decided.
	Body []byte
	// Relay is set on a call to /subscriptions of a caller whose
	// notifications the proxy relays (callers[].notifications: relay): a
	// subscription it creates has its notification URLs replaced by the
	// proxy's, and answers show the caller its own URLs back. A proxy that
	// cannot relay must refuse such a call.
	Relay bool
	// Content is the matching rule's content section: the call moves file
	// content through the proxy (content.go). Nil for any other call.
	Content *Content
	// Lookup, when set, is the item whose people the call reaches without
	// naming them (a reply's message, a cancelled event): the decision is
	// not final until the proxy has read them from Graph and
	// Routed.DecideReferenced has checked them. A proxy that cannot read
	// the item must refuse the call, never forward it.
	Lookup *Lookup
	// Response is the matching rule's response section: what of Graph's
	// answer reaches the caller. Nil passes the answer as Graph sends it
	// (links aside); a $batch has none of its own, its sub-requests each
	// their own.
	Response *Response
	// selects: the matching rule lists the fields a caller may receive
	// (select:), whether or not the call named them.
	selects bool
}

// SubDecision is the decision on one $batch sub-request.
type SubDecision struct {
	// ID is the sub-request's id in the batch.
	ID       string
	Request  Request
	Decision Decision
	// routed is the sub-request as routed, for DecideReferenced; nil for
	// one refused before it was routed.
	routed *Routed
}

// Unresolved reports whether d, or a sub-request of its $batch, still
// waits for the people of the item it refers to (Lookup): a call that must
// not be forwarded as it is.
func (d *Decision) Unresolved() bool {
	if d.Lookup != nil {
		return true
	}
	for i := range d.Batch {
		if d.Batch[i].Decision.Lookup != nil {
			return true
		}
	}
	return false
}

// Forwarded reports whether the call goes to Graph.
func (d Decision) Forwarded() bool { return d.Result.Forwarded() }

// Refuse turns an allowing decision into a denial for reason (a report in
// report-only mode). A decision that already denies keeps its reason.
func (d *Decision) Refuse(reason string) {
	if d.Result != Allow {
		return
	}
	d.Reason = reason
	d.Result = Deny
	if d.ReportOnly {
		d.Result = Report
	}
}

// ReportOnly reports whether the policy forwards would-be denials.
func (p *Policy) ReportOnly() bool { return p.reportOnly }

// Permissions returns the Graph application permissions the proxy's own
// identity needs for this policy: every rule's permission; the one that
// lets the proxy read the items calls refer to (a reply's message, a
// cancelled event: ReferenceReads) when no permission of the policy
// already allows it; and GroupMember.Read.All when a caller is scoped to a
// group (the proxy checks membership through Graph). Sorted.
func (p *Policy) Permissions() []string {
	set := map[string]bool{}
	for _, r := range p.rules {
		if r.permission != "" {
			set[r.permission] = true
		}
	}
	for _, read := range appReadPermissions(p.rules, set) {
		set[read] = true
	}
	for _, c := range p.callerOrder {
		if c.group != "" {
			set["GroupMember.Read.All"] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// AliasedPermissions maps each permission name the policy gives by an
// alias (ApplicationAliases: a delegated-only name where an application
// permission belongs), as written, to the application permission it was
// read as and Permissions lists; nil when there is none. check tells the
// operator to write the application permission's name.
func (p *Policy) AliasedPermissions() map[string]string { return maps.Clone(p.aliased) }

// Limits returns a caller's limits; DefaultLimits for an unknown caller.
func (p *Policy) Limits(caller string) Limits {
	if c := p.callers[caller]; c != nil {
		return c.limits
	}
	return DefaultLimits
}

// CallerForApp returns the caller matching an Entra ID application.
func (p *Policy) CallerForApp(tenantID, appID string) (string, bool) {
	t, a := strings.ToLower(tenantID), strings.ToLower(appID)
	for _, c := range p.callerOrder {
		if c.tenantID == t && c.appID == a && t != "" {
			return c.name, true
		}
	}
	return "", false
}

// CallerForCert returns the caller matching a client certificate's
// SHA-256 or SHA-1 thumbprint (lower-case hex).
func (p *Policy) CallerForCert(sha256Hex, sha1Hex string) (string, bool) {
	for _, c := range p.callerOrder {
		if c.thumbprint != "" && (c.thumbprint == sha256Hex || c.thumbprint == sha1Hex) {
			return c.name, true
		}
	}
	return "", false
}

// Callers returns the callers' names in file order; there is at least one.
func (p *Policy) Callers() []string {
	names := make([]string, len(p.callerOrder))
	for i, c := range p.callerOrder {
		names[i] = c.name
	}
	return names
}

// Decide decides a request. It never touches the network: membership of
// Targets in Group is left to the caller of Decide.
func (p *Policy) Decide(a Args) Decision {
	d := p.decide(a, true)
	p.finish(&d)
	return d
}

// finish applies report-only mode.
func (p *Policy) finish(d *Decision) {
	d.ReportOnly = p.reportOnly
	if d.Result == Deny && p.reportOnly {
		d.Result = Report
	}
	for i := range d.Batch {
		p.finish(&d.Batch[i].Decision)
	}
}

func deny(format string, args ...any) Decision {
	return Decision{Result: Deny, Reason: fmt.Sprintf(format, args...)}
}

// Routed is a request routed by one policy, ready to be decided with its
// body: the caller, and the rule that serves the request (none for a
// $batch, decided by its parts); or a denial no body can change.
type Routed struct {
	p      *Policy
	name   string
	caller *caller
	actor  *Actor
	req    Request
	rule   *rule
	denial Decision
	denied bool
}

// Route routes req for caller: see Decider.
func (p *Policy) Route(caller string, req Request) Routed { return p.route(caller, req, true) }

func (p *Policy) route(name string, req Request, allowBatch bool) Routed {
	return p.routeAs(name, nil, req, allowBatch)
}

func (p *Policy) routeAs(name string, actor *Actor, req Request, allowBatch bool) (rt Routed) {
	p.routeInto(&rt, name, actor, &req, allowBatch)
	return rt
}

// routeInto routes req into rt. The rule is found in a frame that holds
// no Routed or Decision: on the goroutine that serves the call, the
// routing's tree walk is one of its deepest points (TestCallStack).
func (p *Policy) routeInto(rt *Routed, name string, actor *Actor, req *Request, allowBatch bool) {
	*rt = Routed{}
	rt.p, rt.name, rt.req, rt.caller, rt.actor = p, name, *req, p.callers[name], actor
	c := rt.caller
	if c != nil && (actor == nil || c.delegated != nil) && !isBatch(req) {
		rt.rule = p.root.match(req.Segments, func(r *rule) bool {
			return r.serves(c, actor, req.Method, req.Version)
		})
		if rt.rule != nil && slices.ContainsFunc(req.Segments, readOtherwise) {
			p.decidedAsRead(rt)
		}
	}
	if rt.rule == nil && !rt.denied {
		p.denyRoute(rt, allowBatch)
	}
}

// isBatch reports whether req is a call on $batch.
func isBatch(req *Request) bool { return len(req.Segments) == 1 && req.Segments[0] == "$batch" }

// denyRoute sets rt's denial when no rule serves its request: a caller
// the policy does not name, or not as the signed-in user, a $batch not
// sent as POST without query options (or inside another), or no rule of
// the caller's. A $batch that may be sent is left to decideBatch.
//
//go:noinline
func (p *Policy) denyRoute(rt *Routed, allowBatch bool) {
	c, actor, req := rt.caller, rt.actor, &rt.req
	switch {
	case c == nil:
		rt.denial, rt.denied = deny("caller %q is not in the policy", rt.name), true
	case actor != nil && c.delegated == nil:
		rt.denial, rt.denied = delegatedDenial(c, actor)
	case isBatch(req):
		switch {
		case !allowBatch:
			rt.denial, rt.denied = deny("a $batch inside a $batch is not allowed"), true
		case req.Method != "POST" || len(req.Query) > 0:
			rt.denial, rt.denied = deny("$batch takes POST without query options"), true
		}
	default:
		rt.denial, rt.denied = p.noRule(c, actor, *req), true
	}
}

// DenyWithoutBody returns the decision on a request denied whatever its
// body holds — a caller the policy does not name, a $batch sent other
// than as POST without query options, a path no rule of the caller's
// serves with that method and version — so that the body need not be
// read. ok is false when the body may matter, and always in report-only
// mode, where a denied call still goes to Graph, body and all.
func (rt *Routed) DenyWithoutBody() (d Decision, ok bool) {
	if !rt.denied || rt.p.reportOnly {
		return Decision{}, false
	}
	d = rt.denial
	rt.p.finish(&d)
	return d, true
}

// Decide decides the routed request with its Content-Type and body.
//
// Routed's methods take it by pointer, and Args and decisions move by
// pointer where they can: the proxy decides on the goroutine that serves
// the call, whose stack grows, and is copied, past the deepest frame.
func (rt *Routed) Decide(contentType string, body []byte) (d Decision) {
	rt.DecideInto(&d, contentType, body)
	return d
}

// DecideInto is Decide into d, for a caller that keeps the decision
// where it is not copied again.
func (rt *Routed) DecideInto(d *Decision, contentType string, body []byte) {
	rt.decideInto(&Args{Caller: rt.name, Request: rt.req, ContentType: contentType, Body: body, Actor: rt.actor}, d)
	rt.p.finish(d)
}

func (p *Policy) decide(a Args, allowBatch bool) Decision {
	rt := p.routeAs(a.Caller, a.Actor, a.Request, allowBatch)
	return rt.decide(&a)
}

// decide returns the decision decideInto makes.
func (rt *Routed) decide(a *Args) Decision {
	var d Decision
	rt.decideInto(a, &d)
	return d
}

// decideInto decides the call into d, in stages each in a frame of its
// own: the body's check, the deepest a call goes, then runs on what the
// stages before it leave on the stack rather than under their frames
// (TestCallStack holds a call to 8 KB of it).
func (rt *Routed) decideInto(a *Args, d *Decision) {
	switch {
	case rt.denied:
		*d = rt.denial
		return
	case rt.rule == nil:
		rt.decideBatchInto(a, d)
		return
	}
	actsOnUsers, ok := rt.decideRequest(d)
	if !ok {
		return
	}
	if reason, refusal := rt.p.checkBody(rt.caller, rt.rule, a, d); reason != "" {
		d.Reason, d.Refusal = reason, refusal
		return
	}
	if rt.decideObject(d, actsOnUsers) {
		d.Result = Allow
	}
}

// decideBatchInto decides a $batch call into d, on a goroutine of its own.
//
// A batch goes deeper than any one call: its body is parsed whole (a
// sub-request's body sits two levels down in it), each sub-request is
// decided under the batch's frames, and the batch is written out again
// with encoding/json, whose frames are large. On the goroutine that serves
// the call a stack grown once stays grown while the call waits for Graph,
// and over HTTP/1.1 while its connection lives; a goroutine that ends gives
// its stack back at once (TestCallStack). A panic is carried back to the
// call's goroutine, where net/http's recovery handles it as any handler's,
// rather than ending the process.
func (rt *Routed) decideBatchInto(a *Args, d *Decision) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		*d = rt.p.decideBatch(rt.caller, rt.actor, rt.req.Version, a.ContentType, a.Body)
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}

// decideRequest decides the call's path and query into d, and reports
// whether the call acts on users its path names, and ok false, with d's
// reason, when they are refused.
//
//go:noinline
func (rt *Routed) decideRequest(d *Decision) (actsOnUsers, ok bool) {
	p, c, r, req := rt.p, rt.caller, rt.rule, &rt.req
	*d = Decision{RuleID: r.id, Route: r.tmpl.text, Permission: r.permission, Group: c.group, ExternalLinks: p.externalLinks, Response: r.response}
	d.Content = r.content
	d.Relay = c.relay && len(req.Segments) > 0 && strings.EqualFold(req.Segments[0], "subscriptions")
	// The users the path names, /me among them, are the object the call
	// acts on, which a scoped caller's must be. The signed-in user is a
	// target of every call of the user's, but not what a call on a
	// drive, a group or a chat by its own id acts on: such a call reaches
	// whatever the user may reach, anyone's.
	if rt.actor != nil {
		if d.Reason = rt.delegate(d); d.Reason != "" {
			return false, false
		}
		actsOnUsers = len(req.Segments) > 0 && strings.EqualFold(req.Segments[0], "me")
	}
	if u := r.tmpl.bind(req.Segments); u != "" {
		d.Targets = append(d.Targets, u)
		actsOnUsers = true
	}
	if u := pathUser(req); u != "" {
		d.Targets = appendUnique(d.Targets, u)
		actsOnUsers = true
	} else if c.group != "" && len(req.Segments) > 0 && strings.EqualFold(req.Segments[0], "users") {
		// A collection of users, or a path whose user is not one the
		// proxy can name: the group scope cannot be applied to it.
		d.Reason = fmt.Sprintf("caller %q is scoped to users.group, and %s names no one user the scope can check", c.name, req.Path)
		return false, false
	}
	for _, q := range req.Query {
		// Graph's own paging and delta links carry these; a rule that
		// pages must accept them (paging.go).
		if !slices.Contains(r.query, q) && !impliedPaging(r, req, q) {
			d.Reason = fmt.Sprintf("query option %s is not allowed by rule %q", q, r.id)
			return false, false
		}
	}
	if slices.Contains(req.Query, "$select") && len(req.Select) == 0 {
		d.Reason = "$select names no field"
		return false, false
	}
	if d.Reason = queryTestRefusal(r.response, req); d.Reason != "" {
		return false, false
	}
	if d.Reason = rt.countTestRefusal(); d.Reason != "" {
		return false, false
	}
	if len(r.selectFields) > 0 {
		d.selects = true
		for _, f := range req.Select {
			if !slices.Contains(r.selectFields, f) {
				d.Reason = fmt.Sprintf("$select field %s is not allowed by rule %q", shownName(f), r.id)
				return false, false
			}
		}
		if len(req.Select) == 0 && req.Method == "GET" {
			// Without $select Graph answers with its default properties:
			// more than the rule lists.
			d.AddSelect = strings.Join(r.selectFields, ",")
		}
	}
	return actsOnUsers, true
}

// decideObject decides, once the body is checked, what the call reaches
// through it, leaving a reason when it is refused.
//
//go:noinline
func (rt *Routed) decideObject(d *Decision, actsOnUsers bool) bool {
	c, r, req := rt.caller, rt.rule, &rt.req
	if d.Lookup != nil && rt.actor != nil {
		// The proxy reads the item with the user's token: it must carry
		// the scope of that read too.
		if s := r.readScope(d.Lookup); s != "" {
			d.Scopes = append(d.Scopes, s)
		}
	}
	if c.group != "" && !actsOnUsers && !subscriptionOfUsers(req, d) {
		// A call on something that is no user (a group, a site or a
		// drive by its own id, a chat): the scope has no one to check
		// the object against, so it would reach anyone's — whoever the
		// body names, who are not what the call acts on.
		d.Reason = fmt.Sprintf("caller %q is scoped to users.group, and %s names no user the scope can check", c.name, req.Path)
		return false
	}
	return true
}

// subscriptionOfUsers reports whether a call on subscriptions, which
// names no user in its path, is tied to the users its subscription's
// resource reads: a creation, whose resource checkSubscription decided
// as the read it stands for (a scoped caller's must name users); or a
// call on one subscription by id, which the proxy reads first and decides
// as its creation (LookupSubscription). A listing of them all is tied to
// no one.
func subscriptionOfUsers(req *Request, d *Decision) bool {
	if len(req.Segments) == 0 || !strings.EqualFold(req.Segments[0], "subscriptions") {
		return false
	}
	creates := len(req.Segments) == 1 && req.Method == "POST"
	return creates || d.Lookup != nil && d.Lookup.Kind == LookupSubscription
}

// noRule explains a denial when no rule applied, naming a near miss.
func (p *Policy) noRule(c *caller, actor *Actor, req Request) Decision {
	near := p.root.match(req.Segments, func(*rule) bool { return true })
	switch {
	case near != nil && actor != nil && slices.Contains(near.methods, req.Method) && slices.Contains(near.versions, req.Version):
		return noDelegatedRule(c, near)
	case near != nil && actor == nil && near.permission == "":
		return deny("rule %q serves signed-in users' calls only (delegatedScope), and this call is app-only", near.id)
	case near == nil:
		return deny("no rule matches %s %s %s", req.Method, req.Version, req.Path)
	case !slices.Contains(near.methods, req.Method):
		return deny("rule %q matches the path but not method %s", near.id, req.Method)
	case !slices.Contains(near.versions, req.Version):
		return deny("rule %q matches the path but not version %s", near.id, req.Version)
	default:
		return deny("caller %q does not hold %s, which rule %q needs", c.name, near.permission, near.id)
	}
}
