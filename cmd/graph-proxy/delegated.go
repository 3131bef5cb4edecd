package main

import (
	"slices"
	"strings"

	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// newDelegated is the on-behalf-of exchange of delegated access
// (inbound.entra.allowDelegated), with the app registration and credential
// of upstream.mode; nil when delegated access is off, which refuses every
// signed-in user's call.
func newDelegated(cfg config.Config, uo upstream.Options, resource string) (proxy.Delegated, error) {
	if !cfg.Inbound.Entra.AllowDelegated {
		return nil, nil
	}
	obo, err := upstream.NewOnBehalfOf(uo, upstream.OnBehalfOfOptions{GraphResource: resource})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return obo, nil
}

// inboundTenants are the tenants whose tokens are accepted: the vendors'
// (inbound.entra.tenants) and, with delegated access, the customer's,
// whose users sign in.
func inboundTenants(cfg config.Config) []string {
	t := cfg.Inbound.Entra.Tenants
	if u := cfg.Upstream.TenantID; cfg.Inbound.Entra.AllowDelegated && u != "" &&
		!slices.ContainsFunc(t, func(s string) bool { return strings.EqualFold(s, u) }) {
		t = append(slices.Clip(t), u)
	}
	return t
}

// userTenants are the tenants whose users' tokens are accepted: the
// customer's alone, the tenant the exchange runs in.
func userTenants(cfg config.Config) []string {
	if !cfg.Inbound.Entra.AllowDelegated || cfg.Upstream.TenantID == "" {
		return nil
	}
	return []string{cfg.Upstream.TenantID}
}
