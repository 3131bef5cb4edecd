package response_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

var key = []byte("customer-key-0123456789-abcdefghij")

func section(t *testing.T, fields, sel, redact, pseudo []string) *policy.Response {
	t.Helper()
	r, err := policy.NewResponse("rule", fields, sel, redact, pseudo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// links is the proxy's own link rewriting, external links withheld.
var links = proxy.NewLinkRewriter("https://graph.microsoft.com", "https://gp.contoso.example").FilterLinks(true)

// filter runs the filter over in, read whole and a few bytes at a time:
// the two must agree.
func filter(t *testing.T, in string, o response.Options) (string, response.Counts, error) {
	t.Helper()
	run := func(r io.Reader) (string, response.Counts, error) {
		f := response.New(io.NopCloser(r), o)
		defer f.Close()
		out, err := io.ReadAll(f)
		return string(out), f.Counts(), err
	}
	out, counts, err := run(strings.NewReader(in))
	out2, counts2, err2 := run(iotest.OneByteReader(strings.NewReader(in)))
	// Cut short, the output depends on where the reads fell; whole, never.
	if (err == nil) != (err2 == nil) || err == nil && (out != out2 || counts != counts2) {
		t.Fatalf("read whole and byte by byte differ:\n%s %+v %v\n%s %+v %v", out, counts, err, out2, counts2, err2)
	}
	return out, counts, err
}

func ps(v string) string { return response.Pseudonym(key, v) }

// Answer shapes are Graph's, as its documentation and the SDK's models
// show them.
func TestFilterGraphShapes(t *testing.T) {
	tests := []struct {
		name    string
		section *policy.Response
		status  int
		in      string
		want    string
		counts  response.Counts
	}{
		{
			name:    "users: a page, select and fields",
			section: section(t, []string{"id", "displayName", "mail"}, []string{"id", "displayname", "mail", "userprincipalname"}, nil, nil),
			in: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[` +
				`{"businessPhones":["+1 425 555 0109"],"displayName":"Adele Vance","givenName":"Adele","jobTitle":"Retail Manager","mail":"AdeleV@contoso.example","mobilePhone":null,"officeLocation":"18/2111","preferredLanguage":"en-US","surname":"Vance","userPrincipalName":"AdeleV@contoso.example","id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"},` +
				`{"businessPhones":[],"displayName":"Alex Wilber","mail":"AlexW@contoso.example","id":"b8c2e5b1-0a32-4f4d-9b44-7b4a1f3d2a10"}],` +
				`"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$top=2&$skiptoken=RFNwdAIAAQAAAA"}`,
			want: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[` +
				`{"displayName":"Adele Vance","mail":"AdeleV@contoso.example","id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"},` +
				`{"displayName":"Alex Wilber","mail":"AlexW@contoso.example","id":"b8c2e5b1-0a32-4f4d-9b44-7b4a1f3d2a10"}],` +
				`"@odata.nextLink":"https://gp.contoso.example/v1.0/users?$top=2&$skiptoken=RFNwdAIAAQAAAA"}`,
			counts: response.Counts{Removed: 9},
		},
		{
			name:    "events: nested attendees, pseudonymised and redacted",
			section: section(t, nil, nil, []string{"subject", "body", "bodyPreview", "attendees.emailAddress.name", "location"}, []string{"attendees.emailAddress.address", "organizer.emailAddress.address"}),
			in: `{"@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","id":"AAMkAGIAAAoZDOFAAA=","subject":"Salary review","bodyPreview":"Let us talk","body":{"contentType":"html","content":"<p>Let us talk</p>"},` +
				`"start":{"dateTime":"2030-03-04T10:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2030-03-04T10:30:00.0000000","timeZone":"UTC"},"location":{"displayName":"HR office","locationType":"default"},` +
				`"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"Adele Vance","address":"AdeleV@contoso.example"}},` +
				`{"type":"resource","status":{"response":"accepted","time":"2030-03-01T00:00:00Z"},"emailAddress":{"name":"Room 4","address":"room-4@contoso.example"}}],` +
				`"organizer":{"emailAddress":{"name":"Megan Bowen","address":"MeganB@contoso.example"}}}`,
			want: `{"@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","id":"AAMkAGIAAAoZDOFAAA=",` +
				`"start":{"dateTime":"2030-03-04T10:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2030-03-04T10:30:00.0000000","timeZone":"UTC"},` +
				`"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"address":"` + ps("AdeleV@contoso.example") + `"}},` +
				`{"type":"resource","status":{"response":"accepted","time":"2030-03-01T00:00:00Z"},"emailAddress":{"address":"` + ps("room-4@contoso.example") + `"}}],` +
				`"organizer":{"emailAddress":{"name":"Megan Bowen","address":"` + ps("MeganB@contoso.example") + `"}}}`,
			counts: response.Counts{Removed: 6, Pseudonymised: 3},
		},
		{
			name:    "getSchedule: schedule items' status, start and end",
			section: section(t, []string{"scheduleId", "availabilityView", "scheduleItems.status", "scheduleItems.start", "scheduleItems.end", "error"}, nil, nil, nil),
			in: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)","value":[` +
				`{"scheduleId":"AdeleV@contoso.example","availabilityView":"000220000","scheduleItems":[{"isPrivate":false,"status":"busy","subject":"Let's go for lunch","location":"Harry's Bar",` +
				`"start":{"dateTime":"2030-03-15T12:00:00.0000000","timeZone":"Pacific Standard Time"},"end":{"dateTime":"2030-03-15T14:00:00.0000000","timeZone":"Pacific Standard Time"}}],` +
				`"workingHours":{"daysOfWeek":["monday","tuesday"],"startTime":"08:00:00.0000000","endTime":"17:00:00.0000000","timeZone":{"name":"Pacific Standard Time"}}},` +
				`{"scheduleId":"nobody@contoso.example","availabilityView":"","error":{"message":"The mailbox was not found.","responseCode":"ErrorMailboxNotFound"}}]}`,
			want: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)","value":[` +
				`{"scheduleId":"AdeleV@contoso.example","availabilityView":"000220000","scheduleItems":[{"status":"busy",` +
				`"start":{"dateTime":"2030-03-15T12:00:00.0000000","timeZone":"Pacific Standard Time"},"end":{"dateTime":"2030-03-15T14:00:00.0000000","timeZone":"Pacific Standard Time"}}]},` +
				`{"scheduleId":"nobody@contoso.example","availabilityView":"","error":{"message":"The mailbox was not found.","responseCode":"ErrorMailboxNotFound"}}]}`,
			counts: response.Counts{Removed: 4},
		},
		{
			name:    "delta: @removed and the deltaLink kept",
			section: section(t, []string{"id", "displayName"}, nil, nil, nil),
			in: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(displayName,jobTitle)","value":[` +
				`{"displayName":"Adele Vance","jobTitle":"Retail Manager","id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"},` +
				`{"id":"b8c2e5b1-0a32-4f4d-9b44-7b4a1f3d2a10","@removed":{"reason":"deleted"}},` +
				`{"id":"c1d2e3f4-0000-4000-8000-000000000003","@removed":{"reason":"changed"}}],` +
				`"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"}`,
			want: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(displayName,jobTitle)","value":[` +
				`{"displayName":"Adele Vance","id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"},` +
				`{"id":"b8c2e5b1-0a32-4f4d-9b44-7b4a1f3d2a10","@removed":{"reason":"deleted"}},` +
				`{"id":"c1d2e3f4-0000-4000-8000-000000000003","@removed":{"reason":"changed"}}],` +
				`"@odata.deltaLink":"https://gp.contoso.example/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"}`,
			counts: response.Counts{Removed: 1},
		},
		{
			name:    "an error that echoes data keeps Graph's error shape only",
			section: section(t, []string{"start", "end"}, nil, nil, nil),
			status:  409,
			in: `{"error":{"code":"ErrorIrresolvableConflict","message":"The change key passed in the request does not match the current change key for the item.",` +
				`"innerError":{"date":"2030-03-04T10:00:00","request-id":"0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d","client-request-id":"d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",` +
				`"item":{"subject":"Salary review","attendees":[{"emailAddress":{"address":"AdeleV@contoso.example"}}]}}},"subject":"Salary review"}`,
			want: `{"error":{"code":"ErrorIrresolvableConflict","message":"The change key passed in the request does not match the current change key for the item.",` +
				`"innerError":{"date":"2030-03-04T10:00:00","request-id":"0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d","client-request-id":"d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"}}}`,
			counts: response.Counts{Removed: 2},
		},
		{
			name:    "links: an external upload URL withheld, a Graph one rewritten",
			section: section(t, nil, nil, []string{"nextExpectedRanges"}, nil),
			in:      `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession","uploadUrl":"https://outlook.office.com/api/v2.0/Users('x')/AttachmentSessions('y')?authtoken=eyJ","expirationDateTime":"2030-03-04T10:00:00Z","nextExpectedRanges":["0-"]}`,
			want:    `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession","uploadUrl":"","expirationDateTime":"2030-03-04T10:00:00Z"}`,
			counts:  response.Counts{Removed: 1, Withheld: 1},
		},
		{
			name:    "annotations of a filtered entity removed: they carry its id past pseudonymisation",
			section: section(t, nil, nil, nil, []string{"id", "mail"}),
			in:      `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$entity","@odata.type":"#microsoft.graph.user","@odata.id":"https://graph.microsoft.com/v2/t/directoryObjects/87d349ed-44d7-43e1-9a83-5f2406dee5bd/Microsoft.DirectoryServices.User","@odata.editLink":"directoryObjects/87d349ed-44d7-43e1-9a83-5f2406dee5bd","displayName":"Adele Vance"}`,
			want:    `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$entity","@odata.type":"#microsoft.graph.user","displayName":"Adele Vance"}`,
			counts:  response.Counts{Removed: 2},
		},
		{
			name:    "escaped names are read as any JSON reader reads them",
			section: section(t, nil, nil, []string{"subject"}, []string{"mail"}),
			in:      `{"sub\u006aect":"Salary review","m\u0061il":"Adele\u0040contoso.example","SUBJECT":"x","subject@odata.type":"y"}`,
			want:    `{"m\u0061il":"` + ps("Adele@contoso.example") + `"}`,
			counts:  response.Counts{Removed: 3, Pseudonymised: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = 200
			}
			got, counts, err := filter(t, tt.in, response.Options{Response: tt.section, Status: status, Key: key, Links: links})
			if err != nil {
				t.Fatalf("error %v", err)
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

// TestFilterBatch: each sub-response is filtered by its own sub-request's
// section: a user read reduced, an error reduced to Graph's error shape,
// a throttled request's headers kept, a created event's headers that are
// or hold URLs withheld (they name the id the section may remove or
// pseudonymise), a request without a section untouched (its Location
// moved to the proxy), a 204 without a body.
func TestFilterBatch(t *testing.T) {
	users := section(t, []string{"id", "displayName"}, nil, nil, []string{"mail"})
	events := section(t, []string{"id", "start", "end"}, nil, nil, nil)
	in := `{"responses":[` +
		`{"id":"1","status":200,"headers":{"Content-Type":"application/json;odata.metadata=minimal"},"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","id":"87d3","displayName":"Adele Vance","mail":"AdeleV@contoso.example","jobTitle":"Retail Manager"}},` +
		`{"id":"2","status":404,"headers":{"Content-Type":"application/json"},"body":{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store.","innerError":{"date":"2030-03-04T10:00:00","request-id":"r2","client-request-id":"c2","subject":"echo"}}}},` +
		`{"id":"3","status":429,"headers":{"Retry-After":"10","Content-Type":"application/json"},"body":{"error":{"code":"TooManyRequests","message":"Too many requests."}}},` +
		`{"id":"4","status":201,"headers":{"Location":"https://graph.microsoft.com/v1.0/users('87d3')/events('AAMk')","content-location":"/v1.0/events/AAMk","OData-EntityId":"events('AAMk')",` +
		`"X-Link":"<https://graph.microsoft.com/v1.0/events/AAMk>","X-Rel":"/v1.0/events/AAMk","ETag":"W/\"1\""},"body":{"id":"AAMk","subject":"Intro call","start":{"dateTime":"2030-03-05T10:00:00","timeZone":"UTC"}}},` +
		`{"id":"5","status":204},` +
		`{"id":"6","status":200,"headers":{"Location":"https://graph.microsoft.com/v1.0/x"},"body":{"id":"x","subject":"kept: no section"}}]}`
	want := `{"responses":[` +
		`{"id":"1","status":200,"headers":{"Content-Type":"application/json;odata.metadata=minimal"},"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","id":"87d3","displayName":"Adele Vance"}},` +
		`{"id":"2","status":404,"headers":{"Content-Type":"application/json"},"body":{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store.","innerError":{"date":"2030-03-04T10:00:00","request-id":"r2","client-request-id":"c2"}}}},` +
		`{"id":"3","status":429,"headers":{"Retry-After":"10","Content-Type":"application/json"},"body":{"error":{"code":"TooManyRequests","message":"Too many requests."}}},` +
		`{"id":"4","status":201,"headers":{"X-Link":"","X-Rel":"","ETag":"W/\"1\""},"body":{"id":"AAMk","start":{"dateTime":"2030-03-05T10:00:00","timeZone":"UTC"}}},` +
		`{"id":"5","status":204},` +
		`{"id":"6","status":200,"headers":{"Location":"https://gp.contoso.example/v1.0/x"},"body":{"id":"x","subject":"kept: no section"}}]}`
	o := response.Options{Batch: map[string]*policy.Response{"1": users, "2": events, "3": events, "4": events, "5": events, "6": nil}, Status: 200, Key: key, Links: links}
	f := response.New(io.NopCloser(strings.NewReader(in)), o)
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if c := f.Counts(); c.Withheld != 2 {
		t.Errorf("%d withheld; want 2", c.Withheld)
	}
	// users pseudonymises mail, but fields removes it first.
	for id, c := range map[string]response.Counts{"1": {Removed: 2}, "2": {Removed: 1}, "3": {}, "4": {Removed: 1}, "5": {}, "6": {}} {
		if got := f.SubCounts(id); got != c {
			t.Errorf("sub-response %s counts %+v; want %+v", id, got, c)
		}
	}
}

// TestFilterFailsClosed: what the filter cannot read as the section
// expects ends with ErrUnfilterable, and no complete document leaves:
// the closing brace is withheld.
func TestFilterFailsClosed(t *testing.T) {
	sec := section(t, []string{"id"}, nil, nil, nil)
	batch := map[string]*policy.Response{"1": sec, "2": nil}
	tests := []struct {
		name  string
		in    string
		batch map[string]*policy.Response
		noKey bool
		pseud bool
	}{
		{name: "a list", in: `[{"id":"1"}]`},
		{name: "a string", in: `"AAAA"`},
		{name: "HTML from a gateway", in: `<html><body>Bad gateway</body></html>`},
		{name: "cut short", in: `{"value":[{"id":"1"},{"id":`},
		{name: "cut before the last brace", in: `{"value":[{"id":"1"}]`},
		{name: "two documents", in: `{"id":"1"}{"id":"2","subject":"x"}`},
		{name: "trailing garbage", in: `{"id":"1"} x`},
		{name: "invalid escape", in: `{"id":"\x"}`},
		{name: "control character", in: "{\"id\":\"a\nb\"}"},
		{name: "bad number", in: `{"id":01}`},
		{name: "too deep", in: `{"a":` + strings.Repeat("[", response.MaxDepth) + strings.Repeat("]", response.MaxDepth) + `}`},
		{name: "batch: body before id", in: `{"responses":[{"status":200,"body":{"id":"1","mail":"x"},"id":"1"}]}`, batch: batch},
		{name: "batch: body before status", in: `{"responses":[{"id":"1","body":{"id":"1","mail":"x"},"status":200}]}`, batch: batch},
		{name: "batch: unknown id", in: `{"responses":[{"id":"9","status":200,"body":{"mail":"x"}}]}`, batch: batch},
		{name: "batch: id twice", in: `{"responses":[{"id":"2","status":200,"id":"1","body":{"mail":"x"}}]}`, batch: batch},
		{name: "batch: base64 body", in: `{"responses":[{"id":"1","status":200,"body":"aGVsbG8="}]}`, batch: batch},
		{name: "batch: a response not an object", in: `{"responses":["x"]}`, batch: batch},
		{name: "pseudonymise without a key", in: `{"mail":"a@b.example"}`, noKey: true, pseud: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := response.Options{Response: sec, Batch: tt.batch, Status: 200, Key: key, Links: links}
			if tt.pseud {
				o.Response = section(t, nil, nil, nil, []string{"mail"})
			}
			if tt.noKey {
				o.Key = nil
			}
			got, _, err := filter(t, tt.in, o)
			if !errors.Is(err, response.ErrUnfilterable) {
				t.Fatalf("error %v; want ErrUnfilterable", err)
			}
			if strings.HasSuffix(got, "}") {
				t.Errorf("a complete document left: %q", got)
			}
		})
	}
}

func TestFilterEmptyAnswer(t *testing.T) {
	for _, in := range []string{"", " \r\n"} {
		got, _, err := filter(t, in, response.Options{Response: section(t, []string{"id"}, nil, nil, nil)})
		if err != nil || got != "" {
			t.Errorf("%q: got %q, %v; want nothing", in, got, err)
		}
	}
}

func TestFilterSourceErrors(t *testing.T) {
	f := response.New(io.NopCloser(iotest.TimeoutReader(strings.NewReader(`{"value":[1,2,3]}`))), response.Options{})
	if _, err := io.ReadAll(f); err != iotest.ErrTimeout {
		t.Errorf("got %v; want the source's error", err)
	}
}

// TestPseudonymStable: a value has one pseudonym however Graph escapes it
// and however the answer is split; another key, another pseudonym.
func TestPseudonymStable(t *testing.T) {
	sec := section(t, nil, nil, nil, []string{"a"})
	want := `{"a":"` + ps("é/x") + `"}`
	for _, in := range []string{`{"a":"é/x"}`, `{"a":"\u00e9\/x"}`, `{"a":"\u00E9/\u0078"}`} {
		got, _, err := filter(t, in, response.Options{Response: sec, Key: key})
		if err != nil || got != want {
			t.Errorf("%s: got %s, %v; want %s", in, got, err, want)
		}
	}
	if response.Pseudonym([]byte("another key, rotated 0123456789"), "é/x") == ps("é/x") {
		t.Error("two keys gave one pseudonym")
	}
	if !bytes.Equal([]byte(ps("x")), []byte(ps("x"))) || len(ps("x")) != 43 {
		t.Errorf("pseudonym %q", ps("x"))
	}
}

// TestFilterBatchHeadersBeforeID: a sub-response's headers read before
// its id could belong to one whose body a section filters: their URLs
// are withheld.
func TestFilterBatchHeadersBeforeID(t *testing.T) {
	events := section(t, []string{"id"}, nil, nil, nil)
	o := response.Options{Batch: map[string]*policy.Response{"1": events, "2": nil}, Status: 200, Links: links}
	in := `{"responses":[{"headers":{"LOCATION":"https://graph.microsoft.com/v1.0/events/AAMk","X":"<https://graph.microsoft.com/v1.0/events/AAMk>"},"id":"2","status":200}]}`
	want := `{"responses":[{"headers":{"X":""},"id":"2","status":200}]}`
	got, err := io.ReadAll(response.New(io.NopCloser(strings.NewReader(in)), o))
	if err != nil || string(got) != want {
		t.Errorf("%v\ngot  %s\nwant %s", err, got, want)
	}
}

// TestFilterUnicodeFoldedNames: a member whose name matches a path only
// under Unicode folding (ſ for s), spelled or escaped, is removed.
func TestFilterUnicodeFoldedNames(t *testing.T) {
	sec := section(t, []string{"id", "status"}, nil, nil, nil)
	in := `{"id":"1","ſtatus":"a","\u017ftatus":"b","STATUS":"c","secret":"d"}`
	want := `{"id":"1","STATUS":"c"}`
	got, err := io.ReadAll(response.New(io.NopCloser(strings.NewReader(in)), response.Options{Response: sec, Status: 200}))
	if err != nil || string(got) != want {
		t.Errorf("%v\ngot  %s\nwant %s", err, got, want)
	}
}

// TestFilterPreauthenticatedLinks: in an answer a section filters, the
// members that pass are checked for links as without one: pre-authenticated
// URLs under any name ending in Url, Uri or Link (any case), a sharing
// link's webUrl and webHtml, a preview's postParameters and an action's
// primitive value are withheld; the sign-in links vendors hand their users
// pass.
func TestFilterPreauthenticatedLinks(t *testing.T) {
	tests := []struct {
		name    string
		section *policy.Response
		batch   bool // the answer is a $batch answer, the section sub-request 1's
		in      string
		want    string
		counts  response.Counts
	}{
		{
			name:    "a driveItem preview",
			section: section(t, []string{"getUrl", "postUrl", "postParameters"}, nil, nil, nil),
			in:      `{"getUrl":"https://contoso.sharepoint.com/embed.aspx?access_token=SECRET","postUrl":"https://contoso.sharepoint.com/WopiFrame.aspx","postParameters":"access_token=SECRET"}`,
			want:    `{"getUrl":"","postUrl":"","postParameters":""}`,
			counts:  response.Counts{Withheld: 3},
		},
		{
			name:    "an item's permissions: a sharing link",
			section: section(t, []string{"id", "roles", "link"}, nil, nil, nil),
			in:      `{"value":[{"id":"1","roles":["read"],"link":{"scope":"anonymous","webUrl":"https://1drv.ms/b/s!SECRET","webHtml":"<iframe src=\"https://onedrive.live.com/embed?authkey=!SECRET\"></iframe>"}}]}`,
			want:    `{"value":[{"id":"1","roles":["read"],"link":{"scope":"anonymous","webUrl":"","webHtml":""}}]}`,
			counts:  response.Counts{Withheld: 2},
		},
		{
			name:    "an action's primitive answer, in a $batch",
			section: section(t, []string{"value"}, nil, nil, nil),
			batch:   true,
			in:      `{"responses":[{"id":"1","status":200,"body":{"value":"https://acct.blob.core.windows.net/x?sig=SECRET"}}]}`,
			want:    `{"responses":[{"id":"1","status":200,"body":{"value":""}}]}`,
			counts:  response.Counts{Withheld: 1},
		},
		{
			// A property's media link names its entity (and may carry a
			// credential): under a section it is removed, not emptied.
			name:    "names in any case, media links, storage URIs",
			section: section(t, []string{"id", "UploadURL", "downloadUri", "azureStorageUri", "content"}, nil, nil, nil),
			in:      `{"id":"1","UPLOADURL":"https://contoso.sharepoint.com/up?tempauth=SECRET","downloadUri":"https://acct.blob.core.windows.net/r?sig=SECRET","azureStorageUri":"/relative","content@odata.mediaReadLink":"https://contoso.sharepoint.com/d?tempauth=SECRET"}`,
			want:    `{"id":"1","UPLOADURL":"","downloadUri":"","azureStorageUri":"/relative"}`,
			counts:  response.Counts{Removed: 1, Withheld: 2},
		},
		{
			name:    "the vendor's sign-in links pass",
			section: section(t, []string{"webUrl", "webLink", "onlineMeeting", "joinWebUrl"}, nil, nil, nil),
			in:      `{"webUrl":"https://contoso.sharepoint.com/sites/x/a.docx","webLink":"https://outlook.office365.com/owa/?ItemID=x","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/x"},"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/y"}`,
			want:    `{"webUrl":"https://contoso.sharepoint.com/sites/x/a.docx","webLink":"https://outlook.office365.com/owa/?ItemID=x","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/x"},"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/y"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := response.Options{Response: tt.section, Status: 200, Key: key, Links: links}
			if tt.batch {
				o.Response, o.Batch = nil, map[string]*policy.Response{"1": tt.section}
			}
			got, counts, err := filter(t, tt.in, o)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got != tt.want || strings.Contains(got, "SECRET") {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if counts != tt.counts {
				t.Errorf("counts %+v; want %+v", counts, tt.counts)
			}
		})
	}
}
