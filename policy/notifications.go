package policy

import "slices"

// The ways a caller's subscriptions deliver change notifications
// (callers[].notifications).
const (
	// NotifyDirect: Graph delivers to the caller's own notificationUrl,
	// which subscriptions.notificationUrls must allow. The default.
	NotifyDirect = "direct"
	// NotifyRelay: Graph delivers to the proxy, which checks each
	// notification, scopes it to the caller's group, records it and
	// passes it on to the caller's notificationUrl (docs/policy.md,
	// "Change notifications").
	NotifyRelay = "relay"
)

// Subscriber is what the policy says of a caller's change notifications.
type Subscriber struct {
	// Relay is set when the proxy relays the caller's notifications.
	Relay bool
	// Group, when set, is the group whose members alone the caller may
	// hear about (users.group): a notification about anyone else is
	// dropped.
	Group string
}

// Subscriber returns what the policy says of caller's change
// notifications; ok is false for a caller the policy does not name, whose
// notifications are then dropped.
func (p *Policy) Subscriber(caller string) (s Subscriber, ok bool) {
	c := p.callers[caller]
	if c == nil {
		return Subscriber{}, false
	}
	return Subscriber{Relay: c.relay, Group: c.group}, true
}

// SubscriptionRefusal says why the policy would refuse caller a
// subscription on resource (of Graph version version) now, decided as
// the read it stands for, as at its creation; "" when it would not. data
// reports whether its notifications may carry resource data:
// subscriptions.includeResourceData allows it and the read's answers are
// not filtered (a response section or select), which data encrypted for
// the caller cannot be. The relay asks it on every delivery, so that a
// read the policy withdraws is heard of no more. actor is the signed-in
// user a subscription was made as (nil: app-only): its resource is
// decided again as that user's read, as at its creation.
func (p *Policy) SubscriptionRefusal(caller string, actor *Actor, version, resource string) (reason string, data bool) {
	c := p.callers[caller]
	if c == nil {
		return "the policy names no such caller", false
	}
	_, filtered, reason := p.subscriptionResource(c, actor, version, resource)
	return reason, reason == "" && p.includeResourceData && !filtered
}

// NotificationURLAllowed reports whether subscriptions.notificationUrls
// allows a notification URL: the relay checks it again on every delivery,
// so that a URL the policy no longer allows receives nothing more.
func (p *Policy) NotificationURLAllowed(u string) bool {
	return slices.ContainsFunc(p.notificationURLs, func(allowed string) bool { return notificationURLMatches(allowed, u) })
}
