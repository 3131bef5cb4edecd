package policy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// readingsPolicy has literal rules whose answers are limited (a user's
// fields, the mailbox settings' fields, the calendar's) beside {name}
// rules that limit nothing, and the casts the SDKs write, each named by
// a rule of its own.
const readingsPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [MailboxSettings.Read, User.Read.All, Calendars.ReadBasic.All]
rules:
  - { id: user, method: GET, path: "/users/{user}", query: [$select], select: [displayName], permission: User.Read.All }
  - { id: settings, method: GET, path: "/users/{user}/mailboxSettings", query: [$select], select: [timezone], permission: MailboxSettings.Read }
  - { id: calendar, method: GET, path: "/users/{user}/calendar", permission: Calendars.ReadBasic.All, response: { fields: [name] } }
  - { id: memberships, method: GET, path: "/users/{user}/memberOf", permission: User.Read.All }
  - { id: group-memberships, method: GET, path: "/users/{user}/memberOf/graph.group", permission: User.Read.All }
  - { id: transitive-groups, method: GET, path: "/users/{user}/transitiveMemberOf/microsoft.graph.group/$count", permission: User.Read.All }
  - { id: group-users, method: GET, path: "/groups/{id}/members/microsoft.graph.user", permission: User.Read.All }
  - { id: group-member-any, method: GET, path: "/groups/{id}/members/{m}", permission: User.Read.All }
  - { id: user-any, method: GET, path: "/users/{user}/{name}", permission: User.Read.All }
  - { id: user-deep, method: GET, path: "/users/{user}/{name}/{x}", permission: User.Read.All }
`

// TestPathReadOtherwise: Graph ignores a type cast to an entity's own
// type (users/{id}/microsoft.graph.user/mailboxSettings is the mailbox's
// settings), and a lenient server reads a segment without what follows
// a ';' (a matrix parameter) or without trailing white space or dots.
// Either reading of a path must not be served by a looser rule than the
// one that names its segments as literals: the literal's select,
// response section and people's domains would be skipped. Such a path
// is refused; a cast a rule names is that rule's.
func TestPathReadOtherwise(t *testing.T) {
	p, err := Parse("readings.yaml", []byte(readingsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	u := "/v1.0/users/" + alice
	for _, target := range []string{
		// A cast after an entity segment, before the literal.
		u + "/microsoft.graph.user/mailboxSettings",
		u + "/graph.user/mailboxSettings",
		u + "/Microsoft.Graph.User/MailboxSettings",
		"/v1.0/users('" + alice + "')/microsoft.graph.user/calendar",
		// A cast ending the path, on the literal's own entity.
		u + "/microsoft.graph.user",
		u + "/mailboxSettings/microsoft.graph.mailboxSettings",
		u + "/calendar/graph.calendar",
		// Read as a cast, which the proxy cannot tell from one Graph
		// ignores, it is the user: the user rule's, refused under {name}.
		u + "/microsoft.graph.todo",
		// Characters a lenient server trims or takes for a parameter.
		u + "/mailboxSettings;x=1",
		u + "/mailboxSettings;",
		u + "/mailboxSettings%3Bx=1",
		u + "/mailboxSettings%20",
		u + "/calendar%20",
		u + "/mailboxSettings.",
		u + "/mailboxSettings%20.",
		u + "/%20mailboxSettings",
		u + "/mailboxSettings%C2%A0",
		u + "/mailboxSettings%E2%80%8B",
		u + "/%EF%BB%BFmailboxSettings",
		u + "/calendar%C2%AD",
		u + "/microsoft.graph.user%20/mailboxSettings",
		u + "/graph.user;x=1/calendar",
		// Compatibility forms NFKC reads as ASCII: full-width letters,
		// a full-width ';' or '.', a ligature, a circled or superscript
		// letter, alone or with the readings above.
		u + "/%EF%BD%8DailboxSettings",
		u + "/\uff4d\uff41\uff49\uff4c\uff42\uff4f\uff58\uff33\uff45\uff54\uff54\uff49\uff4e\uff47\uff53",
		u + "/\uff23\uff21\uff2c\uff25\uff2e\uff24\uff21\uff32",
		u + "/mailboxSettings\uff1bx=1",
		u + "/calendar\uff0e",
		u + "/mailboxSetting\u24e2",
		u + "/mailbox\u02e2ettings",
		u + "/\uff4d\uff49\uff43\uff52\uff4f\uff53\uff4f\uff46\uff54.graph.user/calendar",
		u + "/microsoft\uff0egraph\uff0euser/mailboxSettings",
		u + "/calendar/\uff47raph.calendar",
		// NFKC makes a '/' of a full-width solidus or of ℀ (a/c): the
		// pieces are read as segments.
		u + "/mailboxSettings\uff0f",
		u + "/\uff0fcalendar",
		u + "/graph.user\uff0fmailboxSettings",
		// Control characters are refused as the path is read.
		u + "/events%09",
		u + "/mailboxSettings%00",
		u + "/calendar%0A",
	} {
		path, query, _ := strings.Cut(target, "?")
		req, err := Canonicalize("GET", path, query)
		if err != nil {
			if !errors.Is(err, ErrAmbiguous) {
				t.Errorf("%s: %v; want ErrAmbiguous", target, err)
			}
			continue
		}
		d := p.Decide(Args{Caller: "engage", Request: req})
		if d.Result == Allow || d.RuleID == "user-any" || d.RuleID == "user-deep" {
			t.Errorf("%s: %s under rule %q (%s); want refused", target, d.Result, d.RuleID, d.Reason)
		}
	}
	for _, tt := range []struct{ target, rule string }{
		{u + "/mailboxSettings", "settings"},
		{u + "/MAILBOXSETTINGS", "settings"},
		{u + "/calendar", "calendar"},
		{u + "/memberOf/graph.group", "group-memberships"},
		{u + "/transitiveMemberOf/microsoft.graph.group/$count", "transitive-groups"},
		{"/v1.0/groups/g1/members/microsoft.graph.user", "group-users"},
		{u + "/events", "user-any"},
		{u + "/calendar/events", "user-deep"},
		// Read leniently, no other rule serves them: they are user-any's.
		{u + "/notes;x=1", "user-any"},
		{u + "/a%20file.", "user-any"},
		{"/v1.0/groups/g1/members/microsoft.graph.device", "group-member-any"},
		// Letters that are no compatibility form of a literal's, and
		// compatibility forms of a name no other rule serves, are names.
		{u + "/\u65e5\u672c\u8a9e.docx", "user-any"},
		{u + "/K\u0131rm\u0131z\u0131\u0130", "user-any"},
		{u + "/\uff76\uff80\uff76\uff85", "user-any"},
		{u + "/\uff45\uff56\uff45\uff4e\uff54\uff53", "user-any"},
		{u + "/\ufb01le", "user-any"},
		{u + "/calendar/\uff45vents", "user-deep"},
		{u + "/\u2100", "user-any"},
		{u + "/2024\uff0f03.docx", "user-any"},
		// A UPN that starts with Graph's alias is no cast.
		{"/v1.0/users/graph.admin@contoso.example/mailboxSettings", "settings"},
		{"/v1.0/users/graph.admin@contoso.example/events", "user-any"},
	} {
		d := p.Decide(Args{Caller: "engage", Request: canonical(t, "GET", tt.target)})
		if d.Result != Allow || d.RuleID != tt.rule {
			t.Errorf("%s: %s under rule %q (%s); want allowed under %s", tt.target, d.Result, d.RuleID, d.Reason, tt.rule)
		}
	}
}

// FuzzPathReadOtherwise holds decidedAsRead to a reading of its own: a
// path under a user that, each segment read in NFKC (and split at a '/'
// it makes), each piece cut at ';', trimmed of white
// space and trailing dots and read without Graph's namespace, and with
// or without its casts, is the user, the mailbox's settings, the
// calendar or the memberships, is never allowed under a {name} rule.
func FuzzPathReadOtherwise(f *testing.F) {
	p, err := Parse("readings.yaml", []byte(readingsPolicy))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][2]string{
		{"microsoft.graph.user", "mailboxSettings"}, {"mailboxSettings;x=1", ""}, {"calendar ", ""},
		{"graph.user", ""}, {"calendar", "graph.calendar"}, {"memberOf", "graph.group"}, {"events", ""},
		{"\uff4dailboxSettings", ""}, {"\uff47raph.user", "calendar\uff0e"}, {"graph.user\uff0fcalendar", ""},
	} {
		f.Add(s[0], s[1])
	}
	literal := map[string]bool{"": true, "mailboxsettings": true, "calendar": true, "memberof": true}
	f.Fuzz(func(t *testing.T, a, b string) {
		target := "/v1.0/users/" + alice + "/" + url.PathEscape(a)
		segs := []string{a}
		if b != "" {
			target += "/" + url.PathEscape(b)
			segs = append(segs, b)
		}
		req, err := Canonicalize("GET", target, "")
		if err != nil || len(req.Segments) != 2+len(segs) {
			return
		}
		d := p.Decide(Args{Caller: "engage", Request: req})
		if d.Result != Allow || d.RuleID != "user-any" && d.RuleID != "user-deep" {
			return
		}
		var named, uncast []string
		var pieces []string
		for _, s := range req.Segments[2:] {
			pieces = append(pieces, strings.FieldsFunc(norm.NFKC.String(s), func(c rune) bool { return c == '/' })...)
		}
		for _, piece := range pieces {
			r := piece
			if i := strings.IndexByte(r, ';'); i >= 0 {
				r = r[:i]
			}
			isBlank := func(c rune) bool { return unicode.IsSpace(c) || unicode.Is(unicode.Cf, c) }
			r = strings.TrimRightFunc(strings.TrimLeftFunc(r, isBlank), func(c rune) bool { return c == '.' || isBlank(c) })
			if r == "" {
				r = piece
			}
			r = strings.ToLower(r)
			cast := false
			for _, ns := range []string{"microsoft.graph.", "graph."} {
				if rest, ok := strings.CutPrefix(r, ns); ok && rest != "" {
					r, cast = rest, identifier(rest)
					break
				}
			}
			named = append(named, r)
			if !cast {
				uncast = append(uncast, r)
			}
		}
		for _, reading := range [][]string{named, uncast} {
			if literal[strings.Join(reading, "/")] {
				t.Fatalf("%s allowed under %s; read as users/{user}/%s", target, d.RuleID, strings.Join(reading, "/"))
			}
		}
	})
}

func identifier(s string) bool {
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}
