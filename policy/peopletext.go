package policy

import (
	"bytes"
	"net/mail"
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
// address (Teams, Skype).
var addressSchemes = []string{"mailto:", "smtp:", "sip:"}

// mayHoldAt reports whether raw, a JSON string's bytes between its quotes
// (escapes as written), may decode to a string with an at sign: '@', '＠'
// or '﹫', as they are or escaped. Every string of a body walked for
// people is looked at, and most hold none: it does not allocate, and
// finds more rather than fewer (hasAt decides on the decoded string).
func mayHoldAt(raw []byte) bool {
	if bytes.IndexByte(raw, '@') >= 0 {
		return true
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

// hasAt reports whether s has an at sign (mayHoldAt, decoded).
func hasAt(s string) bool {
	return strings.IndexByte(s, '@') >= 0 || strings.Contains(s, fullwidthAt) || strings.Contains(s, smallAt)
}

// blank reports whether r is white space or invisible, which a reader may
// drop around an address.
func blank(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point)
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
//     case), which must then be one ParseAddress accepts;
//   - a single word (no white space) whose at sign ('@', or '＠' and '﹫',
//     which a reader may fold to it) has something on either side: one
//     ParseAddress refuses ("eve%evil.example@contoso.example", a quoted local part,
//     a trailing dot, a list without spaces) is refused, unless it is a
//     URL (://), a Teams id (teamsID: 19:…@thread.v2) or the part after
//     the at sign has a '/' (a path: a subscription's resource,
//     users/{upn}/events, whose user the subscription check reads);
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
	if core, written := addressWritten(t); written {
		if _, err := ParseAddress(core); err != nil {
			return nil, false
		}
		return []string{core}, true
	}
	if !strings.ContainsFunc(t, blank) {
		local, domain, _ := cutLastAt(t)
		if local == "" || domain == "" || strings.Contains(t, "://") || teamsID(local) || strings.Contains(domain, "/") {
			return nil, true // a word, a URL, a Teams id, a path
		}
		return nil, false
	}
	list, err := mail.ParseAddressList(t)
	if err != nil {
		return nil, true // text
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
// one word (HTML, "<p>…</p>", and prose, "SMTP: the relay …", are not).
func addressWritten(t string) (core string, written bool) {
	core = t
	for range 2 { // <mailto:…>, and mailto:<…>
		if len(core) >= 2 && core[0] == '<' && core[len(core)-1] == '>' {
			core, written = strings.TrimFunc(core[1:len(core)-1], blank), true
		}
		for _, p := range addressSchemes {
			if len(core) >= len(p) && strings.EqualFold(core[:len(p)], p) {
				core, written = strings.TrimFunc(core[len(p):], blank), true
			}
		}
	}
	if !written || strings.ContainsFunc(core, blank) || strings.ContainsAny(core, "<>") {
		return t, false
	}
	return core, true
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
	for _, a := range addrs {
		// Once per person: a member a route's check read already
		// (getSchedule's schedules) is not counted again.
		if !slices.ContainsFunc(c.people, func(p person) bool { return strings.EqualFold(p.name, a) }) {
			c.addAddress(where, a)
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
