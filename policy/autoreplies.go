package policy

import "strings"

// Automatic replies send a text the call sets to whoever writes to the
// mailbox: people no call names. Replies inside the organisation reach
// only its own people; replies to outside senders (externalAudience
// contactsOnly or all) are refused. Graph takes the setting in
// PATCH …/mailboxSettings, in a user's mailboxSettings (PATCH /users/{id})
// and at …/automaticRepliesSetting, and keeps what a call leaves out: an
// externalAudience omitted or null is the mailbox's current one, often
// all. So wherever automaticRepliesSetting stands in a body, any route,
// any depth, replies that are on (status other than disabled, or left
// out) must say externalAudience none.

// autoRepliesKey is automaticRepliesSetting's key in lower case.
const autoRepliesKey = "automaticrepliessetting"

// externalReplies says why a setting whose status and externalAudience
// are these is refused, or "": where names it for the reason, never its
// values (but the few Graph defines).
func externalReplies(where string, status any, hasStatus bool, audience any) (string, Refusal) {
	if hasStatus {
		s, ok := status.(string)
		if !ok {
			return where + ".status must be a string", RefusalMalformed
		}
		if strings.EqualFold(s, "disabled") {
			return "", RefusalPolicy
		}
	}
	if a, ok := audience.(string); ok && strings.EqualFold(a, "none") {
		return "", RefusalPolicy
	}
	return where + ": automatic replies that may be on (status other than disabled) must set externalAudience to none: replies to outside senders go to people no call names, and an externalAudience left out or null keeps the mailbox's own, which may be all", RefusalPolicy
}

// autoReplies checks an automaticRepliesSetting found in a body.
func (c *bodyCheck) autoReplies(where string, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		c.fail(RefusalMalformed, "%s must be an object", where)
		return
	}
	status, hasStatus := fieldOf(obj, "status")
	if reason, refusal := externalReplies(where, status, hasStatus, fieldValue(obj, "externalAudience")); reason != "" {
		c.fail(refusal, "%s", reason)
	}
}

// autoRepliesRaw is autoReplies on a raw value.
func (c *bodyCheck) autoRepliesRaw(r *rawBody, where string, v int) {
	if r.b[v] != '{' {
		c.fail(RefusalMalformed, "%s must be an object", where)
		return
	}
	var status, audience any
	sv := r.field(v, "status")
	if sv >= 0 && r.b[sv] == '"' {
		status = r.str(sv)
	} else if sv >= 0 && !r.isNull(sv) {
		status = false // not a string: refused as such
	}
	if av := r.field(v, "externalAudience"); av >= 0 && r.b[av] == '"' {
		audience = r.str(av)
	}
	if reason, refusal := externalReplies(where, status, sv >= 0, audience); reason != "" {
		c.fail(refusal, "%s", reason)
	}
}
