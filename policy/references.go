package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Calls that reach people they do not name. A reply goes to the message's
// sender, a draft sent by id to the draft's recipients, a cancellation to
// the event's attendees, a response to its organizer: none of them is in
// the call. The policy cannot read them (it is pure: no network), so it
// says which item holds them (Decision.Lookup); the proxy reads the item
// from Graph and hands the people back to Routed.DecideReferenced, which
// checks them as the body's are checked (checkPeople): peopleDomains,
// mail.recipientDomains, users.group and users.withoutGroup. Until then
// the decision is not final, and a proxy that cannot read the item must
// refuse the call.

// LookupKind says which of a referenced item's people a call reaches.
type LookupKind uint8

const (
	// LookupNone: the call refers to no item whose people it reaches.
	LookupNone LookupKind = iota
	// LookupReply: a reply goes to the message's replyTo, or, when that
	// is empty, to its from and sender.
	LookupReply
	// LookupReplyAll: replyAll goes where a reply goes, and to the
	// message's toRecipients and ccRecipients but the mailbox itself.
	LookupReplyAll
	// LookupDraft: a draft sent by id goes to its toRecipients,
	// ccRecipients and bccRecipients.
	LookupDraft
	// LookupAttendees: a cancellation goes to the event's attendees.
	LookupAttendees
	// LookupOrganizer: a response (sendResponse not false) goes to the
	// event's organizer.
	LookupOrganizer
	// LookupSubscription: a call on a subscription by id (a read, a
	// renewal, a deletion) acts on what the subscription watches and
	// where it delivers, which the call does not say. Every caller shares
	// the proxy's application, so Graph lets any of them manage any
	// subscription: the proxy reads it first and decides it as its
	// creation (checkSubscriptionRead).
	LookupSubscription
)

// String names the kind, as the audit record's reason does.
func (k LookupKind) String() string {
	switch k {
	case LookupReply:
		return "reply"
	case LookupReplyAll:
		return "replyAll"
	case LookupDraft:
		return "draft"
	case LookupAttendees:
		return "attendees"
	case LookupOrganizer:
		return "organizer"
	case LookupSubscription:
		return "subscription"
	}
	return "none"
}

// lookupFields are the fields each kind reads, in the order $select
// names them.
var lookupFields = map[LookupKind][]string{
	LookupReply:     {"replyTo", "from", "sender"},
	LookupReplyAll:  {"replyTo", "from", "sender", "toRecipients", "ccRecipients"},
	LookupDraft:     {"toRecipients", "ccRecipients", "bccRecipients"},
	LookupAttendees: {"attendees"},
	LookupOrganizer: {"organizer"},
	// Read whole: Graph's "Get subscription" takes no query options.
	LookupSubscription: {"resource", "notificationUrl", "lifecycleNotificationUrl"},
}

// Lookup is the read of the item a call refers to: a GET of Path with
// $select=Select (without, when Select is empty), whose answer Recipients
// reads.
type Lookup struct {
	// Path is the item's canonical path, version first and not escaped:
	// /v1.0/users/{user}/messages/{id} for a reply to that message.
	Path string
	// Select lists the fields read, comma-separated: only those. Empty
	// for an item read whole (a subscription).
	Select string
	// Kind says which of the item's people the call reaches.
	Kind LookupKind
	// Item names what is read, for the record: "message", "draft",
	// "event" or "subscription".
	Item string

	// mailbox is the path's user, whom replyAll does not write to.
	mailbox string
}

// Recipient is a person a referenced item names, as the proxy read it:
// where (the item's field) and the address. The policy parses the address
// (ParseAddress); one that is not a single address refuses the call. Of a
// subscription (LookupSubscription) it is a field that says whom the
// subscription reaches: Where is resource, notificationUrl or
// lifecycleNotificationUrl, and Address its value, which the proxy gives
// back with the caller's own URL in place of the relay's
// (callers[].notifications: relay).
type Recipient struct {
	Where, Address string
}

// ErrLookupAnswer reports an answer to a Lookup that is not of the shape
// Graph gives the item: the call it was read for is refused.
var ErrLookupAnswer = errors.New("policy: the referenced item's answer is not of the expected shape")

// Recipients reads the people the call reaches from Graph's answer to the
// lookup (the item's JSON). Every field read must be there with its shape:
// lists of recipients ({"emailAddress":{"address":…}}) for replyTo,
// toRecipients, ccRecipients, bccRecipients and attendees, a recipient or
// null for from, sender and organizer. Anything else is an error wrapping
// ErrLookupAnswer: fail closed.
func (l Lookup) Recipients(answer []byte) ([]Recipient, error) {
	fields, ok := lookupFields[l.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: nothing to read", ErrLookupAnswer)
	}
	v, err := parseJSON(answer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookupAnswer, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrLookupAnswer)
	}
	if l.Kind == LookupSubscription {
		return subscriptionFields(obj)
	}
	read := map[string][]Recipient{}
	for _, f := range fields {
		v, present := fieldOf(obj, f)
		if !present {
			return nil, fmt.Errorf("%w: %s missing", ErrLookupAnswer, f)
		}
		var rs []Recipient
		if f == "from" || f == "sender" || f == "organizer" {
			rs, err = oneRecipient(f, v)
		} else {
			rs, err = recipientList(f, v)
		}
		if err != nil {
			return nil, err
		}
		read[f] = rs
	}
	var out []Recipient
	switch l.Kind {
	case LookupReply, LookupReplyAll:
		out = read["replyTo"]
		if len(out) == 0 {
			out = append(read["from"], read["sender"]...)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: the message names no one a reply would go to", ErrLookupAnswer)
		}
		if l.Kind == LookupReplyAll {
			for _, r := range append(read["toRecipients"], read["ccRecipients"]...) {
				if l.mailbox == "" || !strings.EqualFold(r.Address, l.mailbox) {
					out = append(out, r)
				}
			}
		}
	default:
		for _, f := range fields {
			out = append(out, read[f]...)
		}
	}
	if len(out) > MaxTargets {
		return nil, fmt.Errorf("%w: %s", ErrLookupAnswer, tooManyTargets)
	}
	return out, nil
}

// subscriptionFields reads a subscription's resource and notification
// URLs: resource and notificationUrl strings, lifecycleNotificationUrl a
// string, null or absent (Graph leaves it out when none was given); and
// its creatorId when Graph gives it, the user (or application) whose /me
// a resource under me is.
func subscriptionFields(obj map[string]any) ([]Recipient, error) {
	var out []Recipient
	for _, f := range lookupFields[LookupSubscription] {
		v, present := fieldOf(obj, f)
		s, ok := v.(string)
		switch {
		case f == "lifecycleNotificationUrl" && v == nil:
			continue
		case !present:
			return nil, fmt.Errorf("%w: %s missing", ErrLookupAnswer, f)
		case !ok || s == "":
			return nil, fmt.Errorf("%w: %s is not a string", ErrLookupAnswer, f)
		}
		out = append(out, Recipient{Where: f, Address: s})
	}
	if v, _ := fieldOf(obj, "creatorId"); v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: creatorId is not a string", ErrLookupAnswer)
		}
		out = append(out, Recipient{Where: "creatorId", Address: s})
	}
	return out, nil
}

func fieldOf(obj map[string]any, name string) (any, bool) {
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func recipientList(field string, v any) ([]Recipient, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a list", ErrLookupAnswer, field)
	}
	out := make([]Recipient, 0, len(list))
	for _, e := range list {
		r, err := recipientOf(field+"[]", e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func oneRecipient(field string, v any) ([]Recipient, error) {
	if v == nil {
		return nil, nil
	}
	r, err := recipientOf(field, v)
	if err != nil {
		return nil, err
	}
	return []Recipient{r}, nil
}

// recipientOf reads {"emailAddress":{"address":"…"}}, the shape of
// Graph's recipient and attendee.
func recipientOf(where string, v any) (Recipient, error) {
	obj, _ := v.(map[string]any)
	ea, _ := fieldValue(obj, "emailAddress").(map[string]any)
	addr, _ := fieldValue(ea, "address").(string)
	if addr == "" {
		return Recipient{}, fmt.Errorf("%w: %s is not a recipient with emailAddress.address", ErrLookupAnswer, where)
	}
	return Recipient{Where: where, Address: addr}, nil
}

// lookupOf is the read of the item a call of route rt refers to, or why
// the policy cannot say which item that is.
func lookupOf(rt *route, req *Request) (*Lookup, string) {
	segs := req.Segments[:len(req.Segments)-1] // the item, without the action
	if rt.resolveSelf {
		segs = req.Segments // the item itself, updated or deleted
	}
	item := "message"
	switch rt.resolve {
	case LookupDraft:
		item = "draft"
	case LookupSubscription:
		item = "subscription"
	}
	if rt.resolve == LookupAttendees || rt.resolve == LookupOrganizer {
		item = "event"
		// An occurrence (instances, calendarView, exceptionOccurrences)
		// is read by its own id among its calendar owner's events, as
		// Graph serves it: the owner is what comes before the calendar.
		// A meeting message's event is read at its own path.
		if coll := segs[len(segs)-2]; !strings.EqualFold(coll, "events") && !strings.EqualFold(segs[len(segs)-1], "event") {
			i := slices.IndexFunc(segs, func(s string) bool {
				return slices.ContainsFunc([]string{"events", "calendar", "calendars", "calendarview", "calendargroups"}, func(c string) bool { return strings.EqualFold(s, c) })
			})
			if i < 1 {
				return nil, "the event this call refers to is not one the proxy can read"
			}
			segs = append(slices.Clip(segs[:i]), "events", segs[len(segs)-1])
		}
	}
	if len(segs) < 2 {
		return nil, "the item this call refers to is not one the proxy can read"
	}
	sel := strings.Join(lookupFields[rt.resolve], ",")
	if rt.resolve == LookupSubscription {
		sel = "" // Graph's "Get subscription" takes no query options
	}
	return &Lookup{
		Path:    "/" + req.Version + "/" + strings.Join(segs, "/"),
		Select:  sel,
		Kind:    rt.resolve,
		Item:    item,
		mailbox: pathUser(req),
	}, ""
}

// needsLookup reports whether a call of route rt, whose body bc read,
// reaches the people of the item it refers to: always, but for an event
// response sent with sendResponse: false, which goes to no one.
func needsLookup(rt *route, bc *bodyCheck) bool {
	if rt.resolve != LookupOrganizer {
		return true
	}
	v, ok := fieldValue(bc.body.obj, "sendResponse").(bool)
	return !ok || v
}

// resolveLater sets d.Lookup for a call that reaches the people of the
// item it refers to, or says why the call is refused instead.
func (c *bodyCheck) resolveLater(rt *route, d *Decision) string {
	if rt == nil || rt.resolve == LookupNone || !needsLookup(rt, c) {
		return ""
	}
	l, reason := lookupOf(rt, &c.req)
	if reason != "" {
		return reason
	}
	d.Lookup = l
	return ""
}

// DecideReferenced finishes sub-request sd of a $batch with the people
// the proxy read from the item it refers to, as Routed.DecideReferenced
// finishes a call of its own. The batch goes to Graph whole once each of
// its sub-requests that refers to an item is finished so; Decision.Settle
// then folds the sub-request's decision into the batch's.
func (sd *SubDecision) DecideReferenced(people []Recipient) {
	if sd.routed == nil {
		// Never reached: a sub-request refused before it was routed
		// carries no Lookup. Refused all the same if it did.
		sd.Decision.Lookup = nil
		sd.Decision.Refuse("a referenced item's people were given for a call that was not routed")
		return
	}
	sd.Decision = sd.routed.DecideReferenced(sd.Decision, people)
}

// Settle folds sub-request i of batch decision d, finished by
// SubDecision.DecideReferenced and the proxy's group scope, into d: its
// targets become the batch's, and its refusal refuses the batch, as when
// the batch was decided (decideBatch).
func (d *Decision) Settle(i int) {
	sd := &d.Batch[i].Decision
	d.gather(sd)
	switch {
	case sd.Result != Allow:
		d.Refuse("batch requests refused: " + bareName(d.Batch[i].ID))
	case len(d.Targets) > MaxTargets:
		d.Refuse(tooManyTargets + ", counting its requests together")
	}
}

// DecideReferenced finishes a decision that carries a Lookup with the
// people the proxy read from the item (Lookup.Recipients): each is checked
// as if the call's body had named them — the rule's peopleDomains, and
// mail.recipientDomains for a call that sends mail — and made a target,
// which the proxy's users.group scope then checks (users.withoutGroup
// applying). The decision returned has no Lookup. A decision without one
// is returned as it is.
func (rt *Routed) DecideReferenced(d Decision, people []Recipient) Decision {
	if d.Lookup == nil {
		return d
	}
	route := routeOf(&rt.req)
	d.Lookup = nil
	if rt.rule == nil || rt.caller == nil || route == nil || route.resolve == LookupNone {
		d.Reason, d.Result = "a referenced item's people were given for a call that refers to none", Deny
		rt.p.finish(&d)
		return d
	}
	if route.resolve == LookupSubscription {
		if reason := rt.p.checkSubscriptionRead(rt.caller, rt.actor, rt.req, people, &d); reason != "" {
			d.Refuse(reason)
		}
		return d
	}
	found := make([]person, 0, len(people))
	for _, r := range people {
		where := "the " + route.name + "'s " + r.Where
		a, err := ParseAddress(r.Address)
		if err != nil {
			d.Refuse(fmt.Sprintf("%s is not one email address: %v", where, err))
			return d
		}
		found = append(found, person{name: a.String(), addr: &a, bodyNamed: true, where: where})
	}
	if reason, _ := rt.p.checkPeople(rt.caller, rt.rule, route, found, &d); reason != "" {
		d.Refuse(reason)
	}
	return d
}
