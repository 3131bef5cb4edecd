package policy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestReferencedPeople: a call that reaches people it does not name (a
// reply, replyAll, a draft sent by id, an event's cancellation or
// response) is decided in two steps: Decide says which item holds them
// (Lookup), and DecideReferenced checks the people read from it exactly
// as if the body had named them. Every refusal here is the check under
// test's: the call is allowed until its referenced people are checked.
func TestReferencedPeople(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	u := "/v1.0/users/" + alice
	rcpt := func(where string, addrs ...string) []Recipient {
		var out []Recipient
		for _, a := range addrs {
			out = append(out, Recipient{Where: where, Address: a})
		}
		return out
	}
	tests := []struct {
		name, caller, method, url, body string
		wantPath, wantSelect            string
		wantKind                        LookupKind
		people                          []Recipient
		want                            string // allow or 403, after DecideReferenced
		targets, unscoped               string // when allowed
		wantReason                      string // a part of the reason, when refused
	}{
		{name: "reply to a colleague", method: "POST", url: u + "/messages/AAMk/reply", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender", wantKind: LookupReply,
			people: rcpt("from", bob), want: "allow", targets: alice + "," + bob},
		{name: "reply, qualified name, no body", method: "POST", url: u + "/messages/AAMk/microsoft.graph.reply",
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender", wantKind: LookupReply,
			people: rcpt("from", bob), want: "allow", targets: alice + "," + bob},
		{name: "reply in a folder", method: "POST", url: u + "/mailFolders/inbox/messages/AAMk/reply", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/mailFolders/inbox/messages/AAMk", wantSelect: "replyTo,from,sender", wantKind: LookupReply,
			people: rcpt("from", bob), want: "allow", targets: alice + "," + bob},
		{name: "reply to someone outside mail.recipientDomains", method: "POST", url: u + "/messages/AAMk/reply", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender", wantKind: LookupReply,
			people: rcpt("replyTo[]", evil), want: "403", wantReason: "mail recipient " + evil + " (the message reply's replyTo[]) is outside mail.recipientDomains"},
		{name: "reply to an address that is two", method: "POST", url: u + "/messages/AAMk/reply", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender", wantKind: LookupReply,
			people: rcpt("from", "bob@contoso.example, "+evil), want: "403", wantReason: "is not one email address"},
		{name: "reply naming someone outside in its body", method: "POST", url: u + "/messages/AAMk/reply", body: `{"message":{"ccRecipients":[` + attendee(evil) + `]}}`,
			want: "403", wantReason: "mail recipient " + evil + " (message.ccRecipients[].emailAddress.address) is outside mail.recipientDomains"},
		{name: "replyAll with an outside cc", method: "POST", url: u + "/messages/AAMk/replyAll", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender,toRecipients,ccRecipients", wantKind: LookupReplyAll,
			people: append(rcpt("from", bob), rcpt("ccRecipients[]", evil)...), want: "403", wantReason: "mail recipient " + evil + " (the message replyAll's ccRecipients[])"},
		{name: "replyAll inside", method: "POST", url: u + "/messages/AAMk/replyAll", body: `{"comment":"ok"}`,
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "replyTo,from,sender,toRecipients,ccRecipients", wantKind: LookupReplyAll,
			people: append(rcpt("from", bob), rcpt("toRecipients[]", "carol@contoso.example")...), want: "allow", targets: alice + "," + bob + ",carol@contoso.example"},
		{name: "draft send inside", method: "POST", url: u + "/messages/AAMk/send",
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "toRecipients,ccRecipients,bccRecipients", wantKind: LookupDraft,
			people: rcpt("toRecipients[]", bob), want: "allow", targets: alice + "," + bob},
		{name: "draft send, alias and parameters, outside bcc", method: "POST", url: u + "/messages/AAMk/GRAPH.send()",
			wantPath: "/v1.0/users/" + alice + "/messages/AAMk", wantSelect: "toRecipients,ccRecipients,bccRecipients", wantKind: LookupDraft,
			people: append(rcpt("toRecipients[]", bob), rcpt("bccRecipients[]", evil)...), want: "403", wantReason: "(the draft send's bccRecipients[]) is outside mail.recipientDomains"},
		{name: "event cancel, outside attendee", method: "POST", url: u + "/events/AAMk/cancel", body: `{"comment":"x"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "attendees", wantKind: LookupAttendees,
			people: rcpt("attendees[]", bob, evil), want: "403", wantReason: "the event cancel's attendees[] " + evil + ` is outside the domains rule "event-actions" allows`},
		{name: "event cancel, attendees in the rule's domains", method: "POST", url: u + "/events/AAMk/cancel", body: `{"comment":"x"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "attendees", wantKind: LookupAttendees,
			people: rcpt("attendees[]", bob, vendor), want: "allow", targets: alice + "," + bob + "," + vendor},
		{name: "instance cancel: the occurrence read among the owner's events", method: "POST", url: u + "/events/AAMk/instances/AAMl/cancel", body: `{"comment":"x"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMl", wantSelect: "attendees", wantKind: LookupAttendees,
			people: rcpt("attendees[]", evil), want: "403", wantReason: `is outside the domains rule "instance-actions" allows`},
		{name: "event decline, response sent", method: "POST", url: u + "/events/AAMk/decline", body: `{"comment":"x","sendResponse":true}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "organizer", wantKind: LookupOrganizer,
			people: rcpt("organizer", bob), want: "allow", targets: alice + "," + bob},
		{name: "event accept, response by default, organizer outside", method: "POST", url: u + "/events/AAMk/accept", body: `{"comment":"x"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "organizer", wantKind: LookupOrganizer,
			people: rcpt("organizer", evil), want: "403", wantReason: "the event response's organizer " + evil + " is outside"},
		{name: "event tentativelyAccept, no body", method: "POST", url: u + "/events/AAMk/microsoft.graph.tentativelyAccept",
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "organizer", wantKind: LookupOrganizer,
			people: rcpt("organizer", bob), want: "allow", targets: alice + "," + bob},
		{name: "event accept, sendResponse a string: read as sent", method: "POST", url: u + "/events/AAMk/accept", body: `{"sendResponse":"false"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "organizer", wantKind: LookupOrganizer,
			people: rcpt("organizer", evil), want: "403", wantReason: "is outside the domains"},
		{name: "scoped: the guest is unscoped, the colleague is checked", caller: "scoped", method: "POST", url: u + "/events/AAMk/cancel", body: `{"comment":"x"}`,
			wantPath: "/v1.0/users/" + alice + "/events/AAMk", wantSelect: "attendees", wantKind: LookupAttendees,
			people: rcpt("attendees[]", bob, vendor, room), want: "allow", targets: alice + "," + bob + "," + vendor + "," + room, unscoped: vendor + "," + room},
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
			req := canonical(t, tt.method, tt.url)
			routed := p.Route(caller, req)
			d := decideWith(t, p, caller, tt.method, tt.url, ct, tt.body)
			if d.RuleID == "" {
				t.Fatalf("no rule: %q", d.Reason)
			}
			if tt.wantPath == "" {
				// Refused on its body, before anything is read.
				if got := refusal(d); got != tt.want || d.Lookup != nil || !strings.Contains(d.Reason, tt.wantReason) {
					t.Fatalf("got %s (%q), lookup %v; want %s (%q), none", got, d.Reason, d.Lookup, tt.want, tt.wantReason)
				}
				return
			}
			if d.Result != Allow || d.Lookup == nil {
				t.Fatalf("before the lookup: %v %q lookup %v; want allow with a lookup", d.Result, d.Reason, d.Lookup)
			}
			if l := d.Lookup; l.Path != tt.wantPath || l.Select != tt.wantSelect || l.Kind != tt.wantKind {
				t.Fatalf("lookup %s $select=%s %v; want %s $select=%s %v", l.Path, l.Select, l.Kind, tt.wantPath, tt.wantSelect, tt.wantKind)
			}
			got := routed.DecideReferenced(d, tt.people)
			if got.Lookup != nil {
				t.Error("the decision still carries its lookup")
			}
			if r := refusal(got); r != tt.want || !strings.Contains(got.Reason, tt.wantReason) {
				t.Fatalf("got %s (%q); want %s (%q)", r, got.Reason, tt.want, tt.wantReason)
			}
			if got.Result != Allow {
				return
			}
			wantTargets(t, got, tt.targets, tt.unscoped)
		})
	}
}

// TestReferencedNoLookup: calls that reach no one beyond what they name
// carry no lookup.
func TestReferencedNoLookup(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	u := "/v1.0/users/" + alice
	d := decideWith(t, p, "engage", "POST", u+"/events/AAMk/decline", ctJSON, `{"sendResponse":false}`)
	if d.Result != Allow || d.Lookup != nil {
		t.Errorf("decline without a response: %v %q lookup %v; want allow, none", d.Result, d.Reason, d.Lookup)
	}
	rt := p.Route("engage", canonical(t, "POST", u+"/events/AAMk/decline"))
	if got := rt.DecideReferenced(d, []Recipient{{Where: "organizer", Address: evil}}); !reflect.DeepEqual(got, d) {
		t.Errorf("DecideReferenced without a lookup changed the decision: %+v", got)
	}
}

// TestReferencedInBatch: inside $batch each sub-request that reaches the
// people of an item carries its own Lookup, and the batch is unresolved
// until every one is finished; each is finished as a call of its own
// would be, and folded into the batch: its people become the batch's
// targets, its refusal refuses the batch.
func TestReferencedInBatch(t *testing.T) {
	p := mustLoad(t, "testdata/people.yaml")
	reply := `{"id":"1","method":"POST","url":"/users/` + alice + `/messages/AAMk/reply","headers":{"Content-Type":"application/json"},"body":{"comment":"ok"}}`
	send := `{"id":"2","method":"POST","url":"users/` + alice + `/messages/AAMl/microsoft.graph.send"}`
	accept := `{"id":"3","method":"POST","url":"users/` + alice + `/events/AAMk/accept"}`
	read := `{"id":"4","method":"GET","url":"/users/` + alice + `/events"}`
	tests := []struct {
		name    string
		subs    []string
		people  map[string][]Recipient // by sub-request id
		lookups string                 // the sub-requests that carry one
		want    Result
		targets string
		reason  string
	}{
		{name: "a reply", subs: []string{reply}, lookups: "1",
			people: map[string][]Recipient{"1": {{Where: "from", Address: bob}}}, want: Allow, targets: alice + "," + bob},
		{name: "a reply to someone outside", subs: []string{reply, read}, lookups: "1",
			people: map[string][]Recipient{"1": {{Where: "from", Address: evil}}}, want: Deny, targets: alice, reason: "batch requests refused: 1"},
		{name: "a draft sent and an accept, one organizer outside", subs: []string{send, accept}, lookups: "2,3",
			people: map[string][]Recipient{"2": {{Where: "toRecipients[]", Address: bob}}, "3": {{Where: "organizer", Address: evil}}},
			want:   Deny, reason: "batch requests refused: 3"},
		{name: "a draft sent and an accept, all inside", subs: []string{send, accept, read}, lookups: "2,3",
			people: map[string][]Recipient{"2": {{Where: "toRecipients[]", Address: bob}}, "3": {{Where: "organizer", Address: vendor}}},
			want:   Allow, targets: alice + "," + bob + "," + vendor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, `{"requests":[`+strings.Join(tt.subs, ",")+`]}`)
			if d.Result != Allow || d.Lookup != nil || !d.Unresolved() {
				t.Fatalf("decided %v %q, lookup %v, unresolved %v; want allowed, unresolved by its parts", d.Result, d.Reason, d.Lookup, d.Unresolved())
			}
			var lookups []string
			for i := range d.Batch {
				sd := &d.Batch[i]
				if sd.Decision.Lookup == nil {
					continue
				}
				lookups = append(lookups, sd.ID)
				sd.DecideReferenced(tt.people[sd.ID])
				d.Settle(i)
			}
			if got := strings.Join(lookups, ","); got != tt.lookups {
				t.Errorf("lookups in %s; want %s", got, tt.lookups)
			}
			if d.Unresolved() {
				t.Error("still unresolved once every part was finished")
			}
			if d.Result != tt.want || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("got %v %q; want %v %q", d.Result, d.Reason, tt.want, tt.reason)
			}
			if tt.want == Allow {
				wantTargets(t, d, tt.targets, "")
			}
		})
	}
}

// TestReportOnlyReferenced: in report-only mode a referenced person the
// policy would refuse is reported, and the call goes on.
func TestReportOnlyReferenced(t *testing.T) {
	data, err := os.ReadFile("testdata/people.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("report-only", []byte(strings.Replace(string(data), "version: 1\n", "version: 1\nmode: report-only\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	req := canonical(t, "POST", "/v1.0/users/"+alice+"/messages/AAMk/reply")
	routed := p.Route("engage", req)
	d := routed.Decide(ctJSON, []byte(`{"comment":"ok"}`))
	got := routed.DecideReferenced(d, []Recipient{{Where: "from", Address: evil}})
	if got.Result != Report || !strings.Contains(got.Reason, "outside mail.recipientDomains") {
		t.Errorf("got %v %q; want report, outside mail.recipientDomains", got.Result, got.Reason)
	}
}

// TestLookupRecipients: the people are read from Graph's answer by the
// shapes of its message and event resources; anything else fails closed.
func TestLookupRecipients(t *testing.T) {
	r := func(a string) string { return `{"emailAddress":{"name":"N","address":"` + a + `"}}` }
	msg := func(replyTo, from, sender, to, cc string) string {
		return `{"@odata.etag":"W/\"x\"","id":"AAMk","replyTo":[` + replyTo + `],"from":` + from + `,"sender":` + sender +
			`,"toRecipients":[` + to + `],"ccRecipients":[` + cc + `],"bccRecipients":[]}`
	}
	tests := []struct {
		name    string
		kind    LookupKind
		mailbox string
		answer  string
		want    string // the addresses, or "error"
	}{
		{name: "reply: replyTo wins", kind: LookupReply, answer: msg(r(evil), r(bob), r(bob), "", ""), want: evil},
		{name: "reply: from and sender without replyTo", kind: LookupReply, answer: msg("", r(bob), r("carol@contoso.example"), "", ""), want: bob + ",carol@contoso.example"},
		{name: "reply: sender null", kind: LookupReply, answer: msg("", r(bob), "null", "", ""), want: bob},
		{name: "reply: no one to reply to", kind: LookupReply, answer: msg("", "null", "null", r(bob), ""), want: "error"},
		{name: "replyAll: recipients but the mailbox", kind: LookupReplyAll, mailbox: alice, answer: msg("", r(bob), "null", r("ALICE@contoso.example")+","+r("dan@contoso.example"), r(evil)), want: bob + ",dan@contoso.example," + evil},
		{name: "draft", kind: LookupDraft, answer: msg("", "null", "null", r(bob), r(evil)), want: bob + "," + evil},
		{name: "attendees", kind: LookupAttendees, answer: `{"attendees":[{"type":"required","status":{"response":"none"},"emailAddress":{"address":"` + evil + `","name":"E"}}]}`, want: evil},
		{name: "organizer", kind: LookupOrganizer, answer: `{"organizer":` + r(bob) + `}`, want: bob},
		{name: "field missing", kind: LookupDraft, answer: `{"toRecipients":[]}`, want: "error"},
		{name: "list null", kind: LookupDraft, answer: `{"toRecipients":null,"ccRecipients":[],"bccRecipients":[]}`, want: "error"},
		{name: "recipient without address", kind: LookupAttendees, answer: `{"attendees":[{"emailAddress":{"name":"E"}}]}`, want: "error"},
		{name: "recipient a string", kind: LookupAttendees, answer: `{"attendees":["` + evil + `"]}`, want: "error"},
		{name: "address not a string", kind: LookupOrganizer, answer: `{"organizer":{"emailAddress":{"address":5}}}`, want: "error"},
		{name: "organizer a list", kind: LookupOrganizer, answer: `{"organizer":[` + r(bob) + `]}`, want: "error"},
		{name: "duplicate key", kind: LookupOrganizer, answer: `{"organizer":` + r(bob) + `,"Organizer":` + r(evil) + `}`, want: "error"},
		{name: "not JSON", kind: LookupOrganizer, answer: `<html>`, want: "error"},
		{name: "an array", kind: LookupOrganizer, answer: `[]`, want: "error"},
		{name: "no kind", kind: LookupNone, answer: `{}`, want: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			people, err := Lookup{Kind: tt.kind, mailbox: tt.mailbox}.Recipients([]byte(tt.answer))
			if tt.want == "error" {
				if !errors.Is(err, ErrLookupAnswer) {
					t.Fatalf("got %v, %v; want ErrLookupAnswer", people, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range people {
				got = append(got, p.Address)
			}
			if s := strings.Join(got, ","); !strings.EqualFold(s, tt.want) {
				t.Errorf("got %s; want %s", s, tt.want)
			}
		})
	}
}

func FuzzLookupRecipients(f *testing.F) {
	for _, s := range []string{
		`{"replyTo":[],"from":{"emailAddress":{"address":"a@b.example"}},"sender":null,"toRecipients":[],"ccRecipients":[]}`,
		`{"attendees":[{"emailAddress":{"address":"a@b.example"}}]}`,
		`{"organizer":null}`, `{"toRecipients":[{}],"ccRecipients":[],"bccRecipients":[]}`, `[]`, `{`,
	} {
		for k := LookupNone; k <= LookupOrganizer; k++ {
			f.Add(uint8(k), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, answer string) {
		people, err := Lookup{Kind: LookupKind(kind), mailbox: alice}.Recipients([]byte(answer))
		if err != nil {
			if !errors.Is(err, ErrLookupAnswer) {
				t.Fatalf("error %v does not wrap ErrLookupAnswer", err)
			}
			return
		}
		if len(people) > MaxTargets {
			t.Fatalf("%d people", len(people))
		}
		for _, p := range people {
			if p.Address == "" || p.Where == "" {
				t.Fatalf("empty recipient %+v", p)
			}
		}
	})
}
