package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestSubscriptionListingTooLongWithheld: an answer about subscriptions
// the relay cannot restore whole — longer than the proxy reads at once,
// or not JSON — is withheld (502), not streamed: as Graph sends it, it
// holds every caller's relayed subscriptions with the clientState that
// proves Graph's deliveries. A short one passes, restored.
func TestSubscriptionListingTooLongWithheld(t *testing.T) {
	listing := func(n int) []byte {
		var subs []map[string]any
		for i := range n {
			subs = append(subs, map[string]any{"id": fmt.Sprintf("sub-%04d", i), "resource": "/users/x/events",
				"changeType": "created", "clientState": strings.Repeat("s", 43),
				"notificationUrl": "https://proxy.example/notifications/" + strings.Repeat("t", 300)})
		}
		b, _ := json.Marshal(map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions", "value": subs})
		return b
	}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		want        int
	}{
		{name: "short", body: listing(3), want: http.StatusOK},
		{name: "longer than read whole", body: listing(1000), want: http.StatusBadGateway},
		{name: "not JSON", body: listing(3), contentType: "text/plain", want: http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{Policy: listingPolicy, NotificationKey: strings.Repeat("k", 40)})
			e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: "/subscriptions", Body: string(tt.body), ContentType: tt.contentType})
			resp := e.Do("GET", "/v1.0/subscriptions", nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%.300s); want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want != http.StatusOK && (strings.Contains(string(body), "sub-0000") || !strings.Contains(string(body), "graphProxy.answerWithheld")) {
				t.Errorf("got %.200s; want the answer withheld", body)
			}
		})
	}
}

const listingPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
rules:
  - { id: subscriptions, method: GET, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`

// TestSubscriptionsRestoredEverywhere: whatever way an answer about
// subscriptions takes — filtered by a response section (even one that
// drops notificationUrl), inside a $batch's sub-response, listed or read
// by id — a caller never sees the clientState Graph holds for a relayed
// subscription (the proxy's proof that a delivery is Graph's, with which
// a caller could forge another's notifications) nor the relay's URL of
// its own subscription.
func TestSubscriptionsRestoredEverywhere(t *testing.T) {
	vendor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("validationToken"))
	}))
	t.Cleanup(vendor.Close)
	const otherApp = "e0000000-0000-4000-8000-0000000000e2"
	for _, section := range []string{"", `, response: { redact: [foo] }`, `, response: { fields: [id, clientState] }`} {
		pol := `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
  - name: other
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + otherApp + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["` + vendor.URL + `/graph/*"]
rules:
  - { id: list, method: GET, path: "/subscriptions", permission: Calendars.ReadBasic.All` + section + ` }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: GET, path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All` + section + ` }
`
		e := proxytest.New(t, proxytest.Options{Policy: pol, NotificationKey: strings.Repeat("k", 40), NotificationClient: vendor.Client()})
		other, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: otherApp,
			Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}})
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := e.Sim.Graph.Users()
		resp := e.Do("POST", "/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"`+vendor.URL+
			`/graph/n","resource":"users/`+ids[0]+`/events","clientState":"mine","expirationDateTime":"2030-01-01T00:00:00Z"}`), "Content-Type", "application/json")
		var created struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		held, ok := e.Sim.Graph.Subscriptions.Get(created.ID)
		if resp.StatusCode != http.StatusCreated || !ok {
			t.Fatalf("%q: creation answered %d", section, resp.StatusCode)
		}
		sub, _ := json.Marshal(map[string]any{"id": held.ID, "resource": held.Resource, "changeType": "created",
			"clientState": held.ClientState, "notificationUrl": held.NotificationURL})
		listing := `{"value":[` + string(sub) + `]}`
		batchOf := func(body string) string {
			b, _ := json.Marshal(map[string]any{"responses": []any{map[string]any{"id": "1", "status": 200,
				"headers": map[string]string{"Content-Type": "application/json"}, "body": json.RawMessage(body)}}})
			return string(b)
		}
		for _, tt := range []struct {
			name, caller, method, path, body, graph string
		}{
			{name: "listing, another caller", caller: other, method: "GET", path: "/v1.0/subscriptions", graph: listing},
			{name: "listing in $batch, another caller", caller: other, method: "POST", path: "/v1.0/$batch",
				body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions"}]}`, graph: batchOf(listing)},
			{name: "listing in $batch, its own", method: "POST", path: "/v1.0/$batch",
				body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions"}]}`, graph: batchOf(listing)},
			{name: "by id in $batch, its own", method: "POST", path: "/v1.0/$batch",
				body: `{"requests":[{"id":"1","method":"GET","url":"/subscriptions/` + held.ID + `"}]}`},
		} {
			e.Sim.Graph.ClearFaults()
			if tt.graph != "" {
				e.Sim.Graph.Inject(&graphsim.Fault{Method: tt.method, PathPrefix: strings.TrimPrefix(tt.path, "/v1.0"), Body: tt.graph})
			}
			hdr := []string{"Content-Type", "application/json"}
			if tt.caller != "" {
				hdr = append(hdr, "Authorization", "Bearer "+tt.caller)
			}
			resp := e.Do(tt.method, tt.path, strings.NewReader(tt.body), hdr...)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), held.ClientState) {
				t.Errorf("%q, %s: the answer (%d) shows the clientState Graph holds: %.400s", section, tt.name, resp.StatusCode, body)
			}
			if tt.caller == "" && strings.Contains(string(body), "/notifications/") {
				t.Errorf("%q, %s: the caller is shown the relay's URL of its own subscription: %.400s", section, tt.name, body)
			}
		}
	}
}
