package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// vendorEndpoint is the vendor's notification receiver: it echoes
// validation requests, keeps the notifications it receives and answers
// them with status.
type vendorEndpoint struct {
	*httptest.Server
	status      atomic.Int32
	mu          sync.Mutex
	validations []string // paths validated
	received    map[string][]map[string]any
}

func newVendor(t *testing.T) *vendorEndpoint {
	t.Helper()
	v := &vendorEndpoint{received: map[string][]map[string]any{}}
	v.status.Store(http.StatusAccepted)
	v.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			v.mu.Lock()
			v.validations = append(v.validations, r.URL.Path)
			v.mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, tok)
			return
		}
		var body struct {
			Value []map[string]any `json:"value"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		v.mu.Lock()
		v.received[r.URL.Path] = append(v.received[r.URL.Path], body.Value...)
		v.mu.Unlock()
		w.WriteHeader(int(v.status.Load()))
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *vendorEndpoint) validated() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.validations)
}

func (v *vendorEndpoint) got(path string) []map[string]any {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.received[path])
}

// notificationKey is the relay's key in these tests; both replicas hold it.
const notificationKey = "0123456789abcdef0123456789abcdef-notifications"

func relayPolicy(vendorURL string) string {
	return `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    users: { group: "` + graphsim.SchedulingGroup + `" }
    notifications: relay
subscriptions:
  notificationUrls: ["` + vendorURL + `/graph/*"]
  includeResourceData: true
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: subscription, method: [GET, PATCH, DELETE], path: "/subscriptions/{id}", permission: Calendars.ReadBasic.All }
`
}

// relayEnv is the proxy relaying notifications in front of the simulator,
// the vendor's endpoint, and a member and a non-member of the caller's
// group.
func relayEnv(t *testing.T) (*proxytest.Env, *vendorEndpoint, string, string) {
	t.Helper()
	v := newVendor(t)
	e := proxytest.New(t, proxytest.Options{Policy: relayPolicy(v.URL), NotificationKey: notificationKey, NotificationClient: v.Client()})
	ids, _ := e.Sim.Graph.Users()
	member, outsider := ids[0], ids[len(ids)-1]
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, member, true)
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, outsider, false)
	e.Sim.Graph.Subscriptions.SetRetries(2, 5*time.Millisecond)
	return e, v, member, outsider
}

// subscribe creates a subscription with the SDK, as the vendor would.
func subscribe(t *testing.T, e *proxytest.Env, v *vendorEndpoint, user, state string) models.Subscriptionable {
	t.Helper()
	client, _ := sdkClient(e, "v1.0")
	sub := models.NewSubscription()
	ct, nu, lu, res := "created,updated", v.URL+"/graph/notify", v.URL+"/graph/lifecycle", "users/"+user+"/events"
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sub.SetChangeType(&ct)
	sub.SetNotificationUrl(&nu)
	sub.SetLifecycleNotificationUrl(&lu)
	sub.SetResource(&res)
	sub.SetExpirationDateTime(&exp)
	sub.SetClientState(&state)
	got, err := client.Subscriptions().Post(t.Context(), sub, nil)
	if err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	return got
}

func inbound(recs []auditlog.Record) []auditlog.Record {
	var out []auditlog.Record
	for _, r := range recs {
		if r.Direction == "inbound" {
			out = append(out, r)
		}
	}
	return out
}

// waitInbound waits for n inbound records and returns them.
func waitInbound(t *testing.T, e *proxytest.Env, n int) []auditlog.Record {
	t.Helper()
	var got []auditlog.Record
	proxytest.WaitFor(t, "inbound audit records", func() bool {
		got = inbound(e.Audit.Records(t))
		return len(got) >= n
	})
	return got
}

// TestNotificationsRelayed: a relayed subscription is created through the
// SDK after the vendor's endpoint answered Graph's validation through the
// proxy; the SDK sees its own URLs and clientState; Graph holds the
// proxy's; plain, rich and lifecycle notifications reach the vendor with
// its clientState, recorded inbound; renewal, reading and deletion work.
func TestNotificationsRelayed(t *testing.T) {
	e, v, member, _ := relayEnv(t)
	got := subscribe(t, e, v, member, "vendor-secret")
	if u := *got.GetNotificationUrl(); u != v.URL+"/graph/notify" {
		t.Errorf("SDK sees notificationUrl %q; want its own", u)
	}
	if u := *got.GetLifecycleNotificationUrl(); u != v.URL+"/graph/lifecycle" {
		t.Errorf("SDK sees lifecycleNotificationUrl %q; want its own", u)
	}
	if s := got.GetClientState(); s == nil || *s != "vendor-secret" {
		t.Errorf("SDK sees clientState %v; want its own", s)
	}
	id := *got.GetId()
	held, _ := e.Sim.Graph.Subscriptions.Get(id)
	if !strings.HasPrefix(held.NotificationURL, e.Server.URL+"/notifications/") || !strings.HasPrefix(held.LifecycleURL, e.Server.URL+"/notifications/") {
		t.Errorf("Graph holds %q and %q; want the proxy's URLs", held.NotificationURL, held.LifecycleURL)
	}
	if held.ClientState == "vendor-secret" || held.ClientState == "" {
		t.Errorf("Graph holds clientState %q; want the proxy's own", held.ClientState)
	}
	if got := v.validated(); len(got) != 2 {
		t.Errorf("vendor answered validation requests at %v; want 2", got)
	}

	for _, tt := range []struct {
		name string
		send func() (int, error)
		path string
		rich bool
	}{
		{name: "plain", send: func() (int, error) {
			return e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk1"})
		}, path: "/graph/notify"},
		{name: "rich", send: func() (int, error) {
			return e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk2", Rich: true})
		}, path: "/graph/notify", rich: true},
		{name: "lifecycle", send: func() (int, error) { return e.Sim.Graph.Subscriptions.Lifecycle(id, "reauthorizationRequired") }, path: "/graph/lifecycle"},
		{name: "links in resourceData", send: func() (int, error) {
			return e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk3", ResourceData: map[string]any{
				"contentLocation": "https://contoso.blob.core.windows.net/x?sv=1&sig=NOTIFYSECRET", "downloadUrl": "https://e.example/NOTIFYSECRET",
				"@odata.id": e.Sim.Graph.URL + "/v1.0/Users/" + member + "/Events/AAMk3"}})
		}, path: "/graph/notify"},
	} {
		before := len(v.got(tt.path))
		status, err := tt.send()
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("%s: Graph's delivery answered %d, %v; want 202", tt.name, status, err)
		}
		recv := v.got(tt.path)
		if len(recv) != before+1 {
			t.Fatalf("%s: vendor received %d notifications; want %d", tt.name, len(recv), before+1)
		}
		n := recv[len(recv)-1]
		if n["clientState"] != "vendor-secret" || n["subscriptionId"] != id {
			t.Errorf("%s: vendor received clientState %v subscription %v; want its own", tt.name, n["clientState"], n["subscriptionId"])
		}
		// A notification carries no more than an answer may: links
		// to other hosts withheld.
		if b, _ := json.Marshal(n); strings.Contains(string(b), "NOTIFYSECRET") {
			t.Errorf("%s: vendor received %s", tt.name, b)
		}
		if _, has := n["encryptedContent"]; has != tt.rich {
			t.Errorf("%s: encryptedContent passed %v; want %v", tt.name, has, tt.rich)
		}
	}

	recs := waitInbound(t, e, 6) // two validations, four notifications
	var delivered int
	for _, r := range recs {
		if r.Notification == nil {
			if r.Decision != "allow" || r.Reason != "validation request" || r.UpstreamStatus != 200 {
				t.Errorf("validation record %+v", r)
			}
			continue
		}
		delivered++
		n := r.Notification
		if r.Decision != "allow" || r.Status != 202 || r.UpstreamStatus != 202 || r.Caller.Name != "engage" ||
			n.SubscriptionID != id || n.TenantID != graphsim.CustomerTenant || r.BytesIn == 0 || strings.Contains(r.Path, "/notifications/") {
			t.Errorf("inbound record %+v %+v", r, *n)
		}
		if n.ResourceData != strings.HasSuffix(n.Resource, "AAMk2") {
			t.Errorf("record of %s: resourceData %v", n.Resource, n.ResourceData)
		}
		if n.LifecycleEvent == "" && r.Target != member {
			t.Errorf("record target %q; want %q", r.Target, member)
		}
	}
	if delivered != 4 {
		t.Errorf("%d delivery records; want 4", delivered)
	}

	// Renewal, reading and deletion pass, the SDK still seeing its URLs.
	client, _ := sdkClient(e, "v1.0")
	renew := models.NewSubscription()
	exp := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	renew.SetExpirationDateTime(&exp)
	renewed, err := client.Subscriptions().BySubscriptionId(id).Patch(t.Context(), renew, nil)
	if err != nil || *renewed.GetNotificationUrl() != v.URL+"/graph/notify" || !renewed.GetExpirationDateTime().Equal(exp) {
		t.Fatalf("renewal: %v, %+v", err, renewed)
	}
	read, err := client.Subscriptions().BySubscriptionId(id).Get(t.Context(), nil)
	if err != nil || *read.GetNotificationUrl() != v.URL+"/graph/notify" || *read.GetClientState() != "vendor-secret" {
		t.Fatalf("read: %v, %+v", err, read)
	}
	if err := client.Subscriptions().BySubscriptionId(id).Delete(t.Context(), nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// TestNotificationsForged: deliveries that are not Graph's for the
// subscription are refused and recorded, and the vendor hears nothing.
func TestNotificationsForged(t *testing.T) {
	e, v, member, _ := relayEnv(t)
	a := *subscribe(t, e, v, member, "state-a").GetId()
	b := *subscribe(t, e, v, member, "state-b").GetId()
	subA, _ := e.Sim.Graph.Subscriptions.Get(a)
	subB, _ := e.Sim.Graph.Subscriptions.Get(b)
	subs := e.Sim.Graph.Subscriptions
	expired, err := subs.ValidationToken(graphsim.SystemIdentityClientID, -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := subs.ValidationToken(graphsim.VendorAppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	note := func(sub graphsim.Subscription, state string) string {
		b, _ := json.Marshal(map[string]any{"value": []any{map[string]any{"subscriptionId": sub.ID, "changeType": "created",
			"resource": "Users/" + member + "/Events/AAMk9", "clientState": state, "tenantId": graphsim.CustomerTenant}}})
		return string(b)
	}
	tampered := []byte(subA.NotificationURL)
	tampered[len(tampered)-5] ^= 1
	for _, tt := range []struct {
		name, method, url, ctype, body string
		status                         int
	}{
		{name: "wrong clientState", method: "POST", url: subA.NotificationURL, ctype: "application/json", body: note(subA, "guess"), status: 403},
		{name: "another subscription's notification", method: "POST", url: subA.NotificationURL, ctype: "application/json", body: note(subB, subB.ClientState), status: 403},
		{name: "a validation with a body", method: "POST", url: subA.NotificationURL + "?validationToken=abc", ctype: "application/json", body: note(subA, subA.ClientState), status: 403},
		{name: "a validation token not of printable ASCII", method: "POST", url: subA.NotificationURL + "?validationToken=%3Cb%3E%C3%A9%E2%80%AE", ctype: "text/plain", status: 403},
		{name: "a change at the lifecycle URL", method: "POST", url: subA.LifecycleURL, ctype: "application/json", body: note(subA, subA.ClientState), status: 403},
		{name: "tampered token", method: "POST", url: string(tampered), ctype: "application/json", body: note(subA, subA.ClientState), status: 403},
		{name: "no token", method: "POST", url: e.Server.URL + "/notifications/", ctype: "application/json", body: note(subA, subA.ClientState), status: 403},
		{name: "GET", method: "GET", url: subA.NotificationURL, status: 405},
		{name: "text", method: "POST", url: subA.NotificationURL, ctype: "text/plain", body: note(subA, subA.ClientState), status: 415},
		{name: "not a delivery", method: "POST", url: subA.NotificationURL, ctype: "application/json", body: `{"value":[],"extra":1}`, status: 403},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, tt.url, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		ge := proxytest.DecodeError(t, resp)
		if resp.StatusCode != tt.status || ge.Error.InnerError.RequestID == "" {
			t.Errorf("%s: got %d %+v; want %d in Graph's shape", tt.name, resp.StatusCode, ge, tt.status)
		}
	}
	for _, tt := range []struct {
		name  string
		token string
	}{
		{name: "bad validation token", token: "not.a.jwt"},
		{name: "expired validation token", token: expired},
		{name: "validation token for another application", token: otherApp},
	} {
		status, err := subs.Notify(a, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk3", Rich: true, Token: tt.token})
		if err != nil || status != http.StatusForbidden {
			t.Errorf("%s: Graph's delivery answered %d, %v; want 403", tt.name, status, err)
		}
	}
	if got := len(v.got("/graph/notify")) + len(v.got("/graph/lifecycle")); got != 0 {
		t.Errorf("vendor received %d forged notifications", got)
	}
	recs := waitInbound(t, e, 4+13) // four validations, thirteen refusals (two of validations)
	var refused int
	for _, r := range recs {
		if r.Reason == "validation request" {
			continue
		}
		refused++
		if r.Decision != "deny" || r.Status < 400 || r.Error == "" || r.UpstreamStatus != 0 {
			t.Errorf("refusal record %+v", r)
		}
	}
	if refused != 11 {
		t.Errorf("%d refusal records; want 11", refused)
	}
}

// TestNotificationsOutsideGroup: a notification about a user outside the
// caller's group is dropped (Graph is answered 202: nothing to deliver
// again) and recorded; the vendor hears nothing.
func TestNotificationsOutsideGroup(t *testing.T) {
	e, v, member, outsider := relayEnv(t)
	id := *subscribe(t, e, v, member, "s").GetId()
	status, err := e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + outsider + "/Events/AAMk1"})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("delivery answered %d, %v; want 202", status, err)
	}
	if got := v.got("/graph/notify"); len(got) != 0 {
		t.Errorf("vendor received %d notifications about a non-member", len(got))
	}
	recs := waitInbound(t, e, 3)
	r := recs[2]
	if r.Decision != "deny" || r.Target != outsider || !strings.Contains(r.Reason, "is not a member of group") || r.UpstreamStatus != 0 || r.Status != 202 {
		t.Errorf("record %+v", r)
	}
}

// TestNotificationsReceiverDown: the vendor's failures are Graph's, which
// delivers again; each attempt is recorded with the vendor's status.
func TestNotificationsReceiverDown(t *testing.T) {
	e, v, member, _ := relayEnv(t)
	id := *subscribe(t, e, v, member, "s").GetId()
	v.status.Store(http.StatusServiceUnavailable)
	status, err := e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk1"})
	if err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("delivery answered %d, %v; want 503", status, err)
	}
	var tries int
	for _, a := range e.Sim.Graph.Subscriptions.Attempts() {
		if a.Subscription == id && a.Status == http.StatusServiceUnavailable {
			tries++
		}
	}
	if tries != 3 {
		t.Errorf("Graph tried %d times; want 3 (its retries)", tries)
	}
	for _, r := range waitInbound(t, e, 2+3)[2:] {
		if r.UpstreamStatus != 503 || r.Status != 503 {
			t.Errorf("record %+v; want the vendor's 503 relayed", r)
		}
	}
}

// TestNotificationsAcrossReplicas: a notification URL one replica made is
// served by another with the same key, as an ingress spreads Graph's
// deliveries; no state is shared but the key.
func TestNotificationsAcrossReplicas(t *testing.T) {
	e, v, member, _ := relayEnv(t)
	other := proxytest.New(t, proxytest.Options{Sim: e.Sim, Policy: relayPolicy(v.URL), NotificationKey: notificationKey, NotificationClient: v.Client()})
	id := *subscribe(t, e, v, member, "vendor-secret").GetId()
	// Graph's deliveries now land on the other replica, whatever the
	// host in the URL.
	tr := other.Server.Client().Transport.(*http.Transport).Clone()
	addr := other.Server.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	e.Sim.Graph.Subscriptions.SetClient(&http.Client{Transport: tr})
	status, err := e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + member + "/Events/AAMk1"})
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("delivery through the other replica answered %d, %v; want 202", status, err)
	}
	if got := v.got("/graph/notify"); len(got) != 1 || got[0]["clientState"] != "vendor-secret" {
		t.Fatalf("vendor received %v", got)
	}
	if recs := waitInbound(t, other, 1); recs[0].Decision != "allow" || recs[0].Notification == nil || recs[0].Notification.SubscriptionID != id {
		t.Errorf("other replica's record %+v", recs[0])
	}
	// A replica with another key opens nothing.
	stranger := proxytest.New(t, proxytest.Options{Sim: e.Sim, Policy: relayPolicy(v.URL), NotificationKey: strings.Repeat("x", 40), NotificationClient: v.Client()})
	held, _ := e.Sim.Graph.Subscriptions.Get(id)
	path := held.NotificationURL[strings.Index(held.NotificationURL, "/notifications/"):]
	resp, err := stranger.Server.Client().Post(stranger.Server.URL+path, "application/json", bytes.NewReader([]byte(`{"value":[]}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a replica with another key answered %d; want 403", resp.StatusCode)
	}
}

// TestNotificationsWithoutRelay: a proxy that cannot relay refuses a
// relaying caller's subscription (503) before Graph sees it, and has no
// notification endpoint.
func TestNotificationsWithoutRelay(t *testing.T) {
	v := newVendor(t)
	e := proxytest.New(t, proxytest.Options{Policy: relayPolicy(v.URL)})
	ids, _ := e.Sim.Graph.Users()
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, ids[0], true)
	resp := e.Do("POST", "/v1.0/subscriptions", strings.NewReader(`{"changeType":"created","notificationUrl":"`+v.URL+`/graph/n","resource":"users/`+ids[0]+`/events"}`),
		"Content-Type", "application/json")
	if ge := proxytest.DecodeError(t, resp); resp.StatusCode != http.StatusServiceUnavailable || ge.Error.Code != "graphProxy.relayUnavailable" {
		t.Errorf("got %d %s; want 503 graphProxy.relayUnavailable", resp.StatusCode, ge.Error.Code)
	}
	for _, r := range e.Sim.Graph.Requests() {
		if strings.Contains(r.Path, "subscriptions") {
			t.Errorf("Graph received %s %s", r.Method, r.Path)
		}
	}
	if got := v.validated(); len(got) != 0 {
		t.Errorf("the vendor was asked to validate %v", got)
	}
	resp, err := e.Server.Client().Post(e.Server.URL+"/notifications/x", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("notification endpoint answered %d; want 404", resp.StatusCode)
	}
}

// TestNotificationsUnderThePolicyInForce: a relayed subscription delivers
// only what the policy in force lets its caller read. Once a reload
// withdraws the read its resource stands for, its notifications are
// refused (Graph's validation of a URL too); once it withdraws
// subscriptions.includeResourceData, notifications carrying resource data
// are refused while those without still pass. The vendor hears nothing
// refused; every refusal is recorded.
func TestNotificationsUnderThePolicyInForce(t *testing.T) {
	v := newVendor(t)
	pol := relayPolicy(v.URL)
	e := proxytest.New(t, proxytest.Options{Policy: pol, Reloadable: true, NotificationKey: notificationKey, NotificationClient: v.Client()})
	ids, _ := e.Sim.Graph.Users()
	member := ids[0]
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, member, true)
	e.Sim.Graph.Subscriptions.SetRetries(0, time.Millisecond)
	id := *subscribe(t, e, v, member, "s").GetId()
	reload := e.SetPolicy
	plain := graphsim.Change{Resource: "Users/" + member + "/Events/AAMk1"}
	rich := graphsim.Change{Resource: "Users/" + member + "/Events/AAMk2", Rich: true}

	reload(strings.Replace(pol, "includeResourceData: true", "includeResourceData: false", 1))
	if status, err := e.Sim.Graph.Subscriptions.Notify(id, rich); err != nil || status != http.StatusForbidden {
		t.Errorf("resource data no longer allowed: delivery answered %d, %v; want 403", status, err)
	}
	if status, err := e.Sim.Graph.Subscriptions.Notify(id, plain); err != nil || status != http.StatusAccepted {
		t.Errorf("without resource data: delivery answered %d, %v; want 202", status, err)
	}
	if got := v.got("/graph/notify"); len(got) != 1 {
		t.Fatalf("vendor received %d notifications; want the one without resource data", len(got))
	}

	reload(strings.Replace(pol, `  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }`+"\n", "", 1))
	for _, c := range []graphsim.Change{plain, rich} {
		if status, err := e.Sim.Graph.Subscriptions.Notify(id, c); err != nil || status != http.StatusForbidden {
			t.Errorf("resource no longer readable: delivery of %s answered %d, %v; want 403", c.Resource, status, err)
		}
	}
	if status, err := e.Sim.Graph.Subscriptions.Lifecycle(id, "reauthorizationRequired"); err != nil || status != http.StatusForbidden {
		t.Errorf("resource no longer readable: lifecycle delivery answered %d, %v; want 403", status, err)
	}
	if got := len(v.got("/graph/notify")) + len(v.got("/graph/lifecycle")); got != 1 {
		t.Errorf("vendor received %d notifications; want still the one", got)
	}
	var refused int
	for _, r := range waitInbound(t, e, 2+5) {
		if r.Decision == "deny" && r.Status == http.StatusForbidden && r.Caller.Name == "engage" && r.Error != "" {
			refused++
		}
	}
	if refused != 4 {
		t.Errorf("%d refusal records; want 4", refused)
	}
}

// TestNotificationsNotStarvedByOutsiders: the notification endpoint's
// rate is spent on requests whose URL is one the relay made; an outsider
// posting to URLs of its own invention is refused without spending it,
// so that it cannot make Graph's deliveries fail (429) for every caller.
func TestNotificationsNotStarvedByOutsiders(t *testing.T) {
	v := newVendor(t)
	e := proxytest.New(t, proxytest.Options{Policy: relayPolicy(v.URL), NotificationKey: notificationKey, NotificationClient: v.Client(),
		NotificationRate: 0.001, NotificationBurst: 3})
	ids, _ := e.Sim.Graph.Users()
	e.Sim.Graph.SetGroupMember(graphsim.SchedulingGroup, ids[0], true)
	e.Sim.Graph.Subscriptions.SetRetries(0, time.Millisecond)
	id := *subscribe(t, e, v, ids[0], "s").GetId() // two validations: one request of the three left
	for i := range 10 {
		resp, err := e.Server.Client().Post(e.Server.URL+"/notifications/forged"+strconv.Itoa(i), "application/json", strings.NewReader(`{"value":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("an invented URL: %d; want 403", resp.StatusCode)
		}
	}
	if status, err := e.Sim.Graph.Subscriptions.Notify(id, graphsim.Change{Resource: "Users/" + ids[0] + "/Events/AAMk1"}); err != nil || status != http.StatusAccepted {
		t.Errorf("Graph's delivery after an outsider's flood: %d, %v; want 202", status, err)
	}
}
