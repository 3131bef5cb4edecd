package policy

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Who a call touches. Every person a request names is found, parsed,
// checked and recorded: the path's user, the users a subscription's
// resource reads, references (@odata.bind), and every person in a body —
// found by the shapes Graph names people with, wherever they stand:
//
//   - emailAddress: {address} or a string (recipients, attendees,
//     organizer, from, sender, replyTo);
//   - emailAddresses: [{address}] or [string] (contacts);
//   - any other member whose name ends in EmailAddress (a classification
//     override's senderEmailAddress, an invitation's
//     invitedUserEmailAddress, a booking's customerEmailAddress): an
//     address as a string, or an emailAddress;
//   - mentioned: a message's mention names its person by an emailAddress
//     ({name, address}), a chat message's by an identity set, a chat
//     mention by an id;
//   - locationEmailAddress (rooms), upn and userPrincipalName (strings);
//   - user: {id} (identity sets: meeting participants, chat mentions), and
//     its other members as any object's;
//   - any other string, in an object or a list, that is an address
//     (peopletext.go): Graph's services take addresses under names of
//     their own (target.email, accountTargetEmails, mail, otherMails);
//   - NAME@odata.bind and @odata.id (a /$ref call's entity): a reference
//     to a user, or to something of one (a calendar); anything else it
//     cannot resolve refuses the call.
//
// The containers of people must have their shape: attendees, toRecipients,
// ccRecipients, bccRecipients and replyTo are lists whose every element
// names someone; from, sender and organizer are objects naming exactly
// one. Anything else is refused (400), never read as "no one".

// personKeys are the keys (lower case) whose presence anywhere in a body
// means it names people or has a container of them: parseBody watches for
// them and the body is then read whole.
var personKeys = []string{
	"emailaddress", "emailaddresses", "locationemailaddress", "upn", "userprincipalname", "user",
	"attendees", "torecipients", "ccrecipients", "bccrecipients", "replyto", "from", "sender", "organizer",
	"participants", "mentions", "mentioned", "message", "sourceurl", "internetmessageheaders", refKey,
	"forwardto", "forwardasattachmentto", "redirectto",
	"singlevalueextendedproperties", "multivalueextendedproperties", "recipients",
	autoRepliesKey,
}

// bindSuffix ends the key of a reference: Graph binds the property to
// the entity at the URL it holds.
const bindSuffix = "@odata.bind"

// refKey is the key of the entity a /$ref call adds or sets (a group's
// member, a user's manager): a reference as NAME@odata.bind's are.
const refKey = "@odata.id"

// A person is someone a call names.
type person struct {
	// name is the address (domain lower case, as ParseAddress writes it),
	// or the object id or UPN of a reference.
	name string
	// addr is set when name is an address, whose domain rules can check.
	addr *Address
	// bodyNamed: named in the body (an attendee, a recipient), not the
	// mailbox or resource the call acts on; users.withoutGroup applies.
	bodyNamed bool
	// sender: named as who the mail is from (from, sender, a MIME From
	// or Sender), the mailbox a call sends as.
	sender bool
	where  string
}

// bodyCheck is one body being read: what the route model and the shapes
// find in it.
type bodyCheck struct {
	p      *Policy
	caller *caller
	// actor is the signed-in user the call acts as; nil for an app-only
	// call. What the body refers to is decided as the call itself is.
	actor *Actor
	req   Request
	// inBatch: the body is a $batch sub-request's.
	inBatch bool
	// data is the body's bytes, or doc a $batch sub-request's body as
	// parsed with its batch: for a check that reads what body does not
	// build (updatableOnly).
	data []byte
	doc  any
	// targets are the users of a subscription's resource: mailboxes the
	// call reads, not people its body names.
	targets []string
	body    body
	// raw, when its bytes are set, is the body's, walked by walkRaw
	// instead of body.obj by walk.
	raw rawBody
	// members lists the members of the objects walkRaw is in, the
	// innermost last (walkMembersRaw), lent by memberLists.
	members []rawMember
	mime    bool
	people  []person
	// reason and refusal are the first problem found.
	reason  string
	refusal Refusal
}

func (c *bodyCheck) fail(refusal Refusal, format string, args ...any) {
	if c.reason == "" {
		c.reason, c.refusal = fmt.Sprintf(format, args...), refusal
	}
}

// addAddress adds a person named by an address, which must be exactly one.
func (c *bodyCheck) addAddress(where, s string) {
	a, err := ParseAddress(s)
	if err != nil {
		c.fail(RefusalMalformed, "%s is not one email address: %v", where, err)
		return
	}
	c.people = append(c.people, person{name: a.String(), addr: &a, bodyNamed: true, where: where})
}

// addUser adds a user named by object id or UPN (an identity, a
// reference).
func (c *bodyCheck) addUser(where, s string, bodyNamed bool) {
	if !isUser(s) {
		c.fail(RefusalMalformed, "%s is not a user's object id or user principal name", where)
		return
	}
	p := person{name: s, bodyNamed: bodyNamed, where: where}
	if !isGUID(s) {
		a, err := ParseAddress(s)
		if err != nil {
			c.fail(RefusalMalformed, "%s is not one user principal name: %v", where, err)
			return
		}
		p.name, p.addr = a.String(), &a
	}
	c.people = append(c.people, p)
}

// memberKind is how a member is read, by its key (compared in lower case).
type memberKind uint8

const (
	otherMember memberKind = iota // walked into, for people below it
	bindMember                    // NAME@odata.bind, @odata.id: references
	emailAddressMember
	emailAddressesMember
	addressStringMember // locationEmailAddress, upn, userPrincipalName
	userMember
	sourceURLMember
	headersMember
	peopleListMember      // attendees, toRecipients, ccRecipients, bccRecipients, replyTo
	onePersonMember       // from, sender, organizer
	objectMember          // participants, message: objects only
	extendedMember        // single/multiValueExtendedProperties: MAPI properties
	driveRecipientsMember // recipients: driveRecipient[] (invite, createLink)
	autoRepliesMember
	// anyAddressMember: a member whose name ends in EmailAddress and is
	// none of the above: Graph's names for an address (senderEmailAddress,
	// invitedUserEmailAddress), a string or an emailAddress.
	anyAddressMember
	mentionedMember // mentioned: an emailAddress, an identity set or an id
	// noOneMember: a member whose text may be written as an address is
	// but names no one: a msg-id (RFC 5322 3.6.4: an inline attachment's
	// contentId, image001.png@01D9A1B2.C3D4E5F6, a message's
	// internetMessageId, an event's iCalUId), or the name an item or a
	// person is shown by (name, displayName, fileName: a file called
	// icon@2x.png, an emailAddress's name), which Graph never delivers to.
	noOneMember
)

// addressSuffix ends the names Graph gives members that hold an address
// (lower case): a member so named that memberKinds does not list is
// anyAddressMember, so that an address under a name the finder was not
// told of is read, not passed over.
const addressSuffix = "emailaddress"

var memberKinds = map[string]memberKind{
	"emailaddress": emailAddressMember, "emailaddresses": emailAddressesMember,
	"locationemailaddress": addressStringMember, "upn": addressStringMember, "userprincipalname": addressStringMember,
	"user": userMember, "sourceurl": sourceURLMember, "internetmessageheaders": headersMember,
	"attendees": peopleListMember, "torecipients": peopleListMember, "ccrecipients": peopleListMember,
	"bccrecipients": peopleListMember, "replyto": peopleListMember,
	"forwardto": peopleListMember, "forwardasattachmentto": peopleListMember, "redirectto": peopleListMember,
	"singlevalueextendedproperties": extendedMember, "multivalueextendedproperties": extendedMember,
	"from": onePersonMember, "sender": onePersonMember, "organizer": onePersonMember,
	"participants": objectMember, "message": objectMember,
	"recipients": driveRecipientsMember, "mentioned": mentionedMember,
	"contentid": noOneMember, "internetmessageid": noOneMember, "icaluid": noOneMember,
	"name": noOneMember, "displayname": noOneMember, "filename": noOneMember,
	refKey: bindMember, autoRepliesKey: autoRepliesMember,
}

// kindOf is memberKinds[strings.ToLower(key)], with the bind suffix first.
// Every call that names people has its body walked key by key, so an
// ASCII key is lowered in a buffer on the stack rather than allocated, and
// compared with the few keys of its length (kindsByLength) rather than
// hashed.
func kindOf(key string) memberKind {
	var buf [64]byte
	if len(key) > len(buf) || !allASCII(key) {
		lk := strings.ToLower(key)
		if strings.HasSuffix(lk, bindSuffix) {
			return bindMember
		}
		if kind, ok := memberKinds[lk]; ok {
			return kind
		}
		if strings.HasSuffix(lk, addressSuffix) {
			return anyAddressMember
		}
		return otherMember
	}
	lk := buf[:len(key)]
	for i := 0; i < len(key); i++ {
		lk[i] = lower(key[i])
	}
	if bytes.HasSuffix(lk, bindSuffixBytes) {
		return bindMember
	}
	if len(lk) < len(kindsByLength) {
		for _, e := range kindsByLength[len(lk)] {
			if string(lk) == e.key {
				return e.kind
			}
		}
	}
	if bytes.HasSuffix(lk, addressSuffixBytes) {
		return anyAddressMember
	}
	return otherMember
}

var addressSuffixBytes = []byte(addressSuffix)

// kindsByLength is memberKinds by the length of their keys.
var kindsByLength = func() (t [32][]kindEntry) {
	for k, kind := range memberKinds {
		if len(k) >= len(t) {
			panic("policy: member key " + k + " is longer than kindsByLength holds")
		}
		t[len(k)] = append(t[len(k)], kindEntry{k, kind})
	}
	return t
}()

type kindEntry struct {
	key  string
	kind memberKind
}

// walk finds the people in v, a JSON value under path. Members are read
// in key order, so that the first problem reported, and the order people
// are recorded in, do not depend on the map's.
func (c *bodyCheck) walk(v any, path string) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			switch e := e.(type) {
			case string:
				if hasAt(e) {
					c.text(path+"[]", e)
				}
			case map[string]any, []any:
				c.walk(e, path+"[]")
			}
		}
	case map[string]any:
		c.walkExcept(x, path, "")
	}
}

// walkExcept walks the members of obj but the one named skip (without
// case), in key order.
func (c *bodyCheck) walkExcept(obj map[string]any, path, skip string) {
	var buf [16]string
	keys := buf[:0]
	for k := range obj {
		if skip == "" || !strings.EqualFold(k, skip) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.member(path, k, obj[k])
	}
}

// hasField reports whether obj has the member name, without case.
func hasField(obj map[string]any, name string) bool {
	for k := range obj {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// isContainer reports whether v is an object or a list: a scalar names
// no one unless its key says so.
func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// address reads one emailAddress at where: an address as a string, or an
// object whose address member is one. It reports false for an object
// without one, after which member reads no further.
func (c *bodyCheck) address(where string, v any) bool {
	switch e := v.(type) {
	case string:
		c.addAddress(where, e)
	case map[string]any:
		a, ok := fieldValue(e, "address").(string)
		if !ok || a == "" {
			c.fail(RefusalMalformed, "%s needs address, a string", where)
			return false
		}
		c.addAddress(where+".address", a)
	default:
		c.fail(RefusalMalformed, "%s must be an object with an address", where)
	}
	return true
}

// memberWhere is where member key of the object at path is.
func memberWhere(path, key string) string {
	if path == "" {
		return whereKey(key)
	}
	return path + "." + whereKey(key)
}

// member reads one member of an object.
func (c *bodyCheck) member(path, key string, v any) {
	kind := kindOf(key)
	if kind == noOneMember && !isContainer(v) {
		return
	}
	if kind == otherMember && !isContainer(v) {
		if s, ok := v.(string); ok && hasAt(s) && !c.readByCheck(path, key) {
			c.text(memberWhere(path, key), s)
		}
		return
	}
	where := memberWhere(path, key)
	switch kind {
	case autoRepliesMember:
		c.autoReplies(where, v)
	case extendedMember:
		c.extended(where)
		// Elsewhere than on mail, a property's value is read as any
		// member's (an address in it names a person).
		c.walk(v, where)
	case driveRecipientsMember:
		list, ok := v.([]any)
		if !ok && v != nil {
			c.fail(RefusalMalformed, "%s must be a list", where)
			return
		}
		for _, e := range list {
			r, _ := e.(map[string]any)
			email, _ := fieldValue(r, "email").(string)
			c.driveRecipient(where, r != nil, email, fieldValue(r, "alias") != nil || fieldValue(r, "objectId") != nil)
		}
	case bindMember:
		c.refs(where, v)
	case emailAddressMember:
		c.address(where, v)
	case mentionedMember:
		switch e := v.(type) {
		case nil:
		case string:
			c.addUser(where, e, true)
		case map[string]any:
			if hasField(e, "address") || hasField(e, "name") {
				c.address(where, v) // an emailAddress
			} else {
				c.walk(v, where) // an identity set
			}
		default:
			c.fail(RefusalMalformed, "%s must be an emailAddress, an identity set or an id", where)
		}
	case emailAddressesMember:
		list, ok := v.([]any)
		if !ok {
			c.fail(RefusalMalformed, "%s must be a list", where)
			return
		}
		for _, e := range list {
			if !c.address(where+"[]", e) {
				return
			}
		}
	case addressStringMember, anyAddressMember:
		// An address as a string; under a name ending in EmailAddress,
		// an emailAddress too.
		switch s := v.(type) {
		case nil:
		case string:
			if s != "" {
				c.addAddress(where, s)
			}
		default:
			if kind == anyAddressMember {
				c.address(where, v)
			} else {
				c.fail(RefusalMalformed, "%s must be a string", where)
			}
		}
	case userMember:
		switch u := v.(type) {
		case nil:
		case map[string]any:
			switch id := fieldValue(u, "id").(type) {
			case nil:
			case string:
				c.addUser(where+".id", id, true)
			default:
				c.fail(RefusalMalformed, "%s.id must be a string", where)
			}
			// An identity's other members (a userPrincipalName, an
			// email) name people too.
			c.walkExcept(u, where, "id")
		default:
			c.fail(RefusalMalformed, "%s must be an object", where)
		}
	case sourceURLMember:
		// A reference attachment: Graph sends a link to a file outside
		// the message, which no rule on people sees.
		if v != nil && !c.p.externalLinks {
			c.fail(RefusalPolicy, "%s: a reference attachment links to a file elsewhere; set externalLinks: true to allow it", where)
		}
	case headersMember:
		list, ok := v.([]any)
		if !ok && v != nil {
			c.fail(RefusalMalformed, "%s must be a list", where)
			return
		}
		for _, e := range list {
			h, _ := e.(map[string]any)
			name, _ := fieldValue(h, "name").(string)
			value, _ := fieldValue(h, "value").(string)
			// Graph takes custom headers only; a header that routes or
			// addresses mail would be read by no rule on people.
			if len(name) < 3 || !strings.EqualFold(name[:2], "x-") || strings.ContainsAny(name+value, "\r\n") {
				c.fail(RefusalPolicy, "%s: only custom headers (X-…) are allowed, on one line", where)
				return
			}
		}
	case peopleListMember:
		list, ok := v.([]any)
		if !ok {
			c.fail(RefusalMalformed, "%s must be a list of people", where)
			return
		}
		for _, e := range list {
			if c.named(where+"[]", e) == 0 {
				c.fail(RefusalMalformed, "every element of %s must name someone by emailAddress.address", where)
			}
		}
	case onePersonMember:
		before := len(c.people)
		if c.named(where, v) != 1 {
			c.fail(RefusalMalformed, "%s must be an object naming exactly one person", where)
		}
		c.sentAs(key, before)
	case objectMember:
		if _, ok := v.(string); ok && c.sharingText(path, key) {
			return
		}
		if _, ok := v.(map[string]any); !ok {
			c.fail(RefusalMalformed, "%s must be an object", where)
			return
		}
		c.walk(v, where)
	default:
		c.walk(v, where)
	}
}

// readByCheck reports whether member key at path is one the route's
// check reads for the people in it, a string that is not read as text
// (text): a subscription's resource, a path (users/{upn}) decided as the
// read it stands for, whose user is then a target.
func (c *bodyCheck) readByCheck(path, key string) bool {
	rt := routeOf(&c.req)
	return path == "" && rt != nil && rt.check == subscriptionChecks && strings.EqualFold(key, "resource")
}

// sharingText reports whether member key at path is a sharing call's
// message: the text of the invitation mail Graph sends (invite,
// createLink), a string naming no one, where on other calls a message is
// a mail message to read for people.
func (c *bodyCheck) sharingText(path, key string) bool {
	rt := routeOf(&c.req)
	return path == "" && rt != nil && rt.sharingText && strings.EqualFold(key, "message")
}

// driveRecipient adds a recipient of a sharing invitation or link
// (driveRecipient, in recipients[]): by email, the address Graph shares
// with; one named by alias or objectId cannot be checked, and refuses.
func (c *bodyCheck) driveRecipient(where string, isObject bool, email string, other bool) {
	switch {
	case !isObject || other || email == "":
		c.fail(RefusalMalformed, "each element of %s must name a recipient by email alone (an alias or object id cannot be checked)", where)
	default:
		c.addAddress(where+"[].email", email)
	}
}

// named walks an element that must be an object naming people and
// returns how many it named.
func (c *bodyCheck) named(where string, v any) int {
	if _, ok := v.(map[string]any); !ok {
		c.fail(RefusalMalformed, "%s must be an object naming a person", where)
		return -1
	}
	before := len(c.people)
	c.walk(v, where)
	return len(c.people) - before
}

// sentAs marks the people named from index i on as who the mail is sent
// as, when key is from or sender.
func (c *bodyCheck) sentAs(key string, i int) {
	if !strings.EqualFold(key, "from") && !strings.EqualFold(key, "sender") {
		return
	}
	for ; i < len(c.people); i++ {
		c.people[i].sender = true
	}
}

// sendsAsAnother says why a signed-in user's call under rule r may not
// send as the mailbox its body names (from, sender), or "": a rule that
// serves the user alone sends as the user, and sending as another
// mailbox (a shared one, a delegator's, which Graph allows a user with
// the right to) is another user's, as a path naming it is.
func (c *bodyCheck) sendsAsAnother(r *rule) string {
	if c.actor == nil || r.otherUsers {
		return ""
	}
	for _, who := range c.people {
		if who.sender && !c.actor.is(who.name) {
			return fmt.Sprintf("%s names %s, whom the mail would be sent as: rule %q serves the signed-in user only; a rule with otherUsers: true allows another mailbox", who.where, who.name, r.id)
		}
	}
	return ""
}

// extended refuses MAPI properties on mail: one can set what the mail's
// own members say (PidTagReplyRecipientNames, 0x0050; the display To),
// where no rule on people reads it.
func (c *bodyCheck) extended(where string) {
	if rt := routeOf(&c.req); rt != nil && rt.mail {
		c.fail(RefusalPolicy, "%s: extended properties are not accepted on mail: they can address it past the rules on people", where)
	}
}

// refs resolves the references of NAME@odata.bind and @odata.id: each must be a user or
// something of a user's (users/{user}/...), relative or an absolute Graph
// URL; the user is then a target like the path's.
func (c *bodyCheck) refs(where string, v any) {
	var list []any
	switch x := v.(type) {
	case string:
		list = []any{x}
	case []any:
		list = x
	default:
		c.fail(RefusalMalformed, "%s must be a URL or a list of URLs", where)
		return
	}
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			c.fail(RefusalMalformed, "%s must be a URL or a list of URLs", where)
			return
		}
		user, err := resolveRef(c.req.Version, s)
		if err != "" {
			c.fail(RefusalPolicy, "%s: the reference %s", where, err)
			return
		}
		c.addUser(where, user, false)
	}
}

// graphHosts are Graph's hosts in the clouds the proxy serves
// (internal/config.Clouds): an absolute reference must name one of them.
var graphHosts = []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}

// resolveRef reads a reference as Graph would and returns the user it
// names, or why it names none the policy can resolve.
func resolveRef(version, ref string) (user, reason string) {
	path, query := ref, ""
	if strings.Contains(ref, "://") {
		u, err := url.Parse(ref)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Port() != "" ||
			!slices.Contains(graphHosts, strings.ToLower(u.Hostname())) {
			// A reference elsewhere would be read by Graph however Graph
			// reads it: the proxy does not guess.
			return "", "is not a Graph URL (https on a Graph host, or a relative path)"
		}
		req, err := Canonicalize("GET", u.EscapedPath(), u.RawQuery)
		if err != nil {
			return "", "is not a Graph URL the proxy can read"
		}
		return refUser(req)
	}
	path, query, _ = strings.Cut(path, "?")
	if strings.HasPrefix(path, "/") {
		path = path[1:]
	}
	for _, v := range Versions {
		if strings.HasPrefix(path, v+"/") {
			path = strings.TrimPrefix(path, v+"/")
		}
	}
	req, err := Canonicalize("GET", "/"+version+"/"+path, query)
	if err != nil {
		return "", "is not a Graph path the proxy can read"
	}
	return refUser(req)
}

func refUser(req Request) (string, string) {
	if len(req.Query) > 0 {
		return "", "has query options"
	}
	if len(req.Segments) >= 2 && strings.EqualFold(req.Segments[0], "users") && isUser(req.Segments[1]) && userThing(req.Segments[2:]) {
		return req.Segments[1], ""
	}
	return "", "names no user the policy can resolve (only users/{id or UPN}, or one of a user's calendars or folders, is)"
}

// userThings are what a reference may name of a user's and still be the
// user's: a navigation to other people (manager, directReports, memberOf)
// would bind someone the path does not name.
var userThings = [][]string{
	{},
	{"calendar"},
	{"calendars", "*"},
	{"calendargroups", "*"},
	{"calendargroups", "*", "calendars", "*"},
	{"mailfolders", "*"},
	{"contactfolders", "*"},
}

// userThing reports whether segs, after users/{user}, are one of
// userThings.
func userThing(segs []string) bool {
	return slices.ContainsFunc(userThings, func(t []string) bool {
		if len(t) != len(segs) {
			return false
		}
		for i, w := range t {
			if w != "*" && !strings.EqualFold(w, segs[i]) {
				return false
			}
		}
		return true
	})
}

// pathUser is the user whose data the path reaches: users/{user}/..., by
// object id or UPN; "" when the path names none.
func pathUser(req *Request) string {
	if len(req.Segments) >= 2 && strings.EqualFold(req.Segments[0], "users") && isUser(req.Segments[1]) {
		return req.Segments[1]
	}
	return ""
}
