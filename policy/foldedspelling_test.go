package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestOperationSpelledWithFoldedLetters: a reader that folds case beyond
// ASCII reads 'ſ' (U+017F) as 's' and the Kelvin sign as 'k', so
// "microſoft.graph.send" and "ſend " are the send action to it as
// "microsoft.graph.send" and "send " are. The route model matches a
// name's letters so (strings.EqualFold); it must cut the namespace, and
// read what follows a name, with the same folding, or such a spelling is
// no route's and the action's checks are skipped.
func TestOperationSpelledWithFoldedLetters(t *testing.T) {
	u := []string{"users", "bob@contoso.example"}
	for _, tt := range []struct {
		name   string
		item   []string // the item the action is called on
		action string   // the plain spelling
	}{
		{"draft send", []string{"messages", "M1"}, "send"},
		{"reply", []string{"messages", "M1"}, "reply"},
		{"forward", []string{"messages", "M1"}, "forward"},
		{"event cancel", []string{"events", "E1"}, "cancel"},
		{"event decline", []string{"events", "E1"}, "decline"},
		{"unsubscribe", []string{"messages", "M1"}, "unsubscribe"},
	} {
		plain := Request{Method: "POST", Segments: append(append(append([]string{}, u...), tt.item...), tt.action)}
		want := routeOf(&plain)
		wantUnmodelled := unmodelledAction(&plain, want) != ""
		if want == nil && !wantUnmodelled {
			t.Fatalf("%s: the plain spelling %q is no route and not refused", tt.name, tt.action)
		}
		longS := strings.Replace(tt.action, "s", "\u017f", 1)
		for _, spelled := range []string{
			"micro\u017foft.graph." + tt.action,
			"MICRO\u017fOFT.GRAPH." + strings.ToUpper(tt.action) + "()",
			"micro\u017foft.graph." + longS,
			longS + " ",
			longS + ";x=1",
			tt.action + " ",
			"\uff4d\uff49\uff43\uff52\uff4f\uff53\uff4f\uff46\uff54.graph." + tt.action,
			strings.Map(func(r rune) rune { return r - 'a' + '\uff41' }, tt.action),
			tt.action + "\uff0e",
		} {
			req := Request{Method: "POST", Segments: append(append(append([]string{}, u...), tt.item...), spelled)}
			got := routeOf(&req)
			if got != want && !(got == nil && unmodelledAction(&req, nil) != "") {
				t.Errorf("%s: %q is route %v, and not refused; %q is route %v", tt.name, spelled, routeName(got), tt.action, routeName(want))
			}
		}
	}
}

func routeName(rt *route) string {
	if rt == nil {
		return "none"
	}
	return rt.name
}

// foldedPolicy has a literal rule whose answers are limited beside a
// {name} rule that limits nothing: a literal beats {name}, so the
// mailbox's settings are read only as the literal's rule allows.
const foldedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [MailboxSettings.Read, User.Read.All]
rules:
  - { id: settings, method: GET, path: "/users/{user}/mailboxSettings", query: [$select], select: [timezone], permission: MailboxSettings.Read }
  - { id: user-any, method: GET, path: "/users/{user}/{name}", permission: User.Read.All }
`

// TestSegmentSpelledWithFoldedLetters: the rules' literals are matched
// in ASCII case, and a reader that folds case beyond it takes
// "mailboxſettings" (U+017F) for mailboxSettings. Such a segment must
// never be decided under the {name} rule beside the literal's: a path
// segment with ſ or the Kelvin sign is refused, as a JSON key is.
func TestSegmentSpelledWithFoldedLetters(t *testing.T) {
	p, err := Parse("folded.yaml", []byte(foldedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	u := "/v1.0/users/" + alice
	for _, target := range []string{
		u + "/mailbox%C5%BFettings",
		u + "/mailbox\u017fettings",
		u + "/MAILBOX%C5%BFETTINGS",
		"/v1.0/u%C5%BFers/" + alice + "/mailboxSettings",
		"/v1.0/users('" + alice + "')/mailbox%C5%BFettings",
		"/v1.0/users/%E2%84%AAim@contoso.example/mailboxSettings",
	} {
		path, query, _ := strings.Cut(target, "?")
		req, err := Canonicalize("GET", path, query)
		if err == nil {
			d := p.Decide(Args{Caller: "engage", Request: req})
			t.Errorf("%s: canonical %s, decided %s under rule %q; want it refused as ambiguous", target, req.Path, d.Result, d.RuleID)
		} else if !errors.Is(err, ErrAmbiguous) {
			t.Errorf("%s: %v; want ErrAmbiguous", target, err)
		}
	}
	// İ and ı are letters of Turkish names, not of Graph's: a file's path
	// may hold them, and they are no literal's.
	for _, target := range []string{u + "/mailboxSett%C4%B1ngs", "/v1.0/users/" + alice + "/K%C4%B1rm%C4%B1z%C4%B1%C4%B0"} {
		if _, err := Canonicalize("GET", target, ""); err != nil {
			t.Errorf("%s: %v; want it canonical", target, err)
		}
	}
	// The literal, spelled in ASCII in any case, is the literal's rule.
	for _, target := range []string{u + "/mailboxSettings", u + "/MAILBOXSETTINGS"} {
		d := p.Decide(Args{Caller: "engage", Request: canonical(t, "GET", target)})
		if d.RuleID != "settings" {
			t.Errorf("%s: rule %q; want settings", target, d.RuleID)
		}
	}
}

// qualifiedPolicy has a literal rule for an operation, limited by its
// people's domains and its answer's fields, beside a {name} rule that
// limits neither.
const qualifiedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite]
mail:
  recipientDomains: [contoso.example]
rules:
  - id: free-busy
    method: POST
    path: "/users/{user}/calendar/getSchedule"
    permission: Calendars.ReadBasic.All
    peopleDomains: [contoso.example]
    response: { fields: [scheduleId, availabilityView] }
  - { id: calendar-any, method: POST, path: "/users/{user}/calendar/{name}", permission: Calendars.ReadWrite }
  - { id: group-memberships, method: GET, path: "/users/{user}/memberOf/graph.group", permission: Calendars.ReadBasic.All }
  - { id: membership, method: GET, path: "/users/{user}/memberOf/{id}", permission: Calendars.ReadBasic.All }
`

// TestOperationQualifiedIsItsLiteral: Graph binds an operation by its
// qualified name (microsoft.graph.getSchedule, graph.getSchedule) as by
// its name, so a rule naming the operation as a literal is the rule of
// every spelling: a qualified one must not fall to a {name} rule beside
// it, without the literal's peopleDomains and response section. It is
// refused.
func TestOperationQualifiedIsItsLiteral(t *testing.T) {
	p, err := Parse("qualified.yaml", []byte(qualifiedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	u := "/v1.0/users/" + alice + "/calendar/"
	body := `{"schedules":["` + evil + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}}`
	for _, op := range []string{"getSchedule", "GETSCHEDULE", "microsoft.graph.getSchedule", "Microsoft.Graph.GetSchedule", "graph.getSchedule", "microsoft.graph.getSchedule()"} {
		d := decideWith(t, p, "engage", "POST", u+op, ctJSON, body)
		if d.Result == Allow || d.RuleID == "calendar-any" {
			t.Errorf("%s: %s under rule %q (%s); want refused, never under calendar-any", op, d.Result, d.RuleID, d.Reason)
		}
	}
	// A cast the SDKs write, served by the rule that names it, is not an
	// operation some other rule names: decided as its rule says.
	d := decideWith(t, p, "engage", "GET", "/v1.0/users/"+alice+"/memberOf/graph.group", "", "")
	if d.Result != Allow || d.RuleID != "group-memberships" {
		t.Errorf("memberOf/graph.group: %s under rule %q (%s); want allowed under group-memberships", d.Result, d.RuleID, d.Reason)
	}
}
