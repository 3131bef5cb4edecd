package response

import (
	"bytes"

	"github.com/graph-proxy/graph-proxy/policy"
)

// Control annotations under a section. The SDKs need @odata.context,
// count, nextLink, deltaLink, etag and type kept, but Graph writes into
// them what a section may remove: on a delegated /me call the signed-in
// user's object id (…$metadata#users('48d3…')/events), an id Graph
// resolved from a user principal name, an $entity's own key. So in an
// answer a section filters (the answer's object, a $batch sub-response's
// body, and everything within them, expanded entities and delta pages
// included) each is read for its shape, and what does not have it is
// replaced by null (fail closed):
//
//   - @odata.context has the key predicates of its path removed
//     (users('48d3…')/events becomes users/events): the SDKs do not read
//     it (kiota keeps it as additional data), and the caller knows the
//     keys it sent. A group of names (a select list, Collection's type,
//     a function's ()) stays; any other group is a key. A path segment
//     that is not a name (a key written as a segment), an unbalanced
//     group or quote, an escape, or a value too long to hold makes it
//     null.
//   - @odata.type is a type name (#microsoft.graph.user, or
//     #Collection(…)), the SDKs' discriminator; anything else is null.
//   - @odata.etag is an opaque token (W/"…" of base64, or a quoted
//     {guid},version); anything else is null.
//   - @odata.count is a number; @odata.nextLink and deltaLink are
//     strings (as links they are rewritten as ever); @removed is an object
//     of its reason only. A value of another kind is removed.
//   - An annotation of a property (manager@odata.navigationLink,
//     photo@odata.mediaReadLink, …) other than these and @delta is
//     removed: it carries the entity's address; so is any other
//     annotation of an object within the answer (@odata.id).
//
// A null keeps the member, whose name may already be on its way.

// ctlKind is what a kept annotation's string is checked as.
type ctlKind uint8

const (
	ctlNone    ctlKind = iota
	ctlContext         // @odata.context: key predicates removed
	ctlType            // @odata.type: a type name
	ctlEtag            // @odata.etag: an opaque token
)

// removedRoot is what of a delta's @removed object passes under a section.
var removedRoot = func() *policy.ResponseNode {
	r, err := policy.NewResponse("(@removed)", []string{"reason"}, nil, nil, nil)
	if err != nil {
		panic(err)
	}
	return r.Root()
}()

// controlTarget decides the control annotation named a (the annotation
// itself, or a property's annotation's part from its @) of an object a
// section filters, by the first byte c of its value.
func controlTarget(a []byte, c byte) target {
	keep := target{fr: frame{role: roleEntity, node: wholeRoot}}
	switch string(a) {
	case "@odata.count":
		if c == '-' || '0' <= c && c <= '9' {
			return keep
		}
	case "@odata.nextLink", "@odata.deltaLink":
		if c == '"' {
			return keep
		}
	case "@odata.context", "@odata.type", "@odata.etag":
		if c == '"' {
			keep.ctl = ctlOf[a[7]]
			return keep
		}
	case "@removed":
		if c == '{' {
			return target{fr: frame{role: roleEntity, node: removedRoot}}
		}
	}
	return target{drop: true, count: true}
}

// ctlOf is the check of @odata.c…, @odata.t…, @odata.e… by that letter.
var ctlOf = [256]ctlKind{'c': ctlContext, 't': ctlType, 'e': ctlEtag}

// annotationOf is the annotation part of a property's annotation
// (manager@odata.context: @odata.context), or nil.
func annotationOf(name []byte) []byte {
	if len(name) > 0 && name[0] != '@' {
		if i := bytes.IndexByte(name, '@'); i >= 0 {
			return name[i:]
		}
	}
	return nil
}

// propertyAnnotation decides an annotation a of a property of an object a
// section filters, t being its property's target: @delta goes with its
// property, the annotations controlTarget keeps are checked as it
// checks them (@removed by its own node), any other is removed.
func propertyAnnotation(a []byte, c byte, t target) target {
	if t.drop || t.hash || string(a) == "@delta" {
		return t
	}
	ct := controlTarget(a, c)
	if ct.drop || ct.fr.node == removedRoot {
		return ct
	}
	t.ctl = ct.ctl
	return t
}

// endControl ends a held control annotation's string (f.val, its contents
// escapes and all; f.ctlLong when it outgrew maxLinkBytes): written
// checked or neutralised, or null.
func (f *Filter) endControl() {
	// Only an etag's quotes are escaped; any other escape is not a shape
	// these are read in.
	v, ok := f.val, !f.ctlLong && (f.ctl == ctlEtag || bytes.IndexByte(f.val, '\\') < 0)
	if ok {
		switch f.ctl {
		case ctlContext:
			v, ok = neutralContext(v)
		case ctlType:
			ok = typeName(v)
		case ctlEtag:
			ok = etagToken(v)
		}
	}
	switch {
	case !ok:
		f.out = append(f.out, "null"...)
		f.removed()
	case f.linkK == CredentialLink && f.o.Links.Credential(v, true):
		f.out = append(f.out, '"', '"')
		f.withheld()
	default:
		f.out = append(f.out, '"')
		f.out = append(f.out, v...)
		f.out = append(f.out, '"')
	}
	f.ctl = ctlNone
}

// neutralContext is the context URL v with the key predicates of its path
// removed, in place, and whether v has a context's shape: anything, then
// $metadata#, then a path of names and groups in parentheses.
func neutralContext(v []byte) ([]byte, bool) {
	hash := bytes.IndexByte(v, '#')
	if hash < 0 || !bytes.HasSuffix(v[:hash], []byte("$metadata")) {
		return nil, false
	}
	out := v[:hash+1]
	for i := hash + 1; i < len(v); {
		c := v[i]
		switch {
		case c == '(':
			end, names, ok := group(v, i)
			if !ok {
				return nil, false
			}
			if names {
				out = append(out, v[i:end]...)
			}
			i = end
		case c == '/':
			out = append(out, c)
			i++
		default:
			end := i
			for end < len(v) && v[end] != '/' && v[end] != '(' {
				end++
			}
			if !name(v[i:end]) {
				return nil, false // a key as a segment, or anything else
			}
			out = append(out, v[i:end]...)
			i = end
		}
	}
	return out, true
}

// group reads the parenthesised group of v opening at i: its end (after
// its closing parenthesis), whether it holds only names (a select list,
// an expansion, Collection's type, a function's empty parentheses), and
// whether it is well-formed. A quoted literal (a doubled quote inside
// is a quote) makes a key.
func group(v []byte, i int) (end int, names, ok bool) {
	depth, quoted, item := 0, false, i+1
	names = true
	for j := i; j < len(v); j++ {
		c := v[j]
		if quoted {
			if c == '\'' {
				if j+1 < len(v) && v[j+1] == '\'' {
					j++
				} else {
					quoted = false
				}
			}
			continue
		}
		switch c {
		case '\'':
			quoted, names = true, false
		case '(', ')', ',', '/':
			if j > i && !emptyOrName(v[item:j]) {
				names = false
			}
			item = j + 1
			switch c {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					return j + 1, names, true
				}
			}
		}
	}
	return 0, false, false
}

func emptyOrName(b []byte) bool { return len(b) == 0 || string(b) == "*" || name(b) }

// name reports whether b is a name of the model: an identifier, dotted
// (microsoft.graph.user), or one of OData's $-words ($entity, $delta).
func name(b []byte) bool {
	if len(b) > 0 && b[0] == '$' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	start := true
	for _, c := range b {
		switch {
		case c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z':
		case '0' <= c && c <= '9' && !start:
		case c == '.' && !start:
			start = true
			continue
		default:
			return false
		}
		start = false
	}
	return !start
}

// typeName reports whether v is an @odata.type: #, then a name or
// Collection(name).
func typeName(v []byte) bool {
	v, _ = bytes.CutPrefix(v, []byte("#"))
	if in, ok := bytes.CutPrefix(v, []byte("Collection(")); ok {
		in, ok = bytes.CutSuffix(in, []byte(")"))
		return ok && name(in) && in[0] != '$'
	}
	return name(v) && v[0] != '$'
}

// maxEtag bounds an etag: Graph's are under a hundred bytes.
const maxEtag = 256

// etagToken reports whether raw, a JSON string's contents escapes and
// all, is an etag: W/ or nothing, then a token of base64 and the
// characters of a {guid},version, in escaped quotes (W/\"…\") or not.
func etagToken(raw []byte) bool {
	if len(raw) > maxEtag {
		return false
	}
	v, _ := bytes.CutPrefix(raw, []byte("W/"))
	if in, ok := bytes.CutPrefix(v, []byte(`\"`)); ok {
		if v, ok = bytes.CutSuffix(in, []byte(`\"`)); !ok {
			return false
		}
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !etagByte[c] {
			return false
		}
	}
	return true
}

var etagByte = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-{},.:") {
		t[c] = true
	}
	return t
}()
