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
// ends in @odata.bind.
func isPersonKey(key []byte) bool {
	if n := len(key) - len(bindSuffixBytes); n >= 0 && bytes.EqualFold(key[n:], bindSuffixBytes) {
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
