package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// BenchmarkCallEventCreate is the load benchmark's (bench/) heavier call
// through the handler, Graph and the network replaced by functions: an
// event of about 2 KB created, Graph's answer the event back (201). Its
// body names people, so it is read whole and walked.
func BenchmarkCallEventCreate(b *testing.B) {
	h := benchHandlerWith(b, createBenchPolicy, func(o *proxy.Options) {
		o.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			return &http.Response{StatusCode: 201, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, ContentLength: int64(len(body)),
				Header: http.Header{"Content-Type": {"application/json; odata.metadata=minimal"}, "Content-Length": {strconv.Itoa(len(body))},
					"Request-Id": {"0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d"}},
				Body: io.NopCloser(bytes.NewReader(body))}, nil
		})
	})
	event := []byte(`{"subject":"Onboarding consultation","body":{"contentType":"HTML","content":"` + strings.Repeat("Agenda: introductions, goals, next steps. ", 38) +
		`"},"start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00","timeZone":"UTC"},"location":{"displayName":"Online"},` +
		`"attendees":[{"emailAddress":{"address":"client@fabrikam.example","name":"Client"},"type":"required"}],"isOnlineMeeting":false,"transactionId":"7E163156-7762-4BEB-A1C6-729EA81755A7"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(event)))
	for b.Loop() {
		req := httptest.NewRequest("POST", "https://gp.contoso.example/v1.0/users/user1@contoso.example/events", bytes.NewReader(event))
		req.Header.Set("Authorization", "Bearer vendor-token")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 201 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

const createBenchPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadWrite]
rules:
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite }
`
