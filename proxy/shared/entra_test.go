package shared_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/redistest"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

// identity is a managed identity as Entra ID would serve its tokens for
// Redis: JWTs whose oid claim is its object id.
type identity struct {
	oid string

	mu      sync.Mutex
	issued  int
	expires time.Time
}

func (id *identity) token(n int) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"aud": "https://redis.azure.com", "oid": id.oid, "n": n}) + ".c2lnbmF0dXJl"
}

// GetToken implements azcore.TokenCredential: a new token each time.
func (id *identity) GetToken(_ context.Context, o azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != shared.RedisScope {
		return azcore.AccessToken{}, fmt.Errorf("scopes %v; want %s", o.Scopes, shared.RedisScope)
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	id.issued++
	return azcore.AccessToken{Token: id.token(id.issued), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestEntraCredentials: over TLS, as Azure's Redis requires, the proxy
// authenticates as its identity's object id with its token; when the
// token is renewed, every connection authenticates again with the new
// one, and new connections use it (the old one no longer works).
func TestEntraCredentials(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, TLSConfig: srv.TLSConfig()})
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	id := &identity{oid: "b8a3f9e2-0000-4000-8000-00000000e1d1"}
	allow := func(token string) {
		t.Helper()
		// Only the newest token: Azure refuses an expired one.
		if err := admin.Do(ctx, "ACL", "SETUSER", id.oid, "on", "resetpass", ">"+token, "~*", "&*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
	}
	allow(id.token(1))

	creds := &shared.EntraCredentials{Credential: id}
	if _, _, err := creds.Subscribe(nil); err == nil {
		t.Fatal("Subscribe before any token succeeded; want an error (no waiting for Entra on a call's path)")
	}
	if err := creds.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	client := shared.NewClient(shared.ClientOptions{Address: srv.Addr, TLS: srv.TLSConfig(), Credentials: creds})
	t.Cleanup(func() { client.Close() })
	if who, err := client.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != id.oid {
		t.Fatalf("ACL WHOAMI: %q, %v; want the identity's object id %s", who, err, id.oid)
	}

	auths := func() int {
		info, err := admin.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`cmdstat_auth:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	before := auths()
	allow(id.token(2))
	if err := creds.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// go-redis authenticates a connection again when it is next taken
	// from the pool, before any command runs on it: calls at once take
	// every connection the pool holds.
	proxytest.WaitFor(t, "the connection to authenticate again with the new token", func() bool {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := client.Ping(ctx).Err(); err != nil {
					t.Errorf("PING after renewal: %v", err)
				}
			})
		}
		wg.Wait()
		return auths() > before
	})
	if who, err := client.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != id.oid {
		t.Fatalf("ACL WHOAMI after renewal: %q, %v", who, err)
	}
	fresh := shared.NewClient(shared.ClientOptions{Address: srv.Addr, TLS: srv.TLSConfig(), Credentials: creds})
	t.Cleanup(func() { fresh.Close() })
	if err := fresh.Ping(ctx).Err(); err != nil {
		t.Fatalf("a new connection after renewal: %v; want it authenticated with the new token", err)
	}

	plain := shared.NewClient(shared.ClientOptions{Address: srv.Addr, TLS: &tls.Config{MinVersion: tls.VersionTLS12}, Credentials: creds})
	t.Cleanup(func() { plain.Close() })
	if err := plain.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS to a server whose CA is not trusted: %v; want a certificate error", err)
	}
}

// TestEntraObjectID: the user name comes from the token's oid claim; a
// token without one is refused rather than sent with a wrong user.
func TestEntraObjectID(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{name: "a JWT with oid", token: enc(`{}`) + "." + enc(`{"oid":"o-1"}`) + ".s"},
		{name: "not a JWT", token: "opaque", wantErr: "not a JWT"},
		{name: "no oid", token: enc(`{}`) + "." + enc(`{"sub":"x"}`) + ".s", wantErr: "no oid claim"},
		{name: "payload not base64url", token: enc(`{}`) + ".%%%.s", wantErr: "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := &shared.EntraCredentials{Credential: staticToken(tt.token)}
			err := creds.Refresh(context.Background())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Refresh: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Refresh: %v; want an error saying %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), tt.token):
				t.Fatalf("the error %q holds the token", err)
			}
			if tt.wantErr != "" {
				return
			}
			c, _, err := creds.Subscribe(nopListener{})
			if err != nil {
				t.Fatal(err)
			}
			if user, _ := c.BasicAuth(); user != "o-1" {
				t.Errorf("user %q; want o-1", user)
			}
			if s := fmt.Sprintf("%v %+v %s", c, c, c); strings.Contains(s, tt.token) {
				t.Errorf("formatted credentials %q hold the token", s)
			}
		})
	}
}

type staticToken string

func (s staticToken) GetToken(context.Context, azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type nopListener struct{}

func (nopListener) OnNext(auth.Credentials) {}
func (nopListener) OnError(error)           {}
