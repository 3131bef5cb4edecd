package graphsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// Graph acts only on a message the mailbox holds: a reply to, a forward
// or send of, or an update of any other id is 404, as it is in Graph.
func TestMessageActionsNeedTheMessage(t *testing.T) {
	s := start(t)
	tok, _, err := s.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.ProxyAppID,
		Audience: graphsim.GraphResource, Roles: []string{"Mail.Send", "Mail.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	_, upns := s.Graph.Users()
	mailbox := upns[0]
	held := s.Graph.AddMessage(mailbox, graphsim.Message{From: upns[1], Sender: upns[1], To: []string{mailbox}})
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, s.Graph.URL+"/v1.0/users/"+mailbox+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method, action, body string
		held, unknown        int
	}{
		{"POST", "/reply", `{"comment":"ok"}`, 202, 404},
		{"POST", "/replyAll", `{"comment":"ok"}`, 202, 404},
		{"POST", "/forward", `{"toRecipients":[]}`, 202, 404},
		{"POST", "/send", ``, 202, 404},
		{"PATCH", "", `{"subject":"s"}`, 200, 404},
	} {
		if got := call(tc.method, "/messages/"+held+tc.action, tc.body); got != tc.held {
			t.Errorf("%s %s on a message held: %d; want %d", tc.method, tc.action, got, tc.held)
		}
		if got := call(tc.method, "/messages/AAMkUnknown"+tc.action, tc.body); got != tc.unknown {
			t.Errorf("%s %s on an unknown message: %d; want %d", tc.method, tc.action, got, tc.unknown)
		}
	}
	// A draft created through Graph is held too.
	req, _ := http.NewRequest("POST", s.Graph.URL+"/v1.0/users/"+mailbox+"/messages", strings.NewReader(`{"subject":"d"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var draft struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&draft); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("draft: %d, %v", resp.StatusCode, err)
	}
	if got := call("POST", "/messages/"+draft.ID+"/send", ""); got != 202 {
		t.Errorf("send of a draft created through Graph: %d; want 202", got)
	}
}
