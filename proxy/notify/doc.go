// Package notify relays Microsoft Graph's change notifications through the
// proxy, for the callers whose policy says notifications: relay.
//
// Outbound, Subscribe rewrites a subscription's creation: notificationUrl
// and lifecycleNotificationUrl become the proxy's, each
// PublicBase/notifications/<token>, the token sealing (AES-256-GCM, a key
// every replica reads from Key Vault) the caller's identity (the
// credential that made the subscription, callers.Caller.Identity, never
// its policy name), the caller's own URL and clientState, the
// subscription's version and resource, and a clientState of the proxy's
// own that Graph is given instead. Restore shows the caller of that
// identity its own URLs and clientState in Graph's answers. Nothing is stored: any replica with the key serves any
// subscription.
//
// Inbound, ServeHTTP answers Graph at /notifications/<token>. It fails
// closed: a token that does not open or carries no identity (an earlier
// version's), an identity no caller of the policy in force has (the
// caller that has it decides, whatever its name), a caller the policy no
// longer relays, a URL it no longer allows, a subscription resource (sealed in
// the token) it would no longer let the caller read, resource data it no
// longer allows, anything but a POST of
// application/json within the size and rate limits (the rate spent only
// at URLs whose token opens), a notification whose clientState or tenant
// is not the subscription's, a change at a lifecycle URL or a lifecycle
// notification carrying one, a validation request with a body, or rich
// notifications whose validation tokens Microsoft's identity platform did
// not issue to the proxy — each refuses the whole delivery. Notifications about a user
// outside the caller's users.group are dropped; a membership not known
// answers 503 so that Graph delivers again. The rest go to the caller's
// URL at once, and Graph is answered with the caller's status: Graph's
// own retries are the queue. Every notification, delivered, dropped or
// refused, leaves one audit record (direction inbound), never its data.
package notify
