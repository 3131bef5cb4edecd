package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestConditionalAccessBodies: the named location and the Conditional
// Access policy for the proxy's service principal are the Graph request
// bodies the operator guide says they are: the policy blocks the service
// principal everywhere but the named location, starts in report-only
// mode, and leaves only the documented placeholders to fill in.
func TestConditionalAccessBodies(t *testing.T) {
	var loc struct {
		Type     string `json:"@odata.type"`
		IPRanges []struct {
			Type string `json:"@odata.type"`
			CIDR string `json:"cidrAddress"`
		} `json:"ipRanges"`
	}
	if err := json.Unmarshal([]byte(read(t, "conditional-access/named-location.json")), &loc); err != nil {
		t.Fatal(err)
	}
	if loc.Type != "#microsoft.graph.ipNamedLocation" || len(loc.IPRanges) != 1 || loc.IPRanges[0].Type != "#microsoft.graph.iPv4CidrRange" || loc.IPRanges[0].CIDR != "EGRESS_IP/32" {
		t.Errorf("named location %+v", loc)
	}
	raw := read(t, "conditional-access/workload-identity-policy.json")
	var pol struct {
		DisplayName string `json:"displayName"`
		State       string `json:"state"`
		Conditions  struct {
			ClientApplications struct {
				IncludeServicePrincipals []string `json:"includeServicePrincipals"`
			} `json:"clientApplications"`
			Applications struct {
				IncludeApplications []string `json:"includeApplications"`
			} `json:"applications"`
			Locations struct {
				Include []string `json:"includeLocations"`
				Exclude []string `json:"excludeLocations"`
			} `json:"locations"`
		} `json:"conditions"`
		GrantControls struct {
			Operator string   `json:"operator"`
			BuiltIn  []string `json:"builtInControls"`
		} `json:"grantControls"`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pol); err != nil {
		t.Fatal(err)
	}
	c := pol.Conditions
	switch {
	case pol.State != "enabledForReportingButNotEnforced":
		t.Errorf("state %q: the policy should start in report-only mode", pol.State)
	case !slices.Equal(c.ClientApplications.IncludeServicePrincipals, []string{"PROXY_SERVICE_PRINCIPAL_ID"}):
		t.Errorf("service principals %v", c.ClientApplications.IncludeServicePrincipals)
	case !slices.Equal(c.Applications.IncludeApplications, []string{"All"}):
		t.Errorf("applications %v", c.Applications.IncludeApplications)
	case !slices.Equal(c.Locations.Include, []string{"All"}) || !slices.Equal(c.Locations.Exclude, []string{"NAMED_LOCATION_ID"}):
		t.Errorf("locations %+v", c.Locations)
	case !slices.Equal(pol.GrantControls.BuiltIn, []string{"block"}):
		t.Errorf("grant controls %+v", pol.GrantControls)
	}
}
