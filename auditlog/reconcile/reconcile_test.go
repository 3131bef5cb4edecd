package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/auditlog/reconcile"
)

const (
	proxyApp  = "a0000000-0000-4000-8000-0000000000a1"
	vendorApp = "e0000000-0000-4000-8000-0000000000e1"
	otherApp  = "c0000000-0000-4000-8000-0000000000c1"
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// call is a call's record, a GET of /users unless changed.
func call(min int, clientID, graphID string, upstream int) auditlog.Record {
	return auditlog.Record{Time: t0.Add(time.Duration(min) * time.Minute), ClientRequestID: clientID, GraphRequestID: graphID,
		UpstreamStatus: upstream, Caller: auditlog.Caller{Name: "engage", AppID: vendorApp}, Decision: "allow",
		Method: "GET", Version: "v1.0", Path: "/users"}
}

func at(r auditlog.Record, method, path string) auditlog.Record {
	r.Method, r.Path = method, path
	return r
}

func act(min int, app, clientID, requestID, method, uri string) reconcile.Activity {
	return reconcile.Activity{File: "activity.json", Time: t0.Add(time.Duration(min) * time.Minute), AppID: app,
		ClientRequestID: clientID, RequestID: requestID, Method: method, URI: uri, Status: 200}
}

func TestReconcile(t *testing.T) {
	records := []auditlog.Record{
		{Time: t0, Kind: "genesis"},
		{Time: t0, Kind: "mediation", ClientRequestID: "m-1"}, // the proxy's own reads of the tenant
		{Time: t0, Kind: "membership", ClientRequestID: "k-1", GraphRequestID: "g-k", Method: "POST", Version: "v1.0", Path: "/users/x/checkMemberGroups"}, // a membership check
		call(1, "c-1", "g-1", 200),
		at(call(2, "c-2", "g-2", 200), "POST", "/$batch"),
		at(call(3, "", "g-3", 200), "GET", "/users/x"), // matched by Graph's request id
		call(4, "c-4", "", 0),                          // refused: never sent
		call(5, "c-5", "g-5", 200),                     // Graph's log lacks it
		call(119, "c-9", "g-9", 200),                   // within the settle time of the window's end
	}
	sub := call(2, "c-2s", "g-2s", 200)
	sub.Batch = &auditlog.Batch{RequestID: "r-2", ID: "1"}
	records = append(records, sub)
	activity := []reconcile.Activity{
		act(1, proxyApp, "c-1", "g-1", "GET", "https://graph.microsoft.com/v1.0/users"),
		act(1, proxyApp, "M-1", "g-m", "GET", "https://graph.microsoft.com/v1.0/servicePrincipals"),
		act(2, proxyApp, "C-2", "g-2", "POST", "https://graph.microsoft.com/v1.0/$batch"),
		act(3, proxyApp, "", "g-3", "GET", "https://graph.microsoft.com/v1.0/users/x"),
		act(3, proxyApp, "k-1", "g-k", "POST", "https://graph.microsoft.com/v1.0/users/x/checkMemberGroups"),
		// A membership check the proxy has no record of is not its own,
		// whatever its path: its token used elsewhere.
		act(4, proxyApp, "", "g-own", "POST", "https://graph.microsoft.com/v1.0/users/y/checkMemberGroups"),
		act(6, proxyApp, "stolen-1", "g-s", "GET", "https://graph.microsoft.com/v1.0/users/ceo@contoso.example/messages"),
		act(7, vendorApp, "v-1", "g-v", "GET", "https://graph.microsoft.com/v1.0/users"),
		act(8, otherApp, "o-1", "g-o", "GET", "https://graph.microsoft.com/v1.0/me"),
		act(120, proxyApp, "c-late", "g-late", "GET", "https://graph.microsoft.com/v1.0/users"),
	}
	res := reconcile.Reconcile(records, activity, reconcile.Options{ProxyApps: []string{strings.ToUpper(proxyApp)}})
	if res.Matched != 3 || res.Own != 2 || res.Refused != 1 || res.OK() {
		t.Errorf("matched %d, own %d, refused %d, ok %v; want 3, 2, 1, false", res.Matched, res.Own, res.Refused, res.OK())
	}
	if len(res.Unrecorded) != 3 || res.Unrecorded[0].RequestID != "g-own" || res.Unrecorded[1].ClientRequestID != "stolen-1" || res.Unrecorded[2].ClientRequestID != "c-late" {
		t.Errorf("unrecorded %v; want the unrecorded membership check, the stolen call and the late one", res.Unrecorded)
	}
	if len(res.Direct) != 1 || res.Direct[0].AppID != vendorApp {
		t.Errorf("direct %v; want the vendor's own call", res.Direct)
	}
	if len(res.Missing) != 1 || res.Missing[0].ClientRequestID != "c-5" {
		t.Errorf("missing %v; want c-5 only (c-9 is within the settle time)", res.Missing)
	}
	if !res.From.Equal(t0.Add(time.Minute)) || !res.To.Equal(t0.Add(120*time.Minute)) || len(res.Apps) != 1 {
		t.Errorf("window %s–%s, apps %v", res.From, res.To, res.Apps)
	}

	// A window given: what is outside it is not compared; another vendor
	// app given is looked for too.
	res = reconcile.Reconcile(records, activity, reconcile.Options{ProxyApps: []string{proxyApp}, VendorApps: []string{otherApp},
		From: t0, To: t0.Add(10 * time.Minute), Settle: time.Minute})
	if len(res.Unrecorded) != 2 || len(res.Direct) != 2 || len(res.Missing) != 1 {
		t.Errorf("windowed: unrecorded %v, direct %v, missing %d", res.Unrecorded, res.Direct, len(res.Missing))
	}

	// Clean: every proxy request recorded, the vendor calls nothing.
	res = reconcile.Reconcile(records, activity[:5], reconcile.Options{ProxyApps: []string{proxyApp}})
	if !res.OK() {
		t.Errorf("clean activity not OK: %+v", res)
	}
}

func TestReadActivity(t *testing.T) {
	az := `[{"TableName":"PrimaryResult","TimeGenerated":"2026-11-22T14:01:00.123Z","AppId":"` + strings.ToUpper(proxyApp) + `","ClientRequestId":"C-1","RequestId":"g-1","RequestMethod":"GET","RequestUri":"https://graph.microsoft.com/v1.0/users","ResponseStatusCode":"200","IPAddress":"20.1.2.3","UserAgent":"None"}]`
	csv := "\ufeffTimeGenerated [UTC],AppId,ClientRequestId,RequestId,RequestMethod,RequestUri,ResponseStatusCode\n\"11/22/2026, 2:01:00.000 PM\"," + proxyApp + ",c-1,g-1,GET,https://graph.microsoft.com/v1.0/users,200\n"
	for name, data := range map[string]string{"az.json": az, "portal.csv": csv} {
		got, err := reconcile.ReadActivity(name, strings.NewReader(data))
		if err != nil || len(got) != 1 || got[0].AppID != proxyApp || got[0].ClientRequestID != "c-1" || got[0].Status != 200 || got[0].UserAgent != "" {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	for name, data := range map[string]string{
		"lines":   `{"time":"2026-11-22T14:01:00Z"}` + "\n",
		"no time": `[{"AppId":"x"}]`,
		"no app":  `[{"TimeGenerated":"2026-11-22T14:01:00Z"}]`,
	} {
		if _, err := reconcile.ReadActivity(name, strings.NewReader(data)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}

// FuzzReadActivity: whatever an export holds, ReadActivity returns rows
// or an error, never a row without its application or time.
func FuzzReadActivity(f *testing.F) {
	f.Add([]byte(`[{"TimeGenerated":"2026-11-22T14:01:00Z","AppId":"` + proxyApp + `","ClientRequestId":"None"}]`))
	f.Add([]byte("TimeGenerated [UTC],AppId\n\"11/22/2026, 2:01:00.000 PM\",x\n"))
	f.Add([]byte(`{"tables":[{"columns":[{"name":"TimeGenerated"},{"name":"AppId"}],"rows":[["2026-11-22T14:01:00Z","x"]]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := reconcile.ReadActivity("f", strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, a := range rows {
			if a.AppID == "" || a.Time.IsZero() {
				t.Fatalf("a row without its app or time: %+v", a)
			}
		}
	})
}

// TestReconcileOneToOne: a client-request-id is the caller's choice. A
// record matches at most as many of Graph's requests as it says were sent
// (attempts; one for an older record Graph answered), and only those of
// its method and path: anything else made with the proxy's identity and
// the same id is reported as unrecorded.
func TestReconcileOneToOne(t *testing.T) {
	sent := func(r auditlog.Record, attempts, upstream int) auditlog.Record {
		r.Attempts, r.UpstreamStatus = attempts, upstream
		return r
	}
	users := "https://graph.microsoft.com/v1.0/users"
	tests := []struct {
		name       string
		records    []auditlog.Record
		activity   []reconcile.Activity
		unrecorded int
		shared     int
	}{
		{"the id reused around the proxy, same path", []auditlog.Record{call(1, "x", "", 200)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users), act(2, proxyApp, "x", "g2", "GET", users+"?$top=999")}, 1, 0},
		{"the id reused around the proxy, another path", []auditlog.Record{call(1, "x", "", 200)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users), act(2, proxyApp, "x", "g2", "GET", users+"/ceo@contoso.example/messages")}, 1, 0},
		{"the id on another method", []auditlog.Record{call(1, "x", "", 200)},
			[]reconcile.Activity{act(2, proxyApp, "x", "g2", "DELETE", users)}, 1, 0},
		{"Graph's request id on another path", []auditlog.Record{call(1, "", "g1", 200)},
			[]reconcile.Activity{act(2, proxyApp, "", "g1", "GET", users+"/y/messages")}, 1, 0},
		{"sent twice by the transport, recorded so", []auditlog.Record{sent(call(1, "x", "", 0), 2, 201)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users), act(1, proxyApp, "x", "g2", "GET", users)}, 0, 0},
		{"sent twice, a third with the id", []auditlog.Record{sent(call(1, "x", "", 0), 2, 201)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users), act(1, proxyApp, "x", "g2", "GET", users), act(1, proxyApp, "x", "g3", "GET", users)}, 1, 0},
		{"sent, never answered (504, 499, shutdown)", []auditlog.Record{sent(call(1, "x", "", 0), 1, 0)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users)}, 0, 0},
		{"never sent: nothing to match", []auditlog.Record{call(1, "x", "", 0)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users)}, 1, 0},
		{"an SDK's retry keeps its id: two records, two requests", []auditlog.Record{call(1, "x", "", 429), call(2, "x", "", 200)},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", users), act(2, proxyApp, "x", "g2", "GET", users)}, 0, 1},
		{"the caller's spelling of the path", []auditlog.Record{at(call(1, "x", "", 200), "GET", "/users/adele@contoso.example/events")},
			[]reconcile.Activity{act(1, proxyApp, "x", "g1", "GET", "https://graph.microsoft.com/v1.0/Users/adele@contoso.example/Events?$top=5")}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := reconcile.Reconcile(tt.records, tt.activity, reconcile.Options{ProxyApps: []string{proxyApp}})
			if len(res.Unrecorded) != tt.unrecorded || len(res.SharedIDs) != tt.shared {
				t.Errorf("unrecorded %v, shared ids %v; want %d unrecorded, %d shared", res.Unrecorded, res.SharedIDs, tt.unrecorded, tt.shared)
			}
		})
	}
}
