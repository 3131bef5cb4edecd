package callers_test

import (
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// TestIdentity: a caller's identity is the credential the policy's match:
// names it by, canonical (case), never its policy name; a caller it cannot
// name so has none ("").
func TestIdentity(t *testing.T) {
	const (
		tenant = "7a000000-0000-4000-8000-00000000007a"
		app    = "e0000000-0000-4000-8000-0000000000e1"
		sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	)
	user := callers.NewActor("u1", "u1@contoso.example", tenant, "token", time.Now().Add(time.Hour))
	tests := []struct {
		name   string
		caller callers.Caller
		want   string
	}{
		{name: "app-only token", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: tenant, AppID: app},
			want: "entra-jwt:app:" + tenant + ":" + app},
		{name: "app-only token, ids in upper case", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: "7A000000-0000-4000-8000-00000000007A", AppID: "E0000000-0000-4000-8000-0000000000E1"},
			want: "entra-jwt:app:" + tenant + ":" + app},
		{name: "the policy name is no part of it", caller: callers.Caller{Name: "renamed", Auth: "entra-jwt", TenantID: tenant, AppID: app},
			want: "entra-jwt:app:" + tenant + ":" + app},
		{name: "a signed-in user's token: the application alone", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: "another-tenant", AppID: app, Actor: user},
			want: "entra-jwt:delegated:" + app},
		{name: "client certificate", caller: callers.Caller{Name: "engage", Auth: "mtls", CertSHA256: sha256},
			want: "mtls:sha256:" + sha256},
		{name: "client certificate, thumbprint in upper case", caller: callers.Caller{Name: "engage", Auth: "mtls", CertSHA256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"},
			want: "mtls:sha256:" + sha256},
		{name: "client certificate without its thumbprint", caller: callers.Caller{Name: "engage", Auth: "mtls"}},
		{name: "client certificate, a SHA-1 length thumbprint", caller: callers.Caller{Name: "engage", Auth: "mtls", CertSHA256: sha256[:40]}},
		{name: "token without an application", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: tenant}},
		{name: "app-only token without a tenant", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", AppID: app}},
		{name: "a separator in the tenant", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: "a:b", AppID: app}},
		{name: "a separator in the application", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: tenant, AppID: "x:" + app}},
		{name: "a control character", caller: callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: tenant, AppID: app + "\n"}},
		{name: "a mechanism it does not know", caller: callers.Caller{Name: "engage", Auth: "basic", TenantID: tenant, AppID: app}},
		{name: "nobody authenticated", caller: callers.Caller{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.caller.Identity(); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

// TestIdentityDistinct: credentials the policy can tell apart are never
// one identity.
func TestIdentityDistinct(t *testing.T) {
	const tenant, app = "t1", "a1"
	user := callers.NewActor("u1", "", tenant, "token", time.Now().Add(time.Hour))
	all := []callers.Caller{
		{Auth: "entra-jwt", TenantID: tenant, AppID: app},
		{Auth: "entra-jwt", TenantID: "t2", AppID: app},
		{Auth: "entra-jwt", TenantID: tenant, AppID: "a2"},
		{Auth: "entra-jwt", TenantID: tenant, AppID: app, Actor: user},
		{Auth: "entra-jwt", TenantID: tenant, AppID: "a2", Actor: user},
		{Auth: "mtls", CertSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{Auth: "mtls", CertSHA256: "0f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
	}
	seen := map[string]int{}
	for i := range all {
		id := all[i].Identity()
		if j, ok := seen[id]; ok || id == "" {
			t.Errorf("caller %d: identity %q, as caller %d's", i, id, j)
		}
		seen[id] = i
	}
}
