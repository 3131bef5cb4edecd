package response_test

import (
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// The signed-in user's object id, as Graph writes it into the context of
// a delegated /me call.
const meID = "48d31887-5fad-4d73-a9f5-3c356e68a038"

const ctxBase = "https://graph.microsoft.com/v1.0/$metadata#"

// TestFilterControlAnnotations: under a section, the control annotations
// the SDKs need are kept, but carry no key or value Graph wrote into
// them: a context's key predicates are removed, and a context, type or
// etag of another shape is null; an annotation of a property that names
// its entity is removed. Without a section, nothing changes.
func TestFilterControlAnnotations(t *testing.T) {
	pseudoID := section(t, nil, nil, nil, []string{"id"})
	fields := section(t, []string{"subject"}, nil, nil, nil)
	tests := []struct {
		name    string
		section *policy.Response
		in      string
		want    string
		counts  response.Counts
	}{
		{
			name:    "/me/events: the user's id removed from the context",
			section: pseudoID,
			in:      `{"@odata.context":"` + ctxBase + `users('` + meID + `')/events","value":[{"id":"AAMkAG1=","subject":"s"}]}`,
			want:    `{"@odata.context":"` + ctxBase + `users/events","value":[{"id":"` + ps("AAMkAG1=") + `","subject":"s"}]}`,
			counts:  response.Counts{Pseudonymised: 1},
		},
		{
			name:    "/me: an $entity's key, and a select list kept",
			section: fields,
			in:      `{"@odata.context":"` + ctxBase + `users('` + meID + `')/events(subject,start)/$entity","subject":"s","id":"x"}`,
			want:    `{"@odata.context":"` + ctxBase + `users/events(subject,start)/$entity","subject":"s"}`,
			counts:  response.Counts{Removed: 1},
		},
		{
			name:    "a key resolved from a user principal name, quoted quotes, numbers and named keys",
			section: fields,
			in:      `{"@odata.context":"` + ctxBase + `users('o''brien%40contoso.example')/drive/items(5)/x(a='1',b=2)/children","value":[]}`,
			want:    `{"@odata.context":"` + ctxBase + `users/drive/items/x/children","value":[]}`,
		},
		{
			name:    "names kept: Collection's type, an expansion, a function's parentheses",
			section: section(t, nil, nil, []string{"body"}, nil),
			in:      `{"@odata.context":"` + ctxBase + `Collection(microsoft.graph.event)","a":{"@odata.context":"` + ctxBase + `users(id,manager(id,*))/delta()","subject":"s"},"body":"b"}`,
			want:    `{"@odata.context":"` + ctxBase + `Collection(microsoft.graph.event)","a":{"@odata.context":"` + ctxBase + `users(id,manager(id,*))/delta()","subject":"s"}}`,
			counts:  response.Counts{Removed: 1},
		},
		{
			name:    "expanded and delta: nested contexts and property contexts",
			section: section(t, []string{"id", "manager", "value"}, nil, nil, []string{"id"}),
			in: `{"@odata.context":"` + ctxBase + `users('` + meID + `')","id":"` + meID + `","manager@odata.context":"` + ctxBase + `users('` + meID + `')/manager/$entity",` +
				`"manager":{"@odata.context":"` + ctxBase + `users('` + meID + `')/manager/$entity","@odata.type":"#microsoft.graph.user","@odata.id":"users('` + meID + `')/manager","id":"m"}}`,
			want: `{"@odata.context":"` + ctxBase + `users","id":"` + ps(meID) + `","manager@odata.context":"` + ctxBase + `users/manager/$entity",` +
				`"manager":{"@odata.context":"` + ctxBase + `users/manager/$entity","@odata.type":"#microsoft.graph.user","id":"m"}}`,
			counts: response.Counts{Removed: 1, Pseudonymised: 1},
		},
		{
			name:    "a key as a segment, a stray quote, escapes, no $metadata: null",
			section: section(t, nil, nil, []string{"v"}, nil),
			in: `{"v":1,"@odata.context":"` + ctxBase + `users/` + meID + `/events","subject":"s","x":{"@odata.context":"` + ctxBase + `users'x'"},` +
				`"y":{"@odata.context":"` + ctxBase + `users(\u0027` + meID + `')"}}`,
			want:   `{"@odata.context":null,"subject":"s","x":{"@odata.context":null},"y":{"@odata.context":null}}`,
			counts: response.Counts{Removed: 4},
		},
		{
			name:    "a context that is not a context: null",
			section: fields,
			in:      `{"@odata.context":"AdeleV@contoso.example","subject":"s"}`,
			want:    `{"@odata.context":null,"subject":"s"}`,
			counts:  response.Counts{Removed: 1},
		},
		{
			name:    "an unbalanced group: null",
			section: fields,
			in:      `{"@odata.context":"` + ctxBase + `users('` + meID + `'/events","subject":"s"}`,
			want:    `{"@odata.context":null,"subject":"s"}`,
			counts:  response.Counts{Removed: 1},
		},
		{
			name:    "a type and an etag of Graph's shapes kept",
			section: fields,
			in: `{"@odata.type":"#microsoft.graph.event","@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","subject":"s",` +
				`"value":[{"@odata.type":"#Collection(microsoft.graph.attendee)","@odata.etag":"\"{6B1A8EAF-7D0B-4DB8-9A34-9B7D2C3E4F50},2\""}]}`,
			want: `{"@odata.type":"#microsoft.graph.event","@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","subject":"s",` +
				`"value":[{"@odata.type":"#Collection(microsoft.graph.attendee)","@odata.etag":"\"{6B1A8EAF-7D0B-4DB8-9A34-9B7D2C3E4F50},2\""}]}`,
		},
		{
			name:    "a type or etag carrying data: null",
			section: fields,
			in: `{"@odata.type":"#AdeleV@contoso.example","@odata.etag":"W/\"Adele Vance\"","subject":"s","value":[` +
				`{"@odata.type":"#microsoft.graph.user\u0000x","@odata.etag":"W/\"a\\u0041\""},{"@odata.etag":"` + strings.Repeat("A", 300) + `"}]}`,
			want:   `{"@odata.type":null,"@odata.etag":null,"subject":"s","value":[{"@odata.type":null,"@odata.etag":null},{"@odata.etag":null}]}`,
			counts: response.Counts{Removed: 5},
		},
		{
			name:    "control annotations of an unexpected kind removed",
			section: fields,
			in: `{"@odata.context":{"x":"AdeleV@contoso.example"},"@odata.type":["#a"],"@odata.etag":5,"@odata.count":"AdeleV","@odata.nextLink":{"u":1},"subject":"s",` +
				`"value":[{"@removed":{"reason":"deleted","mail":"AdeleV@contoso.example"}},{"@removed":"AdeleV"},{"@odata.type":null}]}`,
			want:   `{"subject":"s","value":[{"@removed":{"reason":"deleted"}},{},{}]}`,
			counts: response.Counts{Removed: 8},
		},
		{
			name:    "a property's annotations naming its entity removed, its type and delta kept",
			section: section(t, []string{"photo", "members", "attendees"}, nil, nil, nil),
			in: `{"photo@odata.mediaReadLink":"https://graph.microsoft.com/v1.0/users('` + meID + `')/photo/$value","members@odata.navigationLink":"users('` + meID + `')/members",` +
				`"members@odata.associationLink":"users('` + meID + `')/members/$ref","attendees@odata.type":"#Collection(microsoft.graph.attendee)","members@delta":[{"id":"1"}],"photo":{}}`,
			want:   `{"attendees@odata.type":"#Collection(microsoft.graph.attendee)","members@delta":[{"id":"1"}],"photo":{}}`,
			counts: response.Counts{Removed: 3},
		},
		{
			name:    "a property's @delta and @removed under the property's section",
			section: section(t, nil, nil, nil, []string{"members.id"}),
			in:      `{"members@delta":[{"id":"1","@removed":{"reason":"deleted","id":"2"}}],"members@removed":{"reason":"changed","x":1}}`,
			want:    `{"members@delta":[{"id":"` + ps("1") + `","@removed":{"reason":"deleted"}}],"members@removed":{"reason":"changed"}}`,
			counts:  response.Counts{Removed: 2, Pseudonymised: 1},
		},
		{
			name:    "a context too long to hold: null",
			section: fields,
			in:      `{"@odata.context":"` + ctxBase + `users(` + strings.Repeat("a", 17<<10) + `)","subject":"s"}`,
			want:    `{"@odata.context":null,"subject":"s"}`,
			counts:  response.Counts{Removed: 1},
		},
		{
			name:    "without a section, the context is Graph's",
			section: nil,
			in:      `{"@odata.context":"` + ctxBase + `users('` + meID + `')/events","@odata.type":"#x y","value":[]}`,
			want:    `{"@odata.context":"` + ctxBase + `users('` + meID + `')/events","@odata.type":"#x y","value":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, counts, err := filter(t, tt.in, response.Options{Response: tt.section, Status: 200, Key: key, Links: links})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if counts != tt.counts {
				t.Errorf("counts %+v; want %+v", counts, tt.counts)
			}
		})
	}
}

// TestFilterBatchControlAnnotations: a sub-response a section filters has
// its context's keys removed; one no section filters is passed as is.
func TestFilterBatchControlAnnotations(t *testing.T) {
	events := section(t, nil, nil, nil, []string{"id"})
	o := response.Options{Batch: map[string]*policy.Response{"1": events, "2": nil}, Status: 200, Key: key, Links: links}
	ctx := `"@odata.context":"` + ctxBase + `users('` + meID + `')/events/$entity"`
	in := `{"responses":[{"id":"1","status":201,"headers":{"Content-Type":"application/json"},"body":{` + ctx + `,"id":"e1"}},` +
		`{"id":"2","status":200,"body":{` + ctx + `,"id":"e2"}}]}`
	want := `{"responses":[{"id":"1","status":201,"headers":{"Content-Type":"application/json"},"body":{"@odata.context":"` + ctxBase + `users/events/$entity","id":"` + ps("e1") + `"}},` +
		`{"id":"2","status":200,"body":{` + ctx + `,"id":"e2"}}]}`
	got, _, err := filter(t, in, o)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
