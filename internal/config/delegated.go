package config

import "strings"

// checkDelegated checks delegated access (inbound.entra.allowDelegated):
// the on-behalf-of exchange runs as the proxy's app registration, in the
// customer's tenant, so the mode must have one, and the users' tokens
// must be issued for that same app.
func (ps *problems) checkDelegated(c Config) {
	e, u := c.Inbound.Entra, c.Upstream
	if !e.AllowDelegated {
		return
	}
	if len(e.Tenants) == 0 {
		ps.add("inbound.entra.allowDelegated", "needs inbound.entra.tenants and audience: users' tokens are Entra ID tokens for the proxy's API")
	}
	if u.Mode == ModeManagedIdentity {
		ps.add("inbound.entra.allowDelegated", "needs upstream.mode keyVaultSecret, keyVaultCertificate or federated: a managed identity cannot exchange a user's token on the user's behalf")
	}
	if e.ClientID != "" && u.ClientID != "" && !strings.EqualFold(e.ClientID, u.ClientID) {
		ps.add("inbound.entra.clientID", "%s is not upstream.clientID %s: with allowDelegated, users' tokens must be issued for the app registration that exchanges them", e.ClientID, u.ClientID)
	}
	if e.UserScope == "" {
		ps.add("inbound.entra.userScope", "required with allowDelegated: the delegated scope the proxy's app registration exposes, e.g. access_as_user")
	}
}
