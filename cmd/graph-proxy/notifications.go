package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/secretkey"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/notify"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// newNotificationKey reads the key of the relay's tokens
// (notifications.secretURI), its earlier versions still opening the URLs
// of subscriptions made under them.
func newNotificationKey(cfg config.Config, loginURL *url.URL, client *http.Client, log *slog.Logger) (*secretkey.Vault, error) {
	return newSecretKey(cfg, "notifications", "notification key", cfg.Notifications.KeyVaultSecret, keyVersionsKept, loginURL, client, log)
}

// relayDeps are what the relay is built from in serve.
type relayDeps struct {
	cfg        config.Config
	key        *secretkey.Vault
	store      *policy.Store
	publicBase *url.URL
	loginURL   *url.URL
	client     *http.Client
	tokens     upstream.TokenSource
	members    proxy.Membership
	audit      *auditlog.Log
	replica    string
	log        *slog.Logger
}

// startNotifications builds the relay of change notifications: nil, and
// relayed subscriptions refused, without notifications.secretURI. A key
// configured and unreadable stops the start.
func startNotifications(ctx context.Context, d relayDeps) (proxy.Notifications, []func(context.Context), func(), error) {
	if d.key == nil {
		if relays(d.store.Policy()) {
			d.log.Error("the policy relays change notifications and no notifications.secretURI is configured: those subscriptions are refused (503)")
		}
		return nil, nil, func() {}, nil
	}
	if err := d.key.Load(ctx); err != nil {
		return nil, nil, nil, &exitError{code: exitFailure, err: fmt.Errorf("%w\nfix: store a key of at least %d bytes in %s (az keyvault secret set --value \"$(openssl rand -base64 48)\") and give the managed identity Key Vault Secrets User on it",
			err, notify.MinKeyBytes, d.key)}
	}
	appID, tenant := d.cfg.Notifications.AppID, d.cfg.Upstream.TenantID
	if appID == "" || tenant == "" {
		app, tid := tokenClaims(ctx, d.tokens)
		appID, tenant = cmp.Or(appID, app), cmp.Or(tenant, tid)
	}
	if tenant == "" {
		return nil, nil, nil, &exitError{code: exitFailure, err: fmt.Errorf("notifications: the customer's tenant is not known\nfix: set upstream.tenantID")}
	}
	var verifier notify.TokenVerifier
	closeFn := func() {}
	if appID == "" {
		d.log.Error("the proxy's application id is not known (notifications.appID): rich notifications are refused")
	} else {
		e, err := callers.NewEntra(ctx, callers.EntraOptions{
			Tenants:    []string{tenant},
			Audiences:  []string{appID},
			LoginURL:   d.loginURL.String(),
			STSURL:     config.Clouds[d.cfg.Graph.Cloud].STSURL,
			HTTPClient: d.client,
			Logger:     d.log,
		}, nil)
		if err != nil {
			return nil, nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("notifications: validation tokens: %w", err)}
		}
		verifier, closeFn = e, e.Close
	}
	graphURL, _, _ := d.cfg.Graph.Endpoints()
	rl, err := notify.New(notify.Options{
		PublicBase: d.publicBase,
		Graph:      graphURL,
		Key:        d.key,
		Policy:     d.store.Policy,
		Tokens:     verifier,
		TenantID:   tenant,
		Members:    d.members,
		Audit:      d.audit,
		Client:     &http.Client{Transport: d.client.Transport},
		Replica:    d.replica,
		Logger:     d.log,
	})
	if err != nil {
		closeFn()
		return nil, nil, nil, err
	}
	return rl, []func(context.Context){d.key.Run}, closeFn, nil
}

// relays reports whether the policy relays any caller's notifications.
func relays(p *policy.Policy) bool {
	for _, c := range p.Callers() {
		if s, _ := p.Subscriber(c); s.Relay {
			return true
		}
	}
	return false
}

// tokenClaims are the application the proxy's own Graph token was issued
// to (the audience of its notifications' validation tokens) and its
// tenant. The token comes from Entra ID over TLS and is the proxy's; its
// claims are read, not verified again.
func tokenClaims(ctx context.Context, tokens upstream.TokenSource) (app, tenant string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := tokens.Token(ctx)
	if err != nil {
		return "", ""
	}
	raw := strings.TrimPrefix(tok.Authorization(), "Bearer ")
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return "", ""
	}
	tenant, _ = claims["tid"].(string)
	for _, k := range []string{"appid", "azp"} {
		if s, _ := claims[k].(string); s != "" {
			return s, tenant
		}
	}
	return "", tenant
}
