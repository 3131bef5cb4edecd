package policy

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Observation is one call seen in the audit log, as Suggest needs it.
type Observation struct {
	Caller   string
	TenantID string
	AppID    string
	Method   string
	Version  string
	// Path is the canonical path after the version.
	Path  string
	Query []string
}

// leastPermission is the least Graph application permission of known
// operations, by method and template.
var leastPermission = []struct {
	methods []string
	tmpl    string
	perm    string
}{
	{[]string{"GET"}, "/users", "User.ReadBasic.All"},
	{[]string{"GET"}, "/users/delta", "User.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}", "User.ReadBasic.All"},
	{[]string{"POST"}, "/users/{user}/calendar/getschedule", "Calendars.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/events", "Calendars.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/calendar/events", "Calendars.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/calendarview", "Calendars.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/calendar/calendarview", "Calendars.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/events/{id}", "Calendars.ReadBasic.All"},
	{[]string{"POST"}, "/users/{user}/events", "Calendars.ReadWrite"},
	{[]string{"POST"}, "/users/{user}/calendar/events", "Calendars.ReadWrite"},
	{[]string{"PATCH", "DELETE"}, "/users/{user}/events/{id}", "Calendars.ReadWrite"},
	{[]string{"PATCH", "DELETE"}, "/users/{user}/calendar/events/{id}", "Calendars.ReadWrite"},
	{[]string{"POST"}, "/users/{user}/onlinemeetings", "OnlineMeetings.ReadWrite.All"},
	{[]string{"GET"}, "/users/{user}/onlinemeetings/{id}", "OnlineMeetings.Read.All"},
	{[]string{"POST"}, "/users/{user}/checkmembergroups", "GroupMember.Read.All"},
	{[]string{"POST"}, "/users/{user}/sendmail", "Mail.Send"},
	{[]string{"GET"}, "/users/{user}/messages", "Mail.ReadBasic.All"},
	{[]string{"GET"}, "/users/{user}/mailboxsettings", "MailboxSettings.Read"},
	{[]string{"GET"}, "/places/microsoft.graph.room", "Place.Read.All"},
}

// generalize turns a concrete path into a template: users become {user},
// other ids (GUIDs and long opaque keys) {id}.
func generalize(path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	out := make([]string, len(segs))
	for i, s := range segs {
		switch {
		case isUser(s):
			out[i] = "{user}"
		case isGUID(s) || looksLikeID(s):
			out[i] = "{id}"
		default:
			out[i] = s
		}
	}
	// A second variable of the same name would not parse: number them.
	n := 0
	for i, s := range out {
		if s == "{id}" {
			n++
			if n > 1 {
				out[i] = fmt.Sprintf("{id%d}", n)
			}
		}
	}
	return "/" + strings.Join(out, "/")
}

// looksLikeID spots opaque keys such as Outlook's AAMkAD...= ids.
func looksLikeID(s string) bool {
	if len(s) < 20 {
		return false
	}
	digits, upper := 0, 0
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			digits++
		case unicode.IsUpper(r):
			upper++
		}
	}
	return digits > 0 && upper > 0 || strings.ContainsAny(s, "=-_") && digits > 2
}

// Suggest writes a least-privilege policy (YAML) that allows exactly the
// observed calls, generalised to templates, each with the least permission
// known for it. Calls whose permission is not known are listed as comments
// for the operator to decide.
func Suggest(obs []Observation) ([]byte, error) {
	type ruleKey struct{ method, tmpl string }
	type ruleAcc struct {
		versions map[string]bool
		query    map[string]bool
		callers  map[string]bool
	}
	type callerAcc struct {
		tenantID, appID string
		perms           map[string]bool
	}
	rules := map[ruleKey]*ruleAcc{}
	callers := map[string]*callerAcc{}
	for _, o := range obs {
		if o.Path == "" || o.Version == "" || o.Caller == "" || o.Path == "/$batch" {
			continue
		}
		k := ruleKey{strings.ToUpper(o.Method), generalize(o.Path)}
		r := rules[k]
		if r == nil {
			r = &ruleAcc{versions: map[string]bool{}, query: map[string]bool{}, callers: map[string]bool{}}
			rules[k] = r
		}
		r.versions[o.Version] = true
		r.callers[o.Caller] = true
		for _, q := range o.Query {
			if q != "$skiptoken" && q != "$deltatoken" {
				r.query[q] = true
			}
		}
		if callers[o.Caller] == nil {
			callers[o.Caller] = &callerAcc{tenantID: o.TenantID, appID: o.AppID, perms: map[string]bool{}}
		}
	}
	keys := make([]ruleKey, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].tmpl != keys[j].tmpl {
			return keys[i].tmpl < keys[j].tmpl
		}
		return keys[i].method < keys[j].method
	})

	var ruleNodes []map[string]any
	var unknown []string
	for _, k := range keys {
		r := rules[k]
		perm := ""
		lt := strings.ToLower(k.tmpl)
		for _, lp := range leastPermission {
			if lp.tmpl == normalizeVars(lt) && slices.Contains(lp.methods, k.method) {
				perm = lp.perm
			}
		}
		if perm == "" {
			unknown = append(unknown, k.method+" "+k.tmpl)
			continue
		}
		for c := range r.callers {
			callers[c].perms[perm] = true
		}
		rule := map[string]any{"id": ruleID(k.method, k.tmpl), "method": k.method, "path": k.tmpl, "permission": perm}
		if vs := sortedKeys(r.versions); len(vs) != 1 || vs[0] != "v1.0" {
			rule["versions"] = vs
		}
		if qs := sortedKeys(r.query); len(qs) > 0 {
			rule["query"] = qs
		}
		ruleNodes = append(ruleNodes, rule)
	}
	var callerNodes []map[string]any
	for _, name := range sortedKeys(callers) {
		c := callers[name]
		perms := sortedKeys(c.perms)
		if len(perms) == 0 {
			continue
		}
		callerNodes = append(callerNodes, map[string]any{
			"name":        name,
			"match":       map[string]string{"tenantID": c.tenantID, "appID": c.appID},
			"permissions": perms,
		})
	}
	doc := yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v any) error {
		var vn yaml.Node
		if err := vn.Encode(v); err != nil {
			return err
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &vn)
		return nil
	}
	add("version", 1)
	add("mode", "enforce")
	if err := add("callers", callerNodes); err != nil {
		return nil, err
	}
	if err := add("rules", ruleNodes); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Suggested by graph-proxy policy suggest from observed traffic.\n# Review before use: every rule allows what was seen, and no more.\n")
	for _, u := range unknown {
		fmt.Fprintf(&b, "# Not included, least permission unknown: %s\n", u)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// normalizeVars names every non-user variable {id}, for table lookup.
func normalizeVars(t string) string {
	parts := strings.Split(t, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && p != "{user}" {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

func ruleID(method, tmpl string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, s := range strings.Split(strings.TrimPrefix(tmpl, "/"), "/") {
		switch {
		case s == "{user}":
			s = "user"
		case strings.HasPrefix(s, "{"):
			s = "item"
		}
		b.WriteByte('-')
		b.WriteString(strings.ToLower(s))
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
