package policy

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// Request is a Graph request in canonical form.
type Request struct {
	// Method is the HTTP method, upper case.
	Method string
	// Version is "v1.0" or "beta".
	Version string
	// Path is the resource path after the version, e.g. "/users/x/events",
	// as escaped in the request.
	Path string
	// Query lists the query option names, sorted, values never kept.
	Query []string
}

// ErrNotGraph reports a path outside /v1.0 and /beta.
var ErrNotGraph = errors.New("policy: not a Graph API path")

// Versions are the Graph API versions the proxy serves.
var Versions = []string{"v1.0", "beta"}

// ParseRequest splits a request URL into its canonical parts. It returns
// ErrNotGraph for paths outside /v1.0/ and /beta/.
func ParseRequest(method string, u *url.URL) (Request, error) {
	p := u.EscapedPath()
	for _, v := range Versions {
		if rest, ok := strings.CutPrefix(p, "/"+v); ok && (rest == "" || rest[0] == '/') {
			return Request{Method: strings.ToUpper(method), Version: v, Path: rest, Query: queryNames(u.RawQuery)}, nil
		}
	}
	return Request{}, ErrNotGraph
}

func queryNames(raw string) []string {
	if raw == "" {
		return nil
	}
	var names []string
	for part := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
