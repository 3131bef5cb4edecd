package graphsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"
)

const graphTime = "2006-01-02T15:04:05.0000000"

// dateTimeTimeZone is Graph's {dateTime, timeZone}. The simulator keeps
// every time in UTC and reads other zones as UTC.
type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

func (d dateTimeTimeZone) time() (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, d.DateTime); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid dateTime %q", d.DateTime)
}

func dtz(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format(graphTime), "timeZone": "UTC"}
}

// addEvent stores an event; the caller holds g.mu or is seeding.
func (g *Graph) addEvent(userID, subject string, start, end time.Time) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	ev := map[string]any{
		"id":                   "AAMk" + strings.ReplaceAll(newID(), "-", ""),
		"@odata.etag":          `W/"` + newID()[:8] + `"`,
		"subject":              subject,
		"start":                dtz(start),
		"end":                  dtz(end),
		"showAs":               "busy",
		"isOnlineMeeting":      false,
		"attendees":            []any{},
		"organizer":            nil,
		"createdDateTime":      now,
		"lastModifiedDateTime": now,
	}
	if u := g.byKey[strings.ToLower(userID)]; u != nil {
		// The calendar's owner organizes what is created in it.
		ev["organizer"] = recipient(u.UPN)
	}
	g.events[userID] = append(g.events[userID], ev)
	return ev
}

// Event is an event to put in a simulated calendar: its organizer and
// attendees as addresses (an empty Organizer is the calendar's owner).
type Event struct {
	Subject    string
	Organizer  string
	Attendees  []string
	Start, End time.Time
}

// AddEvent puts an event in the calendar of the user (id or UPN) and
// returns its id; "" for an unknown user.
func (g *Graph) AddEvent(userKey string, e Event) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.byKey[strings.ToLower(userKey)]
	if u == nil {
		return ""
	}
	if e.Start.IsZero() {
		e.Start = time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
		e.End = e.Start.Add(time.Hour)
	}
	ev := g.addEvent(u.ID, e.Subject, e.Start, e.End)
	if e.Organizer != "" {
		ev["organizer"] = recipient(e.Organizer)
	}
	attendees := []any{}
	for _, a := range e.Attendees {
		at := recipient(a)
		at["type"] = "required"
		at["status"] = map[string]any{"response": "none", "time": "0001-01-01T00:00:00Z"}
		attendees = append(attendees, at)
	}
	ev["attendees"] = attendees
	return ev["id"].(string)
}

// eventActionRoutes are an event's cancel and responses: Graph answers
// 202 and sends the mail (the cancellation to the attendees, the response
// to the organizer) itself.
func (g *Graph) eventActionRoutes(m *http.ServeMux) {
	for _, base := range []string{"/{version}/users/{user}/events/{id}/", "/{version}/users/{user}/calendar/events/{id}/"} {
		for _, action := range []string{"cancel", "accept", "decline", "tentativelyAccept"} {
			m.HandleFunc("POST "+base+action, g.eventAction(action))
		}
	}
}

func (g *Graph) eventAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := g.authorize(w, r, writeCalendar...)
		if u == nil {
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body.")
			return
		}
		if len(body) > 0 {
			var v map[string]any
			if !readBodyBytes(w, r, body, &v) {
				return
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		i := g.findEvent(w, r, u)
		if i < 0 {
			return
		}
		if action == "cancel" {
			// Cancelled: gone from the organizer's calendar.
			g.events[u.ID] = slices.Delete(g.events[u.ID], i, i+1)
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func eventSpan(ev map[string]any) (time.Time, time.Time, bool) {
	var s, e dateTimeTimeZone
	if !decodeInto(ev["start"], &s) || !decodeInto(ev["end"], &e) {
		return time.Time{}, time.Time{}, false
	}
	st, err1 := s.time()
	et, err2 := e.time()
	return st, et, err1 == nil && err2 == nil
}

func decodeInto(v any, out any) bool {
	b, err := json.Marshal(v)
	return err == nil && json.Unmarshal(b, out) == nil
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(v); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return false
	}
	return true
}

func readBodyBytes(w http.ResponseWriter, r *http.Request, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		return false
	}
	return true
}

func (g *Graph) getSchedule(w http.ResponseWriter, r *http.Request) {
	if g.authorize(w, r, readCalendar...) == nil {
		return
	}
	var body struct {
		Schedules                []string         `json:"schedules"`
		StartTime                dateTimeTimeZone `json:"startTime"`
		EndTime                  dateTimeTimeZone `json:"endTime"`
		AvailabilityViewInterval int              `json:"availabilityViewInterval"`
	}
	if !readBody(w, r, &body) {
		return
	}
	start, err1 := body.StartTime.time()
	end, err2 := body.EndTime.time()
	if err1 != nil || err2 != nil || !end.After(start) || len(body.Schedules) == 0 || len(body.Schedules) > 100 {
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "schedules (1 to 100), startTime and endTime (after startTime) are required.")
		return
	}
	interval := body.AvailabilityViewInterval
	if interval == 0 {
		interval = 30
	}
	if interval < 5 || interval > 1440 {
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "availabilityViewInterval must be between 5 and 1440.")
		return
	}
	step := time.Duration(interval) * time.Minute
	g.mu.Lock()
	defer g.mu.Unlock()
	var value []any
	for _, id := range body.Schedules {
		u := g.byKey[strings.ToLower(id)]
		if u == nil {
			value = append(value, map[string]any{"scheduleId": id, "availabilityView": "",
				"error": map[string]any{"message": "The mailbox was not found.", "responseCode": "ErrorMailboxNotFound"}})
			continue
		}
		var view strings.Builder
		var items []any
		for _, ev := range g.events[u.ID] {
			s, e, ok := eventSpan(ev)
			if ok && s.Before(end) && e.After(start) {
				items = append(items, map[string]any{"isPrivate": false, "status": ev["showAs"], "subject": ev["subject"],
					"location": "", "isMeeting": true, "start": dtz(s), "end": dtz(e)})
			}
		}
		for t := start; t.Before(end); t = t.Add(step) {
			slot := byte('0')
			for _, ev := range g.events[u.ID] {
				if s, e, ok := eventSpan(ev); ok && s.Before(t.Add(step)) && e.After(t) {
					slot = '2'
				}
			}
			view.WriteByte(slot)
		}
		value = append(value, map[string]any{
			"scheduleId": id, "availabilityView": view.String(), "scheduleItems": items,
			"workingHours": map[string]any{
				"daysOfWeek": []string{"monday", "tuesday", "wednesday", "thursday", "friday"},
				"startTime":  "08:00:00.0000000", "endTime": "17:00:00.0000000",
				"timeZone": map[string]string{"name": "UTC"},
			},
		})
	}
	writeOData(w, http.StatusOK, map[string]any{
		"@odata.context": g.URL + "/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)", "value": value,
	})
}

func (g *Graph) listEvents(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, readCalendar...)
	if u == nil {
		return
	}
	g.pageEvents(w, r, u, "events", func(map[string]any) bool { return true })
}

// pageEvents answers one page of the user's events that keep accepts.
func (g *Graph) pageEvents(w http.ResponseWriter, r *http.Request, u *user, set string, keep func(map[string]any) bool) {
	g.mu.Lock()
	items := make([]map[string]any, 0, len(g.events[u.ID]))
	for _, ev := range g.events[u.ID] {
		if keep(ev) {
			items = append(items, selectFields(r, ev))
		}
	}
	g.mu.Unlock()
	if out, ok := g.page(w, r, "users('"+u.ID+"')/"+set, items); ok {
		writeOData(w, http.StatusOK, out)
	}
}

func (g *Graph) calendarView(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, readCalendar...)
	if u == nil {
		return
	}
	q := r.URL.Query()
	start, err1 := dateTimeTimeZone{DateTime: strings.TrimSuffix(q.Get("startDateTime"), "Z")}.time()
	end, err2 := dateTimeTimeZone{DateTime: strings.TrimSuffix(q.Get("endDateTime"), "Z")}.time()
	if err1 != nil || err2 != nil {
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return
	}
	g.pageEvents(w, r, u, "calendarView", func(ev map[string]any) bool {
		s, e, ok := eventSpan(ev)
		return ok && s.Before(end) && e.After(start)
	})
}

func (g *Graph) createEvent(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, writeCalendar...)
	if u == nil {
		return
	}
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	s, e, ok := eventSpan(body)
	if !ok || !e.After(s) {
		graphError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", "The event needs start and end, with end after start.")
		return
	}
	subject, _ := body["subject"].(string)
	g.mu.Lock()
	ev := g.addEvent(u.ID, subject, s, e)
	for k, v := range body {
		if _, fixed := ev[k]; !fixed || k == "showAs" || k == "isOnlineMeeting" || k == "attendees" {
			ev[k] = v
		}
	}
	if online, _ := ev["isOnlineMeeting"].(bool); online {
		ev["onlineMeeting"] = map[string]any{"joinUrl": "https://teams.microsoft.com/l/meetup-join/" + newID()}
		ev["onlineMeetingProvider"] = "teamsForBusiness"
	}
	out := clone(ev)
	g.mu.Unlock()
	w.Header().Set("Location", g.URL+"/"+r.PathValue("version")+"/users('"+u.ID+"')/events('"+out["id"].(string)+"')")
	out["@odata.context"] = g.URL + "/" + r.PathValue("version") + "/$metadata#users('" + u.ID + "')/events/$entity"
	writeOData(w, http.StatusCreated, out)
}

// findEvent returns the index of the event in the user's calendar; it
// answers 404 itself. The caller holds g.mu.
func (g *Graph) findEvent(w http.ResponseWriter, r *http.Request, u *user) int {
	id := r.PathValue("id")
	i := slices.IndexFunc(g.events[u.ID], func(ev map[string]any) bool { return ev["id"] == id })
	if i < 0 {
		graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return i
}

func (g *Graph) getEvent(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, readCalendar...)
	if u == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.findEvent(w, r, u); i >= 0 {
		writeOData(w, http.StatusOK, selectFields(r, g.events[u.ID][i]))
	}
}

func (g *Graph) updateEvent(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, writeCalendar...)
	if u == nil {
		return
	}
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.findEvent(w, r, u)
	if i < 0 {
		return
	}
	ev := g.events[u.ID][i]
	for k, v := range body {
		if k != "id" && !strings.HasPrefix(k, "@odata") {
			ev[k] = v
		}
	}
	ev["lastModifiedDateTime"] = time.Now().UTC().Format(time.RFC3339)
	ev["@odata.etag"] = `W/"` + newID()[:8] + `"`
	writeOData(w, http.StatusOK, ev)
}

func (g *Graph) deleteEvent(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, writeCalendar...)
	if u == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.findEvent(w, r, u); i >= 0 {
		g.events[u.ID] = slices.Delete(g.events[u.ID], i, i+1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// createUploadSession answers with a pre-authenticated upload URL on a host
// other than Graph, as Outlook does for large attachments.
func (g *Graph) createUploadSession(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, writeCalendar...)
	if u == nil {
		return
	}
	g.mu.Lock()
	i := g.findEvent(w, r, u)
	g.mu.Unlock()
	if i < 0 {
		return
	}
	writeOData(w, http.StatusCreated, map[string]any{
		"@odata.context":     g.URL + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          "https://outlook.office.example/api/v2.0/Users('" + u.ID + "')/Messages('x')/AttachmentSessions('" + newID() + "')?authtoken=sim",
		"expirationDateTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"nextExpectedRanges": []string{"0-"},
	})
}

func (g *Graph) createMeeting(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, "OnlineMeetings.ReadWrite.All")
	if u == nil {
		return
	}
	var body map[string]any
	if !readBody(w, r, &body) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.teamsDenied[u.ID] {
		graphError(w, r, http.StatusForbidden, "Forbidden", "No application access policy found for this app.")
		return
	}
	m := map[string]any{
		"id":               "MSo" + strings.ReplaceAll(newID(), "-", ""),
		"joinWebUrl":       "https://teams.microsoft.com/l/meetup-join/" + newID(),
		"creationDateTime": time.Now().UTC().Format(time.RFC3339),
		"participants":     map[string]any{"organizer": map[string]any{"identity": map[string]any{"user": map[string]any{"id": u.ID}}}},
	}
	for _, k := range []string{"subject", "startDateTime", "endDateTime"} {
		if v, ok := body[k]; ok {
			m[k] = v
		}
	}
	g.meetings[u.ID] = append(g.meetings[u.ID], m)
	writeOData(w, http.StatusCreated, m)
}

func (g *Graph) getMeeting(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, "OnlineMeetings.Read.All", "OnlineMeetings.ReadWrite.All")
	if u == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.meetings[u.ID] {
		if m["id"] == r.PathValue("id") {
			writeOData(w, http.StatusOK, m)
			return
		}
	}
	graphError(w, r, http.StatusNotFound, "NotFound", "The online meeting was not found.")
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// batchRequest is one sub-request of a JSON batch.
type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batch runs up to 20 sub-requests in order through the same handlers,
// with the batch's token.
func (g *Graph) batch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Requests []batchRequest `json:"requests"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if len(body.Requests) == 0 || len(body.Requests) > 20 {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "A batch request must contain between 1 and 20 requests.")
		return
	}
	seen := map[string]int{}
	for _, sr := range body.Requests {
		if sr.ID == "" || sr.Method == "" || sr.URL == "" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Each batch request needs id, method and url.")
			return
		}
		if _, dup := seen[sr.ID]; dup {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Batch request ids must be unique: '"+sr.ID+"'.")
			return
		}
		if strings.Contains(sr.URL, "://") {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Batch request urls must be relative: '"+sr.ID+"'.")
			return
		}
		seen[sr.ID] = 0
	}
	version := r.PathValue("version")
	var out []batchResponse
	for _, sr := range body.Requests {
		failedDep := false
		for _, d := range sr.DependsOn {
			if st, ok := seen[d]; !ok || st == 0 || st >= 400 {
				failedDep = true
			}
		}
		var resp batchResponse
		if failedDep {
			resp = batchResponse{ID: sr.ID, Status: http.StatusFailedDependency, Body: json.RawMessage(`{"error":{"code":"FailedDependency","message":"A dependency failed."}}`)}
		} else {
			resp = g.runSub(r, version, sr)
		}
		seen[sr.ID] = resp.Status
		out = append(out, resp)
	}
	writeOData(w, http.StatusOK, map[string]any{"responses": out})
}

func (g *Graph) runSub(outer *http.Request, version string, sr batchRequest) batchResponse {
	path := "/" + version + "/" + strings.TrimPrefix(sr.URL, "/")
	var body io.Reader = http.NoBody
	if len(sr.Body) > 0 {
		body = bytes.NewReader(sr.Body)
	}
	sub, err := http.NewRequestWithContext(outer.Context(), sr.Method, path, body)
	if err != nil || strings.HasSuffix(sub.URL.Path, "/$batch") {
		return batchResponse{ID: sr.ID, Status: http.StatusBadRequest, Body: json.RawMessage(`{"error":{"code":"BadRequest","message":"Invalid batch sub-request."}}`)}
	}
	for k, v := range sr.Headers {
		sub.Header.Set(k, v)
	}
	if len(sr.Body) > 0 && sub.Header.Get("Content-Type") == "" {
		sub.Header.Set("Content-Type", "application/json")
	}
	sub.Header.Set("Authorization", outer.Header.Get("Authorization"))
	g.mu.Lock()
	g.recorded = append(g.recorded, Recorded{Method: sub.Method, Path: sub.URL.EscapedPath(), RawQuery: sub.URL.RawQuery, Header: sub.Header.Clone(), Body: sr.Body, Batch: true})
	idx := len(g.recorded) - 1
	g.mu.Unlock()
	rec := httptest.NewRecorder()
	if !g.applyFault(rec, sub, idx) {
		g.mux.ServeHTTP(rec, sub)
	}
	resp := batchResponse{ID: sr.ID, Status: rec.Code, Headers: map[string]string{}}
	for _, h := range []string{"Content-Type", "Location", "Retry-After", "ETag"} {
		if v := rec.Header().Get(h); v != "" {
			resp.Headers[h] = v
		}
	}
	if b := rec.Body.Bytes(); len(b) > 0 {
		if json.Valid(b) {
			resp.Body = b
		} else {
			enc, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
			resp.Body = enc
		}
	}
	return resp
}
