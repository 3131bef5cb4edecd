package policy

import (
	"fmt"
	"slices"
	"strings"
)

// The body check: a call's body read by the route model, and the rules on
// people applied to everyone it names.

// checkBody reads the body of a call a rule serves, by the route model
// (routes.go): its Content-Type, the members the call cannot work without,
// and every person it names (people.go), to whom the rules on people
// apply. It returns a denial reason and its kind, or "".
func (p *Policy) checkBody(c *caller, r *rule, a *Args, d *Decision) (string, Refusal) {
	req := &a.Request
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
	bc := &bodyCheck{p: p, caller: c, actor: a.Actor, req: *req, inBatch: a.doc != nil || a.inBatch, data: a.Body, doc: a.doc}
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
