package response

import (
	"bytes"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
	"github.com/graph-proxy/graph-proxy/policy"
)

// What becomes of each value the tokenizer (scan.go) starts: kept,
// removed, pseudonymised, held as a link or checked as a control
// annotation, decided from its container's role and its node in the
// response section before its first byte is written.

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

// what becomes of a value: its action and, for a container, its frame.
type target struct {
	drop  bool
	hash  bool
	count bool // a removal to count
	link  LinkKind
	ctl   ctlKind // a string checked as this control annotation
	fr    frame
}

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
			if parent.role == roleSub && t.link == CredentialLink {
				t.link = BodyLink // its body: no other string member is kept
			}
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
