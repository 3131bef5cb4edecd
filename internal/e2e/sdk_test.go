package e2e_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// sdkClient is the vendor's view: the official Graph SDK for Go with its
// base URL set to the proxy and the proxy's host allowed for tokens, as the
// vendor integration guide says. Its transport trusts the proxy's
// certificate only, so a call that went to the simulator directly would
// fail.
func sdkClient(e *proxytest.Env, version string) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter) {
	e.T().Helper()
	return sdkClientOver(e, version, e.Server.Client().Transport)
}

// sdkClientOver is sdkClient whose requests go over transport (which
// reaches the proxy), for tests that look at what the SDK receives.
func sdkClientOver(e *proxytest.Env, version string, transport http.RoundTripper) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter) {
	t := e.T()
	t.Helper()
	vendor := e.Sim.Entra.App(graphsim.VendorTenant, graphsim.VendorAppID)
	cred, err := azidentity.NewClientSecretCredential(graphsim.VendorTenant, vendor.ClientID, vendor.Secret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.Sim.Entra.URL + "/"},
				Transport: e.Sim.Client(),
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(e.Server.URL)
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{graphsim.ProxyAudience + "/.default"}, []string{pu.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: version}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout:   30 * time.Second,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.Server.URL + "/" + version)
	return msgraphsdk.NewGraphServiceClient(adapter), adapter
}

func TestSDKListsUsersAcrossPages(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	client, adapter := sdkClient(e, "v1.0")
	var upns []string
	eachUser(t, client, adapter, func(u models.Userable) { upns = append(upns, *u.GetUserPrincipalName()) })
	_, want := e.Sim.Graph.Users()
	if strings.Join(upns, ",") != strings.Join(want, ",") {
		t.Errorf("got %d users; want all %d in order", len(upns), len(want))
	}

	// Three pages of ten, every one through the proxy.
	reqs := e.Sim.Graph.Requests()
	if len(reqs) != 3 {
		t.Fatalf("Graph received %d requests; want 3 pages", len(reqs))
	}
	for i, r := range reqs[1:] {
		if !strings.Contains(r.RawQuery, "$skiptoken=") {
			t.Errorf("page %d query %q; want the skip token from the rewritten nextLink", i+2, r.RawQuery)
		}
	}
	recs := e.Records(3)
	for _, r := range recs {
		if r.Path != "/users" || r.Status != 200 {
			t.Errorf("audit record %s %d", r.Path, r.Status)
		}
	}
}

func TestSDKGetSchedule(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	client, _ := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	start, end, utc := day.Add(8*time.Hour).Format("2006-01-02T15:04:05"), day.Add(12*time.Hour).Format("2006-01-02T15:04:05"), "UTC"
	st, et := models.NewDateTimeTimeZone(), models.NewDateTimeTimeZone()
	st.SetDateTime(&start)
	st.SetTimeZone(&utc)
	et.SetDateTime(&end)
	et.SetTimeZone(&utc)
	interval := int32(60)
	body := users.NewItemCalendarGetSchedulePostRequestBody()
	body.SetSchedules([]string{upns[0], upns[1]})
	body.SetStartTime(st)
	body.SetEndTime(et)
	body.SetAvailabilityViewInterval(&interval)

	resp, err := client.Users().ByUserId(upns[0]).Calendar().GetSchedule().PostAsGetSchedulePostResponse(t.Context(), body, nil)
	if err != nil {
		t.Fatalf("getSchedule: %v", err)
	}
	v := resp.GetValue()
	if len(v) != 2 {
		t.Fatalf("got %d schedules; want 2", len(v))
	}
	// Everyone is busy 09:00–10:00: the second of four hourly slots.
	if got := *v[0].GetAvailabilityView(); got != "0200" {
		t.Errorf("availabilityView %q; want 0200", got)
	}
	if *v[1].GetScheduleId() != upns[1] {
		t.Errorf("scheduleId %q", *v[1].GetScheduleId())
	}
}

func TestSDKEventLifecycle(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	client, _ := sdkClient(e, "v1.0")
	ctx := t.Context()
	_, upns := e.Sim.Graph.Users()
	user := client.Users().ByUserId(upns[2])

	subject, utc := "Intro call", "UTC"
	s, en := "2030-03-04T10:00:00", "2030-03-04T10:30:00"
	ev := models.NewEvent()
	ev.SetSubject(&subject)
	st, et := models.NewDateTimeTimeZone(), models.NewDateTimeTimeZone()
	st.SetDateTime(&s)
	st.SetTimeZone(&utc)
	et.SetDateTime(&en)
	et.SetTimeZone(&utc)
	ev.SetStart(st)
	ev.SetEnd(et)
	online := true
	ev.SetIsOnlineMeeting(&online)

	created, err := user.Events().Post(ctx, ev, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := *created.GetId()
	if created.GetOnlineMeeting() == nil || !strings.HasPrefix(*created.GetOnlineMeeting().GetJoinUrl(), "https://teams.microsoft.com/") {
		t.Errorf("online meeting join URL missing: %+v", created.GetOnlineMeeting())
	}

	newSubject := "Intro call (moved)"
	patch := models.NewEvent()
	patch.SetSubject(&newSubject)
	updated, err := user.Events().ByEventId(id).Patch(ctx, patch, nil)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if *updated.GetSubject() != newSubject {
		t.Errorf("subject %q after update", *updated.GetSubject())
	}

	if err := user.Events().ByEventId(id).Delete(ctx, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = user.Events().ByEventId(id).Get(ctx, nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 404 || *oe.GetErrorEscaped().GetCode() != "ErrorItemNotFound" {
		t.Errorf("get after delete: %v; want Graph's 404 ErrorItemNotFound", err)
	}
}

func TestSDKParsesProxyErrors(t *testing.T) {
	t.Run("404 outside /v1.0 and /beta", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{})
		client, _ := sdkClient(e, "v2.0")
		_, err := client.Users().Get(t.Context(), nil)
		assertODataError(t, err, 404, "graphProxy.notFound")
		if n := len(e.Sim.Graph.Requests()); n != 0 {
			t.Errorf("Graph received %d requests", n)
		}
	})
	t.Run("413 body too large", func(t *testing.T) {
		e := proxytest.New(t, proxytest.Options{MaxBodyBytes: 2048})
		client, _ := sdkClient(e, "v1.0")
		_, upns := e.Sim.Graph.Users()
		ev := models.NewEvent()
		big := strings.Repeat("x", 4096)
		ev.SetSubject(&big)
		_, err := client.Users().ByUserId(upns[0]).Events().Post(t.Context(), ev, nil)
		assertODataError(t, err, 413, "graphProxy.requestTooLarge")
		if n := len(e.Sim.Graph.Requests()); n != 0 {
			t.Errorf("Graph received %d requests", n)
		}
	})
}

func assertODataError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("got %T %v; want *odataerrors.ODataError", err, err)
	}
	main := oe.GetErrorEscaped()
	if oe.ResponseStatusCode != status || main == nil || *main.GetCode() != code {
		t.Fatalf("got %d %v; want %d %s", oe.ResponseStatusCode, main, status, code)
	}
	if inner := main.GetInnerError(); inner == nil || inner.GetRequestId() == nil || *inner.GetRequestId() == "" {
		t.Errorf("the SDK found no request id in the proxy's error")
	}
}

// TestSDKBatch: the Go SDK's batch builder through the proxy, as the
// vendor guide shows it. Each sub-request is decided and recorded, and
// Graph receives the batch the proxy decided on.
func TestSDKBatch(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{})
	client, adapter := sdkClient(e, "v1.0")
	_, upns := e.Sim.Graph.Users()

	resp, userStep, eventStep, subject := sendUserAndEventBatch(t, client, adapter, upns)
	u, err := msgraphcore.GetBatchResponseById[models.Userable](resp, *userStep.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil || *u.GetUserPrincipalName() != upns[0] {
		t.Fatalf("user step: %v %v", u, err)
	}
	created, err := msgraphcore.GetBatchResponseById[models.Eventable](resp, *eventStep.GetId(), models.CreateEventFromDiscriminatorValue)
	if err != nil || *created.GetSubject() != subject {
		t.Fatalf("event step: %v %v", created, err)
	}
	recs := e.Records(3)
	if recs[0].Path != "/$batch" || recs[0].Decision != "allow" || recs[1].Batch == nil || recs[2].Batch == nil {
		t.Errorf("records %+v", recs)
	}
	for _, r := range e.Sim.Graph.Requests() {
		if r.Batch && (r.Method != strings.ToUpper(r.Method) || r.Method == "POST" && r.Header.Get("Content-Type") != "application/json") {
			t.Errorf("Graph received the sub-request %s %s with Content-Type %q", r.Method, r.Path, r.Header.Get("Content-Type"))
		}
	}
}

// sendUserAndEventBatch sends, with the Go SDK's batch builder, a $batch
// of two steps: a read of the first user and an event created in the
// second's calendar; it returns the answer, the steps and the event's
// subject.
func sendUserAndEventBatch(t *testing.T, client *msgraphsdk.GraphServiceClient, adapter *msgraphsdk.GraphRequestAdapter, upns []string) (msgraphcore.BatchResponse, msgraphcore.BatchItem, msgraphcore.BatchItem, string) {
	t.Helper()
	ctx := t.Context()
	getUser, err := client.Users().ByUserId(upns[0]).ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const subject = "Batched"
	createEvent, err := client.Users().ByUserId(upns[1]).Events().ToPostRequestInformation(ctx,
		newEvent(subject, time.Date(2030, 3, 5, 10, 0, 0, 0, time.UTC)), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, steps := sendBatch(t, adapter, getUser, createEvent)
	return resp, steps[0], steps[1], subject
}

// sendBatch sends the requests as one $batch with the Go SDK's batch
// builder, and returns the answer and the steps, in the requests' order.
func sendBatch(t *testing.T, adapter *msgraphsdk.GraphRequestAdapter, reqs ...*abstractions.RequestInformation) (msgraphcore.BatchResponse, []msgraphcore.BatchItem) {
	t.Helper()
	batch := msgraphcore.NewBatchRequest(adapter)
	var steps []msgraphcore.BatchItem
	for _, r := range reqs {
		step, err := batch.AddBatchRequestStep(*r)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, step)
	}
	resp, err := batch.Send(t.Context(), adapter)
	if err != nil {
		t.Fatalf("$batch: %v", err)
	}
	return resp, steps
}

// eachUser lists the users with the SDK, following every page with its
// page iterator, and hands each to visit.
func eachUser(t *testing.T, client *msgraphsdk.GraphServiceClient, adapter *msgraphsdk.GraphRequestAdapter, visit func(models.Userable)) {
	t.Helper()
	first, err := client.Users().Get(t.Context(), nil)
	if err != nil {
		t.Fatalf("list users: %v", err)
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](first, adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Iterate(t.Context(), func(u models.Userable) bool {
		visit(u)
		return true
	}); err != nil {
		t.Fatalf("iterate: %v", err)
	}
}
