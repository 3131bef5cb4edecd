package policy

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/idna"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantLocal  string // checked when wantErr is ""
		wantDomain string
		wantErr    string // the reason, word for word
	}{
		// Accepted.
		{name: "plain", in: "bob@contoso.example", wantLocal: "bob", wantDomain: "contoso.example"},
		{name: "domain case folded, local kept", in: "Bob.Smith@CONTOSO.Example", wantLocal: "Bob.Smith", wantDomain: "contoso.example"},
		{name: "subdomain", in: "bob@mail.contoso.example", wantLocal: "bob", wantDomain: "mail.contoso.example"},
		{name: "atext specials", in: "a.b+tag-x_y=z'q#$&*/?^`{|}~@contoso.example", wantLocal: "a.b+tag-x_y=z'q#$&*/?^`{|}~", wantDomain: "contoso.example"},
		{name: "guest UPN shape", in: "bob_fabrikam.example#EXT#@contoso.example", wantLocal: "bob_fabrikam.example#EXT#", wantDomain: "contoso.example"},
		{name: "full-width domain", in: "bob@ＣＯＮＴＯＳＯ.example", wantLocal: "bob", wantDomain: "contoso.example"},
		{name: "Kelvin sign maps as full-width does", in: "bob@\u212aontoso.example", wantLocal: "bob", wantDomain: "kontoso.example"},
		{name: "U-label", in: "bob@bücher.example", wantLocal: "bob", wantDomain: "xn--bcher-kva.example"},
		{name: "A-label upper-case", in: "bob@XN--BCHER-KVA.example", wantLocal: "bob", wantDomain: "xn--bcher-kva.example"},
		{name: "A-label of a deviation is unambiguous", in: "bob@xn--strae-oqa.example", wantLocal: "bob", wantDomain: "xn--strae-oqa.example"},
		{name: "right-to-left label", in: "bob@مثال.example", wantLocal: "bob", wantDomain: "xn--mgbh0fb.example"},
		{name: "Unicode local part in NFC", in: "josé@contoso.example", wantLocal: "josé", wantDomain: "contoso.example"},
		{name: "full-width letters in the local part", in: "ｂｏｂ@contoso.example", wantLocal: "ｂｏｂ", wantDomain: "contoso.example"},
		{name: "digits in labels", in: "bob@1and1.example", wantLocal: "bob", wantDomain: "1and1.example"},
		{name: "64-octet local part", in: strings.Repeat("a", 64) + "@contoso.example", wantLocal: strings.Repeat("a", 64), wantDomain: "contoso.example"},
		{name: "254 octets", in: "a@" + longDomain(252), wantLocal: "a", wantDomain: longDomain(252)},

		// Smuggling a second address or domain.
		{name: "semicolon list", in: "bob@evil.example;carol@contoso.example", wantErr: "list separator ',' or ';'"},
		{name: "comma list", in: "bob@evil.example,carol@contoso.example", wantErr: "list separator ',' or ';'"},
		{name: "two '@'", in: "x@evil.example@contoso.example", wantErr: "more than one '@'"},
		{name: "NUL", in: "bob@evil.example\u0000@contoso.example", wantErr: "control character"},
		{name: "CRLF", in: "bob@evil.example\r\n@contoso.example", wantErr: "control character"},
		{name: "unclosed comment", in: "bob@evil.example(@contoso.example", wantErr: "comment or parenthesis"},
		{name: "comment", in: "bob@contoso.example(x)", wantErr: "comment or parenthesis"},
		{name: "display name", in: "Bob <bob@contoso.example>", wantErr: "whitespace"},
		{name: "angle brackets", in: "<bob@contoso.example>", wantErr: "angle bracket or display name"},
		{name: "quoted local part", in: `"bob@evil.example"@contoso.example`, wantErr: "quoted local part or quote"},
		{name: "quoted local part, one '@'", in: `"bob"@contoso.example`, wantErr: "quoted local part or quote"},
		{name: "escaped quote", in: `bob\"@contoso.example`, wantErr: "backslash"},
		{name: "backslash", in: `bob\@evil.example@contoso.example`, wantErr: "backslash"},
		{name: "group", in: "team:bob@contoso.example", wantErr: "':' (group or source route)"},
		{name: "source route", in: "@evil.example:bob@contoso.example", wantErr: "':' (group or source route)"},
		{name: "percent hack", in: "bob%evil.example@contoso.example", wantErr: "'%' or '!' (relay routing) in the local part"},
		{name: "percent-encoded '@'", in: "bob%40evil.example@contoso.example", wantErr: "'%' or '!' (relay routing) in the local part"},
		{name: "bang path", in: "evil.example!bob@contoso.example", wantErr: "'%' or '!' (relay routing) in the local part"},
		{name: "encoded-word local part", in: "=?utf-8?q?bob?=@contoso.example", wantErr: "RFC 2047 encoded-word in the local part"},
		// Exchange de-encapsulates IMCEA<type>-<address>@<its domain> (MS-OXCMAIL 2.2.3.1.2): the first
		// is eve@evil.example to it, sent from the customer's own domain
		{name: "IMCEA-encapsulated SMTP address", in: "IMCEASMTP-eve+40evil+2Eexample@contoso.example", wantErr: "IMCEA-encapsulated address (Exchange reads another address in it)"},
		{name: "IMCEA-encapsulated legacy DN", in: "IMCEAEX-_O=CONTOSO_OU=EXCHANGE_CN=RECIPIENTS_CN=EVE@contoso.example", wantErr: "IMCEA-encapsulated address (Exchange reads another address in it)"},
		{name: "IMCEA in lower case", in: "imceasmtp-eve+40evil+2Eexample@contoso.example", wantErr: "IMCEA-encapsulated address (Exchange reads another address in it)"},
		{name: "IMCEA with a dotless i", in: "ımceasmtp-eve+40evil+2Eexample@contoso.example", wantErr: "IMCEA-encapsulated address (Exchange reads another address in it)"},
		{name: "IMCEA in full width", in: "ＩＭＣＥＡsmtp-eve+40evil+2Eexample@contoso.example", wantErr: "IMCEA-encapsulated address (Exchange reads another address in it)"},
		{name: "full-width '@' in the local part", in: "bob＠evil.example@contoso.example", wantErr: "local part character that folds to ASCII punctuation"},
		{name: "small commercial at", in: "bob\ufe6bevil@contoso.example", wantErr: "local part character that folds to ASCII punctuation"},

		// Control characters, whitespace, invisible characters.
		{name: "tab", in: "bob@contoso.example\t", wantErr: "control character"},
		{name: "leading space", in: " bob@contoso.example", wantErr: "whitespace"},
		{name: "no-break space", in: "bob\u00a0@contoso.example", wantErr: "whitespace"},
		{name: "ideographic space", in: "bob@contoso\u3000.example", wantErr: "whitespace"},
		{name: "line separator", in: "bob@contoso.example\u2028", wantErr: "whitespace"},
		{name: "DEL", in: "bob\x7f@contoso.example", wantErr: "control character"},
		{name: "C1 NEL", in: "bob\u0085@contoso.example", wantErr: "control character"},
		{name: "C1 CSI", in: "bob@contoso.example\u009b", wantErr: "control character"},
		{name: "zero-width space", in: "bob@con\u200btoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "zero-width joiner", in: "bo\u200db@contoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "BOM", in: "\ufeffbob@contoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "right-to-left override", in: "bob@\u202eelpmaxe.osotnoc", wantErr: "invisible or bidi formatting character"},
		{name: "first strong isolate", in: "bob\u2068@contoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "soft hyphen, which IDNA deletes", in: "bob@con\u00adtoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "variation selector", in: "bob@contoso\ufe0f.example", wantErr: "invisible or bidi formatting character"},
		{name: "Hangul filler", in: "bob\u3164@contoso.example", wantErr: "invisible or bidi formatting character"},
		{name: "invalid UTF-8", in: "bob\xff@contoso.example", wantErr: "invalid UTF-8"},
		{name: "replacement character", in: "bob\ufffd@contoso.example", wantErr: "U+FFFD replacement character"},

		// Local part.
		{name: "no '@'", in: "bob.contoso.example", wantErr: "no '@'"},
		{name: "empty", in: "", wantErr: "no '@'"},
		{name: "empty local part", in: "@contoso.example", wantErr: "empty local part"},
		{name: "leading dot", in: ".bob@contoso.example", wantErr: "leading, trailing or double dot in the local part"},
		{name: "trailing dot (obs-local-part)", in: "bob.@contoso.example", wantErr: "leading, trailing or double dot in the local part"},
		{name: "double dot", in: "bob..smith@contoso.example", wantErr: "leading, trailing or double dot in the local part"},
		{name: "65-octet local part", in: strings.Repeat("a", 65) + "@contoso.example", wantErr: "local part longer than 64 octets"},
		{name: "decomposed local part", in: "jose\u0301@contoso.example", wantErr: "local part not in Unicode NFC"},
		{name: "private use", in: "bob\ue000@contoso.example", wantErr: "character not allowed in a local part"},
		{name: "unassigned", in: "bob\u0378@contoso.example", wantErr: "character not allowed in a local part"},

		// Domain.
		{name: "empty domain", in: "bob@", wantErr: "empty domain"},
		{name: "trailing dot", in: "bob@contoso.example.", wantErr: "trailing dot in the domain"},
		{name: "ideographic full stop", in: "bob@contoso\u3002example", wantErr: "label separator other than '.' in the domain"},
		{name: "full-width full stop", in: "bob@contoso\uff0eexample", wantErr: "label separator other than '.' in the domain"},
		{name: "halfwidth ideographic full stop", in: "bob@contoso\uff61example", wantErr: "label separator other than '.' in the domain"},
		{name: "ideographic full stop as trailing dot", in: "bob@contoso.example\u3002", wantErr: "label separator other than '.' in the domain"},
		{name: "small full stop", in: "bob@contoso\ufe52example", wantErr: "domain is not a valid host name"},
		{name: "one dot leader", in: "bob@contoso\u2024example", wantErr: "domain is not a valid host name"},
		{name: "leading dot in the domain", in: "bob@.contoso.example", wantErr: "empty label in the domain"},
		{name: "empty label", in: "bob@contoso..example", wantErr: "empty label in the domain"},
		{name: "no dot", in: "bob@localhost", wantErr: "domain without a dot"},
		{name: "no dot, full-width", in: "bob@ｌｏｃａｌｈｏｓｔ", wantErr: "domain without a dot"},
		{name: "domain literal", in: "bob@[192.0.2.1]", wantErr: "domain literal or bracket"},
		{name: "IPv6 literal", in: "bob@[IPv6:2001:db8::1]", wantErr: "domain literal or bracket"},
		{name: "dotted quad", in: "bob@192.0.2.1", wantErr: "all-numeric top-level domain"},
		{name: "underscore", in: "bob@_dmarc.contoso.example", wantErr: "domain is not a valid host name"},
		{name: "leading hyphen", in: "bob@-contoso.example", wantErr: "domain is not a valid host name"},
		{name: "trailing hyphen", in: "bob@contoso-.example", wantErr: "domain is not a valid host name"},
		{name: "hyphens in positions 3 and 4", in: "bob@ab--c.example", wantErr: "domain is not a valid host name"},
		{name: "bad A-label", in: "bob@xn--a.example", wantErr: "domain is not a valid host name"},
		{name: "A-label of ASCII", in: "bob@xn--contoso-.example", wantErr: "domain is not a valid host name"},
		{name: "percent-encoded domain", in: "bob@evil.example%2econtoso.example", wantErr: "domain is not a valid host name"},
		{name: "label of 64", in: "bob@" + strings.Repeat("a", 64) + ".example", wantErr: "domain is not a valid host name"},
		{name: "Bidi rule", in: "bob@a\u05d0.example", wantErr: "domain is not a valid host name"},
		{name: "sharp s", in: "bob@straße.example", wantErr: "IDNA deviation character (ß, ς, ẞ) in the domain"},
		{name: "capital sharp s", in: "bob@STRAẞE.example", wantErr: "IDNA deviation character (ß, ς, ẞ) in the domain"},
		{name: "final sigma", in: "bob@ας.example", wantErr: "IDNA deviation character (ß, ς, ẞ) in the domain"},
		{name: "domain of 254", in: "a@" + longDomain(254), wantErr: "domain is not a valid host name"},
		{name: "255 octets", in: "ab@" + longDomain(252), wantErr: "longer than 254 octets"},
		{name: "huge input", in: strings.Repeat("a", 2000) + "@contoso.example", wantErr: "longer than an address can be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if tt.wantErr != "" {
				var ae addressError
				if !errors.As(err, &ae) || string(ae) != tt.wantErr {
					t.Fatalf("ParseAddress(%q) = %#v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.in, err)
			}
			if got.Local != tt.wantLocal || got.Domain != tt.wantDomain {
				t.Errorf("ParseAddress(%q) = %q, %q; want %q, %q", tt.in, got.Local, got.Domain, tt.wantLocal, tt.wantDomain)
			}
		})
	}
}

// longDomain returns a valid domain of exactly n octets (n >= 9).
func longDomain(n int) string {
	var labels []string
	for n > 71 {
		labels = append(labels, strings.Repeat("a", 62))
		n -= 63
	}
	labels = append(labels, strings.Repeat("b", n-8), "example")
	return strings.Join(labels, ".")
}

func TestAddressInDomains(t *testing.T) {
	domains := []string{"contoso.example", "*.fabrikam.example", "xn--bcher-kva.example"}
	tests := []struct {
		name string
		addr string
		want bool
	}{
		{name: "exact", addr: "bob@contoso.example", want: true},
		{name: "case", addr: "bob@Contoso.EXAMPLE", want: true},
		{name: "full-width", addr: "bob@ＣＯＮＴＯＳＯ.example", want: true},
		{name: "U-label against A-label entry", addr: "bob@BÜCHER.example", want: true},
		{name: "subdomain of an exact entry", addr: "bob@mail.contoso.example", want: false},
		{name: "suffix without a dot", addr: "bob@evilcontoso.example", want: false},
		{name: "other domain", addr: "bob@evil.example", want: false},
		{name: "allowed domain as a subdomain of another", addr: "bob@contoso.example.evil.example", want: false},
		{name: "wildcard subdomain", addr: "bob@mail.fabrikam.example", want: true},
		{name: "wildcard deeper", addr: "bob@a.b.fabrikam.example", want: true},
		{name: "wildcard excludes the domain itself", addr: "bob@fabrikam.example", want: false},
		{name: "wildcard suffix without a dot", addr: "bob@evilfabrikam.example", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.addr)
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.addr, err)
			}
			if got := a.InDomains(domains); got != tt.want {
				t.Errorf("%q.InDomains(%q) = %v; want %v", tt.addr, domains, got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		addr    Address
		domains []string
	}{
		{name: "zero Address, empty entry", addr: Address{}, domains: []string{""}},
		{name: "upper-case entry", addr: Address{Local: "bob", Domain: "contoso.example"}, domains: []string{"CONTOSO.EXAMPLE"}},
		{name: "bare wildcard", addr: Address{Local: "bob", Domain: "contoso.example"}, domains: []string{"*", "*."}},
		{name: "nil list", addr: Address{Local: "bob", Domain: "contoso.example"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.addr.InDomains(tt.domains) {
				t.Errorf("%#v.InDomains(%q) = true; want false", tt.addr, tt.domains)
			}
		})
	}
}

// FuzzParseAddress holds ParseAddress to net/mail as a reference: whatever
// it accepts is a bare addr-spec to net/mail too (no display name, the
// same text back), has exactly one '@' and no control character or
// whitespace, has the domain the IDNA lookup profile gives, and reads back
// from String() as the same Address.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"bob@contoso.example", "Bob.Smith+x@CONTOSO.Example", "bob@ＣＯＮＴＯＳＯ.example", "bob@bücher.example",
		"bob@xn--bcher-kva.example", "josé@contoso.example", "bob@evil.example;carol@contoso.example",
		"bob@evil.example,carol@contoso.example", "x@evil.example@contoso.example",
		"bob@evil.example\x00@contoso.example", "bob@evil.example\r\n@contoso.example",
		"bob@evil.example(@contoso.example", `"bob"@contoso.example`, "Bob <bob@contoso.example>",
		"bob@contoso.example.", "bob@contoso\u3002example", "bob@[192.0.2.1]", "bob%40evil.example@contoso.example",
		"bob@straße.example", "bob@con\u00adtoso.example", "bob@مثال.example", "=?utf-8?q?x?=@contoso.example",
		"bob＠evil@contoso.example", "bob@a.b.c.d.e.example", "a@" + longDomain(252),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if strings.Count(s, "@") != 1 {
			t.Fatalf("accepted %q with %d '@'", s, strings.Count(s, "@"))
		}
		if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Z, r) }) {
			t.Fatalf("accepted %q with a control character or whitespace", s)
		}
		ref, err := mail.ParseAddress(s)
		if err != nil {
			t.Fatalf("accepted %q, which net/mail refuses: %v", s, err)
		}
		if ref.Name != "" || ref.Address != s {
			t.Fatalf("accepted %q, which net/mail reads as name %q, address %q", s, ref.Name, ref.Address)
		}
		local, domain, _ := strings.Cut(s, "@")
		if a.Local != local {
			t.Fatalf("ParseAddress(%q).Local = %q; want %q", s, a.Local, local)
		}
		if want, err := idna.Lookup.ToASCII(domain); err != nil || a.Domain != want {
			t.Fatalf("ParseAddress(%q).Domain = %q; idna.Lookup gives %q, %v", s, a.Domain, want, err)
		}
		if !strings.Contains(a.Domain, ".") || strings.Trim(a.Domain, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			t.Fatalf("ParseAddress(%q).Domain = %q: not lower-case LDH with a dot", s, a.Domain)
		}
		if len(a.Local) > 64 || len(a.Domain) > 253 || len(a.String()) > 254 {
			t.Fatalf("ParseAddress(%q) = %q: over the length limits", s, a)
		}
		again, err := ParseAddress(a.String())
		if err != nil || again != a {
			t.Fatalf("ParseAddress(%q) = %#v, but its String %q reads back as %#v, %v", s, a, a.String(), again, err)
		}
		if !a.InDomains([]string{a.Domain}) {
			t.Fatalf("%#v not in its own domain", a)
		}
	})
}

// FuzzDomainToASCII holds domainToASCII, which returns a domain already in
// lower-case A-label form as it is, to the IDNA profile's path for every
// domain: the same form back, or the same refusal.
func FuzzDomainToASCII(f *testing.F) {
	for _, s := range []string{
		"contoso.example", "a.b", "a.b.", ".a.b", "a..b", "a", "xn--bcher-kva.example", "xn--zz.example",
		"ab--c.example", "a-b.example", "-ab.example", "ab-.example", "CONTOSO.example", "contoso.123",
		"contoso.example1", "1.2.3.4", "Contoso.Example", "CONTOSO.EXAMPLE", "XN--bcher-kva.example", "a.B", "A.1", "a_b.example", "bücher.example", "straße.example", "contoso\u3002example",
		longDomain(253), longDomain(254), strings.Repeat("a", 63) + ".example", strings.Repeat("a", 64) + ".example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		got, err := domainToASCII(d)
		want, werr := domainToASCIIByProfile(d)
		if got != want || (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("domainToASCII(%q) = %q, %v; the profile gives %q, %v", d, got, err, want, werr)
		}
		if p := plainDomain(d); p != notPlain && (werr != nil || want != strings.ToLower(d) || (p == plainLower) != (want == d)) {
			t.Fatalf("%q taken as plain (%d); the profile gives %q, %v", d, p, want, werr)
		}
	})
}

// BenchmarkParseAddress reads an address in the form calls name them, and
// one whose domain needs the IDNA profile.
func BenchmarkParseAddress(b *testing.B) {
	for _, s := range []string{"client@fabrikam.example", "Client@Fabrikam.Example", "Client@Bücher.Example"} {
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseAddress(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
