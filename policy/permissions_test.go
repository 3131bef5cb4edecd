package policy

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The permission tables hold what Graph has: every name a rule may give is
// an application permission, and an alias is a delegated-only name read as
// an application permission of the table.
func TestPermissionTables(t *testing.T) {
	if len(knownPermission) != len(Permissions) {
		t.Errorf("Permissions name %d permissions, %d of them different", len(Permissions), len(knownPermission))
	}
	for alias, canon := range ApplicationAliases {
		if _, known := knownPermission[lowerASCII(alias)]; known {
			t.Errorf("alias %s is also an application permission: Graph has no app role of that name", alias)
		}
		if !slices.Contains(DelegatedScopes, alias) {
			t.Errorf("alias %s is not a delegated scope: an alias stands for a delegated-only name", alias)
		}
		if !slices.Contains(Permissions, canon) {
			t.Errorf("alias %s is read as %s, which is not in Permissions", alias, canon)
		}
	}
	// The proxy's own reads are granted by application permissions the
	// policy knows.
	for _, read := range ReferenceReads {
		if !slices.Contains(Permissions, read.Application) {
			t.Errorf("the read of a %s needs %s, which is not in Permissions", read.Item, read.Application)
		}
	}
}

// aliasPolicy is a policy of one caller holding callerPerms and one rule
// of free/busy needing rulePerm.
func aliasPolicy(callerPerms, rulePerm string) string {
	return `version: 1
callers:
  - name: vendor
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [` + callerPerms + `]
    delegated: { scopes: [Calendars.ReadBasic] }
rules:
  - id: free-busy
    method: POST
    path: /users/{user}/calendar/getSchedule
    permission: ` + rulePerm + `
  - id: my-events
    method: GET
    path: /me/events
    delegatedScope: Calendars.ReadBasic
`
}

// A policy naming Calendars.ReadBasic as an application permission, as the
// policies shipped before did, keeps loading: the name is read as
// Calendars.ReadBasic.All, what the proxy's identity needs is that app
// role, and lint says where and why. A delegated scope of that name is
// left alone.
func TestApplicationAliases(t *testing.T) {
	const aliasWarning = "Calendars.ReadBasic is a delegated permission only: Microsoft Graph has no application permission of that name; read as Calendars.ReadBasic.All, its application counterpart, which the proxy's identity needs (write Calendars.ReadBasic.All)"
	tests := []struct {
		name         string
		callerPerms  string
		rulePerm     string
		wantPerms    string
		wantWarnings []string
		wantAliased  map[string]string
	}{
		{name: "the application permission's own name",
			callerPerms: "Calendars.ReadBasic.All", rulePerm: "Calendars.ReadBasic.All",
			wantPerms: "Calendars.ReadBasic.All"},
		{name: "the delegated name, in the caller and the rule",
			callerPerms: "Calendars.ReadBasic", rulePerm: "Calendars.ReadBasic",
			wantPerms: "Calendars.ReadBasic.All",
			wantWarnings: []string{
				`alias.yaml:5: caller "vendor": ` + aliasWarning,
				`alias.yaml:11: rule "free-busy": ` + aliasWarning,
			},
			wantAliased: map[string]string{"Calendars.ReadBasic": "Calendars.ReadBasic.All"}},
		{name: "the caller holds by the alias what the rule names",
			callerPerms: "Calendars.ReadBasic", rulePerm: "Calendars.ReadBasic.All",
			wantPerms:    "Calendars.ReadBasic.All",
			wantWarnings: []string{`alias.yaml:5: caller "vendor": ` + aliasWarning},
			wantAliased:  map[string]string{"Calendars.ReadBasic": "Calendars.ReadBasic.All"}},
		{name: "the rule names by the alias what the caller holds",
			callerPerms: "Calendars.ReadBasic.All", rulePerm: "Calendars.ReadBasic",
			wantPerms:    "Calendars.ReadBasic.All",
			wantWarnings: []string{`alias.yaml:11: rule "free-busy": ` + aliasWarning},
			wantAliased:  map[string]string{"Calendars.ReadBasic": "Calendars.ReadBasic.All"}},
		{name: "names are read without case, as the others are",
			callerPerms: "calendars.readbasic", rulePerm: "Calendars.ReadBasic.All",
			wantPerms:    "Calendars.ReadBasic.All",
			wantWarnings: []string{`alias.yaml:5: caller "vendor": ` + strings.Replace(aliasWarning, "Calendars.ReadBasic is", "calendars.readbasic is", 1)},
			wantAliased:  map[string]string{"calendars.readbasic": "Calendars.ReadBasic.All"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("alias.yaml", []byte(aliasPolicy(tt.callerPerms, tt.rulePerm)))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Permissions(), ","); got != tt.wantPerms {
				t.Errorf("Permissions %s; want %s", got, tt.wantPerms)
			}
			var warnings []string
			for _, w := range p.Warnings() {
				warnings = append(warnings, w.String())
			}
			if !slices.Equal(warnings, tt.wantWarnings) {
				t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(warnings, "\n  "), strings.Join(tt.wantWarnings, "\n  "))
			}
			if got := p.AliasedPermissions(); !maps.Equal(got, tt.wantAliased) {
				t.Errorf("AliasedPermissions %v; want %v", got, tt.wantAliased)
			}
			// The caller may make the call, which exercises the app role.
			d := decideURL(t, p, "vendor", "POST", "/v1.0/users/"+alice+"/calendar/getSchedule", `{"schedules":["`+alice+`"]}`)
			if d.Result != Allow || d.Permission != "Calendars.ReadBasic.All" {
				t.Errorf("getSchedule: %v (%s), permission %q; want allowed with Calendars.ReadBasic.All", d.Result, d.Reason, d.Permission)
			}
		})
	}
}

// A misspelt permission is answered with the application permission's
// name, even when the nearest name is an alias's.
func TestUnknownPermissionSuggestion(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Calendars.ReadBasik", `unknown permission "Calendars.ReadBasik" (did you mean "Calendars.ReadBasic.All"?)`},
		{"Calendar.ReadBasic.All", `unknown permission "Calendar.ReadBasic.All" (did you mean "Calendars.ReadBasic.All"?)`},
		{"Calendar.ReadWrite", `unknown permission "Calendar.ReadWrite" (did you mean "Calendars.ReadWrite"?)`},
		{"Nothing.Like.It.At.All", `unknown permission "Nothing.Like.It.At.All"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("typo.yaml", []byte(aliasPolicy("Calendars.ReadBasic.All", tt.name)))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v; want *LoadError", err)
			}
			if len(le.Problems) != 1 || le.Problems[0].Reason != tt.want {
				t.Errorf("problems %v; want one: %s", le.Problems, tt.want)
			}
		})
	}
}
