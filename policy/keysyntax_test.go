package policy

import (
	"errors"
	"testing"
)

// TestKeySyntaxOnlyWhereOData: parentheses are read only where OData puts
// them — a quoted key, a GUID key, or the empty parameter list of a
// function ending the path — since the policy decides on the path with
// them taken away while Graph receives it as sent.
func TestKeySyntaxOnlyWhereOData(t *testing.T) {
	const guid = "10000000-0000-4000-8000-0000000000b0"
	for _, tt := range []struct {
		path, want string // want "" is refused
	}{
		{"/v1.0/users('" + alice + "')", "/users/" + alice},
		{"/v1.0/users(" + guid + ")/events", "/users/" + guid + "/events"},
		{"/v1.0/users/" + alice + "/events/delta()", "/users/" + alice + "/events/delta"},
		{"/v1.0/users/" + alice + "/messages/M1/microsoft.graph.send()", "/users/" + alice + "/messages/M1/microsoft.graph.send"},
		{"/v1.0/users()/" + alice, ""},
		{"/v1.0/users/" + alice + "/calendar()/events", ""},
		{"/v1.0/$batch()", ""},
		{"/v1.0/users/delta()/x", ""},
		{"/v1.0/users(" + alice + ")", ""},
		{"/v1.0/users(alice)/events", ""},
		{"/v1.0/users/" + alice + "/events(E1)", ""},
	} {
		req, err := Canonicalize("GET", tt.path, "")
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: accepted as %s", tt.path, req.Path)
		case tt.want == "" && !errors.Is(err, ErrAmbiguous):
			t.Errorf("%s: %v; want ErrAmbiguous", tt.path, err)
		case tt.want != "" && (err != nil || req.Path != tt.want):
			t.Errorf("%s: %q, %v; want %s", tt.path, req.Path, err, tt.want)
		}
	}
}

// TestPagingTokensWherePaged: $skiptoken and $deltatoken, which a rule
// need not list, are accepted only on the calls Graph pages: a GET of a
// collection, and $deltatoken on a delta function.
func TestPagingTokensWherePaged(t *testing.T) {
	p := mustLoad(t, "testdata/reach.yaml")
	u := "/v1.0/users/" + alice
	for _, tt := range []struct {
		url, want string
	}{
		{u + "/calendar/events?$top=5&$skiptoken=abc", "allow"},
		{u + "/calendarView/delta?$deltatoken=abc", "allow"},
		{u + "/calendarView/delta?$skiptoken=abc", "allow"},
		{u + "?$select=id&$skiptoken=abc", "403"},
		{u + "?$deltatoken=latest", "403"},
		{u + "/calendar/events?$deltatoken=abc", "403"},
	} {
		if d := decideWith(t, p, "engage", "GET", tt.url, "", ""); refusal(d) != tt.want {
			t.Errorf("%s: %s (%q); want %s", tt.url, refusal(d), d.Reason, tt.want)
		}
	}
}
