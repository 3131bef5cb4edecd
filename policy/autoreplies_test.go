package policy

import "testing"

// TestAutoRepliesToOutsideSenders: wherever a body sets automatic
// replies, replies that may be on go to outside senders unless the call
// says externalAudience none; left out or null, Graph keeps the
// mailbox's own audience.
func TestAutoRepliesToOutsideSenders(t *testing.T) {
	p := mustLoad(t, "testdata/reach.yaml")
	u := "/v1.0/users/" + alice
	set := func(s string) string { return `{"automaticRepliesSetting":` + s + `}` }
	for _, tt := range []struct {
		name, method, url, body, want string
	}{
		{"none", "PATCH", u + "/mailboxSettings", set(`{"status":"alwaysEnabled","externalAudience":"none","internalReplyMessage":"x"}`), "allow"},
		{"disabled, audience left out", "PATCH", u + "/mailboxSettings", set(`{"status":"disabled"}`), "allow"},
		{"other settings only", "PATCH", u + "/mailboxSettings", `{"timeZone":"UTC"}`, "allow"},
		{"audience left out", "PATCH", u + "/mailboxSettings", set(`{"status":"alwaysEnabled","externalReplyMessage":"x"}`), "403"},
		{"audience null", "PATCH", u + "/mailboxSettings", set(`{"status":"alwaysEnabled","externalAudience":null,"externalReplyMessage":"x"}`), "403"},
		{"status left out", "PATCH", u + "/mailboxSettings", set(`{"externalReplyMessage":"x"}`), "403"},
		{"audience all", "PATCH", u + "/mailboxSettings", set(`{"status":"scheduled","externalAudience":"all"}`), "403"},
		{"audience not a string", "PATCH", u + "/mailboxSettings", set(`{"status":"alwaysEnabled","externalAudience":["none"]}`), "403"},
		{"status not a string", "PATCH", u + "/mailboxSettings", set(`{"status":1,"externalAudience":"all"}`), "400"},
		{"setting null", "PATCH", u + "/mailboxSettings", set(`null`), "400"},
		{"setting a string", "PATCH", u + "/mailboxSettings", set(`"on"`), "400"},
		{"key case", "PATCH", u + "/mailboxSettings", `{"AutomaticRepliesSETTING":{"status":"alwaysEnabled"}}`, "403"},
		{"key escaped", "PATCH", u + "/mailboxSettings", `{"automaticReplies\u0053etting":{"status":"alwaysEnabled"}}`, "403"},
		{"in a user's mailboxSettings", "PATCH", u, `{"mailboxSettings":` + set(`{"status":"alwaysEnabled","externalAudience":"all"}`) + `}`, "403"},
		{"in a user's mailboxSettings, none", "PATCH", u, `{"mailboxSettings":` + set(`{"status":"alwaysEnabled","externalAudience":"none"}`) + `}`, "allow"},
		{"on a route the model does not know", "POST", u + "/anything", `{"x":[{"y":` + set(`{"status":"alwaysEnabled"}`) + `}]}`, "403"},
		{"at its own path", "PATCH", u + "/mailboxSettings/automaticRepliesSetting", `{"status":"alwaysEnabled","externalReplyMessage":"x"}`, "403"},
		{"at its own path, none", "PATCH", u + "/mailboxSettings/automaticRepliesSetting", `{"status":"alwaysEnabled","externalAudience":"none"}`, "allow"},
		{"a member at its own path", "PATCH", u + "/mailboxSettings/automaticRepliesSetting/externalAudience", `{"value":"all"}`, "403"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := decideWith(t, p, "engage", tt.method, tt.url, ctJSON, tt.body)
			if got := refusal(d); got != tt.want {
				t.Fatalf("got %s (%q); want %s", got, d.Reason, tt.want)
			}
		})
	}
	// In a $batch sub-request too.
	d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, `{"requests":[{"id":"1","method":"PATCH","url":"users/`+alice+`","headers":{"Content-Type":"application/json"},"body":{"mailboxSettings":`+set(`{"status":"alwaysEnabled"}`)+`}}]}`)
	if d.Result == Allow {
		t.Errorf("$batch: allowed")
	}
}
