package proxy_test

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// TestRelayedSubscriptionOfACertificate: a subscription relayed for a
// client certificate the policy names by its SHA-1 thumbprint is the
// certificate's: renamed in the policy, or named by its SHA-256 instead,
// the caller keeps receiving its deliveries (the relay seals the
// certificate's SHA-1 beside the identity's SHA-256); a policy in which
// another certificate bears the caller's name, and none has this one,
// receives nothing of it.
func TestRelayedSubscriptionOfACertificate(t *testing.T) {
	var received atomic.Int32
	vendor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			io.WriteString(w, tok)
			return
		}
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(vendor.Close)
	ca := newPKI(t, "vendor CA")
	cert, another := ca.client(t, "vendor"), ca.client(t, "another vendor")
	s1 := sha1.Sum(cert.Certificate[0])
	pol := func(name, tp string) string {
		return `version: 1
callers:
  - name: ` + name + `
    match: { certThumbprint: "` + tp + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["` + vendor.URL + `/graph/*"]
rules:
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
`
	}
	e := proxytest.New(t, proxytest.Options{Policy: pol("partner", strings.ToUpper(hex.EncodeToString(s1[:]))), Reloadable: true,
		ClientCAs: ca.pool, NotificationKey: strings.Repeat("k", 40), NotificationClient: vendor.Client()})
	e.Sim.Graph.Subscriptions.SetRetries(0, time.Millisecond)
	tr := e.Server.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	ids, _ := e.Sim.Graph.Users()
	resp := e.DoWith(&http.Client{Transport: tr}, "POST", "/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"`+vendor.URL+
		`/graph/n","resource":"users/`+ids[0]+`/events","expirationDateTime":"2030-01-01T00:00:00Z"}`), "Authorization", "", "Content-Type", "application/json")
	var made struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || made.ID == "" {
		t.Fatalf("creation answered %d", resp.StatusCode)
	}
	for _, s := range []struct {
		name, policy string
		want         int
	}{
		{name: "renamed", policy: pol("partner-v2", hex.EncodeToString(s1[:])), want: http.StatusAccepted},
		{name: "named by its SHA-256", policy: pol("partner-v3", thumbprint(cert)), want: http.StatusAccepted},
		{name: "another certificate under its name", policy: pol("partner", thumbprint(another)), want: http.StatusForbidden},
	} {
		e.SetPolicy(s.policy)
		before := received.Load()
		status, err := e.Sim.Graph.Subscriptions.Notify(made.ID, graphsim.Change{Resource: "Users/" + ids[0] + "/Events/AAMk1"})
		if err != nil || status != s.want {
			t.Errorf("%s: delivery answered %d, %v; want %d", s.name, status, err, s.want)
		}
		if got := received.Load() - before; (got == 1) != (s.want == http.StatusAccepted) || got > 1 {
			t.Errorf("%s: the vendor received %d deliveries", s.name, got)
		}
	}
}
