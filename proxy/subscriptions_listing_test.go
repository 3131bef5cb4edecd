package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
