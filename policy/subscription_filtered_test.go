package policy

import (
	"strings"
	"testing"
)

// TestSubscriptionOnFilteredResource: change notifications carry their
// resource's ids (resource, resourceData) and, with includeResourceData,
// its data encrypted for the caller, none of which a rule's response
// section or select can filter on the way: a subscription is refused on a
// resource whose read has a response section, and resource data on one
// whose read has a select.
func TestSubscriptionOnFilteredResource(t *testing.T) {
	p := mustLoad(t, "testdata/subscription-filtered.yaml")
	sub := func(resource, extra string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"` + resource + `"` + extra + `}`
	}
	tests := []struct {
		name, body string
		want       Result
		reason     string
	}{
		{name: "unfiltered, with data", body: sub("users/a@contoso.example/events", `,"includeResourceData":true`), want: Allow},
		{name: "a response section", body: sub("users/a@contoso.example/messages", ""), want: Deny, reason: "response section"},
		{name: "a response section, with data", body: sub("users/a@contoso.example/messages", `,"includeResourceData":true`), want: Deny, reason: "response section"},
		{name: "a section whose fields leave id out", body: sub("users/a@contoso.example/calendars", ""), want: Deny, reason: "response section"},
		{name: "a section whose fields keep id", body: sub("users/a@contoso.example/todo/lists", ""), want: Allow},
		{name: "a section whose fields keep id, with data", body: sub("users/a@contoso.example/todo/lists", `,"includeResourceData":true`), want: Deny, reason: "filters"},
		{name: "a select, ids only", body: sub("users/a@contoso.example/contacts", ""), want: Allow},
		{name: "a select, with data", body: sub("users/a@contoso.example/contacts", `,"includeResourceData":true`), want: Deny, reason: "select"},
		{name: "a select given, with data", body: sub("users/a@contoso.example/contacts?$select=id", `,"includeResourceData":true`), want: Deny, reason: "select"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideURL(t, p, "direct", "POST", "/v1.0/subscriptions", tt.body)
			if d.Result != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("got %v %q; want %v, a reason naming %q", d.Result, d.Reason, tt.want, tt.reason)
			}
		})
	}
}
