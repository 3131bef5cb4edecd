package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRelayDecisions: a relaying caller's subscriptions are marked for the
// proxy to relay, and what cannot be relayed is refused, not passed on.
func TestRelayDecisions(t *testing.T) {
	p := mustLoad(t, "testdata/relay.yaml")
	const member = "adele@contoso.example"
	sub := func(extra string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + member + `/events"` + extra + `}`
	}
	eventGrid := "EventGrid:?azuresubscriptionid=8d0f3a1e-0000-4000-8000-000000000001&resourcegroup=rg&partnertopic=graph&location=westeurope"
	tests := []struct {
		name, caller, method, url, body string
		want                            Result
		wantRelay                       bool
		wantReason                      string
	}{
		{name: "relayed creation", caller: "engage", method: "POST", url: "/v1.0/subscriptions", body: sub(`,"clientState":"s"`), want: Allow, wantRelay: true},
		{name: "direct creation", caller: "direct", method: "POST", url: "/v1.0/subscriptions", body: sub(""), want: Allow},
		{name: "relayed renewal", caller: "engage", method: "PATCH", url: "/v1.0/subscriptions/0a1b", body: `{"expirationDateTime":"2030-01-01T00:00:00Z"}`, want: Allow, wantRelay: true},
		{name: "relayed read", caller: "engage", method: "GET", url: "/v1.0/subscriptions/0a1b", want: Allow, wantRelay: true},
		{name: "relayed deletion", caller: "engage", method: "DELETE", url: "/v1.0/subscriptions/0a1b", want: Allow, wantRelay: true},
		{name: "relayed URL still checked", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"https://evil.example/n","resource":"users/` + member + `/events"}`, want: Deny, wantRelay: true,
			wantReason: `notificationUrl "https://evil.example/n" is not in subscriptions.notificationUrls`},
		{name: "relayed Event Grid", caller: "engage", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"` + eventGrid + `","resource":"users/` + member + `/events"}`, want: Deny, wantRelay: true,
			wantReason: `notificationUrl eventgrid:(not shown) cannot be relayed (callers[].notifications: relay): Event Hubs and Event Grid deliver around the proxy`},
		{name: "direct Event Grid", caller: "direct", method: "POST", url: "/v1.0/subscriptions",
			body: `{"notificationUrl":"` + eventGrid + `","resource":"users/` + member + `/events"}`, want: Allow},
		{name: "relayed URL changed", caller: "engage", method: "PATCH", url: "/v1.0/subscriptions/0a1b",
			body: `{"notificationUrl":"https://hooks.vendor.example/graph/m"}`, want: Deny, wantRelay: true,
			wantReason: "the notification URLs of a relayed subscription (callers[].notifications: relay) are set when it is created; create a new subscription instead"},
		{name: "relayed lifecycle URL changed", caller: "engage", method: "PATCH", url: "/v1.0/subscriptions/0a1b",
			body: `{"LifecycleNotificationUrl":"https://hooks.vendor.example/graph/l"}`, want: Deny, wantRelay: true,
			wantReason: "the notification URLs of a relayed subscription (callers[].notifications: relay) are set when it is created; create a new subscription instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideURL(t, p, tt.caller, tt.method, tt.url, tt.body)
			if d.Result != tt.want || d.Relay != tt.wantRelay || d.Reason != tt.wantReason {
				t.Errorf("got %v relay %v reason %q;\nwant %v relay %v reason %q", d.Result, d.Relay, d.Reason, tt.want, tt.wantRelay, tt.wantReason)
			}
		})
	}
}

// TestRelayInBatch: a relayed subscription is never created inside a
// $batch, whose sub-requests the proxy does not rewrite; the batch is
// refused whole.
func TestRelayInBatch(t *testing.T) {
	p := mustLoad(t, "testdata/relay.yaml")
	body := `{"requests":[{"id":"1","method":"POST","url":"/subscriptions","headers":{"Content-Type":"application/json"},` +
		`"body":{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/adele@contoso.example/events"}}]}`
	for _, tt := range []struct {
		caller string
		want   Result
	}{
		{caller: "engage", want: Deny},
		{caller: "direct", want: Allow},
	} {
		t.Run(tt.caller, func(t *testing.T) {
			d := decideURL(t, p, tt.caller, "POST", "/v1.0/$batch", body)
			if d.Result != tt.want {
				t.Fatalf("got %v (%s); want %v", d.Result, d.Reason, tt.want)
			}
			if tt.want == Deny && (len(d.Batch) != 1 || d.Batch[0].Decision.Reason != "a relayed subscription (callers[].notifications: relay) cannot be created inside $batch; create it with its own call") {
				t.Errorf("sub-decisions %+v; want the $batch refusal", d.Batch)
			}
		})
	}
}

func TestSubscriber(t *testing.T) {
	p := mustLoad(t, "testdata/relay.yaml")
	for _, tt := range []struct {
		caller string
		want   Subscriber
		ok     bool
	}{
		{caller: "engage", want: Subscriber{Relay: true, Group: "90000000-0000-4000-8000-000000000001"}, ok: true},
		{caller: "direct", want: Subscriber{}, ok: true},
		{caller: "stranger"},
	} {
		if got, ok := p.Subscriber(tt.caller); got != tt.want || ok != tt.ok {
			t.Errorf("Subscriber(%q) = %+v, %v; want %+v, %v", tt.caller, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBadNotifications(t *testing.T) {
	_, err := LoadFile("testdata/bad-notifications.yaml")
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 {
		t.Fatalf("got %v; want one problem", err)
	}
	want := `testdata/bad-notifications.yaml:6: caller "engage": notifications "relayed" is not direct or relay`
	if got := le.Problems[0].String(); got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

// TestSubscriptionRefusal: a relayed subscription's resource is decided
// again, as the read it stands for, under the policy in force.
func TestSubscriptionRefusal(t *testing.T) {
	p := mustLoad(t, "testdata/relay.yaml")
	for _, tt := range []struct {
		caller, resource string
		refused          bool
	}{
		{caller: "engage", resource: "users/adele@contoso.example/events"},
		{caller: "engage", resource: "/Users/adele@contoso.example/Events"},
		{caller: "engage", resource: "users/adele@contoso.example/events?$filter=x", refused: true}, // as at creation: the rule takes no $filter
		{caller: "engage", resource: "users/adele@contoso.example/messages", refused: true},
		{caller: "engage", resource: "users/../groups/x/events", refused: true},
		{caller: "engage", resource: "", refused: true},
		{caller: "stranger", resource: "users/adele@contoso.example/events", refused: true},
	} {
		if got, _ := p.SubscriptionRefusal(tt.caller, nil, "v1.0", tt.resource); (got != "") != tt.refused || strings.Contains(got, "adele") {
			t.Errorf("SubscriptionRefusal(%q, %q) = %q; want refused %v, naming no resource", tt.caller, tt.resource, got, tt.refused)
		}
	}
}

// TestResourceDataOfAFilteredRead: a subscription's resource data is the
// resource as Graph holds it, encrypted for the caller: no response
// section or select can filter it. A subscription with resource data on a
// resource whose read the policy filters is refused, direct or relayed,
// and the relay delivers no resource data for it.
func TestResourceDataOfAFilteredRead(t *testing.T) {
	const pol = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All, Mail.Read]
    notifications: relay
  - name: direct
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e2" }
    permissions: [Calendars.ReadBasic.All, Mail.Read]
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
  includeResourceData: true
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All, response: { fields: [id, start, end] } }
  - { id: messages-read, method: GET, path: "/users/{user}/messages", query: [$select], permission: Mail.Read, select: [id, receivedDateTime] }
  - { id: contacts-read, method: GET, path: "/users/{user}/contacts", permission: Mail.Read }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`
	p, err := Parse("pol.yaml", []byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	for _, caller := range []string{"engage", "direct"} {
		for _, tt := range []struct {
			resource string
			data     bool
			want     Result
		}{
			{resource: "users/adele@contoso.example/events", data: true, want: Deny},
			{resource: "users/adele@contoso.example/messages", data: true, want: Deny},
			{resource: "users/adele@contoso.example/events", data: false, want: Allow},
			{resource: "users/adele@contoso.example/contacts", data: true, want: Allow},
		} {
			body := fmt.Sprintf(`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":%q,"includeResourceData":%v,"expirationDateTime":"2030-01-01T00:00:00Z"}`, tt.resource, tt.data)
			if d := decideURL(t, p, caller, "POST", "/v1.0/subscriptions", body); d.Result != tt.want {
				t.Errorf("%s: %s with resource data %v: %v (%s); want %v", caller, tt.resource, tt.data, d.Result, d.Reason, tt.want)
			}
		}
	}
	for _, tt := range []struct {
		resource string
		data     bool
	}{
		{resource: "users/adele@contoso.example/events"},
		{resource: "users/adele@contoso.example/messages"},
		{resource: "users/adele@contoso.example/contacts", data: true},
	} {
		if reason, data := p.SubscriptionRefusal("engage", nil, "v1.0", tt.resource); reason != "" || data != tt.data {
			t.Errorf("SubscriptionRefusal(%s) = %q, resource data %v; want allowed, resource data %v", tt.resource, reason, data, tt.data)
		}
	}
}
