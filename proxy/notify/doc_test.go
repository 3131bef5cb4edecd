package notify_test

import (
	"fmt"
	"io"
	"net/url"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/notify"
)

func Example() {
	pol, err := policy.Parse("policy.yaml", []byte(`version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
rules:
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`))
	if err != nil {
		panic(err)
	}
	audit, err := auditlog.New(auditlog.Options{Replica: "example", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "stdout", W: io.Discard}}})
	if err != nil {
		panic(err)
	}
	public, _ := url.Parse("https://graph-proxy.contoso.example")
	relay, err := notify.New(notify.Options{
		PublicBase: public,
		Key:        seal.Static{[]byte("a key of at least thirty-two bytes, from Key Vault")},
		Policy:     func() *policy.Policy { return pol },
		TenantID:   "c1a5517e-0000-4000-8000-000000000001",
		Audit:      audit,
	})
	if err != nil {
		panic(err)
	}
	// The caller, as the proxy authenticated it: what the relay binds a
	// subscription to is its credential (Identity), not its name.
	caller := &callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: "d2b6628f-0000-4000-8000-000000000002", AppID: "e0000000-0000-4000-8000-0000000000e1"}
	// What Graph receives in place of the caller's subscription...
	sent, _ := relay.Subscribe(caller, "v1.0", []byte(`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/adele@contoso.example/events","clientState":"mine"}`))
	// ...and what the caller is shown of Graph's answer.
	shown, _ := relay.Restore(caller.Identity(), sent)
	fmt.Println(string(shown))
	// Output:
	// {"changeType":"created","clientState":"mine","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/adele@contoso.example/events"}
}
