package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Address is one parsed mailbox address, as ParseAddress returns it.
//
// Domain is lower-case ASCII: internationalised labels are in their A-label
// (xn--) form, so two spellings of one domain compare equal with ==. Local
// is the local part exactly as given: whether it is case-sensitive is the
// receiving domain's business, so it is neither folded nor mapped. The zero
// Address is in no domain.
type Address struct{ Local, Domain string }

// String returns local@domain. ParseAddress reads it back as the same
// Address.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// Length limits of RFC 5321 §4.5.3.1, in octets. The domain and the whole
// address are measured in A-label form, as they travel in SMTP.
const (
	maxLocalPart = 64
	maxDomain    = 253
	maxAddress   = 254
	// maxAddressInput bounds the work done on input before any other
	// check: IDNA mapping can shrink a label (a full-width letter is three
	// octets and maps to one), but not by more than this.
	maxAddressInput = 1024
)

// ParseAddress reads s as exactly one RFC 5322 addr-spec (local@domain) and
// nothing else, and fails closed: any input that a second reader (Graph,
// Exchange, another mail parser) might split, route or map differently is
// refused rather than normalised. It refuses:
//
//   - lists (',' ';'), comments and parentheses, display names, angle
//     brackets, ':' (group and source-route syntax), backslashes, domain
//     literals ("[192.0.2.1]"), and more or fewer than one '@';
//   - control characters (C0, DEL, C1), whitespace of any kind, invalid
//     UTF-8, and invisible formatting characters (zero-width spaces and
//     joiners U+200B–U+200D, U+FEFF, bidi controls U+202A–U+202E and
//     U+2066–U+2069, soft hyphen, variation selectors and every other
//     default-ignorable code point), in the local part and the domain:
//     IDNA maps some of them to nothing, so "con\u00ADtoso.example" would
//     otherwise read as contoso.example to us and as something else to a
//     reader that does not map;
//   - quoted local parts ("a b"@x), outright: RFC parsers unquote them,
//     Exchange keeps or re-quotes them, and a quoted string can carry '@',
//     ',' and '<' that readers then see differently;
//   - the obsolete forms (obs-local-part, obs-domain) and leading, trailing
//     or doubled dots in the local part;
//   - '%' and '!' in the local part: they are relay-routing syntax (the
//     "percent hack", UUCP bang paths) under which an allowed domain's
//     mail server may pass a message on to another domain, and a '%' may
//     be percent-decoded by a later reader into another '@';
//   - "=?" in the local part, which a MIME reader may take for the start of
//     an RFC 2047 encoded-word and decode;
//   - a local part that begins "IMCEA" (in any case or width): Exchange
//     reads it as an IMCEA-encapsulated address (IMCEASMTP-, IMCEAEX-) and
//     delivers to the address inside (encapsulated);
//   - a non-ASCII local part (RFC 6532) that is not in NFC, or holds a
//     character that is not a letter, mark, number, punctuation or symbol,
//     or one whose compatibility form holds ASCII punctuation (full-width
//     '＠', '．', '，' and the like), which a reader that applies NFKC would
//     see as a separator;
//   - a domain with a trailing dot ("contoso.example."): it names the same
//     DNS name, but allow-list entries carry no dot, and readers disagree
//     on whether to keep it, so it is refused rather than trimmed;
//   - a domain with a label separator other than '.': UTS 46 maps U+3002
//     '。', U+FF0E '．' and U+FF61 '｡' to '.', but a reader that does not map
//     sees one label where we see two;
//   - a domain without a dot, with an all-numeric last label (it reads as
//     an IPv4 address), or with an empty label;
//   - a domain that the IDNA lookup profile refuses (UTS 46
//     non-transitional mapping with the STD3 rules, hyphen and joiner
//     checks, the Bidi rule and DNS lengths), or one that is not letters,
//     digits and hyphens once converted to A-labels;
//   - a non-ASCII domain with the IDNA deviation characters 'ß' or 'ς', or
//     'ẞ': transitional processors map them to "ss" and "σ", others keep
//     them (and UTS 46 versions map 'ẞ' to "ss" or to 'ß'), so two readers
//     resolve two different domains; an A-label such as xn--strae-oqa is
//     unambiguous and accepted;
//   - more than 64 octets of local part, 253 of domain or 254 in all.
//
// Domains compare without case, and a non-ASCII domain is mapped with
// UTS 46 (width, case and compatibility mappings) and converted to
// A-labels: bob@ＣＯＮＴＯＳＯ.example and bob@contoso.example have the
// same Domain. So do other UTS 46 compatibility mappings to ASCII (the
// Kelvin sign K to k, the ligature ﬀ to ff). A GUID or UPN used as a user
// id in a path is not a mailbox address and is not read here.
func ParseAddress(s string) (Address, error) {
	if len(s) > maxAddressInput {
		return Address{}, addressError("longer than an address can be")
	}
	if !utf8.ValidString(s) {
		return Address{}, addressError("invalid UTF-8")
	}
	for _, r := range s {
		if reason := badAddressRune(r); reason != "" {
			return Address{}, addressError(reason)
		}
	}
	switch n := strings.Count(s, "@"); {
	case n == 0:
		return Address{}, addressError("no '@'")
	case n > 1:
		return Address{}, addressError("more than one '@'")
	}
	local, domain, _ := strings.Cut(s, "@")
	if err := checkLocalPart(local); err != nil {
		return Address{}, err
	}
	ascii, err := domainToASCII(domain)
	if err != nil {
		return Address{}, err
	}
	if len(local)+1+len(ascii) > maxAddress {
		return Address{}, addressError("longer than 254 octets")
	}
	return Address{Local: local, Domain: ascii}, nil
}

// InDomains reports whether a's domain is one of domains. Entries are
// lower-case ASCII with A-labels, as Address.Domain is (the policy loader
// is to make them so); an entry in another form never matches, so a
// mistake fails closed. An entry matches its domain exactly and never
// its subdomains, except an entry "*.contoso.example", which matches every
// subdomain of contoso.example at any depth but not contoso.example itself:
// a policy that means both lists both. The zero Address matches nothing.
func (a Address) InDomains(domains []string) bool {
	if a.Domain == "" {
		return false
	}
	for _, d := range domains {
		if parent, ok := strings.CutPrefix(d, "*."); ok {
			// The '.' before parent is what keeps evilcontoso.example out
			// of *.contoso.example.
			if parent != "" && strings.HasSuffix(a.Domain, "."+parent) {
				return true
			}
			continue
		}
		if d == a.Domain {
			return true
		}
	}
	return false
}

// addressError is why ParseAddress refused an address: a fixed phrase, so
// that a deny reason built from it can be tested word for word. The input
// is left out; the caller knows it and decides whether to log it.
type addressError string

func (e addressError) Error() string { return "policy: mail address: " + string(e) }

// badAddressRune says why r may not appear anywhere in an address, or "".
// The structural characters come first so that the reason names what a
// smuggling attempt used (a list, a comment) rather than what it lacked.
func badAddressRune(r rune) string {
	if ' ' < r && r < 0x7f {
		// Printable ASCII: only the punctuation below is refused (the
		// whitespace, control and format checks are for the rest).
		switch r {
		case ',', ';', '(', ')', '<', '>', '"', '\\', '[', ']', ':':
		default:
			return ""
		}
	}
	switch r {
	case ',', ';':
		return "list separator ',' or ';'"
	case '(', ')':
		return "comment or parenthesis"
	case '<', '>':
		return "angle bracket or display name"
	case '"':
		return "quoted local part or quote"
	case '\\':
		return "backslash"
	case '[', ']':
		return "domain literal or bracket"
	case ':':
		return "':' (group or source route)"
	}
	switch {
	case r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0:
		return "control character"
	case unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp):
		return "whitespace"
	case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		return "invisible or bidi formatting character"
	case r == utf8.RuneError:
		return "U+FFFD replacement character"
	}
	return ""
}

// asciiAtext is RFC 5322 atext without '%' and '!' (see ParseAddress).
const asciiAtext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#$&'*+-/=?^_`{|}~"

func checkLocalPart(local string) error {
	switch {
	case local == "":
		return addressError("empty local part")
	case len(local) > maxLocalPart:
		return addressError("local part longer than 64 octets")
	case strings.ContainsAny(local, "%!"):
		return addressError("'%' or '!' (relay routing) in the local part")
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return addressError("leading, trailing or double dot in the local part")
	case strings.Contains(local, "=?"):
		return addressError("RFC 2047 encoded-word in the local part")
	}
	ascii := true
	for _, r := range local {
		if r < utf8.RuneSelf {
			if r != '.' && !strings.ContainsRune(asciiAtext, r) {
				return addressError("character not allowed in a local part")
			}
			continue
		}
		ascii = false
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
			return addressError("character not allowed in a local part")
		}
		for _, c := range norm.NFKC.String(string(r)) {
			// Letters and digits that fold to ASCII (full-width 'Ａ') are
			// merely confusable; punctuation that folds to ASCII ('＠',
			// '．') is a separator to whoever folds it.
			if c < utf8.RuneSelf && !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9') {
				return addressError("local part character that folds to ASCII punctuation")
			}
		}
	}
	if encapsulated(local, ascii) {
		return addressError("IMCEA-encapsulated address (Exchange reads another address in it)")
	}
	if !ascii && !norm.NFC.IsNormalString(local) {
		return addressError("local part not in Unicode NFC")
	}
	return nil
}

// encapsulated reports whether a local part begins as an IMCEA-encapsulated
// address does: "IMCEA" in any case, then the address type, a '-' and the
// address (MS-OXCMAIL 2.2.3.1.2). Exchange de-encapsulates such an address
// at a domain of its own and delivers to the address inside, so that
// IMCEASMTP-eve+40evil+2Eexample@contoso.example is eve@evil.example to it
// and IMCEAEX-… any recipient its legacy DN names: relay routing, as '%'
// is. The prefix alone is refused, compared as a reader that folds case
// or width might (ı, ｉ); no one's own address begins so.
func encapsulated(local string, ascii bool) bool {
	if ascii {
		return len(local) >= len("imcea") && strings.EqualFold(local[:len("imcea")], "imcea")
	}
	folded := norm.NFKC.String(local)
	return strings.HasPrefix(strings.ToUpper(folded), "IMCEA") || strings.HasPrefix(strings.ToLower(folded), "imcea")
}

// domainProfile is the IDNA lookup profile (UTS 46 non-transitional
// mapping, STD3 rules, hyphen and joiner checks, the Bidi rule) with DNS
// lengths checked too. Non-transitional is what IDNA2008 resolvers and
// current browsers do; the deviation characters on which the two differ
// are refused outright (see ParseAddress).
var domainProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.VerifyDNSLength(true))

// idnaDeviations are the characters whose mapping UTS 46 transitional and
// non-transitional processing disagree on, and U+1E9E 'ẞ', which versions
// of UTS 46 map to "ss" or to 'ß'. They are looked for before and after
// mapping. ZWJ and ZWNJ are refused earlier as formatting characters.
const idnaDeviations = "ßςẞ"

// domainToASCII validates domain and returns it in lower-case A-label form.
// A domain of letters, digits, hyphens and dots that is valid as it is
// (plainDomain) is returned lower-cased; any other goes through the IDNA
// profile (domainToASCIIByProfile). FuzzDomainToASCII holds the two to the
// same results.
func domainToASCII(domain string) (string, error) {
	switch plainDomain(domain) {
	case plainLower:
		return domain, nil
	case plainMixed:
		return strings.ToLower(domain), nil
	}
	return domainToASCIIByProfile(domain)
}

// A plainness is what plainDomain finds of a domain.
type plainness uint8

const (
	notPlain   plainness = iota
	plainLower           // its own A-label form
	plainMixed           // its A-label form once lower-cased
)

// plainDomain reports whether domain is, but for case, its own A-label
// form, which the profile would return lower-cased and nothing else:
// within DNS's lengths, two labels or more, each ASCII letters, digits and
// hyphens and none with a hyphen first, last or in its third and fourth
// places (so no A-label, "xn--", whose Unicode the profile checks), and a
// top-level label that is not all digits. Nearly every address a call
// names is; the profile costs about a third of a microsecond for each.
func plainDomain(domain string) plainness {
	if len(domain) > maxDomain {
		return notPlain
	}
	upper, start := false, 0
	for i := 0; i <= len(domain); i++ {
		if i < len(domain) && domain[i] != '.' {
			switch c := domain[i]; {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-':
			case 'A' <= c && c <= 'Z':
				upper = true
			default:
				return notPlain
			}
			continue
		}
		l := domain[start:i]
		if !labelShaped(l) || len(l) >= 4 && l[2] == '-' && l[3] == '-' {
			return notPlain
		}
		start = i + 1
	}
	dot := strings.LastIndexByte(domain, '.')
	if dot < 0 || allDigits(domain[dot+1:]) {
		return notPlain // one label, or an all-numeric top-level one
	}
	if upper {
		return plainMixed
	}
	return plainLower
}

// domainToASCIIByProfile is domainToASCII through the IDNA lookup
// profile, for any domain.
func domainToASCIIByProfile(domain string) (string, error) {
	switch {
	case domain == "":
		return "", addressError("empty domain")
	case strings.HasSuffix(domain, "."):
		return "", addressError("trailing dot in the domain")
	case strings.ContainsAny(domain, "\u3002\uff0e\uff61"):
		return "", addressError("label separator other than '.' in the domain")
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if l == "" {
			return "", addressError("empty label in the domain")
		}
		if allASCII(l) {
			continue
		}
		// Per label, so that an A-label for straße given as such stays
		// acceptable while a raw ß or ẞ, which readers map differently, is
		// not.
		u, err := domainProfile.ToUnicode(l)
		if err != nil {
			return "", addressError("domain is not a valid host name")
		}
		if strings.ContainsAny(l, idnaDeviations) || strings.ContainsAny(u, idnaDeviations) {
			return "", addressError("IDNA deviation character (ß, ς, ẞ) in the domain")
		}
	}
	if len(labels) < 2 {
		return "", addressError("domain without a dot")
	}
	ascii, err := domainProfile.ToASCII(domain)
	if err != nil {
		return "", addressError("domain is not a valid host name")
	}
	out := strings.Split(ascii, ".")
	if len(out) != len(labels) {
		// A rune that maps to a dot or to nothing changed the label
		// structure: refused for the reason the separators above are.
		return "", addressError("label separator other than '.' in the domain")
	}
	for _, l := range out {
		if !ldhLabel(l) {
			// Belt and braces: the profile should never let this through,
			// and if a new version of it does, the domain is refused rather
			// than compared in a form allow-list entries cannot take.
			return "", addressError("domain is not a valid host name")
		}
	}
	if allDigits(out[len(out)-1]) {
		return "", addressError("all-numeric top-level domain")
	}
	if len(ascii) > maxDomain {
		return "", addressError("domain longer than 253 octets")
	}
	return ascii, nil
}

// ldhLabel reports whether l is a lower-case letter-digit-hyphen label of
// 1 to 63 octets that neither starts nor ends with a hyphen.
func ldhLabel(l string) bool {
	if !labelShaped(l) {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// labelShaped reports whether l has a DNS label's length, 1 to 63 octets,
// and neither starts nor ends with a hyphen: what ldhLabel and plainDomain
// both ask of a label, whatever its letters.
func labelShaped(l string) bool {
	return l != "" && len(l) <= 63 && l[0] != '-' && l[len(l)-1] != '-'
}

// allDigits reports whether a top-level label is all digits, which no
// domain's may be (it would read as an IPv4 address).
func allDigits(l string) bool {
	return strings.Trim(l, "0123456789") == ""
}

func allASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
