package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The route model: the kinds of Graph call whose body the policy must
// read a way of their own — where people appear in them, how the body is
// labelled, which members the call cannot work without, which calls reach
// people of an item they refer to (read by the proxy, references.go), and
// which calls are refused whatever their body. It is the one place that
// says so:
// checkBody reads it for every call, the policy loader for every rule.
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

// A requirement names a route's check of the members it cannot work
// without (a name, not a func: the checks decide, and deciding reads the
// routes).
type requirement uint8

const (
	noRequirement requirement = iota
	needsSchedules
	needsMessage
	needsRecipients
	needsNoExternalReplies
	needsNoAnonymousLink
	needsInvitees
	needsOwnDrive
	needsOwnFolder
	subscriptionChecks
)

// required runs a route's requirement.
func (c *bodyCheck) required(req requirement) (string, Refusal) {
	switch req {
	case needsSchedules:
		return checkSchedules(c)
	case needsMessage:
		return requireMessage(c)
	case needsRecipients:
		return requireRecipients(c)
	case needsNoExternalReplies:
		return requireNoExternalReplies(c)
	case needsNoAnonymousLink:
		return requireNoAnonymousLink(c)
	case needsInvitees:
		return requireInvitees(c)
	case needsOwnDrive:
		return requireOwnDrive(c)
	case needsOwnFolder:
		return requireOwnFolder(c)
	case subscriptionChecks:
		return checkSubscription(c)
	}
	return "", RefusalPolicy
}

var (
	post  = []string{"POST"}
	patch = []string{"PATCH"}
	write = []string{"POST", "PATCH", "PUT"}
)

// routes are matched in order; the first that matches applies.
var routes = []route{
	{name: "getSchedule", methods: post, tail: []string{"getschedule"},
		people: "schedules[] (mailbox addresses)", check: needsSchedules},
	{name: "sendMail", methods: post, tail: []string{"sendmail"}, media: mediaJSONOrMIME, mail: true, sends: true,
		people: "message: toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions; MIME: To, Cc, Bcc, From, Sender, Reply-To, Resent-*", check: needsMessage},
	{name: "message reply", methods: post, action: true, tail: []string{"messages", "*", "reply"}, mail: true, sends: true, resolve: LookupReply,
		people: "message's recipients, from, sender, mentions; and the message's replyTo, or from and sender (read from Graph)"},
	{name: "message replyAll", methods: post, action: true, tail: []string{"messages", "*", "replyall"}, mail: true, sends: true, resolve: LookupReplyAll,
		people: "message's recipients, from, sender, mentions; and the message's replyTo, or from and sender, toRecipients and ccRecipients (read from Graph)"},
	{name: "message forward", methods: post, action: true, tail: []string{"messages", "*", "forward"}, media: mediaJSONOrMIME, mail: true, sends: true,
		people: "toRecipients and message's recipients, from, sender; MIME headers"},
	{name: "draft reply or forward", methods: post, action: true, tail: []string{"messages", "*", "createreply|createreplyall|createforward"}, media: mediaJSONOrMIME, mail: true,
		people: "toRecipients and message's recipients, from, sender; MIME headers"},
	{name: "draft send", methods: post, action: true, tail: []string{"messages", "*", "send"}, mail: true, sends: true, resolve: LookupDraft,
		people: "the draft's toRecipients, ccRecipients, bccRecipients (read from Graph)"},
	// Teams messages are not mail: matched before the mailbox's messages.
	{name: "chat message", methods: write, tail: []string{"chats|channels", "*", "messages"}, people: "mentions[].mentioned.user.id"},
	{name: "chat message update", methods: write, tail: []string{"chats|channels", "*", "messages", "*"}, people: "mentions[].mentioned.user.id"},
	{name: "channel reply", methods: write, tail: []string{"messages", "*", "replies"}, people: "mentions[].mentioned.user.id"},
	{name: "draft", methods: post, tail: []string{"messages"}, media: mediaJSONOrMIME, mail: true,
		people: "toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions; MIME headers"},
	{name: "draft update", methods: patch, tail: []string{"messages", "*"}, mail: true,
		people: "toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions"},
	{name: "event forward", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "group post forward", methods: post, action: true, tail: []string{"posts", "*", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "group conversation", methods: post, action: true, tail: []string{"conversations|threads|posts", "*", "reply"},
		refuse: "a reply in a group's conversation goes to the group's members, who are not in this call, so the policy cannot check them"},
	{name: "group conversation start", methods: post, tail: []string{"conversations|threads"},
		refuse: "a post in a group's conversation goes to the group's members, who are not in this call, so the policy cannot check them"},
	{name: "message unsubscribe", methods: post, action: true, tail: []string{"messages", "*", "unsubscribe"},
		refuse: "unsubscribing sends mail to the address the message's List-Unsubscribe header names, which is not in this call, so the policy cannot check it"},
	{name: "inbox rule", methods: post, tail: []string{"mailfolders", "*", "messagerules"}, mail: true, sends: true,
		people: "actions.forwardTo, forwardAsAttachmentTo, redirectTo"},
	{name: "inbox rule update", methods: patch, tail: []string{"mailfolders", "*", "messagerules", "*"}, mail: true, sends: true,
		people: "actions.forwardTo, forwardAsAttachmentTo, redirectTo"},
	// Files shared, copied and moved: where they go must be the path's.
	{name: "sharing link", methods: post, tail: []string{"createlink"}, check: needsNoAnonymousLink, people: "recipients[].email", sharingText: true},
	// An invitation reads only its body: it is one however the item is
	// addressed (items/{id}, root, root:/path:, special/{name}, a list
	// item's driveItem, shares/{id}/driveItem, bundles/{id}).
	{name: "sharing invitation", methods: post, action: true, tail: []string{"invite"}, people: "recipients[].email", check: needsInvitees, sharingText: true},
	{name: "mail item move or copy", methods: post, tail: []string{"messages|mailfolders|childfolders|contactfolders", "*", "move|copy"}, check: needsOwnFolder},
	// Any other copy is a drive item's, however addressed.
	{name: "drive item copy", methods: post, tail: []string{"copy"}, check: needsOwnDrive},
	{name: "drive item move", methods: patch, tail: []string{"items", "*"}, check: needsOwnDrive},
	// Automatic replies are read wherever automaticRepliesSetting stands
	// in a body (autoreplies.go); written at its own path, the body is
	// the setting, and a member of it alone is refused.
	{name: "automatic replies", methods: write, tail: []string{"automaticrepliessetting"}, check: needsNoExternalReplies},
	{name: "automatic replies member", methods: write, tail: []string{"automaticrepliessetting", "*"},
		refuse: "automaticRepliesSetting is written whole (status and externalAudience together, as …/mailboxSettings takes it), so that the policy can tell whom automatic replies go to"},
	{name: "event cancel", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "cancel"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "event response", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "accept|decline|tentativelyaccept"}, resolve: LookupOrganizer,
		people: "the event's organizer (read from Graph), unless sendResponse is false"},
	// Graph does not say whether permanentDelete of a meeting its
	// organizer holds cancels it with its attendees, as DELETE does: it
	// is taken to.
	{name: "event permanent delete", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "permanentdelete"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "mail item permanent delete", methods: post, action: true, tail: []string{"messages|mailfolders|childfolders|contacts|contactfolders", "*", "permanentdelete"}},
	// A meeting message's event (messages/{id}/event) is the event, read
	// at that path.
	{name: "event cancel (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "cancel|permanentdelete"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "event response (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "accept|decline|tentativelyaccept"}, resolve: LookupOrganizer,
		people: "the event's organizer (read from Graph), unless sendResponse is false"},
	{name: "event forward (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "event update (a message's)", methods: patch, tail: []string{"messages", "*", "event"}, resolve: LookupAttendees, resolveSelf: true,
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress; and the event's attendees (read from Graph)"},
	{name: "event delete (a message's)", methods: []string{"DELETE"}, tail: []string{"messages", "*", "event"}, resolve: LookupAttendees, resolveSelf: true,
		people: "the event's attendees (read from Graph)"},
	{name: "event", methods: post, tail: []string{"events"},
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress, calendar@odata.bind"},
	// An organizer's update or deletion of an event sends it to every
	// attendee, those the call names and those it does not.
	{name: "event update", methods: patch, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*"}, resolve: LookupAttendees, resolveSelf: true,
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress; and the event's attendees (read from Graph)"},
	{name: "event delete", methods: []string{"DELETE"}, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*"}, resolve: LookupAttendees, resolveSelf: true,
		people: "the event's attendees (read from Graph)"},
	{name: "findMeetingTimes", methods: post, tail: []string{"findmeetingtimes"},
		people: "attendees, locationConstraint.locations[].locationEmailAddress"},
	{name: "online meeting", methods: write, tail: []string{"onlinemeetings"},
		people: "participants.attendees[] and participants.organizer (upn, identity.user.id)"},
	{name: "online meeting update", methods: write, tail: []string{"onlinemeetings", "*"},
		people: "participants.attendees[] and participants.organizer (upn, identity.user.id)"},
	{name: "contact", methods: write, tail: []string{"contacts"}, people: "emailAddresses[]"},
	{name: "contact update", methods: write, tail: []string{"contacts", "*"}, people: "emailAddresses[]"},
	{name: "chat", methods: post, tail: []string{"chats"}, whole: true, people: "members[].user@odata.bind"},
	{name: "chat members", methods: post, tail: []string{"chats", "*", "members"}, people: "user@odata.bind"},
	{name: "subscription", methods: write, tail: []string{"subscriptions"}, whole: true,
		people: "resource (the users it reads)", check: subscriptionChecks},
	{name: "subscription update", methods: patch, tail: []string{"subscriptions", "*"}, whole: true,
		people: "resource (the users it reads, read from Graph)", check: subscriptionChecks, resolve: LookupSubscription, resolveSelf: true},
	{name: "subscription by id", methods: []string{"GET", "DELETE"}, tail: []string{"subscriptions", "*"}, whole: true,
		people: "resource (the users it reads, read from Graph)", resolve: LookupSubscription, resolveSelf: true},
	// A OneNote page's content is not a file's bytes but commands: JSON,
	// or multipart with HTML parts, whose images and objects Graph fetches
	// from the URLs they name. Neither is read by the proxy.
	{name: "OneNote page content", methods: write, tail: []string{"pages", "*", "content"},
		refuse: "a OneNote page's content is HTML, whose images and objects Graph fetches from the URLs it names, in commands the proxy does not read"},
	// A message's $value is its MIME, whose headers say whom it goes to:
	// Graph's MIME form of mail is a draft or a mail sent (text/plain,
	// base64), where the model reads it, never a file's bytes.
	{name: "message MIME", methods: write, tail: []string{"messages", "*", "$value"},
		refuse: "a message's MIME ($value) names whom the message goes to, which the proxy reads only in Graph's MIME form of a draft or a mail sent (POST …/messages, sendMail)"},
	// File content passes unread only where it is a file's bytes (a drive
	// item's, a profile photo's: contentpaths.go); under any other item
	// Graph may read it as more, which the proxy does not: refused.
	{name: "file content", methods: write, tail: []string{"content|$value"}, exact: true, paths: fileContentPath, media: mediaContent},
	{name: "content of another item", methods: write, tail: []string{"content|$value"}, exact: true, refuse: otherContent},
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
func unmodelledAction(req Request, rt *route) string {
	if len(req.Segments) == 0 || rt != nil && (rt.action || rt.resolve != LookupNone) {
		return ""
	}
	name := operationName(req.Segments[len(req.Segments)-1])
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
// names once, not once for every route.
func routeOf(req Request) *route {
	segs := req.Segments
	var buf [maxTail]string
	names := buf[:min(len(segs), maxTail)]
	for i, seg := range segs[len(segs)-len(names):] {
		names[i] = operationName(seg)
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
	if len(seg) <= len(name) || !strings.EqualFold(seg[:len(name)], name) {
		return false
	}
	b := seg[len(name)]
	return !(b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z')
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
		if len(seg) > len(ns) && strings.EqualFold(seg[:len(ns)], ns) {
			return seg[len(ns):]
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

// checkSchedules: getSchedule names the mailboxes it reads in schedules,
// which it cannot do without.
func checkSchedules(c *bodyCheck) (string, Refusal) {
	v, present := c.body.get("schedules")
	list, ok := v.([]any)
	switch {
	case !present:
		return "getSchedule needs schedules: the mailboxes whose free/busy it reads", RefusalMalformed
	case !ok || len(list) == 0:
		return "getSchedule schedules must be a non-empty list of mailbox addresses", RefusalMalformed
	case len(list) > MaxTargets:
		return tooManyTargets, RefusalPolicy
	}
	for _, s := range list {
		str, ok := s.(string)
		if !ok {
			return "getSchedule schedules must be a non-empty list of mailbox addresses", RefusalMalformed
		}
		c.addAddress("schedules[]", str)
	}
	return "", RefusalPolicy
}

// requireMessage: sendMail's JSON form needs its message.
func requireMessage(c *bodyCheck) (string, Refusal) {
	if c.mime {
		return "", RefusalPolicy
	}
	if v, _ := c.body.get("message"); !isObject(v) {
		return "sendMail needs message, an object", RefusalMalformed
	}
	return "", RefusalPolicy
}

// requireRecipients: an event is forwarded to toRecipients.
func requireRecipients(c *bodyCheck) (string, Refusal) {
	if v, _ := c.body.get("toRecipients"); !isNonEmptyList(v) {
		return "forward needs toRecipients, a non-empty list", RefusalMalformed
	}
	return "", RefusalPolicy
}

// requireNoExternalReplies: a body written to …/automaticRepliesSetting
// is the setting itself (autoreplies.go).
func requireNoExternalReplies(c *bodyCheck) (string, Refusal) {
	status, hasStatus := c.body.get("status")
	audience, _ := c.body.get("externalAudience")
	return externalReplies("automaticRepliesSetting", status, hasStatus, audience)
}

// requireNoAnonymousLink: a sharing link anyone can use reads the item
// outside the proxy, as a pre-authenticated URL does: refused unless
// externalLinks (a scope left out is the tenant's default, which may be
// anonymous).
func requireNoAnonymousLink(c *bodyCheck) (string, Refusal) {
	if c.p.externalLinks {
		return "", RefusalPolicy
	}
	v, _ := c.body.get("scope")
	if s, ok := v.(string); !ok || strings.EqualFold(s, "anonymous") {
		return "a sharing link whose scope is anonymous (or not given: the tenant's default may be) lets anyone read the item outside this proxy; ask for scope organization or users, or set externalLinks: true", RefusalPolicy
	}
	return "", RefusalPolicy
}

// requireInvitees: a sharing invitation names its recipients, a
// non-empty list; each is read as a person wherever recipients stands
// (driveRecipient: by email alone, people.go).
func requireInvitees(c *bodyCheck) (string, Refusal) {
	v, _ := c.body.get("recipients")
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return "an invitation needs recipients, a non-empty list", RefusalMalformed
	}
	return "", RefusalPolicy
}

// requireOwnDrive: a copy or move whose parentReference names a drive or
// site by id, or a path elsewhere than the path's own drive, would put the
// item where the policy cannot tell whose it is. A drive named by id is
// the path's own only on /drives/{id}/….
func requireOwnDrive(c *bodyCheck) (string, Refusal) {
	v, _ := c.body.get("parentReference")
	if v == nil {
		return "", RefusalPolicy
	}
	ref, ok := v.(map[string]any)
	if !ok {
		return "parentReference must be an object", RefusalMalformed
	}
	const elsewhere = "parentReference names a drive other than the path's (by id, site or path), whose owner the policy cannot tell; copy or move within the path's drive, or address the drive as /drives/{driveId}/…"
	if fieldValue(ref, "siteId") != nil {
		return elsewhere, RefusalPolicy
	}
	if id := fieldValue(ref, "driveId"); id != nil {
		s, _ := id.(string)
		segs := c.req.Segments
		if !(len(segs) > 1 && strings.EqualFold(segs[0], "drives") && s == segs[1]) {
			return elsewhere, RefusalPolicy
		}
	}
	if p := fieldValue(ref, "path"); p != nil {
		s, _ := p.(string)
		if !strings.HasPrefix(s, "/drive/") && s != "/drive/root:" {
			return elsewhere, RefusalPolicy
		}
	}
	return "", RefusalPolicy
}

// requireOwnFolder: a message or folder moved or copied goes to a folder
// of the path's mailbox, named by id or well-known name; a path would
// name another mailbox's.
func requireOwnFolder(c *bodyCheck) (string, Refusal) {
	v, _ := c.body.get("destinationId")
	s, ok := v.(string)
	if !ok || s == "" || strings.ContainsAny(s, "/\\:") {
		return "destinationId must be the id or well-known name of a folder of the path's mailbox", RefusalMalformed
	}
	return "", RefusalPolicy
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func isNonEmptyList(v any) bool {
	l, ok := v.([]any)
	return ok && len(l) > 0
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
