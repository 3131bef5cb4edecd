package e2e_test

import (
	"strings"
	"testing"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// responsePolicy minimises what the vendor gets back: users reduced to
// names, their mail pseudonymised; delta to ids and names; free/busy to
// the schedule items' status, start and end; a user read in a $batch to
// its id and name.
const responsePolicy = `version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All, Calendars.ReadBasic.All, Calendars.ReadWrite]
rules:
  - id: users-list
    method: GET
    path: "/users"
    query: [$top]
    permission: User.ReadBasic.All
    response:
      fields: [id, displayName, userPrincipalName, mail]
      pseudonymise: [mail]
  - id: users-delta
    method: GET
    path: "/users/delta"
    permission: User.ReadBasic.All
    response:
      fields: [id, displayName]
  - id: user-get
    method: GET
    path: "/users/{user}"
    permission: User.ReadBasic.All
    response:
      fields: [id, displayName]
  - id: free-busy
    method: POST
    path: "/users/{user}/calendar/getSchedule"
    permission: Calendars.ReadBasic.All
    response:
      fields: [scheduleId, availabilityView, scheduleItems.status, scheduleItems.start, scheduleItems.end]
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite }
`

const pseudonymKey = "e2e-pseudonym-key-0123456789-abcdefghijklmnop"

// responseRecords are the audit records with a response section.
func responseRecords(recs []auditlog.Record, rule string) []auditlog.Record {
	var out []auditlog.Record
	for _, r := range recs {
		if r.Response != nil && r.Response.Rule == rule {
			out = append(out, r)
		}
	}
	return out
}

// TestSDKFilteredPagesAndDelta: the SDK pages through filtered answers and
// tracks changes through filtered delta pages, @removed included; what
// the policy removes never arrives, and each page's record says what was
// removed and pseudonymised.
func TestSDKFilteredPagesAndDelta(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: responsePolicy, PseudonymKey: pseudonymKey})
	client, adapter := sdkClient(e, "v1.0")
	ctx := t.Context()
	_, upns := e.Sim.Graph.Users()

	var got []string
	eachUser(t, client, adapter, func(u models.Userable) {
		got = append(got, *u.GetUserPrincipalName())
		if u.GetJobTitle() != nil || u.GetGivenName() != nil {
			t.Errorf("user %s arrived with properties the policy removes", *u.GetUserPrincipalName())
		}
		// The simulator's mail is the UPN: the vendor gets its pseudonym.
		if m := u.GetMail(); m == nil || *m != response.Pseudonym([]byte(pseudonymKey), *u.GetUserPrincipalName()) {
			t.Errorf("user %s mail %v; want its pseudonym", *u.GetUserPrincipalName(), m)
		}
	})
	if strings.Join(got, ",") != strings.Join(upns, ",") {
		t.Errorf("got %d users; want all %d in order", len(got), len(upns))
	}
	if n := len(e.Sim.Graph.Requests()); n != 3 {
		t.Errorf("Graph received %d requests; want 3 pages", n)
	}
	pages := responseRecords(e.Records(3), "users-list")
	if len(pages) != 3 {
		t.Fatalf("%d records name the users-list section; want 3", len(pages))
	}
	for _, r := range pages {
		// Ten users a page: givenName, surname, jobTitle, businessPhones,
		// preferredLanguage removed from each, mail pseudonymised.
		if r.Response.Removed != 50 || r.Response.Pseudonymised != 10 || r.Status != 200 {
			t.Errorf("record %s: %+v status %d", r.RequestID, *r.Response, r.Status)
		}
	}

	// Delta: the first round pages to a deltaLink; after a change and a
	// deletion, the next round reports both, filtered.
	round := func(d users.DeltaGetResponseable) (map[string]models.Userable, string) {
		t.Helper()
		it, err := msgraphcore.NewPageIterator[models.Userable](d, adapter, users.CreateDeltaGetResponseFromDiscriminatorValue)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]models.Userable{}
		if err := it.Iterate(ctx, func(u models.Userable) bool {
			seen[*u.GetId()] = u
			return true
		}); err != nil {
			t.Fatalf("delta: %v", err)
		}
		link := it.GetOdataDeltaLink()
		if link == nil || !strings.HasPrefix(*link, e.Server.URL+"/v1.0/users/delta") {
			t.Fatalf("deltaLink %v; want one through the proxy", link)
		}
		return seen, *link
	}
	d, err := client.Users().Delta().GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatalf("delta: %v", err)
	}
	seen, link := round(d)
	if len(seen) != len(upns) {
		t.Errorf("the first delta round has %d users; want %d", len(seen), len(upns))
	}
	ids, _ := e.Sim.Graph.Users()
	e.Sim.Graph.TouchUser(upns[3], "Principal")
	if !e.Sim.Graph.RemoveUser(upns[4]) {
		t.Fatal("the simulator has no such user")
	}
	d, err = client.Users().Delta().WithUrl(link).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatalf("following the deltaLink: %v", err)
	}
	seen, _ = round(d)
	changed, removed := seen[ids[3]], seen[ids[4]]
	if len(seen) != 2 || changed == nil || removed == nil {
		t.Fatalf("the second delta round has %d users; want the changed and the removed", len(seen))
	}
	if changed.GetDisplayName() == nil || changed.GetJobTitle() != nil {
		t.Errorf("the changed user arrived with name %v, jobTitle %v; want its name only", changed.GetDisplayName(), changed.GetJobTitle())
	}
	if _, ok := removed.GetAdditionalData()["@removed"]; !ok {
		t.Errorf("the removed user arrived without @removed: %v", removed.GetAdditionalData())
	}
}

// TestSDKFilteredGetSchedule: free/busy through the SDK shows when each
// mailbox is busy, never with what.
func TestSDKFilteredGetSchedule(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: responsePolicy})
	client, _ := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	start, end, utc := day.Add(8*time.Hour).Format("2006-01-02T15:04:05"), day.Add(12*time.Hour).Format("2006-01-02T15:04:05"), "UTC"
	st, et := models.NewDateTimeTimeZone(), models.NewDateTimeTimeZone()
	st.SetDateTime(&start)
	st.SetTimeZone(&utc)
	et.SetDateTime(&end)
	et.SetTimeZone(&utc)
	body := users.NewItemCalendarGetSchedulePostRequestBody()
	body.SetSchedules([]string{upns[0], upns[1]})
	body.SetStartTime(st)
	body.SetEndTime(et)

	resp, err := client.Users().ByUserId(upns[0]).Calendar().GetSchedule().PostAsGetSchedulePostResponse(t.Context(), body, nil)
	if err != nil {
		t.Fatalf("getSchedule: %v", err)
	}
	v := resp.GetValue()
	if len(v) != 2 {
		t.Fatalf("got %d schedules; want 2", len(v))
	}
	for _, s := range v {
		items := s.GetScheduleItems()
		if len(items) == 0 || s.GetWorkingHours() != nil {
			t.Fatalf("schedule %s: %d items, working hours %v", *s.GetScheduleId(), len(items), s.GetWorkingHours())
		}
		for _, it := range items {
			if it.GetStatus() == nil || it.GetStart() == nil || it.GetEnd() == nil {
				t.Errorf("an item lost its status, start or end")
			}
			if it.GetSubject() != nil || it.GetLocation() != nil || it.GetIsPrivate() != nil {
				t.Errorf("an item kept its subject %v or location %v", it.GetSubject(), it.GetLocation())
			}
		}
	}
	if r := responseRecords(e.Records(1), "free-busy"); len(r) != 1 || r[0].Response.Removed == 0 {
		t.Errorf("records %+v", r)
	}
}

// TestSDKFilteredBatch: each $batch sub-response is filtered by its own
// sub-request's rule: the user read reduced to id and name, the event
// created (a rule without a section) as Graph answered it.
func TestSDKFilteredBatch(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: responsePolicy})
	client, adapter := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()

	resp, userStep, eventStep, subject := sendUserAndEventBatch(t, client, adapter, upns)
	u, err := msgraphcore.GetBatchResponseById[models.Userable](resp, *userStep.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil || u.GetDisplayName() == nil || u.GetUserPrincipalName() != nil || u.GetMail() != nil {
		t.Fatalf("user step: %v; want its id and name only", err)
	}
	created, err := msgraphcore.GetBatchResponseById[models.Eventable](resp, *eventStep.GetId(), models.CreateEventFromDiscriminatorValue)
	if err != nil || created.GetSubject() == nil || *created.GetSubject() != subject {
		t.Fatalf("event step: %v %v", created, err)
	}
	var userRec *auditlog.Record
	for _, r := range e.Records(3) {
		if r.Batch != nil && r.Batch.ID == *userStep.GetId() {
			userRec = &r
		}
	}
	if userRec == nil || userRec.Response == nil || userRec.Response.Rule != "user-get" || userRec.Response.Removed == 0 {
		t.Errorf("the user step's record: %+v", userRec)
	}
}
