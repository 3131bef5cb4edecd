package e2e_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// delegatedPolicy lets the simulator's vendor app act as signed-in users
// of the scheduling group, on their own mailboxes (/me).
const delegatedPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All]
    delegated:
      scopes: [User.Read, Mail.Send, Calendars.Read, Calendars.ReadWrite]
    users: { group: "` + graphsim.SchedulingGroup + `", withoutGroup: { domains: [partner.example] } }
mail:
  recipientDomains: [contoso.example, partner.example]
rules:
  - { id: users-get, method: GET, path: "/users/{user}", query: [$select], permission: User.ReadBasic.All }
  - { id: me, method: GET, path: "/me", query: [$select], delegatedScope: User.Read }
  - { id: me-send, method: POST, path: "/me/sendMail", delegatedScope: Mail.Send }
  - { id: me-events, method: GET, path: "/me/events", query: [$select, $top], delegatedScope: Calendars.Read }
  - { id: me-calendar-events-list, method: GET, path: "/me/calendar/events", query: [$select, $top], delegatedScope: Calendars.Read }
  - { id: me-calendar-events-create, method: POST, path: "/me/calendar/events", delegatedScope: Calendars.ReadWrite }
`

// userCredential is the vendor's app holding a signed-in user's token for
// the proxy's API, as MSAL gives it: an azcore.TokenCredential the Graph
// SDK asks for tokens. Asked with claims (a claims challenge), it signs
// the user in again with multi-factor authentication, as the user would
// when prompted.
type userCredential struct {
	e        *proxytest.Env
	oid, upn string
	// noMFA: the user cannot satisfy the challenge (no second factor).
	noMFA bool

	mu     sync.Mutex
	claims []string // the claims of each challenge met
	scopes []string
}

func (c *userCredential) GetToken(_ context.Context, o azpolicy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = o.Scopes
	if o.Claims != "" {
		c.claims = append(c.claims, o.Claims)
	}
	c.mu.Unlock()
	tok, exp, err := c.e.Sim.Entra.MintUser(graphsim.UserTokenSpec{ObjectID: c.oid, UPN: c.upn, MFA: o.Claims != "" && !c.noMFA})
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, err
}

func (c *userCredential) challenges() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.claims...)
}

// userClient is the Graph SDK for Go as a vendor's app uses it for a
// signed-in user: the proxy's base URL and delegated scope.
func userClient(e *proxytest.Env, cred *userCredential) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter) {
	t := e.T()
	t.Helper()
	pu, _ := url.Parse(e.Server.URL)
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{graphsim.ProxyAudience + "/" + graphsim.ProxyScope}, []string{pu.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0"}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(e.Server.Client().Transport, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...),
		Timeout:   30 * time.Second,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.Server.URL + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), adapter
}

func newDelegatedEnv(t *testing.T) *proxytest.Env {
	t.Helper()
	return proxytest.New(t, proxytest.Options{Policy: delegatedPolicy, Delegated: true})
}

// member returns the i-th simulated user (the first half are in the
// scheduling group).
func member(e *proxytest.Env, i int) *userCredential {
	ids, upns := e.Sim.Graph.Users()
	return &userCredential{e: e, oid: ids[i], upn: upns[i]}
}

func newEvent(subject string, start time.Time) models.Eventable {
	ev := models.NewEvent()
	ev.SetSubject(&subject)
	utc, s, en := "UTC", start.Format("2006-01-02T15:04:05"), start.Add(30*time.Minute).Format("2006-01-02T15:04:05")
	st, et := models.NewDateTimeTimeZone(), models.NewDateTimeTimeZone()
	st.SetDateTime(&s)
	st.SetTimeZone(&utc)
	et.SetDateTime(&en)
	et.SetTimeZone(&utc)
	ev.SetStart(st)
	ev.SetEnd(et)
	return ev
}

func mailTo(subject, to string) *users.ItemSendMailPostRequestBody {
	msg := models.NewMessage()
	msg.SetSubject(&subject)
	r := models.NewRecipient()
	addr := models.NewEmailAddress()
	addr.SetAddress(&to)
	r.SetEmailAddress(addr)
	msg.SetToRecipients([]models.Recipientable{r})
	body := users.NewItemSendMailPostRequestBody()
	body.SetMessage(msg)
	return body
}

// userRequests are the requests Graph received on users' behalf: all but
// the proxy's own membership checks.
func userRequests(e *proxytest.Env) []graphsim.Recorded {
	var out []graphsim.Recorded
	for _, r := range e.Sim.Graph.Requests() {
		if !strings.HasSuffix(r.Path, "/checkMemberGroups") {
			out = append(out, r)
		}
	}
	return out
}

// graphClaims reads the claims of the token Graph received with a
// request (the simulator verified it).
func graphClaims(t *testing.T, r graphsim.Recorded) jwt.MapClaims {
	t.Helper()
	raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		t.Fatalf("Graph's token for %s: %v", r.Path, err)
	}
	return claims
}

// TestDelegatedSDK: a vendor's app with a signed-in user's token for the
// proxy calls /me, sends mail, creates events and pages through them, and
// sends a $batch, with the Graph SDK for Go. Graph receives a token of the
// same user that the proxy obtained on the user's behalf, never the
// caller's; every record names the caller and the user.
func TestDelegatedSDK(t *testing.T) {
	e := newDelegatedEnv(t)
	cred := member(e, 0)
	client, adapter := userClient(e, cred)
	ctx := t.Context()

	me, err := client.Me().Get(ctx, nil)
	if err != nil {
		t.Fatalf("GET /me: %v", err)
	}
	if *me.GetId() != cred.oid {
		t.Errorf("/me is %s; want the signed-in user %s", *me.GetId(), cred.oid)
	}
	if err := client.Me().SendMail().Post(ctx, mailTo("Hello", "grady@partner.example"), nil); err != nil {
		t.Fatalf("POST /me/sendMail: %v", err)
	}
	if sent := e.Sim.Graph.SentMail(cred.oid); len(sent) != 1 || sent[0]["subject"] != "Hello" {
		t.Errorf("the user's sent mail: %v", sent)
	}
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(72 * time.Hour)
	for i := range 6 {
		if _, err := client.Me().Calendar().Events().Post(ctx, newEvent(fmt.Sprintf("Planning %d", i), start.Add(time.Duration(i)*time.Hour)), nil); err != nil {
			t.Fatalf("POST /me/calendar/events: %v", err)
		}
	}
	top := int32(3)
	first, err := client.Me().Events().Get(ctx, &users.ItemEventsRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		t.Fatalf("GET /me/events: %v", err)
	}
	it, err := msgraphcore.NewPageIterator[models.Eventable](first, adapter, models.CreateEventCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	if err := it.Iterate(ctx, func(ev models.Eventable) bool {
		subjects = append(subjects, *ev.GetSubject())
		return true
	}); err != nil {
		t.Fatalf("paging /me/events: %v", err)
	}
	if n := len(subjects); n < 7 || !strings.Contains(strings.Join(subjects, ","), "Planning 5") {
		t.Errorf("paged %d events %v; want the user's seeded event and the six created", n, subjects)
	}
	cal, err := client.Me().Calendar().Events().Get(ctx, nil)
	if err != nil || len(cal.GetValue()) == 0 {
		t.Fatalf("GET /me/calendar/events: %v", err)
	}

	// A $batch of the user's own calls.
	getMe, err := client.Me().ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	create, err := client.Me().Calendar().Events().ToPostRequestInformation(ctx, newEvent("Batched", start.Add(10*time.Hour)), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, steps := sendBatch(t, adapter, getMe, create)
	meStep, eventStep := steps[0], steps[1]
	bme, err := msgraphcore.GetBatchResponseById[models.Userable](resp, *meStep.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil || *bme.GetId() != cred.oid {
		t.Fatalf("batch /me: %v %v", bme, err)
	}
	if ev, err := msgraphcore.GetBatchResponseById[models.Eventable](resp, *eventStep.GetId(), models.CreateEventFromDiscriminatorValue); err != nil || *ev.GetSubject() != "Batched" {
		t.Fatalf("batch event: %v %v", ev, err)
	}

	// Graph saw the user's Graph token, exchanged by the proxy's app;
	// never the token the caller sent.
	for _, r := range userRequests(e) {
		c := graphClaims(t, r)
		if c["oid"] != cred.oid || c["appid"] != graphsim.ProxyAppID || c["aud"] != graphsim.GraphResource {
			t.Errorf("Graph received %s %s with oid %v appid %v aud %v; want the user's Graph token of the proxy's app", r.Method, r.Path, c["oid"], c["appid"], c["aud"])
		}
	}
	if got := cred.scopes; len(got) != 1 || got[0] != graphsim.ProxyAudience+"/"+graphsim.ProxyScope {
		t.Errorf("the SDK asked for %v; want the proxy's delegated scope", got)
	}
	// /me, sendMail, six events, three pages, the calendar, the batch
	// and its two requests.
	var recs []auditlog.Record
	proxytest.WaitFor(t, "15 records of the user's calls", func() bool {
		recs = recs[:0]
		for _, r := range e.Audit.Records(t) {
			if !strings.HasSuffix(r.Path, "/checkMemberGroups") { // the proxy's own
				recs = append(recs, r)
			}
		}
		return len(recs) >= 15
	})
	for _, r := range recs {
		if r.Actor == nil || r.Actor.ObjectID != cred.oid || r.Actor.UPN != cred.upn || r.Actor.TenantID != graphsim.CustomerTenant {
			t.Errorf("record %s %s: actor %+v; want the signed-in user", r.Method, r.Path, r.Actor)
			continue
		}
		if r.Caller.Name != "engage" || r.Decision != "allow" || r.Target != cred.upn {
			t.Errorf("record %s %s: caller %q decision %s target %q", r.Method, r.Path, r.Caller.Name, r.Decision, r.Target)
		}
	}
	if r := recs[1]; r.Path != "/me/sendMail" || r.Permission != "Mail.Send" || r.Rule != "me-send" || strings.Join(r.Targets, ",") != cred.upn+",grady@partner.example" {
		t.Errorf("sendMail record: %s %s %s", r.Path, r.Permission, r.Rule)
	}
}

// TestDelegatedUsersIsolated: two users of one vendor app, calling at the
// same time, each get their own Graph token and their own data, never the
// other's. Each user has three calls in flight at a time, within Graph's
// four per mailbox, which the proxy holds the user's mailbox to.
func TestDelegatedUsersIsolated(t *testing.T) {
	e := newDelegatedEnv(t)
	creds := []*userCredential{member(e, 1), member(e, 2)}
	const workers, rounds = 3, 3
	var wg sync.WaitGroup
	errs := make(chan error, len(creds)*workers*rounds*2)
	for u, cred := range creds {
		client, _ := userClient(e, cred)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					me, err := client.Me().Get(t.Context(), nil)
					switch {
					case err != nil:
						errs <- err
					case *me.GetId() != cred.oid:
						errs <- fmt.Errorf("user %s got /me of %s", cred.oid, *me.GetId())
					}
					to := fmt.Sprintf("team%d-%d@partner.example", u, w)
					if err := client.Me().SendMail().Post(t.Context(), mailTo(fmt.Sprintf("%s %d-%d", cred.upn, w, i), to), nil); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, cred := range creds {
		sent := e.Sim.Graph.SentMail(cred.oid)
		if len(sent) != workers*rounds {
			t.Errorf("user %s sent %d messages; want %d", cred.upn, len(sent), workers*rounds)
		}
		for _, m := range sent {
			if s, _ := m["subject"].(string); !strings.HasPrefix(s, cred.upn) {
				t.Errorf("user %s's mailbox holds %q, another user's mail", cred.upn, s)
			}
		}
	}
	for _, r := range e.Sim.Graph.Requests() {
		c := graphClaims(t, r)
		if (r.Path == "/v1.0/me" || r.Path == "/v1.0/me/sendMail") && c["oid"] != creds[0].oid && c["oid"] != creds[1].oid {
			t.Errorf("Graph received %s with a token of %v", r.Path, c["oid"])
		}
	}
	// Each call of a user presents a fresh token (the credential mints
	// one each time it is asked), so exchanges are at most one per call;
	// a token presented again is served from the cache.
	if n, calls := e.OBO.Exchanges(), len(creds)*workers*rounds*2; n > calls {
		t.Errorf("%d exchanges for %d calls", n, calls)
	}
}

// TestDelegatedCacheReuses: the same user token for the same scope is
// exchanged once; another scope, or another user, is an exchange of its
// own.
func TestDelegatedCacheReuses(t *testing.T) {
	e := newDelegatedEnv(t)
	a, b := member(e, 3), member(e, 4)
	ta := e.UserToken(graphsim.UserTokenSpec{ObjectID: a.oid, UPN: a.upn})
	tb := e.UserToken(graphsim.UserTokenSpec{ObjectID: b.oid, UPN: b.upn})
	call := func(tok, path string) string {
		t.Helper()
		resp := e.Do("GET", path, nil, "Authorization", "Bearer "+tok)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %+v", path, resp.StatusCode, proxytest.DecodeError(t, resp).Error)
		}
		return resp.Header.Get("request-id")
	}
	for range 3 {
		call(ta, "/v1.0/me")
	}
	if n := e.OBO.Exchanges(); n != 1 {
		t.Errorf("%d exchanges for one user token and scope; want 1", n)
	}
	call(ta, "/v1.0/me/events")
	call(tb, "/v1.0/me")
	if n, l := e.OBO.Exchanges(), e.OBO.Len(); n != 3 || l != 3 {
		t.Errorf("%d exchanges, %d cached; want 3 and 3 (a second scope, a second user)", n, l)
	}
	for _, r := range e.Sim.Graph.Requests() {
		if strings.Contains(r.Header.Get("Authorization"), ta) || strings.Contains(r.Header.Get("Authorization"), tb) {
			t.Errorf("Graph received the caller's token for %s", r.Path)
		}
	}
}

// TestDelegatedRefusals: what the proxy refuses of delegated calls, each
// with a Graph-shaped error and a record naming the user.
func TestDelegatedRefusals(t *testing.T) {
	e := newDelegatedEnv(t)
	inside, outside := member(e, 5), member(e, 20) // users 15 and up are outside the group
	graphToken, _, err := e.Sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.VendorAppID,
		Audience: graphsim.GraphResource, Delegated: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		token      string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantActor  string
	}{
		{name: "user outside the group", token: e.UserToken(graphsim.UserTokenSpec{ObjectID: outside.oid, UPN: outside.upn}),
			method: "GET", path: "/v1.0/me", wantStatus: 403, wantCode: "graphProxy.policyDenied", wantActor: outside.oid},
		{name: "another user's mailbox", token: e.UserToken(graphsim.UserTokenSpec{ObjectID: inside.oid, UPN: inside.upn}),
			method: "GET", path: "/v1.0/users/" + member(e, 6).upn, wantStatus: 403, wantCode: "graphProxy.policyDenied", wantActor: inside.oid},
		{name: "a scope the caller may not use", token: e.UserToken(graphsim.UserTokenSpec{ObjectID: inside.oid, UPN: inside.upn}),
			method: "GET", path: "/v1.0/me/messages", wantStatus: 403, wantCode: "graphProxy.policyDenied", wantActor: inside.oid},
		{name: "a token for Graph", token: graphToken, method: "GET", path: "/v1.0/me", wantStatus: 401, wantCode: "graphProxy.graphTokenRefused"},
		{name: "a token without the proxy's scope", token: e.UserToken(graphsim.UserTokenSpec{ObjectID: inside.oid, UPN: inside.upn, Scopes: []string{"other"}}),
			method: "GET", path: "/v1.0/me", wantStatus: 401, wantCode: "graphProxy.unauthenticated"},
		{name: "an app-only token on /me", token: e.VendorToken(), method: "GET", path: "/v1.0/me", wantStatus: 403, wantCode: "graphProxy.policyDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(userRequests(e))
			resp := e.Do(tt.method, tt.path, strings.NewReader(tt.body), "Authorization", "Bearer "+tt.token)
			ge := proxytest.DecodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || ge.Error.Code != tt.wantCode || ge.Error.InnerError.RequestID == "" {
				t.Errorf("got %d %s %q; want %d %s", resp.StatusCode, ge.Error.Code, ge.Error.Message, tt.wantStatus, tt.wantCode)
			}
			rec := e.Record(resp)
			if got := ""; rec.Actor != nil {
				got = rec.Actor.ObjectID
				if got != tt.wantActor {
					t.Errorf("record's actor %q; want %q", got, tt.wantActor)
				}
			} else if tt.wantActor != "" {
				t.Errorf("record without actor; want %s", tt.wantActor)
			}
			if n := len(userRequests(e)); n != before {
				t.Errorf("Graph received %d requests; want none", n-before)
			}
		})
	}
}

// TestDelegatedExchangeRefused: a scope not consented for the proxy's app
// is a Graph-shaped 403; nothing reaches Graph.
func TestDelegatedExchangeRefused(t *testing.T) {
	e := newDelegatedEnv(t)
	e.Sim.Entra.SetConsent(graphsim.ProxyAppID, []string{"User.Read"})
	u := member(e, 7)
	resp := e.Do("POST", "/v1.0/me/sendMail", strings.NewReader(`{"message":{"subject":"x","toRecipients":[{"emailAddress":{"address":"a@partner.example"}}]}}`),
		"Authorization", "Bearer "+e.UserToken(graphsim.UserTokenSpec{ObjectID: u.oid, UPN: u.upn}), "Content-Type", "application/json")
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != 403 || ge.Error.Code != "graphProxy.consentRequired" {
		t.Errorf("got %d %s; want 403 graphProxy.consentRequired", resp.StatusCode, ge.Error.Code)
	}
	if rec := e.Record(resp); !strings.Contains(rec.Error, "AADSTS65001") || rec.Actor == nil {
		t.Errorf("record error %q actor %+v", rec.Error, rec.Actor)
	}
	if n := len(userRequests(e)); n != 0 {
		t.Errorf("Graph received %d requests", n)
	}
}

// challengeRe is how clients (MSAL, Microsoft.Identity.Web, kiota) read a
// claims challenge: a Bearer challenge with error="insufficient_claims"
// and claims="<base64>".
var challengeRe = regexp.MustCompile(`^Bearer .*error="insufficient_claims".*claims="([A-Za-z0-9+/=]+)"`)

// TestDelegatedClaimsChallenge: when Conditional Access requires more of
// the user (MFA), the exchange fails with a claims challenge; the proxy
// answers 401 with the challenge, the SDK has the app sign the user in
// again with those claims and retries, and the call goes through.
func TestDelegatedClaimsChallenge(t *testing.T) {
	e := newDelegatedEnv(t)
	cred := member(e, 8)
	e.Sim.Entra.RequireMFA(cred.oid, true)

	// The answer itself, as any client sees it.
	resp := e.Do("GET", "/v1.0/me", nil, "Authorization", "Bearer "+e.UserToken(graphsim.UserTokenSpec{ObjectID: cred.oid, UPN: cred.upn}))
	www := resp.Header.Get("WWW-Authenticate")
	ge := proxytest.DecodeError(t, resp)
	m := challengeRe.FindStringSubmatch(www)
	if resp.StatusCode != 401 || ge.Error.Code != "graphProxy.claimsChallenge" || m == nil {
		t.Fatalf("got %d %s, WWW-Authenticate %q; want 401 with a claims challenge", resp.StatusCode, ge.Error.Code, www)
	}
	if claims, err := base64.StdEncoding.DecodeString(m[1]); err != nil || string(claims) != graphsim.MFAClaims {
		t.Errorf("challenge claims %q (%v); want %s", claims, err, graphsim.MFAClaims)
	}

	// The SDK meets the challenge.
	client, _ := userClient(e, cred)
	me, err := client.Me().Get(t.Context(), nil)
	if err != nil {
		t.Fatalf("GET /me after the challenge: %v", err)
	}
	if *me.GetId() != cred.oid {
		t.Errorf("/me is %s", *me.GetId())
	}
	if got := cred.challenges(); len(got) != 1 || got[0] != graphsim.MFAClaims {
		t.Errorf("the app was asked for claims %q; want the challenge's", got)
	}

	// A user who cannot satisfy it: the SDK retries once with the claims,
	// then reports the proxy's error.
	stuck := member(e, 9)
	stuck.noMFA = true
	e.Sim.Entra.RequireMFA(stuck.oid, true)
	stuckClient, _ := userClient(e, stuck)
	_, err = stuckClient.Me().Get(t.Context(), nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || *oe.GetErrorEscaped().GetCode() != "graphProxy.claimsChallenge" {
		t.Errorf("error %v; want the proxy's claims challenge", err)
	}
	if got := stuck.challenges(); len(got) != 1 {
		t.Errorf("the app was challenged %d times; want once (the SDK retries once)", len(got))
	}
}

// TestDelegatedGraphChallenge: Graph's own continuous access evaluation
// challenge for a signed-in user's token (a session revoked) reaches the
// caller as the proxy's claims challenge, in the shape clients read; the
// SDK signs the user in again with the claims and the call goes through
// with a token exchanged afresh. An app-only call's challenge, the
// proxy's own business, never reaches its caller.
func TestDelegatedGraphChallenge(t *testing.T) {
	e := newDelegatedEnv(t)
	cred := member(e, 10)
	const claims = `{"access_token":{"nbf":{"essential":true,"value":"1764800000"}}}`
	challenge := `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="` +
		base64.StdEncoding.EncodeToString([]byte(claims)) + `"`
	e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: "/me", Times: 1, Status: 401, Challenge: challenge})

	resp := e.Do("GET", "/v1.0/me", nil, "Authorization", "Bearer "+e.UserToken(graphsim.UserTokenSpec{ObjectID: cred.oid, UPN: cred.upn}))
	www := resp.Header.Get("WWW-Authenticate")
	ge := proxytest.DecodeError(t, resp)
	m := challengeRe.FindStringSubmatch(www)
	if resp.StatusCode != 401 || ge.Error.Code != "graphProxy.claimsChallenge" || m == nil {
		t.Fatalf("got %d %s, WWW-Authenticate %q; want 401 with Graph's claims challenge", resp.StatusCode, ge.Error.Code, www)
	}
	if got, err := base64.StdEncoding.DecodeString(m[1]); err != nil || string(got) != claims {
		t.Errorf("challenge claims %q (%v); want Graph's %s", got, err, claims)
	}
	if rec := e.Record(resp); rec.UpstreamStatus != 401 || rec.Actor == nil {
		t.Errorf("record upstream %d actor %+v; want Graph's 401 for the user", rec.UpstreamStatus, rec.Actor)
	}

	// The SDK meets it: challenged once more by Graph, then through.
	e.Sim.Graph.Inject(&graphsim.Fault{Method: "GET", PathPrefix: "/me", Times: 1, Status: 401, Challenge: challenge})
	client, _ := userClient(e, cred)
	me, err := client.Me().Get(t.Context(), nil)
	if err != nil {
		t.Fatalf("GET /me after Graph's challenge: %v", err)
	}
	if *me.GetId() != cred.oid {
		t.Errorf("/me is %s", *me.GetId())
	}
	if got := cred.challenges(); len(got) != 1 || got[0] != claims {
		t.Errorf("the app was asked for claims %q; want Graph's", got)
	}
}
