package policy

import (
	"strconv"
	"strings"

	"github.com/graph-proxy/graph-proxy/internal/outbound"
)

// A refusal's reason goes to the caller and into the audit record, which
// never holds a request's body or a secret (docs/audit.md). A reason names
// the member and the rule that failed; it shows a value of the request
// only through these helpers: an address or user principal name only
// once it parsed as one (the record holds it anyway, as a target), a URL
// as scheme://host/path at most, and a name (a key, a $batch request's id
// or header name) only when it is spelled as Graph spells names.

// notShown stands in a reason for a value it may not show.
const notShown = outbound.NotShown

// shownURL is what a reason may show of a URL (outbound.Short), quoted
// when it is the URL's scheme, host and path.
func shownURL(s string) string {
	shown, whole := outbound.Short(s)
	if whole {
		return strconv.Quote(shown)
	}
	return shown
}

// maxShownName bounds a name a reason shows.
const maxShownName = 64

// shownName quotes a name from a request — a JSON key, a $batch request's
// id or header, a $select field — when it is spelled as Graph spells
// names (ASCII letters, digits and _ . @ $ # -, at most 64), or says it
// is not shown: a name is the body's as much as a value is.
func shownName(s string) string {
	if !nameShaped(s) {
		return notShown
	}
	return strconv.Quote(s)
}

// bareName is shownName unquoted, for a list of names (a $batch's
// request ids). It allocates nothing: every member a body check walks
// has its path (where) built with it, refused or not.
func bareName(s string) string {
	if !nameShaped(s) {
		return notShown
	}
	return s
}

// nameShaped reports whether s is spelled as a name may be shown: ASCII
// letters, digits and _.@$#-, at most maxShownName bytes.
func nameShaped(s string) bool {
	if s == "" || len(s) > maxShownName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.@$#-", c) >= 0) {
			return false
		}
	}
	return true
}

// whereKey is a key as a member's path (where) in a reason names it: as
// it is when it is spelled as a name, else not shown.
func whereKey(key string) string { return bareName(key) }
