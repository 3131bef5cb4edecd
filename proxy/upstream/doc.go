// Package upstream obtains the proxy's own Graph access token. Vendors never
// hold one: the proxy presents this token on every forwarded call.
//
// A Cache holds one token per process, refreshes it ahead of expiry in the
// background and shares a single in-flight acquisition among all waiting
// requests, because managed-identity endpoints throttle. When acquisition
// fails the still-valid token keeps serving; once it has expired, Token
// fails with ErrUnavailable and the proxy answers 503 (fail closed).
package upstream
