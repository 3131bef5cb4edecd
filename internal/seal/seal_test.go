package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/seal"
)

var (
	v1 = []byte(strings.Repeat("first version of the secret ", 2))
	v2 = []byte(strings.Repeat("second version of the secret ", 2))
)

// rotating is a Keys whose versions a test changes.
type rotating struct{ keys [][]byte }

func (r *rotating) Keys() ([][]byte, error) { return r.keys, nil }

func TestSealOpen(t *testing.T) {
	keys := &rotating{keys: [][]byte{v1}}
	box := seal.New(keys, "file links", 4096)
	plain := []byte(`{"caller":"engage","url":"https://contoso.sharepoint.com/x"}`)
	tok, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(tok, "+/=") || bytes.Contains([]byte(tok), []byte("sharepoint")) {
		t.Fatalf("token %q: not URL-safe or not sealed", tok)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		box     *seal.Box
		tok     string
		rotate  [][]byte // the versions in force before opening
		want    []byte
		wantErr error
	}{
		{name: "opens", box: box, tok: tok, want: plain},
		{name: "a changed byte", box: box, tok: flip(tok, len(tok)/2), wantErr: seal.ErrInvalid},
		{name: "a changed fingerprint", box: box, tok: flip(tok, 2), wantErr: seal.ErrInvalid},
		{name: "cut short", box: box, tok: tok[:len(tok)-4], wantErr: seal.ErrInvalid},
		{name: "padded base64", box: box, tok: tok + "=", wantErr: seal.ErrInvalid},
		{name: "another purpose", box: seal.New(keys, "notification URLs", 4096), tok: tok, wantErr: seal.ErrInvalid},
		{name: "too long to decode", box: seal.New(keys, "file links", 16), tok: tok, wantErr: seal.ErrInvalid},
		{name: "after a rotation the old version still opens", box: box, tok: tok, rotate: [][]byte{v2, v1}, want: plain},
		{name: "a version no longer given opens nothing", box: box, tok: tok, rotate: [][]byte{v2}, wantErr: seal.ErrInvalid},
		{name: "empty", box: box, tok: "", wantErr: seal.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys.keys = [][]byte{v1}
			if tt.rotate != nil {
				keys.keys = tt.rotate
			}
			got, err := tt.box.Open(tt.tok)
			if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want) {
				t.Errorf("Open: %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}

	// The newest version seals once rotated.
	keys.keys = [][]byte{v2, v1}
	tok2, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	keys.keys = [][]byte{v1}
	if _, err := box.Open(tok2); !errors.Is(err, seal.ErrInvalid) {
		t.Errorf("a token of the new version opened under the old alone: %v", err)
	}
}

func TestNoKey(t *testing.T) {
	for _, keys := range []seal.Keys{seal.Static(nil), seal.Static{[]byte("short")}} {
		box := seal.New(keys, "p", 4096)
		if _, err := box.Seal([]byte("x")); !errors.Is(err, seal.ErrNoKey) {
			t.Errorf("Seal with %v: %v; want ErrNoKey", keys, err)
		}
		if _, err := box.Open("AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, seal.ErrNoKey) {
			t.Errorf("Open with %v: %v; want ErrNoKey", keys, err)
		}
	}
}

// FuzzOpen: whatever stands in a token's place, Open returns either one
// of the plaintexts sealed into the seeds (only an unaltered seed
// authenticates), or ErrInvalid; it never panics. The seeds are sealed
// afresh in each fuzzing process (random nonces), so the check is on
// what opens, not on which token.
func FuzzOpen(f *testing.F) {
	box := seal.New(seal.Static{v2, v1}, "fuzz", 4096)
	old := seal.New(seal.Static{v1}, "fuzz", 4096)
	plains := map[string]bool{}
	for _, p := range []string{"", "x", `{"c":"engage"}`, strings.Repeat("y", 500)} {
		plains[p] = true
		for _, b := range []*seal.Box{box, old} {
			tok, err := b.Seal([]byte(p))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tok)
		}
	}
	f.Add("AgAAAAA")
	f.Add("not base64!")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := box.Open(tok)
		switch {
		case err == nil && !plains[string(got)]:
			t.Fatalf("%q opened to %q, which no seed sealed", tok, got)
		case err != nil && !errors.Is(err, seal.ErrInvalid):
			t.Fatalf("%q: %v; want ErrInvalid", tok, err)
		}
	})
}
