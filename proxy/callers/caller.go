package callers

import (
	"errors"
	"net"
	"net/http"
)

// Caller is an authenticated party.
type Caller struct {
	// Name is the policy's callers[].name for this party.
	Name string
	// TenantID is the tenant that issued the caller's credential.
	TenantID string
	// AppID is the caller's application (client) id.
	AppID string
	// Roles are the app roles in the caller's token.
	Roles []string
	// Auth names the mechanism: "entra-jwt" or "mtls".
	Auth string
	// CertSHA256 is the SHA-256 thumbprint (lower-case hex) of an mtls
	// caller's client certificate, the certificate the policy's match:
	// { thumbprint } named it by (SHA-256 or SHA-1 of the same bytes);
	// empty for a caller of an Entra ID token.
	CertSHA256 string
	// CertSHA1 is the same certificate's SHA-1 thumbprint (lower-case
	// hex), which the policy may name it by instead: what is remembered
	// by Identity and must find its caller again in a later policy
	// (NameOf) keeps it beside; empty for a caller of an Entra ID token.
	CertSHA1 string
	// IP is the caller's address.
	IP string
	// Actor is the signed-in user of a delegated call (a user's token);
	// nil for an app-only caller.
	Actor *Actor
}

// Authenticator establishes who sent a request.
type Authenticator interface {
	// Authenticate returns the caller or an error wrapping
	// ErrUnauthenticated (no valid credential) or ErrUnknownCaller (a
	// valid credential that matches no configured caller).
	Authenticate(r *http.Request) (Caller, error)
}

var (
	// ErrUnauthenticated is a missing or invalid credential: 401.
	ErrUnauthenticated = errors.New("callers: unauthenticated")
	// ErrUnknownCaller is a valid credential of no configured caller: 403.
	ErrUnknownCaller = errors.New("callers: credential valid but no caller matches")
)

// RemoteIP is the address of the peer that opened the connection.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
