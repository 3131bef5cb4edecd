package callers_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
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

// TestNameOf: an identity finds the caller the policy in force names its
// credential by, as Authenticate would name a call made with it — the
// policy's name now, whatever it was when the identity was remembered —
// or none: never by a name, never a caller of another credential.
func TestNameOf(t *testing.T) {
	const (
		tenant = "7a000000-0000-4000-8000-00000000007a"
		app    = "e0000000-0000-4000-8000-0000000000e1"
		other  = "e0000000-0000-4000-8000-0000000000e2"
	)
	cert := []byte("a client certificate's bytes")
	s256, s1 := sha256.Sum256(cert), sha1.Sum(cert)
	tp256, tp1 := hex.EncodeToString(s256[:]), hex.EncodeToString(s1[:])
	pol, err := policy.Parse("policy.yaml", []byte(`version: 1
callers:
  - name: renamed
    match: { tenantID: "`+strings.ToUpper(tenant)+`", appID: "`+app+`" }
    permissions: [Calendars.ReadBasic.All]
  - name: engage
    match: { tenantID: "`+tenant+`", appID: "`+other+`" }
    permissions: [Calendars.ReadBasic.All]
    delegated: { scopes: [Mail.Read] }
  - name: by-sha1
    match: { certThumbprint: "`+strings.ToUpper(tp1)+`" }
    permissions: [Calendars.ReadBasic.All]
rules:
  - { id: events, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All, delegatedScope: Mail.Read }
`))
	if err != nil {
		t.Fatal(err)
	}
	user := callers.NewActor("u1", "", "another-tenant", "token", time.Now().Add(time.Hour))
	tests := []struct {
		name     string
		identity string
		certSHA1 string
		want     string
	}{
		{name: "app-only token", identity: (&callers.Caller{Auth: "entra-jwt", TenantID: tenant, AppID: app}).Identity(), want: "renamed"},
		{name: "another application", identity: (&callers.Caller{Auth: "entra-jwt", TenantID: tenant, AppID: other}).Identity(), want: "engage"},
		{name: "a signed-in user's token", identity: (&callers.Caller{Auth: "entra-jwt", TenantID: "another-tenant", AppID: other, Actor: user}).Identity(), want: "engage"},
		{name: "a user's token of an application without delegated access", identity: (&callers.Caller{Auth: "entra-jwt", TenantID: tenant, AppID: app, Actor: user}).Identity()},
		{name: "certificate the policy names by SHA-1", identity: "mtls:sha256:" + tp256, certSHA1: tp1, want: "by-sha1"},
		{name: "certificate without its SHA-1", identity: "mtls:sha256:" + tp256},
		{name: "certificate with another's SHA-1", identity: "mtls:sha256:" + tp256, certSHA1: strings.Repeat("0", 40)},
		{name: "certificate, SHA-1 not hex", identity: "mtls:sha256:" + tp256, certSHA1: strings.ToUpper(tp1)},
		{name: "a SHA-1 in place of the SHA-256", identity: "mtls:sha256:" + tp1, certSHA1: tp1},
		{name: "a tenant no caller has", identity: "entra-jwt:app:" + other + ":" + app},
		{name: "a policy name", identity: "engage"},
		{name: "nobody", identity: ""},
		{name: "an empty part", identity: "entra-jwt:app::" + app},
		{name: "a part too many", identity: "entra-jwt:app:" + tenant + ":" + app + ":x"},
		{name: "a mechanism it does not know", identity: "basic:" + app},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := callers.NameOf(pol, tt.identity, tt.certSHA1)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("got %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestIdentityParts: an identity reads back as the mechanism, tenant and
// application it was made of, and anything else as nothing.
func TestIdentityParts(t *testing.T) {
	const tenant, app = "7a000000-0000-4000-8000-00000000007a", "e0000000-0000-4000-8000-0000000000e1"
	user := callers.NewActor("u1", "", tenant, "token", time.Now().Add(time.Hour))
	tests := []struct {
		id                string
		auth, tenant, app string
	}{
		{id: (&callers.Caller{Auth: "entra-jwt", TenantID: tenant, AppID: app}).Identity(), auth: "entra-jwt", tenant: tenant, app: app},
		{id: (&callers.Caller{Auth: "entra-jwt", TenantID: tenant, AppID: app, Actor: user}).Identity(), auth: "entra-jwt", app: app},
		{id: (&callers.Caller{Auth: "mtls", CertSHA256: strings.Repeat("ab", 32)}).Identity(), auth: "mtls"},
		{id: ""},
		{id: "engage"},
		{id: "entra-jwt:app:" + tenant},
		{id: "entra-jwt:app:" + tenant + ":" + app + ":x"},
		{id: "mtls:sha1:" + strings.Repeat("ab", 20)},
	}
	for _, tt := range tests {
		auth, tenant, app := callers.IdentityParts(tt.id)
		if auth != tt.auth || tenant != tt.tenant || app != tt.app {
			t.Errorf("IdentityParts(%q) = %q, %q, %q; want %q, %q, %q", tt.id, auth, tenant, app, tt.auth, tt.tenant, tt.app)
		}
	}
}
