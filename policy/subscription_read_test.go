package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestSubscriptionByID: a call on a subscription by id (GET, PATCH,
// DELETE) is decided only once the proxy has read the subscription
// (LookupSubscription), as its creation by this caller would have been:
// its resource a read the caller may make, whose users become targets,
// and its notification URLs ones the policy allows. Every caller shares
// the proxy's application, so Graph itself would let any of them manage
// any subscription. An update may carry only what Graph lets one change.
func TestSubscriptionByID(t *testing.T) {
	p, err := Parse("scope.yaml", []byte(scopePolicy))
	if err != nil {
		t.Fatal(err)
	}
	const id = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
	sub := "/v1.0/subscriptions/" + id
	read := func(resource, url string) []Recipient {
		out := []Recipient{{Where: "resource", Address: resource}}
		if url != "" {
			out = append(out, Recipient{Where: "notificationUrl", Address: url})
		}
		return out
	}
	const hook = "https://hooks.vendor.example/graph/n"
	tests := []struct {
		name, method, body string
		read               []Recipient
		want               string // allow or 403, after DecideReferenced; 403 before when read is nil
		targets            string
		wantReason         string
	}{
		{name: "read, a member's events", method: "GET", read: read("users/"+alice+"/events", hook), want: "allow", targets: alice},
		{name: "delete, a member's events", method: "DELETE", read: read("/users/"+alice+"/events", hook), want: "allow", targets: alice},
		{name: "renew", method: "PATCH", body: `{"expirationDateTime":"2030-01-02T00:00:00Z"}`, read: read("users/"+alice+"/events", hook), want: "allow", targets: alice},
		{name: "moved to another allowed hook", method: "PATCH", body: `{"notificationUrl":"https://hooks.vendor.example/graph/m"}`, read: read("users/"+alice+"/events", hook), want: "allow", targets: alice},
		{name: "a subscription delivering elsewhere", method: "GET", read: read("users/"+alice+"/events", "https://hooks.other.example/n"), want: "403", wantReason: "is not in subscriptions.notificationUrls"},
		{name: "its lifecycle URL elsewhere", method: "DELETE", read: append(read("users/"+alice+"/events", hook), Recipient{Where: "lifecycleNotificationUrl", Address: "https://hooks.other.example/l"}), want: "403", wantReason: "lifecycleNotificationUrl"},
		{name: "a resource the caller may not read", method: "DELETE", read: read("users/"+alice+"/messages", hook), want: "403", wantReason: "not readable under this policy"},
		{name: "a resource of no user", method: "GET", read: read("users", hook), want: "403", wantReason: "not readable"},
		{name: "no resource read", method: "GET", read: []Recipient{{Where: "notificationUrl", Address: hook}}, want: "403", wantReason: "names no resource"},
		{name: "moved outside the list", method: "PATCH", body: `{"notificationUrl":"https://evil.example/n"}`, want: "403"},
		{name: "an update changing its resource", method: "PATCH", body: `{"resource":"users/` + alice + `/events"}`, want: "403", wantReason: "may change only"},
		{name: "an update changing what it watches", method: "PATCH", body: `{"changeType":"created,updated,deleted"}`, want: "403", wantReason: "may change only"},
		{name: "an update with resource data", method: "PATCH", body: `{"includeResourceData":true}`, want: "403", wantReason: "may change only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := ""
			if tt.body != "" {
				ct = ctJSON
			}
			req := canonical(t, tt.method, sub)
			routed := p.Route("scoped", req)
			d := routed.Decide(ct, []byte(tt.body))
			if tt.read == nil {
				if got := refusal(d); got != tt.want {
					t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
				}
				if !strings.Contains(d.Reason, tt.wantReason) {
					t.Errorf("reason %q; want a part %q", d.Reason, tt.wantReason)
				}
				return
			}
			if d.Result != Allow || d.Lookup == nil {
				t.Fatalf("before the read: %s %q, lookup %+v", d.Result, d.Reason, d.Lookup)
			}
			if l := d.Lookup; l.Kind != LookupSubscription || l.Path != sub || l.Select != "" || l.Item != "subscription" {
				t.Errorf("lookup %+v", *l)
			}
			got := routed.DecideReferenced(d, tt.read)
			if r := refusal(got); r != tt.want {
				t.Fatalf("got %s (%q); want %s", r, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("reason %q; want a part %q", got.Reason, tt.wantReason)
			}
			if got.Result == Allow {
				wantTargets(t, got, tt.targets, "")
			}
		})
	}
}

// TestSubscriptionFields: what of Graph's answer to a subscription's read
// the policy takes, and the answers it refuses.
func TestSubscriptionFields(t *testing.T) {
	l := Lookup{Kind: LookupSubscription}
	got, err := l.Recipients([]byte(`{"id":"s1","resource":"users/a@contoso.example/events","notificationUrl":"https://h.example/n","lifecycleNotificationUrl":null,"clientState":"secret"}`))
	if err != nil || len(got) != 2 || got[0] != (Recipient{"resource", "users/a@contoso.example/events"}) || got[1] != (Recipient{"notificationUrl", "https://h.example/n"}) {
		t.Errorf("got %v, %v", got, err)
	}
	got, err = l.Recipients([]byte(`{"resource":"r","notificationUrl":"n","lifecycleNotificationUrl":"l"}`))
	if err != nil || len(got) != 3 || got[2] != (Recipient{"lifecycleNotificationUrl", "l"}) {
		t.Errorf("with a lifecycle URL: %v, %v", got, err)
	}
	got, err = l.Recipients([]byte(`{"resource":"me/events","notificationUrl":"n","creatorId":"10000000-0000-4000-8000-000000000000"}`))
	if err != nil || len(got) != 3 || got[2] != (Recipient{"creatorId", "10000000-0000-4000-8000-000000000000"}) {
		t.Errorf("with its creator: %v, %v", got, err)
	}
	for _, bad := range []string{`{"notificationUrl":"n"}`, `{"resource":"r"}`, `{"resource":1,"notificationUrl":"n"}`, `{"resource":"r","notificationUrl":"n","lifecycleNotificationUrl":2}`, `[]`,
		`{"resource":"r","notificationUrl":"n","creatorId":7}`} {
		if _, err := l.Recipients([]byte(bad)); !errors.Is(err, ErrLookupAnswer) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
