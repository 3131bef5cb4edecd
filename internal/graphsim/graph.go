package graphsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Graph is the simulated Microsoft Graph. It checks the bearer token like
// Graph does (signature, audience, app roles per operation), keeps users,
// calendars, events and online meetings in memory, pages with absolute
// @odata.nextLink URLs, answers $batch and delta, records every request it
// receives and can be told to throttle or fail.
type Graph struct {
	URL string
	// Subscriptions are the change-notification subscriptions, and what
	// tests tell them to send (subscriptions.go).
	Subscriptions *Subscriptions
	entra         *Entra
	pageSize      int
	mux           *http.ServeMux

	mu          sync.Mutex
	users       []*user
	byKey       map[string]*user // lower-case id and UPN
	events      map[string][]map[string]any
	meetings    map[string][]map[string]any
	teamsDenied map[string]bool            // organiser ids without an application access policy
	groups      map[string]map[string]bool // group id → member user ids
	faults      []*Fault
	recorded    []Recorded
	changes     int     // delta counter
	gone        []*user // users removed (RemoveUser), for delta
	cancelled   chan string
	dir         directory // service principals, role assignments, grants
	flights     inFlight  // requests being answered, per mailbox
	files       *fileStore
	// drafts are the messages created and their attachments
	// (attachments.go).
	drafts drafts
	// messages are the mailboxes' messages readable by id (mail.go),
	// by user id + "/" + message id.
	messages map[string]map[string]any
	// del is the delegated state (delegated.go).
	del graphDelegated
}

// GraphAppID is Graph's own application id, an accepted token audience.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// SchedulingGroup is a security group holding the first half of the users.
const SchedulingGroup = "90000000-0000-4000-8000-000000000001"

// Recorded is one request as Graph received it.
type Recorded struct {
	Method   string
	Path     string // escaped, as sent
	RawQuery string
	Header   http.Header
	// Body is the request body as received (at most 4 MiB of it).
	Body []byte
	// Batch is set on a $batch sub-request (recorded after its batch).
	Batch bool
	// Cancelled is set when the sender went away before the answer.
	Cancelled bool
	// At is when it arrived; AppID is the caller's application (from its
	// token, when valid); RequestID is Graph's request-id answered;
	// Status the status answered (0 if none was).
	At        time.Time
	AppID     string
	RequestID string
	Status    int
}

// Fault makes Graph misbehave for matching requests.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// PathPrefix matches the path after the version (e.g. "/users");
	// empty matches any.
	PathPrefix string
	// Times is how many requests the fault hits; 0 hits until cleared.
	Times int
	// Delay holds the answer back.
	Delay time.Duration
	// Status answers with a Graph error of this status (429, 503, ...).
	Status int
	// RetryAfter is sent with Status when not empty.
	RetryAfter string
	// Challenge is sent with Status as WWW-Authenticate when not empty
	// (a continuous access evaluation challenge with 401).
	Challenge string
	// Hang waits until the sender gives up, and records it as cancelled.
	Hang bool
	// ResetMidBody sends headers and part of a body, then resets the
	// stream.
	ResetMidBody bool
	// Stream answers a page of users in two pieces without a
	// Content-Length, as Graph streams a large collection: the first, of
	// StreamFirst bytes or more (padded), is flushed; the second (with
	// the nextLink) follows when Stream is closed.
	Stream      chan struct{}
	StreamFirst int
	// Body answers with these bytes as they are, under ContentType
	// (default application/json) and Status (default 200): an answer
	// Graph should not give, or gives rarely.
	Body        string
	ContentType string

	hits int
}

type user struct {
	ID, DisplayName, GivenName, Surname, UPN, JobTitle string
	modified                                           int
}

func newGraph(url string, e *Entra, n, pageSize int) *Graph {
	g := &Graph{
		URL: url, entra: e, pageSize: pageSize,
		byKey:       map[string]*user{},
		events:      map[string][]map[string]any{},
		meetings:    map[string][]map[string]any{},
		teamsDenied: map[string]bool{},
		groups:      map[string]map[string]bool{SchedulingGroup: {}},
		cancelled:   make(chan string, 64),
		dir:         newDirectory(),
		files:       newFileStore(),
	}
	g.Subscriptions = newSubscriptions(e)
	g.seed(n)
	g.routes()
	return g
}

var givenNames = []string{"Adele", "Alex", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Patti", "Pradeep"}
var surnames = []string{"Vance", "Wilber", "Siciliani", "Archie", "Mueller", "Langer", "Lorenz", "Sherman", "Gu", "Holloway", "Robbins", "Bowen", "Graham", "Wilke", "Fernandez", "Gupta"}

// Domain is the customer's mail domain in the simulator.
const Domain = "contoso.example"

func (g *Graph) seed(n int) {
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	for i := 0; i < n; i++ {
		gn, sn := givenNames[i%len(givenNames)], surnames[(i/len(givenNames)+i)%len(surnames)]
		u := &user{
			ID:          fmt.Sprintf("%08x-0000-4000-8000-%012x", 0x10000000+i, i),
			GivenName:   gn,
			Surname:     sn,
			DisplayName: gn + " " + sn,
			UPN:         strings.ToLower(fmt.Sprintf("%s.%s%d@%s", gn, sn, i, Domain)),
			JobTitle:    "Consultant",
		}
		g.users = append(g.users, u)
		g.byKey[strings.ToLower(u.ID)] = u
		g.byKey[u.UPN] = u
		if i < n/2 {
			g.groups[SchedulingGroup][u.ID] = true
		}
		// Every mailbox is busy 09:00–10:00 tomorrow, and some also in the
		// afternoon, so that free/busy has something to show.
		g.addEvent(u.ID, "Team sync", day.Add(9*time.Hour), day.Add(10*time.Hour))
		if i%3 == 0 {
			g.addEvent(u.ID, "Customer call", day.Add(14*time.Hour), day.Add(15*time.Hour+30*time.Minute))
		}
	}
}

// Users returns the ids and UPNs of the users, in order.
func (g *Graph) Users() (ids, upns []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, u := range g.users {
		ids, upns = append(ids, u.ID), append(upns, u.UPN)
	}
	return ids, upns
}

// Inject adds a fault.
func (g *Graph) Inject(f *Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = append(g.faults, f)
}

// ClearFaults removes every fault.
func (g *Graph) ClearFaults() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = nil
}

// Requests returns the requests received so far.
func (g *Graph) Requests() []Recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Recorded(nil), g.recorded...)
}

// ResetRequests forgets the requests received so far.
func (g *Graph) ResetRequests() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.recorded = nil
}

// Cancelled delivers the path of each request whose sender went away
// while a Hang fault held it.
func (g *Graph) Cancelled() <-chan string { return g.cancelled }

// SetTeamsPolicy grants (or withdraws) the Teams application access policy
// for meetings organised by the user (id or UPN). All users hold it by
// default.
func (g *Graph) SetTeamsPolicy(userKey string, granted bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.byKey[strings.ToLower(userKey)]; u != nil {
		g.teamsDenied[u.ID] = !granted
	}
}

// SetGroupMember adds or removes a user from a group.
func (g *Graph) SetGroupMember(groupID, userKey string, member bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.byKey[strings.ToLower(userKey)]
	if u == nil {
		return
	}
	if g.groups[groupID] == nil {
		g.groups[groupID] = map[string]bool{}
	}
	g.groups[groupID][u.ID] = member
}

// TouchUser marks a user changed, so that the next delta round returns it.
func (g *Graph) TouchUser(userKey, jobTitle string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.byKey[strings.ToLower(userKey)]; u != nil {
		g.changes++
		u.modified = g.changes
		u.JobTitle = jobTitle
	}
}

type claimsKey struct{}

func (g *Graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer g.flights.track(r)()
	// The body is kept for the tests, which check what reached Graph;
	// not file content, which may be far larger.
	var body []byte
	if r.Body != nil && !strings.HasSuffix(r.URL.Path, "/content") {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	reqID := newID()
	g.mu.Lock()
	g.recorded = append(g.recorded, Recorded{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
		At: time.Now().UTC(), RequestID: reqID})
	idx := len(g.recorded) - 1
	g.mu.Unlock()
	sr := &statusRecorder{ResponseWriter: w}
	w = sr
	defer func() {
		g.mu.Lock()
		if idx < len(g.recorded) { // ResetRequests may have run meanwhile
			g.recorded[idx].Status = sr.status
		}
		g.mu.Unlock()
	}()

	w.Header().Set("request-id", reqID)
	if c := r.Header.Get("client-request-id"); c != "" {
		w.Header().Set("client-request-id", c)
	}
	if g.applyFault(w, r, idx) {
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		g.unauthorized(w, r, "Access token is empty.")
		return
	}
	claims, err := g.entra.Validate(raw, GraphResource, GraphAppID)
	if err != nil {
		g.unauthorized(w, r, "Access token validation failure. Invalid audience or signature.")
		return
	}
	g.mu.Lock()
	if idx < len(g.recorded) {
		g.recorded[idx].AppID = appOf(claims)
	}
	g.mu.Unlock()
	// As Graph does: answers are compressed when the caller accepts it.
	w, done := Compress(w, r)
	defer done()
	g.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
}

func (g *Graph) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	// Graph's challenge; the proxy must not relay it to callers.
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+g.entra.URL+`/common/oauth2/authorize", client_id="`+GraphAppID+`"`)
	graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}

// applyFault reports whether a fault answered the request.
func (g *Graph) applyFault(w http.ResponseWriter, r *http.Request, idx int) bool {
	_, rest := splitVersion(r.URL.Path)
	g.mu.Lock()
	var f *Fault
	for _, x := range g.faults {
		if (x.Method == "" || x.Method == r.Method) && strings.HasPrefix(rest, x.PathPrefix) && (x.Times == 0 || x.hits < x.Times) {
			x.hits++
			f = x
			break
		}
	}
	g.mu.Unlock()
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Hang:
		<-r.Context().Done()
		g.mu.Lock()
		g.recorded[idx].Cancelled = true
		g.mu.Unlock()
		select {
		case g.cancelled <- r.URL.Path:
		default:
		}
		return true
	case f.Body != "":
		ct, status := f.ContentType, f.Status
		if ct == "" {
			ct = "application/json"
		}
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		io.WriteString(w, f.Body)
		return true
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Challenge != "" {
			w.Header().Set("WWW-Authenticate", f.Challenge)
		}
		code := map[int]string{401: "InvalidAuthenticationToken", 429: "TooManyRequests", 503: "ServiceNotAvailable", 500: "InternalServerError", 504: "UnknownError"}[f.Status]
		if code == "" {
			code = "UnknownError"
		}
		graphError(w, r, f.Status, code, "Injected fault.")
		return true
	case f.ResetMidBody:
		w.Header().Set("Content-Type", odataJSON)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"@odata.context":"` + g.URL + `/v1.0/$metadata#users","value":[{"id":"`))
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	case f.Stream != nil:
		w.Header().Set("Content-Type", odataJSON)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"@odata.context":"`+g.URL+`/v1.0/$metadata#users","value":[{"id":"streamed","padding":"`+
			strings.Repeat("x", f.StreamFirst)+`"}],"first":"done",`)
		http.NewResponseController(w).Flush()
		select {
		case <-f.Stream:
		case <-r.Context().Done():
			return true
		}
		io.WriteString(w, `"@odata.nextLink":"`+g.URL+`/v1.0/users?$skiptoken=streamed"}`)
		return true
	}
	return false
}

const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]string{
			"date":              time.Now().UTC().Format(time.RFC3339),
			"request-id":        w.Header().Get("request-id"),
			"client-request-id": r.Header.Get("client-request-id"),
		},
	}})
}

// writeOData answers v as Graph does: OData JSON, with '&' and '<' left
// unescaped in links.
func writeOData(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", odataJSON)
	w.WriteHeader(status)
	w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func splitVersion(p string) (version, rest string) {
	for _, v := range []string{"v1.0", "beta"} {
		if r, ok := strings.CutPrefix(p, "/"+v); ok && (r == "" || r[0] == '/') {
			return v, r
		}
	}
	return "", p
}

// need reports whether the token holds one of perms, answering 403 if not.
func need(w http.ResponseWriter, r *http.Request, perms ...string) bool {
	claims, _ := r.Context().Value(claimsKey{}).(jwt.MapClaims)
	roles, _ := claims["roles"].([]any)
	for _, have := range roles {
		for _, p := range perms {
			if have == p {
				return true
			}
		}
	}
	graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return false
}

// The app roles (application permissions) that allow each kind of call,
// by the names Graph's service principal gives them: an app-only token
// carries those in roles. Graph has Calendars.ReadBasic as a delegated
// permission only; the app role is Calendars.ReadBasic.All.
var (
	readUsers     = []string{"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}
	readCalendar  = []string{"Calendars.ReadBasic.All", "Calendars.Read", "Calendars.ReadWrite"}
	writeCalendar = []string{"Calendars.ReadWrite"}
	readMembers   = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "User.Read.All"}
)

func (g *Graph) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{version}/users", g.listUsers)
	m.HandleFunc("GET /{version}/users/delta", g.usersDelta)
	m.HandleFunc("GET /{version}/users/delta()", g.usersDelta) // the SDKs' spelling
	m.HandleFunc("GET /{version}/users/{user}", g.getUser)
	m.HandleFunc("POST /{version}/users/{user}/calendar/getSchedule", g.getSchedule)
	m.HandleFunc("GET /{version}/users/{user}/calendarView", g.calendarView)
	m.HandleFunc("GET /{version}/users/{user}/calendar/calendarView", g.calendarView)
	for _, base := range []string{"/{version}/users/{user}/events", "/{version}/users/{user}/calendar/events"} {
		m.HandleFunc("GET "+base, g.listEvents)
		m.HandleFunc("POST "+base, g.createEvent)
		m.HandleFunc("GET "+base+"/{id}", g.getEvent)
		m.HandleFunc("PATCH "+base+"/{id}", g.updateEvent)
		m.HandleFunc("DELETE "+base+"/{id}", g.deleteEvent)
	}
	m.HandleFunc("POST /{version}/users/{user}/events/{id}/attachments/createUploadSession", g.createUploadSession)
	g.eventActionRoutes(m)
	m.HandleFunc("POST /{version}/users/{user}/onlineMeetings", g.createMeeting)
	m.HandleFunc("GET /{version}/users/{user}/onlineMeetings/{id}", g.getMeeting)
	m.HandleFunc("POST /{version}/users/{user}/checkMemberGroups", g.checkMemberGroups)
	m.HandleFunc("POST /{version}/$batch", g.batch)
	g.mailRoutes(m)
	g.directoryRoutes(m)
	g.delegatedRoutes(m)
	g.fileRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+lastSegment(r.URL.Path)+"'.")
	})
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if v, _ := splitVersion(r.URL.Path); v == "" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid version.")
			return
		}
		m.ServeHTTP(w, r)
	})
}

func lastSegment(p string) string { return p[strings.LastIndex(p, "/")+1:] }

// authorize checks that the token holds one of perms and resolves the
// path's {user}; it answers 403 or 404 itself and then returns nil.
func (g *Graph) authorize(w http.ResponseWriter, r *http.Request, perms ...string) *user {
	if !need(w, r, perms...) {
		return nil
	}
	return g.lookup(w, r)
}

func (g *Graph) lookup(w http.ResponseWriter, r *http.Request) *user {
	key := r.PathValue("user")
	g.mu.Lock()
	u := g.byKey[strings.ToLower(key)]
	g.mu.Unlock()
	if u == nil {
		graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
	}
	return u
}

func (u *user) json() map[string]any {
	return map[string]any{
		"id": u.ID, "displayName": u.DisplayName, "givenName": u.GivenName, "surname": u.Surname,
		"userPrincipalName": u.UPN, "mail": u.UPN, "jobTitle": u.JobTitle,
		"businessPhones": []string{}, "preferredLanguage": "en-US",
	}
}

// selectFields applies $select.
func selectFields(r *http.Request, m map[string]any) map[string]any {
	sel := r.URL.Query().Get("$select")
	if sel == "" {
		return m
	}
	out := map[string]any{}
	for f := range strings.SplitSeq(sel, ",") {
		if v, ok := m[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	if id, ok := m["id"]; ok {
		out["id"] = id
	}
	return out
}

// page slices items by $top and $skiptoken and returns the page with an
// absolute nextLink when more remain. The skip token is base64 with
// padding, percent-encoded as Graph's are, so link bytes matter.
func (g *Graph) page(w http.ResponseWriter, r *http.Request, context string, items []map[string]any) (map[string]any, bool) {
	q := r.URL.Query()
	top := g.pageSize
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return nil, false
		}
		top = n
	}
	skip := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.StdEncoding.DecodeString(tok)
		if err == nil {
			skip, err = strconv.Atoi(strings.TrimPrefix(string(b), "skip:"))
		}
		if err != nil || skip < 0 {
			graphError(w, r, http.StatusBadRequest, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
			return nil, false
		}
	}
	skip = min(skip, len(items))
	end := min(skip+top, len(items))
	out := map[string]any{"@odata.context": g.URL + "/" + r.PathValue("version") + "/$metadata#" + context, "value": items[skip:end]}
	if end < len(items) {
		next := url.Values{}
		for k, v := range q {
			if k != "$skiptoken" {
				next[k] = v
			}
		}
		tok := base64.StdEncoding.EncodeToString([]byte("skip:" + strconv.Itoa(end)))
		raw := strings.ReplaceAll(next.Encode(), "%24", "$")
		if raw != "" {
			raw += "&"
		}
		out["@odata.nextLink"] = g.URL + r.URL.EscapedPath() + "?" + raw + "$skiptoken=" + url.QueryEscape(tok)
	}
	return out, true
}
