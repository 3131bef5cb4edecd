package filelink

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/seal"
)

var testKey = seal.Static{[]byte("0123456789abcdef0123456789abcdef")}

func testLink(now time.Time) Link {
	return Link{Kind: Upload, Caller: "engage", Identity: "entra-jwt:app:t1:a1", Graph: "/v1.0/drives/b!x/items/01AB/createUploadSession",
		URL: "https://contoso.sharepoint.com/_api/v2.0/drives/b!x/items/01AB/uploadSession?guid='1'&tempauth=secret", Expires: now.Add(time.Hour)}
}

func TestOpen(t *testing.T) {
	now := time.Now()
	s, err := NewSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer(seal.Static{[]byte(strings.Repeat("k", 32))})
	tok, err := s.Seal(testLink(now))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok, "tempauth") || strings.Contains(tok, "sharepoint") {
		t.Fatalf("the token shows the file host's URL: %s", tok)
	}
	old := testLink(now)
	old.Identity = ""
	earlier, err := s.Seal(old)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(tok)
	flip[len(flip)/2] ^= 1
	if flip[len(flip)/2] == '=' || flip[len(flip)/2] == '+' || flip[len(flip)/2] == '/' {
		flip[len(flip)/2] = 'A'
	}
	tests := []struct {
		name string
		s    *Sealer
		tok  string
		at   time.Time
		want error
	}{
		{name: "valid", s: s, tok: tok, at: now},
		{name: "expired", s: s, tok: tok, at: now.Add(time.Hour), want: ErrExpired},
		{name: "another key", s: other, tok: tok, at: now, want: ErrInvalid},
		{name: "changed", s: s, tok: string(flip), at: now, want: ErrInvalid},
		{name: "truncated", s: s, tok: tok[:len(tok)-4], at: now, want: ErrInvalid},
		{name: "empty", s: s, tok: "", at: now, want: ErrInvalid},
		{name: "padded", s: s, tok: tok + "=", at: now, want: ErrInvalid},
		{name: "too long", s: s, tok: strings.Repeat("A", MaxTokenBytes+1), at: now, want: ErrInvalid},
		{name: "without its maker's identity (an earlier version's)", s: s, tok: earlier, at: now, want: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.s.Open(tt.tok, tt.at)
			if err != tt.want {
				t.Fatalf("got %v; want %v", err, tt.want)
			}
			if err == nil && (l.Caller != "engage" || l.URL != testLink(now).URL || l.Kind != Upload) {
				t.Errorf("got %+v; want the sealed link", l)
			}
		})
	}
}

func TestNewSealerShortKey(t *testing.T) {
	s, err := NewSealer(seal.Static{make([]byte, MinKeyBytes-1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(testLink(time.Now())); !errors.Is(err, seal.ErrNoKey) {
		t.Fatalf("sealed under a short key: %v; want seal.ErrNoKey", err)
	}
}

// TestRotation: a link sealed before the secret rotated opens after it
// while the old version is still given, and not once it is gone.
func TestRotation(t *testing.T) {
	old, next := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	now := time.Now()
	before, _ := NewSealer(seal.Static{old})
	tok, err := before.Seal(testLink(now))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewSealer(seal.Static{next, old})
	if _, err := rotated.Open(tok, now); err != nil {
		t.Errorf("after the rotation: %v; want the link to open", err)
	}
	retired, _ := NewSealer(seal.Static{next})
	if _, err := retired.Open(tok, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("with the old version gone: %v; want ErrInvalid", err)
	}
}

func TestHostsAllows(t *testing.T) {
	global := CloudHosts("global").With("localhost:8443")
	tests := []struct {
		url  string
		want bool
	}{
		{url: "https://contoso.sharepoint.com/_layouts/15/download.aspx", want: true},
		{url: "https://contoso-my.sharepoint.com/personal/x", want: true},
		{url: "https://CONTOSO.SharePoint.com:443/x", want: true},
		{url: "https://outlook.office.com/api/v2.0/x", want: true},
		{url: "https://localhost:8443/x", want: true},
		{url: "https://sharepoint.com/x", want: false},
		{url: "https://contoso.sharepoint.com.evil.example/x", want: false},
		{url: "https://evilsharepoint.com/x", want: false},
		{url: "http://contoso.sharepoint.com/x", want: false},
		{url: "https://contoso.sharepoint.com:8443/x", want: false},
		{url: "https://user@contoso.sharepoint.com/x", want: false},
		{url: "https://contoso.sharepoint.com./x", want: false},
		{url: "https://localhost/x", want: false},
		{url: "https://localhost:9443/x", want: false},
		{url: "https://127.0.0.1:8443/x", want: false},
		{url: "https://contoso.sharepoint.us/x", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := global.Allows(u); got != tt.want {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
	if (Hosts{}).Allows(&url.URL{Scheme: "https", Host: "contoso.sharepoint.com"}) {
		t.Error("the zero Hosts allows a host; want none")
	}
	if !CloudHosts("usgov").Allows(&url.URL{Scheme: "https", Host: "contoso.sharepoint.us"}) {
		t.Error("usgov does not allow its SharePoint hosts")
	}
}

// FuzzOpen: whatever a caller puts in a link's place, Open refuses it
// without panicking, or it is a link Seal made.
func FuzzOpen(f *testing.F) {
	s, err := NewSealer(testKey)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	tok, err := s.Seal(testLink(now))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{tok, tok[:20], "", "AQ", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("_", 100), "a=b", tok + "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Seal's nonce differs in every fuzzing process, so a link that
		// opens is judged by what it holds: only Seal could have made it.
		l, err := s.Open(in, now)
		want := testLink(now)
		if err == nil && (l.Caller != want.Caller || l.URL != want.URL || l.Graph != want.Graph || l.Kind != want.Kind) {
			t.Fatalf("Open(%q) = %+v; want a refusal", in, l)
		}
	})
}
