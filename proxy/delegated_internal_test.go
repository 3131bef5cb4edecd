package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// TestDelegatedErrors: each failure of delegated access gets its answer,
// in Graph's error shape; only the claims challenge carries one.
func TestDelegatedErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantWWW    string
	}{
		{name: "a token for Graph", err: fmt.Errorf("x: %w", callers.ErrGraphToken), wantStatus: 401, wantCode: "graphProxy.graphTokenRefused",
			wantWWW: `Bearer error="invalid_token"`},
		{name: "claims challenge", err: &upstream.ClaimsChallenge{Claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, Code: "interaction_required AADSTS50076"},
			wantStatus: 401, wantCode: "graphProxy.claimsChallenge",
			wantWWW: `Bearer realm="", error="insufficient_claims", error_description="A new token with the claims of the challenge is required", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"`},
		{name: "user token refused", err: &upstream.ExchangeError{Kind: upstream.ExchangeUserToken, Code: "invalid_grant AADSTS50013"},
			wantStatus: 401, wantCode: "graphProxy.userTokenRejected", wantWWW: `Bearer error="invalid_token"`},
		{name: "consent", err: &upstream.ExchangeError{Kind: upstream.ExchangeConsent, Code: "invalid_grant AADSTS65001"},
			wantStatus: 403, wantCode: "graphProxy.consentRequired"},
		{name: "interaction", err: &upstream.ExchangeError{Kind: upstream.ExchangeInteraction, Code: "interaction_required AADSTS50079"},
			wantStatus: 403, wantCode: "graphProxy.interactionRequired"},
		{name: "the proxy's own trouble", err: fmt.Errorf("%w: on-behalf-of exchange: invalid_client", upstream.ErrUnavailable),
			wantStatus: 503, wantCode: "graphProxy.tokenUnavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classify(tt.err)
			w := httptest.NewRecorder()
			writeError(w, e, "req-1", "client-1", time.Now())
			if w.Code != tt.wantStatus || e.Code != tt.wantCode || w.Header().Get("WWW-Authenticate") != tt.wantWWW {
				t.Errorf("got %d %s %q; want %d %s %q", w.Code, e.Code, w.Header().Get("WWW-Authenticate"), tt.wantStatus, tt.wantCode, tt.wantWWW)
			}
			if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("request-id") != "req-1" {
				t.Errorf("not Graph's error shape: %v", w.Header())
			}
		})
	}
	// No exchange configured: a user's call is refused, never served
	// with the proxy's own token.
	h := &Handler{o: Options{Tokens: nil}}
	_, err := h.upstreamToken(t.Context(), callers.Caller{Actor: callers.NewActor("oid", "u@contoso.example", "tid", "tok", time.Now().Add(time.Hour))}, policyDecisionWithScope())
	if e := classify(err); e.Status != http.StatusForbidden || e.Code != "graphProxy.delegatedNotConfigured" {
		t.Errorf("got %d %s; want 403 graphProxy.delegatedNotConfigured", e.Status, e.Code)
	}
}

func policyDecisionWithScope() policy.Decision {
	return policy.Decision{Result: policy.Allow, Scopes: []string{"User.Read"}}
}

func TestClaimsChallenge(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	const claims = `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`
	tests := []struct {
		name   string
		values []string
		want   string
		ok     bool
	}{
		{name: "Graph's", values: []string{`Bearer realm="", error="insufficient_claims", claims="` + b64([]byte(claims)) + `"`}, want: claims, ok: true},
		{name: "among others", values: []string{`Bearer realm=""`, `Bearer error="insufficient_claims", claims="` + b64([]byte(claims)) + `"`}, want: claims, ok: true},
		{name: "another error", values: []string{`Bearer error="invalid_token", claims="` + b64([]byte(claims)) + `"`}},
		{name: "no claims", values: []string{`Bearer error="insufficient_claims"`}},
		{name: "not base64", values: []string{`Bearer error="insufficient_claims", claims="{not}"`}},
		{name: "not a JSON object", values: []string{`Bearer error="insufficient_claims", claims="` + b64([]byte(`"x"`)) + `"`}},
		{name: "unterminated", values: []string{`Bearer error="insufficient_claims", claims="` + b64([]byte(claims))}},
		{name: "none", values: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := claimsChallenge(tt.values)
			if got != tt.want || ok != tt.ok {
				t.Errorf("claimsChallenge = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzClaimsChallenge: whatever Graph sends as WWW-Authenticate, a
// challenge read from it is an insufficient_claims one whose claims are a
// JSON object; nothing panics.
func FuzzClaimsChallenge(f *testing.F) {
	f.Add(`Bearer realm="", error="insufficient_claims", claims="eyJhIjoxfQ=="`)
	f.Add(`Bearer error="insufficient_claims", claims="`)
	f.Add(`Bearer error="invalid_token"`)
	f.Fuzz(func(t *testing.T, v string) {
		claims, ok := claimsChallenge([]string{v})
		if !ok {
			return
		}
		var obj map[string]any
		if !strings.Contains(v, `error="insufficient_claims"`) || json.Unmarshal([]byte(claims), &obj) != nil {
			t.Fatalf("%q read as a challenge with claims %q", v, claims)
		}
	})
}
