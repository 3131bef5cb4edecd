// Package auditlog defines the egress audit record, the contract the
// customer's security team queries (docs/architecture.md, "The audit
// record"), and the sinks that write it.
//
// One Record is written for every call the proxy answers — allowed, denied,
// unauthenticated or failed — and one for every $batch sub-request. A
// record never holds a token, a secret, a query option's value or a body.
//
// A Log that cannot accept records reports it through Ready, and the proxy
// then refuses calls (fails closed) rather than forward them unaudited.
package auditlog
