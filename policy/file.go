package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/graph-proxy/graph-proxy/internal/didyoumean"
)

// The wire schema: what the customer writes. It compiles into Policy and
// nothing else reads it.

// Problem is one thing wrong with a policy file.
type Problem struct {
	File string
	Line int
	// Rule is the rule or caller the problem is in, e.g. `rule "free-busy"`.
	Rule   string
	Reason string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Rule != "" {
		b.WriteString(p.Rule + ": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// LoadError lists every problem of a policy file.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("invalid policy:")
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// LoadFile reads and compiles a policy file.
func LoadFile(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(name, data)
}

// Parse compiles a policy from YAML. name is used in problem reports. On
// any problem it returns a *LoadError with all of them: unknown keys, a
// missing or wrong version, bad paths, methods, versions and query options,
// unknown permissions, duplicate rule ids or rules, and rules no caller
// can use.
func Parse(name string, data []byte) (*Policy, error) {
	l := &policyLoader{file: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		l.yamlErr(err)
		return nil, l.err()
	}
	if len(root.Content) == 0 {
		l.add(0, "", "the policy is empty; it needs at least version: 1, callers and rules")
		return nil, l.err()
	}
	l.root = root.Content[0]
	var f fileSchema
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		l.yamlErr(err)
		return nil, l.err()
	}
	p := l.compile(&f)
	if err := l.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	p.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return p, nil
}

type policyLoader struct {
	file     string
	root     *yaml.Node
	problems []Problem
	// warnings are what lint says of a policy that loads, besides its
	// responses' (permission names read by their alias); aliased maps
	// each such name, as written, to the permission it was read as.
	warnings []Problem
	aliased  map[string]string
}

func (l *policyLoader) add(line int, rule, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Rule: rule, Reason: fmt.Sprintf(format, args...)})
}

func (l *policyLoader) err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return &LoadError{Problems: l.problems}
}

var (
	yamlLineRe    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownKeyRe  = regexp.MustCompile(`^field (\S+) not found in type policy\.(\w+)$`)
	wireTypeNames = map[string]reflect.Type{
		"fileSchema": reflect.TypeOf(fileSchema{}), "yamlCaller": reflect.TypeOf(yamlCaller{}),
		"yamlMatch": reflect.TypeOf(yamlMatch{}), "yamlUsers": reflect.TypeOf(yamlUsers{}), "yamlWithoutGroup": reflect.TypeOf(yamlWithoutGroup{}),
		"yamlRule": reflect.TypeOf(yamlRule{}), "yamlSubscriptions": reflect.TypeOf(yamlSubscriptions{}),
		"yamlMail": reflect.TypeOf(yamlMail{}), "yamlRate": reflect.TypeOf(yamlRate{}), "yamlResponse": reflect.TypeOf(yamlResponse{}), "yamlContent": reflect.TypeOf(yamlContent{}),
		"yamlDelegated": reflect.TypeOf(yamlDelegated{}),
	}
)

// yamlErr turns yaml's errors (one or many, each "line N: ...") into
// problems, rewording unknown keys with a suggestion.
func (l *policyLoader) yamlErr(err error) {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for _, m := range msgs {
		line := 0
		if g := yamlLineRe.FindStringSubmatch(m); g != nil {
			line, _ = strconv.Atoi(g[1])
			m = g[2]
		}
		if g := unknownKeyRe.FindStringSubmatch(m); g != nil {
			reason := fmt.Sprintf("unknown key %q", g[1])
			if s := nearest(g[1], yamlKeys(wireTypeNames[g[2]])); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.add(line, "", "%s", reason)
			continue
		}
		l.add(line, "", "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

func yamlKeys(t reflect.Type) []string {
	if t == nil {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return keys
}

// lineOf finds the line of a path of mapping keys and sequence indexes in
// the document, e.g. lineOf("rules", 2, "permission"); the line of the
// deepest node found.
func (l *policyLoader) lineOf(path ...any) int {
	n := l.root
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var methods = []string{"GET", "POST", "PATCH", "PUT", "DELETE"}

// knownQueryOptions are the query options a rule may allow.
var knownQueryOptions = []string{"$select", "$filter", "$top", "$skip", "$orderby", "$expand", "$count",
	"$search", "$format", "$skiptoken", "$deltatoken", "startdatetime", "enddatetime"}

func (l *policyLoader) compile(f *fileSchema) *Policy {
	p := &Policy{callers: map[string]*caller{}, root: &node{}, externalLinks: f.ExternalLinks}
	if f.Version != 1 {
		if f.Version == 0 {
			l.add(l.lineOf("version"), "", "version is required: add version: 1")
		} else {
			l.add(l.lineOf("version"), "", "version %d is not supported; this proxy reads version: 1", f.Version)
		}
	}
	switch f.Mode {
	case "", "enforce":
		p.reportOnly = false
	case "report-only":
		p.reportOnly = true
	default:
		l.add(l.lineOf("mode"), "", "mode %q is not enforce or report-only", f.Mode)
	}
	if len(f.Callers) == 0 {
		l.add(l.lineOf("callers"), "", "no callers: every request would be refused")
	}
	if len(f.Rules) == 0 {
		l.add(l.lineOf("rules"), "", "no rules: every request would be refused")
	}

	held := map[string]bool{}
	for i, yc := range f.Callers {
		c := l.compileCaller(i, yc)
		if c == nil {
			continue
		}
		if _, dup := p.callers[c.name]; dup {
			l.add(l.lineOf("callers", i, "name"), fmt.Sprintf("caller %q", c.name), "the name is used by another caller")
			continue
		}
		if other := delegatedTwice(p.callerOrder, c); other != "" {
			l.add(l.lineOf("callers", i, "delegated"), fmt.Sprintf("caller %q", c.name),
				"caller %q declares delegated access for application %s too: a user's token names the application alone, so its users would be %q's; give the application's delegated access to one caller", other, c.appID, other)
		}
		p.callers[c.name] = c
		p.callerOrder = append(p.callerOrder, c)
		for perm := range c.permissions {
			held[perm] = true
		}
	}

	ids := map[string]int{}
	type key struct{ method, path, version string }
	seen := map[key]string{}
	for i, yr := range f.Rules {
		r := l.compileRule(i, yr)
		if r == nil {
			continue
		}
		name := fmt.Sprintf("rule %q", r.id)
		if prev, dup := ids[r.id]; dup {
			l.add(l.lineOf("rules", i, "id"), name, "the id is used by the rule on line %d; ids must be unique", prev)
			continue
		}
		ids[r.id] = l.lineOf("rules", i, "id")
		if r.permission != "" && !held[r.permission] {
			l.add(l.lineOf("rules", i, "permission"), name, "no caller holds %s, so no caller can use this rule; add it to a caller's permissions or remove the rule", r.permission)
		}
		l.checkDelegatedHeld(i, r, p)
		r.delegatedReads = delegatedReadScopes(r)
		for _, m := range r.methods {
			for _, v := range r.versions {
				k := key{m, strings.ToLower(normalizeTemplate(r.tmpl)), v}
				if other, dup := seen[k]; dup {
					l.add(l.lineOf("rules", i, "path"), name, "%s %s (%s) is already covered by rule %q; merge the two", m, r.tmpl.text, v, other)
				}
				seen[k] = r.id
			}
		}
		p.rules = append(p.rules, r)
		p.root.insert(r.tmpl, r)
	}

	if s := f.Subscriptions; s != nil {
		for j, u := range s.NotificationURLs {
			if err := checkNotificationURL(u); err != nil {
				l.add(l.lineOf("subscriptions", "notificationUrls", j), "subscriptions", "%v", err)
			}
		}
		p.notificationURLs = s.NotificationURLs
		p.includeResourceData = s.IncludeResourceData
	}
	if f.Mail != nil {
		for j, d := range f.Mail.RecipientDomains {
			if !validDomain(d) {
				l.add(l.lineOf("mail", "recipientDomains", j), "mail", "%q is not a domain name", d)
			}
			p.recipientDomains = append(p.recipientDomains, strings.ToLower(d))
		}
	}
	l.checkPeopleRules(f, p)
	l.compileContent(f, p)
	p.warnings = append(l.warnings, l.compileResponses(f, p)...)
	slices.SortStableFunc(p.warnings, func(a, b Problem) int { return a.Line - b.Line })
	p.aliased = l.aliased
	return p
}

// normalizeTemplate names every variable alike, so that /a/{x} and /a/{y}
// count as the same path.
func normalizeTemplate(t template) string {
	var b strings.Builder
	for _, p := range t.parts {
		b.WriteByte('/')
		switch p.kind {
		case literal:
			b.WriteString(p.lit)
		case userVar:
			b.WriteString("{user}")
		default:
			b.WriteString("{}")
		}
	}
	return b.String()
}

func (l *policyLoader) compileCaller(i int, yc yamlCaller) *caller {
	name := fmt.Sprintf("caller %q", yc.Name)
	line := func(k ...any) int { return l.lineOf(append([]any{"callers", i}, k...)...) }
	if yc.Name == "" {
		l.add(line(), fmt.Sprintf("callers[%d]", i), "name is required")
		return nil
	}
	c := &caller{name: yc.Name, permissions: map[string]bool{}}
	m := yc.Match
	switch {
	case m.CertThumbprint != "" && (m.TenantID != "" || m.AppID != ""):
		l.add(line("match"), name, "match either tenantID and appID (Entra ID tokens) or certThumbprint (client certificates), not both")
	case m.CertThumbprint != "":
		tp := strings.ToLower(strings.ReplaceAll(m.CertThumbprint, ":", ""))
		if b, err := hex.DecodeString(tp); err != nil || (len(b) != 20 && len(b) != 32) {
			l.add(line("match", "certThumbprint"), name, "certThumbprint %q is not a SHA-1 or SHA-256 thumbprint in hex", m.CertThumbprint)
		}
		c.thumbprint = tp
	case m.TenantID != "" || m.AppID != "":
		if !isGUID(m.TenantID) {
			l.add(line("match", "tenantID"), name, "tenantID %q is not a GUID", m.TenantID)
		}
		if !isGUID(m.AppID) {
			l.add(line("match", "appID"), name, "appID %q is not a GUID", m.AppID)
		}
		c.tenantID, c.appID = strings.ToLower(m.TenantID), strings.ToLower(m.AppID)
	default:
		l.add(line(), name, "match is required: tenantID and appID, or certThumbprint")
	}
	l.compileDelegated(i, yc, c)
	if len(yc.Permissions) == 0 && yc.Delegated == nil {
		l.add(line(), name, "permissions are required: the Graph permissions this caller may exercise")
	}
	for j, perm := range yc.Permissions {
		canon, ok := l.applicationPermission(line("permissions", j), name, perm)
		if !ok {
			l.add(line("permissions", j), name, "%s", unknownPermission(perm))
			continue
		}
		c.permissions[canon] = true
	}
	switch yc.Notifications {
	case "", NotifyDirect:
	case NotifyRelay:
		c.relay = true
	default:
		l.add(line("notifications"), name, "notifications %q is not %s or %s", yc.Notifications, NotifyDirect, NotifyRelay)
	}
	c.limits = DefaultLimits
	if r := yc.RateLimit; r != nil {
		set := func(v *int, got int, key string, max int) {
			switch {
			case got < 0 || (max > 0 && got > max):
				l.add(line("rateLimit", key), name, "rateLimit.%s %d must be between 1 and %d", key, got, max)
			case got > 0:
				*v = got
			}
		}
		if r.RPS < 0 {
			l.add(line("rateLimit", "rps"), name, "rateLimit.rps must be positive")
		} else if r.RPS > 0 {
			c.limits.RPS = r.RPS
		}
		set(&c.limits.Burst, r.Burst, "burst", 100000)
		set(&c.limits.Concurrent, r.Concurrent, "concurrent", 10000)
		// Graph's own ceilings for one app in one mailbox: more would only
		// turn into Graph's 429s, shared by every vendor.
		set(&c.limits.MailboxConcurrent, r.MailboxConcurrent, "mailboxConcurrent", 4)
		set(&c.limits.MailboxPer10Min, r.MailboxPer10Min, "mailboxPer10Min", 10000)
	}
	if yc.Users != nil {
		if !isGUID(yc.Users.Group) {
			l.add(line("users", "group"), name, "users.group %q is not a group object id (a GUID)", yc.Users.Group)
		}
		c.group = strings.ToLower(yc.Users.Group)
		if wg := yc.Users.WithoutGroup; wg != nil {
			for j, d := range wg.Domains {
				if !validDomain(d) {
					l.add(line("users", "withoutGroup", "domains", j), name, "%q is not a domain name", d)
				}
				c.withoutGroupDomains = append(c.withoutGroupDomains, strings.ToLower(d))
			}
			for j, a := range wg.Addresses {
				addr, err := ParseAddress(a)
				if err != nil {
					l.add(line("users", "withoutGroup", "addresses", j), name, "%q is not one email address: %v", a, err)
					continue
				}
				c.withoutGroupAddresses = append(c.withoutGroupAddresses, addr.String())
			}
		}
	}
	return c
}

// applicationPermission reads a permission name of the policy (at line,
// in rule) as the application permission it stands for, noting a warning
// when the name is an alias (ApplicationAliases).
func (l *policyLoader) applicationPermission(line int, rule, name string) (string, bool) {
	canon, aliased, ok := applicationPermission(name)
	if aliased {
		l.warnings = append(l.warnings, Problem{File: l.file, Line: line, Rule: rule, Reason: aliasReason(name, canon)})
		if l.aliased == nil {
			l.aliased = map[string]string{}
		}
		l.aliased[name] = canon
	}
	return canon, ok
}

func unknownPermission(perm string) string {
	reason := fmt.Sprintf("unknown permission %q", perm)
	if s := nearestPermission(perm); s != "" {
		reason += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return reason
}

// nearestPermission suggests the application permission closest to a
// misspelt name, counting aliases: a typo of Calendars.ReadBasic is
// answered with Calendars.ReadBasic.All.
func nearestPermission(perm string) string {
	candidates := slices.Clone(Permissions)
	for alias := range ApplicationAliases {
		candidates = append(candidates, alias)
	}
	s := nearest(perm, candidates)
	if canon, ok := ApplicationAliases[s]; ok {
		return canon
	}
	return s
}

func (l *policyLoader) compileRule(i int, yr yamlRule) *rule {
	line := func(k ...any) int { return l.lineOf(append([]any{"rules", i}, k...)...) }
	name := fmt.Sprintf("rule %q", yr.ID)
	if yr.ID == "" {
		name = fmt.Sprintf("rules[%d]", i)
		l.add(line(), name, "id is required")
	}
	r := &rule{id: yr.ID}
	ok := true
	if yr.Path == "" {
		l.add(line(), name, "path is required, e.g. /users/{user}/calendar/getSchedule")
		ok = false
	} else if t, err := parseTemplate(yr.Path); err != nil {
		l.add(line("path"), name, "%v", err)
		ok = false
	} else {
		r.tmpl = t
	}
	if len(yr.Method) == 0 {
		l.add(line(), name, "method is required (GET, POST, PATCH, PUT or DELETE)")
	}
	for j, m := range yr.Method {
		um := strings.ToUpper(m)
		if !slices.Contains(methods, um) {
			l.add(line("method", j), name, "method %q is not one of %s", m, strings.Join(methods, ", "))
			continue
		}
		r.methods = append(r.methods, um)
	}
	r.versions = []string{"v1.0"}
	if len(yr.Versions) > 0 {
		r.versions = nil
		for j, v := range yr.Versions {
			if !slices.Contains(Versions, v) {
				l.add(line("versions", j), name, "version %q is not v1.0 or beta", v)
				continue
			}
			r.versions = append(r.versions, v)
		}
	}
	for j, q := range yr.Query {
		canon := strings.ToLower(q)
		if !strings.HasPrefix(canon, "$") && systemOptions["$"+canon] {
			canon = "$" + canon
		}
		if !slices.Contains(knownQueryOptions, canon) {
			reason := fmt.Sprintf("query option %q is not one the proxy knows", q)
			if s := nearest(canon, knownQueryOptions); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.add(line("query", j), name, "%s", reason)
			continue
		}
		r.query = append(r.query, canon)
	}
	for _, s := range yr.Select {
		r.selectFields = append(r.selectFields, strings.ToLower(s))
	}
	if len(r.selectFields) > 0 && !slices.Contains(r.query, "$select") {
		l.add(line("select"), name, "select lists fields but query does not allow $select")
	}
	delegated := r.tmpl.text != "" && l.compileRuleScope(i, yr, r)
	if yr.Permission == "" {
		if !delegated {
			l.add(line(), name, "permission is required: the least Graph permission this call needs")
			ok = false
		}
	} else if canon, known := l.applicationPermission(line("permission"), name, yr.Permission); !known {
		l.add(line("permission"), name, "%s", unknownPermission(yr.Permission))
		ok = false
	} else {
		r.permission = canon
	}
	key, domains := "peopleDomains", yr.PeopleDomains
	switch {
	case len(yr.PeopleDomains) > 0 && len(yr.AttendeeDomains) > 0:
		l.add(line("attendeeDomains"), name, "attendeeDomains is the old name of peopleDomains; give one of them")
	case len(yr.AttendeeDomains) > 0:
		key, domains = "attendeeDomains", yr.AttendeeDomains
	}
	for j, d := range domains {
		if !validDomain(d) {
			l.add(line(key, j), name, "%q is not a domain name", d)
		}
		r.peopleDomains = append(r.peopleDomains, strings.ToLower(d))
	}
	if !ok || yr.ID == "" {
		return nil
	}
	return r
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
				return false
			}
		}
	}
	return true
}

// nearest returns the candidate closest to s (without case), if close
// enough to be a likely typo.
func nearest(s string, candidates []string) string { return didyoumean.Nearest(s, candidates, 4) }
