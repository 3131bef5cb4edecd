package policy

import "testing"

// TestActionsWhereverAddressed: an action that reaches people is read by
// its name wherever it stands. Where whom it reaches is in its body (an
// invitation), that body is read however the item is addressed; where it
// is in the item (a cancellation, a response), the item is read at every
// path the model can resolve (a meeting message's event) and the call is
// refused at any other.
func TestActionsWhereverAddressed(t *testing.T) {
	p := mustLoad(t, "testdata/reach.yaml")
	u := "/v1.0/users/" + alice
	invite := func(to string) string {
		return `{"recipients":[{"email":"` + to + `"}],"sendInvitation":true,"roles":["write"]}`
	}
	for _, tt := range []struct {
		name, method, url, body string
		want                    string // allow, 403, 400
		lookup                  string // the item read before the call is decided
	}{
		{"invite by id", "POST", u + "/drive/items/I1/invite", invite(evil), "403", ""},
		{"invite on a special folder", "POST", u + "/drive/special/approot/invite", invite(evil), "403", ""},
		{"invite on a special folder, inside", "POST", u + "/drive/special/approot/invite", invite(bob), "allow", ""},
		{"invite by path", "POST", u + "/drive/root:/a.txt:/invite", invite(evil), "403", ""},
		{"invite by path under an item", "POST", u + "/drive/items/I1:/a.txt:/invite", invite(evil), "403", ""},
		{"invite on a share", "POST", "/v1.0/shares/u!abc/driveItem/invite", invite(evil), "403", ""},
		{"invite qualified", "POST", u + "/drive/special/approot/microsoft.graph.invite", invite(evil), "403", ""},
		{"invite without recipients", "POST", u + "/drive/special/approot/invite", `{"roles":["read"]}`, "400", ""},
		{"copy by path, to another drive", "POST", u + "/drive/root:/a.txt:/copy", `{"parentReference":{"driveId":"b!other"}}`, "403", ""},

		{"cancel via a message's event", "POST", u + "/messages/M1/event/cancel", `{"comment":"x"}`, "allow", u + "/messages/M1/event"},
		{"accept via a message's event", "POST", u + "/messages/M1/event/accept", `{"sendResponse":true}`, "allow", u + "/messages/M1/event"},
		{"update via a message's event", "PATCH", u + "/messages/M1/event", `{"subject":"x"}`, "allow", u + "/messages/M1/event"},
		{"delete via a message's event", "DELETE", u + "/messages/M1/event", "", "allow", u + "/messages/M1/event"},
		{"permanentDelete of an event", "POST", u + "/events/E1/permanentDelete", "", "allow", u + "/events/E1"},
		{"permanentDelete of a message's event", "POST", u + "/messages/M1/event/permanentDelete", "", "allow", u + "/messages/M1/event"},
		{"permanentDelete of a message", "POST", u + "/messages/M1/permanentDelete", "", "allow", ""},

		{"cancel via a cast", "POST", u + "/messages/M1/microsoft.graph.eventMessage/event/cancel", `{"comment":"x"}`, "403", ""},
		{"update via a cast", "PATCH", u + "/messages/M1/microsoft.graph.eventMessage/event", `{"subject":"x"}`, "403", ""},
		{"delete via a cast", "DELETE", u + "/messages/M1/microsoft.graph.eventMessage/event", "", "403", ""},
		{"delete of an event cast", "DELETE", u + "/events/E1/microsoft.graph.event", "", "403", ""},
		{"cancel of something else", "POST", u + "/cancel", `{"comment":"x"}`, "403", ""},
		{"reply on a drive item", "POST", u + "/drive/items/I1/reply", `{"comment":"x"}`, "403", ""},
		{"forward on a drive item", "POST", u + "/drive/items/I1/forward", `{"toRecipients":[]}`, "403", ""},
		{"send spelled with parentheses on an unknown item", "POST", u + "/drive/items/I1/send()", "", "403", ""},
		{"createReply on a message's event", "POST", u + "/messages/M1/event/createReply", "", "403", ""},
		{"decline on a drive item, qualified", "POST", u + "/drive/items/I1/graph.decline", "", "403", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ct := ""
			if tt.body != "" {
				ct = ctJSON
			}
			d := decideWith(t, p, "engage", tt.method, tt.url, ct, tt.body)
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
			got := ""
			if d.Lookup != nil {
				got = d.Lookup.Path
			}
			if got != tt.lookup {
				t.Errorf("lookup %q; want %q", got, tt.lookup)
			}
		})
	}
}
