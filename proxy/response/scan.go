package response

import "github.com/graph-proxy/graph-proxy/policy"

// The tokenizer: a state machine over the answer's bytes that keeps only
// what the next byte needs — the containers open (each with its node in
// the response section), the member name being read, a link value held,
// the state of a number, literal or escape. Every byte is validated as
// encoding/json's scanner would, dropped or not, so that what is dropped
// cannot hide a structure the kept part would be read against.

type state uint8

const (
	stStart      state = iota // before the answer's object
	stValue                   // a value must come
	stFirstValue              // after '[': a value or ']'
	stFirstKey                // after '{': a name or '}'
	stKey                     // after ',' in an object: a name
	stColon                   // after a name: ':'
	stAfter                   // after a value in a container: ',' or its closer
	stEnd                     // after the answer's object: white space only
	stString                  // in a string
	stEscape                  // after a backslash
	stHex                     // in \uXXXX
	stNumber                  // in a number
	stLiteral                 // in true, false or null
)

type frame struct {
	obj     bool
	drop    bool // validated only, nothing written
	role    role
	node    *policy.ResponseNode
	wrote   bool // a member or element was written: a comma precedes the next
	subBody bool // a sub-response's body: its counts end with it
	top     bool // the answer's object or a sub-response's body (Links.Kind)
	sect    bool // within an answer or a sub-response's body a section filters (control.go)
	scope   LinkScope
	link    LinkKind // a list's: what its strings are
}

// sink is where a string's, number's or literal's bytes go.
type sink uint8

const (
	sinkOut     sink = iota // copied
	sinkDrop                // validated only
	sinkKey                 // a member name, held
	sinkHold                // a link value, held
	sinkDiscard             // an external link too long to hold: withheld
	sinkHash                // pseudonymised
	sinkCapture             // a sub-response's id or status: copied and held
	sinkControl             // a control annotation under a section: held, checked
)

// Number states, as in encoding/json's scanner.
const (
	numSign  uint8 = iota // after '-'
	numZero               // a leading 0
	numInt                // in the integer part
	numDot                // after '.'
	numFrac               // in the fraction
	numE                  // after 'e'
	numESign              // after the exponent's sign
	numExp                // in the exponent
)

// maxLinkBytes bounds a link value held for rewriting; longer values pass
// through unchanged, but for an external link, always withheld, and a
// header value, withheld unless its first maxLinkBytes+1 bytes show it
// relative. Graph's skip tokens are well under it. It is the link
// rewriter's bound.
const maxLinkBytes = 16 << 10

// maxCapture bounds a sub-response's id or status held.
const maxCapture = 1 << 10

type scanner struct {
	st     state
	stack  []frame
	offset int64 // bytes read before the current one
	bad    error
	held   bool // the answer's closing brace, written at a clean end

	sink     sink
	hexLeft  uint8
	num      uint8
	lit      string
	litPos   int
	scalarBy sink // the sink of the current number or literal
	tag      byte // the pseudonymised value's kind

	key     []byte // the member name, raw
	keyDec  []byte // decoded, when it has escapes or invalid UTF-8
	name    []byte // keyDec or key, decoded
	linkK   LinkKind
	lead    Lead   // a held CredentialLink's start, read
	val     []byte // a held link value
	capture []byte
	capKind byte // 'i' id, 's' status
	ctl     ctlKind
	ctlLong bool // the held control annotation outgrew maxLinkBytes
	unq     unquoter
	one     [1]byte

	sub struct {
		idSeen, idOK, statusSeen, statusOK bool
		id                                 string
		status                             int
	}
}

func (s *scanner) init() {
	s.stack = make([]frame, 0, 16)
}

// top is the innermost container; the caller knows there is one.
func (s *scanner) top() *frame { return &s.stack[len(s.stack)-1] }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scan consumes input until it is used up, the output is full, or the
// answer turns out unfilterable.
func (f *Filter) scan() {
	b := f.in
	i := 0
	for i < len(b) && f.bad == nil && len(f.out) < f.limit {
		c := b[i]
		switch f.st {
		case stString:
			// A run of plain bytes goes to the sink at once.
			j := i
			for j < len(b) {
				if d := b[j]; d == '"' || d == '\\' || d < 0x20 {
					break
				}
				j++
			}
			if j > i {
				f.strBytes(b[i:j])
				f.offset += int64(j - i)
				i = j
				continue
			}
			switch {
			case c == '"':
				f.endString()
			case c == '\\':
				f.strBytes(b[i : i+1])
				f.st = stEscape
			default:
				f.unfilterable("control character in a string")
			}
		case stEscape:
			switch c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				f.st = stString
			case 'u':
				f.st, f.hexLeft = stHex, 4
			default:
				f.unfilterable("invalid escape in a string")
			}
			f.strBytes(b[i : i+1])
		case stHex:
			if HexValue(c) < 0 {
				f.unfilterable("invalid \\u escape in a string")
				break
			}
			f.strBytes(b[i : i+1])
			if f.hexLeft--; f.hexLeft == 0 {
				f.st = stString
			}
		case stNumber:
			j := i
			for j < len(b) && f.numByte(b[j]) {
				j++
			}
			if j > i {
				f.scalarBytes(b[i:j])
				f.offset += int64(j - i)
				i = j
				continue
			}
			if !f.numEnds() {
				f.unfilterable("malformed number")
				break
			}
			f.endScalar()
			continue // the byte is read again, after the number
		case stLiteral:
			if c != f.lit[f.litPos] {
				f.unfilterable("malformed literal")
				break
			}
			f.scalarBytes(b[i : i+1])
			if f.litPos++; f.litPos == len(f.lit) {
				f.endScalar()
			}
		default:
			if isSpace(c) {
				break
			}
			f.structural(c)
		}
		i++
		f.offset++
	}
	f.in = b[i:]
}

// structural reads a byte outside strings, numbers and literals.
func (f *Filter) structural(c byte) {
	switch f.st {
	case stStart:
		if c != '{' {
			f.unfilterable("the answer is not a JSON object")
			return
		}
		fr := frame{obj: true, role: roleRoot, node: f.o.Response.Root(), top: true, sect: f.o.Response != nil}
		switch {
		case f.o.Status >= 400:
			fr.role, fr.node = roleEntity, policy.ErrorAnswer.Root()
		case f.o.Batch != nil:
			fr.role = roleBatch
		}
		f.out = append(f.out, '{')
		f.push(fr)
		f.st = stFirstKey
	case stFirstKey, stKey:
		switch {
		case c == '"':
			f.key, f.sink, f.st = f.key[:0], sinkKey, stString
		case c == '}' && f.st == stFirstKey:
			f.close()
		default:
			f.unfilterable("want a member name")
		}
	case stColon:
		if c != ':' {
			f.unfilterable("want ':'")
			return
		}
		f.st = stValue
	case stFirstValue:
		if c == ']' {
			f.close()
			return
		}
		f.value(c)
	case stValue:
		f.value(c)
	case stAfter:
		fr := f.top()
		switch {
		case c == ',':
			if fr.obj {
				f.st = stKey
			} else {
				f.st = stValue
			}
		case c == '}' && fr.obj, c == ']' && !fr.obj:
			f.close()
		default:
			f.unfilterable("want ',' or the end of the container")
		}
	case stEnd:
		f.unfilterable("data after the answer's object")
	}
}

func (f *Filter) push(fr frame) {
	if len(f.stack) == MaxDepth {
		f.unfilterable("nested deeper than %d", MaxDepth)
		return
	}
	f.stack = append(f.stack, fr)
}

// close ends the innermost container.
func (f *Filter) close() {
	fr := f.top()
	if fr.subBody {
		f.cur = nil
	}
	f.stack = f.stack[:len(f.stack)-1]
	if len(f.stack) == 0 {
		f.held, f.st = true, stEnd // written once the answer has ended well
		return
	}
	if !fr.drop {
		if fr.obj {
			f.out = append(f.out, '}')
		} else {
			f.out = append(f.out, ']')
		}
	}
	f.st = stAfter
}

// finish checks the end of the answer: nothing at all, or one whole object.
func (f *Filter) finish() {
	switch {
	case f.st == stStart:
	case f.st == stEnd && f.held:
		f.out = append(f.out, '}')
		f.held = false
	case f.st != stEnd:
		f.unfilterable("the answer ends early")
	}
}

// value starts a value at its first byte c: decided, announced (its
// member name or comma written), then read.
func (f *Filter) value(c byte) {
	parent := f.top()
	var t target
	if parent.obj {
		t = f.memberTarget(parent, c)
	} else {
		t = f.elementTarget(parent, c)
	}
	if f.bad != nil {
		return
	}
	if t.count {
		f.removed()
	}
	if !t.drop {
		if parent.wrote {
			f.out = append(f.out, ',')
		}
		parent.wrote = true
		if parent.obj {
			f.out = append(f.out, '"')
			f.out = append(f.out, f.key...)
			f.out = append(f.out, '"', ':')
		}
	}
	switch c {
	case '{', '[':
		t.fr.obj, t.fr.drop = c == '{', t.drop
		t.fr.sect = t.fr.sect || parent.sect
		switch {
		case f.o.Links == nil || t.drop:
		case parent.obj:
			t.fr.scope = f.o.Links.Scope(f.name)
		default:
			t.fr.scope = parent.scope
		}
		if !t.drop {
			f.out = append(f.out, c)
		}
		f.push(t.fr)
		if t.fr.obj {
			f.st = stFirstKey
		} else {
			f.st = stFirstValue
		}
		return
	case '"':
		f.st = stString
		switch {
		case t.drop:
			f.sink = sinkDrop
		case t.hash:
			f.sink, f.tag = sinkHash, 's'
			f.startHash()
		case t.ctl != ctlNone:
			f.sink, f.ctl, f.ctlLong, f.linkK, f.val = sinkControl, t.ctl, false, t.link, f.val[:0]
		case f.capKind != 0:
			f.sink, f.capture = sinkCapture, f.capture[:0]
			f.out = append(f.out, '"')
		case t.link != NotLink:
			f.sink, f.linkK, f.val, f.lead = sinkHold, t.link, f.val[:0], LeadStart
		default:
			f.sink = sinkOut
			f.out = append(f.out, '"')
		}
		return
	case 't', 'f', 'n':
		f.lit = literals[c]
		f.st, f.litPos = stLiteral, 1
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		f.st = stNumber
		f.num = numInt
		switch c {
		case '-':
			f.num = numSign
		case '0':
			f.num = numZero
		}
	default:
		f.unfilterable("want a value")
		return
	}
	// A number or a literal: null stays null, whatever the section says.
	switch {
	case t.drop:
		f.scalarBy = sinkDrop
	case t.hash && c != 'n':
		f.scalarBy, f.tag = sinkHash, 'b'
		if f.st == stNumber {
			f.tag = 'n'
		}
		f.startHash()
	case f.capKind != 0:
		f.scalarBy, f.capture = sinkCapture, f.capture[:0]
	default:
		f.scalarBy = sinkOut
	}
	f.one[0] = c
	f.scalarBytes(f.one[:])
}

var literals = [256]string{'t': "true", 'f': "false", 'n': "null"}
