package vaultsecret_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/vaultsecret"
)

// TestRead reads the simulator's vault: the newest version with its id,
// and failures said in one line that names the secret and Key Vault's
// status, never a value, with the SDK's error underneath.
func TestRead(t *testing.T) {
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	open := func(name string) *vaultsecret.Secret {
		s, err := vaultsecret.New(vaultsecret.Options{VaultURL: sim.Vault.URL, Name: name, Credential: mi, HTTPClient: sim.Client(),
			DisableChallengeResourceVerification: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	sim.Vault.SetSecret("k", "first-value", "")
	second := sim.Vault.SetSecret("k", "second-value", "")

	tests := []struct {
		name     string
		reader   bool
		secret   string
		want     string
		wantErr  string
		wantCode int
	}{
		{name: "newest version", reader: true, secret: "k", want: "second-value"},
		{name: "no role", reader: false, secret: "k", wantErr: "Key Vault answered 403", wantCode: http.StatusForbidden},
		{name: "no such secret", reader: true, secret: "absent", wantErr: "Key Vault answered 404", wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.Vault.SetReader(oid, tt.reader)
			s := open(tt.secret)
			v, err := s.Read(ctx)
			if tt.wantErr == "" {
				if err != nil || string(v.Value) != tt.want || v.Version != second || !strings.HasSuffix(v.ID, "/secrets/k/"+second) {
					t.Fatalf("Read: %+v, %v; want %q at version %s", v, err, tt.want, second)
				}
				return
			}
			var re *azcore.ResponseError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), s.String()) ||
				strings.Contains(err.Error(), "value") || !errors.As(err, &re) || re.StatusCode != tt.wantCode {
				t.Errorf("Read error %v; want one line naming %s and %q, the SDK's %d underneath", err, s, tt.wantErr, tt.wantCode)
			}
		})
	}
}
