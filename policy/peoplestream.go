package policy

import (
	"bytes"
	"slices"
	"strings"
)

// The people finder without a tree. A body read directly (not a $batch
// sub-request's, which arrives parsed) is walked in its bytes once the
// strict parser has accepted it: the same members in the same order (keys
// sorted, as walk sorts them), the same checks, the same people and the
// same first problem as walk finds in the parsed document, without
// building it. FuzzWalkRaw holds the two to each other.

// rawBody is a JSON body the strict parser accepted, with where each of
// its objects and lists ends.
type rawBody struct {
	b []byte
	// spans are the objects and lists, in the order they open, as the
	// parser recorded them while it read the body (jsonParser.spans):
	// stepping over a value costs a look-up rather than a scan, so walking
	// a member's value after its object's members were listed reads each
	// byte of the body a bounded number of times, however deep the
	// nesting.
	spans []rawSpan
}

// rawSpan is one object or list: the offsets of its opening and closing
// bytes.
type rawSpan struct{ open, close int }

// stringEnd is the offset just past the string that opens at i: the
// first quote after it not escaped, that is preceded by an even number of
// backslashes.
func (r *rawBody) stringEnd(i int) int {
	for i++; i < len(r.b); i++ {
		q := bytes.IndexByte(r.b[i:], '"')
		if q < 0 {
			break
		}
		i += q
		n := 0
		for n < i && r.b[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
	}
	return len(r.b)
}

// space is the offset of the first byte at or after i that is not white
// space.
func (r *rawBody) space(i int) int {
	for i < len(r.b) {
		switch r.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// end is the offset just past the value that starts at i.
func (r *rawBody) end(i int) int {
	switch r.b[i] {
	case '"':
		return r.stringEnd(i)
	case '{', '[':
		k, ok := slices.BinarySearchFunc(r.spans, i, func(s rawSpan, i int) int { return s.open - i })
		if !ok {
			return len(r.b)
		}
		return r.spans[k].close + 1
	}
	for j := i; j < len(r.b); j++ {
		switch r.b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(r.b)
}

// str decodes the string that starts at i as the strict parser does.
func (r *rawBody) str(i int) string {
	p := jsonParser{b: r.b, i: i}
	s, _, _ := p.str(true)
	return string(s)
}

// rawMember is a member of an object: its key, decoded, and where its
// value starts.
type rawMember struct {
	key   []byte
	value int
}

// members lists the members of the object that starts at i onto out.
func (r *rawBody) members(i int, out []rawMember) []rawMember {
	for i = r.space(i + 1); i < len(r.b) && r.b[i] == '"'; {
		key, v, next := r.member(i)
		out = append(out, rawMember{key: key, value: v})
		i = next
	}
	return out
}

// member reads the member whose key starts at i: its key, where its value
// starts, and where the next member's key (or the object's end) is.
func (r *rawBody) member(i int) (key []byte, v, next int) {
	p := jsonParser{b: r.b, i: i}
	key, _, _ = p.str(true)
	v = r.space(r.space(p.i) + 1) // past the colon
	next = r.space(r.end(v))
	if next < len(r.b) && r.b[next] == ',' {
		next = r.space(next + 1)
	}
	return key, v, next
}

// elements lists where the elements of the list that starts at i start.
func (r *rawBody) elements(i int, out []int) []int {
	i = r.space(i + 1)
	for i < len(r.b) && r.b[i] != ']' {
		out = append(out, i)
		i = r.space(r.end(i))
		if i < len(r.b) && r.b[i] == ',' {
			i = r.space(i + 1)
		}
	}
	return out
}

// field is where the value of the object's member named name (without
// case, as fieldValue reads it) starts, or -1.
func (r *rawBody) field(obj int, name string) int {
	if obj < 0 || r.b[obj] != '{' {
		return -1
	}
	// Member by member rather than listed: a person's address is read
	// at the body's deepest.
	for i := r.space(obj + 1); i < len(r.b) && r.b[i] == '"'; {
		key, v, next := r.member(i)
		if strings.EqualFold(string(key), name) {
			return v
		}
		i = next
	}
	return -1
}

// fieldString is fieldValue(obj, name).(string) on a raw object.
func (r *rawBody) fieldString(obj int, name string) (string, bool) {
	v := r.field(obj, name)
	if v < 0 || r.b[v] != '"' {
		return "", false
	}
	return r.str(v), true
}

// isNull reports whether the value at v is absent (-1) or null, what the
// tree walk sees as nil.
func (r *rawBody) isNull(v int) bool { return v < 0 || r.b[v] == 'n' }

// walkRaw is walk on the value that starts at v. It recurses once per
// level of the body, on the goroutine that serves the call, so each
// level's frame is kept small: an array's elements are listed by a
// function of its own, an object's members on c.members.
func (c *bodyCheck) walkRaw(r *rawBody, v int, path string) {
	switch r.b[v] {
	case '[':
		c.walkElementsRaw(r, v, path)
	case '{':
		c.walkMembersRaw(r, v, path)
	}
}

func (c *bodyCheck) walkElementsRaw(r *rawBody, v int, path string) {
	var buf [16]int
	for _, e := range r.elements(v, buf[:0]) {
		switch r.b[e] {
		case '"':
			if r.mayHoldAt(e) {
				c.textRaw(r, path+"[]", e)
			}
		case '{', '[':
			c.walkRaw(r, e, path+"[]")
		}
	}
}

// mayHoldAt is mayHoldAt on the string at v: a look at its bytes, with
// nothing decoded or allocated (not even where it is) for the many
// strings that hold no at sign.
func (r *rawBody) mayHoldAt(v int) bool {
	return mayHoldAt(r.b[v+1 : r.stringEnd(v)-1])
}

// textRaw is text on the raw string at v.
func (c *bodyCheck) textRaw(r *rawBody, where string, v int) {
	if s := r.str(v); hasAt(s) {
		c.text(where, s)
	}
}

// walkMembersRaw walks an object's members in key order. They are listed
// after those of the objects it is in; the objects inside it list theirs
// after its own, which stay as they are (a list that outgrows its room
// moves, and the old one still holds these).
func (c *bodyCheck) walkMembersRaw(r *rawBody, v int, path string) {
	c.walkMembersExceptRaw(r, v, path, "")
}

// walkMembersExceptRaw is walkMembersRaw but for the member named skip
// (without case): walkExcept on a raw object.
func (c *bodyCheck) walkMembersExceptRaw(r *rawBody, v int, path, skip string) {
	start := len(c.members)
	c.members = r.members(v, c.members)
	members := c.members[start:]
	slices.SortFunc(members, func(a, b rawMember) int { return bytes.Compare(a.key, b.key) })
	for _, m := range members {
		if skip == "" || len(m.key) != len(skip) || !strings.EqualFold(string(m.key), skip) {
			c.memberRaw(r, path, m.key, m.value)
		}
	}
	c.members = c.members[:start]
}

// addressRaw reads one emailAddress at where: an address as a string, or
// an object whose address member is one. It reports false for an object
// without one, after which memberRaw reads no further; it is address on
// a raw value.
func (c *bodyCheck) addressRaw(r *rawBody, where string, v int) bool {
	switch r.b[v] {
	case '"':
		c.addAddress(where, r.str(v))
	case '{':
		a, ok := r.fieldString(v, "address")
		if !ok || a == "" {
			c.fail(RefusalMalformed, "%s needs address, a string", where)
			return false
		}
		c.addAddress(where+".address", a)
	default:
		c.fail(RefusalMalformed, "%s must be an object with an address", where)
	}
	return true
}

// memberRaw is member on a raw value; its cases and messages are member's,
// case for case. The members that recurse (a list of people, a person, an
// object) are read here, and the emailAddress at the end of most of them;
// the other leaves by leafRaw, so that a level of the body costs the stack
// only what a recursion needs.
func (c *bodyCheck) memberRaw(r *rawBody, path string, key []byte, v int) {
	kind := kindOf(string(key))
	first := r.b[v]
	container := first == '{' || first == '['
	if kind == noOneMember && !container {
		return
	}
	if kind == otherMember && !container {
		if first == '"' && r.mayHoldAt(v) && !c.readByCheck(path, string(key)) {
			c.textRaw(r, rawWhere(path, key), v)
		}
		return
	}
	where := rawWhere(path, key)
	switch kind {
	case peopleListMember:
		c.peopleListRaw(r, where, v)
	case onePersonMember:
		before := len(c.people)
		if c.namedRaw(r, where, v) != 1 {
			c.fail(RefusalMalformed, "%s must be an object naming exactly one person", where)
		}
		c.sentAs(string(key), before)
	case objectMember:
		if first == '"' && c.sharingText(path, string(key)) {
			return
		}
		if first != '{' {
			c.fail(RefusalMalformed, "%s must be an object", where)
			return
		}
		c.walkRaw(r, v, where)
	case emailAddressMember:
		c.addressRaw(r, where, v)
	case mentionedMember:
		switch first {
		case 'n':
		case '"':
			c.addUser(where, r.str(v), true)
		case '{':
			if r.field(v, "address") >= 0 || r.field(v, "name") >= 0 {
				c.addressRaw(r, where, v) // an emailAddress
			} else {
				c.walkRaw(r, v, where) // an identity set
			}
		default:
			c.fail(RefusalMalformed, "%s must be an emailAddress, an identity set or an id", where)
		}
	case autoRepliesMember:
		c.autoRepliesRaw(r, where, v)
	case extendedMember:
		c.extended(where)
		c.walkRaw(r, v, where)
	case bindMember, emailAddressesMember, addressStringMember,
		userMember, sourceURLMember, headersMember, driveRecipientsMember, anyAddressMember:
		c.leafRaw(kind, r, where, v)
	default:
		c.walkRaw(r, v, where)
	}
}

// rawWhere is memberWhere on a raw key.
func rawWhere(path string, key []byte) string {
	if path == "" {
		return whereKey(keyString(key))
	}
	return path + "." + whereKey(string(key))
}

// peopleListRaw reads a list of people at where.
func (c *bodyCheck) peopleListRaw(r *rawBody, where string, v int) {
	if r.b[v] != '[' {
		c.fail(RefusalMalformed, "%s must be a list of people", where)
		return
	}
	var buf [16]int
	for _, e := range r.elements(v, buf[:0]) {
		if c.namedRaw(r, where+"[]", e) == 0 {
			c.fail(RefusalMalformed, "every element of %s must name someone by emailAddress.address", where)
		}
	}
}

// leafRaw reads a member of the kinds that do not recurse.
func (c *bodyCheck) leafRaw(kind memberKind, r *rawBody, where string, v int) {
	first := r.b[v]
	var buf [16]int // for the one list a member is
	switch kind {
	case driveRecipientsMember:
		for _, e := range c.listOrNullRaw(r, where, v, buf[:0]) {
			email, _ := r.fieldString(e, "email")
			c.driveRecipient(where, r.b[e] == '{', email, !r.isNull(r.field(e, "alias")) || !r.isNull(r.field(e, "objectId")))
		}
	case bindMember:
		c.refsRaw(r, where, v)
	case emailAddressesMember:
		if first != '[' {
			c.fail(RefusalMalformed, "%s must be a list", where)
			return
		}
		for _, e := range r.elements(v, buf[:0]) {
			if !c.addressRaw(r, where+"[]", e) {
				return
			}
		}
	case addressStringMember, anyAddressMember:
		switch {
		case first == 'n':
		case first == '"':
			if s := r.str(v); s != "" {
				c.addAddress(where, s)
			}
		case kind == anyAddressMember:
			c.addressRaw(r, where, v)
		default:
			c.fail(RefusalMalformed, "%s must be a string", where)
		}
	case userMember:
		switch first {
		case 'n':
		case '{':
			switch id := r.field(v, "id"); {
			case r.isNull(id):
			case r.b[id] == '"':
				c.addUser(where+".id", r.str(id), true)
			default:
				c.fail(RefusalMalformed, "%s.id must be a string", where)
			}
			c.walkMembersExceptRaw(r, v, where, "id")
		default:
			c.fail(RefusalMalformed, "%s must be an object", where)
		}
	case sourceURLMember:
		if first != 'n' && !c.p.externalLinks {
			c.fail(RefusalPolicy, "%s: a reference attachment links to a file elsewhere; set externalLinks: true to allow it", where)
		}
	case headersMember:
		for _, e := range c.listOrNullRaw(r, where, v, buf[:0]) {
			name, _ := r.fieldString(e, "name")
			value, _ := r.fieldString(e, "value")
			if len(name) < 3 || !strings.EqualFold(name[:2], "x-") || strings.ContainsAny(name, "\r\n") || strings.ContainsAny(value, "\r\n") {
				c.fail(RefusalPolicy, "%s: only custom headers (X-…) are allowed, on one line", where)
				return
			}
		}
	}
}

// listOrNullRaw is the elements of a member that must be a list or null
// (none); anything else refuses the call, and has none.
func (c *bodyCheck) listOrNullRaw(r *rawBody, where string, v int, buf []int) []int {
	switch r.b[v] {
	case 'n':
		return nil
	case '[':
		return r.elements(v, buf)
	}
	c.fail(RefusalMalformed, "%s must be a list", where)
	return nil
}

// namedRaw is named on a raw value.
func (c *bodyCheck) namedRaw(r *rawBody, where string, v int) int {
	if r.b[v] != '{' {
		c.fail(RefusalMalformed, "%s must be an object naming a person", where)
		return -1
	}
	before := len(c.people)
	c.walkRaw(r, v, where)
	return len(c.people) - before
}

// refsRaw is refs on a raw value.
func (c *bodyCheck) refsRaw(r *rawBody, where string, v int) {
	var buf [16]int
	var list []int
	switch r.b[v] {
	case '"':
		list = append(buf[:0], v)
	case '[':
		list = r.elements(v, buf[:0])
	default:
		c.fail(RefusalMalformed, "%s must be a URL or a list of URLs", where)
		return
	}
	for _, e := range list {
		if r.b[e] != '"' {
			c.fail(RefusalMalformed, "%s must be a URL or a list of URLs", where)
			return
		}
		s := r.str(e)
		user, err := resolveRef(c.req.Version, s)
		if err != "" {
			c.fail(RefusalPolicy, "%s: the reference %s", where, err)
			return
		}
		c.addUser(where, user, false)
	}
}
