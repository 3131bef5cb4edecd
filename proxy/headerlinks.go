package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// Headers carry URLs too: Graph's own (Location, Content-Location), and
// the same headers written as JSON in each $batch sub-response
// (responses[*].headers). One rule holds for both, wherever a header
// stands: a value pointing at Graph is moved to the proxy's public base;
// a value that is a URL of another host (absolute or scheme-relative) is
// withheld unless the policy allows external links, as is a URL of no
// host named (a path, a query, a host without a scheme) whose query
// carries a credential (queryCredential); any other value (a relative
// URL, a date, a media type) passes. A $batch answer's headers
// are examined by value, never by name, so that no spelling of a name
// (Location, location, LOCATION, escaped) and no header Graph may add
// later escapes the rule; only string values are URLs, and nothing
// outside a $batch answer's sub-response headers is read as a header
// (an event's location object is an event's).

// errAnswerTooDeep: a JSON answer nested deeper than the link rewriter
// tracks (maxDepth) while external links are withheld. Below that depth a
// key cannot be told from a value, so a pre-authenticated URL could not be
// found: the answer is not relayed past that point (502, or the caller's
// connection cut mid-answer).
var errAnswerTooDeep = fmt.Errorf("%w: nested too deep for its links to be checked", errAnswerUncheckable)

// errAnswerMalformed: a JSON answer whose structure breaks JSON's grammar
// (a key without its colon, a value where a key belongs) while external
// links are withheld. Read leniently, a key could pass for a value and a
// pre-authenticated URL for a plain string: the answer is not relayed
// past that point.
var errAnswerMalformed = fmt.Errorf("%w: not well-formed JSON, so its links cannot be checked", errAnswerUncheckable)

// errAnswerEncoded: a JSON answer under a Content-Encoding the transport
// did not undo, while external links are withheld: its bytes are not the
// JSON the rewriter reads.
var errAnswerEncoded = fmt.Errorf("%w: encoded, so its links cannot be checked", errAnswerUncheckable)

// errAnswerUntyped: an answer with a body under no Content-Type the proxy
// can read as one media type, while external links are withheld: a
// caller may read it as JSON, whose links were not checked.
var errAnswerUntyped = fmt.Errorf("%w: no one media type, so its links cannot be checked", errAnswerUncheckable)

// errAnswerUncheckable: an answer whose links the rewriter cannot check
// (errAnswerTooDeep, errAnswerMalformed, errAnswerEncoded); withheld
// (502), or cut.
var errAnswerUncheckable = errors.New("answer withheld")

// batchRole is what a container of a JSON answer is to a $batch answer.
type batchRole uint8

const (
	roleNone      batchRole = iota
	roleRoot                // the answer's object
	roleBatchList           // its "responses" list
	roleSub                 // one sub-response
	roleHeaders             // a sub-response's "headers", and all within it
	roleBody                // a sub-response's "body" object: an answer's own
)

// headersKey is the sub-response member whose strings are header values.
const headersKey = "headers"

// batchKeyRole is the role a container takes after the member name key
// (decoded), given the right parent. Names are compared without case:
// some JSON readers match members so, and a reader that does not merely
// makes the check stricter than needed.
func batchKeyRole(key []byte) batchRole {
	var buf [foldBytes]byte
	key = foldKey(&buf, key)
	switch {
	case ascii.EqualFold(key, "responses"):
		return roleBatchList
	case ascii.EqualFold(key, headersKey):
		return roleHeaders
	case ascii.EqualFold(key, "body"):
		return roleBody
	}
	return roleNone
}

// childRole is the role of a container opened now.
func (j *jsonLinks) childRole(obj bool) batchRole {
	if j.depth == 0 {
		if obj {
			return roleRoot
		}
		return roleNone
	}
	switch parent := j.roles[j.depth-1]; {
	case parent == roleHeaders:
		return roleHeaders
	case parent == roleRoot && !obj && j.batchKey == roleBatchList:
		return roleBatchList
	case parent == roleBatchList && obj:
		return roleSub
	case parent == roleSub && j.batchKey == roleHeaders:
		return roleHeaders
	case parent == roleSub && obj && j.batchKey == roleBody:
		return roleBody
	}
	return roleNone
}

// topObject reports whether the object the scanner is in is an answer's
// own: the answer's, or a $batch sub-response's body.
func (j *jsonLinks) topObject() bool {
	r := j.roles[j.depth-1]
	return r == roleRoot || r == roleBody
}

// valueKind is what the string value starting now is: a header value
// inside a sub-response's headers (whatever its name), else what its key
// or its list made it.
func (j *jsonLinks) valueKind() valueKind {
	switch {
	case j.overflow > 0:
		return j.linkNext
	case j.depth == 0:
		return j.listKind() // not Graph's shape: read as a list's
	case j.roles[j.depth-1] == roleHeaders:
		return headerValue
	case j.withhold && j.roles[j.depth-1] == roleSub && j.batchKey == roleBody:
		return bodyValue
	case !j.stack[j.depth-1]:
		return j.kinds[j.depth-1]
	}
	return stringKind(j.linkNext, false)
}

// listKind is what the strings of a list opened now are: as its member's
// name says, or its parent list's; at the answer's top, any string's.
func (j *jsonLinks) listKind() valueKind {
	switch {
	case j.depth == 0:
		if j.withhold {
			return credentialValue
		}
		return plainValue
	case !j.stack[j.depth-1]:
		return j.kinds[j.depth-1]
	}
	return stringKind(j.linkNext, true)
}

// urlStart reads the start of a value, a character at a time, as
// browsers and HTTP clients read a URL reference: leading spaces and
// control characters ignored, tabs and line breaks ignored anywhere, a
// backslash taken for a slash. It tells whether the value names a host
// of its own: a scheme ("https:", "javascript:") or two slashes.
type urlStart uint8

const (
	urlLeading urlStart = iota
	urlScheme
	urlSlash
)

// step takes the next character and reports whether the verdict is in,
// and if so whether the value is absolute.
func (u *urlStart) step(r rune) (done, abs bool) {
	if r == '\t' || r == '\n' || r == '\r' {
		return false, false
	}
	switch *u {
	case urlLeading:
		switch {
		case r <= ' ':
			return false, false
		case isLetter(r):
			*u = urlScheme
			return false, false
		case r == '/' || r == '\\':
			*u = urlSlash
			return false, false
		}
		return true, false
	case urlScheme:
		switch {
		case isSchemeChar(r):
			return false, false
		case r == ':':
			return true, true
		}
		return true, false
	default:
		return true, r == '/' || r == '\\'
	}
}

// decoder says how a header value is written: a header's bytes as they
// are (plainChars), or a JSON string's contents (jsonChars). A value
// rather than a func, so that the bytes read do not escape to the heap
// through an unknown call: every header of every answer is read.
type decoder uint8

const (
	plainChars decoder = iota
	jsonChars
)

// next decodes the character at the start of b; n is 0 on a malformed
// escape.
func (d decoder) next(b []byte) (r rune, n int) {
	if d == jsonChars {
		return decodeJSONChar(b)
	}
	return rune(b[0]), 1
}

// isLetter reports an ASCII letter, with which a scheme begins.
func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// isSchemeChar reports whether r may stand in a URL's scheme.
func isSchemeChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'
}

// valueURLs is what a header value holds.
type valueURLs struct {
	// elsewhere: a URL of another host (urlStart), or a value the
	// verdict cannot be had for (malformed, or only its start seen).
	elsewhere bool
	// graph: a URL at Graph, moved to the proxy.
	graph bool
	// path: the value starts with a slash, as a relative URL does.
	path bool
}

// url reports whether the value is, or holds, a URL of any host.
func (u valueURLs) url() bool { return u.elsewhere || u.graph || u.path }

// headerURLs reads raw, a header value decoded by dec (or, complete
// false, the first bytes of one too long to hold), for URLs: not only at
// its start but wherever one may begin (Link: <https://…>, Refresh:
// 0;url=https://…, a list of values): at every character that does not
// continue a word or a path, one that follows neither a character of a
// scheme nor a slash. So "root:/a.docx:" or W/"x" inside a value are not
// read as URLs, while anything a delimiter sets apart (space, quote,
// bracket, '=', ';', ',', ':', '@', a backslash) is. There urlStart
// reads it as a browser would; a URL at Graph's origin is moved to the
// proxy's public base. It appends the value, so rewritten, to dst.
//
// Tabs and line breaks are skipped as urlStart skips them, and do not
// start a URL of their own: each character is then read by one urlStart
// at most, and a value costs its length.
//
// A URL of no host, or of one not named (a path, a query, a host first
// without a scheme), whose query or fragment has a parameter named as a
// credential with a value (queryCredential) counts as another host's:
// its credential is a bearer secret whatever the URL's form. A query of
// a URL at Graph is Graph's (its paging tokens), read as today.
func (l *LinkRewriter) headerURLs(dst, raw []byte, dec decoder, complete bool) ([]byte, valueURLs) {
	var u valueURLs
	copied := 0     // raw before this is in dst
	inWord := false // the last character read continues a word or path
	first := true
	// inGraph: in a URL at Graph; inQuery: in a query already read. Both
	// end with the URL (urlEnd).
	inGraph, inQuery := false, false
	for i := 0; i < len(raw); {
		r, n := dec.next(raw[i:])
		if n == 0 {
			u.elsewhere = true
			break
		}
		if r == '\t' || r == '\n' || r == '\r' {
			i += n
			continue
		}
		if first && r > ' ' {
			first = false
			u.path = r == '/' || r == '\\'
		}
		switch {
		case urlEnd(r):
			inGraph, inQuery = false, false
		case (r == '?' || r == '#') && !inGraph && !inQuery:
			inQuery = true
			u.elsewhere = u.elsewhere || queryCredential(raw[i+n:], dec)
		}
		// Only a letter or a slash may begin a URL (urlStart), and only
		// the origin's first letter Graph's: every other word start (a
		// digit, a quote, '=') is passed without reading on.
		if r > ' ' && !inWord && (isLetter(r) || r == '/' || r == '\\') {
			if len(l.from) == 0 || r < utf8.RuneSelf && lower(byte(r)) == l.from[0] {
				if split, ok := l.prefix(raw[i:], dec); ok {
					u.graph = true
					dst = append(append(dst, raw[copied:i]...), l.to...)
					i += split
					copied = i
					inWord = true // the origin ends a word
					inGraph = true
					continue
				}
			}
			abs, verdict := absoluteAt(raw[i:], dec)
			if abs {
				u.elsewhere = true
			}
			// What urlStart read before its verdict (a scheme's
			// characters, or one slash) starts no word of its own: the
			// loop would read it as a word's continuation, except after
			// a backslash. Reading goes on at the verdict's character.
			i += max(verdict, n)
			inWord = r != '\\'
			continue
		}
		inWord = isSchemeChar(r) || r == '/'
		i += n
	}
	if !complete {
		u.elsewhere = true // the rest is unseen
	}
	return append(dst, raw[copied:]...), u
}

// urlEnd reports whether r ends a URL in a header value: a space, a
// quote, an angle bracket (Link: <…>).
func urlEnd(r rune) bool { return r <= ' ' || r == '"' || r == '<' || r == '>' }

// queryCredential reports whether raw, a header value decoded by dec
// from just after a URL's '?' or '#', has a parameter named as a
// credential (credentialParam) with a value before the URL ends
// (urlEnd). OData's own options ($skiptoken) are Graph's paging
// cursors, no credential. A malformed escape ends the reading (headerURLs
// counts it as another host's).
func queryCredential(raw []byte, dec decoder) bool {
	var name [64]byte
	nlen, long, inName := 0, false, true
	for i := 0; i < len(raw); {
		r, n := dec.next(raw[i:])
		if n == 0 {
			return false
		}
		i += n
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case urlEnd(r):
			return false
		case r == '?' || r == '#' || r == '&' || r == ';':
			nlen, long, inName = 0, false, true
		case !inName:
		case r == '=':
			if credentialParam(name[:nlen], long) && !(nlen > 0 && name[0] == '$') {
				return true
			}
			inName = false
		default:
			if r == '%' {
				// A name's percent-encoding is the name to the server.
				if b, m, ok := percentByteDec(raw[i:], dec); ok {
					r, i = rune(b), i+m
				}
			}
			nlen, long = nameChar(&name, nlen, long, r)
		}
	}
	return false
}

// absoluteAt reports whether the URL reference starting at raw names a
// host of its own (urlStart), and where the verdict came: the offset of
// the character that gave it (or of a malformed escape, which counts as
// another host), len(raw) when the value ended first.
func absoluteAt(raw []byte, dec decoder) (abs bool, verdict int) {
	var u urlStart
	for i := 0; i < len(raw); {
		r, n := dec.next(raw[i:])
		if n == 0 {
			return true, i
		}
		if done, abs := u.step(r); done {
			return abs, i
		}
		i += n
	}
	return false, len(raw)
}

// headerLinks applies the rule to the headers of Graph's answer: values
// pointing at Graph are rewritten; a header with a value that names
// another host is dropped, and the record says so, unless the policy
// allows external links. A Location Go cannot parse counts as another
// host's: nobody can tell where it leads.
//
// In an answer a response section filters, a header that is or holds a
// URL (Location, Content-Location, OData-EntityId, any value with a URL
// of any host, Graph's and relative ones included) is dropped whatever
// the policy says of links: it may name what the section removes or
// pseudonymises (a created event's id).
func (h *Handler) headerLinks(c *call, hdr http.Header) {
	// The value is read from a copy on the stack, and written to another:
	// headers are few and short, and an answer's every header is read.
	var buf, in [256]byte
	sectioned := c.decision.Response != nil
	for k, vv := range hdr {
		if sectioned && response.URLHeader(k) {
			delete(hdr, k)
			c.rec.Reason = appendReason(c.rec.Reason, k+" withheld: the response section filters what it names")
			continue
		}
		for i, v := range vv {
			out, u := h.links.headerURLs(buf[:0], append(in[:0], v...), plainChars, true)
			if sectioned && u.url() {
				delete(hdr, k)
				c.rec.Reason = appendReason(c.rec.Reason, k+" withheld: the response section filters what it names")
				break
			}
			if u.graph {
				vv[i] = string(out)
			}
			if c.decision.ExternalLinks || !u.elsewhere && !(k == "Location" && !u.graph && isAbsolute(v)) {
				continue
			}
			delete(hdr, k)
			// The header's name only: its value may be a credential.
			c.rec.Reason = appendReason(c.rec.Reason, k+" to a host other than Graph withheld")
			break
		}
	}
}

// Header appends raw, a header value's contents, with its URLs at Graph
// moved to the proxy, and reports whether it is withheld instead: it
// holds a URL of another host (or, complete false, only its first bytes
// were seen) while such links are withheld, or, strict, it is or holds a
// URL of any host.
func (fl filterLinks) Header(dst, raw []byte, complete, strict bool) ([]byte, bool) {
	out, u := fl.l.headerURLs(dst, raw, jsonChars, complete)
	if fl.withhold && u.elsewhere || strict && u.url() {
		return dst, true
	}
	return out, false
}
