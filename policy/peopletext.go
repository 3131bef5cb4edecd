package policy

import (
	"bytes"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// A person named under a member the finder was not told of. Graph's
// services take addresses under names of their own (an access package
// request's target.email, an attack simulation's accountTargetEmails, a
// user's mail and otherMails, an invitation's …Email), more than any list
// of names holds. So a string anywhere in a body, under a member the
// finder does not otherwise read (in an object or a list), that is an
// address is a person, whose domain and scope are checked as any other's;
// one written as an address is read the way another reader would, or
// refused: never passed as no one. A string that merely holds an address
// in its text (prose, a URL, a message's HTML) names no one.

// The characters a reader that folds width or compatibility forms reads
// as '@'.
const fullwidthAt, smallAt = "\uff20", "\ufe6b"

var (
	fullwidthAtBytes, smallAtBytes = []byte(fullwidthAt), []byte(smallAt)
	// atEscapes are the \u escapes of '@', '＠' and '﹫' (hex compared
	// without case).
	atEscapes = [][]byte{[]byte("0040"), []byte("ff20"), []byte("fe6b")}
)

// addressSchemes are the prefixes an address is written with: a mailto:
// URL, an Exchange proxy address (proxyAddresses' SMTP: and smtp:), a SIP
// address (Teams, Skype). The first uriSchemes are URIs', whose address
// is percent-encoded (RFC 6068, RFC 3261): a client resolving
// mailto:eve%40evil.example writes to eve@evil.example.
var addressSchemes = []string{"mailto:", "sip:", "smtp:"}

const uriSchemes = 2

// mayHoldAt reports whether raw, a JSON string's bytes between its quotes
// (escapes as written), may decode to a string with an at sign: '@', '＠'
// or '﹫', as they are or escaped, or percent-encoded (pctAt). Every
// string of a body walked for people is looked at, and most hold none:
// it does not allocate, and finds more rather than fewer (hasAt decides
// on the decoded string).
func mayHoldAt(raw []byte) bool {
	if bytes.IndexByte(raw, '@') >= 0 {
		return true
	}
	for i := bytes.IndexByte(raw, '%'); i >= 0; {
		rest := raw[i+1:]
		// A hex digit escaped in JSON ("%\u00340") is taken as one that may be.
		if len(rest) >= 2 && (pctAtHex(rest[0], rest[1]) || rest[0] == '\\' || rest[1] == '\\') {
			return true
		}
		j := bytes.IndexByte(rest, '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if i := bytes.IndexByte(raw, 0xef); i >= 0 && (bytes.Contains(raw[i:], fullwidthAtBytes) || bytes.Contains(raw[i:], smallAtBytes)) {
		return true
	}
	for i := bytes.IndexByte(raw, '\\'); i >= 0 && i+1 < len(raw); {
		if raw[i+1] == 'u' && i+6 <= len(raw) {
			for _, e := range atEscapes {
				if bytes.EqualFold(raw[i+2:i+6], e) {
					return true
				}
			}
			if string(raw[i+2:i+6]) == "0025" { // an escaped '%'
				return true
			}
		}
		// Past the escaped byte: "\\u0040" is a backslash and text.
		j := bytes.IndexByte(raw[i+2:], '\\')
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}

// hasAt reports whether s has an at sign, or one percent-encoded
// (mayHoldAt, decoded).
func hasAt(s string) bool {
	return strings.IndexByte(s, '@') >= 0 || strings.Contains(s, fullwidthAt) || strings.Contains(s, smallAt) || pctAt(s)
}

// pctAt reports whether s holds an at sign percent-encoded: "%40", or
// the UTF-8 of '＠' or '﹫' ("%EF%BC%A0", "%EF%B9%AB"), or a '%'
// percent-encoded ("%2540", a second encoding). A mailto: URL's address
// is written so (addressesIn).
func pctAt(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		rest := s[i+1:]
		if len(rest) >= 2 && pctAtHex(rest[0], rest[1]) {
			return true
		}
		j := strings.IndexByte(rest, '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// pctAtHex reports whether the two hex digits after a '%' may begin an
// at sign's encoding or a percent sign's: 40, 25, or EF (any case), the lead byte
// of '＠' and '﹫' in UTF-8 (and of many other characters: more rather
// than fewer).
func pctAtHex(a, b byte) bool {
	return a == '4' && b == '0' || a == '2' && b == '5' || lower(a) == 'e' && lower(b) == 'f'
}

// blank reports whether r is white space or invisible, which a reader may
// drop around an address.
func blank(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
}

// space reports whether r is white space: what separates words.
func space(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// addressesIn reads s, a string under a member the finder does not
// otherwise read, for the addresses it is: none for text that is no
// address (ok), the addresses ParseAddress accepts (ok), or ok false for
// a string written as an address that is not one ParseAddress accepts.
// s (trimmed of white space and invisible characters) is an address when
// it is:
//
//   - one ParseAddress accepts;
//   - one within angle brackets or after mailto:, SMTP: or sip: (any
//     case), which must then be one ParseAddress accepts; after mailto:
//     or sip:, a URI's, once percent-decoded (mailto:eve%40evil.example
//     is eve@evil.example); a malformed escape, a '%' left after decoding
//     (encoded twice) and a mailto: URL's header fields (?to=…, ?cc=…,
//     ?subject=…), which may name more people, are refused;
//   - a JSON object or list (an adaptive card's content): each of its
//     strings is read so;
//   - a single word (no white space) shaped as an address (addressShaped:
//     an at sign, '@' or the '＠' and '﹫' a reader may fold to it, with a
//     domain after it) that ParseAddress refuses
//     ("eve%evil.example@contoso.example", a quoted local part, a
//     trailing dot, a list without spaces) is refused;
//   - words that are an RFC 5322 address list (net/mail): a display
//     name and an address in angle brackets, a comment, a list; each
//     address must be one ParseAddress accepts.
//
// Anything else — prose, HTML, a URL — names no one, whatever addresses
// its text mentions.
func addressesIn(s string) (addrs []string, ok bool) {
	if !hasAt(s) {
		return nil, true
	}
	t := strings.TrimFunc(s, blank)
	if _, err := ParseAddress(t); err == nil {
		return []string{t}, true
	}
	if core, uri, written := addressWritten(t); written {
		if uri {
			if core, ok = uriAddress(core); !ok {
				return nil, false
			}
		}
		if _, err := ParseAddress(core); err != nil {
			return nil, false
		}
		return []string{core}, true
	}
	if t[0] == '{' || t[0] == '[' {
		if doc, err := parseJSON([]byte(t)); err == nil && isContainer(doc) {
			return addressesInJSON(doc)
		}
	}
	if !strings.ContainsFunc(t, space) {
		// One word, invisible characters and all: a reader may drop them.
		return nil, !addressShaped(t)
	}
	list, err := mail.ParseAddressList(t)
	if err != nil {
		// Eve <mailto:eve%40evil.example>: the list as written without
		// its schemes.
		u, changed, ok := withoutSchemes(t)
		if !ok {
			return nil, false
		}
		if list, err = mail.ParseAddressList(u); !changed || err != nil {
			return nil, true // text
		}
	}
	for _, a := range list {
		if _, err := ParseAddress(a.Address); err != nil {
			return nil, false
		}
		addrs = append(addrs, a.Address)
	}
	return addrs, true
}

// addressWritten strips the angle brackets and the scheme (addressSchemes)
// an address is written within, and reports whether there were any around
// one word (HTML, "<p>…</p>", and prose, "SMTP: the relay …", are not),
// and whether a scheme was a URI's, whose address is percent-encoded.
func addressWritten(t string) (core string, uri, written bool) {
	core = t
	for range 2 { // <mailto:…>, and mailto:<…>
		if len(core) >= 2 && core[0] == '<' && core[len(core)-1] == '>' {
			core, written = strings.TrimFunc(core[1:len(core)-1], blank), true
		}
		for i, p := range addressSchemes {
			if len(core) >= len(p) && strings.EqualFold(core[:len(p)], p) {
				core, written = strings.TrimFunc(core[len(p):], blank), true
				uri = uri || i < uriSchemes
			}
		}
	}
	if !written || strings.ContainsFunc(core, space) || strings.ContainsAny(core, "<>") {
		return t, false, false
	}
	return core, uri, true
}

// uriAddress is the address a mailto: or sip: URI's core (addressWritten)
// is to a client resolving it: percent-decoded once. ok false for a
// malformed escape, a '%' left (encoded twice) or a '?' (a mailto: URL's
// header fields, ?to=… and ?cc=…, which may name more people).
func uriAddress(core string) (string, bool) {
	a, err := url.PathUnescape(core)
	return a, err == nil && !strings.ContainsAny(a, "%?")
}

// withoutSchemes is t with each "<scheme:…>" (addressSchemes, any case)
// written "<…>", a URI's percent-decoded (uriAddress): a display name's
// address as a client reads it. changed reports whether there was any;
// ok false for a URI's that uriAddress refuses.
func withoutSchemes(t string) (u string, changed, ok bool) {
	var b strings.Builder
	rest := t
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		core, uri, written := addressWritten(rest[i : i+j+1])
		if !written || core == rest[i+1:i+j] {
			b.WriteString(rest[:i+j])
			rest = rest[i+j:]
			continue
		}
		if uri {
			if core, ok = uriAddress(core); !ok {
				return t, false, false
			}
		}
		b.WriteString(rest[:i+1])
		b.WriteString(core)
		rest, changed = rest[i+j:], true
	}
	if !changed {
		return t, false, true
	}
	b.WriteString(rest)
	return b.String(), true, true
}

// addressesInJSON is addressesIn on every string of a JSON document held
// in a string (an adaptive card's content, a vendor's payload), which a
// service may parse and read: ok false if any is refused.
func addressesInJSON(v any) (addrs []string, ok bool) {
	switch x := v.(type) {
	case string:
		return addressesIn(x)
	case []any:
		for _, e := range x {
			a, ok := addressesInJSON(e)
			if !ok {
				return nil, false
			}
			addrs = append(addrs, a...)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			a, ok := addressesInJSON(x[k])
			if !ok {
				return nil, false
			}
			addrs = append(addrs, a...)
		}
	}
	return addrs, true
}

// addressShaped reports whether word, one with no white space that is no
// address ParseAddress accepts, is shaped as one, or as a list of them: a
// part of it between ',' and ';', its quotes, angle brackets and scheme
// aside (a URI's percent-decoded), has something before an at sign and a
// domain after it (domainShaped). A URL (://), a Teams
// id (teamsID), a path (users/{upn}/events, a subscription's resource),
// a handle (@eve) and a formula (=@A1:A10) are not.
func addressShaped(word string) bool {
	if strings.Contains(word, "://") {
		return false
	}
	ok := true
	for _, part := range strings.FieldsFunc(word, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.Trim(part, `"'`)
		// <eve@evil.example>, <mailto:eve%40evil.example>: as written.
		if core, uri, written := addressWritten(part); written {
			part = core
			if uri {
				if part, ok = uriAddress(core); !ok {
					return true
				}
			}
		}
		local, domain, at := cutLastAt(part)
		if at && local != "" && !teamsID(local) && domainShaped(domain) {
			return true
		}
	}
	return false
}

// domainShaped reports whether d reads as a domain: labels of letters,
// digits and hyphens (in any script or width) between dots (or the dots
// IDNA maps to one), a trailing one too, or a domain literal ([…]).
func domainShaped(d string) bool {
	if len(d) >= 2 && d[0] == '[' && d[len(d)-1] == ']' {
		return true
	}
	if d == "" {
		return false
	}
	for _, r := range d {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) && !strings.ContainsRune("-.\u3002\uff0e\uff61", r) {
			return false
		}
	}
	return true
}

// teamsID reports whether local, what stands before the at sign, begins
// as a Teams or Skype id does (19:meeting_…@thread.v2, 28:…, 8:orgid:…):
// digits and a ':'. Any other ':' (a source route, @relay:eve@…, JSON in
// a string) leaves the word read as an address.
func teamsID(local string) bool {
	i := strings.IndexByte(local, ':')
	if i <= 0 {
		return false
	}
	for _, c := range []byte(local[:i]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// cutLastAt cuts t around its last at sign (hasAt's).
func cutLastAt(t string) (before, after string, found bool) {
	i, n := strings.LastIndexByte(t, '@'), 1
	for _, a := range []string{fullwidthAt, smallAt} {
		if j := strings.LastIndex(t, a); j > i {
			i, n = j, len(a)
		}
	}
	if i < 0 {
		return t, "", false
	}
	return t[:i], t[i+n:], true
}

// text reads a string under a member the finder does not otherwise read
// (addressesIn): each address it is names a person; one written as an
// address that is not one refuses the call.
func (c *bodyCheck) text(where, s string) {
	addrs, ok := addressesIn(s)
	if !ok {
		c.fail(RefusalMalformed, "%s is written as an email address but is not exactly one the proxy can check", where)
		return
	}
	for _, s := range addrs {
		a, err := ParseAddress(s)
		if err != nil { // addressesIn accepted it: not reached
			c.fail(RefusalMalformed, "%s is not one email address: %v", where, err)
			return
		}
		// Once per person: a member a route's check read already
		// (getSchedule's schedules) is not counted again.
		name := a.String()
		if !slices.ContainsFunc(c.people, func(p person) bool { return strings.EqualFold(p.name, name) }) {
			c.people = append(c.people, person{name: name, addr: &a, bodyNamed: true, where: where})
		}
	}
}

// namesSomeone reports whether s, a string anywhere in a body, is one the
// finder reads (addressesIn): one that names someone, or one it refuses.
// The body is then walked for its people, whatever its route.
func namesSomeone(s string) bool {
	addrs, ok := addressesIn(s)
	return !ok || len(addrs) > 0
}
