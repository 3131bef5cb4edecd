package policy

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Request is a Graph request in canonical form: what the policy decides on
// and what the audit record names.
type Request struct {
	// Method is the HTTP method, upper case.
	Method string
	// Version is "v1.0" or "beta".
	Version string
	// Segments are the path segments after the version, percent-decoded
	// once, with OData key syntax split: users('x') is users, x.
	Segments []string
	// Path is "/" + Segments joined by "/", e.g. "/users/x/events".
	Path string
	// Query lists the query option names, lower case, system options with
	// their "$", sorted. Values are never kept.
	Query []string
	// Select lists the $select fields, lower case, when $select is given.
	Select []string
	// filter, orderby and expand are the decoded values of $filter,
	// $orderby and $expand, for the properties they test
	// (querytests.go); never recorded.
	filter, orderby, expand string
}

// ErrNotGraph reports a path outside /v1.0 and /beta.
var ErrNotGraph = errors.New("policy: not a Graph API path")

// ErrAmbiguous reports a request whose meaning is not certain: the proxy
// denies it rather than guess how Graph would read it.
var ErrAmbiguous = errors.New("policy: ambiguous request")

// Versions are the Graph API versions the proxy serves.
var Versions = []string{"v1.0", "beta"}

// systemOptions are the OData system query options. Graph accepts them
// with or without "$"; the canonical form has it.
var systemOptions = map[string]bool{
	"$select": true, "$filter": true, "$top": true, "$skip": true, "$orderby": true, "$expand": true,
	"$count": true, "$search": true, "$format": true, "$skiptoken": true, "$deltatoken": true,
}

// ParseRequest canonicalises a request URL: see Canonicalize.
func ParseRequest(method string, u *url.URL) (Request, error) {
	return Canonicalize(method, u.EscapedPath(), u.RawQuery)
}

// maxQueryOptions bounds the options of one request.
const maxQueryOptions = 64

// Canonicalize turns a method, an escaped path and a raw query into a
// Request. It decodes percent-escapes exactly once and rejects, with an
// error wrapping ErrAmbiguous, anything a second reader could take
// differently: dot or empty segments, encoded slashes or backslashes, a
// '%' left after decoding (double encoding), control characters, invalid
// UTF-8, malformed key syntax, and query options given twice. A path
// outside /v1.0/ and /beta/ is ErrNotGraph.
func Canonicalize(method, escapedPath, rawQuery string) (Request, error) {
	var r Request
	r.Method = strings.ToUpper(method)
	if !validMethod(r.Method) {
		return r, ambiguous("method %q is not one Graph serves", method)
	}
	rest, ok := "", false
	for _, v := range Versions {
		if rest, ok = strings.CutPrefix(escapedPath, "/"+v); ok && (rest == "" || rest[0] == '/') {
			r.Version = v
			break
		}
		ok = false
	}
	if !ok {
		return r, ErrNotGraph
	}
	if rest == "" || rest == "/" {
		return r, ambiguous("no resource after the version")
	}
	segs, err := splitPath(rest[1:])
	if err != nil {
		return r, err
	}
	r.Segments = segs
	r.Path = "/" + strings.Join(segs, "/")
	r.Query, r.Select, err = queryOptions(rawQuery, &r)
	return r, err
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PATCH", "PUT", "DELETE":
		return true
	}
	return false
}

func ambiguous(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAmbiguous, fmt.Sprintf(format, args...))
}

// splitPath splits and decodes the escaped path after the version.
func splitPath(p string) ([]string, error) {
	n := strings.Count(p, "/") + 1
	segs := make([]string, 0, n+2)
	for raw := range strings.SplitSeq(p, "/") {
		seg, err := decodeSegment(raw)
		if err != nil {
			return nil, err
		}
		n--
		// OData key syntax: users('x') ≡ users/x, and delta() ≡ delta.
		if i := strings.IndexByte(seg, '('); i >= 0 {
			name, key, err := splitKey(seg, i, n == 0)
			if err != nil {
				return nil, err
			}
			segs = append(segs, name)
			if key != "" {
				segs = append(segs, key)
			}
			continue
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// decodeSegment percent-decodes one segment once and rejects what could be
// read twice.
func decodeSegment(raw string) (string, error) {
	if raw == "" {
		return "", ambiguous("empty path segment")
	}
	if strings.ContainsAny(raw, `\`) {
		return "", ambiguous("backslash in the path")
	}
	seg := raw
	if strings.IndexByte(raw, '%') >= 0 {
		lower := strings.ToLower(raw)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			return "", ambiguous("encoded slash or backslash in a path segment")
		}
		var err error
		if seg, err = url.PathUnescape(raw); err != nil {
			return "", ambiguous("malformed percent-encoding in the path")
		}
		if strings.IndexByte(seg, '%') >= 0 {
			return "", ambiguous("'%%' after decoding the path (double encoding)")
		}
	}
	if seg == "." || seg == ".." {
		return "", ambiguous("dot segment in the path")
	}
	if !utf8.ValidString(seg) {
		return "", ambiguous("invalid UTF-8 in the path")
	}
	if strings.Contains(seg, "\u017f") || strings.Contains(seg, "\u212a") {
		// The rules' literals are matched in ASCII case; a reader that
		// folds "mailboxſettings" to mailboxSettings would take the call
		// for the literal's, which the policy decided under a looser
		// {name} beside it. İ and ı, everyday letters of Turkish names
		// (a file's, by its path), are left: case-blind comparisons that
		// ignore culture keep them apart from i.
		return "", ambiguous("a long s (ſ) or a Kelvin sign, which a case-blind reader takes for s or k, in a path segment")
	}
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c < 0x20 || c == 0x7f || c == '?' {
			return "", ambiguous("control character or '?' in a path segment")
		}
	}
	return seg, nil
}

// splitKey reads name('key'), name(guid) and, on the path's last segment,
// name(); anything else with parentheses (named keys, function
// parameters) is refused. OData writes a call of a function without
// parameters as name(), which can only end a path here (Graph's
// composable functions take parameters, refused anyway); on an entity set
// or a navigation (users()/x, calendar()/events, $batch()) the policy
// would decide on a path Graph reads otherwise, or not at all. A string
// key is quoted in OData: unquoted, only a GUID is a key.
func splitKey(seg string, open int, last bool) (name, key string, err error) {
	name, inner := seg[:open], seg[open+1:]
	inner, ok := strings.CutSuffix(inner, ")")
	if !ok || name == "" || strings.ContainsAny(name, "()'") {
		return "", "", ambiguous("malformed key syntax in %q", seg)
	}
	switch {
	case inner == "" && (!last || strings.HasPrefix(name, "$")):
		return "", "", ambiguous("empty parentheses in %q, which is no function call ending the path", seg)
	case inner == "":
		return name, "", nil
	case len(inner) >= 2 && inner[0] == '\'' && inner[len(inner)-1] == '\'':
		key = inner[1 : len(inner)-1]
		// Inside quotes a quote is doubled; a lone one ends the key early.
		if strings.Contains(strings.ReplaceAll(key, "''", ""), "'") {
			return "", "", ambiguous("unbalanced quote in key %q", seg)
		}
		key = strings.ReplaceAll(key, "''", "'")
	case isGUID(inner):
		key = inner
	case !strings.ContainsAny(inner, "'=(),"):
		return "", "", ambiguous("unquoted key %q is no GUID: OData quotes a string key ('…')", seg)
	default:
		return "", "", ambiguous("key or function parameters %q are not supported", seg)
	}
	if key == "" || key == "." || key == ".." || strings.ContainsAny(key, "/()") {
		return "", "", ambiguous("malformed key in %q", seg)
	}
	return name, key, nil
}

// isControl reports a C0 or C1 control character or DEL: decoded in a
// query (%00, %0A), one a server may end or split a value at.
func isControl(r rune) bool { return r < 0x20 || 0x7f <= r && r < 0xa0 }

// checkOptionValue refuses values a server might read differently from the
// policy: a non-number for $top and $skip, a non-boolean $count, and any
// value that, decoded, carries another query option ("1&$expand=...").
func checkOptionValue(name, raw string) error {
	v, err := url.QueryUnescape(raw)
	if err != nil || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
		return ambiguous("malformed value of %s", name)
	}
	switch name {
	case "$top", "$skip":
		if v == "" || len(v) > 9 || strings.Trim(v, "0123456789") != "" {
			return ambiguous("%s must be a number", name)
		}
	case "$count":
		if v != "true" && v != "false" {
			return ambiguous("$count must be true or false")
		}
	}
	for _, part := range strings.Split(v, "&")[1:] {
		inner, _, ok := strings.Cut(part, "=")
		inner = strings.ToLower(strings.TrimSpace(inner))
		if ok && isSystemOption(inner) {
			return ambiguous("the value of %s carries the query option %s", name, inner)
		}
	}
	return nil
}

// otherSystemOptions are OData's system query options a rule cannot
// allow ($apply, $compute, …): Graph reads them all the same, with or
// without "$".
var otherSystemOptions = map[string]bool{
	"$apply": true, "$compute": true, "$levels": true, "$index": true, "$schemaversion": true, "$id": true,
}

// isSystemOption reports whether a lower-case option name is one OData
// reads as a system query option: any name with a "$" (OData reserves
// them all), or a known one without it.
func isSystemOption(name string) bool {
	return strings.HasPrefix(name, "$") || systemOptions["$"+name] || otherSystemOptions["$"+name]
}

// queryByte reports why a byte of a raw query could be read otherwise by
// a server than by queryOptions, or "": '#' ends the query for a reader
// that takes it for a fragment (what follows never reaches Graph, though
// the policy decided on it); ';' separates options for some servers; white
// space, control characters and bytes past ASCII are not in a URI at all,
// and each front end mends them its own way. Clients escape every one of
// them in a value (%23, %3B, %20).
func queryByte(c byte) string {
	switch {
	case c == '#':
		return "a '#' in the query (a fragment to some readers)"
	case c == ';':
		return "a ';' in the query (an option separator to some readers)"
	case c <= ' ' || c >= 0x7f:
		return "a space, control character or non-ASCII byte in the query, unescaped"
	}
	return ""
}

// queryOptions returns the option names and the $select fields.
func queryOptions(raw string, r *Request) (names, sel []string, err error) {
	if raw == "" {
		return nil, nil, nil
	}
	for i := 0; i < len(raw); i++ {
		if why := queryByte(raw[i]); why != "" {
			return nil, nil, ambiguous("%s", why)
		}
	}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil || name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
			return nil, nil, ambiguous("malformed query option name")
		}
		name = strings.ToLower(name)
		if !strings.HasPrefix(name, "$") && systemOptions["$"+name] {
			name = "$" + name
		}
		for _, n := range names {
			if n == name {
				return nil, nil, ambiguous("query option %s given twice", name)
			}
		}
		if len(names) == maxQueryOptions {
			// Graph's calls take a handful; many more only make the
			// duplicate check above costly.
			return nil, nil, ambiguous("more than %d query options", maxQueryOptions)
		}
		names = append(names, name)
		if err := checkOptionValue(name, rawValue); err != nil {
			return nil, nil, err
		}
		switch name {
		case "$filter", "$orderby", "$expand":
			v, _ := url.QueryUnescape(rawValue) // checked above
			switch name {
			case "$filter":
				r.filter = v
			case "$orderby":
				r.orderby = v
			default:
				r.expand = v
			}
		}
		if name == "$select" {
			v, err := url.QueryUnescape(rawValue)
			if err != nil {
				return nil, nil, ambiguous("malformed $select")
			}
			for f := range strings.SplitSeq(v, ",") {
				if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
					sel = append(sel, f)
				}
			}
		}
	}
	sort.Strings(names)
	return names, sel, nil
}
