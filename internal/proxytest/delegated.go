package proxytest

import (
	"net/url"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// delegated is the on-behalf-of exchange of the proxy's app registration
// in the simulator, its credential the managed identity (federated).
func delegated(t *testing.T, sim *graphsim.Sim, login *url.URL, adjust func(*upstream.OnBehalfOfOptions)) *upstream.OnBehalfOf {
	t.Helper()
	oo := upstream.OnBehalfOfOptions{GraphResource: graphsim.GraphResource}
	if adjust != nil {
		adjust(&oo)
	}
	id := sim.Entra.NewFederatedIdentity()
	obo, err := upstream.NewOnBehalfOf(upstream.Options{Mode: upstream.ModeFederated, TenantID: graphsim.CustomerTenant,
		ClientID: graphsim.ProxyAppID, ManagedIdentityClientID: id, LoginURL: login, CustomLogin: true, HTTPClient: sim.Client()}, oo)
	if err != nil {
		t.Fatalf("on-behalf-of: %v", err)
	}
	return obo
}

// delegatedSource is obo as the handler takes it: nil stays nil.
func delegatedSource(obo *upstream.OnBehalfOf) proxy.Delegated {
	if obo == nil {
		return nil
	}
	return obo
}

// UserToken is a signed-in user's token for the proxy's API, as the
// vendor's app obtains it (the simulator's direct grant).
func (e *Env) UserToken(s graphsim.UserTokenSpec) string {
	e.t.Helper()
	tok, _, err := e.Sim.Entra.MintUser(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}
