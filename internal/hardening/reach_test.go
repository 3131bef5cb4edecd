package hardening

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// reachPolicy: the scoped caller with rules a scheduling, mail and files
// vendor plausibly holds, whose variables ({action}, {name}) let a call
// address an item otherwise than the route model first knew.
var reachPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All, Calendars.ReadBasic.All, Calendars.ReadWrite, Mail.Send, Mail.ReadWrite, MailboxSettings.ReadWrite, Files.ReadWrite.All, User.ReadWrite.All]
    users:
      group: "` + scopedGroup + `"
      withoutGroup: { domains: [vendor.example] }
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: user-get, method: GET, path: "/users/{user}", query: [$select], select: [id, displayname], permission: User.ReadBasic.All }
  - { id: user-update, method: PATCH, path: "/users/{user}", permission: User.ReadWrite.All }
  - { id: mailbox-settings, method: PATCH, path: "/users/{user}/mailboxSettings", permission: MailboxSettings.ReadWrite }
  - { id: cal-events, method: GET, path: "/users/{user}/calendar/events", query: [$select, $filter, $top], select: [id, start, end], permission: Calendars.ReadBasic.All }
  - { id: drive-special-actions, method: POST, path: "/users/{user}/drive/special/{name}/{action}", permission: Files.ReadWrite.All }
  - { id: msg-event-actions, method: POST, path: "/users/{user}/messages/{id}/event/{action}", permission: Calendars.ReadWrite }
  - { id: msg-event, method: [PATCH, DELETE], path: "/users/{user}/messages/{id}/event", permission: Calendars.ReadWrite }
  - { id: event-actions, method: POST, path: "/users/{user}/events/{id}/{action}", permission: Calendars.ReadWrite }
  - { id: send-mail, method: POST, path: "/users/{user}/sendMail", permission: Mail.Send }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`

// TestReachedOtherwise: through the real binary, the classes an outside
// review found past the allow-list are refused, recorded as denials with
// reasons that show no body value, and never reach Graph: a people-reaching
// action on an item addressed otherwise, automatic replies to outside
// senders, MIME whose header block reads as empty, a query Graph would
// cut at '#', parentheses and paging tokens where OData has none.
func TestReachedOtherwise(t *testing.T) {
	sim, p := startScoped(t, reachPolicy, "Mail.Send", "Mail.ReadWrite", "MailboxSettings.ReadWrite", "Files.ReadWrite.All", "User.ReadWrite.All")
	_, upns := sim.Graph.Users()
	member := upns[0]
	u := "/v1.0/users/" + member
	const eve = "eve@evil.example"
	const secret = "SECRET-MARKER-7Q"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	sendProbes(t, p, sim, []bypass{
		{name: "invite on drive/special/{name}", class: "A action by another path", method: "POST", path: u + "/drive/special/approot/invite", ct: "application/json",
			body: `{"recipients":[{"email":"` + eve + `"}],"sendInvitation":true,"roles":["write"]}`, refuse: true},
		{name: "cancel via messages/{id}/event", class: "A action by another path", method: "POST", path: u + "/messages/M1/event/cancel", ct: "application/json",
			body: `{"comment":"x"}`, refuse: true},
		{name: "update via messages/{id}/event", class: "A action by another path", method: "PATCH", path: u + "/messages/M1/event", ct: "application/json",
			body: `{"body":{"contentType":"text","content":"x"}}`, refuse: true},
		{name: "delete via messages/{id}/event", class: "A action by another path", method: "DELETE", path: u + "/messages/M1/event", refuse: true},
		{name: "permanentDelete of an event", class: "A action by another path", method: "POST", path: u + "/events/E1/permanentDelete", refuse: true},
		{name: "auto-replies on, externalAudience left out", class: "B automatic replies", method: "PATCH", path: u + "/mailboxSettings", ct: "application/json",
			body: `{"automaticRepliesSetting":{"status":"alwaysEnabled","externalReplyMessage":"x"}}`, refuse: true},
		{name: "auto-replies on, externalAudience null", class: "B automatic replies", method: "PATCH", path: u + "/mailboxSettings", ct: "application/json",
			body: `{"automaticRepliesSetting":{"status":"alwaysEnabled","externalAudience":null}}`, refuse: true},
		{name: "auto-replies to all in PATCH /users/{user}", class: "B automatic replies", method: "PATCH", path: u, ct: "application/json",
			body: `{"mailboxSettings":{"automaticRepliesSetting":{"status":"alwaysEnabled","externalAudience":"all"}}}`, refuse: true},
		{name: "MIME, empty line first", class: "C MIME header block", method: "POST", path: u + "/sendMail", ct: "text/plain",
			body: b64("\r\nFrom: " + member + "\r\nTo: " + eve + "\r\nSubject: x\r\n\r\nbody"), refuse: true},
		{name: "MIME, no address header", class: "C MIME header block", method: "POST", path: u + "/sendMail", ct: "text/plain",
			body: b64("Subject: x\r\n\r\nbody"), refuse: true},
		{name: "users()/m", class: "E parentheses", method: "GET", path: "/v1.0/users()/" + member + "?$select=id", refuse: true},
		{name: "users(m) unquoted", class: "E parentheses", method: "GET", path: "/v1.0/users(" + member + ")?$select=id", refuse: true},
		{name: "$batch()", class: "E parentheses", method: "POST", path: "/v1.0/$batch()", ct: "application/json",
			body: `{"requests":[{"id":"1","method":"GET","url":"users/` + member + `?$select=id"}]}`, refuse: true},
		{name: "$skiptoken on a single user", class: "E paging", method: "GET", path: u + "?$select=id&$skiptoken=abc", refuse: true},
		{name: "$deltatoken on a single user", class: "E paging", method: "GET", path: u + "?$deltatoken=latest", refuse: true},
		{name: "$batch: '#' in a sub-request's query", class: "D fragment", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: `{"requests":[{"id":"1","method":"GET","url":"users/` + member + `/calendar/events?$filter=true#&$select=id"}]}`, refuse: true},
	})

	// A '#' sent raw in the query: Go's client would take it for a fragment.
	for _, q := range []string{"$filter=true#&$select=id", "$select=id#"} {
		sim.Graph.ResetRequests()
		req, err := http.NewRequest("GET", p.Base+u+"/calendar/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = q
		req.Header.Set("Authorization", "Bearer "+p.Token())
		resp, err := p.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if saw := graphSaw(sim); len(saw) > 0 || resp.StatusCode < 400 {
			t.Errorf("D fragment: ?%s: status %d, Graph saw %d", q, resp.StatusCode, len(saw))
		}
	}

	// F: a refusal's reason, in the record, shows no value the body carried.
	for _, body := range []string{
		`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/other?code=` + secret + `","resource":"users/` + member + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`,
		`{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + secret + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`,
	} {
		r := p.Do("POST", "/v1.0/subscriptions", body)
		rec := p.Record(r.RequestID)
		if rec.Decision != "deny" || strings.Contains(rec.Reason, secret) || strings.Contains(rec.Error, secret) || strings.Contains(string(r.Body), secret) {
			t.Errorf("F reasons: %s %q %q; the body's value is shown", rec.Decision, rec.Reason, rec.Error)
		}
	}
	for _, body := range []string{
		`{"message":{"toRecipients":[{"emailAddress":{"address":"my password is ` + secret + `"}}]}}`,
	} {
		r := p.Do("POST", u+"/sendMail", body)
		rec := p.Record(r.RequestID)
		if rec.Decision != "deny" || strings.Contains(rec.Reason, secret) || strings.Contains(rec.Error, secret) {
			t.Errorf("F reasons: %s %q %q; the body's value is shown", rec.Decision, rec.Reason, rec.Error)
		}
	}
	p.Stop()
}
