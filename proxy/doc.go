// Package proxy is graph-proxy's request pipeline: an http.Handler that
// takes a vendor's Microsoft Graph call through the stages of
// docs/architecture.md ("The data path") — guard, canonicalise,
// authenticate, route, body, decide, scope, limit, token, forward, respond,
// audit — in that order.
//
// Nothing reaches Graph without an authenticated caller, a policy decision
// that forwards it and an audit log ready to take its record. The caller's
// Authorization header, cookies and any header not on the forwarding
// allow-list stay behind; the proxy's own token goes in their place. Links
// in Graph's answers that point back at Graph (paging, delta, Location) are
// rewritten to the proxy's public base, so SDKs keep paging through the
// proxy.
//
// The proxy's own errors use Graph's error body, so SDKs parse them; Graph's
// own answers, Retry-After included, pass through untouched.
package proxy
