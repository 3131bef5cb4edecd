package policy

import "strings"

// The route model's requirements and the checks they name (a
// subscription's are in subscription.go).

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
