package config

// Notifications configures the relay of change notifications (policy
// callers[].notifications: relay, docs/policy.md): the key that seals the
// proxy's notification URLs, which every replica reads from one Key Vault
// secret with the managed identity (upstream.managedIdentityClientID; Key
// Vault Secrets User). Without it, relayed subscriptions are refused
// (503) and Graph's deliveries answered 503.
type Notifications struct {
	// The secret, e.g.
	// https://contoso-gp.vault.azure.net/secrets/graph-proxy-notification-key;
	// an empty secretURI configures no relay. Poll interval default 5m.
	KeyVaultSecret `mapstructure:",squash"`
	// AppID is the proxy's own application (client) id in Graph: the
	// audience of rich notifications' validation tokens. Empty takes the
	// application of the proxy's Graph token at start.
	AppID string `mapstructure:"appID"`
}

func (ps *problems) checkNotifications(n Notifications) {
	ps.checkKeyVaultSecret("notifications", n.KeyVaultSecret)
	if n.AppID != "" && !IsGUID(n.AppID) {
		ps.add("notifications.appID", "%q is not an application (client) id, a GUID", n.AppID)
	}
}
