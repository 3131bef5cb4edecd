package proxy

import (
	"bytes"
	"unicode/utf8"
)

// The quick look: whether a small answer, read whole, needs the link
// scanner (links.go) at all. Most answers have nothing it would change,
// and this look costs one pass over their quotes where the scanner reads
// every byte with the JSON's structure.

// mayRewrite reports whether body has a member body() would rewrite or
// withhold. Names are matched on their raw bytes, so a body in which no
// string ends as such a name comes out of body() unchanged.
//
// Every small JSON answer is checked, so it is one pass over the body's
// quotes: at each, the bytes before it are looked at for the endings of
// the names that matter (quotedName). A name spelled with escapes is not
// matched on its bytes; any escape of the \u form sends the body to the
// rewriter. No other escape stands for a letter, so a name's last
// letters are the same raw and decoded. The four non-ASCII letters names
// are folded for (foldKey) are read as their ASCII ones here too.
func (l *LinkRewriter) mayRewrite(body []byte, withhold bool) bool {
	if bytes.Contains(body, []byte(`\u`)) {
		return true // a key may be spelled with escapes
	}
	if withhold && credentialQuery(body) {
		return true
	}
	if withhold && bytes.IndexByte(body, 0) >= 0 {
		return true // UTF-16 or UTF-32, which the rewriter refuses (answerjson.go)
	}
	for i := 0; ; {
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			return false
		}
		if quotedName(body[:i+j], body[i+j+1:], withhold) {
			return true
		}
		i += j + 1
	}
}

// quotedName reports whether before, the bytes before a quote, end in a
// name whose value body() may change: Graph's paging links and a $batch
// answer's headers; while links are withheld, any name memberKind reads
// as a link or a credential, and value followed by a string. (A URL
// carrying a credential under any other name is credentialQuery's.) after is
// what follows the quote. Names are matched without ASCII case, on their
// endings: every name that matters ends in one.
//
// It runs at every quote of every small answer, so the name's last letter
// picks the one or two endings to compare: most quotes end a name or a
// value that ends in none of these letters.
func quotedName(before, after []byte, withhold bool) bool {
	if len(before) == 0 {
		return false
	}
	switch c, _ := lastFolded(before); c {
	case 'k':
		return suffixFolded(before, "link")
	case 's':
		return suffixFolded(before, headersKey) || withhold && (suffixFolded(before, "postparameters") ||
			suffixFolded(before, "urls") || suffixFolded(before, "uris") || suffixFolded(before, "links"))
	case 'l':
		return withhold && (suffixFolded(before, "url") || suffixFolded(before, "webhtml"))
	case 'i':
		return withhold && suffixFolded(before, "uri")
	case 'e':
		return withhold && suffixFolded(before, "value") && stringFollows(after)
	case 'y':
		// A $batch sub-response's body written as a string.
		return withhold && suffixFolded(before, "body") && stringFollows(after)
	}
	return false
}

// stringFollows reports whether after, the bytes after a name's closing
// quote, go on with a colon and a string.
func stringFollows(after []byte) bool {
	after = bytes.TrimLeft(after, " \t\r\n")
	if len(after) == 0 || after[0] != ':' {
		return false
	}
	after = bytes.TrimLeft(after[1:], " \t\r\n")
	return len(after) > 0 && after[0] == '"'
}

// lastFolded is the last character of b as foldKey and ASCII case read
// it (lower case; 0 for any other non-ASCII one), and its length in b.
func lastFolded(b []byte) (byte, int) {
	if c := b[len(b)-1]; c < utf8.RuneSelf {
		return lower(c), 1
	}
	r, n := utf8.DecodeLastRune(b)
	c, _ := asciiFold(r)
	return c, n
}

// suffixFolded reports whether b ends in s (lower case) as foldKey and
// ASCII case read it.
func suffixFolded(b []byte, s string) bool {
	for k := len(s) - 1; k >= 0; k-- {
		if len(b) == 0 {
			return false
		}
		c, n := lastFolded(b)
		if c != s[k] {
			return false
		}
		b = b[:len(b)-n]
	}
	return true
}
