package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Change-notification subscriptions: one made or updated (its body), one
// read, renewed or deleted by id, each decided as the read its resource
// stands for, and the notification URLs it may name.

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
