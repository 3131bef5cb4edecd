package callers

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Delegated access: a vendor's app signs a user of the customer's tenant
// in and sends a token issued for the proxy's own API (a delegated scope
// such as access_as_user). The proxy validates it as it validates app-only
// tokens, names the caller (the vendor's app) and the user (Actor), and
// later exchanges the token on behalf of the user for a Graph token
// (proxy/upstream OnBehalfOf).

// Actor is the signed-in user a delegated call acts as.
type Actor struct {
	// ObjectID is the user's object id (oid) in TenantID.
	ObjectID string
	// UPN is the user's upn claim; it may be empty (v2 tokens carry it
	// only as an optional claim). It names the user where a path may:
	// a call on /users/{UPN} is the user's own.
	UPN string
	// Username is the token's preferred_username, which Microsoft
	// documents as mutable and not for authorization (a guest's names
	// the guest's home account; an email claim named a user in the
	// nOAuth attacks): it is shown in records and logs where UPN is
	// empty, and never decides which user a call acts on.
	Username string
	// TenantID is the tenant that issued the user's token (tid).
	TenantID string
	// Scopes are the proxy API's delegated scopes the token carries (scp).
	Scopes []string
	// ExpiresOn is when the user's token expires (exp); what is derived
	// from it (an exchanged Graph token) must not outlive it.
	ExpiresOn time.Time

	// assertion is the user's token itself: the assertion of an
	// on-behalf-of exchange, never logged, stored or forwarded.
	assertion string
}

// Assertion returns the user's token, for the on-behalf-of exchange only.
func (a *Actor) Assertion() string { return a.assertion }

// String names the user without the token.
func (a *Actor) String() string { return a.ObjectID + " (" + a.Shown() + ")" }

// Shown is the name records and logs show for the user: the UPN, else
// preferred_username.
func (a *Actor) Shown() string {
	if a.UPN != "" {
		return a.UPN
	}
	return a.Username
}

// LogValue names the user in structured logs; the token shows as REDACTED.
func (a *Actor) LogValue() slog.Value {
	return slog.GroupValue(slog.String("oid", a.ObjectID), slog.String("upn", a.Shown()),
		slog.String("tenantId", a.TenantID), slog.String("assertion", "REDACTED"))
}

// NewActor is an Actor carrying assertion, for tests of the stages after
// authentication.
func NewActor(oid, upn, tenant, assertion string, expires time.Time) *Actor {
	return &Actor{ObjectID: oid, UPN: upn, TenantID: tenant, ExpiresOn: expires, assertion: assertion}
}

// DelegatedDirectory is implemented by a Directory that names the callers
// a signed-in user may act through (policy callers[].delegated). A user's
// token is issued by the user's tenant, not the app's, so such callers
// are found by their application alone.
type DelegatedDirectory interface {
	CallerForDelegatedApp(appID string) (string, bool)
}

// ErrGraphToken is a token issued for Microsoft Graph rather than for the
// proxy: 401 with an answer that says so. The proxy cannot validate such a
// token and never forwards it.
var ErrGraphToken = fmt.Errorf("%w: token issued for Microsoft Graph", ErrUnauthenticated)

// graphAudiences are Microsoft Graph's token audiences in every cloud.
var graphAudiences = []string{
	"00000003-0000-0000-c000-000000000000",
	"https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us",
	"https://microsoftgraph.chinacloudapi.cn", "https://canary.graph.microsoft.com",
}

// forGraph reports whether a token's audience is Microsoft Graph.
func forGraph(aud []string) bool {
	return slices.ContainsFunc(aud, func(a string) bool {
		return slices.Contains(graphAudiences, strings.TrimSuffix(strings.ToLower(a), "/"))
	})
}

// userInfo checks the user claims of a delegated token and returns the
// actor they name, without the token.
func (e *Entra) userInfo(c *entraClaims, tenant string) (*Actor, error) {
	if !e.o.AllowDelegated {
		return nil, reject(ErrUnauthenticated, "delegated (user) token; only app-only tokens are accepted")
	}
	if len(e.o.UserTenants) > 0 && !slices.ContainsFunc(e.o.UserTenants, func(t string) bool { return strings.EqualFold(t, tenant) }) {
		return nil, reject(ErrUnauthenticated, "user token of tenant %s; users of %v only", tenant, e.o.UserTenants)
	}
	if c.OID == "" {
		return nil, reject(ErrUnauthenticated, "user token without oid")
	}
	scopes := strings.Fields(c.Scope)
	if e.o.UserScope != "" && !slices.Contains(scopes, e.o.UserScope) {
		return nil, reject(ErrUnauthenticated, "user token without the scope %s (scp %q)", e.o.UserScope, c.Scope)
	}
	if c.ExpiresAt == nil {
		return nil, errors.New("user token without exp") // the parser requires exp
	}
	return &Actor{ObjectID: strings.ToLower(c.OID), UPN: c.UPN, Username: c.PreferredUsername, TenantID: tenant, Scopes: scopes, ExpiresOn: c.ExpiresAt.Time}, nil
}

// nameDelegated names the caller of a user's token: a caller declaring
// delegated access for the application, else (a user of the app's own
// tenant) the caller of the application in that tenant, which the policy
// then refuses delegated calls unless it declares delegated access.
func (e *Entra) nameDelegated(info tokenInfo) (string, bool) {
	if dd, ok := e.dir.(DelegatedDirectory); ok {
		if name, ok := dd.CallerForDelegatedApp(info.appID); ok {
			return name, true
		}
	}
	return e.dir.CallerForApp(info.tenantID, info.appID)
}
