package proxy

import (
	"errors"
	"fmt"
	"net/http"
)

// Headers carry URLs too: Graph's own (Location, Content-Location), and
// the same headers written as JSON in each $batch sub-response
// (responses[*].headers). One rule holds for both, wherever a header
// stands: a value pointing at Graph is moved to the proxy's public base;
// a value that is a URL of another host (absolute or scheme-relative) is
// withheld unless the policy allows external links; any other value (a
// relative URL, a date, a media type) passes. A $batch answer's headers
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
)

// headersKey is the sub-response member whose strings are header values.
const headersKey = "headers"

// batchKeyRole is the role a container takes after the member name key
// (decoded), given the right parent. Names are compared without case:
// some JSON readers match members so, and a reader that does not merely
// makes the check stricter than needed.
func batchKeyRole(key []byte) batchRole {
	switch {
	case asciiEqualFold(key, "responses"):
		return roleBatchList
	case asciiEqualFold(key, headersKey):
		return roleHeaders
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
	}
	return roleNone
}

// valueKind is what the string value starting now is: a header value
// inside a sub-response's headers (whatever its name), else what its key
// made it.
func (j *jsonLinks) valueKind() valueKind {
	if j.overflow == 0 && j.depth > 0 && j.roles[j.depth-1] == roleHeaders {
		return headerValue
	}
	return j.linkNext
}

// asciiEqualFold reports whether b equals s, a lower-case ASCII word,
// without regard to case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
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
		case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
			*u = urlScheme
			return false, false
		case r == '/' || r == '\\':
			*u = urlSlash
			return false, false
		}
		return true, false
	case urlScheme:
		switch {
		case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.':
			return false, false
		case r == ':':
			return true, true
		}
		return true, false
	default:
		return true, r == '/' || r == '\\'
	}
}

// absoluteURL reports whether the header value s names a host of its own
// (urlStart).
func absoluteURL(s string) bool {
	var u urlStart
	for i := 0; i < len(s); i++ {
		if done, abs := u.step(rune(s[i])); done {
			return abs
		}
	}
	return false
}

// rawElsewhere reports whether raw, a JSON string's contents (escapes and
// all) that do not point at Graph, name a host of their own (urlStart).
// complete is false when raw is the first bytes of a value too long to
// hold: a verdict they leave open is yes. A malformed escape is yes.
func rawElsewhere(raw []byte, complete bool) bool {
	var u urlStart
	for i := 0; i < len(raw); {
		r, n := decodeJSONChar(raw[i:])
		if n == 0 {
			return true
		}
		i += n
		if done, abs := u.step(r); done {
			return abs
		}
	}
	return !complete
}

// headerLinks applies the rule to the headers of Graph's answer: values
// pointing at Graph are rewritten; a header with a value that names
// another host is dropped, and the record says so, unless the policy
// allows external links. A Location Go cannot parse counts as another
// host's: nobody can tell where it leads.
func (h *Handler) headerLinks(c *call, hdr http.Header) {
	for k, vv := range hdr {
		for i, v := range vv {
			if s, ok := h.links.URL(v); ok {
				vv[i] = s
				continue
			}
			if c.decision.ExternalLinks || !absoluteURL(v) && !(k == "Location" && isAbsolute(v)) {
				continue
			}
			delete(hdr, k)
			// The header's name only: its value may be a credential.
			c.rec.Reason = appendReason(c.rec.Reason, k+" to a host other than Graph withheld")
			break
		}
	}
}

// Elsewhere reports whether raw, a header value's contents that do not
// point at Graph (or, complete false, the first bytes of one too long to
// hold), is to be withheld: it names another host, and links to other
// hosts are withheld.
func (fl filterLinks) Elsewhere(raw []byte, complete bool) bool {
	return fl.withhold && rawElsewhere(raw, complete)
}
