package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/seal"
)

type testKey []byte

func (k testKey) Keys() ([][]byte, error) {
	if k == nil {
		return nil, errors.New("not read yet")
	}
	return [][]byte{k}, nil
}

var key1 = testKey("0123456789abcdef0123456789abcdef-key-one")

func TestTokens(t *testing.T) {
	rt := route{Identity: "entra-jwt:app:t1:a1", URL: "https://hooks.vendor.example/graph/n", State: "mine", Proxy: newState()}
	tok, err := newSealer(key1).seal(rt)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok, "engage") || strings.Contains(tok, "vendor") {
		t.Fatalf("token %q shows what it seals", tok)
	}
	flip := func(i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		key     seal.Keys
		token   string
		want    route
		wantErr error
	}{
		{name: "opens", key: key1, token: tok, want: rt},
		{name: "another key", key: testKey("0123456789abcdef0123456789abcdef-key-two"), token: tok, wantErr: errBadToken},
		{name: "first byte changed", key: key1, token: flip(0), wantErr: errBadToken},
		{name: "middle changed", key: key1, token: flip(len(tok) / 2), wantErr: errBadToken},
		{name: "last changed", key: key1, token: flip(len(tok) - 2), wantErr: errBadToken},
		{name: "cut", key: key1, token: tok[:len(tok)-4], wantErr: errBadToken},
		{name: "padded", key: key1, token: tok + "==", wantErr: errBadToken},
		{name: "empty", key: key1, token: "", wantErr: errBadToken},
		{name: "too long", key: key1, token: strings.Repeat("A", maxTokenChars+1), wantErr: errBadToken},
		{name: "no key yet", key: testKey(nil), token: tok, wantErr: errNoKey},
		{name: "no key", key: nil, token: tok, wantErr: errNoKey},
		{name: "short key", key: testKey("short"), token: tok, wantErr: errNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newSealer(tt.key).open(tt.token)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if again, _ := newSealer(key1).seal(rt); again == tok {
		t.Error("two seals of one route are equal; want a fresh nonce each")
	}
}

func TestTokenOf(t *testing.T) {
	const base = "https://proxy.example/notifications/"
	for _, tt := range []struct {
		u, want string
		ok      bool
	}{
		{u: base + "abc", want: "abc", ok: true},
		{u: base, ok: false},
		{u: base + "abc/def", ok: false},
		{u: base + "abc?x=1", ok: false},
		{u: "https://other.example/notifications/abc", ok: false},
	} {
		if got, ok := tokenOf(base, tt.u); got != tt.want || ok != tt.ok {
			t.Errorf("tokenOf(%q) = %q, %v; want %q, %v", tt.u, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTokenOfAnEarlierVersion: a token this key sealed for an earlier
// version — a caller's policy name, no identity — opens as nobody's
// (errNoIdentity), never as the caller of that name, nor as a bad token
// (its refusal says what to do).
func TestTokenOfAnEarlierVersion(t *testing.T) {
	s := newSealer(key1)
	tok, err := s.box.Seal([]byte(`{"c":"engage","u":"https://v.example/n","s":"mine","p":"` + newState() + `","v":"v1.0","r":"users/u1/events"}`))
	if err != nil {
		t.Fatal(err)
	}
	if rt, err := s.open(tok); !errors.Is(err, errNoIdentity) || rt != (route{}) {
		t.Errorf("got %+v, %v; want %v", rt, err, errNoIdentity)
	}
	rl := testRelay(t, key1)
	if identity, own, relayed := rl.Owner(rl.base + tok); identity != "" || own != "" || !relayed {
		t.Errorf("Owner: %q %q %v; want the relay's URL of no one", identity, own, relayed)
	}
}
