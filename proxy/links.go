package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// origin is "scheme://host[:port]", lower case.
type origin string

// LinkRewriter moves Graph-absolute links to the proxy's public base: only
// the scheme and host change, the path and query bytes stay exactly as Graph
// sent them.
type LinkRewriter struct {
	from origin // Graph, e.g. "https://graph.microsoft.com"
	to   string // the proxy's public base
}

// NewLinkRewriter returns a rewriter from the Graph origin to the public
// one; both are scheme://host[:port] without a path.
func NewLinkRewriter(graph, public string) *LinkRewriter {
	return &LinkRewriter{
		from: origin(strings.ToLower(strings.TrimSuffix(graph, "/"))),
		to:   strings.TrimSuffix(public, "/"),
	}
}

// URL rewrites s if it points at the Graph origin, and reports whether it
// did. "https://graph.microsoft.com.evil.example/" does not point at it.
func (l *LinkRewriter) URL(s string) (string, bool) {
	n := len(l.from)
	if len(s) < n || !strings.EqualFold(s[:n], string(l.from)) {
		return s, false
	}
	if len(s) > n && s[n] != '/' && s[n] != '?' && s[n] != '#' {
		return s, false
	}
	return l.to + s[n:], true
}

type valueKind uint8

const (
	plainValue valueKind = iota
	linkValue
	externalValue
	// headerValue is a string in a $batch sub-response's headers
	// (headerlinks.go), or under a name read as a URL (linknames.go):
	// withheld when it is or holds an absolute URL of another host.
	headerValue
	// credentialValue is a string under any other name while links are
	// withheld: withheld when it starts with a URL of another host that
	// carries a credential (credentialURL).
	credentialValue
	// topValue is the answer's own value member: a string is a
	// headerValue, a list's strings credentialValues (stringKind).
	topValue
	// bodyValue is a $batch sub-response's body written as a string
	// while links are withheld: withheld when its start reads as JSON
	// (bodyReadsAsJSON), read on as a credentialValue otherwise.
	bodyValue
)

const (
	// maxKeyBytes bounds the member name held, as written: Graph's are
	// far shorter.
	maxKeyBytes = 256
	// keyTail is the end of a longer name kept: enough for its ending.
	keyTail = 8
	// maxLinkBytes bounds the bytes held while a link value is examined.
	// A longer paging link passes through unchanged (harmless: Graph's
	// skip tokens are well under it); a longer external link is withheld
	// however long it is, and a longer header value is withheld when its
	// first maxLinkBytes+1 bytes do not show it relative.
	maxLinkBytes = 16 << 10
	// maxDepth bounds the nesting tracked. Below it, keys cannot be told
	// from values: a deeper answer is refused (errAnswerTooDeep) when
	// external links are withheld, and otherwise passes through unchanged
	// below it (only paging links would go unrewritten).
	maxDepth = 256
	chunk    = 32 << 10
)

// Buffers are pooled: a busy proxy rewrites every JSON answer. inPool's
// read chunks also serve relay's copy of answers that are not rewritten.
var (
	inPool  = sync.Pool{New: func() any { b := make([]byte, chunk); return &b }}
	outPool = sync.Pool{New: func() any { b := make([]byte, 0, chunk+64); return &b }}
)

// Body wraps a JSON response body so that link values are rewritten as it
// streams. Memory is bounded by one read chunk plus maxLinkBytes.
func (l *LinkRewriter) Body(rc io.ReadCloser) io.ReadCloser { return l.body(rc, false) }

// Withhold is the link rule applied to a whole JSON document b with links
// to other hosts withheld, as an answer's are: it returns b so rewritten
// and how many links it withheld, or an error (errAnswerUncheckable)
// when b's links cannot be checked.
func (l *LinkRewriter) Withhold(b []byte) ([]byte, int, error) {
	if !l.mayRewrite(b, true) {
		return b, 0, nil
	}
	j := l.body(io.NopCloser(bytes.NewReader(b)), true)
	defer j.Close()
	out, err := io.ReadAll(j)
	return out, j.withheld, err
}

// body is Body that also withholds external links when asked.
func (l *LinkRewriter) body(rc io.ReadCloser, withhold bool) *jsonLinks {
	j := &jsonLinks{l: l, src: rc, in: inPool.Get().(*[]byte), outp: outPool.Get().(*[]byte), withhold: withhold}
	j.out = (*j.outp)[:0]
	return j
}

// jsonLinks is a streaming JSON scanner. It tracks just enough structure —
// object or array nesting, whether the next string is a key, the last key —
// to find link values, and copies every other byte through untouched.
type jsonLinks struct {
	l    *LinkRewriter
	src  io.ReadCloser
	in   *[]byte
	outp *[]byte // the pooled buffer behind out
	out  []byte
	pos  int // read position in out
	err  error

	stack     [maxDepth]bool // true: object
	roles     [maxDepth]batchRole
	kinds     [maxDepth]valueKind // a list's: what its strings are
	batchKey  batchRole           // the role the value after the last key takes
	scopes    [maxDepth]response.LinkScope
	keyScope  response.LinkScope // the scope a container after the last key takes
	depth     int
	overflow  int  // nesting beyond maxDepth
	expectKey bool // in an object, before a key
	inString  bool
	escape    bool
	isKey     bool            // the current string is a key
	hold      bool            // the current string is a link value, held in val
	keyBuf    []byte          // the current key, or the end of one longer than maxKeyBytes
	keyOK     bool            // keyBuf holds the whole key
	keyEsc    bool            // the key has escapes (decoded before comparing)
	keyU      bool            // the key has an escape of the \u form
	keyFold   [foldBytes]byte // a long key's end, folded (foldKey)
	linkNext  valueKind       // what the value after the last key is
	holdKind  valueKind       // what the held value is
	lead      response.Lead   // a held credentialValue's start, read
	val       []byte
	withhold  bool // empty external links
	discard   bool // dropping an overlong external link
	withheld  int  // external links emptied
	// mint, when set, replaces an external link by a file link
	// (content.go); extKey is the key of the value held.
	mint   func(key string, raw []byte) ([]byte, bool)
	extKey string
	bad    error // why the answer cannot be relayed (errAnswerUncheckable)
	// at is where the scanner stands in JSON's grammar, and inLit whether
	// it is inside a literal (number, true, false, null): while links are
	// withheld a byte that cannot stand where it is refuses the answer.
	at    jsonPos
	inLit bool
}

// jsonPos is a place in JSON's grammar, between tokens.
type jsonPos uint8

const (
	posStart jsonPos = iota // before the answer's value
	posValue                // where a value may start: after ':', '[' or an array's ','
	posKey                  // where a key may start: after '{' or an object's ','
	posColon                // after a key
	posAfter                // after a value inside a container
	posEnd                  // after the answer's value
)

// step moves the grammar past c, a byte outside strings, and reports
// whether c may stand there. It checks only what tells keys from values
// and containers apart; a literal's spelling ("tru") is the caller's
// parser's to refuse, and cannot hide a string.
func (j *jsonLinks) step(c byte) bool {
	lit := false
	switch c {
	case ' ', '\t', '\r', '\n':
	case '"':
		switch j.at {
		case posKey:
			j.at = posColon
		case posValue, posStart:
			j.at = j.afterValue()
		default:
			return false
		}
	case ':':
		if j.at != posColon {
			return false
		}
		j.at = posValue
	case ',':
		if j.at != posAfter {
			return false
		}
		j.at = posValue
		if j.inObject() {
			j.at = posKey
		}
	case '{', '[':
		if j.at != posValue && j.at != posStart {
			return false
		}
		j.at = posValue
		if c == '{' {
			j.at = posKey
		}
	case '}', ']':
		if j.depth == 0 || j.inObject() != (c == '}') {
			return false
		}
		if c == '}' && j.at != posKey && j.at != posAfter || c == ']' && j.at != posValue && j.at != posAfter {
			return false
		}
		j.at = posAfter
		if j.depth == 1 {
			j.at = posEnd
		}
	default:
		switch {
		case j.at == posValue || j.at == posStart:
			j.at = j.afterValue()
		case !j.inLit:
			return false
		}
		lit = true
	}
	j.inLit = lit
	return true
}

// cut reports whether the answer read so far stops inside its value: in
// a string or a container, or after a key or a comma. Nothing at all is
// no answer, and whole.
func (j *jsonLinks) cut() bool {
	return j.inString || j.depth > 0 || j.overflow > 0 || j.at != posStart && j.at != posEnd
}

func (j *jsonLinks) afterValue() jsonPos {
	if j.depth == 0 {
		return posEnd
	}
	return posAfter
}

func (j *jsonLinks) Read(p []byte) (int, error) {
	for j.pos == len(j.out) {
		if j.err != nil {
			return 0, j.err
		}
		j.out, j.pos = j.out[:0], 0
		n, err := j.src.Read(*j.in)
		j.scan((*j.in)[:n])
		if j.bad != nil {
			// What was scanned before the fault goes out; nothing after
			// it was examined.
			j.err = j.bad
			continue
		}
		if err == io.EOF && j.withhold && j.cut() {
			// The document ends before its value does: nothing tells
			// what its last string was to be, or that what came is the
			// whole. Refused, as a malformed one is (fail closed).
			j.err = errAnswerMalformed
			continue
		}
		if err != nil {
			// Truncated inside a link: a paging link is emitted as held;
			// a value that may lead elsewhere is not.
			if j.hold && (j.holdKind == linkValue || j.holdKind == headerValue && !j.withhold) {
				j.out = append(j.out, '"')
				j.out = append(j.out, j.val...)
			}
			j.hold = false
			j.err = err
		}
	}
	n := copy(p, j.out[j.pos:])
	j.pos += n
	return n, nil
}

func (j *jsonLinks) Close() error {
	if j.in != nil {
		inPool.Put(j.in)
		*j.outp = j.out[:0]
		outPool.Put(j.outp)
		j.in, j.outp, j.out = nil, nil, nil
	}
	return j.src.Close()
}

// plainRuns lets scan copy a plain string value's bytes up to its end or
// its next escape at once, instead of one at a time: most of an answer's
// bytes are such values. Tests turn it off to hold the two ways to the
// same output (FuzzLinkRewriter).
var plainRuns = true

func (j *jsonLinks) scan(b []byte) {
	for i := 0; i < len(b); i++ {
		if plainRuns && j.inString && !j.isKey && !j.hold && !j.discard && !j.escape {
			if n := plainRun(b[i:]); n > 0 {
				j.out = append(j.out, b[i:i+n]...)
				if i += n; i == len(b) {
					break
				}
			}
		}
		c := b[i]
		if j.inString {
			switch {
			case j.hold:
				j.val = append(j.val, c)
			case j.discard:
			default:
				j.out = append(j.out, c)
			}
			if j.hold && j.holdKind == bodyValue && len(j.val) == response.BodySniff && (c != '"' || j.escape) {
				// Its start is in: JSON, withheld however long it is;
				// anything else is read on as any other string.
				if bodyReadsAsJSON(j.val, false) {
					j.hold, j.discard = false, true
				} else if j.holdKind, j.lead = credentialValue, response.LeadStart.Steps(j.val); j.lead == response.LeadText {
					j.hold = false
					j.out = append(j.out, '"')
					j.out = append(j.out, j.val...)
				}
			} else if j.hold && j.holdKind == credentialValue && j.lead.Open() && (c != '"' || j.escape) {
				if j.lead = j.lead.Step(c); j.lead == response.LeadText {
					// No URL with a credential at its start: the
					// value goes out as it comes.
					j.hold = false
					j.out = append(j.out, '"')
					j.out = append(j.out, j.val...)
				}
			}
			switch {
			case j.escape:
				j.escape = false
				j.keyU = j.keyU || c == 'u'
				j.keyByte(c)
			case c == '\\':
				j.escape = true
				j.keyEsc = true
				j.keyByte(c)
			case c == '"':
				j.endString()
			default:
				j.keyByte(c)
			}
			if j.hold && len(j.val) > maxLinkBytes {
				j.hold = false
				if j.holdKind == externalValue || j.holdKind == headerValue && j.withhold ||
					j.holdKind == credentialValue && j.l.credentialURL(j.val, false) {
					j.discard = true // withheld however long it is
				} else {
					j.out = append(j.out, '"')
					j.out = append(j.out, j.val...)
				}
			}
			continue
		}
		if j.withhold && !j.step(c) {
			j.bad = errAnswerMalformed
			return // refused: nothing from this byte on goes out
		}
		j.out = append(j.out, c)
		switch c {
		case '"':
			j.inString = true
			j.isKey = j.inObject() && j.expectKey
			if j.isKey {
				j.keyBuf, j.keyOK, j.keyEsc, j.keyU = j.keyBuf[:0], true, false, false
			} else if kind := j.valueKind(); kind != plainValue && !(kind == credentialValue && response.LeadStart.Text(b[i+1:])) {
				// Hold the value back: drop the quote just written. (A
				// credentialValue whose start, read ahead here, is no
				// URL's streams as a plain one does.)
				j.out = j.out[:len(j.out)-1]
				j.hold = true
				j.holdKind = kind
				j.val = j.val[:0]
				j.lead = response.LeadStart
			}
			j.linkNext, j.batchKey, j.keyScope = plainValue, roleNone, scopePlain
		case ':':
			j.expectKey = false
		case ',':
			j.expectKey = j.inObject()
			j.linkNext, j.batchKey, j.keyScope = plainValue, roleNone, scopePlain
		case '{', '[':
			if !j.push(c == '{') {
				return // refused: nothing after this byte is examined
			}
			j.expectKey = c == '{'
			j.linkNext, j.batchKey, j.keyScope = plainValue, roleNone, scopePlain
		case '}', ']':
			j.pop()
			j.expectKey = false
			j.linkNext, j.batchKey, j.keyScope = plainValue, roleNone, scopePlain
		case ' ', '\t', '\r', '\n':
		default:
			j.linkNext, j.batchKey, j.keyScope = plainValue, roleNone, scopePlain
		}
	}
}

// plainRun is how many bytes of b come before the first quote or
// backslash: in a string value, bytes the scanner copies as they are.
func plainRun(b []byte) int {
	n := bytes.IndexByte(b, '"')
	if n < 0 {
		n = len(b)
	}
	if e := bytes.IndexByte(b[:n], '\\'); e >= 0 {
		n = e
	}
	return n
}

// keyByte adds c to the key being tracked. Of a key longer than
// maxKeyBytes only the last bytes are kept: no name the rules spell is
// that long, but one may end in Url.
func (j *jsonLinks) keyByte(c byte) {
	if !j.isKey {
		return
	}
	if len(j.keyBuf) >= maxKeyBytes {
		j.keyOK = false
		j.keyBuf = append(j.keyBuf[:0], j.keyBuf[len(j.keyBuf)-keyTail:]...)
	}
	j.keyBuf = append(j.keyBuf, c)
}

func (j *jsonLinks) endString() {
	j.inString = false
	if j.isKey {
		j.isKey = false
		if j.keyOK {
			key := j.keyBuf
			if j.keyEsc {
				// "@odata.next\u004cink" is @odata.nextLink to any
				// JSON reader.
				var k string
				if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k) == nil {
					key = []byte(k)
				}
			}
			j.batchKey = batchKeyRole(key)
			j.keyScope = scopeOf(key)
			j.linkNext = memberKind(key, j.scopes[j.depth-1], j.topObject(), j.withhold)
			if j.linkNext == externalValue {
				j.extKey = externalKey(key)
			}
		} else if j.withhold && (j.keyU || linkName(foldKey(&j.keyFold, j.keyBuf))) {
			// A name too long to be Graph's, read by its raw end: no
			// escape but \u stands for a letter, so without one it ends
			// as it would decoded; with one, it may end in anything.
			j.linkNext = headerValue
		}
		return
	}
	if j.discard {
		j.discard = false
		j.out = append(j.out, '"', '"')
		j.withheld++
		return
	}
	if j.hold {
		j.hold = false
		raw := j.val[:len(j.val)-1] // without the closing quote
		j.out = append(j.out, '"')
		if j.holdKind == bodyValue {
			if bodyReadsAsJSON(raw, true) || j.l.credentialURL(raw, true) {
				j.withheld++
			} else {
				j.out = append(j.out, raw...)
			}
		} else if j.holdKind == credentialValue {
			// Ended before the scheme's colon, the slashes or a
			// query: a word, no URL with a credential, passed
			// without judging.
			if !j.lead.Open() && j.l.credentialURL(raw, true) {
				j.withheld++
			} else {
				j.out = append(j.out, raw...)
			}
		} else if j.holdKind == headerValue {
			mark := len(j.out)
			out, u := j.l.headerURLs(j.out, raw, jsonChars, true)
			if j.withhold && u.elsewhere {
				out = out[:mark]
				j.withheld++
			}
			j.out = out
		} else if split, ok := j.l.rawPrefix(raw); ok {
			j.out = append(j.out, j.l.to...)
			j.out = append(j.out, raw[split:]...)
		} else if j.holdKind == externalValue {
			if link, ok := j.minted(raw); ok {
				j.out = append(j.out, link...)
			} else {
				j.withheld++
			}
		} else {
			j.out = append(j.out, raw...)
		}
		j.out = append(j.out, '"')
	}
}

// rawPrefix reports whether the JSON string contents raw (still escaped)
// start with the Graph origin followed by '/', '?', '#' or the end, and
// returns the raw offset just past the origin. Escapes are decoded for the
// comparison only; the bytes after the origin are kept as they are.
func (l *LinkRewriter) rawPrefix(raw []byte) (int, bool) {
	return l.prefix(raw, jsonChars)
}

// prefix is rawPrefix for contents decoded by dec.
func (l *LinkRewriter) prefix(raw []byte, dec decoder) (int, bool) {
	want := string(l.from)
	i, matched := 0, 0
	for matched < len(want) {
		if i >= len(raw) {
			return 0, false
		}
		r, n := dec.next(raw[i:])
		if n == 0 || r >= utf8.RuneSelf || lower(byte(r)) != want[matched] {
			return 0, false
		}
		i += n
		matched++
	}
	if i == len(raw) {
		return i, true
	}
	r, n := dec.next(raw[i:])
	if n == 0 || (r != '/' && r != '?' && r != '#') {
		return 0, false
	}
	return i, true
}

func (j *jsonLinks) inObject() bool {
	return j.overflow == 0 && j.depth > 0 && j.stack[j.depth-1]
}

// push opens a container, and reports false when the answer is refused
// for it: nested deeper than maxDepth while external links are withheld.
func (j *jsonLinks) push(obj bool) bool {
	if j.depth == maxDepth {
		if j.withhold {
			j.bad = errAnswerTooDeep
			return false
		}
		j.overflow++
		return true
	}
	j.roles[j.depth] = j.childRole(obj)
	if !obj {
		j.kinds[j.depth] = j.listKind()
	}
	j.scopes[j.depth] = j.keyScope
	if j.depth > 0 && !j.stack[j.depth-1] {
		j.scopes[j.depth] = j.scopes[j.depth-1] // a list's element
	}
	j.stack[j.depth] = obj
	j.depth++
	return true
}

func (j *jsonLinks) pop() {
	switch {
	case j.overflow > 0:
		j.overflow--
	case j.depth > 0:
		j.depth--
	}
}
