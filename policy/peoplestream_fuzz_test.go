package policy

import (
	"slices"
	"strings"
	"testing"
)

// FuzzWalkRaw holds the people finder on a body's bytes (walkRaw) to the
// one on its parsed tree (walk on what parseLean builds, how a body naming
// people was read before): the same verdict from the parser, the same
// top-level object and sourceUrl watch, and the same people, in the same
// order, with the same first problem.
func FuzzWalkRaw(f *testing.F) {
	for _, s := range []string{
		`{"subject":"x","attendees":[{"emailAddress":{"address":"bob@contoso.example","name":"Bob"},"type":"required"}]}`,
		`{"attendees":[{"emailAddress":{"address":"bob@contoso.example;eve@evil.example"}}]}`,
		`{"organizer":{"emailAddress":{"address":"eve@evil.example"}},"location":{"locationEmailAddress":"room-1@contoso.example"}}`,
		`{"exceptionOccurrences":[{"attendees":[{"emailAddress":{"address":"x@vendor.example"}}]}]}`,
		`{"calendar@odata.bind":"users/bob@contoso.example/calendars/A","members@odata.bind":["https://graph.microsoft.com/v1.0/users/10000000-0000-4000-8000-000000000001",7]}`,
		`{"Attendees":{"emailAddress":"x@y.example"}}`, `{"@odata.id":"https://evil.example/v1.0/users/bob@contoso.example"}`,
		`{"participants":{"attendees":[{"upn":"bob@contoso.example","identity":{"user":{"id":"10000000-0000-4000-8000-000000000001"}}}]}}`,
		`{"body":{"content":"eve@evil.example"},"attendees":[]}`, `{"attendees":[{"type":"required"}]}`, `[]`, `"x"`, `{}`,
		`{"emailAddresses":["a@contoso.example",{"address":"b@contoso.example"},{"Address":""},3]}`,
		`{"message":{"toRecipients":[{"emailAddress":{"address":"a@contoso.example"}}],"from":{"emailAddress":{"address":"b@contoso.example"}},` +
			`"internetMessageHeaders":[{"name":"X-A","value":"1"},{"name":"Bcc","value":"e@evil.example"}],"attachments":[{"@microsoft.graph.sourceUrl":"https://x"},{"sourceUrl":null}]}}`,
		`{"sender":[],"replyTo":{"x":1},"from":{"emailAddress":{"address":"a@contoso.example"},"sender":{"emailAddress":{"address":"b@contoso.example"}}}}`,
		` { "emailAddr\u0065ss" : { "addr\u0065ss" : "\u0061@contoso.example" } , "upn" : null , "user" : { "id" : 5 } } `,
		`{"mentions":[{"mentioned":{"user":{"id":"bob@contoso.example","displayName":"Bob"}}}],"user":null,"userPrincipalName":""}`,
		`{"mentions":[{"mentioned":{"name":"E","address":"eve@evil.example"}},{"mentioned":"10000000-0000-4000-8000-000000000001"},{"mentioned":{"Name":"x"}},{"mentioned":[1]},{"mentioned":null}]}`,
		`{"senderEmailAddress":{"address":"a@contoso.example"},"invitedUserEmailAddress":"b@contoso.example","customerEmailAddress":"","xEmailAddress":null,"yEMAILADDRESS":3,"zemailaddress":{"name":"n"}}`,
		`{"z":{"emailAddress":"z@contoso.example"},"a":{"emailAddress":"a@contoso.example"},"é":{"emailAddress":"e@contoso.example"},"B":[[{"upn":"b@contoso.example"}]]}`,
		`{"internetMessageHeaders":null,"sourceUrl":"https://x","emailAddress":true}`,
		`{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":{"upn":"x@contoso.example"}}`,
		`{"x\"y\\":{"upn":"a@contoso.example"},"s":"\\\\","t":"\\\"","u":{"upn":"u\"@contoso.example"}}`,
		`{"attendees":[{"emailAddress":{"address":"a@contoso.example"}}]`, `{"a":1,"A":2}`, `{"emailAddress":"a@b.example"} x`,
		`{"target":{"email":"eve@evil.example"},"accountTargetEmails":["a@contoso.example"," SMTP:b@contoso.example ",7,["c@contoso.example"]],"s":"see x@y.example","u":"https://x/@y"}`,
		`{"x":{"user":{"id":"a@contoso.example","userPrincipalName":"b@contoso.example","mail":"Bob <a@contoso.example>"}},"y":"eve%evil.example@contoso.example","z":"e＠x.example"}`,
		`{"attachments":[{"contentId":"i.png@01D9A1B2.C3D4E5F6","name":"i@2x.png"},{"displayName":{"x":"e@evil.example"}},{"ContentID":{"x":"a@contoso.example"}}],"internetMessageId":"<a@b.example>","singleValueExtendedProperties":[{"id":"x","value":"e@evil.example"}]}`,
		`{"body":{"content":"<html><p>mail eve@evil.example</p></html>"},"mail":"mailto:a@contoso.example?cc=e@evil.example","n":"a@contoso.example, b@contoso.example"}`,
		`{"m":"mailto:eve%40evil.example","n":["<MAILTO:%61%40contoso.example>","mailto:e\u002540x.example","sip:b%40vendor.example"],"o":"mailto:e%2540x.example","p":"100%"}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Add([]byte(`{"a":`+strings.Repeat(`[`, 63)+`{"upn":"x@contoso.example"}`+strings.Repeat(`]`, 63)+`}`), false)
	req := Request{Method: "POST", Version: "v1.0"}
	f.Fuzz(func(t *testing.T, data []byte, links bool) {
		doc, lerr := parseLean(data)
		b, berr := parseBody(data, nil)
		if (lerr == nil) != (berr == nil) || lerr != nil && lerr.Error() != berr.Error() {
			t.Fatalf("%q: parseBody: %v; parseLean: %v", data, berr, lerr)
		}
		if lerr != nil {
			return
		}
		obj, isObj := doc.(map[string]any)
		if isObj != (b.obj != nil) {
			t.Fatalf("%q: parseBody's object %v; parseLean's %v", data, b.obj, doc)
		}
		if !isObj {
			return
		}
		if want := hasKey(doc, sourceURLKey); b.sourceURL != want {
			t.Fatalf("%q: sourceUrl watched %v; in the tree %v", data, b.sourceURL, want)
		}
		p := &Policy{externalLinks: links}
		tree := &bodyCheck{p: p, req: req}
		tree.walk(obj, "")
		r := newRawBody(data)
		if !slices.Equal(b.spans, r.spans) {
			t.Fatalf("%q: the parser's spans %v; rawBody's %v", data, b.spans, r.spans)
		}
		raw := &bodyCheck{p: p, req: req}
		raw.walkRaw(r, r.space(0), "")
		if raw.reason != tree.reason || raw.refusal != tree.refusal {
			t.Fatalf("%q: walkRaw: %q (%v); walk: %q (%v)", data, raw.reason, raw.refusal, tree.reason, tree.refusal)
		}
		if len(raw.people) != len(tree.people) {
			t.Fatalf("%q: walkRaw found %d people, walk %d", data, len(raw.people), len(tree.people))
		}
		for i, got := range raw.people {
			want := tree.people[i]
			if got.name != want.name || got.bodyNamed != want.bodyNamed || got.where != want.where || (got.addr == nil) != (want.addr == nil) ||
				got.addr != nil && *got.addr != *want.addr {
				t.Fatalf("%q: person %d: walkRaw %+v; walk %+v", data, i, got, want)
			}
		}
	})
}
