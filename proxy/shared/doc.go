// Package shared makes graph-proxy's replicas behave as one proxy: the
// policy's rate and concurrency limits (callers[].rateLimit, and Graph's
// own per-mailbox limits) and the group membership answers are kept in a
// Redis every replica shares (limits.store: redis), so that three
// replicas let through what the policy allows, not three times as much.
//
// Store holds the connection, the replicas' heartbeat (a sorted set of
// replicas alive, each entry expiring on its own) and whether Redis
// answers. Limiter implements proxy.CallLimiter with one atomic Lua
// script per stage of a call: rates as GCRA, concurrency as leases with
// an expiry, renewed while their call lasts, so that the leases of a
// replica that dies come back by themselves. Members implements
// proxy.MemberCache. EntraCredentials authenticates to Azure's Redis with
// the managed identity's Entra token, renewed before it expires.
//
// Redis failing or slower than its timeout (a few milliseconds) makes no
// call fail and no limit disappear: the store falls back to local limits
// divided by the replica count last known, says so in its Status, its
// counters and its log, and returns to the shared limits when its
// heartbeat finds Redis answering in time again. A membership answer
// Redis cannot give is asked of Graph.
package shared
