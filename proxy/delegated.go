package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// Delegated access (docs/architecture.md, "Delegated access"): a caller
// acting as a signed-in user is authenticated with the user's token for
// the proxy (callers.Actor), decided as that user (policy.RouteAs: /me is
// the user, a target like any other), and forwarded with a Graph token
// of the user's own, which the token stage has exchanged on behalf of the
// user for the scopes the decision needs. The caller's token never goes
// to Graph, and no app-only token serves a user's call.

// Delegated exchanges a signed-in user's token for a Graph token of the
// user; upstream.OnBehalfOf implements it. Its errors are an
// *upstream.ClaimsChallenge, an *upstream.ExchangeError, or wrap
// upstream.ErrUnavailable.
type Delegated interface {
	Token(ctx context.Context, user upstream.User, scopes []string) (upstream.Token, error)
}

// errNoDelegated refuses a user's call when the proxy has no exchange
// configured: no app-only token may serve it.
var errNoDelegated = errors.New("delegated access is not configured: no on-behalf-of exchange")

// policyActor is the signed-in user as the policy sees it; nil for an
// app-only caller.
func policyActor(a *callers.Actor) *policy.Actor {
	if a == nil {
		return nil
	}
	return &policy.Actor{ObjectID: a.ObjectID, UPN: a.UPN}
}

// actorID is the signed-in user's object id, as a file link binds it; ""
// for an app-only caller.
func actorID(a *callers.Actor) string {
	if a == nil {
		return ""
	}
	return a.ObjectID
}

// auditActor is the signed-in user as the audit record names it.
func auditActor(a *callers.Actor) *auditlog.Actor {
	if a == nil {
		return nil
	}
	return &auditlog.Actor{ObjectID: a.ObjectID, UPN: a.Shown(), TenantID: a.TenantID}
}

// upstreamToken is the token stage: the proxy's own Graph token for an
// app-only caller; for a signed-in user, the user's Graph token for the
// scopes the decision needs, exchanged on behalf of the user.
func (h *Handler) upstreamToken(ctx context.Context, caller callers.Caller, d policy.Decision) (upstream.Token, error) {
	a := caller.Actor
	if a == nil {
		return h.o.Tokens.Token(ctx)
	}
	switch {
	case h.o.Delegated == nil:
		return upstream.Token{}, &Error{Status: http.StatusForbidden, Code: "graphProxy.delegatedNotConfigured",
			Message: "This proxy does not serve calls on behalf of signed-in users.", Err: errNoDelegated}
	case len(d.Scopes) == 0:
		// A decision that forwards a user's call names its scope; one
		// that does not is not forwarded under some other token.
		return upstream.Token{}, fmt.Errorf("%w: a signed-in user's call decided without a delegated scope", errDenied)
	}
	return h.o.Delegated.Token(ctx, upstream.User{ObjectID: a.ObjectID, TenantID: a.TenantID, Assertion: a.Assertion(), ExpiresOn: a.ExpiresOn}, d.Scopes)
}

// delegatedError maps the errors of delegated access to the caller's
// answer; nil for any other error. classify calls it.
func delegatedError(err error) *Error {
	var cc *upstream.ClaimsChallenge
	var xe *upstream.ExchangeError
	switch {
	case errors.Is(err, callers.ErrGraphToken):
		return &Error{Status: http.StatusUnauthorized, Code: "graphProxy.graphTokenRefused",
			Message: "The access token was issued for Microsoft Graph. This proxy accepts only tokens issued for its own API: request the proxy's scope (for a signed-in user, its delegated scope such as access_as_user) instead of Graph's.",
			Err:     err}
	case errors.As(err, &cc):
		// Microsoft's claims challenge for a middle tier: the caller's app
		// signs the user in again asking for these claims, then retries.
		return &Error{Status: http.StatusUnauthorized, Code: "graphProxy.claimsChallenge",
			Message: "The signed-in user must satisfy a Conditional Access policy: acquire a new token for this proxy with the claims in the WWW-Authenticate header, then retry.",
			Challenge: `Bearer realm="", error="insufficient_claims", error_description="A new token with the claims of the challenge is required", claims="` +
				base64.StdEncoding.EncodeToString([]byte(cc.Claims)) + `"`,
			Err: err}
	case errors.As(err, &xe):
		switch xe.Kind {
		case upstream.ExchangeUserToken:
			return &Error{Status: http.StatusUnauthorized, Code: "graphProxy.userTokenRejected",
				Message: "Microsoft Entra ID refused the signed-in user's token for Microsoft Graph; sign the user in again.", Err: err}
		case upstream.ExchangeConsent:
			return &Error{Status: http.StatusForbidden, Code: "graphProxy.consentRequired",
				Message: "The delegated permission this call needs is not consented for the proxy's application in this tenant, or for this user.", Err: err}
		default:
			return &Error{Status: http.StatusForbidden, Code: "graphProxy.interactionRequired",
				Message: "The signed-in user must sign in again interactively before the proxy can act on the user's behalf.", Err: err}
		}
	}
	return nil
}

// claimsChallenge reads Graph's continuous access evaluation challenge,
// Bearer ... error="insufficient_claims", claims="<base64 JSON>", and
// returns the claims; ok is false for any other challenge, or claims that
// are not base64 of a JSON object.
func claimsChallenge(values []string) (claims string, ok bool) {
	for _, v := range values {
		if !strings.Contains(v, `error="insufficient_claims"`) {
			continue
		}
		_, rest, found := strings.Cut(v, `claims="`)
		if !found {
			continue
		}
		enc, _, closed := strings.Cut(rest, `"`)
		if !closed {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			if raw, err = base64.RawURLEncoding.DecodeString(enc); err != nil {
				continue
			}
		}
		var obj map[string]any
		if json.Unmarshal(raw, &obj) != nil {
			continue
		}
		return string(raw), true
	}
	return "", false
}
