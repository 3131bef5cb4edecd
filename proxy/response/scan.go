package response

import (
	"bytes"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
	"github.com/graph-proxy/graph-proxy/policy"
)

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

// role is what a container is to the answer.
type role uint8

const (
	roleEntity    role = iota // filtered by its node
	roleRoot                  // the answer's object: a value list in it is the collection
	roleBatch                 // a $batch answer's object
	roleBatchList             // its responses list
	roleSub                   // one sub-response
	roleHeaders               // a sub-response's headers, and all within them
	// roleSectionHeaders are roleHeaders of a sub-response whose body a
	// section filters (or may: its id not yet read or not a request's).
	// What the section removes or pseudonymises there, its headers could
	// name (Location: …/events/{id}): every value that is or holds a URL
	// is withheld, and the members urlHeader names are removed.
	roleSectionHeaders
)

func isHeaders(r role) bool { return r == roleHeaders || r == roleSectionHeaders }

// urlHeaders are the headers whose values are URLs, even relative ones.
var urlHeaders = []string{"location", "content-location", "odata-entityid"}

// URLHeader reports whether name, ASCII case aside, is a header whose
// value is a URL, even a relative one: Location, Content-Location,
// OData-EntityId.
func URLHeader[T ~string | ~[]byte](name T) bool {
	for _, h := range urlHeaders {
		if ascii.EqualFold(name, h) {
			return true
		}
	}
	return false
}

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

// what becomes of a value: its action and, for a container, its frame.
type target struct {
	drop  bool
	hash  bool
	count bool // a removal to count
	link  LinkKind
	ctl   ctlKind // a string checked as this control annotation
	fr    frame
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

// elementTarget decides an element of a list: lists are transparent.
func (f *Filter) elementTarget(parent *frame, c byte) target {
	switch {
	case parent.drop:
		return target{drop: true}
	case parent.role == roleBatchList:
		if c != '{' {
			f.unfilterable("a $batch response that is not an object")
		}
		f.sub.idSeen, f.sub.idOK, f.sub.statusSeen, f.sub.statusOK = false, false, false, false
		return target{fr: frame{role: roleSub, node: wholeRoot}}
	}
	t := f.nodeTarget(parent.node, c)
	if !t.drop && !t.hash {
		// A list's strings, and its lists, are what its name made them.
		switch c {
		case '"':
			t.link = parent.link
		case '[':
			t.fr.link = parent.link
		}
	}
	return f.headerTarget(parent, t, c)
}

// headerTarget makes t, a value inside a sub-response's headers, a
// header: containers keep the role, strings are header links.
func (f *Filter) headerTarget(parent *frame, t target, c byte) target {
	if !isHeaders(parent.role) || t.drop || t.hash {
		return t
	}
	t.fr.role = parent.role
	if c == '"' && f.o.Links != nil {
		t.link = HeaderLink
		if parent.role == roleSectionHeaders {
			t.link = SectionHeaderLink
		}
	}
	return t
}

// wholeRoot passes everything: the node of what no section filters.
var wholeRoot = (*policy.Response)(nil).Root()

// nodeTarget decides a value standing at node n.
func (f *Filter) nodeTarget(n *policy.ResponseNode, c byte) target {
	switch {
	case n == nil:
		return target{drop: true, count: true}
	case c != '{' && c != '[' && n.Restricts():
		// A value where only some members pass is none of them.
		return target{drop: true, count: true}
	}
	return target{hash: n.Pseudonymised(), fr: frame{role: roleEntity, node: n}}
}

// controlAnnotations are kept wherever their object is: what the SDKs
// need to page, track changes and tell types and versions apart.
var controlAnnotations = [][]byte{[]byte("@odata.context"), []byte("@odata.count"), []byte("@odata.nextLink"),
	[]byte("@odata.deltaLink"), []byte("@odata.etag"), []byte("@odata.type"), []byte("@removed")}

func isControl(name []byte) bool {
	if len(name) == 0 || name[0] != '@' {
		return false
	}
	for _, k := range controlAnnotations {
		if bytes.Equal(name, k) {
			return true
		}
	}
	return false
}

// property is the property a member name stands for: itself, or for an
// annotation of a property (attendees@odata.type), the property.
func property(name []byte) []byte {
	if len(name) > 0 && name[0] != '@' {
		if i := bytes.IndexByte(name, '@'); i >= 0 {
			return name[:i]
		}
	}
	return name
}

// memberTarget decides a member of an object by its name (f.name).
func (f *Filter) memberTarget(parent *frame, c byte) target {
	if parent.drop {
		return target{drop: true}
	}
	name := f.name
	if parent.role == roleSectionHeaders && URLHeader(name) {
		return target{drop: true, count: true}
	}
	t := target{}
	switch parent.role {
	case roleBatch:
		switch {
		case isControl(name):
			t = target{fr: frame{role: roleEntity, node: wholeRoot}}
		case string(name) == "responses" && c == '[':
			t = target{fr: frame{role: roleBatchList, node: wholeRoot}}
		default:
			t = target{drop: true, count: true}
		}
	case roleSub:
		t = f.subMember(name, c)
	default:
		sect := parent.sect && !isHeaders(parent.role)
		switch {
		case sect && isControl(name):
			t = controlTarget(name, c)
		case isControl(name):
			t = target{fr: frame{role: roleEntity, node: wholeRoot}}
		case parent.role == roleRoot && string(name) == "value" && c == '[':
			t = target{fr: frame{role: roleEntity, node: parent.node}} // the collection
		case len(name) > 0 && name[0] == '@' && (parent.node != wholeRoot || sect):
			// An annotation of an entity a section filters, or of one
			// within its answer (@odata.id, @odata.editLink, any Graph
			// asks for with odata.metadata=full or Prefer): it carries an
			// entity's id or values in forms no section names, so it
			// would carry what the section removes or pseudonymises.
			t = target{drop: true, count: true}
		default:
			t = f.nodeTarget(parent.node.Child(property(name)), c)
			if sect {
				if a := annotationOf(name); a != nil {
					t = propertyAnnotation(a, c, t)
				}
			}
		}
	}
	if !t.drop && !t.hash && f.o.Links != nil {
		switch c {
		case '"':
			t.link = f.o.Links.Kind(name, parent.scope, parent.top, false)
		case '[':
			t.fr.link = f.o.Links.Kind(name, parent.scope, parent.top, true)
		}
	}
	return f.headerTarget(parent, t, c)
}

// sectionedSub reports whether the sub-response being read has its body
// filtered by a section, or may have: its id not read yet, or no
// request's.
func (f *Filter) sectionedSub() bool {
	if !f.anySpec {
		return false
	}
	if !f.sub.idOK {
		return true
	}
	spec, known := f.subs[f.sub.id]
	return !known || spec != nil
}

// subMember decides a member of a $batch sub-response: its id and status
// are read (a body is filtered by them), its headers kept, its body
// filtered by its sub-request's section, anything else removed.
func (f *Filter) subMember(name []byte, c byte) target {
	switch string(name) {
	case "id", "status":
		seen := &f.sub.idSeen
		if name[0] == 's' {
			seen = &f.sub.statusSeen
		}
		if *seen {
			f.unfilterable("a $batch response names its %s twice", name)
		}
		*seen = true
		if name[0] == 'i' && c == '"' || name[0] == 's' && c >= '0' && c <= '9' {
			f.capKind = name[0]
		}
		return target{fr: frame{role: roleEntity, node: wholeRoot}}
	case "headers":
		if f.sectionedSub() {
			return target{fr: frame{role: roleSectionHeaders, node: wholeRoot}}
		}
		return target{fr: frame{role: roleHeaders, node: wholeRoot}}
	case "body":
	default:
		return target{drop: true, count: true}
	}
	var spec *policy.Response
	if f.anySpec {
		if !f.sub.idOK {
			f.unfilterable("a $batch response's body comes before its id")
			return target{}
		}
		var known bool
		spec, known = f.subs[f.sub.id]
		switch {
		case !known:
			f.unfilterable("a $batch response's id is not a request's")
			return target{}
		case spec == ambiguousSection:
			f.unfilterable("a $batch response's id is two requests'")
			return target{}
		}
	}
	if spec == nil {
		return target{fr: frame{role: roleEntity, node: wholeRoot, top: c == '{'}}
	}
	switch {
	case !f.sub.statusOK:
		f.unfilterable("a $batch response's body comes before its status")
		return target{}
	case c != '{':
		f.unfilterable("a $batch response's body is not a JSON object")
		return target{}
	}
	// Counted for the sub-request until the body's object closes.
	f.cur = f.perSub[f.sub.id]
	if f.sub.status >= 400 {
		return target{fr: frame{role: roleEntity, node: policy.ErrorAnswer.Root(), subBody: true, top: true, sect: true}}
	}
	return target{fr: frame{role: roleRoot, node: spec.Root(), subBody: true, top: true, sect: true}}
}
