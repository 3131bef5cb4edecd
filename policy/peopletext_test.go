package policy

import (
	"slices"
	"testing"
)

// TestAddressesIn: a string under a member the finder does not otherwise
// read names the people it is written as, or is refused; text that
// mentions an address names no one.
func TestAddressesIn(t *testing.T) {
	const evil = "eve@evil.example"
	for _, tt := range []struct {
		name, s string
		want    []string // the addresses read
		refused bool
	}{
		{name: "no at sign", s: "Agenda: introductions"},
		{name: "an address", s: evil, want: []string{evil}},
		{name: "white space and invisible characters around", s: " \t\u200b" + evil + "\u00a0\n", want: []string{evil}},
		{name: "angle brackets", s: "<" + evil + ">", want: []string{evil}},
		{name: "mailto:", s: "mailto:" + evil, want: []string{evil}},
		{name: "MAILTO: in brackets", s: "<MAILTO:" + evil + ">", want: []string{evil}},
		{name: "an Exchange proxy address", s: "SMTP:" + evil, want: []string{evil}},
		{name: "a secondary proxy address", s: "smtp: " + evil, want: []string{evil}},
		{name: "a SIP address", s: "sip:" + evil, want: []string{evil}},
		{name: "a display name", s: "Eve Evil <" + evil + ">", want: []string{evil}},
		{name: "a quoted display name", s: `"Evil, Eve" <` + evil + `>`, want: []string{evil}},
		{name: "a comment", s: evil + " (Eve)", want: []string{evil}},
		{name: "a list", s: "bob@contoso.example, " + evil, want: []string{"bob@contoso.example", evil}},
		{name: "a file name with an at sign", s: "icon@2x.png", want: []string{"icon@2x.png"}},
		{name: "a relay address", s: "eve%evil.example@contoso.example", refused: true},
		{name: "an IMCEA address", s: "IMCEASMTP-eve+40evil+2Eexample@contoso.example", refused: true},
		{name: "a list without spaces", s: "bob@contoso.example;" + evil, refused: true},
		{name: "a quoted local part", s: `"eve"@evil.example`, refused: true},
		{name: "a trailing dot", s: "eve@evil.example.", refused: true},
		{name: "a domain literal", s: "eve@[192.0.2.1]", refused: true},
		{name: "a domain without a dot", s: "eve@evil", refused: true},
		{name: "a full-width at sign", s: "eve\uff20evil.example", refused: true},
		{name: "a small at sign", s: "eve\ufe6bevil.example", refused: true},
		{name: "a mailto: URL with a query", s: "mailto:" + evil + "?subject=x", refused: true},
		{name: "a mailto: URL, its at sign percent-encoded", s: "mailto:eve%40evil.example", want: []string{evil}},
		{name: "a mailto: URL, a letter percent-encoded", s: "mailto:%65ve@evil.example", want: []string{evil}},
		{name: "a mailto: URL percent-encoded, in brackets", s: "<MAILTO:%65ve%40evil.example>", want: []string{evil}},
		{name: "a sip: URI, its at sign percent-encoded", s: "sip:eve%40evil.example", want: []string{evil}},
		{name: "a mailto: URL, a full-width at sign percent-encoded", s: "mailto:eve%EF%BC%A0evil.example", refused: true},
		{name: "a mailto: URL encoded twice", s: "mailto:eve%2540evil.example", refused: true},
		{name: "a mailto: URL, a malformed escape", s: "mailto:eve%4@evil.example", refused: true},
		{name: "a mailto: URL, its recipient in hfields", s: "mailto:?to=eve%40evil.example", refused: true},
		{name: "a mailto: URL, a second recipient in hfields", s: "mailto:bob@contoso.example?cc=eve%40evil.example", refused: true},
		{name: "a mailto: URL, a list percent-encoded", s: "mailto:bob@contoso.example%2Ceve@evil.example", refused: true},
		{name: "an SMTP: address percent-encoded", s: "SMTP:eve%40evil.example", refused: true},
		{name: "a URL with a percent-encoded at sign", s: "https://x.example/?u=eve%40evil.example"},
		{name: "a word with a percent-encoded at sign", s: "eve%40evil.example"},
		{name: "a percentage", s: "100%"},
		{name: "an SMTP: address not one", s: "SMTP:eve%evil.example@contoso.example", refused: true},
		{name: "a display name with an address not one", s: "Eve <eve%evil.example@contoso.example>", refused: true},
		{name: "a list with an address not one", s: "bob@contoso.example, eve@evil", refused: true},
		{name: "a source route", s: "@relay.example:" + evil, refused: true},
		{name: "JSON in a string", s: `{"card":{"email":"` + evil + `","text":"see ` + evil + `"},"to":["bob@contoso.example"]}`, want: []string{evil, "bob@contoso.example"}},
		{name: "JSON in a string with an address not one", s: `["eve%evil.example@contoso.example"]`, refused: true},
		{name: "a list ending in a separator", s: evil + ";", refused: true},
		{name: "a display name, a mailto: URL", s: "Eve <mailto:" + evil + ">", want: []string{evil}},
		{name: "a list of display names, a mailto: URL percent-encoded", s: "Eve <MAILTO:eve%40evil.example>, Bob <bob@contoso.example>", want: []string{evil, "bob@contoso.example"}},
		{name: "a display name, a mailto: URL with a malformed escape", s: "Eve <mailto:eve%4@evil.example>", refused: true},
		{name: "a display name, a mailto: URL not one", s: "Eve <mailto:eve%40evil.example?cc=bob@contoso.example>", refused: true},
		{name: "prose with a mailto: URL in brackets", s: "Regards,\nEve <mailto:" + evil + ">"},
		{name: "a list without spaces, in angle brackets", s: "<" + evil + ">;", refused: true},
		{name: "a list without spaces, mailto: URLs", s: "<mailto:bob@contoso.example>,<mailto:eve%40evil.example>", refused: true},
		{name: "a list ending in a separator, a mailto: URL percent-encoded", s: "<MAILTO:eve%40evil.example>;", refused: true},
		{name: "quotes around", s: `"` + evil + `"`, refused: true},
		{name: "an invisible character inside", s: "eve​@evil.example", refused: true},
		{name: "a scheme of another kind", s: "x:" + evil, refused: true},
		{name: "prose", s: "see " + evil + " for details"},
		{name: "prose that begins like a scheme", s: "SMTP: the relay for " + evil + " is down"},
		{name: "prose with an address in brackets", s: "Regards,\nEve <" + evil + ">"},
		{name: "HTML", s: "<html><body><p>Eve (" + evil + ")</p><p>&lt;" + evil + "&gt;</p></body></html>"},
		{name: "an HTML link", s: `<a href="mailto:` + evil + `">Eve</a>`},
		{name: "a URL", s: "https://x/@y"},
		{name: "a URL with a user", s: "https://" + evil + "/x"},
		{name: "a Teams thread id", s: "19:meeting_a1@thread.v2"},
		{name: "a Teams bot id", s: "28:a1@x.example"},
		{name: "a subscription's resource", s: "users/" + evil + "/events"},
		{name: "a handle", s: "@eve"},
		{name: "a formula", s: "=@A1:A10"},
		{name: "an address in parentheses", s: "(" + evil + ")"},
		{name: "JSON cut short, an address in its last word", s: `{"email":"` + evil + `"`, refused: true},
		{name: "an at sign last", s: "eve@"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := addressesIn(tt.s)
			if ok == tt.refused || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, ok %v; want %q, refused %v", got, ok, tt.want, tt.refused)
			}
			if !mayHoldAt([]byte(tt.s)) && (hasAt(tt.s) || tt.refused || len(tt.want) > 0) {
				t.Fatalf("mayHoldAt missed an at sign hasAt finds")
			}
		})
	}
}

// TestMayHoldAt: the look at a string's raw bytes finds every at sign,
// escaped or not, that decoding it would.
func TestMayHoldAt(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want bool
	}{
		{`plain text`, false},
		{`a@b`, true},
		{`a\u0040b`, true},
		{`a\uFF20b`, true},
		{`a\ufe6bb`, true},
		{"a\uff20b", true},
		{"a\ufe6bb", true},
		{`a\\u0040b`, false}, // a backslash, then text
		{`a\"b\\\n\u00e9`, false},
		{`\`, false},
		{`\u004`, false},
		{`mailto:eve%40evil.example`, true},
		{`mailto:eve%2540evil.example`, true},
		{`mailto:eve%EF%BC%A0evil.example`, true},
		{`mailto:eve%ef%b9%abevil.example`, true},
		{`mailto:eve\u002540evil.example`, true},
		{`mailto:eve%\u00340evil.example`, true},
		{`mailto:eve%4\u0030evil.example`, true},
		{`100%`, false},
		{`50% of 20%3B`, false},
		{`width:100%;`, false},
	} {
		if got := mayHoldAt([]byte(tt.raw)); got != tt.want {
			t.Errorf("mayHoldAt(%q) = %v; want %v", tt.raw, got, tt.want)
		}
	}
}
