package policy

import (
	"errors"
	"testing"
)

// TestQueryReadAsDecided: a query is refused when a server could end or
// split it elsewhere than the policy did, so that what Graph receives is
// what was decided — at the top level and in a $batch sub-request.
func TestQueryReadAsDecided(t *testing.T) {
	const u = "/v1.0/users/" + alice + "/calendar/events"
	for _, tt := range []struct {
		name, query string
		ok          bool
	}{
		{"escaped '#', ';' and space", "$filter=subject%20eq%20%27a%23b%3Bc%27&$select=id", true},
		{"'+' for a space", "$filter=subject+eq+'a'", true},
		{"'#' hides $select", "$filter=true#&$select=id", false},
		{"'#' at the end", "$select=id#", false},
		{"';' separates options", "$select=id;$expand=calendar", false},
		{"raw space", "$filter=a eq b", false},
		{"raw tab", "$filter=a\teq", false},
		{"raw non-ASCII", "$filter=\xc3\xa9", false},
		{"DEL", "$filter=a\x7f", false},
		{"escaped NUL in a value", "$filter=true%00&$select=id", false},
		{"escaped LF in a value", "$select=id%0A", false},
		{"escaped CR in a name", "%24select%0D=id", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonicalize("GET", u, tt.query)
			if got := err == nil; got != tt.ok {
				t.Errorf("top level: err %v; want ok %v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrAmbiguous) {
				t.Errorf("top level: err %v; want ErrAmbiguous", err)
			}
			_, err = CanonicalizeBatchURL("GET", "v1.0", "users/"+alice+"/calendar/events?"+tt.query)
			if got := err == nil; got != tt.ok {
				t.Errorf("batch: err %v; want ok %v", err, tt.ok)
			}
		})
	}
	for _, url := range []string{" /users/" + alice, "users/" + alice + " /events", "users/" + alice + "\t", "users/" + alice + "#x"} {
		if _, err := CanonicalizeBatchURL("GET", "v1.0", url); err == nil {
			t.Errorf("batch URL %q: accepted", url)
		}
	}
	p := mustLoad(t, "testdata/reach.yaml")
	d := decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON,
		`{"requests":[{"id":"1","method":"GET","url":"users/`+alice+`/calendar/events?$filter=true#&$select=id"}]}`)
	if d.Result == Allow {
		t.Errorf("batch with '#' in a sub-request's query: allowed")
	}
}
