package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// userOf is the simulator's i-th user with a token for the proxy's API.
func userOf(t *testing.T, sim *graphsim.Sim, i int, lifetime time.Duration) upstream.User {
	t.Helper()
	ids, upns := sim.Graph.Users()
	tok, exp, err := sim.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: ids[i], UPN: upns[i], Lifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	return upstream.User{ObjectID: ids[i], TenantID: graphsim.CustomerTenant, Assertion: tok, ExpiresOn: exp}
}

func newOBO(t *testing.T, o upstream.Options, mode string, max int) *upstream.OnBehalfOf {
	t.Helper()
	o.Mode = mode
	b, err := upstream.NewOnBehalfOf(o, upstream.OnBehalfOfOptions{GraphResource: graphsim.GraphResource, MaxEntries: max})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func claimsOf(t *testing.T, tok upstream.Token) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.Value, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOnBehalfOfModes: each credential of the proxy's app registration
// exchanges a user's token for a Graph token of that user with the scopes
// asked for; the managed identity alone cannot.
func TestOnBehalfOfModes(t *testing.T) {
	sim, o := setup(t, time.Hour)
	for _, mode := range []string{upstream.ModeFederated, upstream.ModeKeyVaultSecret} {
		t.Run(mode, func(t *testing.T) {
			b := newOBO(t, o, mode, 10)
			u := userOf(t, sim, 0, time.Hour)
			tok, err := b.Token(t.Context(), u, []string{"Mail.Send", "User.Read", "Mail.Send"})
			if err != nil {
				t.Fatal(err)
			}
			c := claimsOf(t, tok)
			if c["oid"] != u.ObjectID || c["appid"] != graphsim.ProxyAppID || c["scp"] != "Mail.Send User.Read" || c["aud"] != graphsim.GraphResource {
				t.Errorf("Graph token claims %v", c)
			}
			if tok.Authorization() != "Bearer "+tok.Value || tok.ExpiresOn.After(u.ExpiresOn) {
				t.Errorf("token %v expires %v, after the user's %v", tok, tok.ExpiresOn, u.ExpiresOn)
			}
		})
	}
	o.Mode = upstream.ModeManagedIdentity
	if _, err := upstream.NewOnBehalfOf(o, upstream.OnBehalfOfOptions{GraphResource: graphsim.GraphResource}); err == nil {
		t.Error("a managed identity cannot exchange a user's token; want an error")
	}
}

// TestOnBehalfOfCache: one exchange per user token and scope set, shared
// by concurrent calls; the cache is bounded, and a token whose user token
// expired is exchanged no more.
func TestOnBehalfOfCache(t *testing.T) {
	sim, o := setup(t, time.Hour)
	b := newOBO(t, o, upstream.ModeFederated, 3)
	a := userOf(t, sim, 0, time.Hour)

	var wg sync.WaitGroup
	toks := make([]upstream.Token, 16)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if toks[i], err = b.Token(context.Background(), a, []string{"User.Read"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := b.Exchanges(); n != 1 {
		t.Errorf("%d exchanges for 16 concurrent calls of one user and scope; want 1", n)
	}
	for _, tok := range toks[1:] {
		if tok.Value != toks[0].Value {
			t.Fatal("concurrent calls got different tokens")
		}
	}
	if _, err := b.Token(t.Context(), a, []string{"Mail.Send"}); err != nil || b.Exchanges() != 2 {
		t.Errorf("another scope set: %v, %d exchanges", err, b.Exchanges())
	}
	// Four users' tokens in a cache of three: the least recently used goes.
	for i := 1; i <= 3; i++ {
		if _, err := b.Token(t.Context(), userOf(t, sim, i, time.Hour), []string{"User.Read"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Len(); n != 3 {
		t.Errorf("%d cached; want the bound, 3", n)
	}
	// A user token about to expire, or expired: nothing is exchanged
	// with it, and the caller is to present a fresh one.
	before := b.Exchanges()
	for _, lifetime := range []time.Duration{3 * time.Second, -time.Second} {
		u := userOf(t, sim, 5, lifetime)
		var xe *upstream.ExchangeError
		if _, err := b.Token(t.Context(), u, []string{"User.Read"}); !errors.As(err, &xe) || xe.Kind != upstream.ExchangeUserToken {
			t.Errorf("a user token of lifetime %v: %v; want ExchangeUserToken", lifetime, err)
		}
	}
	if b.Exchanges() != before {
		t.Error("a user token about to expire was exchanged")
	}
}

// TestOnBehalfOfErrors: Entra ID's refusals become the errors the proxy
// answers by.
func TestOnBehalfOfErrors(t *testing.T) {
	sim, o := setup(t, time.Hour)
	b := newOBO(t, o, upstream.ModeFederated, 10)
	ids, upns := sim.Graph.Users()
	mint := func(s graphsim.UserTokenSpec) upstream.User {
		tok, exp, err := sim.Entra.MintUser(s)
		if err != nil {
			t.Fatal(err)
		}
		return upstream.User{ObjectID: s.ObjectID, TenantID: graphsim.CustomerTenant, Assertion: tok, ExpiresOn: exp}
	}
	sim.Entra.RequireMFA(ids[1], true)
	tests := []struct {
		name      string
		user      upstream.User
		scopes    []string
		wantKind  string // an ExchangeError's kind; "claims" a ClaimsChallenge; "unavailable" ErrUnavailable
		wantClaim string
	}{
		{name: "MFA required", user: mint(graphsim.UserTokenSpec{ObjectID: ids[1], UPN: upns[1]}), scopes: []string{"User.Read"},
			wantKind: "claims", wantClaim: graphsim.MFAClaims},
		{name: "MFA shown", user: mint(graphsim.UserTokenSpec{ObjectID: ids[1], UPN: upns[1], MFA: true}), scopes: []string{"User.Read"}},
		{name: "scope not consented", user: mint(graphsim.UserTokenSpec{ObjectID: ids[2], UPN: upns[2]}), scopes: []string{"Files.ReadWrite"},
			wantKind: upstream.ExchangeConsent},
		{name: "a token for another API", user: mint(graphsim.UserTokenSpec{ObjectID: ids[2], UPN: upns[2], Audience: "api://other"}), scopes: []string{"User.Read"},
			wantKind: upstream.ExchangeUserToken},
		{name: "a user of another tenant", user: mint(graphsim.UserTokenSpec{Tenant: graphsim.VendorTenant, ObjectID: ids[2], UPN: upns[2]}), scopes: []string{"User.Read"},
			wantKind: upstream.ExchangeUserToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Token(t.Context(), tt.user, tt.scopes)
			var cc *upstream.ClaimsChallenge
			var xe *upstream.ExchangeError
			switch tt.wantKind {
			case "":
				if err != nil {
					t.Errorf("got %v; want a token", err)
				}
			case "claims":
				if !errors.As(err, &cc) || cc.Claims != tt.wantClaim {
					t.Errorf("got %v; want a claims challenge %s", err, tt.wantClaim)
				}
			default:
				if !errors.As(err, &xe) || xe.Kind != tt.wantKind {
					t.Errorf("got %v; want %s", err, tt.wantKind)
				}
			}
			if err != nil && strings.Contains(err.Error(), tt.user.Assertion) {
				t.Error("the error holds the user's token")
			}
		})
	}
	// The proxy's own credential refused: its trouble, not the user's.
	app := sim.Entra.App(graphsim.CustomerTenant, graphsim.ProxyAppID)
	app.Federated = nil
	sim.Entra.Register(app)
	b2 := newOBO(t, o, upstream.ModeFederated, 10)
	if _, err := b2.Token(t.Context(), mint(graphsim.UserTokenSpec{ObjectID: ids[3], UPN: upns[3]}), []string{"User.Read"}); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("got %v; want ErrUnavailable", err)
	}
}

func TestOnBehalfOfUserRedacted(t *testing.T) {
	u := upstream.User{ObjectID: "oid", TenantID: "tid", Assertion: "eyJ.secret.token", ExpiresOn: time.Now()}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "user", u)
	if out := b.String() + fmt.Sprint(u) + fmt.Sprintf("%v %+v", u, u); strings.Contains(out, "secret") {
		t.Errorf("the user's token is printed: %s", out)
	}
}
