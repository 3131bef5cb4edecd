// Package ascii compares names but for ASCII case, never Unicode's:
// Graph's names are ASCII, and a reader that folds 'ſ' (U+017F) to 's' or
// the Kelvin sign to 'k' would join names Graph keeps apart. One rule for
// the policy's response paths and the proxy's reading of answers. (Which
// names hold links is read with those four letters folded besides,
// proxy/linknames.go: there a name taken for a link name only makes the
// check stricter.)
package ascii

// EqualFold reports whether a and b are equal but for ASCII case.
func EqualFold[A, B ~string | ~[]byte](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// HasSuffixFold reports whether b ends in s but for ASCII case.
func HasSuffixFold[A, B ~string | ~[]byte](b A, s B) bool {
	return len(b) >= len(s) && EqualFold(b[len(b)-len(s):], s)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
