package hardening

import (
	"fmt"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// bypassPolicy is failClosedPolicy (scoped to a group, guests of
// vendor.example and one room exempt, mail only to contoso.example) with
// a few more rules a scheduling or mail vendor plausibly holds: cancelling
// and declining events, setting a manager, a OneNote page update (a
// "…/content" route that is JSON, not file bytes), a message's MIME (a
// "…/$value" route that is mail), and writes to the content of items
// whose content is no file's bytes (a OneNote resource, an attachment, a
// contact), beside a drive item's, which is.
var bypassPolicy = strings.Replace(strings.Replace(failClosedPolicy,
	"Mail.Send, Mail.ReadWrite]", "Mail.Send, Mail.ReadWrite, User.ReadWrite.All, Files.ReadWrite.All]", 1),
	"rules:\n", `rules:
  - { id: event-cancel, method: POST, path: "/users/{user}/events/{id}/cancel", permission: Calendars.ReadWrite }
  - { id: event-decline, method: POST, path: "/users/{user}/events/{id}/decline", permission: Calendars.ReadWrite }
  - { id: set-manager, method: PUT, path: "/users/{user}/manager/$ref", permission: User.ReadWrite.All }
  - { id: page-content, method: PATCH, path: "/users/{user}/onenote/pages/{id}/content", permission: Files.ReadWrite.All }
  - { id: message-mime, method: PUT, path: "/users/{user}/messages/{id}/$value", permission: Mail.ReadWrite }
  - { id: resource-content, method: PUT, path: "/users/{user}/onenote/resources/{id}/content", permission: Files.ReadWrite.All }
  - { id: attachment-value, method: PUT, path: "/users/{user}/events/{id}/attachments/{a}/$value", permission: Calendars.ReadWrite }
  - { id: contact-value, method: PUT, path: "/users/{user}/contacts/{id}/$value", permission: Mail.ReadWrite }
  - { id: file-upload, method: PUT, path: "/users/{user}/drive/items/{id}/content", permission: Files.ReadWrite.All }
`, 1)

// onenoteFetch updates a OneNote page with an image Graph would fetch.
const onenoteFetch = `[{"target":"body","action":"append","content":"<img src=\"https://evil.example/x.png\"/>"}]`

// bypass is one hostile request and what the policy should do with it.
type bypass struct {
	name, class      string
	method, path, ct string
	body             string
	refuse           bool // the policy should refuse it: Graph must see nothing
}

// TestAllowListBypasses sends requests built to get past the allow-list,
// by class, through the real binary: each that should be refused is
// refused, recorded as a denial, and never reaches Graph. The classes
// first found getting past it come first: an action spelled as OData's
// qualified name, mail sent to people the call does not name, a /$ref
// call's @odata.id, JSON with a parameter on a …/content route.
func TestAllowListBypasses(t *testing.T) {
	sim, p := startScoped(t, bypassPolicy, "Mail.Send", "Mail.ReadWrite", "User.ReadWrite.All")
	_, upns := sim.Graph.Users()
	member, member2, outsider := upns[0], upns[1], upns[3]
	u := "/v1.0/users/" + member
	att := func(a string) string { return `{"emailAddress":{"address":"` + a + `"}}` }
	batch := func(subs ...string) string { return `{"requests":[` + strings.Join(subs, ",") + `]}` }
	guest := "guest@vendor.example" // exempt from the group, outside mail.recipientDomains
	// Items that reach people outside the rules without naming them: the
	// proxy reads each, and refuses the call.
	const evil = "eve@evil.example"
	draftOutside := sim.Graph.AddMessage(member, graphsim.Message{IsDraft: true, To: []string{member2}, Bcc: []string{evil}})
	fromOutside := sim.Graph.AddMessage(member, graphsim.Message{From: evil, Sender: evil})
	ccOutside := sim.Graph.AddMessage(member, graphsim.Message{From: member2, Sender: member2, To: []string{member}, Cc: []string{evil}})
	attendeeOutside := sim.Graph.AddEvent(member, graphsim.Event{Attendees: []string{member2, evil}})
	organizerOutside := sim.Graph.AddEvent(member, graphsim.Event{Organizer: outsider})
	fromMember := sim.Graph.AddMessage(member, graphsim.Message{From: member2, Sender: member2})
	event := `"start":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-01T11:00:00","timeZone":"UTC"}`

	probes := []bypass{
		// --- Classes that once got past ---------------------------------
		// Route model matched on the bare action name: the namespace-
		// qualified spelling Graph also binds escapes it.
		{name: "draft send, namespace-qualified", class: "route-model tail vs OData qualified action",
			method: "POST", path: u + "/messages/" + draftOutside + "/microsoft.graph.send", refuse: true},
		{name: "draft send, namespace-qualified with ()", class: "route-model tail vs OData qualified action",
			method: "POST", path: u + "/messages/" + draftOutside + "/microsoft.graph.send()", refuse: true},
		{name: "forward to a guest outside recipientDomains, namespace-qualified", class: "route-model tail vs OData qualified action",
			method: "POST", path: u + "/messages/AAMkAD/microsoft.graph.forward", ct: "application/json",
			body: `{"toRecipients":[` + att(guest) + `]}`, refuse: true},
		{name: "forward to a guest (control: plain spelling)", class: "control",
			method: "POST", path: u + "/messages/AAMkAD/forward", ct: "application/json",
			body: `{"toRecipients":[` + att(guest) + `]}`, refuse: true},
		{name: "draft send, namespace-qualified, in $batch", class: "route-model tail vs OData qualified action",
			method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/AAMkAD/microsoft.graph.send"}`), refuse: true},
		// Mail sent to people the call does not name.
		{name: "reply without recipients (goes to the original sender, outside)", class: "mail to recipients not in the call",
			method: "POST", path: u + "/messages/" + fromOutside + "/reply", ct: "application/json", body: `{"comment":"exfiltrated text"}`, refuse: true},
		{name: "replyAll without recipients (a cc outside)", class: "mail to recipients not in the call",
			method: "POST", path: u + "/messages/" + ccOutside + "/replyAll", ct: "application/json", body: `{"comment":"exfiltrated text"}`, refuse: true},
		{name: "event cancel with a comment (mail to every attendee, one outside)", class: "mail to recipients not in the call",
			method: "POST", path: u + "/events/" + attendeeOutside + "/cancel", ct: "application/json", body: `{"comment":"exfiltrated text"}`, refuse: true},
		{name: "event decline with a comment (mail to the organizer, not in the group)", class: "mail to recipients not in the call",
			method: "POST", path: u + "/events/" + organizerOutside + "/decline", ct: "application/json", body: `{"comment":"exfiltrated text","sendResponse":true}`, refuse: true},
		{name: "reply to a member of the group (control)", class: "control",
			method: "POST", path: u + "/messages/" + fromMember + "/reply", ct: "application/json", body: `{"comment":"ok"}`, refuse: false},
		// A reference the proxy does not resolve.
		{name: "@odata.id reference to a non-member", class: "unresolved reference (@odata.id)",
			method: "PUT", path: u + "/manager/$ref", ct: "application/json",
			body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + outsider + `"}`, refuse: true},
		{name: "@odata.id reference in $batch", class: "unresolved reference (@odata.id)",
			method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"PUT","url":"users/` + member + `/manager/$ref","headers":{"Content-Type":"application/json"},"body":{"@odata.id":"users/` + outsider + `"}}`), refuse: true},
		// A JSON body on a "…/content" route read as file bytes when its
		// Content-Type carries a parameter.
		{name: "content route, JSON with charset, not JSON at all", class: "media type: JSON with parameters on content routes",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "application/json; charset=utf-8", body: `not json`, refuse: true},
		{name: "content route, JSON with an odata parameter", class: "media type: JSON with parameters on content routes",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "application/json;odata=verbose",
			body: `{"@microsoft.graph.sourceUrl":"https://evil.example/x"}`, refuse: true},
		// A OneNote page's content is commands whose HTML Graph fetches
		// images for, passed unread as a file's bytes under any type
		// but JSON's.
		{name: "content route, OneNote commands as text/html", class: "content route whose body is not file bytes",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "text/html", body: onenoteFetch, refuse: true},
		{name: "content route, OneNote commands as bytes", class: "content route whose body is not file bytes",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "application/octet-stream", body: onenoteFetch, refuse: true},
		{name: "content route, OneNote commands as multipart", class: "content route whose body is not file bytes",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "multipart/form-data; boundary=x",
			body: "--x\r\nContent-Disposition: form-data; name=\"commands\"\r\nContent-Type: application/json\r\n\r\n" + onenoteFetch + "\r\n--x--\r\n", refuse: true},
		{name: "content route, a message's MIME as file bytes", class: "content route whose body is not file bytes",
			method: "PUT", path: u + "/messages/" + fromMember + "/$value", ct: "message/rfc822",
			body: "From: " + member + "\r\nTo: " + evil + "\r\nSubject: x\r\n\r\nhi\r\n", refuse: true},
		// Any other item's content passed unread as a file's bytes: the
		// route knew two items whose content is not (a page's, a
		// message's), and took every other for a file.
		{name: "content route, a OneNote resource's content", class: "content route whose body is not file bytes",
			method: "PUT", path: u + "/onenote/resources/r1/content", ct: "text/html", body: `<img src="https://evil.example/x.png"/>`, refuse: true},
		{name: "content route, an event attachment's $value", class: "content route whose body is not file bytes",
			method: "PUT", path: u + "/events/" + attendeeOutside + "/attachments/a1/$value", ct: "message/rfc822",
			body: "To: " + evil + "\r\nSubject: x\r\n\r\nhi\r\n", refuse: true},
		{name: "content route, a contact's $value", class: "content route whose body is not file bytes",
			method: "PUT", path: u + "/contacts/c1/$value", ct: "text/vcard", body: "BEGIN:VCARD\r\nEMAIL:" + evil + "\r\nEND:VCARD\r\n", refuse: true},
		{name: "content route, a OneNote resource's content as JSON, in $batch", class: "content route whose body is not file bytes",
			method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"PUT","url":"users/` + member + `/onenote/resources/r1/content","headers":{"Content-Type":"application/json"},"body":{"@odata.type":"x"}}`), refuse: true},
		{name: "content route, a drive item's bytes (control)", class: "control",
			method: "PUT", path: u + "/drive/items/01AB/content", ct: "application/octet-stream", body: "\x00\x01bytes", refuse: false},
		{name: "content route, plain JSON, not JSON (control)", class: "control",
			method: "PATCH", path: u + "/onenote/pages/p1/content", ct: "application/json", body: `not json`, refuse: true},

		// --- Variations of the classes the allow-list covers ------------
		{name: "Kelvin sign in a literal", class: "path", method: "GET", path: u + "/eventſ?$top=1", refuse: true},
		{name: "double-encoded dot", class: "path", method: "GET", path: u + "/events/%252e%252e/x", refuse: true},
		{name: "overlong UTF-8 dot", class: "path", method: "GET", path: u + "/events/%c0%ae%c0%ae", refuse: true},
		{name: "matrix parameter on the user", class: "path", method: "GET", path: u + ";x=1/events?$top=1", refuse: true},
		{name: "named alternate key", class: "path", method: "GET", path: "/v1.0/users(userPrincipalName='" + outsider + "')/events?$top=1", refuse: true},
		{name: "outsider by key syntax", class: "path", method: "GET", path: "/v1.0/users('" + outsider + "')/events?$top=1", refuse: true},
		{name: "outsider, upper case", class: "path", method: "GET", path: "/v1.0/users/" + strings.ToUpper(outsider) + "/events?$top=1", refuse: true},
		{name: "trailing dot on the UPN", class: "path", method: "GET", path: u + "./events?$top=1", refuse: true},
		{name: "$count segment", class: "path", method: "GET", path: u + "/events/$count", refuse: false},
		{name: "cast segment on a collection", class: "path", method: "GET", path: u + "/events/microsoft.graph.delta()?$top=1", refuse: false},
		{name: "parameter alias", class: "query", method: "GET", path: u + "/events?$top=1&@p=1", refuse: true},
		{name: "long-s in an option name", class: "query", method: "GET", path: u + "/events?$top=1&$ſelect=subject", refuse: true},
		{name: "option with a trailing space", class: "query", method: "GET", path: u + "/events?$top=1&$expand%20=attachments", refuse: true},
		{name: "semicolon-joined options", class: "query", method: "GET", path: u + "/events?$top=1;$expand=attachments", refuse: true},
		{name: "skiptoken carrying an option", class: "query", method: "GET", path: u + "/events?$skiptoken=x%26%24expand%3Dattachments", refuse: true},
		{name: "escaped person key", class: "body", method: "POST", path: u + "/events", ct: "application/json",
			body: `{"subject":"x",` + event + `,"\u0061ttendees":[` + att("eve@evil.example") + `]}`, refuse: true},
		{name: "escaped address key", class: "body", method: "POST", path: u + "/events", ct: "application/json",
			body: `{"subject":"x",` + event + `,"attendees":[{"emailAddress":{"\u0041ddress":"eve@evil.example"}}]}`, refuse: true},
		{name: "attendee by bind", class: "body", method: "POST", path: u + "/events", ct: "application/json",
			body: `{"subject":"x",` + event + `,"attendees@odata.bind":["users/` + outsider + `"]}`, refuse: true},
		{name: "BOM before the body", class: "body", method: "POST", path: u + "/events", ct: "application/json",
			body: "\ufeff{\"subject\":\"x\"}", refuse: true},
		{name: "trailing garbage", class: "body", method: "POST", path: u + "/events", ct: "application/json",
			body: `{"subject":"x"} {"attendees":[` + att("eve@evil.example") + `]}`, refuse: true},
		{name: "recipient with a trailing dot domain", class: "address", method: "POST", path: u + "/sendMail", ct: "application/json",
			body: `{"message":{"toRecipients":[` + att("x@evil.example.") + `]}}`, refuse: true},
		{name: "recipient with an IP literal", class: "address", method: "POST", path: u + "/sendMail", ct: "application/json",
			body: `{"message":{"toRecipients":[` + att("x@[127.0.0.1]") + `]}}`, refuse: true},
		{name: "sendMail with the message key in another case", class: "body", method: "POST", path: u + "/sendMail", ct: "application/json",
			body: `{"MESSAGE":{"toRecipients":[` + att("x@evil.example") + `]}}`, refuse: true},
		{name: "MIME with a folded To", class: "mime", method: "POST", path: u + "/sendMail", ct: "text/plain",
			body: mimeMail("From: " + member + "\r\nTo: " + member2 + ",\r\n x@evil.example\r\n"), refuse: true},
		{name: "batch: sub-request header case twins", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"POST","url":"users/` + member + `/events","headers":{"content-type":"application/json","Content-Type":"text/plain"},"body":{"subject":"x"}}`), refuse: true},
		{name: "batch: a line break in a header value", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"GET","url":"users/` + member + `/events?$top=1","headers":{"Prefer":"outlook.timezone=\"UTC\"\r\nX-HTTP-Method-Override: DELETE"}}`), refuse: true},
		{name: "batch: $BATCH nested", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"POST","url":"$BATCH","headers":{"Content-Type":"application/json"},"body":{"requests":[]}}`), refuse: true},
		{name: "batch: encoded version prefix", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"GET","url":"%761.0/users/` + outsider + `/events"}`), refuse: true},
		{name: "batch: atomicityGroup", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"GET","url":"users/` + member + `/events?$top=1","atomicityGroup":"g"}`), refuse: true},
		{name: "batch: long-s method", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"poſt","url":"users/` + member + `/messages/AAMkAD/send"}`), refuse: true},
		{name: "batch under text/plain", class: "batch", method: "POST", path: "/v1.0/$batch", ct: "text/plain",
			body: batch(`{"id":"1","method":"GET","url":"users/` + outsider + `/events"}`), refuse: true},
		{name: "subscription: lifecycle URL elsewhere", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","lifecycleNotificationUrl":"https://evil.example/l","resource":"users/` + member + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
		{name: "subscription: resource with a cast", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + outsider + `/microsoft.graph.events","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
		{name: "subscription: prefix URL with userinfo trick", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/@evil.example","resource":"users/` + member + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: false},
		{name: "HEAD", class: "method", method: "HEAD", path: u + "/events?$top=1", refuse: true},
		{name: "custom method", class: "method", method: "PROPFIND", path: u + "/events?$top=1", refuse: true},
	}

	sendProbes(t, p, sim, probes)
	p.Stop()
}

// sendProbes sends each probe through the proxy and fails the test for
// one that should have been refused and was not, or that reached Graph.
func sendProbes(t *testing.T, p *proc, sim *graphsim.Sim, probes []bypass) {
	t.Helper()
	for _, pr := range probes {
		sim.Graph.ResetRequests()
		var hdr []string
		if pr.ct != "" {
			hdr = []string{"Content-Type", pr.ct}
		}
		r := p.Do(pr.method, pr.path, pr.body, hdr...)
		if r.Err != nil {
			t.Logf("%-70s transport error %v", pr.name, r.Err)
			continue
		}
		saw := graphSaw(sim)
		rec := p.Record(r.RequestID)
		line := fmt.Sprintf("%-70s status %d code %q graphSaw %d record %s rule %q targets %v reason %q",
			pr.name, r.Status, r.Code, len(saw), rec.Decision, rec.Rule, rec.Targets, rec.Reason)
		t.Log(line)
		for _, s := range saw {
			t.Logf("    Graph saw %s %s?%s Content-Type %q body %q", s.Method, s.Path, s.RawQuery, s.Header.Get("Content-Type"), truncate(string(s.Body), 200))
		}
		if pr.refuse && (len(saw) > 0 || rec.Decision != "deny" || r.Status < 400) {
			t.Errorf("[%s] not refused: %s", pr.class, line)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
