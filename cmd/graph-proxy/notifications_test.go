package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestServeNotifications: serve reads the relay's key from Key Vault
// (notifications.secretURI) and learns its tenant and application from
// its Graph token; a relaying caller's subscription is created with the
// proxy's URL, the caller shown its own, and a forged delivery at the
// proxy's URL is refused and recorded inbound.
func TestServeNotifications(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// The vendor's endpoint echoes validation requests; the proxy trusts
	// its certificate beside the simulator's.
	vendor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Query().Get("validationToken"))
	}))
	defer vendor.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, append(sim.CAPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vendor.Certificate().Raw})...), 0o600)
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	key := "notification-key-" + strings.Repeat("0123456789", 4)
	sim.Vault.SetSecret("graph-proxy-notification-key", key, "")
	addr := proxytest.FreeAddr(t)
	env := baseEnv(t, `version: 1
callers:
  - name: engage
    match: { tenantID: "`+graphsim.VendorTenant+`", appID: "`+graphsim.VendorAppID+`" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["`+vendor.URL+`/graph/*"]
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: [GET, PATCH, DELETE], path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`,
		"GRAPH_PROXY_LISTEN="+addr,
		"GRAPH_PROXY_PUBLICBASEURL=http://"+addr,
		"GRAPH_PROXY_GRAPH_BASEURL="+sim.Graph.URL,
		"GRAPH_PROXY_GRAPH_LOGINURL="+sim.Entra.URL,
		"GRAPH_PROXY_GRAPH_CAFILE="+ca,
		"GRAPH_PROXY_ADMIN_LISTEN=",
		"GRAPH_PROXY_NOTIFICATIONS_SECRETURI="+sim.Vault.URL+"/secrets/graph-proxy-notification-key",
		"GRAPH_PROXY_NOTIFICATIONS_DISABLECHALLENGERESOURCEVERIFICATION=true",
	)
	srv := startServe(t, env, addr)
	base := srv.base
	tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID, Audience: graphsim.ProxyAudience})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := sim.Graph.Users()
	req, _ := http.NewRequest("POST", base+"/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"`+vendor.URL+`/graph/n",`+
		`"resource":"users/`+ids[0]+`/events","clientState":"mine","expirationDateTime":"2030-01-01T00:00:00Z"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub map[string]any
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != 201 || sub["notificationUrl"] != vendor.URL+"/graph/n" || sub["clientState"] != "mine" {
		t.Fatalf("creation answered %d %v; want 201 with the caller's URL and clientState", resp.StatusCode, sub)
	}
	held, _ := sim.Graph.Subscriptions.Get(sub["id"].(string))
	if !strings.HasPrefix(held.NotificationURL, base+"/notifications/") {
		t.Fatalf("Graph holds %q; want the proxy's URL", held.NotificationURL)
	}
	forged, err := http.Post(held.NotificationURL, "application/json", strings.NewReader(`{"value":[{"subscriptionId":"`+held.ID+
		`","changeType":"created","clientState":"mine","tenantId":"`+graphsim.CustomerTenant+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusForbidden {
		t.Errorf("forged delivery answered %d; want 403", forged.StatusCode)
	}
	// A call on the subscription by id is decided on what the proxy reads
	// of it: the relay's URLs, sealed for this caller, stand for its own.
	for _, call := range []struct {
		method, body string
		want         int
	}{
		{"GET", "", 200},
		{"PATCH", `{"expirationDateTime":"2030-01-02T00:00:00Z"}`, 200},
		{"DELETE", "", 204},
	} {
		req, _ := http.NewRequest(call.method, base+"/v1.0/subscriptions/"+held.ID, strings.NewReader(call.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if call.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != call.want {
			t.Errorf("%s of its own relayed subscription answered %d %s; want %d", call.method, resp.StatusCode, answer, call.want)
		}
	}
	srv.shutdown(t)
	if !strings.Contains(srv.stdout.String(), `"direction":"inbound","notification":{"subscriptionId":"`+held.ID+`"`) {
		t.Errorf("no inbound record of the forged delivery:\n%s", srv.stdout.String())
	}
	if strings.Contains(srv.stderr.String()+srv.stdout.String(), key) || strings.Contains(srv.stdout.String(), strings.TrimPrefix(held.NotificationURL, base)) {
		t.Error("the key or a notification token reached the logs or the audit records")
	}
}
