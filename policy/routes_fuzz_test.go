package policy

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// tailMatches is how routeOf matched a route before it read the request's
// operation names once: every segment read afresh (in NFKC) for every route.
// FuzzRouteOf holds routeOf to it.
func tailMatches(tail [][]string, segs []string, whole, exact bool) bool {
	if len(segs) < len(tail) || whole && len(segs) != len(tail) {
		return false
	}
	segs = segs[len(segs)-len(tail):]
	for i, alts := range tail {
		if alts[0] == "*" {
			continue
		}
		seg := segs[i]
		if !exact {
			seg = operationName(norm.NFKC.String(seg))
		}
		if !slices.ContainsFunc(alts, func(w string) bool { return strings.EqualFold(w, seg) || !exact && spelledAs(seg, w) }) {
			return false
		}
	}
	return true
}

func routeOfReference(req Request) *route {
	for i := range routes {
		rt := &routes[i]
		if slices.Contains(rt.methods, req.Method) && tailMatches(rt.alts, req.Segments, rt.whole, rt.exact) &&
			(rt.paths == nil || rt.paths(req.Segments)) {
			return rt
		}
	}
	return nil
}

// FuzzRouteOf holds routeOf to routeOfReference on any method and any
// segments, each route's own spellings among the seeds.
func FuzzRouteOf(f *testing.F) {
	for _, rt := range routes {
		var segs []string
		for _, alts := range rt.alts {
			segs = append(segs, alts[len(alts)-1])
		}
		path := strings.Join(segs, "/")
		for _, m := range rt.methods {
			f.Add(m, "users/bob@contoso.example/"+path)
			f.Add(m, path)
			f.Add(m, strings.ToUpper(path))
			f.Add(m, "me/"+path+"()")
			f.Add(m, "me/"+strings.ReplaceAll(path, "/", "/microsoft.graph.")+";x=1")
		}
	}
	for _, s := range []string{"users/a/events/ſend", "users/a/messages/1/microſoft.graph.send", "me/messages/1/ſend ", "me/messages/1/unſubscribe;x=1", "me/messages/1/graph.SEND()", "me/drive/items/1/$value", "me/drive/items/1/content(x)",
		"me/messages/1/send ", "me/messages/1/sendx", "", "/", "getschedule", "users/a/calendar/getSchedule"} {
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		req := Request{Method: method, Segments: strings.Split(path, "/")}
		if got, want := routeOf(&req), routeOfReference(req); got != want {
			name := func(rt *route) string {
				if rt == nil {
					return "none"
				}
				return rt.name
			}
			t.Fatalf("%s %q: routeOf %s; the reference %s", method, path, name(got), name(want))
		}
	})
}
