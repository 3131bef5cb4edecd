package proxy

import (
	"bytes"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// A pre-authenticated URL carries its credential in itself: a query or
// fragment parameter (a SAS's sig, SharePoint's tempauth, access_token,
// an S3 X-Amz-Signature, a function's code) or a userinfo. Names of
// members trail Graph (linknames.go reads those ending in Url, Uri or
// Link); such a URL under any other name (contentLocation, source,
// target, href, resource, in a list or not) is known by its value
// instead: a string that is an absolute URL of another host carrying a
// credential is withheld, whatever its member's name, while links to
// other hosts are withheld.
//
// Only a value that is one URL is read so. A URL inside text (a
// message's body, a subject, a description, a text that begins with
// one) is the customer's content, which the vendor may read and which
// Graph relays as written: what Graph mints for the proxy's identity is
// always a member's whole value. A text that is nothing but such a URL
// cannot be told from one Graph minted, and is withheld. A plain URL of
// another host under an unknown name (a user's mySite, a contact's home
// page) is data and passes, as does one at Graph.
//
// The credential is a bearer secret whatever form the URL takes: one
// without a scheme ("contoso.sharepoint.com/…?tempauth=…", its host
// first, which a reader completes with https://), a path alone
// ("/_layouts/15/download.aspx?…&tempauth=…", which one completes with
// the host it knows), a query alone. So a value that is one word, with
// nothing but spaces about it, whose query or fragment has a parameter
// named as a credential with a value ("name=…"), is withheld too: a
// relative reference. Text is words apart, and a word such as "Why?" or
// "#monkey" has no parameter with a value. Names OData gives its own
// options ($skiptoken, $deltatoken: paging cursors, bound to the
// caller's own token) are no credential in a relative reference, which
// Graph's own links are read against.

// credentialURL reports whether raw, a JSON string's contents (or,
// complete false, the first bytes of one too long to hold), is an
// absolute URL (urlStart) of another host, with nothing but spaces about
// it, that has a userinfo or a credential-looking parameter
// (credentialParam) in its query or fragment; or a relative reference,
// one word, whose query or fragment has such a parameter with a value.
// An absolute URL that goes on past what was seen counts as one, as does
// a relative one whose query began: fail closed. A malformed escape ends the value's reading (the answer is not
// JSON; a reader that skips it would find what follows in the raw
// bytes, which mayRewrite reads).
func (l *LinkRewriter) credentialURL(raw []byte, complete bool) bool {
	var u urlStart
	i, start, relative := 0, -1, false
	for {
		if i == len(raw) {
			// Ended, or cut, before a scheme's colon or a second
			// slash: no URL, or none seen yet after leading spaces. (No
			// scheme is as long as a value is cut at.)
			return !complete && u == urlLeading
		}
		r, n := decodeJSONChar(raw[i:])
		if n == 0 {
			return false // not JSON from here: read as the value's end
		}
		if start < 0 && r > ' ' {
			start = i
		}
		i += n
		if done, abs := u.step(r); done {
			relative = !abs
			break
		}
	}
	if _, graph := l.prefix(raw[start:], jsonChars); graph && !relative {
		return false
	}
	// After the scheme's colon or the first slash: an authority follows
	// two slashes (or backslashes, as browsers read them). A relative
	// reference is read again from its start, as a path.
	var name [64]byte
	nlen, long, found := 0, false, false
	slashes, authority, query, inName := 0, u == urlSlash, false, false
	if u == urlSlash {
		slashes = 2 // "//" read: i is past the second
	}
	if relative {
		i, slashes, authority = start, 2, false
	}
	// bare: a parameter without a value counts, as it does in an
	// absolute URL of another host; a relative one's needs its '='.
	bare := !relative
	for i < len(raw) {
		r, n := decodeJSONChar(raw[i:])
		if n == 0 {
			// Not JSON from here (or cut inside an escape): the URL
			// ends, or, cut, goes on unseen.
			return !complete && (!relative || query) || found || bare && inName && credentialParam(name[:nlen], long)
		}
		i += n
		if r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		if r <= ' ' {
			// The URL ends. A value that goes on is text holding a URL
			// (the customer's, as written), not a URL Graph minted.
			found = found || bare && inName && credentialParam(name[:nlen], long)
			return found && onlySpaces(raw[i:])
		}
		if !query && slashes < 2 && !authority {
			if r == '/' || r == '\\' {
				if slashes++; slashes == 2 {
					authority = true
				}
				continue
			}
			slashes = 2 // no authority: a path or an opaque part
		}
		switch {
		case authority && r == '@':
			found = true // a userinfo: a user and, often, a password
		case authority && (r == '/' || r == '\\'):
			authority = false
		case r == '?' || r == '#' || query && (r == '&' || r == ';'):
			found = found || bare && inName && credentialParam(name[:nlen], long)
			authority, query, inName, nlen, long = false, true, true, 0, false
		case inName && r == '=':
			found = found || credentialParam(name[:nlen], long) && !(relative && nlen > 0 && name[0] == '$')
			inName = false
		case inName:
			if r == '%' {
				// A name's percent-encoding is the name to the server.
				if b, m, ok := percentByte(raw[i:]); ok {
					r, i = rune(b), i+m
				}
			}
			nlen, long = nameChar(&name, nlen, long, r)
		}
	}
	return !complete && (!relative || query) || found || bare && inName && credentialParam(name[:nlen], long)
}

// nameChar adds r, a character of a query parameter's name, to the name
// (lower case) held in name[:nlen], and reports the name's new length and
// whether it is longer than name holds. A letter a server may fold to an
// ASCII one as names are folded (asciiFold: ſ for s, the Kelvin sign for
// k), escaped or in UTF-8 (whose bytes come one at a time), is that
// letter.
func nameChar(name *[64]byte, nlen int, long bool, r rune) (int, bool) {
	if c, ok := asciiFold(r); ok {
		r = rune(c)
	}
	if b := byte(r); r < 0x100 && nlen > 0 {
		switch last := name[nlen-1]; {
		case last == 0xc5 && b == 0xbf:
			name[nlen-1] = 's'
			return nlen, long
		case last == 0xc4 && (b == 0xb0 || b == 0xb1):
			name[nlen-1] = 'i'
			return nlen, long
		case nlen > 1 && name[nlen-2] == 0xe2 && last == 0x84 && b == 0xaa:
			name[nlen-2] = 'k'
			return nlen - 1, long
		}
	}
	if nlen == len(name) {
		return nlen, true
	}
	name[nlen] = lower(byte(r))
	return nlen + 1, long
}

// onlySpaces reports whether the JSON string contents raw hold nothing
// but spaces and control characters (a malformed escape ends them).
func onlySpaces(raw []byte) bool {
	for i := 0; i < len(raw); {
		r, n := decodeJSONChar(raw[i:])
		if n == 0 {
			return true
		}
		if r > ' ' {
			return false
		}
		i += n
	}
	return true
}

// percentByte decodes the two hex digits (JSON characters) at the start
// of raw: the byte and how much of raw they took.
func percentByte(raw []byte) (byte, int, bool) { return percentByteDec(raw, jsonChars) }

// percentByteDec is percentByte for characters decoded by dec.
func percentByteDec(raw []byte, dec decoder) (byte, int, bool) {
	var v, i int
	for k := 0; k < 2; k++ {
		if i == len(raw) {
			return 0, 0, false
		}
		r, n := dec.next(raw[i:])
		if n == 0 || r >= 0x80 {
			return 0, 0, false
		}
		d := response.HexValue(byte(r))
		if d < 0 {
			return 0, 0, false
		}
		v, i = v<<4|int(d), i+n
	}
	return byte(v), i, true
}

// credentialParams are the parameter names (lower case) that carry a
// credential in a URL of another host, and credentialEnds the endings
// that do: a SAS's sig and its user-delegation key's skoid and sktid,
// SharePoint's tempauth, OAuth's code, access_token, id_token and
// refresh_token, OneDrive's authkey, S3's and Google's X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token and X-Goog-Signature, API keys,
// secrets and passwords. A name longer than any of them is counted as
// one: nobody can say what it is.
var (
	credentialParams = []string{"code", "jwt", "assertion", "credential", "skoid", "sktid"}
	credentialEnds   = []string{"sig", "token", "signature", "auth", "key", "secret", "password", "passwd"}
	vendorPrefixes   = []string{"x-amz-", "x-goog-", "x-ms-"}
)

// credentialParam reports whether a query parameter named name (lower
// case; long, longer than it holds) carries a credential.
func credentialParam(name []byte, long bool) bool {
	if long {
		return true
	}
	for _, p := range vendorPrefixes {
		if bytes.HasPrefix(name, []byte(p)) {
			name = name[len(p):]
			break
		}
	}
	for _, w := range credentialParams {
		if string(name) == w {
			return true
		}
	}
	for _, e := range credentialEnds {
		if ascii.HasSuffixFold(name, e) {
			return true
		}
	}
	return false
}

// credentialQuery reports whether body may hold a value credentialURL
// withholds, as mayRewrite asks it: a parameter named as credentialParam
// says after a '?' or '#', a userinfo's '@' after a slash, or escapes
// (\/, \\) that could hide either from a reading of the raw bytes. It
// runs on every small answer while links are withheld, so it looks only
// where those characters stand; most answers have few.
func credentialQuery(body []byte) bool {
	if bytes.Contains(body, []byte(`\/`)) || bytes.Contains(body, []byte(`\\`)) {
		return true
	}
	for _, sep := range []byte{'?', '#'} {
		for i := 0; ; {
			j := bytes.IndexByte(body[i:], sep)
			if j < 0 {
				break
			}
			i += j + 1
			if paramsAfter(body[i:]) {
				return true
			}
		}
	}
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], '@')
		if j < 0 {
			return false
		}
		if userinfoBefore(body[:i+j]) {
			return true
		}
		i += j + 1
	}
}

// paramsAfter reads raw bytes after a '?' or '#' up to a string's end
// for a credentialParam name; an escape, or a percent-encoding or a
// character not ASCII in a name, counts as one.
func paramsAfter(b []byte) bool {
	var name [64]byte
	nlen, long, inName := 0, false, true
	for _, c := range b {
		switch {
		case c == '"':
			return inName && credentialParam(name[:nlen], long)
		case c == '\\':
			return true // an escape may hide a separator or a name
		case c == '%' || c >= utf8.RuneSelf:
			if inName {
				return true // encoded, or a letter a server may fold
			}
		case c == '?' || c == '#' || c == '&' || c == ';' || c <= ' ':
			if inName && credentialParam(name[:nlen], long) {
				return true
			}
			inName, nlen, long = true, 0, false
		case c == '=':
			if inName && credentialParam(name[:nlen], long) {
				return true
			}
			inName = false
		case inName:
			if nlen == len(name) {
				long = true
				continue
			}
			name[nlen] = lower(c)
			nlen++
		}
	}
	return inName && credentialParam(name[:nlen], long)
}

// userinfoBefore reports whether the bytes before an '@' may be a URL's
// userinfo: they go back to a slash or backslash without passing a
// quote, a space or a character that ends an authority.
func userinfoBefore(b []byte) bool {
	for k := len(b) - 1; k >= 0; k-- {
		if len(b)-k > maxLinkBytes {
			return true // too far back to tell: looked at by the scanner
		}
		switch b[k] {
		case '/', '\\':
			return true
		case '"', ' ', '?', '#', '@':
			return false
		}
	}
	return false
}
