package policy

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// What the JSON parser watches for besides the grammar: the keys that
// name people (people.go), the keys a case-blind binder could confuse, and
// what lean parsing keeps.

// personKeyBytes are personKeys as the parser compares them.
var personKeyBytes = func() [][]byte {
	out := make([][]byte, len(personKeys))
	for i, k := range personKeys {
		out[i] = []byte(k)
	}
	return out
}()

var bindSuffixBytes = []byte(bindSuffix)

// isPersonKey reports whether key is one of personKeys (without case) or
// ends in @odata.bind or EmailAddress (kindOf).
func isPersonKey(key []byte) bool {
	if n := len(key) - len(bindSuffixBytes); n >= 0 && bytes.EqualFold(key[n:], bindSuffixBytes) {
		return true
	}
	if n := len(key) - len(addressSuffixBytes); n >= 0 && bytes.EqualFold(key[n:], addressSuffixBytes) {
		return true
	}
	for _, k := range personKeyBytes {
		if len(k) == len(key) && bytes.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// foldsToASCII reports whether s holds a character that is not ASCII but
// whose upper or lower case is: İ, ı, ſ and the Kelvin sign. A binder that
// ignores case could read "attendeeſ" as "attendees"; Graph's properties
// are ASCII, so such a key is refused rather than guessed at.
func foldsToASCII(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch r {
		case '\u0130', '\u0131', '\u017f', '\u212a':
			return true
		}
		i += size - 1
	}
	return false
}

// The values lean parsing leaves in place of strings and numbers the
// policy does not read.
var (
	leanString any = ""
	leanNumber any = json.Number("0")
)

// leanKeep are the keys (lower case) whose strings the people finder
// reads, besides personKeys and references.
var leanKeep = [][]byte{[]byte("address"), []byte("id")}

// keepUnder reports whether lean parsing builds the scalars under key, at
// depth (0 for the top-level object's members).
func (p *jsonParser) keepUnder(key []byte, depth int) bool {
	if isPersonKey(key) {
		return true
	}
	if depth == 0 {
		for _, m := range bodyMemberKeys {
			if sameKey(m, key) {
				return true
			}
		}
		return false
	}
	for _, k := range leanKeep {
		if len(k) == len(key) && bytes.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// knownAnnotations are the namespaces of the annotations a body may carry
// (lower case, with the dot that ends them): OData's own (@odata.type,
// NAME@odata.bind, @odata.id) and Graph's (@microsoft.graph.sourceUrl,
// @microsoft.graph.conflictBehavior), which the policy reads or Graph
// defines.
var knownAnnotations = [][]byte{[]byte("odata."), []byte("microsoft.graph.")}

// customAnnotation reports whether key is an annotation (@term or
// NAME@term) in a namespace other than knownAnnotations: a vendor's own
// (@vendor.note). What it holds is not what Graph acts on, so the people
// in it are not people the call reaches, and what Graph or another
// reader makes of it cannot be established: a body with one is refused.
func customAnnotation(key []byte) bool {
	at := bytes.IndexByte(key, '@')
	if at < 0 {
		return false
	}
	term := key[at+1:]
	for _, ns := range knownAnnotations {
		if len(term) > len(ns) && bytes.EqualFold(term[:len(ns)], ns) {
			return false
		}
	}
	return true
}

// customAnnotationIn returns the first custom annotation (customAnnotation)
// among the keys of v's objects, or "".
func customAnnotationIn(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if customAnnotation([]byte(k)) {
				return k
			}
			if a := customAnnotationIn(x[k]); a != "" {
				return a
			}
		}
	case []any:
		for _, e := range x {
			if a := customAnnotationIn(e); a != "" {
				return a
			}
		}
	}
	return ""
}
