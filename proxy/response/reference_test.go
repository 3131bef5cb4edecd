package response

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/graph-proxy/graph-proxy/policy"
)

// The reference filter: the whole answer at once, the simplest way there
// is. encoding/json says whether it is JSON at all; the document is then
// parsed into a tree and walked recursively, every rule written out
// plainly. FuzzFilter holds the streaming filter to it: the same output,
// counts and verdict for any input and any split of it into reads.

type jkind uint8

const (
	jObject jkind = iota
	jArray
	jString
	jNumber
	jLiteral
)

type jnode struct {
	kind    jkind
	raw     []byte // a scalar as written (a string with its quotes)
	members []jmember
	elems   []*jnode
}

type jmember struct {
	key []byte // as written, without quotes
	val *jnode
}

var errRef = errors.New("unfilterable")

// jparse parses a document encoding/json has found valid.
type jparse struct {
	b     []byte
	i     int
	depth int
	err   error
}

func (p *jparse) ws() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

func (p *jparse) str() []byte {
	start := p.i
	p.i++
	for p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
	return p.b[start:p.i]
}

func (p *jparse) value() *jnode {
	p.ws()
	switch c := p.b[p.i]; c {
	case '{', '[':
		if p.depth++; p.depth > MaxDepth {
			p.err = errRef
		}
		defer func() { p.depth-- }()
		p.i++
		n := &jnode{kind: jArray}
		if c == '{' {
			n.kind = jObject
		}
		for {
			p.ws()
			if p.b[p.i] == '}' || p.b[p.i] == ']' {
				p.i++
				return n
			}
			if p.b[p.i] == ',' {
				p.i++
				p.ws()
			}
			if c == '{' {
				k := p.str()
				if len(k)-2 > MaxKeyBytes {
					p.err = errRef
				}
				p.ws()
				p.i++ // ':'
				n.members = append(n.members, jmember{key: k[1 : len(k)-1], val: p.value()})
			} else {
				n.elems = append(n.elems, p.value())
			}
		}
	case '"':
		return &jnode{kind: jString, raw: p.str()}
	case 't', 'n':
		p.i += 4
		return &jnode{kind: jLiteral, raw: p.b[p.i-4 : p.i]}
	case 'f':
		p.i += 5
		return &jnode{kind: jLiteral, raw: p.b[p.i-5 : p.i]}
	default:
		start := p.i
		for p.i < len(p.b) && strings.IndexByte("+-.eE0123456789", p.b[p.i]) >= 0 {
			p.i++
		}
		return &jnode{kind: jNumber, raw: p.b[start:p.i]}
	}
}

func decoded(rawContents []byte) []byte {
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, rawContents...), '"'), &s); err != nil {
		panic(err)
	}
	return []byte(s)
}

type ref struct {
	o       Options
	out     bytes.Buffer
	total   Counts
	cur     *Counts
	subs    map[string]*policy.Response
	per     map[string]*Counts
	anySpec bool
	err     error
	sect    bool // within an answer or a sub-response's body a section filters
}

// refFilter filters in whole, as Filter should.
func refFilter(in []byte, o Options) (out []byte, total Counts, per map[string]*Counts, err error) {
	trimmed := strings.Trim(string(in), " \t\r\n")
	if trimmed == "" {
		return nil, Counts{}, nil, nil
	}
	if !json.Valid(in) || trimmed[0] != '{' {
		return nil, Counts{}, nil, errRef
	}
	p := &jparse{b: in}
	doc := p.value()
	if p.err != nil {
		return nil, Counts{}, nil, p.err
	}
	r := &ref{o: o, sect: o.Response != nil}
	if o.Batch != nil {
		r.subs, r.per = map[string]*policy.Response{}, map[string]*Counts{}
		for id, s := range o.Batch {
			k := strings.ToLower(id)
			if prev, dup := r.subs[k]; dup && prev != s {
				s = ambiguousSection
			}
			r.subs[k], r.per[k] = s, &Counts{}
			r.anySpec = r.anySpec || s != nil
		}
	}
	switch {
	case o.Status >= 400:
		r.object(doc, roleEntity, policy.ErrorAnswer.Root(), 0, true)
	case o.Batch != nil:
		r.object(doc, roleBatch, nil, 0, true)
	default:
		r.object(doc, roleRoot, o.Response.Root(), 0, true)
	}
	if r.err != nil {
		return nil, Counts{}, nil, r.err
	}
	return r.out.Bytes(), r.total, r.per, nil
}

func (r *ref) count(f func(*Counts)) {
	f(&r.total)
	if r.cur != nil {
		f(r.cur)
	}
}

// object writes n; scope is what Links.Scope said of its member, top
// whether it is the answer's object or a sub-response's body.
func (r *ref) object(n *jnode, ro role, node *policy.ResponseNode, scope LinkScope, top bool) {
	r.out.WriteByte('{')
	first := true
	var idSeen, statusSeen, idOK, statusOK bool
	var id string
	var status int
	for _, m := range n.members {
		name := decoded(m.key)
		keep, count := true, false
		childRole, childNode := roleEntity, wholeRoot
		link := NotLink
		body, bodySect := false, false
		ctl := ctlNone
		sect := r.sect && !isHeaders(ro)
		switch {
		case ro == roleBatch:
			switch {
			case isControl(name):
			case string(name) == "responses" && m.val.kind == jArray:
				childRole = roleBatchList
			default:
				keep, count = false, true
			}
		case ro == roleSub:
			switch string(name) {
			case "id":
				if idSeen {
					r.err = errRef
				}
				idSeen = true
				if m.val.kind == jString && len(m.val.raw)-2 <= maxCapture {
					id, idOK = strings.ToLower(string(decoded(m.val.raw[1:len(m.val.raw)-1]))), true
				}
			case "status":
				if statusSeen {
					r.err = errRef
				}
				statusSeen = true
				if m.val.kind == jNumber && len(m.val.raw) <= 9 && digitsOnly(m.val.raw) {
					status, statusOK = atoi(m.val.raw), true
				}
			case "headers":
				childRole = roleHeaders
				if r.anySpec {
					spec, known := r.subs[id]
					if !idOK || !known || spec != nil {
						childRole = roleSectionHeaders
					}
				}
			case "body":
				body = true
			default:
				keep, count = false, true
			}
		case ro == roleSectionHeaders && URLHeader(name):
			keep, count = false, true
		default:
			switch {
			case isControl(name) && sect:
				ct := controlTarget(name, firstByte(m.val))
				keep, count, ctl, childNode = !ct.drop, ct.drop, ct.ctl, ct.fr.node
			case isControl(name):
			case ro == roleRoot && string(name) == "value" && m.val.kind == jArray:
				childNode = node
			case len(name) > 0 && name[0] == '@' && (node != wholeRoot || sect):
				keep, count = false, true // an annotation of a filtered entity, or within its answer
			default:
				childNode = node.Child(property(name))
				switch {
				case childNode == nil:
					keep, count = false, true
				case m.val.kind != jObject && m.val.kind != jArray && childNode.Restricts():
					keep, count = false, true
				}
				if a := annotationOf(name); keep && sect && a != nil && !childNode.Pseudonymised() && string(a) != "@delta" {
					ct := controlTarget(a, firstByte(m.val))
					keep, count, ctl = !ct.drop, ct.drop, ct.ctl
					if ct.fr.node == removedRoot {
						childNode = removedRoot
					}
				}
			}
		}
		if body {
			var spec *policy.Response
			if r.anySpec {
				var known bool
				spec, known = r.subs[id]
				if !idOK || !known || spec == ambiguousSection {
					r.err = errRef
					return
				}
			}
			if spec != nil {
				if !statusOK || m.val.kind != jObject {
					r.err = errRef
					return
				}
				r.cur, bodySect = r.per[id], true
				childRole, childNode = roleRoot, spec.Root()
				if status >= 400 {
					childRole, childNode = roleEntity, policy.ErrorAnswer.Root()
				}
			}
		}
		if r.err != nil {
			return
		}
		if count {
			r.count(func(c *Counts) { c.Removed++ })
		}
		if !keep {
			continue
		}
		if !first {
			r.out.WriteByte(',')
		}
		first = false
		r.out.WriteString(`"` + string(m.key) + `":`)
		if r.o.Links != nil && (m.val.kind == jString || m.val.kind == jArray) && !childNode.Pseudonymised() {
			link = r.o.Links.Kind(name, scope, top, m.val.kind == jArray)
			if ro == roleSub && link == CredentialLink && m.val.kind == jString {
				link = BodyLink
			}
		}
		if isHeaders(ro) {
			// Within a sub-response's headers every container is headers
			// and every string a header value.
			childRole = ro
			if r.o.Links != nil && m.val.kind == jString {
				link = headerLink(ro)
			}
		}
		var childScope LinkScope
		if r.o.Links != nil {
			childScope = r.o.Links.Scope(name)
		}
		if ctl != ctlNone {
			r.control(m.val.raw[1:len(m.val.raw)-1], ctl, link)
			continue
		}
		outer := r.sect
		r.sect = r.sect || bodySect
		r.value(m.val, childRole, childNode, link, childScope, body)
		r.sect = outer
		if body {
			r.cur = nil
		}
		if r.err != nil {
			return
		}
	}
	r.out.WriteByte('}')
}

func headerLink(ro role) LinkKind {
	if ro == roleSectionHeaders {
		return SectionHeaderLink
	}
	return HeaderLink
}

func atoi(b []byte) int {
	n, _ := strconv.Atoi(string(b))
	return n
}

func (r *ref) value(v *jnode, ro role, node *policy.ResponseNode, link LinkKind, scope LinkScope, top bool) {
	switch v.kind {
	case jObject:
		r.object(v, ro, node, scope, top)
	case jArray:
		r.out.WriteByte('[')
		first := true
		for _, e := range v.elems {
			er, en, el := roleEntity, node, NotLink
			if (e.kind == jString || e.kind == jArray) && !node.Pseudonymised() {
				el = link // a list's strings are what its name made them
			}
			if isHeaders(ro) {
				er = ro
				if r.o.Links != nil && e.kind == jString {
					el = headerLink(ro)
				}
			}
			if ro == roleBatchList {
				if e.kind != jObject {
					r.err = errRef
					return
				}
				er, en = roleSub, wholeRoot
			} else if e.kind != jObject && e.kind != jArray && node.Restricts() {
				r.count(func(c *Counts) { c.Removed++ })
				continue
			}
			if !first {
				r.out.WriteByte(',')
			}
			first = false
			r.value(e, er, en, el, scope, false)
			if r.err != nil {
				return
			}
		}
		r.out.WriteByte(']')
	default:
		if node.Pseudonymised() && string(v.raw) != "null" {
			if len(r.o.Key) == 0 {
				r.err = errRef
				return
			}
			mac := hmac.New(sha256.New, r.o.Key)
			switch v.kind {
			case jString:
				mac.Write([]byte{'s'})
				mac.Write(decoded(v.raw[1 : len(v.raw)-1]))
			case jNumber:
				mac.Write([]byte{'n'})
				mac.Write(v.raw)
			default:
				mac.Write([]byte{'b'})
				mac.Write(v.raw)
			}
			r.out.WriteString(`"` + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + `"`)
			r.count(func(c *Counts) { c.Pseudonymised++ })
			return
		}
		if link == NotLink {
			r.out.Write(v.raw)
			return
		}
		contents := v.raw[1 : len(v.raw)-1]
		elsewhere := false
		switch {
		case link == BodyLink && len(contents) < BodySniff:
			elsewhere = r.o.Links.Body(contents, true) || r.o.Links.Credential(contents, true)
			if !elsewhere {
				r.out.Write(v.raw)
				return
			}
		case link == BodyLink && r.o.Links.Body(contents, false):
			elsewhere = true
		case link == CredentialLink || link == BodyLink:
			if len(contents) <= maxLinkBytes {
				elsewhere = r.o.Links.Credential(contents, true)
			} else {
				elsewhere = r.o.Links.Credential(contents[:maxLinkBytes+1], false)
			}
			if !elsewhere {
				r.out.Write(v.raw)
				return
			}
		case link >= HeaderLink && len(contents) <= maxLinkBytes:
			out, withheld := r.o.Links.Header(nil, contents, true, link == SectionHeaderLink)
			if !withheld {
				r.out.WriteString(`"` + string(out) + `"`)
				return
			}
			elsewhere = true
		case link >= HeaderLink:
			_, elsewhere = r.o.Links.Header(nil, contents[:maxLinkBytes+1], false, link == SectionHeaderLink)
		case len(contents) <= maxLinkBytes:
			if out, ok := r.o.Links.Rewrite(nil, contents); ok {
				r.out.WriteString(`"` + string(out) + `"`)
				return
			}
		}
		if link == ExternalLink || elsewhere {
			r.out.WriteString(`""`)
			r.count(func(c *Counts) { c.Withheld++ })
			return
		}
		r.out.Write(v.raw)
	}
}

func firstByte(v *jnode) byte {
	switch v.kind {
	case jObject:
		return '{'
	case jArray:
		return '['
	}
	return v.raw[0]
}

// control writes a checked control annotation's string: its contents
// checked by their kind, or null.
func (r *ref) control(contents []byte, ctl ctlKind, link LinkKind) {
	v, ok := contents, len(contents) <= maxLinkBytes && (ctl == ctlEtag || !bytes.Contains(contents, []byte{'\\'}))
	if ok {
		switch ctl {
		case ctlContext:
			v, ok = neutralContext(bytes.Clone(v))
		case ctlType:
			ok = typeName(v)
		case ctlEtag:
			ok = etagToken(v)
		}
	}
	switch {
	case !ok:
		r.out.WriteString("null")
		r.count(func(c *Counts) { c.Removed++ })
	case link == CredentialLink && r.o.Links.Credential(v, true):
		r.out.WriteString(`""`)
		r.count(func(c *Counts) { c.Withheld++ })
	default:
		r.out.WriteString(`"` + string(v) + `"`)
	}
}
