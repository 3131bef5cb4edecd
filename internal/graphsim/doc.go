// Package graphsim is a local stand-in for the Microsoft services
// graph-proxy talks to: Entra ID, the Container Apps managed-identity
// endpoint, Key Vault and Microsoft Graph. Each runs on its own loopback
// TLS listener with a certificate from a CA generated at start, so that the
// real Azure SDK clients and the real proxy can be tested end to end with
// no network.
//
// It behaves like the real services where graph-proxy depends on it: Graph
// checks the bearer token's signature, audience and app roles, pages with
// absolute @odata.nextLink URLs, answers $batch and delta, and can be told
// to throttle (429 with Retry-After), slow down, hang or reset, or to
// retire a new connection with GOAWAY before its first request is
// processed, as Graph's front doors do (Sim.GraphGoAway). Every
// request Graph receives is recorded, so tests can assert what reached it.
// Credentials are generated at start; ids are fixed and fictitious.
package graphsim
