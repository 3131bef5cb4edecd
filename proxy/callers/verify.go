package callers

// Token is what a verified token says of who it was issued to.
type Token struct {
	// TenantID is the tenant whose keys signed the token.
	TenantID string
	// AppID is the application the token was issued to (azp or appid),
	// lower case.
	AppID string
}

// Verify checks a token as Authenticate does — signature by the keys of
// the tenant it claims (fetched as for callers), issuer of a configured
// tenant, audience, lifetime, an application — without naming a caller
// and without the cache. It is how the proxy checks tokens Microsoft
// sends it rather than callers do: the validation tokens of rich change
// notifications (proxy/notify). An error wraps ErrUnauthenticated.
func (e *Entra) Verify(raw string) (Token, error) {
	info, err := e.verify(raw)
	if err != nil {
		return Token{}, err
	}
	return Token{TenantID: info.tenantID, AppID: info.appID}, nil
}
