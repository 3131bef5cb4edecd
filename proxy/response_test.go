package proxy_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// sectionPolicy gives the users rules response sections: the list keeps
// ids and names, a user read redacts jobTitle and pseudonymises mail.
const sectionPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [User.ReadBasic.All]
rules:
  - id: users-list
    method: GET
    path: "/users"
    query: [$top]
    permission: User.ReadBasic.All
    response: { fields: [id, displayName] }
  - id: user-get
    method: GET
    path: "/users/{user}"
    permission: User.ReadBasic.All
    response: { redact: [jobTitle], pseudonymise: [mail] }
`

// TestResponseSection: through the real handler, an answer is filtered,
// its links rewritten in the same pass, and its record says which section
// applied and what it did; an error answer keeps Graph's error shape.
func TestResponseSection(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: sectionPolicy, PseudonymKey: strings.Repeat("k", 40)})
	resp := e.Do("GET", "/v1.0/users?$top=3", nil)
	var page struct {
		Value []map[string]any `json:"value"`
		Next  string           `json:"@odata.nextLink"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(page.Value) != 3 || !strings.HasPrefix(page.Next, e.Server.URL+"/v1.0/users?") {
		t.Fatalf("status %d, %d users, nextLink %q", resp.StatusCode, len(page.Value), page.Next)
	}
	for _, u := range page.Value {
		if len(u) != 2 || u["id"] == nil || u["displayName"] == nil {
			t.Errorf("user %v; want id and displayName only", u)
		}
	}
	if r := e.Record(resp); r.Response == nil || r.Response.Rule != "users-list" || r.Response.Removed != 3*7 || r.Response.Pseudonymised != 0 {
		t.Errorf("record's response %+v", r.Response)
	}

	_, upns := e.Sim.Graph.Users()
	resp = e.Do("GET", "/v1.0/users/"+upns[1], nil)
	var user map[string]any
	json.NewDecoder(resp.Body).Decode(&user)
	resp.Body.Close()
	if _, ok := user["jobTitle"]; ok || user["mail"] == upns[1] || user["displayName"] == nil {
		t.Errorf("user %v; want jobTitle removed, mail pseudonymised", user)
	}
	if r := e.Record(resp); r.Response == nil || r.Response.Rule != "user-get" || r.Response.Removed != 1 || r.Response.Pseudonymised != 1 {
		t.Errorf("record's response %+v", r.Response)
	}

	resp = e.Do("GET", "/v1.0/users/nobody@"+graphsim.Domain, nil)
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != 404 || ge.Error.Code != "Request_ResourceNotFound" || ge.Error.InnerError.RequestID == "" {
		t.Errorf("an error answer: %d %+v", resp.StatusCode, ge)
	}
}

// TestResponseFailsClosed: an answer the section cannot filter is never
// relayed: 502 graphProxy.answerWithheld, in Graph's shape and audited,
// when it is found before the answer's first bytes leave; a long answer
// found unfilterable later is cut before its end.
func TestResponseFailsClosed(t *testing.T) {
	long := `{"value":[{"id":"1","displayName":"` + strings.Repeat("x", 300<<10) + `","jobTitle":"secret"}]`
	tests := []struct {
		name  string
		fault graphsim.Fault
	}{
		{name: "HTML", fault: graphsim.Fault{Body: "<html>Service unavailable</html>", ContentType: "text/html"}},
		{name: "a list", fault: graphsim.Fault{Body: `[{"id":"1","jobTitle":"secret"}]`}},
		{name: "a string", fault: graphsim.Fault{Body: `"eyJzZWNyZXQiOiJ4In0="`}},
		{name: "cut short", fault: graphsim.Fault{Body: `{"value":[{"id":"1","jobTitle":"secret"}`}},
		{name: "two documents", fault: graphsim.Fault{Body: `{"value":[]}{"value":[{"jobTitle":"secret"}]}`}},
		{name: "long, malformed at its end", fault: graphsim.Fault{Body: long + `,}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{Policy: sectionPolicy})
			f := tt.fault
			f.PathPrefix, f.Times = "/users", 1
			e.Sim.Graph.Inject(&f)
			resp := e.Do("GET", "/v1.0/users", nil)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte("secret")) {
				t.Fatalf("a removed property reached the caller: %.200q", body)
			}
			r := e.Record(resp)
			if !strings.Contains(r.Error, "answer withheld") || r.UpstreamStatus != 200 {
				t.Errorf("record status %d upstream %d error %q", r.Status, r.UpstreamStatus, r.Error)
			}
			if len(body) < 200<<10 {
				var ge proxytest.GraphError
				json.Unmarshal(body, &ge)
				if err != nil || resp.StatusCode != http.StatusBadGateway || ge.Error.Code != "graphProxy.answerWithheld" || r.Status != 502 {
					t.Errorf("got %d %.200q, %v; want 502 graphProxy.answerWithheld", resp.StatusCode, body, err)
				}
				return
			}
			if err == nil || json.Valid(body) {
				t.Errorf("a long unfilterable answer ended cleanly (%v) or whole", err)
			}
		})
	}
}

// TestResponseStreamedAndCompressed: an answer longer than the proxy
// reads whole goes through the filter as it arrives, compressed by Graph
// or not: filtered down to little, it leaves whole with its length; still
// long, it streams on.
func TestResponseStreamedAndCompressed(t *testing.T) {
	redactOnly := strings.Replace(sectionPolicy, "response: { fields: [id, displayName] }", "response: { redact: [first] }", 1)
	for _, tt := range []struct {
		name       string
		policy     string
		compressed bool
		streamed   bool
	}{
		{name: "reduced", policy: sectionPolicy},
		{name: "reduced, compressed", policy: sectionPolicy, compressed: true},
		{name: "still long", policy: redactOnly, streamed: true},
		{name: "still long, compressed", policy: redactOnly, compressed: true, streamed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := proxytest.New(t, proxytest.Options{Policy: tt.policy, GraphCompression: tt.compressed})
			gate := make(chan struct{})
			close(gate)
			e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Stream: gate, StreamFirst: 300 << 10, Times: 1})
			resp := e.Do("GET", "/v1.0/users", nil)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			var page struct {
				Value []map[string]any `json:"value"`
				First *string          `json:"first"`
				Next  string           `json:"@odata.nextLink"`
			}
			if err != nil || json.Unmarshal(body, &page) != nil {
				t.Fatalf("%v: %.200q", err, body)
			}
			if streamed := resp.ContentLength == -1; streamed != tt.streamed || !streamed && resp.ContentLength != int64(len(body)) {
				t.Errorf("length %d for %d bytes; want streamed %v", resp.ContentLength, len(body), tt.streamed)
			}
			if len(page.Value) != 1 || page.Value[0]["id"] != "streamed" || page.First != nil || page.Next != e.Server.URL+"/v1.0/users?$skiptoken=streamed" {
				t.Errorf("page %.300s", body)
			}
			if r := e.Record(resp); r.Response == nil || r.Response.Removed == 0 || r.Error != "" {
				t.Errorf("record %+v error %q", r.Response, r.Error)
			}
		})
	}
}

// TestPseudonymKeyMissing: a call whose answer would be pseudonymised, and
// no key: refused before Graph is asked, 503 and audited.
func TestPseudonymKeyMissing(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: sectionPolicy})
	_, upns := e.Sim.Graph.Users()
	resp := e.Do("GET", "/v1.0/users/"+upns[0], nil)
	ge := proxytest.DecodeError(t, resp)
	if resp.StatusCode != 503 || ge.Error.Code != "graphProxy.pseudonymKeyUnavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("got %d %+v", resp.StatusCode, ge)
	}
	if n := len(e.Sim.Graph.Requests()); n != 0 {
		t.Errorf("Graph received %d requests", n)
	}
	if r := e.Record(resp); r.Status != 503 || !strings.Contains(r.Error, "pseudonym key unavailable") || r.Response != nil {
		t.Errorf("record %+v", r)
	}
}
