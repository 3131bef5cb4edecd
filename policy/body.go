package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// maxJSONDepth bounds nesting in bodies the policy reads.
const maxJSONDepth = 64

// parseJSON reads a JSON document strictly: one value, nesting at most
// maxJSONDepth, and no object with the same key twice (compared without
// case, as Graph's binder compares them). Duplicate keys are ambiguous:
// parsers disagree on which one wins.
//
// jsonParser does it in one pass over the bytes, several times cheaper
// than encoding/json's decoder into an any, and much cheaper than walking
// the document token by token (parseJSONTokens, kept as the reference the
// fuzz test compares with).
func parseJSON(data []byte) (any, error) {
	p := jsonParser{b: data}
	return p.parse()
}

// body is what the policy reads of a JSON request body: its top-level
// members by name, and whether any object in it asks Graph to fetch a URL.
type body struct {
	obj       map[string]any // nil unless the body is an object
	sourceURL bool
	// annotation is the first custom annotation in the body
	// (customAnnotation), or "".
	annotation string
	// people: some object in the body has one of personKeys, or a
	// reference (people.go); the body is then read whole.
	people bool
	// spans are its objects and lists, for rawBody (jsonParser.spans).
	spans []rawSpan
}

// sourceURLKey is the annotation with which a body asks Graph to fetch a
// URL itself (attachments and file content by reference).
const sourceURLKey = "@microsoft.graph.sourceUrl"

// bodyMembers are the top-level members checkDoc reads; parseBody builds
// only these. body.member refuses (panics on) any other name, so a check
// added without its member here fails its first test instead of passing
// every body it should refuse.
var bodyMembers = []string{
	"schedules", "message", "toRecipients",
	"notificationUrl", "lifecycleNotificationUrl", "notificationQueryOptions", "includeResourceData", "resource",
	"status", "externalAudience",
	"sendResponse",
	"scope", "recipients", "parentReference", "destinationId",
}

var sourceURLBytes = []byte(sourceURLKey)

var bodyMemberKeys = func() [][]byte {
	out := make([][]byte, len(bodyMembers))
	for i, m := range bodyMembers {
		out[i] = []byte(m)
	}
	return out
}()

// parseBody reads a request body as strictly as parseJSON, building only
// bodyMembers: the rest of the body is checked without being built. Its
// objects and lists are recorded after spans' length (jsonParser.spans);
// the body returned holds what spans grew to, a refused body's too, so
// that a lent list goes back whole.
func parseBody(data []byte, spans []rawSpan) (body, error) {
	p := jsonParser{b: data, members: bodyMemberKeys, watch: sourceURLBytes, people: true, annotations: true, record: true, spans: spans}
	v, err := p.parse()
	if err != nil {
		return body{spans: p.spans}, err
	}
	obj, _ := v.(map[string]any)
	return body{obj: obj, sourceURL: p.watched, annotation: p.annotation, people: p.peopleSeen, spans: p.spans}, nil
}

// parseLean reads a body as strictly as parseJSON, building its whole
// shape but only the strings and numbers the policy reads (jsonParser.lean).
// It was how a body naming people was read for walk; FuzzWalkRaw holds
// walkRaw, which replaced it, to walk on what it builds.
func parseLean(data []byte) (any, error) {
	p := jsonParser{b: data, lean: true}
	return p.parse()
}

// get reads a top-level member without case, and whether it is there.
func (b body) get(name string) (any, bool) {
	if !slices.Contains(bodyMembers, name) {
		panic("policy: body member " + name + " is not in bodyMembers")
	}
	for k, v := range b.obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// maxKeysPerObject bounds an object's keys. Graph's own objects have a
// few dozen at most.
const maxKeysPerObject = 1000

// parseJSONTokens is the token-by-token strict parser parseJSON replaced;
// the fuzz test holds parseJSON to its verdicts.
func parseJSONTokens(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err == io.EOF {
		err = errors.New("unexpected end of the body")
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	switch d {
	case '{':
		obj := map[string]any{}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if foldsToASCII([]byte(k)) {
				return nil, fmt.Errorf("key %s has a character whose case is ASCII", shownName(k))
			}
			lk := strings.ToLower(k)
			if seen[lk] {
				return nil, fmt.Errorf("key %s appears twice in one object", shownName(k))
			}
			seen[lk] = true
			if obj[k], err = readValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token()
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := readValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// checkBody reads the body of a call a rule serves, by the route model
// (routes.go): its Content-Type, the members the call cannot work without,
// and every person it names (people.go), to whom the rules on people
// apply. It returns a denial reason and its kind, or "".
func (p *Policy) checkBody(c *caller, r *rule, a *Args, d *Decision) (string, Refusal) {
	req := a.Request
	rt := routeOf(req)
	if rt != nil && rt.refuse != "" {
		return rt.refuse, RefusalPolicy
	}
	if reason := unmodelledAction(req, rt); reason != "" {
		return reason, RefusalPolicy
	}
	if seg, ok := rt.oddlySpelled(req.Segments); ok {
		return fmt.Sprintf("%q is %s spelled with something after its name; how Graph reads it cannot be established", seg, rt.name), RefusalMalformed
	}
	if len(a.Body) == 0 && a.doc == nil && (rt == nil || rt.check == noRequirement && rt.resolve == LookupNone) {
		return "", RefusalPolicy // nothing to read, nothing required
	}
	bc := &bodyCheck{p: p, caller: c, actor: a.Actor, req: req, inBatch: a.doc != nil || a.inBatch, data: a.Body, doc: a.doc}
	var doc any
	switch {
	case (a.doc != nil || len(a.Body) > 0) && (req.Method == "GET" || req.Method == "DELETE"):
		return req.Method + " takes no request body", RefusalMalformed
	case a.doc != nil:
		// A $batch sub-request's, parsed whole with the batch, whose
		// Content-Type the batch checked.
		doc = a.doc
		d.ContentType = "application/json"
	case len(a.Body) == 0:
	default:
		media := mediaJSON
		if rt != nil {
			media = rt.media
		}
		if media == mediaContent && !endsInLiteral(r) {
			// File content is relaxed for a rule that names it; a variable
			// ({action}) matching …/$value is no such rule: JSON's rules.
			media = mediaJSON
		}
		ct, isMIME, reason := decideMediaType(a.ContentType, media)
		if reason != "" {
			return reason, RefusalMediaType
		}
		d.ContentType = ct
		switch {
		case media == mediaContent && !isMIME && !isJSON(ct):
			// File content: bytes for a file, not read.
			return "", RefusalPolicy
		case isMIME:
			bc.mime = true
			if reason := bc.mimePeople(a.Body, rt != nil && rt.sends); reason != "" {
				return reason, RefusalMalformed
			}
		default:
			spans := lend[rawSpan](&spanLists)
			b, err := parseBody(a.Body, *spans)
			// Back once the walk below is done with them.
			defer func() { giveBack(&spanLists, spans, b.spans) }()
			if err != nil {
				return "request body is not acceptable JSON: " + err.Error(), RefusalMalformed
			}
			bc.body = b
			if b.obj == nil {
				return "a request body must be a JSON object", RefusalMalformed
			}
			if b.people || (rt != nil && rt.people != "") {
				// It names people, or its route has them: walked whole
				// in its bytes (peoplestream.go), to find them all.
				bc.body.people = true
				bc.raw = rawBody{b: a.Body, spans: b.spans}
			}
		}
	}
	if doc != nil {
		obj, ok := doc.(map[string]any)
		if !ok {
			return "a request body must be a JSON object", RefusalMalformed
		}
		bc.body = body{obj: obj, sourceURL: bc.body.sourceURL || hasKey(doc, sourceURLKey), annotation: customAnnotationIn(doc), people: true}
	}
	if bc.body.annotation != "" {
		return fmt.Sprintf("the body carries the annotation %s, whose meaning the proxy cannot establish (only @odata.… and @microsoft.graph.… annotations are accepted)", shownName(bc.body.annotation)), RefusalPolicy
	}
	if !p.externalLinks && bc.body.sourceURL {
		return "the body asks Graph to fetch a URL (" + sourceURLKey + "); set externalLinks: true to allow it", RefusalPolicy
	}
	if rt != nil {
		if reason, refusal := bc.required(rt.check); reason != "" {
			return reason, refusal
		}
	}
	switch {
	case bc.raw.b != nil:
		members := lend[rawMember](&memberLists)
		bc.members = *members
		bc.walkRaw(&bc.raw, bc.raw.space(0), "")
		giveBack(&memberLists, members, bc.members)
	case bc.body.people:
		bc.walk(bc.body.obj, "")
	}
	if bc.reason != "" {
		return bc.reason, bc.refusal
	}
	if reason := bc.sendsAsAnother(r); reason != "" {
		return reason, RefusalPolicy
	}
	for _, t := range bc.targets {
		d.Targets = appendUnique(d.Targets, t)
	}
	if reason, refusal := p.checkPeople(c, r, rt, bc.people, d); reason != "" {
		return reason, refusal
	}
	return bc.resolveLater(rt, d), RefusalPolicy
}

// checkPeople applies the rules on people to everyone a body named, and
// makes each a target. users.withoutGroup exempts a target by where it
// came from, not by its name: only a person named in the body, and only
// when no other source of the call — the path's user, the users of a
// subscription's resource, a reference — names the same one, since those
// are mailboxes the call acts on. A name both ways is checked.
func (p *Policy) checkPeople(c *caller, r *rule, rt *route, people []person, d *Decision) (string, Refusal) {
	mail := rt != nil && rt.mail
	if len(people) > MaxTargets {
		return tooManyTargets, RefusalPolicy
	}
	// The targets so far that no exemption let through (the path's user,
	// a subscription's resource's), and the references named now.
	var actedOn []string
	for _, t := range d.Targets {
		if !containsFold(d.Unscoped, t) {
			actedOn = append(actedOn, t)
		}
	}
	for _, who := range people {
		if !who.bodyNamed {
			actedOn = append(actedOn, who.name)
		}
	}
	for _, who := range people {
		if who.bodyNamed && len(r.peopleDomains) > 0 {
			if who.addr == nil {
				return fmt.Sprintf("%s names %s by object id, whose domain peopleDomains of rule %q cannot check", who.where, who.name, r.id), RefusalPolicy
			}
			if !who.addr.InDomains(r.peopleDomains) {
				return fmt.Sprintf("%s %s is outside the domains rule %q allows", who.where, who.name, r.id), RefusalPolicy
			}
		}
		if who.bodyNamed && mail {
			switch {
			case len(p.recipientDomains) == 0:
				return "the call writes or sends mail, and the policy sets no mail.recipientDomains", RefusalPolicy
			case who.addr == nil:
				return fmt.Sprintf("%s names %s by object id, whose domain mail.recipientDomains cannot check", who.where, who.name), RefusalPolicy
			case !who.addr.InDomains(p.recipientDomains):
				return fmt.Sprintf("mail recipient %s (%s) is outside mail.recipientDomains", who.name, who.where), RefusalPolicy
			}
		}
		d.Targets = appendUnique(d.Targets, who.name)
		if c.group != "" && c.unscoped(who) && !containsFold(actedOn, who.name) {
			d.Unscoped = appendUnique(d.Unscoped, who.name)
		}
	}
	// An exemption from before (a body's person, when the people of a
	// referenced item are added) never covers a mailbox acted on.
	d.Unscoped = slices.DeleteFunc(d.Unscoped, func(t string) bool { return containsFold(actedOn, t) })
	if len(d.Targets) > MaxTargets {
		return tooManyTargets, RefusalPolicy
	}
	return "", RefusalPolicy
}

// mimePeople reads the people of a base64 MIME message's headers. A
// message a call sends now must name a recipient in To, Cc or Bcc: one
// whose recipients the proxy did not find is one it may have read
// otherwise than Graph.
func (c *bodyCheck) mimePeople(data []byte, sends bool) string {
	headers, err := MIMERecipients(data)
	if err != nil {
		return "MIME message: " + err.Error()
	}
	if sends && len(headers["To"])+len(headers["Cc"])+len(headers["Bcc"]) == 0 {
		return "MIME message: a message sent now must name its recipients in To, Cc or Bcc"
	}
	for _, name := range sortedKeys(headers) {
		for _, a := range headers[name] {
			c.people = append(c.people, person{name: a.String(), addr: &a, bodyNamed: true, where: "MIME " + name,
				sender: name == "From" || name == "Sender"})
		}
	}
	return ""
}

// checkSubscription vets a change-notification subscription: where
// notifications go, whether they carry data, and that the watched resource
// is one the caller could read — decided as that read, whose users are
// the subscription's targets. An update (PATCH of one by id) may carry
// only what Graph lets one change, checked as at creation; what it does
// not change is read from Graph (LookupSubscription).
func checkSubscription(bc *bodyCheck) (string, Refusal) {
	p, b, req := bc.p, bc.body, bc.req
	creating := req.Method == "POST"
	if !creating && len(req.Segments) == 2 {
		if reason := updatableOnly(bc); reason != "" {
			return reason, RefusalPolicy
		}
	}
	for _, k := range []string{"notificationUrl", "lifecycleNotificationUrl", "notificationQueryOptions"} {
		v, present := b.get(k)
		if !present {
			if k == "notificationUrl" && creating {
				return "a subscription needs notificationUrl", RefusalMalformed
			}
			continue
		}
		s, ok := v.(string)
		if !ok {
			return k + " must be a string", RefusalMalformed
		}
		if k == "notificationQueryOptions" {
			return "notificationQueryOptions is not allowed", RefusalPolicy
		}
		if bc.caller.relay {
			if reason := relayRefusal(k, s, creating, bc.inBatch); reason != "" {
				return reason, RefusalPolicy
			}
		}
		if reason := p.notificationURLRefusal(k, s); reason != "" {
			return reason, RefusalPolicy
		}
	}
	withData := false
	if v, present := b.get("includeResourceData"); present {
		on, ok := v.(bool)
		if !ok {
			return "includeResourceData must be true or false", RefusalMalformed
		}
		if on && !p.includeResourceData {
			return "includeResourceData is not allowed (subscriptions.includeResourceData)", RefusalPolicy
		}
		withData = on
	}
	res, present := b.get("resource")
	if !present {
		if creating {
			return "a subscription needs a resource", RefusalMalformed
		}
		return "", RefusalPolicy
	}
	s, ok := res.(string)
	if !ok || s == "" {
		return "resource must be a Graph path", RefusalMalformed
	}
	targets, filtered, reason := p.subscriptionResource(bc.caller, bc.actor, req.Version, s)
	if reason != "" {
		return reason, RefusalPolicy
	}
	if withData && filtered {
		return "includeResourceData on a resource whose read the policy filters (response or select): resource data is encrypted for the caller, and cannot be filtered", RefusalPolicy
	}
	bc.targets = targets
	return "", RefusalPolicy
}

// subscriptionUpdatable are the members of a subscription Graph lets an
// update change.
var subscriptionUpdatable = []string{"expirationDateTime", "notificationUrl", "lifecycleNotificationUrl"}

// updatableOnly refuses an update of a subscription whose body carries a
// member Graph does not let one change (resource, changeType, …): read
// as the update it is not, it would be decided on what the subscription
// is not.
func updatableOnly(bc *bodyCheck) string {
	var obj map[string]any
	switch {
	case bc.doc != nil:
		obj, _ = bc.doc.(map[string]any)
	case len(bc.data) > 0:
		v, err := parseJSON(bc.data)
		if err != nil {
			return "request body is not acceptable JSON: " + err.Error()
		}
		obj, _ = v.(map[string]any)
	}
	for _, k := range sortedKeys(obj) {
		if !slices.ContainsFunc(subscriptionUpdatable, func(m string) bool { return strings.EqualFold(m, k) }) {
			return fmt.Sprintf("an update of a subscription may change only %s, not %s", strings.Join(subscriptionUpdatable, ", "), k)
		}
	}
	return ""
}

// notificationURLRefusal says why member k's notification URL u is not
// one a subscription may name (subscriptions.notificationUrls), or "".
func (p *Policy) notificationURLRefusal(k, u string) string {
	if !slices.ContainsFunc(p.notificationURLs, func(allowed string) bool { return notificationURLMatches(allowed, u) }) {
		return fmt.Sprintf("%s %s is not in subscriptions.notificationUrls", k, shownURL(u))
	}
	return ""
}

// watchesMe reports whether a subscription's resource is under /me: the
// signed-in user of whoever made the subscription.
func watchesMe(version, resource string) bool {
	path, query, _ := strings.Cut(resource, "?")
	inner, err := Canonicalize("GET", "/"+version+"/"+strings.TrimPrefix(path, "/"), query)
	return err == nil && len(inner.Segments) > 0 && strings.EqualFold(inner.Segments[0], "me")
}

// subscriptionResource decides a subscription's resource as the read it
// stands for, by caller c acting as actor (nil: app-only), as the call
// that makes or reads the subscription is: its users and whether the
// read's answers are filtered (a response section or select), or why it
// is refused. A signed-in user's subscription is Graph's with the user's
// token, its resource read as the user would read it (/me, another user
// only under otherUsers), never by an app-only rule.
func (p *Policy) subscriptionResource(c *caller, actor *Actor, version, resource string) ([]string, bool, string) {
	path, query, _ := strings.Cut(resource, "?")
	inner, err := Canonicalize("GET", "/"+version+"/"+strings.TrimPrefix(path, "/"), query)
	if err != nil {
		return nil, false, "subscription resource is not a Graph path the policy can read"
	}
	sub := p.decide(Args{Caller: c.name, Request: inner, Actor: actor}, false)
	// The resource is the body's (or Graph's answer's): a reason names
	// what failed, not it.
	if sub.Result != Allow && sub.RuleID != "" {
		return nil, false, fmt.Sprintf("subscription resource is not readable under this policy (rule %q refuses its GET)", sub.RuleID)
	}
	if sub.Result != Allow {
		return nil, false, "subscription resource is not readable under this policy (no rule allows its GET)"
	}
	if len(sub.Targets) == 0 && c.group != "" {
		return nil, false, "subscription resource names no user the users.group scope can check"
	}
	// Notifications reach the caller around the answers' filter: each
	// names its resource and its id (resource, resourceData), so a
	// section that withholds or pseudonymises the id refuses the
	// subscription; with includeResourceData each carries the resource's
	// data, encrypted for the caller where the proxy cannot read it, so
	// any filter (a section, select:) refuses that (filtered).
	if r := sub.Response; r != nil && r.withholdsID() {
		return nil, false, fmt.Sprintf("subscription resource's answers are filtered (rule %q has a response section that withholds or pseudonymises id), and its notifications, which name it, could not be", sub.RuleID)
	}
	return sub.Targets, sub.Response != nil || sub.selects, ""
}

// checkSubscriptionRead decides a call on a subscription by id with what
// the proxy read of it (LookupSubscription): as its creation by this
// caller would have been decided — its resource a read the caller may
// make, whose users become targets (and, for a scoped caller, must be in
// scope), and its notification URLs ones the caller may name — so that a
// caller reads, renews or deletes only a subscription it could have made.
// A relaying caller's URLs come back as its own only from a subscription
// the relay made for it; the proxy refuses any other before this.
func (p *Policy) checkSubscriptionRead(c *caller, actor *Actor, req Request, read []Recipient, d *Decision) string {
	resource, creator := "", ""
	for _, f := range read {
		switch f.Where {
		case "resource":
			resource = f.Address
		case "creatorId":
			creator = f.Address
		case "notificationUrl", "lifecycleNotificationUrl":
			if reason := p.notificationURLRefusal("the subscription's "+f.Where, f.Address); reason != "" {
				return reason
			}
		default:
			return "the subscription read has a field " + f.Where + " the policy does not read"
		}
	}
	if resource == "" {
		return "the subscription read names no resource"
	}
	if watchesMe(req.Version, resource) && (actor == nil || creator == "" || !strings.EqualFold(creator, actor.ObjectID)) {
		// me is its creator's signed-in user, whom Graph may let another
		// user (an administrator) or the application reach: decided as
		// this call's /me, it would be decided for the wrong user.
		return "the subscription read from Graph watches /me of a user who is not this call's signed-in user"
	}
	targets, _, reason := p.subscriptionResource(c, actor, req.Version, resource)
	if reason != "" {
		return "the subscription read from Graph: " + reason
	}
	for _, t := range targets {
		d.Targets = appendUnique(d.Targets, t)
	}
	if len(d.Targets) > MaxTargets {
		return tooManyTargets
	}
	return ""
}

// relayRefusal says why a subscription's notification URL cannot be
// relayed (callers[].notifications: relay), or "". The proxy rewrites a
// relayed subscription's URLs when it is created, alone: a $batch
// sub-request is written out again by the policy, never rewritten, and
// an update carries no clientState to seal with the URL. Event Hubs and
// Event Grid deliver beside any HTTP endpoint, so the proxy could not
// see what they carry: refused, never passed on unrelayed.
func relayRefusal(member, url string, creating, inBatch bool) string {
	lower := strings.ToLower(url)
	switch {
	case strings.HasPrefix(lower, "eventgrid:") || strings.HasPrefix(lower, "eventhub:"):
		return member + " " + shownURL(url) + " cannot be relayed (callers[].notifications: relay): Event Hubs and Event Grid deliver around the proxy"
	case !creating:
		return "the notification URLs of a relayed subscription (callers[].notifications: relay) are set when it is created; create a new subscription instead"
	case inBatch:
		return "a relayed subscription (callers[].notifications: relay) cannot be created inside $batch; create it with its own call"
	}
	return ""
}

// notificationURLMatches compares a notification URL with an allowed one:
// exactly, or by prefix when the allowed one ends in '*'. The EventGrid:
// and EventHub: forms are compared the same way.
func notificationURLMatches(allowed, got string) bool {
	if prefix, ok := strings.CutSuffix(allowed, "*"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == allowed
}

func checkNotificationURL(s string) error {
	base := strings.TrimSuffix(s, "*")
	lower := strings.ToLower(base)
	if strings.HasPrefix(lower, "eventgrid:") || strings.HasPrefix(lower, "eventhub:") {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("notification URL %q must be an https URL or an EventGrid: or EventHub: address", s)
	}
	if strings.HasSuffix(s, "*") && !strings.HasSuffix(base, "/") {
		return fmt.Errorf("notification URL %q: a '*' may only follow a '/'", s)
	}
	return nil
}

// hasKey reports whether key appears (without case) in any object in v.
func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.EqualFold(k, key) || hasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKey(e, key) {
				return true
			}
		}
	}
	return false
}

// fieldValue reads a property without case, as Graph does.
func fieldValue(obj map[string]any, name string) any {
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// MaxTargets bounds the users one call may name in its body (Graph itself
// takes at most 500 attendees per event). Each target costs a rate-limit
// bucket and, with users.group, a membership check, and collecting them
// compares each with those before it.
const MaxTargets = 500

var tooManyTargets = fmt.Sprintf("the call names more than %d users", MaxTargets)

// containsFold reports whether l holds s, compared without case.
func containsFold(l []string, s string) bool {
	return slices.ContainsFunc(l, func(e string) bool { return strings.EqualFold(e, s) })
}

func appendUnique(l []string, s string) []string {
	for _, e := range l {
		if strings.EqualFold(e, s) {
			return l
		}
	}
	return append(l, s)
}

// endsInLiteral reports whether r's path ends in a literal segment.
func endsInLiteral(r *rule) bool {
	parts := r.tmpl.parts
	return len(parts) > 0 && parts[len(parts)-1].kind == literal
}
