package hardening

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// scopedGroup is the security group the fail-closed policy scopes the
// vendor to.
const scopedGroup = "90000000-0000-4000-8000-0000000000f1"

// failClosedPolicy scopes the simulator's vendor to a group (guests of
// vendor.example and one room allowed without it) and allows calendars,
// mail, meetings and subscriptions with rules on people.
var failClosedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All, Calendars.ReadBasic.All, Calendars.ReadWrite, OnlineMeetings.ReadWrite.All, Mail.Send, Mail.ReadWrite]
    users:
      group: "` + scopedGroup + `"
      withoutGroup: { domains: [vendor.example], addresses: [room-1@contoso.example] }
subscriptions:
  notificationUrls: ["https://hooks.vendor.example/graph/*"]
mail:
  recipientDomains: [contoso.example]
rules:
  - { id: user-get, method: GET, path: "/users/{user}", query: [$select], select: [id, displayname], permission: User.ReadBasic.All }
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: events-read, method: GET, path: "/users/{user}/events", query: [$top], permission: Calendars.ReadBasic.All }
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite, peopleDomains: [contoso.example, vendor.example] }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
  - { id: send-mail, method: POST, path: "/users/{user}/sendMail", permission: Mail.Send }
  - { id: drafts, method: POST, path: "/users/{user}/messages", permission: Mail.ReadWrite }
  - { id: message-actions, method: POST, path: "/users/{user}/messages/{id}/{action}", permission: Mail.Send }
  - { id: meetings, method: POST, path: "/users/{user}/onlineMeetings", permission: OnlineMeetings.ReadWrite.All, peopleDomains: [contoso.example] }
`

// startScoped starts the simulator and the proxy under policy, the
// proxy's identity holding roles besides the simulator's defaults, and
// the simulator's first two users members of scopedGroup.
func startScoped(t *testing.T, policy string, roles ...string) (*graphsim.Sim, *proc) {
	t.Helper()
	sim := startSim(t, graphsim.Options{})
	for _, id := range []string{graphsim.SystemIdentityClientID, graphsim.ManagedIdentityClientID} {
		have := sim.Entra.App(graphsim.CustomerTenant, id).Roles[graphsim.GraphResource]
		sim.Entra.SetRoles(graphsim.CustomerTenant, id, graphsim.GraphResource, append(slices.Clone(have), roles...))
	}
	p := startProxy(t, sim, procOptions{Policy: policy})
	_, upns := sim.Graph.Users()
	for _, u := range upns[:2] {
		sim.Graph.SetGroupMember(scopedGroup, u, true)
	}
	return sim, p
}

// TestFailClosedEndToEnd: through the real binary, every class of request
// whose meaning the proxy cannot fully establish is refused with the
// status it names, audited, and never reaches Graph; and what is
// forwarded is what was decided.
func TestFailClosedEndToEnd(t *testing.T) {
	sim, p := startScoped(t, failClosedPolicy, "Mail.Send", "Mail.ReadWrite")
	ids, upns := sim.Graph.Users()
	member, member2, outsider := upns[0], upns[1], upns[3]
	u := "/v1.0/users/" + member
	window := `"startTime":{"dateTime":"2030-01-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"}`
	sched := func(v string) string { return `{"schedules":` + v + `,` + window + `}` }
	sub := func(resourceKey, res string) string {
		return `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","` + resourceKey + `":"` + res + `","expirationDateTime":"2030-01-01T00:00:00Z"}`
	}
	batch := func(subs ...string) string { return `{"requests":[` + strings.Join(subs, ",") + `]}` }
	att := func(a string) string { return `{"emailAddress":{"address":"` + a + `"}}` }
	// Items whose people are outside: the proxy reads them, and refuses.
	draftOutside := sim.Graph.AddMessage(member, graphsim.Message{IsDraft: true, To: []string{member2}, Bcc: []string{"x@evil.example"}})
	fromOutside := sim.Graph.AddMessage(member, graphsim.Message{From: "x@evil.example", Sender: "x@evil.example"})
	fromNonMember := sim.Graph.AddMessage(member, graphsim.Message{From: member2, ReplyTo: []string{outsider}})

	for _, tt := range []struct {
		name, method, path, ct, body string
		want                         int
	}{
		// 1. the resource of a subscription is decided as the read it is
		{"subscription: non-member", "POST", "/v1.0/subscriptions", "application/json", sub("resource", "users/"+outsider+"/events"), 403},
		{"subscription: key syntax", "POST", "/v1.0/subscriptions", "application/json", sub("resource", "users('"+outsider+"')/events"), 403},
		{"subscription: object id", "POST", "/v1.0/subscriptions", "application/json", sub("resource", "/users/"+ids[3]+"/events"), 403},
		{"subscription: escaped key", "POST", "/v1.0/subscriptions", "application/json", sub(`res\u006furce`, "users/"+outsider+"/events"), 403},
		{"subscription: in a batch", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"subscriptions","headers":{"Content-Type":"application/json"},"body":` + sub("resource", "users/"+outsider+"/events") + `}`), 403},
		{"subscription: foreign notificationUrl", "POST", "/v1.0/subscriptions", "application/json", `{"notificationUrl":"https://evil.example/n","resource":"users/` + member + `/events"}`, 403},
		// 2. a body is read as its one Content-Type says, or refused
		{"text/json", "POST", u + "/calendar/getSchedule", "text/json", sched(`["` + outsider + `"]`), 415},
		{"text/plain", "POST", u + "/calendar/getSchedule", "text/plain", sched(`["` + outsider + `"]`), 415},
		{"form", "POST", u + "/calendar/getSchedule", "application/x-www-form-urlencoded", sched(`["` + outsider + `"]`), 415},
		{"two types in one", "POST", u + "/calendar/getSchedule", "application/json, text/plain", sched(`["` + outsider + `"]`), 415},
		{"unterminated charset", "POST", u + "/calendar/getSchedule", `application/json; charset="utf-8`, sched(`["` + outsider + `"]`), 415},
		{"subscription as text", "POST", "/v1.0/subscriptions", "text/plain", `{"notificationUrl":"https://evil.example/n","resource":"users/` + member + `/events"}`, 415},
		// 3. shapes a check does not expect
		{"schedules a string", "POST", u + "/calendar/getSchedule", "application/json", sched(`"` + outsider + `"`), 400},
		{"schedules an object", "POST", u + "/calendar/getSchedule", "application/json", sched(`{"0":"` + outsider + `"}`), 400},
		{"schedules null", "POST", u + "/calendar/getSchedule", "application/json", sched(`null`), 400},
		{"getSchedule empty object", "POST", u + "/calendar/getSchedule", "application/json", `{}`, 400},
		{"getSchedule no body", "POST", u + "/calendar/getSchedule", "", "", 400},
		{"attendees an object", "POST", u + "/events", "application/json", `{"attendees":` + att(outsider) + `}`, 400},
		{"event body an array", "POST", u + "/events", "application/json", `[{"attendees":[` + att(outsider) + `]}]`, 400},
		{"message a list", "POST", u + "/sendMail", "application/json", `{"message":[{"toRecipients":[` + att("x@evil.example") + `]}]}`, 400},
		// 4. a rule's select list is not dodged
		{"empty $select", "GET", u + "?$select=", "", "", 403},
		{"bare $select", "GET", u + "?$select", "", "", 403},
		{"blank $select", "GET", u + "?$select=%20", "", "", 403},
		{"empty $select in a batch", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"GET","url":"users/` + member + `?$select="}`), 403},
		// 9. a batch Graph would refuse as malformed
		{"version-prefixed batch URL", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"v","method":"GET","url":"/v1.0/users/` + member + `"}`), 400},
		// who a call touches
		{"address list in an attendee", "POST", u + "/events", "application/json", `{"attendees":[` + att("bob@evil.example;carol@contoso.example") + `]}`, 400},
		{"two @", "POST", u + "/events", "application/json", `{"attendees":[` + att("x@evil.example@contoso.example") + `]}`, 400},
		{"attendee outside the domains", "POST", u + "/events", "application/json", `{"attendees":[` + att("eve@evil.example") + `]}`, 403},
		{"attendee not in the group", "POST", u + "/events", "application/json", `{"attendees":[` + att(outsider) + `]}`, 403},
		{"organizer outside", "POST", u + "/events", "application/json", `{"organizer":` + att("eve@evil.example") + `}`, 403},
		{"sendMail bcc outside", "POST", u + "/sendMail", "application/json", `{"message":{"toRecipients":[` + att(member2) + `],"bccRecipients":[` + att("x@evil.example") + `]}}`, 403},
		{"sendMail MIME outside", "POST", u + "/sendMail", "text/plain", mimeMail("From: " + member + "\r\nTo: " + member2 + "\r\nBcc: x@evil.example\r\n"), 403},
		{"draft to outside", "POST", u + "/messages", "application/json", `{"toRecipients":[` + att("x@evil.example") + `]}`, 403},
		{"draft mentioning someone outside", "POST", u + "/messages", "application/json", `{"toRecipients":[` + att(member2) + `],"mentions":[{"mentioned":{"name":"X","address":"x@evil.example"}}]}`, 403},
		{"draft mentioning someone outside, in $batch", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages","headers":{"Content-Type":"application/json"},"body":{"mentions":[{"mentioned":{"address":"x@evil.example"}}]}}`), 403},
		{"sendMail to an IMCEA-encapsulated address", "POST", u + "/sendMail", "application/json", `{"message":{"toRecipients":[` + att("IMCEASMTP-x+40evil+2Eexample@contoso.example") + `]}}`, 400},
		{"sendMail MIME carrying a TNEF part", "POST", u + "/sendMail", "text/plain", base64.StdEncoding.EncodeToString([]byte("From: " + member + "\r\nTo: " + member2 + "\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello.\r\n--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IgAAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA\r\n--b--\r\n")), 400},
		{"sendMail MIME to an IMCEA-encapsulated address", "POST", u + "/sendMail", "text/plain", mimeMail("From: " + member + "\r\nTo: IMCEASMTP-x+40evil+2Eexample@contoso.example\r\n"), 400},
		// a person named under a member the finder was not told of
		{"event naming someone outside under an unknown member", "POST", u + "/events", "application/json", `{"subject":"x","target":{"email":"x@evil.example"}}`, 403},
		{"event naming a non-member in a list of strings", "POST", u + "/events", "application/json", `{"subject":"x","otherMails":["` + member2 + `","SMTP:` + outsider + `"]}`, 403},
		{"sendMail naming someone outside under an unknown member, in $batch", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"users/` + member + `/sendMail","headers":{"Content-Type":"application/json"},"body":{"message":{"toRecipients":[` + att(member2) + `],"x":{"user":{"displayName":"X","email":"Eve <x@evil.example>"}}}}}`), 403},
		{"event naming a relay address under an unknown member", "POST", u + "/events", "application/json", `{"subject":"x","mail":"x%evil.example@contoso.example"}`, 400},
		{"event naming a non-member as a percent-encoded mailto: URL", "POST", u + "/events", "application/json", `{"subject":"x","contact":"mailto:` + strings.Replace(outsider, "@", "%40", 1) + `"}`, 403},
		{"event naming someone outside as a mailto: URL, its at sign percent-encoded and escaped", "POST", u + "/events", "application/json", `{"subject":"x","x":["mailto:x\u002540evil.example"]}`, 403},
		{"draft send, a bcc outside", "POST", u + "/messages/" + draftOutside + "/send", "", "", 403},
		{"draft send, the draft not found", "POST", u + "/messages/AAMkAD/send", "", "", 403},
		{"forward outside", "POST", u + "/messages/AAMkAD/forward", "application/json", `{"toRecipients":[` + att("x@evil.example") + `]}`, 403},
		{"reply with a foreign cc", "POST", u + "/messages/AAMkAD/reply", "application/json", `{"message":{"ccRecipients":[` + att("x@evil.example") + `]}}`, 403},
		{"reply: its sender outside mail.recipientDomains", "POST", u + "/messages/" + fromOutside + "/reply", "application/json", `{"comment":"ok"}`, 403},
		{"replyAll: its replyTo not in the group", "POST", u + "/messages/" + fromNonMember + "/replyAll", "application/json", `{"comment":"ok"}`, 403},
		{"replyAll inside $batch: its replyTo not in the group", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/` + fromNonMember + `/replyAll","headers":{"Content-Type":"application/json"},"body":{"comment":"ok"}}`), 403},
		{"a draft sent inside $batch, a bcc outside", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/` + draftOutside + `/send"}`), 403},
		{"reply inside $batch", "POST", "/v1.0/$batch", "application/json", batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/` + fromOutside + `/reply","headers":{"Content-Type":"application/json"},"body":{"comment":"ok"}}`), 403},
		{"meeting attendee outside", "POST", u + "/onlineMeetings", "application/json", `{"participants":{"attendees":[{"upn":"eve@evil.example"}]}}`, 403},
		{"meeting organizer not in the group", "POST", u + "/onlineMeetings", "application/json", `{"participants":{"organizer":{"upn":"` + outsider + `"}}}`, 403},
	} {
		sim.Graph.ResetRequests()
		var hdr []string
		if tt.ct != "" {
			hdr = []string{"Content-Type", tt.ct}
		}
		r := p.Do(tt.method, tt.path, tt.body, hdr...)
		refusedAndAudited(t, p, tt.name, r)
		if r.Status != tt.want {
			t.Errorf("%s: got %d %s; want %d", tt.name, r.Status, r.Body, tt.want)
		}
	}

	t.Run("two Content-Type headers", func(t *testing.T) {
		sim.Graph.ResetRequests()
		req, _ := http.NewRequest("POST", p.Base+u+"/calendar/getSchedule", strings.NewReader(sched(`["`+outsider+`"]`)))
		req.Header.Set("Authorization", "Bearer "+p.Token())
		req.Header["Content-Type"] = []string{"application/json", "text/plain"}
		resp, err := p.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(graphSaw(sim)) != 0 {
			t.Errorf("got %d, Graph saw %d requests; want 400 and none", resp.StatusCode, len(graphSaw(sim)))
		}
		if rec := p.Record(resp.Header.Get("x-graph-proxy-request-id")); rec.Status != 400 || rec.Decision != "deny" {
			t.Errorf("record %+v", rec)
		}
	})

	// What is forwarded is what was decided.
	forwarded := func(t *testing.T, name, method, path, ct, body string, want int) (graphsim.Recorded, string) {
		t.Helper()
		sim.Graph.ResetRequests()
		var hdr []string
		if ct != "" {
			hdr = []string{"Content-Type", ct}
		}
		r := p.Do(method, path, body, hdr...)
		if r.Status != want {
			t.Fatalf("%s: got %d %s; want %d", name, r.Status, r.Body, want)
		}
		saw := graphSaw(sim)
		if len(saw) == 0 {
			t.Fatalf("%s: Graph saw nothing", name)
		}
		return saw[0], r.RequestID
	}
	t.Run("reply inside $batch", func(t *testing.T) {
		// The proxy reads the message of the reply before the batch goes
		// to Graph, and the sender is among the batch's targets and its
		// sub-request's.
		fromMember := sim.Graph.AddMessage(member, graphsim.Message{From: member2, Sender: member2})
		body := batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/` + fromMember + `/reply","headers":{"Content-Type":"application/json"},"body":{"comment":"ok"}}`)
		saw, id := forwarded(t, "reply in a batch", "POST", "/v1.0/$batch", "application/json", body, 200)
		if !strings.HasSuffix(saw.Path, "/$batch") {
			t.Errorf("Graph saw %s %s first", saw.Method, saw.Path)
		}
		var read bool
		for _, r := range sim.Graph.Requests() {
			read = read || r.Method == "GET" && strings.HasSuffix(r.Path, "/messages/"+fromMember) && referenceRead(r)
		}
		if !read {
			t.Error("the proxy did not read the replied-to message")
		}
		if rec := p.Record(id); !slices.Contains(rec.Targets, member2) || rec.Decision != "allow" {
			t.Errorf("batch record %+v; want the sender among its targets", rec)
		}
		sub := p.RecordsWhere(1, func(r auditlog.Record) bool { return r.Batch != nil && r.Batch.RequestID == id })
		if s := sub[len(sub)-1]; !slices.Contains(s.Targets, member2) || !strings.Contains(s.Reason, "recipients read from the message") {
			t.Errorf("sub-request record %+v", s)
		}
	})
	t.Run("replyAll inside $batch, scoped", func(t *testing.T) {
		// The people read for a sub-request are scoped as a call's own:
		// its record says who is not a member.
		sim.Graph.ResetRequests()
		r := p.Do("POST", "/v1.0/$batch", batch(`{"id":"1","method":"POST","url":"users/`+member+`/messages/`+fromNonMember+`/replyAll","headers":{"Content-Type":"application/json"},"body":{"comment":"ok"}}`), "Content-Type", "application/json")
		refusedAndAudited(t, p, "replyAll inside $batch", r)
		sub := p.RecordsWhere(1, func(rec auditlog.Record) bool { return rec.Batch != nil && rec.Batch.RequestID == r.RequestID })
		if s := sub[len(sub)-1]; s.Decision != "deny" || !strings.Contains(s.Reason, outsider+" is not a member of group") {
			t.Errorf("sub-request record %+v", s)
		}
	})
	t.Run("select added", func(t *testing.T) {
		saw, id := forwarded(t, "no $select", "GET", u, "", "", 200)
		if saw.RawQuery != "$select=id,displayname" {
			t.Errorf("Graph saw query %q", saw.RawQuery)
		}
		rec := p.Record(id)
		if !slices.Contains(rec.Query, "$select") || !strings.Contains(rec.Reason, "$select=id,displayname added") {
			t.Errorf("record %+v does not say $select was added", rec)
		}
	})
	t.Run("Content-Type decided", func(t *testing.T) {
		saw, _ := forwarded(t, "charset", "POST", u+"/calendar/getSchedule", "application/json; charset=UTF-8", sched(`["`+member2+`"]`), 200)
		if got := saw.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json; charset=utf-8" {
			t.Errorf("Graph saw Content-Type %q", got)
		}
	})
	t.Run("method case", func(t *testing.T) {
		for name, client := range map[string]*http.Client{"HTTP/2": p.Client, "HTTP/1.1": http1Client(p)} {
			sim.Graph.ResetRequests()
			req, _ := http.NewRequest("get", p.Base+u+"/events?$top=1", nil)
			req.Header.Set("Authorization", "Bearer "+p.Token())
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if saw := graphSaw(sim); resp.StatusCode != 200 || len(saw) != 1 || saw[0].Method != "GET" {
				t.Errorf("%s: got %d; Graph saw %+v; want GET", name, resp.StatusCode, saw)
			}
		}
		sim.Graph.ResetRequests()
		r := p.Do("POST", "/v1.0/$batch", batch(`{"id":"1","method":"get","url":"users/`+member+`"}`), "Content-Type", "application/json")
		saw := graphSaw(sim)
		if r.Status != 200 || len(saw) != 2 || saw[1].Method != "GET" || saw[1].RawQuery != "$select=id,displayname" {
			t.Errorf("batch: got %d; Graph saw %+v", r.Status, saw)
		}
	})
	t.Run("people recorded", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path, ct, body string
			status                       int
			targets                      []string
		}{
			{"subscription", "POST", "/v1.0/subscriptions", "application/json", sub("resource", "users('"+member2+"')/events"), 201, []string{member2}},
			{"event with a guest and a room", "POST", u + "/events", "application/json",
				`{"subject":"x","start":{"dateTime":"2030-01-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-01T11:00:00","timeZone":"UTC"},"attendees":[` + att(member2) + `,` + att("guest@vendor.example") + `],"location":{"locationEmailAddress":"room-1@contoso.example"}}`, 201,
				[]string{member, member2, "guest@vendor.example", "room-1@contoso.example"}},
			{"sendMail", "POST", u + "/sendMail", "application/json", `{"message":{"subject":"s","toRecipients":[` + att(member2) + `]}}`, 202, []string{member, member2}},
			{"sendMail MIME", "POST", u + "/sendMail", "text/plain", mimeMail("From: " + member + "\r\nTo: " + member2 + "\r\n"), 202, []string{member, member2}},
			{"draft", "POST", u + "/messages", "application/json", `{"subject":"s","toRecipients":[` + att(member2) + `]}`, 201, []string{member, member2}},
			{"forward", "POST", u + "/messages/" + fromNonMember + "/forward", "application/json", `{"toRecipients":[` + att(member2) + `]}`, 202, []string{member, member2}},
			{"meeting", "POST", u + "/onlineMeetings", "application/json", `{"subject":"s","participants":{"attendees":[{"upn":"` + member2 + `"}]}}`, 201, []string{member, member2}},
		} {
			_, id := forwarded(t, tt.name, tt.method, tt.path, tt.ct, tt.body, tt.status)
			if rec := p.Record(id); !slices.Equal(rec.Targets, tt.targets) || rec.Decision != "allow" {
				t.Errorf("%s: record targets %v decision %s; want %v", tt.name, rec.Targets, rec.Decision, tt.targets)
			}
		}
	})
	p.Stop()
}

// mimeMail is a base64 MIME message with the given address headers, as
// Graph takes it for sendMail.
func mimeMail(headers string) string {
	msg := headers + "Subject: hello\r\nContent-Type: text/plain\r\n\r\nHello.\r\n"
	return base64.StdEncoding.EncodeToString([]byte(msg))
}

// http1Client speaks HTTP/1.1 only to the proxy.
func http1Client(p *proc) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	p.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// TestAuditHeadRemoved: the real binary's audit file, its head cut off
// (the genesis, then the first records), no longer verifies; whole, it
// does.
func TestAuditHeadRemoved(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	for range 5 {
		if r := p.Do("GET", "/v1.0/users?$top=1", ""); r.Status != 200 {
			t.Fatalf("got %d", r.Status)
		}
	}
	p.Stop() // verifies the whole file
	data, err := os.ReadFile(p.Audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	for _, cut := range []int{1, 3} {
		file := filepath.Join(t.TempDir(), "audit.jsonl")
		write(t, file, strings.Join(lines[cut:], ""))
		out, err := exec.Command(binary, "audit", "verify", file).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "mid-way") {
			t.Errorf("first %d record(s) removed: verify %v\n%s", cut, err, out)
		}
	}
}
