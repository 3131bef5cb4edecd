package policy

import (
	"reflect"
	"strings"
	"testing"
)

// decideWith decides a call with its Content-Type the handler's way (Route,
// then Decide with the body) and holds Decide to the same verdict.
func decideWith(t *testing.T, p *Policy, caller, method, target, ct, body string) Decision {
	t.Helper()
	req := canonical(t, method, target)
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	d := p.Decide(Args{Caller: caller, Request: req, ContentType: ct, Body: b})
	rt := p.Route(caller, req)
	if routed := rt.Decide(ct, b); !reflect.DeepEqual(routed, d) {
		t.Errorf("%s %s: Route then Decide %+v; Decide %+v", method, target, routed, d)
	}
	return d
}

const (
	ctJSON = "application/json"
	vendor = "guest@vendor.example"
	evil   = "eve@evil.example"
	room   = "room-1@contoso.example"
)

func attendee(addr string) string { return `{"emailAddress":{"address":"` + addr + `"}}` }

func event(addrs ...string) string {
	var l []string
	for _, a := range addrs {
		l = append(l, attendee(a))
	}
	return `{"subject":"x","attendees":[` + strings.Join(l, ",") + `]}`
}

// onenoteCommands update a OneNote page with HTML naming an image Graph
// would fetch.
const onenoteCommands = `[{"target":"body","action":"append","content":"<img src=\"https://evil.example/x.png\"/>"}]`

// refusal names a verdict for the table: "allow", "403", "400", "415".
func refusal(d Decision) string {
	if d.Result == Allow {
		return "allow"
	}
	switch d.Refusal {
	case RefusalMalformed:
		return "400"
	case RefusalMediaType:
		return "415"
	}
	return "403"
}

// TestFailClosed: what the proxy cannot read whole is refused — bodies
// under a Content-Type the route is not read as, members of a shape a
// check does not expect, members a call cannot work without, keys a
// case-blind binder would read as another.
func TestFailClosed(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	sched := func(v string) string {
		return `{"schedules":` + v + `,"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"}}`
	}
	u := "/v1.0/users/" + alice
	tests := []struct {
		name, method, url, ct, body string
		want                        string // allow, 403, 400, 415
		wantCT                      string // the Content-Type Graph receives, when allowed with a body
		wantReason                  string // a part of the reason
	}{
		{name: "json", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: sched(`["` + bob + `"]`), want: "allow", wantCT: ctJSON},
		{name: "json utf-8", method: "POST", url: u + "/calendar/getSchedule", ct: "application/json; charset=UTF-8", body: sched(`["` + bob + `"]`), want: "allow", wantCT: "application/json; charset=utf-8"},
		{name: "text/json", method: "POST", url: u + "/calendar/getSchedule", ct: "text/json", body: sched(`["` + evil + `"]`), want: "415"},
		{name: "text/plain", method: "POST", url: u + "/calendar/getSchedule", ct: "text/plain", body: sched(`["` + evil + `"]`), want: "415"},
		{name: "form", method: "POST", url: u + "/calendar/getSchedule", ct: "application/x-www-form-urlencoded", body: sched(`["` + evil + `"]`), want: "415"},
		{name: "two types", method: "POST", url: u + "/calendar/getSchedule", ct: "application/json, text/plain", body: sched(`["` + evil + `"]`), want: "415"},
		{name: "unterminated charset", method: "POST", url: u + "/calendar/getSchedule", ct: `application/json; charset="utf-8`, body: sched(`["` + evil + `"]`), want: "415"},
		{name: "utf-16", method: "POST", url: u + "/calendar/getSchedule", ct: "application/json; charset=utf-16", body: sched(`["` + bob + `"]`), want: "415"},
		{name: "other parameter", method: "POST", url: u + "/calendar/getSchedule", ct: "application/json; odata=verbose", body: sched(`["` + bob + `"]`), want: "415"},
		{name: "+json", method: "POST", url: u + "/calendar/getSchedule", ct: "application/merge-patch+json", body: sched(`["` + bob + `"]`), want: "415"},
		{name: "no Content-Type", method: "POST", url: u + "/calendar/getSchedule", body: sched(`["` + evil + `"]`), want: "415"},
		{name: "subscription as text", method: "POST", url: "/v1.0/subscriptions", ct: "text/plain", body: `{"notificationUrl":"https://evil.example/x","resource":"users/` + alice + `/events"}`, want: "415"},
		{name: "file content", method: "PUT", url: u + "/drive/items/01AB/content", ct: "application/octet-stream", body: "\x00\x01bytes", want: "allow", wantCT: "application/octet-stream"},
		{name: "file content json", method: "PUT", url: u + "/drive/items/01AB/content", ct: ctJSON, body: `{"@microsoft.graph.sourceUrl":"https://evil.example"}`, want: "403"},
		// JSON on a file content route is read as JSON, whatever its
		// parameters, and under JSON's rules
		{name: "file content json, charset", method: "PUT", url: u + "/drive/items/01AB/content", ct: "application/json; charset=utf-8", body: `not json`, want: "400"},
		{name: "file content json, charset, sourceUrl", method: "PUT", url: u + "/drive/items/01AB/content", ct: "application/json;charset=UTF-8", body: `{"@microsoft.graph.sourceUrl":"https://evil.example"}`, want: "403"},
		{name: "file content json, other parameter", method: "PUT", url: u + "/drive/items/01AB/content", ct: "application/json;odata=verbose", body: `{"@microsoft.graph.sourceUrl":"https://evil.example"}`, want: "415"},
		{name: "file content text/json", method: "PUT", url: u + "/drive/items/01AB/content", ct: "text/json", body: `{}`, want: "415"},
		{name: "file content +json", method: "PUT", url: u + "/drive/items/01AB/content", ct: "application/merge-patch+json", body: `{}`, want: "415"},
		{name: "file content, qualified name: not file content", method: "PUT", url: u + "/drive/items/01AB/microsoft.graph.content", ct: "application/octet-stream", body: "\x00\x01bytes", want: "403"},
		{name: "…/content under a variable ({action}) is not file content", method: "POST", url: u + "/drive/items/01AB/content", ct: "text/plain", body: "VG86IHhAZXZpbC5leGFtcGxl", want: "415"},
		// A drive item's content is …/content: its $value is nothing Graph
		// documents, so not a file's bytes to the proxy either.
		{name: "a drive item's $value is not file content", method: "POST", url: u + "/drive/items/01AB/$value", ct: "text/plain", body: "VG86IHhAZXZpbC5leGFtcGxl", want: "403", wantReason: "pass unread only as a file's bytes"},
		{name: "a message's $value under a variable ({action})", method: "POST", url: u + "/messages/AAMk/$value", ct: "text/plain", body: "VG86IHhAZXZpbC5leGFtcGxl", want: "403", wantReason: "MIME"},
		{name: "body on GET", method: "GET", url: u + "/events", ct: ctJSON, body: `{}`, want: "400"},
		// A OneNote page's content is commands (JSON, or multipart with
		// HTML parts) whose HTML Graph fetches images and objects for, not
		// a file's bytes: never passed unread, whatever its Content-Type.
		{name: "OneNote page content as text", method: "PATCH", url: u + "/onenote/pages/p1/content", ct: "text/plain", body: onenoteCommands, want: "403", wantReason: "OneNote"},
		{name: "OneNote page content as HTML", method: "PATCH", url: u + "/onenote/pages/p1/content", ct: "text/html", body: onenoteCommands, want: "403", wantReason: "OneNote"},
		{name: "OneNote page content as bytes", method: "PATCH", url: u + "/onenote/pages/p1/content", ct: "application/octet-stream", body: onenoteCommands, want: "403", wantReason: "OneNote"},
		{name: "OneNote page content, multipart", method: "PATCH", url: u + "/onenote/pages/p1/content", ct: "multipart/form-data; boundary=x", body: "--x\r\n\r\n" + onenoteCommands + "\r\n--x--", want: "403", wantReason: "OneNote"},
		// A message's $value is its MIME, whose headers name whom it goes
		// to: written only as Graph's MIME form of a draft or a mail
		// sent (text/plain, base64), where it is read.
		{name: "message MIME as file content", method: "PUT", url: u + "/messages/AAMk/$value", ct: "message/rfc822", body: "To: " + evil + "\r\n\r\nhi", want: "403", wantReason: "MIME"},
		{name: "message MIME as text", method: "PUT", url: u + "/messages/AAMk/$value", ct: "text/plain", body: "VG86IGV2ZUBldmlsLmV4YW1wbGUNCg0KaGk=", want: "403", wantReason: "MIME"},
		{name: "OneNote page content as JSON", method: "PATCH", url: u + "/onenote/pages/p1/content", ct: ctJSON, body: onenoteCommands, want: "403", wantReason: "OneNote"},

		{name: "schedules a string", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: sched(`"` + evil + `"`), want: "400"},
		{name: "schedules an object", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: sched(`{"0":"` + evil + `"}`), want: "400"},
		{name: "schedules null", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: sched(`null`), want: "400"},
		{name: "schedules empty", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: sched(`[]`), want: "400"},
		{name: "getSchedule without body", method: "POST", url: u + "/calendar/getSchedule", want: "400"},
		{name: "getSchedule {}", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: `{}`, want: "400"},
		{name: "schedules key escaped", method: "POST", url: u + "/calendar/getSchedule", ct: ctJSON, body: `{"sch\u0065dules":["` + evil + `"]}`, want: "allow", wantCT: ctJSON},
		{name: "body an array", method: "POST", url: u + "/events", ct: ctJSON, body: `[` + event(bob) + `]`, want: "400"},
		{name: "attendees an object", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendees":` + attendee(evil) + `}`, want: "400"},
		{name: "attendees a string", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendees":"` + evil + `"}`, want: "400"},
		{name: "attendee without address", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendees":[{"emailAddress":{"name":"Eve"}}]}`, want: "400"},
		{name: "attendee naming no one", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendees":[{"type":"required"}]}`, want: "400"},
		{name: "attendees null", method: "PATCH", url: u + "/events/AAMk", ct: ctJSON, body: `{"attendees":null}`, want: "400"},
		{name: "toRecipients an object", method: "POST", url: u + "/sendMail", ct: ctJSON, body: `{"message":{"toRecipients":` + attendee(evil) + `}}`, want: "400"},
		{name: "message a list", method: "POST", url: u + "/sendMail", ct: ctJSON, body: `{"message":[{"toRecipients":[` + attendee(evil) + `]}]}`, want: "400"},
		{name: "sendMail without message", method: "POST", url: u + "/sendMail", ct: ctJSON, body: `{"saveToSentItems":true}`, want: "400"},
		{name: "key folding to ASCII", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendee\u017f":"` + evil + `"}`, want: "400"},
		{name: "Kelvin sign key", method: "POST", url: u + "/events", ct: ctJSON, body: `{"attendees":[{"emailAddress":{"address":"` + bob + `"}}],"\u212aey":1}`, want: "400"},
		{name: "subscription without notificationUrl", method: "POST", url: "/v1.0/subscriptions", ct: ctJSON, body: `{"resource":"users/` + alice + `/events"}`, want: "400"},
		{name: "includeResourceData a string", method: "POST", url: "/v1.0/subscriptions", ct: ctJSON, body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","includeResourceData":"true","resource":"users/` + alice + `/events"}`, want: "400"},
		{name: "resource a number", method: "POST", url: "/v1.0/subscriptions", ct: ctJSON, body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":5}`, want: "400"},
		{name: "empty $select", method: "GET", url: u + "?$select=", want: "403", wantReason: "$select names no field"},
		{name: "bare $select", method: "GET", url: u + "?$select", want: "403", wantReason: "$select names no field"},
		{name: "blank $select", method: "GET", url: u + "?$select=%20", want: "403", wantReason: "$select names no field"},
		{name: "users collection, scoped", method: "GET", url: "/v1.0/users", want: "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", tt.method, tt.url, tt.ct, tt.body)
			if got := refusal(d); got != tt.want || !strings.Contains(d.Reason, tt.wantReason) {
				t.Fatalf("got %s (%q); want %s (%q)", got, d.Reason, tt.want, tt.wantReason)
			}
			if d.Result == Allow && d.ContentType != tt.wantCT {
				t.Errorf("Content-Type for Graph %q; want %q", d.ContentType, tt.wantCT)
			}
		})
	}
}

// TestAddSelect: a rule that lists fields never lets a caller receive
// more, with $select sent or not.
func TestAddSelect(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	d := decideWith(t, p, "engage", "GET", "/v1.0/users/"+alice, "", "")
	if d.Result != Allow || d.AddSelect != "id,displayname" {
		t.Fatalf("no $select: %v, AddSelect %q", d.Result, d.AddSelect)
	}
	if d := decideWith(t, p, "engage", "GET", "/v1.0/users/"+alice+"?$select=id", "", ""); d.Result != Allow || d.AddSelect != "" {
		t.Fatalf("$select given: %v, AddSelect %q", d.Result, d.AddSelect)
	}
	for in, want := range map[string]string{
		"users/x":          "users/x?$select=id,displayname",
		"users/x?$top=1":   "users/x?$top=1&$select=id,displayname",
		"users/x?":         "users/x?$select=id,displayname",
		"/v1.0/users/x?a&": "/v1.0/users/x?a&$select=id,displayname",
	} {
		if got := WithSelect(in, "id,displayname"); got != want {
			t.Errorf("WithSelect(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestBatchWrittenAgain: Graph receives the batch the policy decided —
// canonical methods, the $select added, one Content-Type per body — and a
// batch Graph would refuse as malformed is a 400 naming its request.
func TestBatchWrittenAgain(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	body := `{"requests":[{"id":"1","method":"get","url":"users/` + alice + `"},` +
		`{"id":"2","method":"post","url":"/users/` + alice + `/events","headers":{"content-type":"application/json"},"body":` + event(bob) + `,"dependsOn":["1"]}]}`
	d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, body)
	if d.Result != Allow {
		t.Fatalf("got %v %q", d.Result, d.Reason)
	}
	want := `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `?$select=id,displayname"},` +
		`{"id":"2","method":"POST","url":"/users/` + alice + `/events","headers":{"Content-Type":"application/json"},"body":{"attendees":[{"emailAddress":{"address":"` + bob + `"}}],"subject":"x"},"dependsOn":["1"]}]}`
	if string(d.Body) != want {
		t.Errorf("forwarded batch\n%s\nwant\n%s", d.Body, want)
	}
	if strings.Join(d.Targets, ",") != alice+","+bob {
		t.Errorf("targets %v", d.Targets)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"version-prefixed", `{"requests":[{"id":"a1","method":"GET","url":"/v1.0/users/` + alice + `/events"}]}`, "400"},
		{"absolute", `{"requests":[{"id":"a1","method":"GET","url":"https://graph.microsoft.com/v1.0/users/` + alice + `/events"}]}`, "400"},
		{"not a batch", `{"requests":{}}`, "400"},
		{"header twice", `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/events","headers":{"Content-Type":"application/json","content-type":"text/plain"},"body":{}}]}`, "400"},
		{"body without Content-Type", `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/events","body":` + event(evil) + `}]}`, "400"},
		{"sub body as text", `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/calendar/getSchedule","headers":{"Content-Type":"text/plain"},"body":{"schedules":["` + evil + `"]}}]}`, "400"},
		{"sub shape", `{"requests":[{"id":"1","method":"POST","url":"users/` + alice + `/calendar/getSchedule","headers":{"Content-Type":"application/json"},"body":{"schedules":"` + evil + `"}}]}`, "400"},
		{"GET with a body", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"Content-Type":"application/json"},"body":{"attendees":[]}}]}`, "400"},
		// A header value no request could carry on the wire: a line
		// break (a header written after it, by whatever writes the
		// sub-request out), NUL, another control character.
		{"header value with CRLF", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"Prefer":"outlook.timezone=\"UTC\"\r\nX-HTTP-Method-Override: DELETE"}}]}`, "400"},
		{"header value with LF", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"Accept":"application/json\nX-HTTP-Method: DELETE"}}]}`, "400"},
		{"header value with NUL", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"If-Match":"a\u0000b"}}]}`, "400"},
		{"header value with DEL", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"ConsistencyLevel":"eventual\u007f"}}]}`, "400"},
		{"header value with a tab (control)", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `/events","headers":{"Prefer":"a;\tb"}}]}`, "allow"},
		{"sub empty $select", `{"requests":[{"id":"1","method":"GET","url":"users/` + alice + `?$select="}]}`, "403"},
		{"sub subscription", `{"requests":[{"id":"1","method":"POST","url":"subscriptions","headers":{"Content-Type":"application/json"},"body":{"notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + evil + `/events"}}]}`, "allow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, tt.body); refusal(d) != tt.want {
				t.Errorf("got %s (%q); want %s", refusal(d), d.Reason, tt.want)
			}
		})
	}
	if d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", "text/plain", body); refusal(d) != "415" {
		t.Errorf("batch as text/plain: %s", refusal(d))
	}
}

// TestWhoACallTouches: every person a call names, wherever it names them,
// is parsed as one address, checked against the rules on people, and
// recorded as a target.
func TestWhoACallTouches(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	u := "/v1.0/users/" + alice
	ub := "/beta/users/" + alice
	sub := func(res string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"` + res + `"}`
	}
	msg := func(fields string) string { return `{"message":{"subject":"x",` + fields + `}}` }
	rcpt := func(key string, addrs ...string) string {
		var l []string
		for _, a := range addrs {
			l = append(l, attendee(a))
		}
		return `"` + key + `":[` + strings.Join(l, ",") + `]`
	}
	const guid = "10000000-0000-4000-8000-0000000000b0"
	tests := []struct {
		name, caller, method, url, body string
		want                            string // allow, 403, 400, 415
		targets                         string // when allowed
		unscoped                        string
	}{
		// addresses, parsed as one addr-spec each
		{name: "attendee in domain", method: "POST", url: u + "/events", body: event(bob, vendor), want: "allow", targets: alice + "," + bob + "," + vendor},
		{name: "attendee outside", method: "POST", url: u + "/events", body: event(evil), want: "403"},
		{name: "list with ;", method: "POST", url: u + "/events", body: event("bob@evil.example;carol@contoso.example"), want: "400"},
		{name: "list with ,", method: "POST", url: u + "/events", body: event("bob@evil.example,carol@contoso.example"), want: "400"},
		{name: "two @", method: "POST", url: u + "/events", body: event("x@evil.example@contoso.example"), want: "400"},
		{name: "NUL", method: "POST", url: u + "/events", body: event(`bob@evil.example\u0000@contoso.example`), want: "400"},
		{name: "CRLF", method: "POST", url: u + "/events", body: event(`bob@evil.example\r\n@contoso.example`), want: "400"},
		{name: "comment", method: "POST", url: u + "/events", body: event("bob@evil.example(@contoso.example"), want: "400"},
		{name: "display name", method: "POST", url: u + "/events", body: event("Bob <bob@evil.example>"), want: "400"},
		{name: "quoted local", method: "POST", url: u + "/events", body: event(`\"bob@evil.example\"@contoso.example`), want: "400"},
		{name: "domain case", method: "POST", url: u + "/events", body: event("carol@CONTOSO.Example"), want: "allow", targets: alice + ",carol@contoso.example"},
		{name: "full-width domain", method: "POST", url: u + "/events", body: event("carol@\uff43ontoso.example"), want: "allow", targets: alice + ",carol@contoso.example"},
		{name: "subdomain", method: "POST", url: u + "/events", body: event("carol@evil.contoso.example"), want: "403"},
		// every field of an event
		{name: "organizer", method: "POST", url: u + "/events", body: `{"organizer":` + attendee(evil) + `}`, want: "403"},
		{name: "organizer a list", method: "POST", url: u + "/events", body: `{"organizer":[` + attendee(bob) + `]}`, want: "400"},
		{name: "exception attendees", method: "PATCH", url: u + "/events/AAMk", body: `{"exceptionOccurrences":[{"attendees":[` + attendee(evil) + `]}]}`, want: "403"},
		{name: "room", method: "POST", url: u + "/events", body: `{"locations":[{"displayName":"R","locationEmailAddress":"` + room + `"}]}`, want: "allow", targets: alice + "," + room},
		{name: "room outside", method: "POST", url: u + "/events", body: `{"location":{"locationEmailAddress":"` + evil + `"}}`, want: "403"},
		{name: "calendar of another user", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"users/` + bob + `/calendars/AAMk"}`, want: "allow", targets: alice + "," + bob},
		{name: "bind to a group", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"groups/` + guid + `/calendar"}`, want: "403"},
		{name: "bind absolute", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"https://graph.microsoft.com/v1.0/users('` + bob + `')/calendar"}`, want: "allow", targets: alice + "," + bob},
		{name: "bind to another host", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"https://evil.example/v1.0/users('` + bob + `')/calendar"}`, want: "403"},
		{name: "bind with a port", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"https://graph.microsoft.com:8443/v1.0/users('` + bob + `')/calendar"}`, want: "403"},
		{name: "bind over http", method: "POST", url: u + "/events", body: `{"calendar@odata.bind":"http://graph.microsoft.com/v1.0/users('` + bob + `')/calendar"}`, want: "403"},
		{name: "findMeetingTimes", method: "POST", url: u + "/findMeetingTimes", body: `{"attendees":[{"type":"required","emailAddress":{"address":"` + evil + `"}}]}`, want: "allow", targets: alice + "," + evil},
		// mail: every way to write or send it
		{name: "sendMail inside", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob)), want: "allow", targets: alice + "," + bob},
		{name: "sendMail bcc outside", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + "," + rcpt("bccRecipients", evil)), want: "403"},
		{name: "sendMail to an IMCEA-encapsulated address", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", "IMCEASMTP-eve+40evil+2Eexample@contoso.example")), want: "400"},
		{name: "sendMail replyTo", method: "POST", url: u + "/sendMail", body: msg(rcpt("replyTo", evil)), want: "403"},
		{name: "sendMail from", method: "POST", url: u + "/sendMail", body: msg(`"from":` + attendee(evil)), want: "403"},
		{name: "sendMail sender", method: "POST", url: u + "/sendMail", body: msg(`"sender":` + attendee(evil)), want: "403"},
		{name: "draft", method: "POST", url: u + "/messages", body: `{"subject":"x",` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "draft in folder", method: "POST", url: u + "/mailFolders/inbox/messages", body: `{` + rcpt("ccRecipients", evil) + `}`, want: "403"},
		{name: "draft update", method: "PATCH", url: u + "/messages/AAMk", body: `{` + rcpt("bccRecipients", evil) + `}`, want: "403"},
		{name: "forward", method: "POST", url: u + "/messages/AAMk/forward", body: `{"comment":"fyi",` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "reply", method: "POST", url: u + "/messages/AAMk/reply", body: `{"message":{` + rcpt("ccRecipients", evil) + `}}`, want: "403"},
		{name: "forward, qualified name: its recipients checked", method: "POST", url: u + "/messages/AAMk/microsoft.graph.forward", body: `{` + rcpt("toRecipients", evil) + `}`, want: "403"},
		// mail that leaves by calls the model knows by their spelling
		{name: "draft send, matrix parameter", method: "POST", url: u + "/messages/AAMk/send;x=1", want: "400"},
		{name: "draft send, trailing space", method: "POST", url: u + "/messages/AAMk/send%20", want: "400"},
		{name: "forward with a suffix", method: "POST", url: u + "/messages/AAMk/forward.x", body: `{` + rcpt("toRecipients", bob) + `}`, want: "400"},
		{name: "unsubscribe with a suffix: refused as unsubscribe", method: "POST", url: u + "/messages/AAMk/unsubscribe;x", want: "403"},
		{name: "message unsubscribe", method: "POST", url: u + "/messages/AAMk/unsubscribe", want: "403"},
		{name: "event instance forward outside", method: "POST", url: u + "/events/AAMk/instances/AAMl/forward", body: `{` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "event instance forward inside", method: "POST", url: u + "/events/AAMk/instances/AAMl/forward", body: `{` + rcpt("toRecipients", bob) + `}`, want: "allow", targets: alice + "," + bob},
		{name: "group post forward outside", method: "POST", url: "/v1.0/groups/" + guid + "/threads/T1/posts/P1/forward", body: `{` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "group post reply: the group's members", method: "POST", url: "/v1.0/groups/" + guid + "/threads/T1/posts/P1/reply", body: `{"post":{"body":{"content":"x"}}}`, want: "403"},
		{name: "group thread reply: the group's members", method: "POST", url: "/v1.0/groups/" + guid + "/threads/T1/reply", body: `{"post":{"body":{"content":"x"}}}`, want: "403"},
		{name: "inbox rule forwarding outside", method: "POST", url: u + "/mailFolders/inbox/messageRules", body: `{"displayName":"r","actions":{"forwardTo":[` + attendee(evil) + `]}}`, want: "403"},
		{name: "inbox rule redirecting outside", method: "PATCH", url: u + "/mailFolders/inbox/messageRules/R1", body: `{"actions":{"redirectTo":[` + attendee(evil) + `]}}`, want: "403"},
		{name: "inbox rule forwarding inside", method: "POST", url: u + "/mailFolders/inbox/messageRules", body: `{"displayName":"r","actions":{"forwardAsAttachmentTo":[` + attendee(bob) + `]}}`, want: "allow", targets: alice + "," + bob},
		{name: "automatic replies to outside senders", method: "PATCH", url: u + "/mailboxSettings", body: `{"automaticRepliesSetting":{"status":"alwaysEnabled","externalAudience":"all","externalReplyMessage":"x"}}`, want: "403"},
		{name: "automatic replies to contacts", method: "PATCH", url: u + "/mailboxSettings", body: `{"automaticRepliesSetting":{"externalAudience":"contactsOnly"}}`, want: "403"},
		{name: "automatic replies inside only", method: "PATCH", url: u + "/mailboxSettings", body: `{"automaticRepliesSetting":{"status":"alwaysEnabled","externalAudience":"none","internalReplyMessage":"x"}}`, want: "allow", targets: alice},
		{name: "mailbox time zone", method: "PATCH", url: u + "/mailboxSettings", body: `{"timeZone":"UTC"}`, want: "allow", targets: alice},
		{name: "sendMail with a MAPI property", method: "POST", url: u + "/sendMail", body: `{"message":{"subject":"x",` + rcpt("toRecipients", bob) + `,"singleValueExtendedProperties":[{"id":"String 0x0050","value":"` + evil + `"}]}}`, want: "403"},
		{name: "event with an extended property", method: "POST", url: u + "/events", body: `{"subject":"x","singleValueExtendedProperties":[{"id":"String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color","value":"Green"}]}`, want: "allow", targets: alice},
		// files shared, copied, moved; mail moved
		{name: "anonymous sharing link", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"view","scope":"anonymous"}`, want: "403"},
		{name: "sharing link, scope left to the tenant", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"view"}`, want: "403"},
		{name: "organization sharing link", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"view","scope":"organization"}`, want: "allow", targets: alice},
		{name: "sharing link granted to someone", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"edit","scope":"users","recipients":[{"email":"` + evil + `"}],"sendNotification":true}`, want: "allow", targets: alice + "," + evil},
		{name: "sharing link granted by object id", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"edit","scope":"users","recipients":[{"objectId":"` + guid + `"}]}`, want: "400"},
		{name: "sharing link granted by alias", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"edit","scope":"users","recipients":[{"email":"` + bob + `","alias":"eve"}]}`, want: "400"},
		{name: "sharing link, recipients not a list", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"edit","scope":"users","recipients":{"email":"` + evil + `"}}`, want: "400"},
		{name: "sharing link, a recipient not an object", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"edit","scope":"users","recipients":["` + evil + `"]}`, want: "400"},
		{name: "sharing link, recipients null", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"view","scope":"organization","recipients":null}`, want: "allow", targets: alice},
		{name: "recipients on another call", method: "PATCH", url: u + "/drive/items/I1", body: `{"name":"y.docx","recipients":[{"email":"` + evil + `"}]}`, want: "allow", targets: alice + "," + evil},
		{name: "invitation by email and alias", method: "POST", url: u + "/drive/items/I1/invite", body: `{"recipients":[{"email":"` + bob + `","alias":"x"}],"roles":["read"]}`, want: "400"},
		{name: "invitation outside", method: "POST", url: u + "/drive/items/I1/invite", body: `{"recipients":[{"email":"` + evil + `"}],"sendInvitation":true,"roles":["read"]}`, want: "allow", targets: alice + "," + evil},
		{name: "invitation by object id", method: "POST", url: u + "/drive/items/I1/invite", body: `{"recipients":[{"objectId":"` + guid + `"}],"roles":["read"]}`, want: "400"},
		{name: "invitation with its mail's text (Graph's own example)", method: "POST", url: u + "/drive/items/I1/invite", body: `{"recipients":[{"email":"` + bob + `"}],"message":"Here's the file that we're collaborating on.","requireSignIn":true,"sendInvitation":true,"roles":["write"]}`, want: "allow", targets: alice + "," + bob},
		{name: "sharing link with its mail's text", method: "POST", url: u + "/drive/items/I1/createLink", body: `{"type":"view","scope":"users","recipients":[{"email":"` + bob + `"}],"message":"see this","sendNotification":true}`, want: "allow", targets: alice + "," + bob},
		{name: "invitation whose message is a mail message", method: "POST", url: u + "/drive/items/I1/invite", body: `{"recipients":[{"email":"` + bob + `"}],"message":{"toRecipients":[{"emailAddress":{"address":"` + evil + `"}}]}}`, want: "allow", targets: alice + "," + evil + "," + bob},
		{name: "a message as text on a call that sends mail", method: "POST", url: u + "/sendMail", body: `{"message":"text"}`, want: "400"},
		{name: "copy into a drive by id", method: "POST", url: u + "/drive/items/I1/copy", body: `{"parentReference":{"driveId":"b!other","id":"root"}}`, want: "403"},
		{name: "copy into another user's drive by path", method: "POST", url: u + "/drive/items/I1/copy", body: `{"parentReference":{"path":"/users/` + evil + `/drive/root:"}}`, want: "403"},
		{name: "copy into a site", method: "POST", url: u + "/drive/items/I1/copy", body: `{"parentReference":{"siteId":"s1","id":"root"}}`, want: "403"},
		{name: "copy within the drive", method: "POST", url: u + "/drive/items/I1/copy", body: `{"parentReference":{"path":"/drive/root:/Archive"},"name":"x.docx"}`, want: "allow", targets: alice},
		{name: "copy within a drive named by id", method: "POST", url: "/v1.0/drives/b!d1/items/I1/copy", body: `{"parentReference":{"driveId":"b!d1","id":"F1"}}`, want: "allow"},
		{name: "move into a drive by id", method: "PATCH", url: u + "/drive/items/I1", body: `{"parentReference":{"driveId":"b!other","id":"root"}}`, want: "403"},
		{name: "rename", method: "PATCH", url: u + "/drive/items/I1", body: `{"name":"y.docx"}`, want: "allow", targets: alice},
		{name: "message moved to a path", method: "POST", url: u + "/messages/AAMk/move", body: `{"destinationId":"/users/` + evil + `/mailFolders/inbox"}`, want: "400"},
		{name: "message moved to a folder", method: "POST", url: u + "/messages/AAMk/move", body: `{"destinationId":"archive"}`, want: "allow", targets: alice},
		{name: "event decline, no response sent", method: "POST", url: u + "/events/AAMk/decline", body: `{"comment":"x","sendResponse":false}`, want: "allow", targets: alice},
		{name: "manager $ref: the user referenced is a target", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + bob + `"}`, want: "allow", targets: alice + "," + bob},
		{name: "manager $ref, relative, key in parentheses", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":"users('` + bob + `')"}`, want: "allow", targets: alice + "," + bob},
		{name: "manager $ref to someone of the user's: not the user", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + bob + `/directReports/` + guid + `"}`, want: "403"},
		{name: "manager $ref to a user's manager: not the user", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":"users/` + bob + `/manager"}`, want: "403"},
		{name: "manager $ref on another host", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":"https://evil.example/v1.0/users/` + bob + `"}`, want: "403"},
		{name: "manager $ref, reference not a string", method: "PUT", url: u + "/manager/$ref", body: `{"@odata.id":{"x":1}}`, want: "400"},
		{name: "$ref to something not a user", method: "POST", url: u + "/manager/$ref", body: `{"@odata.id":"https://graph.microsoft.com/v1.0/groups/x"}`, want: "403"},
		{name: "createForward", method: "POST", url: u + "/messages/AAMk/createForward", body: `{` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "reference attachment", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"attachments":[{"@odata.type":"#microsoft.graph.referenceAttachment","name":"f","sourceUrl":"https://evil.example/f"}]`), want: "403"},
		{name: "custom header", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"internetMessageHeaders":[{"name":"x-vendor-id","value":"1"}]`), want: "allow", targets: alice + "," + bob},
		{name: "routing header", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"internetMessageHeaders":[{"name":"Bcc","value":"x@evil.example"}]`), want: "403"},
		{name: "event forward", method: "POST", url: u + "/events/AAMk/forward", body: `{` + rcpt("toRecipients", evil) + `}`, want: "403"},
		{name: "event forward no one", method: "POST", url: u + "/events/AAMk/forward", body: `{"comment":"x"}`, want: "400"},
		// meetings
		{name: "meeting upn outside", method: "POST", url: u + "/onlineMeetings", body: `{"participants":{"attendees":[{"upn":"` + evil + `"}]}}`, want: "403"},
		{name: "meeting organizer outside", method: "POST", url: u + "/onlineMeetings", body: `{"participants":{"organizer":{"upn":"` + evil + `"}}}`, want: "403"},
		{name: "meeting id only", method: "POST", url: u + "/onlineMeetings", body: `{"participants":{"attendees":[{"identity":{"user":{"id":"` + guid + `"}}}]}}`, want: "403"},
		{name: "meeting inside", method: "POST", url: u + "/onlineMeetings", body: `{"subject":"s","participants":{"attendees":[{"upn":"` + bob + `","identity":{"user":{"id":"` + guid + `"}}}]}}`, want: "403"},
		{name: "meeting upn inside", method: "POST", url: u + "/onlineMeetings", body: `{"subject":"s","participants":{"attendees":[{"upn":"` + bob + `"}]}}`, want: "allow", targets: alice + "," + bob},
		{name: "participants a list", method: "POST", url: u + "/onlineMeetings", body: `{"participants":[]}`, want: "400"},
		// people under names of their own: a message's mention names its
		// person by an emailAddress under "mentioned" (beta), a chat's by an
		// identity set or an id; any other member whose name ends in
		// EmailAddress holds an address, as a string or as an emailAddress
		{name: "message mention outside", method: "POST", url: ub + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"mentions":[{"mentioned":{"name":"Eve","address":"` + evil + `"}}]`), want: "403"},
		{name: "message mention inside", method: "POST", url: ub + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"mentions":[{"mentioned":{"name":"Carol","address":"carol@contoso.example"}}]`), want: "allow", targets: alice + ",carol@contoso.example," + bob},
		{name: "draft mention outside", method: "POST", url: ub + "/messages", body: `{"subject":"x","mentions":[{"mentioned":{"address":"` + evil + `"}}]}`, want: "403"},
		{name: "mention created on its own", method: "POST", url: ub + "/messages/AAMk/mentions", body: `{"mentioned":{"name":"Eve","address":"` + evil + `"}}`, want: "allow", targets: alice + "," + evil},
		{name: "mention by name alone", method: "POST", url: ub + "/messages/AAMk/mentions", body: `{"mentioned":{"name":"Eve Evil"}}`, want: "400"},
		{name: "mention not an address", method: "POST", url: ub + "/messages/AAMk/mentions", body: `{"mentioned":{"address":"a@b.example;c@d.example"}}`, want: "400"},
		{name: "mention by id", method: "POST", url: ub + "/messages/AAMk/mentions", body: `{"mentioned":"` + guid + `"}`, want: "allow", targets: alice + "," + guid},
		{name: "mention a list", method: "POST", url: ub + "/messages/AAMk/mentions", body: `{"mentioned":[]}`, want: "400"},
		{name: "sender of a classification override", method: "POST", url: u + "/inferenceClassification/overrides", body: `{"classifyAs":"focused","senderEmailAddress":{"name":"Eve","address":"` + evil + `"}}`, want: "allow", targets: alice + "," + evil},
		{name: "an EmailAddress member as a string", method: "POST", url: u + "/inferenceClassification/overrides", body: `{"classifyAs":"focused","SENDEREMAILADDRESS":"` + evil + `"}`, want: "allow", targets: alice + "," + evil},
		{name: "an EmailAddress member not one address", method: "POST", url: u + "/inferenceClassification/overrides", body: `{"classifyAs":"focused","senderEmailAddress":{"address":"a@b.example,c@d.example"}}`, want: "400"},
		{name: "an EmailAddress member null", method: "POST", url: u + "/inferenceClassification/overrides", body: `{"classifyAs":"focused","senderEmailAddress":null}`, want: "allow", targets: alice},
		{name: "an EmailAddress member a number", method: "POST", url: u + "/inferenceClassification/overrides", body: `{"classifyAs":"focused","senderEmailAddress":1}`, want: "400"},
		// people under members the finder was not told of: a string that
		// is an address, anywhere, names a person; one written as an
		// address is read as one or refused; text that mentions one does not
		{name: "an address under an unknown member", method: "POST", url: u + "/events", body: `{"subject":"x","target":{"email":"` + evil + `"}}`, want: "403"},
		{name: "an address in a list of strings", method: "POST", url: u + "/events", body: `{"subject":"x","accountTargetEmails":["` + bob + `","` + evil + `"]}`, want: "403"},
		{name: "addresses in a list of strings inside", method: "POST", url: u + "/events", body: `{"subject":"x","accountTargetEmails":["` + bob + `","` + vendor + `"]}`, want: "allow", targets: alice + "," + bob + "," + vendor},
		{name: "an address with spaces around", method: "POST", url: u + "/events", body: `{"subject":"x","mail":" ` + evil + `\t"}`, want: "403"},
		{name: "an address with a display name", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"Eve Evil <` + evil + `>"}`, want: "403"},
		{name: "an address in angle brackets", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"<` + evil + `>"}`, want: "403"},
		{name: "a mailto: address", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"MAILTO:` + evil + `"}`, want: "403"},
		{name: "a proxy address", method: "POST", url: u + "/events", body: `{"subject":"x","proxyAddresses":["SMTP:` + bob + `","smtp:` + evil + `"]}`, want: "403"},
		{name: "a proxy address inside", method: "POST", url: u + "/events", body: `{"subject":"x","proxyAddresses":["SMTP:` + bob + `","X500:/o=x/cn=y"]}`, want: "allow", targets: alice + "," + bob},
		{name: "an address with its at sign escaped", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"eve\u0040evil.example"}`, want: "403"},
		{name: "an address list", method: "POST", url: u + "/events", body: `{"subject":"x","cc":"` + bob + `, Eve <` + evil + `>"}`, want: "403"},
		{name: "a full-width at sign", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"eve\uff20evil.example"}`, want: "400"},
		{name: "a relay address under an unknown member", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"eve%evil.example@contoso.example"}`, want: "400"},
		{name: "a list without spaces under an unknown member", method: "POST", url: u + "/events", body: `{"subject":"x","mail":"` + bob + `;` + evil + `"}`, want: "400"},
		{name: "a mailto: URL with a query", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"mailto:` + bob + `?cc=` + evil + `"}`, want: "400"},
		{name: "a mailto: URL percent-encoded", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"mailto:eve%40evil.example"}`, want: "403"},
		{name: "a mailto: URL percent-encoded, a letter", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"<mailto:%65ve@evil.example>"}`, want: "403"},
		{name: "a mailto: URL percent-encoded, its '%' escaped", method: "POST", url: u + "/events", body: `{"subject":"x","x":["mailto:eve\u002540evil.example"]}`, want: "403"},
		{name: "a mailto: URL percent-encoded, inside", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"mailto:` + strings.Replace(bob, "@", "%40", 1) + `"}`, want: "allow", targets: alice + "," + bob},
		{name: "a mailto: URL encoded twice", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"mailto:eve%2540evil.example"}`, want: "400"},
		{name: "a mailto: URL, its recipient in a header field", method: "POST", url: u + "/events", body: `{"subject":"x","contact":"mailto:?to=eve%40evil.example"}`, want: "400"},
		{name: "a userPrincipalName in a user identity", method: "POST", url: u + "/events", body: `{"subject":"x","x":{"user":{"displayName":"Eve","userPrincipalName":"` + evil + `"}}}`, want: "403"},
		{name: "an email in a user identity", method: "POST", url: u + "/events", body: `{"subject":"x","x":{"user":{"email":"` + evil + `"}}}`, want: "403"},
		{name: "a userPrincipalName in a user identity inside", method: "POST", url: u + "/events", body: `{"subject":"x","x":{"user":{"displayName":"Bob","userPrincipalName":"` + bob + `"}}}`, want: "allow", targets: alice + "," + bob},
		{name: "addresses in prose, HTML, URLs and Teams ids", method: "POST", url: u + "/events", body: `{"subject":"see ` + evil + ` for details","body":{"contentType":"HTML","content":"<p>Write to <a href=\"mailto:` + evil + `\">Eve &lt;` + evil + `&gt;</a></p>"},` +
			`"location":{"uniqueId":"https://social.example/@eve"},"onlineMeeting":{"joinUrl":"https://x.example/l/19:meeting_a@thread.v2"},"x":["@eve","19:meeting_a@thread.v2","users/` + evil + `/events","eve@"]}`, want: "allow", targets: alice},
		{name: "a mail body that is an address", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"body":{"contentType":"Text","content":"` + evil + `"}`), want: "403"},
		{name: "a mail body that mentions an address", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"body":{"contentType":"HTML","content":"<html><body><p>Eve (` + evil + `) asked.</p><p>Bob &lt;` + bob + `&gt;</p></body></html>"}`), want: "allow", targets: alice + "," + bob},
		{name: "an address in JSON held in a string", method: "POST", url: u + "/events", body: `{"subject":"x","card":"{\"to\":{\"email\":\"` + evil + `\"}}"}`, want: "403"},
		{name: "an Excel formula", method: "POST", url: u + "/events", body: `{"subject":"x","formula":"=@A1:A10"}`, want: "allow", targets: alice},
		{name: "an inline image's content id", method: "POST", url: u + "/sendMail", body: msg(rcpt("toRecipients", bob) + `,"internetMessageId":"<a1b2@mail.vendor.example>","attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"image001.png","contentId":"image001.png@01D9A1B2.C3D4E5F6","isInline":true,"contentBytes":"AA=="}]`), want: "allow", targets: alice + "," + bob},
		{name: "an address in an event's extended property", method: "POST", url: u + "/events", body: `{"subject":"x","singleValueExtendedProperties":[{"id":"String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Owner","value":"` + evil + `"}]}`, want: "403"},
		{name: "names an item or a person is shown by", method: "POST", url: u + "/events", body: `{"subject":"x","attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"icon@2x.png","contentBytes":"AA=="}],"location":{"displayName":"` + evil + `"},"card":{"fileName":"logo@2x.png"}}`, want: "allow", targets: alice},
		{name: "a name that holds an object is walked", method: "POST", url: u + "/events", body: `{"subject":"x","name":{"email":"` + evil + `"}}`, want: "403"},
		{name: "a user's other mails", method: "PATCH", url: u, body: `{"otherMails":["` + evil + `"],"mail":"` + bob + `"}`, want: "allow", targets: alice + "," + bob + "," + evil},
		// contacts and chats
		{name: "contact", method: "POST", url: u + "/contacts", body: `{"emailAddresses":[{"address":"` + evil + `"}]}`, want: "allow", targets: alice + "," + evil},
		{name: "contact bad address", method: "POST", url: u + "/contacts", body: `{"emailAddresses":[{"address":"a@b.example;c@d.example"}]}`, want: "400"},
		{name: "chat members", method: "POST", url: "/v1.0/chats", body: `{"chatType":"oneOnOne","members":[{"roles":["owner"],"user@odata.bind":"https://graph.microsoft.com/v1.0/users('` + guid + `')"}]}`, want: "allow", targets: guid},
		// subscriptions: the resource is decided as the read it stands for
		{name: "subscription", method: "POST", url: "/v1.0/subscriptions", body: sub("users/" + bob + "/events"), want: "allow", targets: bob},
		{name: "subscription to a user", method: "POST", url: "/v1.0/subscriptions", body: sub("users/" + bob), want: "allow", targets: bob},
		{name: "subscription key syntax", method: "POST", url: "/v1.0/subscriptions", body: sub("users('" + bob + "')/events"), want: "allow", targets: bob},
		{name: "subscription object id", method: "POST", url: "/v1.0/subscriptions", body: sub("/users/" + guid + "/events"), want: "allow", targets: guid},
		{name: "subscription escaped key", method: "POST", url: "/v1.0/subscriptions", body: `{"notificationUrl":"https://hooks.vendor.example/graph/n","res\u006furce":"users/` + bob + `/events"}`, want: "allow", targets: bob},
		{name: "subscription unreadable", method: "POST", url: "/v1.0/subscriptions", body: sub("users/" + bob + "/messages"), want: "403"},
		// a scoped caller: people in bodies need the group, or withoutGroup
		{name: "scoped: guest domain", caller: "scoped", method: "POST", url: u + "/events", body: event(bob, vendor, room), want: "allow", targets: alice + "," + bob + "," + vendor + "," + room, unscoped: vendor + "," + room},
		{name: "scoped: users collection", caller: "scoped", method: "GET", url: "/v1.0/users", want: "403"},
		{name: "a group's members: no user named", method: "GET", url: "/v1.0/groups/" + guid + "/members", want: "allow"},
		{name: "scoped: a group's members name no user the scope can check", caller: "scoped", method: "GET", url: "/v1.0/groups/" + guid + "/members", want: "403"},
		{name: "scoped: subscription to a collection", caller: "scoped", method: "POST", url: "/v1.0/subscriptions", body: sub("users"), want: "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := tt.caller
			if caller == "" {
				caller = "engage"
			}
			ct := ""
			if tt.body != "" {
				ct = ctJSON
			}
			d := decideWith(t, p, caller, tt.method, tt.url, ct, tt.body)
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
			if d.RuleID == "" {
				// Refused for want of a rule, the case would test nothing.
				t.Fatalf("no rule: %q", d.Reason)
			}
			if d.Result != Allow {
				return
			}
			if d.Lookup != nil {
				t.Errorf("the call reads %s first: TestReferencedPeople holds such calls", d.Lookup.Path)
			}
			wantTargets(t, d, tt.targets, tt.unscoped)
		})
	}
}

// wantTargets checks an allowed decision's targets and unscoped targets,
// each a comma-separated list.
func wantTargets(t *testing.T, d Decision, targets, unscoped string) {
	t.Helper()
	if got := strings.Join(d.Targets, ","); got != targets {
		t.Errorf("targets %s; want %s", got, targets)
	}
	if got := strings.Join(d.Unscoped, ","); got != unscoped {
		t.Errorf("unscoped %s; want %s", got, unscoped)
	}
}

// TestExamplePolicyAsCommented: examples/policy-engage.yaml does what its
// comments say: a member books members, the vendor's staff and a room; no
// one outside the two domains; the group scope still applies to the rest.
func TestExamplePolicyAsCommented(t *testing.T) {
	p := mustLoad(t, "../examples/policy-engage.yaml")
	const caller = "engage"
	u := "/v1.0/users/" + alice + "/calendar/events"
	d := decideWith(t, p, caller, "POST", u, ctJSON, event(bob, vendor, room))
	if d.Result != Allow || strings.Join(d.Targets, ",") != alice+","+bob+","+vendor+","+room || strings.Join(d.Unscoped, ",") != vendor+","+room {
		t.Errorf("booking a member, a guest and a room: %v %q targets %v unscoped %v", d.Result, d.Reason, d.Targets, d.Unscoped)
	}
	if d.Group == "" {
		t.Error("the example scopes the vendor to a group")
	}
	if d := decideWith(t, p, caller, "POST", u, ctJSON, event(evil)); d.Result != Deny {
		t.Errorf("an attendee outside both domains: %v", d.Result)
	}
	if d := decideWith(t, p, caller, "GET", "/v1.0/users/"+alice, "", ""); d.Result != Allow || d.AddSelect == "" {
		t.Errorf("a user lookup without $select gets the rule's fields: %v %q", d.Result, d.AddSelect)
	}
}

// kindOfReference is kindOf as it was written first: the key lowered
// whole, allocated.
func kindOfReference(key string) memberKind {
	lk := strings.ToLower(key)
	if strings.HasSuffix(lk, bindSuffix) {
		return bindMember
	}
	if kind, ok := memberKinds[lk]; ok {
		return kind
	}
	if strings.HasSuffix(lk, addressSuffix) {
		return anyAddressMember
	}
	return otherMember
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		key  string
		want memberKind
	}{
		{"attendees", peopleListMember},
		{"ATTENDEES", peopleListMember},
		{"toRecipients", peopleListMember},
		{"emailAddress", emailAddressMember},
		{"EmailAddresses", emailAddressesMember},
		{"userPrincipalName", addressStringMember},
		{"members@odata.bind", bindMember},
		{"Members@OData.Bind", bindMember},
		{"attendees@odata.bind", bindMember},
		{strings.Repeat("x", 80) + "@odata.bind", bindMember},
		{strings.Repeat("x", 80), otherMember},
		{"subject", otherMember},
		{"attendeeſ", otherMember},                     // ſ lowers to itself, not to s
		{"\u0130nternetMessageHeaders", headersMember}, // İ lowers to i, as strings.ToLower has it
		{"\u212Aey", otherMember},
		{"senderEmailAddress", anyAddressMember},
		{"INVITEDUSEREMAILADDRESS", anyAddressMember},
		{"locationEmailAddress", addressStringMember},
		{"name", noOneMember},
		{"", otherMember},
	}
	for _, tt := range tests {
		if got := kindOf(tt.key); got != tt.want {
			t.Errorf("kindOf(%q) = %d; want %d", tt.key, got, tt.want)
		}
		if ref := kindOfReference(tt.key); ref != tt.want {
			t.Errorf("reference kindOf(%q) = %d; want %d", tt.key, ref, tt.want)
		}
	}
}

func FuzzKindOf(f *testing.F) {
	for _, k := range []string{"attendees", "ATTENDEES", "x@ODATA.BIND", "emailAddress", "attendeeſ", "\u0130nternetMessageHeaders", strings.Repeat("A", 70)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if got, want := kindOf(key), kindOfReference(key); got != want {
			t.Errorf("kindOf(%q) = %d; the reference says %d", key, got, want)
		}
	})
}
