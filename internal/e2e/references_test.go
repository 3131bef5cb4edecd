package e2e_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// referencesPolicy lets the vendor reply to, send and cancel what is in
// the mailboxes of the scheduling group's members: mail only within the
// tenant's domain, events' people only from it, everyone reached a member
// of the group.
const referencesPolicy = `version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Mail.Send, Calendars.ReadWrite]
    users:
      group: "` + graphsim.SchedulingGroup + `"
mail:
  recipientDomains: [` + graphsim.Domain + `]
rules:
  - { id: mail-actions, method: POST, path: "/users/{user}/messages/{id}/{action}", permission: Mail.Send }
  - { id: event-actions, method: POST, path: "/users/{user}/events/{id}/{action}", permission: Calendars.ReadWrite, peopleDomains: [` + graphsim.Domain + `] }
`

// TestSDKReferencedPeople: a reply, replyAll, a draft sent by id, an
// event's cancellation and its response reach people the call does not
// name. The proxy reads them from Graph first, with only the fields that
// name them, and checks them as if the call had named them: within the
// rules they are sent, and recorded as targets; outside, or when the item
// cannot be read, the call is refused and Graph never receives it.
func TestSDKReferencedPeople(t *testing.T) {
	// An identity of its own that may read the messages' recipients
	// (Mail.ReadBasic.All) and check group membership.
	e := proxytest.New(t, proxytest.Options{Policy: referencesPolicy, FreshIdentity: true,
		IdentityRoles: []string{"User.ReadBasic.All", "Mail.Send", "Mail.ReadBasic.All", "Calendars.ReadWrite", "GroupMember.Read.All"}})
	client, _ := sdkClient(e, "v1.0")
	g := e.Sim.Graph
	_, upns := g.Users()
	mailbox, member, nonMember := upns[0], upns[1], upns[len(upns)-1]
	const outsider = "eve@evil.example"
	ctx := t.Context()
	msgs := func(id string) *users.ItemMessagesMessageItemRequestBuilder {
		return client.Users().ByUserId(mailbox).Messages().ByMessageId(id)
	}
	comment := "Thanks, noted."
	reply := func(id string) error {
		body := users.NewItemMessagesItemReplyPostRequestBody()
		body.SetComment(&comment)
		return msgs(id).Reply().Post(ctx, body, nil)
	}
	replyAll := func(id string) error {
		body := users.NewItemMessagesItemReplyAllPostRequestBody()
		body.SetComment(&comment)
		return msgs(id).ReplyAll().Post(ctx, body, nil)
	}
	send := func(id string) error { return msgs(id).Send().Post(ctx, nil) }
	cancel := func(id string) error {
		body := users.NewItemEventsItemCancelPostRequestBody()
		body.SetComment(&comment)
		return client.Users().ByUserId(mailbox).Events().ByEventId(id).Cancel().Post(ctx, body, nil)
	}
	decline := func(id string) error {
		body := users.NewItemEventsItemDeclinePostRequestBody()
		yes := true
		body.SetSendResponse(&yes)
		body.SetComment(&comment)
		return client.Users().ByUserId(mailbox).Events().ByEventId(id).Decline().Post(ctx, body, nil)
	}
	message := func(m graphsim.Message) string { return g.AddMessage(mailbox, m) }
	event := func(ev graphsim.Event) string { return g.AddEvent(mailbox, ev) }

	tests := []struct {
		name     string
		item     func() string
		call     func(id string) error
		action   string // the path's last segment
		status   int    // 0: sent
		code     string
		targets  []string // among the call's targets, when sent
		readable bool     // the item was read (Graph answered 200)
	}{
		{name: "reply to a member", item: func() string { return message(graphsim.Message{From: member, Sender: member}) },
			call: reply, action: "reply", targets: []string{mailbox, member}, readable: true},
		{name: "reply whose replyTo is outside mail.recipientDomains", item: func() string {
			return message(graphsim.Message{From: member, Sender: member, ReplyTo: []string{outsider}})
		}, call: reply, action: "reply", status: 403, code: "graphProxy.policyDenied", readable: true},
		{name: "reply to someone outside the group", item: func() string { return message(graphsim.Message{From: nonMember, Sender: nonMember}) },
			call: reply, action: "reply", status: 403, code: "graphProxy.policyDenied", readable: true},
		{name: "replyAll with an outside cc", item: func() string {
			return message(graphsim.Message{From: member, Sender: member, To: []string{mailbox}, Cc: []string{outsider}})
		}, call: replyAll, action: "replyAll", status: 403, code: "graphProxy.policyDenied", readable: true},
		{name: "replyAll within the group", item: func() string {
			return message(graphsim.Message{From: member, Sender: member, To: []string{mailbox, member}})
		}, call: replyAll, action: "replyAll", targets: []string{mailbox, member}, readable: true},
		{name: "draft send inside", item: func() string { return message(graphsim.Message{IsDraft: true, To: []string{member}}) },
			call: send, action: "send", targets: []string{member}, readable: true},
		{name: "draft send with an outside bcc", item: func() string {
			return message(graphsim.Message{IsDraft: true, To: []string{member}, Bcc: []string{outsider}})
		}, call: send, action: "send", status: 403, code: "graphProxy.policyDenied", readable: true},
		{name: "event cancel with an outside attendee", item: func() string { return event(graphsim.Event{Attendees: []string{member, outsider}}) },
			call: cancel, action: "cancel", status: 403, code: "graphProxy.policyDenied", readable: true},
		{name: "event decline, response sent to an organizer inside", item: func() string { return event(graphsim.Event{Organizer: member}) },
			call: decline, action: "decline", targets: []string{member}, readable: true},
		{name: "reply to a message Graph does not have", item: func() string { return "AAMkmissing" },
			call: reply, action: "reply", status: 403, code: "graphProxy.referenceUnreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.item()
			if id == "" {
				t.Fatal("the simulator did not take the item")
			}
			g.ResetRequests()
			before := len(e.Audit.Records(t))
			err := tt.call(id)
			if tt.status == 0 && err != nil {
				t.Fatalf("%s: %v", tt.action, err)
			}
			if tt.status != 0 {
				assertODataError(t, err, tt.status, tt.code)
			}

			// What Graph saw: the item read with only the fields that name
			// its people, then the call, only if allowed.
			var read *graphsim.Recorded
			sent := false
			for _, r := range g.Requests() {
				switch {
				case r.Method == "GET" && strings.HasSuffix(r.Path, "/"+id):
					read = &r
				case r.Method == "POST" && strings.HasSuffix(r.Path, "/"+id+"/"+tt.action):
					sent = true
				}
			}
			if read == nil || !strings.HasPrefix(r2q(read.RawQuery), "$select=") {
				t.Fatalf("Graph did not receive the read of the item with $select: %+v", read)
			}
			if sent != (tt.status == 0) {
				t.Fatalf("Graph received the %s: %v; want %v", tt.action, sent, tt.status == 0)
			}

			// What was recorded: the read under a record of its own, with
			// the client-request-id it was sent with, and the call with
			// the people read among its targets.
			var call, ref *auditlog.Record
			proxytest.WaitFor(t, "the call's records", func() bool {
				recs := e.Audit.Records(t)[before:]
				call, ref = nil, nil
				for i := range recs {
					switch {
					case recs[i].Kind == proxy.KindReference:
						ref = &recs[i]
					case recs[i].Kind == "" && strings.HasSuffix(recs[i].Path, "/"+tt.action):
						call = &recs[i]
					}
				}
				return call != nil && ref != nil
			})
			if ref.ClientRequestID != read.Header.Get("client-request-id") || ref.UpstreamStatus == 0 {
				t.Errorf("reference record %+v; want the read's client-request-id %q and Graph's status", ref, read.Header.Get("client-request-id"))
			}
			if tt.readable != (ref.Decision == "read") {
				t.Errorf("reference record decision %q", ref.Decision)
			}
			if tt.status != 0 {
				if call.Decision != "deny" || call.UpstreamStatus != 0 {
					t.Errorf("call record %s upstream %d; want deny, never sent", call.Decision, call.UpstreamStatus)
				}
				return
			}
			if call.Decision != "allow" || !strings.Contains(call.Reason, "recipients read from the") {
				t.Errorf("call record %s %q", call.Decision, call.Reason)
			}
			for _, want := range tt.targets {
				if !slices.ContainsFunc(call.Targets, func(s string) bool { return strings.EqualFold(s, want) }) {
					t.Errorf("targets %v; want %s among them", call.Targets, want)
				}
			}
		})
	}
}

func r2q(raw string) string { return strings.ReplaceAll(raw, "%24", "$") }

// TestSDKReferencedPeopleInBatch: the Go SDK's batch builder with a reply
// and an event's decline in one $batch. The proxy reads the message and
// the event before it sends the batch, and Graph receives it once both
// are checked; with one of them reaching someone outside, the whole batch
// is refused and Graph never receives it.
func TestSDKReferencedPeopleInBatch(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: referencesPolicy, FreshIdentity: true,
		IdentityRoles: []string{"User.ReadBasic.All", "Mail.Send", "Mail.ReadBasic.All", "Calendars.ReadWrite", "GroupMember.Read.All"}})
	client, adapter := sdkClient(e, "v1.0")
	g := e.Sim.Graph
	_, upns := g.Users()
	mailbox, member := upns[0], upns[1]
	ctx := t.Context()
	comment := "Thanks, noted."
	steps := func(messageID, eventID string) []*abstractions.RequestInformation {
		reply := users.NewItemMessagesItemReplyPostRequestBody()
		reply.SetComment(&comment)
		r, err := client.Users().ByUserId(mailbox).Messages().ByMessageId(messageID).Reply().ToPostRequestInformation(ctx, reply, nil)
		if err != nil {
			t.Fatal(err)
		}
		decline := users.NewItemEventsItemDeclinePostRequestBody()
		yes := true
		decline.SetSendResponse(&yes)
		d, err := client.Users().ByUserId(mailbox).Events().ByEventId(eventID).Decline().ToPostRequestInformation(ctx, decline, nil)
		if err != nil {
			t.Fatal(err)
		}
		return []*abstractions.RequestInformation{r, d}
	}
	sawBatch := func() (reads int, batch bool) {
		for _, r := range g.Requests() {
			switch {
			case r.Method == "GET" && strings.HasPrefix(r2q(r.RawQuery), "$select="):
				reads++
			case r.Method == "POST" && strings.HasSuffix(r.Path, "/$batch"):
				batch = true
			}
		}
		return reads, batch
	}

	t.Run("everyone inside", func(t *testing.T) {
		msg := g.AddMessage(mailbox, graphsim.Message{From: member, Sender: member})
		ev := g.AddEvent(mailbox, graphsim.Event{Organizer: member})
		g.ResetRequests()
		resp, items := sendBatch(t, adapter, steps(msg, ev)...)
		for _, it := range items {
			if got := resp.GetResponseById(*it.GetId()); got == nil || got.GetStatus() == nil || *got.GetStatus() != 202 {
				t.Errorf("%s %s: %+v; want 202", *it.GetMethod(), *it.GetUrl(), got)
			}
		}
		if reads, batch := sawBatch(); reads != 2 || !batch {
			t.Errorf("Graph saw %d reads and the batch %v; want 2 and the batch", reads, batch)
		}
	})
	t.Run("an organizer outside", func(t *testing.T) {
		msg := g.AddMessage(mailbox, graphsim.Message{From: member, Sender: member})
		ev := g.AddEvent(mailbox, graphsim.Event{Organizer: "eve@evil.example"})
		g.ResetRequests()
		batch := msgraphcore.NewBatchRequest(adapter)
		for _, r := range steps(msg, ev) {
			if _, err := batch.AddBatchRequestStep(*r); err != nil {
				t.Fatal(err)
			}
		}
		_, err := batch.Send(ctx, adapter)
		// The SDK's batch maps no error shape: its error has the status.
		var ae *abstractions.ApiError
		if !errors.As(err, &ae) || ae.ResponseStatusCode != 403 {
			t.Fatalf("got %T %v; want a 403", err, err)
		}
		if _, sent := sawBatch(); sent {
			t.Error("Graph received the batch")
		}
	})
}
