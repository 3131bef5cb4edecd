package policy

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestReasonsShowNoBodyValue: a refusal's reason, which the audit record
// keeps, never holds what a body carried but a well-formed address and a
// URL's scheme, host and path: each bad body below carries a marker, in a
// value, a key, an id or a URL's user information, query and fragment,
// and no reason may hold it.
func TestReasonsShowNoBodyValue(t *testing.T) {
	const (
		secret = "my password is SECRET-7Q"
		token  = "SECRETTOKEN7Q"
	)
	p := mustLoad(t, "testdata/reach.yaml")
	u := "/v1.0/users/" + alice
	hook := "https://user:" + token + "@hooks.vendor.example/other?code=" + token + "#" + token
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	sub := func(member string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + alice + `/events","expirationDateTime":"2030-01-01T00:00:00Z",` + member + `}`
	}
	for _, tt := range []struct {
		name, method, url, ct, body string
	}{
		{"attendee address", "POST", u + "/events", ctJSON, `{"attendees":[{"emailAddress":{"address":"` + secret + `"}}]}`},
		{"attendee address as a string", "POST", u + "/events", ctJSON, `{"attendees":[{"emailAddress":"` + secret + `"}]}`},
		{"upn", "POST", u + "/contacts", ctJSON, `{"x":{"upn":"` + secret + `"}}`},
		{"userPrincipalName", "POST", u + "/contacts", ctJSON, `{"userPrincipalName":"` + secret + `@contoso.example"}`},
		{"user id", "POST", u + "/contacts", ctJSON, `{"x":{"user":{"id":"` + secret + `"}}}`},
		{"emailAddresses", "POST", u + "/contacts", ctJSON, `{"emailAddresses":[{"address":"` + secret + `"}]}`},
		{"schedules", "POST", u + "/calendar/getSchedule", ctJSON, `{"schedules":["` + secret + `"]}`},
		{"invitation", "POST", u + "/drive/items/I1/invite", ctJSON, `{"recipients":[{"email":"` + secret + `"}]}`},
		{"reference", "POST", u + "/events", ctJSON, `{"calendar@odata.bind":"users/` + secret + `/calendar"}`},
		{"absolute reference", "POST", u + "/events", ctJSON, `{"calendar@odata.bind":"https://graph.microsoft.com/v1.0/users('` + secret + `')/calendar"}`},
		{"reference elsewhere", "POST", u + "/events", ctJSON, `{"calendar@odata.bind":"` + hook + `"}`},
		{"key twice", "POST", u + "/events", ctJSON, `{"` + secret + `":1,"` + secret + `":2}`},
		{"key over a bad address", "POST", u + "/events", ctJSON, `{"` + secret + `":{"emailAddress":{"address":"x"}}}`},
		{"key over a bad address, read whole", "POST", u + "/events", ctJSON, `{"attendees":[],"` + secret + `":[{"from":{"emailAddress":{"address":"x"}}}]}`},
		{"notificationUrl", "POST", "/v1.0/subscriptions", ctJSON, `{"notificationUrl":"` + hook + `","resource":"users/` + alice + `/events"}`},
		{"lifecycleNotificationUrl", "POST", "/v1.0/subscriptions", ctJSON, sub(`"lifecycleNotificationUrl":"` + hook + `"`)},
		{"resource", "POST", "/v1.0/subscriptions", ctJSON, `{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + secret + `/events"}`},
		{"resource path", "POST", "/v1.0/subscriptions", ctJSON, `{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + token + `/messages"}`},
		{"resource key", "POST", "/v1.0/subscriptions", ctJSON, `{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users('` + secret + `)/events"}`},
		{"MIME recipient", "POST", u + "/sendMail", "text/plain", b64("To: " + secret + "\r\n\r\nx")},
		{"MIME recipient, quoted", "POST", u + "/sendMail", "text/plain", b64("To: \"" + secret + "\"@contoso.example\r\n\r\nx")},
		{"automatic replies", "PATCH", u + "/mailboxSettings", ctJSON, `{"automaticRepliesSetting":{"status":"` + secret + `"}}`},
		{"mail move", "POST", u + "/messages/M1/move", ctJSON, `{"destinationId":"/` + secret + `"}`},
		{"drive copy", "POST", u + "/drive/items/I1/copy", ctJSON, `{"parentReference":{"path":"/` + secret + `"}}`},
		{"batch id twice", "POST", "/v1.0/$batch", ctJSON, `{"requests":[{"id":"` + secret + `","method":"GET","url":"users/` + alice + `"},{"id":"` + secret + `","method":"GET","url":"users/` + alice + `"}]}`},
		{"batch unknown property", "POST", "/v1.0/$batch", ctJSON, `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `","` + secret + `":1}]}`},
		{"batch header", "POST", "/v1.0/$batch", ctJSON, `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `","headers":{"` + secret + `":"x"}}]}`},
		{"Content-Type parameter", "POST", u + "/events", "application/json; token=" + token, `{}`},
		{"Content-Type unparseable", "POST", u + "/events", "application/json; " + secret, `{}`},
		{"Content-Type not JSON", "POST", u + "/events", "text/" + secret, `{}`},
		{"Content-Type on MIME mail", "POST", u + "/sendMail", "text/plain; x=" + token, b64("To: a@contoso.example\r\n\r\nx")},
		{"batch refused id", "POST", "/v1.0/$batch", ctJSON, `{"requests":[{"id":"` + secret + `","method":"POST","url":"users/` + alice + `/events","headers":{"Content-Type":"application/json"},"body":{"attendees":[{"emailAddress":{"address":"` + secret + `"}}]}}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", tt.method, tt.url, tt.ct, tt.body)
			if d.Result == Allow {
				t.Fatalf("allowed")
			}
			reasons := []string{d.Reason}
			for _, s := range d.Batch {
				reasons = append(reasons, s.Decision.Reason)
			}
			for _, r := range reasons {
				if strings.Contains(r, "SECRET") {
					t.Errorf("reason %q shows the body's value", r)
				}
			}
		})
	}

	// The people read from a referenced item are no body's, but no more
	// shown: Graph's answer is the mailbox's data.
	rt := p.Route("engage", canonical(t, "POST", u+"/events/E1/cancel"))
	d := rt.Decide(ctJSON, []byte(`{"comment":"x"}`))
	if d.Lookup == nil {
		t.Fatalf("cancel: no lookup (%q)", d.Reason)
	}
	d = rt.DecideReferenced(d, []Recipient{{Where: "attendees[]", Address: secret}})
	if d.Result == Allow || strings.Contains(d.Reason, "SECRET") {
		t.Errorf("referenced people: %v %q", d.Result, d.Reason)
	}
}
