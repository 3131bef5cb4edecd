package policy

import (
	"slices"
	"strings"
)

// Graph's paging and delta links carry $skiptoken and $deltatoken: a rule
// that pages accepts them without listing them, so that an SDK following
// @odata.nextLink or @odata.deltaLink keeps working. Only a call that
// pages takes them: elsewhere they are options the rule does not allow,
// forwarded for Graph to read as it will.

// singletons are the single-valued navigations a rule's path may end in
// (lower case): a GET of one answers one object, never a page.
var singletons = []string{
	"me", "calendar", "mailboxsettings", "drive", "root", "manager", "photo", "presence",
	"inferenceclassification", "outlook", "settings", "event", "$value", "content", "$count",
}

// impliedPaging reports whether query option q, which rule r does not
// list, is accepted on req as a paging token: $skiptoken on a GET of a
// collection (the rule's path ends in a literal that is no singleton),
// $deltatoken on a GET of a delta function.
func impliedPaging(r *rule, req *Request, q string) bool {
	if req.Method != "GET" || len(req.Segments) == 0 || len(r.tmpl.parts) == 0 {
		return false
	}
	last := r.tmpl.parts[len(r.tmpl.parts)-1]
	if last.kind != literal {
		return false // an item by its key, or a segment the rule leaves open
	}
	switch q {
	case "$deltatoken":
		return strings.EqualFold(operationName(req.Segments[len(req.Segments)-1]), "delta")
	case "$skiptoken":
		return !slices.Contains(singletons, strings.ToLower(operationName(last.lit)))
	}
	return false
}
