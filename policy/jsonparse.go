package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonParser reads a request body in one pass into what encoding/json
// decodes into an any with UseNumber (map[string]any, []any, string,
// json.Number, bool, nil), refusing on the way what the policy does not
// read: nesting deeper than maxJSONDepth, two keys of one object equal but
// for case, more than maxKeysPerObject keys in an object, a key that is not
// valid UTF-8, anything after the value. FuzzParseJSON holds it to the
// token-by-token reference, parseJSONTokens.
//
// With members set it builds less, at the same strictness: of a top-level
// object only the members members names (compared as keys are), of any
// other top-level value nothing. What it does not build it still reads and
// checks, without allocating: a 2 KB event body costs a few small maps
// instead of one per object and a string per key and value.
type jsonParser struct {
	b []byte
	i int
	// members, when not nil, are the top-level members built.
	members [][]byte
	// watch, when set, is a key looked for in every object, built or not;
	// watched reports whether some object had it (compared as
	// strings.EqualFold compares).
	watch   []byte
	watched bool
	// people, when set, looks in every object for personKeys and
	// references, and at every string for one that names someone
	// (namesSomeone: an address under any key); peopleSeen reports
	// whether the body had one.
	people     bool
	peopleSeen bool
	// annotations, when set, looks in every object for an annotation the
	// proxy does not know (customAnnotation); annotation is the first.
	annotations bool
	annotation  string
	// lean builds the whole document's shape but, of its strings and
	// numbers, only those the policy reads: under the top-level members
	// (bodyMembers) and the keys that name people (leanKeep). The others
	// are leanString and leanNumber, of the right type; an event's
	// kilobytes of HTML are checked, not copied. keepScalars says whether
	// the value being read is one to build.
	lean        bool
	keepScalars bool
	// spans, when record is set, are the body's objects and lists in the
	// order they open, with where each closes: what rawBody.init finds in
	// a pass of its own, found on the way (the body walked for its people
	// is one this parser accepted).
	record bool
	spans  []rawSpan
	// keys are the keys so far of the objects being read, the innermost's
	// last: each object's own room for them, in a list, rather than in its
	// frame, since a body is read on the goroutine that serves the call
	// and every level of it costs that stack its frame.
	keys [][]byte
}

// fewKeys is how many keys of an object are compared as they are before
// they are kept in their folded form.
const fewKeys = 16

var errJSONEnd = errors.New("unexpected end of the body")

func (p *jsonParser) parse() (any, error) {
	keys := lend[[]byte](&keyLists)
	p.keys = *keys
	defer func() { giveBack(&keyLists, keys, p.keys) }()
	v, err := p.value(0, true)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.b) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// stringValue reads a string, value's leaf. It is a frame of its own so
// that the levels of a body (value, object and array recurse) do not each
// hold what reading a string and looking at it for people needs: a call's
// stack over HTTP/1.1 has room for a few levels only (TestCallStack,
// docs/architecture.md).
//
//go:noinline
func (p *jsonParser) stringValue(build bool) (any, error) {
	start := p.i
	if build && p.lean && !p.keepScalars {
		_, _, err := p.str(false)
		if err != nil || !mayHoldAt(p.b[start+1:p.i-1]) {
			return leanString, err
		}
		// A string that may be an address is kept: the finder reads
		// it under any key (peopletext.go).
		return p.text(start), nil
	}
	s, _, err := p.str(build)
	if err != nil {
		return nil, err
	}
	if p.people && !p.peopleSeen && mayHoldAt(p.b[start+1:p.i-1]) {
		p.peopleSeen = namesSomeone(p.text(start))
	}
	if !build {
		return nil, nil
	}
	return string(s), nil
}

func (p *jsonParser) unexpected(what string) error {
	if p.i >= len(p.b) {
		return errJSONEnd
	}
	return fmt.Errorf("invalid character %s %s", strconv.QuoteRune(rune(p.b[p.i])), what)
}

// value reads a value; it builds it when build is set (and, at the top,
// members allows), and returns nil otherwise.
func (p *jsonParser) value(depth int, build bool) (any, error) {
	p.space()
	if p.i >= len(p.b) {
		return nil, errJSONEnd
	}
	if depth == 0 && p.members != nil && p.b[p.i] != '{' {
		build = false
	}
	switch c := p.b[p.i]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
		}
		if c == '{' {
			return p.object(depth, build)
		}
		return p.array(depth, build)
	case c == '"':
		return p.stringValue(build)
	case c == '-' || ('0' <= c && c <= '9'):
		if build && p.lean && !p.keepScalars {
			_, err := p.number(false)
			return leanNumber, err
		}
		return p.number(build)
	case c == 't':
		return nilUnless(build, true), p.literal("true")
	case c == 'f':
		return nilUnless(build, false), p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.unexpected("looking for beginning of value")
}

func nilUnless(build bool, v any) any {
	if build {
		return v
	}
	return nil
}

func (p *jsonParser) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if p.i >= len(p.b) {
			return errJSONEnd
		}
		if p.b[p.i] != lit[k] {
			return p.unexpected("in literal " + lit)
		}
		p.i++
	}
	return nil
}

func (p *jsonParser) object(depth int, build bool) (any, error) {
	span := p.open()
	p.i++ // {
	var obj map[string]any
	if build {
		obj = map[string]any{}
	}
	// Duplicates are looked for among the keys so far: by comparison while
	// there are few, then by their folded form, so that an object of many
	// keys costs linear time, not quadratic. A key without escapes is a
	// slice of the body, not a copy.
	start := len(p.keys) // this object's keys follow
	var folded map[string]struct{}
	keys := 0
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.close(span)
		return nilUnless(build, obj), nil
	}
	defer func() { p.keys = p.keys[:start] }()
	for {
		key, err := p.objectKey(start, &keys, &folded)
		if err != nil {
			return nil, err
		}
		keep := build && (depth > 0 || p.members == nil || p.member(key))
		outer := p.keepScalars
		if p.lean {
			p.keepScalars = outer || p.keepUnder(key, depth)
		}
		v, err := p.value(depth+1, keep)
		p.keepScalars = outer
		if err != nil {
			return nil, err
		}
		if keep {
			obj[keyString(key)] = v
		}
		if done, err := p.separator('}', "after object key:value pair"); done || err != nil {
			p.close(span)
			return nilUnless(build, obj), err
		}
	}
}

// objectKey reads an object's next key, from its opening quote to the
// colon after it, and checks it: valid UTF-8, no character whose case is
// ASCII, no key before it in the object the same (p.keys from start, or
// folded once there are many of them), no more than maxKeysPerObject;
// and it notes what the parser watches keys for. Apart from object so
// that object's frame, one on the stack per level of the body, holds none
// of it (TestCallStack).
//
//go:noinline
func (p *jsonParser) objectKey(start int, keys *int, folded *map[string]struct{}) ([]byte, error) {
	p.space()
	if p.i >= len(p.b) {
		return nil, errJSONEnd
	}
	if p.b[p.i] != '"' {
		return nil, p.unexpected("looking for beginning of object key string")
	}
	key, valid, err := p.str(true)
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, errors.New("a key is not valid UTF-8")
	}
	if foldsToASCII(key) {
		return nil, fmt.Errorf("key %s has a character whose case is ASCII", shownName(string(key)))
	}
	dup := false
	var fk string // key's folded form, once keys are kept that way
	if *folded != nil {
		fk = foldKey(key)
		_, dup = (*folded)[fk]
	} else {
		for _, seen := range p.keys[start:] {
			if sameKey(seen, key) {
				dup = true
				break
			}
		}
	}
	if dup {
		return nil, fmt.Errorf("key %s appears twice in one object", shownName(string(key)))
	}
	if *keys >= maxKeysPerObject {
		return nil, fmt.Errorf("more than %d keys in one object", maxKeysPerObject)
	}
	*keys++
	switch {
	case *folded != nil:
		(*folded)[fk] = struct{}{}
	case len(p.keys)-start < fewKeys:
		p.keys = append(p.keys, key)
	default:
		*folded = make(map[string]struct{}, 4*fewKeys)
		for _, k := range append(p.keys[start:], key) {
			(*folded)[foldKey(k)] = struct{}{}
		}
	}
	if p.watch != nil && !p.watched && bytes.EqualFold(key, p.watch) {
		p.watched = true
	}
	if p.people && !p.peopleSeen && isPersonKey(key) {
		p.peopleSeen = true
	}
	if p.annotations && p.annotation == "" && customAnnotation(key) {
		p.annotation = string(key)
	}
	p.space()
	if p.i >= len(p.b) {
		return nil, errJSONEnd
	}
	if p.b[p.i] != ':' {
		return nil, p.unexpected("after object key")
	}
	p.i++
	return key, nil
}

// member reports whether a top-level key is one of members.
func (p *jsonParser) member(key []byte) bool {
	for _, m := range p.members {
		if sameKey(m, key) {
			return true
		}
	}
	return false
}

func (p *jsonParser) array(depth int, build bool) (any, error) {
	span := p.open()
	p.i++ // [
	var arr []any
	if build {
		arr = []any{}
	}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.close(span)
		return nilUnless(build, arr), nil
	}
	for {
		v, err := p.value(depth+1, build)
		if err != nil {
			return nil, err
		}
		if build {
			arr = append(arr, v)
		}
		if done, err := p.separator(']', "after array element"); done || err != nil {
			p.close(span)
			return nilUnless(build, arr), err
		}
	}
}

// text is the string that opens at start, decoded.
func (p *jsonParser) text(start int) string {
	q := jsonParser{b: p.b, i: start}
	s, _, _ := q.str(true)
	return string(s)
}

// open records the object or list that opens at p.i, when spans are
// recorded, and returns its index for close.
func (p *jsonParser) open() int {
	if !p.record {
		return -1
	}
	p.spans = append(p.spans, rawSpan{open: p.i})
	return len(p.spans) - 1
}

// close records where span ends: the byte before p.i, its closing one.
// On an error the spans are not read.
func (p *jsonParser) close(span int) {
	if span >= 0 {
		p.spans[span].close = p.i - 1
	}
}

// separator reads what follows a member or an element: a comma, more to
// come, or the closing byte, done.
func (p *jsonParser) separator(closing byte, after string) (done bool, err error) {
	p.space()
	if p.i >= len(p.b) {
		return false, errJSONEnd
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.unexpected(after)
}

// number reads a number by JSON's grammar and, when build is set, keeps its
// text, as json.Number.
func (p *jsonParser) number(build bool) (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	switch {
	case p.i >= len(p.b):
		return nil, errJSONEnd
	case p.b[p.i] == '0':
		p.i++
	case '1' <= p.b[p.i] && p.b[p.i] <= '9':
		digits()
	default:
		return nil, p.unexpected("in numeric literal")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.i >= len(p.b) {
			return nil, errJSONEnd
		}
		if digits() == 0 {
			return nil, p.unexpected("after decimal point in numeric literal")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.i >= len(p.b) {
			return nil, errJSONEnd
		}
		if digits() == 0 {
			return nil, p.unexpected("in exponent of numeric literal")
		}
	}
	if !build {
		return nil, nil
	}
	return json.Number(p.b[start:p.i]), nil
}

// str reads a string. Like encoding/json, it decodes escapes (a lone
// surrogate becomes U+FFFD) and replaces invalid UTF-8 with U+FFFD;
// valid reports whether the raw bytes were valid UTF-8. A string of plain
// ASCII without escapes is returned as a slice of the body; any other is
// decoded into a new slice when build is set, and only checked when not
// (s is then nil).
func (p *jsonParser) str(build bool) (s []byte, valid bool, err error) {
	p.i++ // "
	start := p.i
	// The common case: no escapes and plain ASCII up to the quote, taken
	// eight bytes at a time while none of them needs a look.
	for p.i+8 <= len(p.b) && plainASCII8(binary.LittleEndian.Uint64(p.b[p.i:])) {
		p.i += 8
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s = p.b[start:p.i:p.i]
			p.i++
			return s, true, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.i++
	}
	var out []byte
	if build {
		out = make([]byte, p.i-start, p.i-start+16)
		copy(out, p.b[start:p.i])
	}
	valid = true
	for {
		if p.i >= len(p.b) {
			return nil, false, errJSONEnd
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, valid, nil
		case c < 0x20:
			return nil, false, p.unexpected("in string literal")
		case c == '\\':
			p.i++
			if p.i >= len(p.b) {
				return nil, false, errJSONEnd
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return nil, false, err
				}
				if utf16.IsSurrogate(r) {
					// A pair decodes to one rune; anything else is U+FFFD.
					r2 := rune(-1)
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						if r2, err = p.hex4(); err != nil {
							return nil, false, err
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
						} else {
							p.i, r = save, utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				if build {
					out = utf8.AppendRune(out, r)
				}
				continue
			default:
				p.i--
				return nil, false, p.unexpected("in string escape code")
			}
			if build {
				out = append(out, e)
			}
		case c < utf8.RuneSelf:
			if build {
				out = append(out, c)
			}
			p.i++
		default:
			r, size := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && size == 1 {
				valid = false
			}
			if build {
				out = utf8.AppendRune(out, r)
			}
			p.i += size
		}
	}
}

// hex4 reads the four hex digits of a \u escape.
func (p *jsonParser) hex4() (rune, error) {
	var r rune
	for k := 0; k < 4; k++ {
		if p.i >= len(p.b) {
			return 0, errJSONEnd
		}
		c := p.b[p.i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, p.unexpected("in \\u hexadecimal character escape")
		}
		r = r<<4 | rune(c)
		p.i++
	}
	return r, nil
}

// plainASCII8 reports whether the eight bytes of w (a string literal's)
// are all printable ASCII other than the quote and the backslash: no byte
// of 0x80 or more, none below 0x20, none equal to '"' or '\\'. Each test is
// the usual has-a-zero-byte trick: (x - 0x01…) &^ x has a high bit set
// exactly when some byte of x is 0 (or, for 0x20…, below 0x20).
func plainASCII8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := w ^ (ones * '"')
	bs := w ^ (ones * '\\')
	return ((q-ones)&^q|(bs-ones)&^bs|(w-ones*0x20)&^w|w)&highs == 0
}
