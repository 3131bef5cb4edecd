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
