package graphsim_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/policy"
)

// The simulator's Graph reads calendars for the app roles Graph has:
// Calendars.ReadBasic is a delegated permission only, so an app-only
// token holds Calendars.ReadBasic.All, and one claiming Calendars.ReadBasic
// is refused; a signed-in user's token reads the user's own calendar with
// the delegated Calendars.ReadBasic.
func TestCalendarReadRoles(t *testing.T) {
	s := start(t)
	ids, upns := s.Graph.Users()
	app := func(roles ...string) string {
		tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID,
			Audience: graphsim.GraphResource, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	user := func(scopes ...string) string {
		tok, _, err := s.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: ids[0], UPN: upns[0], Audience: graphsim.GraphResource, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	schedule := `{"schedules":["` + upns[0] + `"],"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}}`
	tests := []struct {
		name         string
		token        string
		method, path string
		body         string
		want         int
	}{
		{"events with Calendars.ReadBasic.All", app("Calendars.ReadBasic.All"), "GET", "/v1.0/users/" + upns[0] + "/events", "", 200},
		{"getSchedule with Calendars.ReadBasic.All", app("Calendars.ReadBasic.All"), "POST", "/v1.0/users/" + upns[0] + "/calendar/getSchedule", schedule, 200},
		{"events with Calendars.Read", app("Calendars.Read"), "GET", "/v1.0/users/" + upns[0] + "/events", "", 200},
		{"events with Calendars.ReadBasic, no app role", app("Calendars.ReadBasic"), "GET", "/v1.0/users/" + upns[0] + "/events", "", 403},
		{"getSchedule with Calendars.ReadBasic, no app role", app("Calendars.ReadBasic"), "POST", "/v1.0/users/" + upns[0] + "/calendar/getSchedule", schedule, 403},
		{"the user's events with the delegated Calendars.ReadBasic", user("Calendars.ReadBasic"), "GET", "/v1.0/me/events", "", 200},
		{"the user's events without a calendar scope", user("User.Read"), "GET", "/v1.0/me/events", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.Graph.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tt.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %d; want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
}

// The app roles the simulator knows and grants the proxy's identities are
// application permissions by Graph's names (policy.Permissions), and the
// identities hold what the example policy needs.
func TestGraphRolesAreAppRoles(t *testing.T) {
	for id, role := range graphsim.GraphAppRoles() {
		if !slices.Contains(policy.Permissions, role) {
			t.Errorf("the simulator's Graph has app role %s (%s), which is not an application permission of policy.Permissions", role, id)
		}
	}
	s := start(t)
	held := s.Entra.App(graphsim.CustomerTenant, graphsim.SystemIdentityClientID).Roles[graphsim.GraphResource]
	p, err := policy.LoadFile("../../examples/policy-engage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range p.Permissions() {
		if !slices.Contains(held, perm) {
			t.Errorf("the example policy needs %s; the simulator's identity holds %v", perm, held)
		}
	}
}
