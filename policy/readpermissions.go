package policy

import "slices"

// The permissions of the proxy's own reads. A call that reaches people it
// does not name (a reply, a draft sent by id, an event cancelled, updated,
// deleted or answered) is decided only once the proxy has read the item
// it refers to (references.go), with the call's own upstream token; a read
// Graph refuses refuses the call. So the permissions the policy needs are
// its rules' and, for every rule whose calls the route model resolves
// (route.resolve), one that lets the proxy read that item's people.
//
// Which permission allows the read, least privilege first, per Microsoft
// Graph's API reference ("Get message", "Get event", Permissions tables)
// and permissions reference:
//   - a message (the read of a reply's message and of a draft):
//     application Mail.ReadBasic.All, delegated Mail.ReadBasic; both read
//     every property but body, previewBody, attachments and extended
//     properties, which covers replyTo, from, sender and the recipients.
//     Mail.Read and Mail.ReadWrite read them too.
//   - an event: application Calendars.ReadBasic.All (the app role's value,
//     which the API reference writes Calendars.ReadBasic under
//     Application; a policy's Calendars.ReadBasic is read as it, see
//     ApplicationAliases), delegated Calendars.ReadBasic; both read every
//     property but body, attachments and extensions, which covers
//     attendees and organizer. Calendars.Read and Calendars.ReadWrite read
//     them too.
//   - a delegated call to another user's mailbox (otherUsers): the user's
//     own scopes do not reach it, the .Shared ones do (Graph's "Get Outlook
//     messages in a shared or delegated folder" and "Get shared or
//     delegated Outlook calendar and its events"): Mail.Read.Shared and
//     Calendars.Read.Shared.

// ReferenceRead is the read of one kind of referenced item, and the Graph
// permissions that allow it.
type ReferenceRead struct {
	// Item is the kind of item read: "message" (a reply's message, a
	// draft sent by id) or "event".
	Item string
	// Application is the least Graph application permission that allows
	// the read: what the proxy's identity is granted when no permission
	// the policy needs already allows it.
	Application string
	// Delegated is the least Graph delegated permission that allows the
	// read in the signed-in user's own mailbox; DelegatedShared in a
	// mailbox shared with or delegated to the user (a rule with
	// otherUsers).
	Delegated, DelegatedShared string
	// Covering are the permissions, application or delegated, that allow
	// the read themselves; CoveringShared those that allow it in another
	// user's mailbox on behalf of the signed-in user.
	Covering, CoveringShared []string
}

// ReferenceReads are the reads the proxy makes of referenced items, one a
// kind of item. scripts/Grant-GraphPermissions.ps1 mirrors them
// (deploy/scripts_test.go holds the two equal).
var ReferenceReads = []ReferenceRead{
	{
		Item: "message", Application: "Mail.ReadBasic.All", Delegated: "Mail.ReadBasic", DelegatedShared: "Mail.Read.Shared",
		Covering:       []string{"Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"},
		CoveringShared: []string{"Mail.Read.Shared", "Mail.ReadWrite.Shared"},
	},
	{
		Item: "event", Application: "Calendars.ReadBasic.All", Delegated: "Calendars.ReadBasic", DelegatedShared: "Calendars.Read.Shared",
		Covering:       []string{"Calendars.ReadBasic.All", "Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared"},
		CoveringShared: []string{"Calendars.Read.Shared", "Calendars.ReadWrite.Shared"},
	},
}

// referenceRead is the read a lookup of kind k makes; nil for LookupNone,
// and for LookupSubscription: Graph lets an application read the
// subscriptions it made with the permission their resource needed, which
// the policy already holds.
func referenceRead(k LookupKind) *ReferenceRead {
	switch k {
	case LookupReply, LookupReplyAll, LookupDraft:
		return &ReferenceReads[0]
	case LookupAttendees, LookupOrganizer:
		return &ReferenceReads[1]
	}
	return nil
}

// referenceReadsOf lists the reads the calls of rule r can need: one for
// each kind of item the routes it reaches resolve, in ReferenceReads'
// order.
func referenceReadsOf(r *rule) []*ReferenceRead {
	reached := routesOfRule(r)
	var out []*ReferenceRead
	for i := range ReferenceReads {
		read := &ReferenceReads[i]
		if slices.ContainsFunc(reached, func(rt *route) bool { return referenceRead(rt.resolve) == read }) {
			out = append(out, read)
		}
	}
	return out
}

// appReadPermissions returns the application permissions the proxy's
// reads of referenced items need beyond held (the policy's own): for each
// kind of item some app-only rule's calls resolve, its Application
// permission, unless a held one already allows the read. The proxy's
// token carries every permission granted to its identity, so any rule's
// permission serves the read.
func appReadPermissions(rules []*rule, held map[string]bool) []string {
	var out []string
	for _, r := range rules {
		if r.permission == "" {
			continue // a signed-in user's rule: its reads use the user's token
		}
		for _, read := range referenceReadsOf(r) {
			if !slices.ContainsFunc(read.Covering, func(p string) bool { return held[p] }) && !slices.Contains(out, read.Application) {
				out = append(out, read.Application)
			}
		}
	}
	return out
}

// delegatedReadScopes maps each kind of item the calls of rule r resolve
// to the delegated scope the proxy's read of it needs beyond the rule's
// own; none when the rule's scope allows the read. A signed-in user's
// token is exchanged for the scopes the call needs (Decision.Scopes), so
// the read's scope goes with the rule's.
func delegatedReadScopes(r *rule) map[string]string {
	if r.delegatedScope == "" {
		return nil
	}
	var out map[string]string
	for _, read := range referenceReadsOf(r) {
		scope, covering := read.Delegated, read.Covering
		if r.otherUsers {
			scope, covering = read.DelegatedShared, read.CoveringShared
		}
		if slices.Contains(covering, r.delegatedScope) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[read.Item] = scope
	}
	return out
}

// readScope is the delegated scope the proxy's read for lookup l needs
// beyond rule r's own, or "".
func (r *rule) readScope(l *Lookup) string {
	if read := referenceRead(l.Kind); read != nil {
		return r.delegatedReads[read.Item]
	}
	return ""
}

// ReferenceRoute is a kind of call the proxy decides by first reading the
// item it refers to: its methods, the last segments of its path (lower
// case; "a|b" lists alternatives, "*" stands for any one segment), and
// the ReferenceRead.Item it reads.
type ReferenceRoute struct {
	Name    string
	Methods []string
	Tail    []string
	Item    string
}

// ReferenceRoutes lists the calls the proxy resolves, from the route
// model: for the tools that read a policy without this package
// (scripts/Grant-GraphPermissions.ps1), whose tests hold them to it.
func ReferenceRoutes() []ReferenceRoute {
	var out []ReferenceRoute
	for _, rt := range routes {
		if read := referenceRead(rt.resolve); read != nil {
			out = append(out, ReferenceRoute{Name: rt.name, Methods: slices.Clone(rt.methods), Tail: slices.Clone(rt.tail), Item: read.Item})
		}
	}
	return out
}
