package config

import (
	"strings"
	"testing"
)

func TestLoadDelegated(t *testing.T) {
	const on = "GRAPH_PROXY_INBOUND_ENTRA_ALLOWDELEGATED=true"
	app := []string{"GRAPH_PROXY_UPSTREAM_MODE=federated", "GRAPH_PROXY_UPSTREAM_TENANTID=c1a5517e-0000-4000-8000-000000000001",
		"GRAPH_PROXY_UPSTREAM_CLIENTID=b0000000-0000-4000-8000-0000000000b1"}
	tests := []struct {
		name    string
		env     []string
		wantErr string // "" loads
	}{
		{name: "off by default", env: nil},
		{name: "with the app registration", env: append([]string{on}, app...)},
		{name: "v2 audience is the exchanging app", env: append([]string{on, "GRAPH_PROXY_INBOUND_ENTRA_CLIENTID=B0000000-0000-4000-8000-0000000000B1"}, app...)},
		{name: "with the managed identity", env: []string{on},
			wantErr: "inbound.entra.allowDelegated: needs upstream.mode keyVaultSecret, keyVaultCertificate or federated"},
		{name: "another app's audience", env: append([]string{on, "GRAPH_PROXY_INBOUND_ENTRA_CLIENTID=b0000000-0000-4000-8000-0000000000b2"}, app...),
			wantErr: "is not upstream.clientID"},
		{name: "no scope", env: append([]string{on, "GRAPH_PROXY_INBOUND_ENTRA_USERSCOPE="}, app...),
			wantErr: "inbound.entra.userScope: required with allowDelegated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{File: writeConfig(t, "", ""), Env: tt.env})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v; want %q", err, tt.wantErr)
			case err == nil && cfg.Inbound.Entra.UserScope != "access_as_user":
				t.Errorf("userScope %q; want the default access_as_user", cfg.Inbound.Entra.UserScope)
			}
		})
	}
}
