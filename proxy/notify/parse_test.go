package notify

import (
	"testing"
)

func TestParseDelivery(t *testing.T) {
	const n = `{"subscriptionId":"s1","changeType":"created","resource":"Users/u1/Events/e1","clientState":"c","tenantId":"t"}`
	tests := []struct {
		name, body string
		wantErr    string
		wantNotes  int
		wantRich   bool
	}{
		{name: "one", body: `{"value":[` + n + `]}`, wantNotes: 1},
		{name: "rich", body: `{"value":[{"subscriptionId":"s1","changeType":"created","encryptedContent":{"data":"x"}}],"validationTokens":["a.b.c"]}`, wantNotes: 1, wantRich: true},
		{name: "null data", body: `{"value":[{"subscriptionId":"s1","changeType":"created","encryptedContent":null}]}`, wantNotes: 1},
		{name: "lifecycle", body: `{"value":[{"subscriptionId":"s1","lifecycleEvent":"missed"}]}`, wantNotes: 1},
		{name: "lifecycle with a change", body: `{"value":[{"subscriptionId":"s1","lifecycleEvent":"missed","changeType":"created","resource":"Users/u2/Events/e1"}]}`,
			wantErr: "notification 0: a lifecycle notification with a changeType or resource data"},
		{name: "lifecycle with resource data", body: `{"value":[{"subscriptionId":"s1","lifecycleEvent":"missed","encryptedContent":{"data":"x"}}],"validationTokens":["a.b.c"]}`,
			wantErr: "notification 0: a lifecycle notification with a changeType or resource data"},
		{name: "unknown lifecycle", body: `{"value":[{"subscriptionId":"s1","lifecycleEvent":"other"}]}`, wantErr: `notification 0: unknown lifecycleEvent "other"`},
		{name: "other member", body: `{"value":[` + n + `],"more":1}`, wantErr: `unexpected member "more"`},
		{name: "no value", body: `{"validationTokens":[]}`, wantErr: "no value"},
		{name: "empty value", body: `{"value":[]}`, wantErr: "a delivery carries 1 to 1000 notifications"},
		{name: "value not a list", body: `{"value":{}}`, wantErr: "value must be a list of notifications"},
		{name: "tokens not strings", body: `{"value":[` + n + `],"validationTokens":[1]}`, wantErr: "validationTokens must be a list of strings"},
		{name: "member twice", body: `{"value":[{"subscriptionId":"s1","changeType":"created","clientState":"a","clientState":"b"}]}`, wantErr: `notification 0: member "clientState" appears twice`},
		{name: "member twice but for case", body: `{"value":[{"subscriptionId":"s1","changeType":"created","clientState":"a","ClientState":"b"}]}`, wantErr: `notification 0: member "ClientState" appears twice`},
		{name: "member in another case", body: `{"value":[{"subscriptionId":"s1","changeType":"created","ClientState":"a"}]}`, wantErr: `notification 0: member "clientState" is spelled "ClientState"`},
		{name: "not a string", body: `{"value":[{"subscriptionId":1,"changeType":"created"}]}`, wantErr: "notification 0: subscriptionId must be a string"},
		{name: "no subscription", body: `{"value":[{"changeType":"created"}]}`, wantErr: "notification 0: no subscriptionId"},
		{name: "neither change nor lifecycle", body: `{"value":[{"subscriptionId":"s1"}]}`, wantErr: "notification 0: neither changeType nor lifecycleEvent"},
		{name: "not an object", body: `{"value":[1]}`, wantErr: "notification 0: not a JSON object"},
		{name: "trailing", body: `{"value":[` + n + `]}x`, wantErr: "trailing data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseDelivery([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.notes) != tt.wantNotes || d.notes[0].resourceData != tt.wantRich {
				t.Errorf("got %d notes, rich %v; want %d, %v", len(d.notes), d.notes[0].resourceData, tt.wantNotes, tt.wantRich)
			}
		})
	}
}

func TestResourceUser(t *testing.T) {
	for _, tt := range []struct{ resource, want string }{
		{resource: "Users/0a1b/Events/AAMk", want: "0a1b"},
		{resource: "users('adele@contoso.example')/events('AAMk')", want: "adele@contoso.example"},
		{resource: "/users/0a1b/messages", want: "0a1b"},
		{resource: "Users/0a1b/Events/AAMk?$select=id", want: "0a1b"},
		{resource: "groups/0a1b/conversations", want: ""},
		{resource: "users", want: ""},
		{resource: "users/%2e%2e/x", want: ""},
		{resource: "", want: ""},
	} {
		if got := resourceUser(tt.resource); got != tt.want {
			t.Errorf("resourceUser(%q) = %q; want %q", tt.resource, got, tt.want)
		}
	}
}
