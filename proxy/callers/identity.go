package callers

import "strings"

// Identity is the credential that made a call, as a stable, canonical
// string: what the proxy remembers a caller by where the policy's name
// would be wrong (the maker of a subscription, proxy.SubscriptionOwners).
// A policy name follows the policy, which may rename a caller or give its
// old name to another party; an identity is the credential the policy's
// match: names the caller by, so it changes only when that does:
//
//   - an app-only Entra ID token: entra-jwt:app:{tenant}:{app}, the
//     tenant whose keys signed it and the application (azp or appid),
//     which match: { tenantID, appID } compares;
//   - a signed-in user's token (delegated): entra-jwt:delegated:{app},
//     the application alone, as the policy names a delegated caller
//     (CallerForDelegatedApp) — which user made what Graph itself
//     records (a subscription's creatorId), and the proxy checks that
//     where it matters (a subscription on /me) on what it reads from
//     Graph; the delegated and the app-only calls of one application are
//     two identities, as the policy may make them two callers;
//   - a client certificate: mtls:sha256:{thumbprint}, the certificate's
//     SHA-256 whichever of its SHA-256 or SHA-1 thumbprints
//     match: { thumbprint } is written with.
//
// A new credential (a rotated certificate, another application) is
// another identity: what the old one made is then another's, refused,
// never shared. Identity returns "" for a caller it cannot name so (no
// credential, a mechanism or a value it does not know): "" is nobody's
// identity, and what such a caller makes is not remembered.
func (c *Caller) Identity() string {
	switch c.Auth {
	case "entra-jwt":
		if !identityPart(c.AppID) {
			return ""
		}
		app := strings.ToLower(c.AppID)
		if c.Actor != nil {
			return "entra-jwt:delegated:" + app
		}
		if !identityPart(c.TenantID) {
			return ""
		}
		return "entra-jwt:app:" + strings.ToLower(c.TenantID) + ":" + app
	case "mtls":
		if len(c.CertSHA256) != 64 || !identityPart(c.CertSHA256) {
			return ""
		}
		return "mtls:sha256:" + strings.ToLower(c.CertSHA256)
	}
	return ""
}

// identityPart reports whether s can stand in an identity unambiguously:
// not empty, and without the separator or anything but printable ASCII.
func identityPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f || b == ':' {
			return false
		}
	}
	return true
}

// NameOf returns the name the policy in force (dir) gives the credential
// of identity — what Identity returned for a call — as Authenticate would
// name a call made with it now: the caller whose match: names that tenant
// and application; the caller declaring delegated access for that
// application (a delegated identity); the caller of that certificate,
// which the policy may name by its SHA-256 or by certSHA1, its SHA-1
// thumbprint (Caller.CertSHA1; "" for any other identity). It is how what
// the proxy remembers by identity (a relayed subscription) finds its
// caller after the policy renamed it, or gave its old name to another.
// ok is false when no caller of dir has that credential, or identity is
// not one Identity makes ("" included): that is nobody's.
func NameOf(dir Directory, identity, certSHA1 string) (name string, ok bool) {
	id, ok := parseIdentity(identity)
	switch {
	case !ok:
	case id.auth == "entra-jwt" && id.tenant != "":
		return dir.CallerForApp(id.tenant, id.app)
	case id.auth == "entra-jwt":
		// Authenticate names a user's token by the application's
		// delegated caller, else by the app-only caller of the user's
		// tenant, which the policy refuses delegated calls: only the
		// former ever made what is remembered.
		if dd, ok := dir.(DelegatedDirectory); ok {
			return dd.CallerForDelegatedApp(id.app)
		}
	case id.auth == "mtls" && (certSHA1 == "" || isHex(certSHA1, 40)):
		return dir.CallerForCert(id.sha256, certSHA1)
	}
	return "", false
}

// identityForm is an identity read back into its parts: auth
// "entra-jwt" with its application and, app-only, its tenant; or "mtls"
// with the certificate's SHA-256.
type identityForm struct{ auth, tenant, app, sha256 string }

// parseIdentity reads an identity of Identity's form, and reports false
// for anything else.
func parseIdentity(identity string) (identityForm, bool) {
	parts := strings.Split(identity, ":")
	for _, p := range parts {
		if !identityPart(p) {
			return identityForm{}, false
		}
	}
	switch {
	case len(parts) == 4 && parts[0] == "entra-jwt" && parts[1] == "app":
		return identityForm{auth: "entra-jwt", tenant: parts[2], app: parts[3]}, true
	case len(parts) == 3 && parts[0] == "entra-jwt" && parts[1] == "delegated":
		return identityForm{auth: "entra-jwt", app: parts[2]}, true
	case len(parts) == 3 && parts[0] == "mtls" && parts[1] == "sha256" && isHex(parts[2], 64):
		return identityForm{auth: "mtls", sha256: parts[2]}, true
	}
	return identityForm{}, false
}

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < '0' || b > '9') && (b < 'a' || b > 'f') {
			return false
		}
	}
	return true
}

// IdentityParts reads back what an audit record names a caller by from
// an identity (Identity's form): the mechanism, and for an Entra ID token
// its tenant (app-only) and application. A record of a call made with a
// credential no caller of the policy in force has (a relayed
// notification of a caller since removed) so still says whose it was.
// Anything else gives empty parts.
func IdentityParts(identity string) (auth, tenant, app string) {
	id, _ := parseIdentity(identity)
	return id.auth, id.tenant, id.app
}
