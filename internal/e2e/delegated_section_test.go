package e2e_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// pseudonymisedMePolicy is delegatedPolicy with the user's events read
// under a section that pseudonymises their ids.
var pseudonymisedMePolicy = strings.Replace(delegatedPolicy,
	`path: "/me/events", query: [$select, $top], delegatedScope: Calendars.Read }`,
	`path: "/me/events", query: [$select, $top], delegatedScope: Calendars.Read, response: { pseudonymise: [id] } }`, 1)

// TestDelegatedSectionContext: on a delegated /me call, Graph writes the
// signed-in user's object id into @odata.context (users('…')/events).
// Under a section that pseudonymises id, the answer, alone or in a
// $batch, carries no trace of it, and the Graph SDK reads and pages it
// as ever.
func TestDelegatedSectionContext(t *testing.T) {
	const pkey = "pseudonym-key-of-the-customer-0123456789"
	if pseudonymisedMePolicy == delegatedPolicy {
		t.Fatal("the policy's me-events rule was not found")
	}
	e := proxytest.New(t, proxytest.Options{Policy: pseudonymisedMePolicy, Delegated: true, PseudonymKey: pkey})
	cred := member(e, 1)
	client, adapter := userClient(e, cred)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(72 * time.Hour)
	created, err := client.Me().Calendar().Events().Post(ctx, newEvent("Planning", start), nil)
	if err != nil {
		t.Fatalf("POST /me/calendar/events: %v", err)
	}

	tok := e.UserToken(graphsim.UserTokenSpec{ObjectID: cred.oid, UPN: cred.upn})
	read := func(method, path, body string) string {
		t.Helper()
		resp := e.Do(method, path, strings.NewReader(body), "Authorization", "Bearer "+tok, "Content-Type", "application/json")
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return string(b)
	}
	for _, tc := range []struct{ name, body string }{
		{"GET /me/events", read("GET", "/v1.0/me/events", "")},
		{"$batch", read("POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/me/events"}]}`)},
	} {
		if strings.Contains(strings.ToLower(tc.body), strings.ToLower(cred.oid)) || strings.Contains(tc.body, *created.GetId()) {
			t.Errorf("%s: the answer names the signed-in user or the event by id:\n%s", tc.name, tc.body)
		}
		if !strings.Contains(tc.body, `$metadata#users/events"`) || !strings.Contains(tc.body, response.Pseudonym([]byte(pkey), *created.GetId())) {
			t.Errorf("%s: want the context without its key, the event's id pseudonymised:\n%s", tc.name, tc.body)
		}
	}

	// The SDK reads and pages the answer.
	first, err := client.Me().Events().Get(ctx, nil)
	if err != nil {
		t.Fatalf("GET /me/events: %v", err)
	}
	if c, _ := first.GetAdditionalData()["@odata.context"].(*string); c == nil || strings.Contains(*c, cred.oid) {
		t.Errorf("the SDK's context is not Graph's without its key: %v", c != nil)
	}
	it, err := msgraphcore.NewPageIterator[models.Eventable](first, adapter, models.CreateEventCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := it.Iterate(ctx, func(ev models.Eventable) bool {
		found = found || *ev.GetId() == response.Pseudonym([]byte(pkey), *created.GetId())
		return true
	}); err != nil {
		t.Fatalf("paging /me/events: %v", err)
	}
	if !found {
		t.Error("the SDK did not read the created event under its pseudonym")
	}
}
