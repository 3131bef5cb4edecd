// Package callers authenticates the party calling the proxy and names it as
// a Caller, which the policy matches on.
//
// Authentication fails closed: a request whose credential is missing,
// invalid or unknown yields an error, never a Caller, and the error carries
// no detail meant for the caller.
package callers
