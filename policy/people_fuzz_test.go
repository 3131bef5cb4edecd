package policy

import (
	"maps"
	"mime"
	"slices"
	"strings"
	"testing"
)

// FuzzDecideMediaType: a Content-Type the policy accepts is one the route
// reads, and what Graph receives parses back to the same type (and, for a
// file's bytes, the same parameters), on every media of a body; and the
// shortcut for the SDKs' plain application/json gives what the parse does
// (its seeds hold it so on all four media in every go test).
func FuzzDecideMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "application/json; charset=utf-8", `application/json; charset="UTF-8"`,
		"text/plain", "text/json", "application/json, text/plain", `application/json; charset="utf-8`, "application/json;charset=utf-8;charset=utf-8",
		"application/octet-stream", "image/png; name=x", "APPLICATION/JSON", "application/json; charset*=utf-8''x", "", " ", "application/merge-patch+json"} {
		for m := range 4 {
			f.Add(s, uint8(m))
		}
	}
	f.Fuzz(func(t *testing.T, ct string, m uint8) {
		media := bodyMedia(m % 4)
		out, isMIME, reason := decideMediaType(ct, media)
		if pOut, pMIME, pReason := parseMediaType(ct, media); out != pOut || isMIME != pMIME || reason != pReason {
			t.Fatalf("%q on %v: the shortcut gave (%q, %v, %q), the parse (%q, %v, %q)", ct, media, out, isMIME, reason, pOut, pMIME, pReason)
		}
		if reason != "" {
			if out != "" || isMIME {
				t.Fatalf("%q refused (%s) yet gave %q", ct, reason, out)
			}
			return
		}
		inType, inParams, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("%q accepted though it does not parse: %v", ct, err)
		}
		outType, outParams, err := mime.ParseMediaType(out)
		if err != nil || outType != inType {
			t.Fatalf("%q: Graph would receive %q (%v), another type", ct, out, err)
		}
		switch {
		case media == mediaStream, media == mediaContent && !JSONFamily(inType):
			// A file's bytes, passed on under their type written out
			// again: what Graph reads of it is what the proxy read.
			if isMIME || !maps.Equal(inParams, outParams) {
				t.Fatalf("%q on %v: passed on as %q (MIME %v), other parameters", ct, media, out, isMIME)
			}
		case isMIME:
			if media != mediaJSONOrMIME || out != "text/plain" {
				t.Fatalf("%q: MIME on %v as %q", ct, media, out)
			}
		default:
			if out != "application/json" && out != "application/json; charset=utf-8" || len(outParams) > 1 {
				t.Fatalf("%q: read as JSON, sent as %q", ct, out)
			}
		}
	})
}

// refPeople is the people finder's reference, as plain as it can be: every
// string under a key that names a person, at any depth, compared without
// case, and every other string that is an address (addressesIn). It knows
// nothing of containers' shapes, which the finder also checks, so it is
// held only to what the finder allows.
func refPeople(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		addrs, _ := addressesIn(x)
		*out = append(*out, addrs...)
	case []any:
		for _, e := range x {
			refPeople(e, out)
		}
	case map[string]any:
		for k, e := range x {
			lk := strings.ToLower(k)
			switch {
			case lk == "emailaddress" || strings.HasSuffix(lk, "emailaddress") && lk != "locationemailaddress" ||
				lk == "mentioned" && (hasField(asObject(e), "address") || hasField(asObject(e), "name")):
				if s, ok := e.(string); ok && (s != "" || lk == "emailaddress") {
					*out = append(*out, s)
				} else if m, ok := e.(map[string]any); ok {
					if s, ok := fieldValue(m, "address").(string); ok {
						*out = append(*out, s)
					}
				}
			case lk == "emailaddresses":
				for _, a := range asList(e) {
					if s, ok := a.(string); ok {
						*out = append(*out, s)
					} else if m, ok := a.(map[string]any); ok {
						if s, ok := fieldValue(m, "address").(string); ok {
							*out = append(*out, s)
						}
					}
				}
			case lk == "locationemailaddress" || lk == "upn" || lk == "userprincipalname":
				if s, ok := e.(string); ok && s != "" {
					*out = append(*out, s)
				}
			case lk == "contentid" || lk == "internetmessageid" || lk == "icaluid" || lk == "name" || lk == "displayname" || lk == "filename":
				if _, ok := e.(string); !ok {
					refPeople(e, out)
				}
			case lk == "user":
				if m, ok := e.(map[string]any); ok {
					if s, ok := fieldValue(m, "id").(string); ok {
						*out = append(*out, s)
					}
					for k, e := range m {
						if !strings.EqualFold(k, "id") {
							refPeople(map[string]any{k: e}, out)
						}
					}
				}
			case strings.HasSuffix(lk, bindSuffix):
				*out = append(*out, "ref:")
			default:
				refPeople(e, out)
			}
		}
	}
}

func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// FuzzWhoACallTouches holds the people finder to refPeople on event
// bodies: an allowed call's targets are the path's user and exactly the
// people the reference finds, each written as ParseAddress writes it; and
// nothing it finds escapes the rule's domains.
func FuzzWhoACallTouches(f *testing.F) {
	for _, s := range []string{
		`{"subject":"x","attendees":[{"emailAddress":{"address":"bob@contoso.example"}}]}`,
		`{"attendees":[{"emailAddress":{"address":"bob@contoso.example;eve@evil.example"}}]}`,
		`{"organizer":{"emailAddress":{"address":"eve@evil.example"}},"location":{"locationEmailAddress":"room-1@contoso.example"}}`,
		`{"exceptionOccurrences":[{"attendees":[{"emailAddress":{"address":"x@vendor.example"}}]}]}`,
		`{"calendar@odata.bind":"users/bob@contoso.example/calendars/A"}`, `{"Attendees":{"emailAddress":"x@y.example"}}`,
		`{"participants":{"attendees":[{"upn":"bob@contoso.example","identity":{"user":{"id":"10000000-0000-4000-8000-000000000001"}}}]}}`,
		`{"body":{"content":"eve@evil.example"},"attendees":[]}`, `{"attendees":[{"type":"required"}]}`, `[]`, `{"emailAddresses":["a@contoso.example"]}`,
		`{"body":{"content":"<p>Eve &lt;eve@evil.example&gt;</p>"},"x":["SMTP:a@contoso.example",{"mail":" b@vendor.example "}],"user":{"upn":"c@contoso.example"}}`,
		`{"target":{"email":"Eve <eve@evil.example>"}}`, `{"mail":"a@contoso.example","otherMails":["x@vendor.example","y@"]}`,
		`{"m":"mailto:eve%40evil.example","n":["<MAILTO:%61%40contoso.example>","mailto:e\u002540x.example","sip:b%40vendor.example"],"o":"mailto:e%2540x.example","p":"100%"}`,
	} {
		f.Add([]byte(s))
	}
	p, err := Parse("fuzz.yaml", []byte(`version: 1
callers:
  - name: c
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadWrite]
rules:
  - { id: ev, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite, peopleDomains: [contoso.example, vendor.example] }
`))
	if err != nil {
		f.Fatal(err)
	}
	req, _ := Canonicalize("POST", "/v1.0/users/"+alice+"/events", "")
	f.Fuzz(func(t *testing.T, body []byte) {
		d := p.Decide(Args{Caller: "c", Request: req, ContentType: "application/json", Body: body})
		if d.Result != Allow || len(body) == 0 {
			return
		}
		doc, err := parseJSON(body)
		if err != nil {
			t.Fatalf("%q allowed though it does not parse: %v", body, err)
		}
		var found []string
		refPeople(doc, &found)
		want := []string{alice}
		for _, s := range found {
			if s == "ref:" {
				continue // references resolve to users the finder names by the path they give
			}
			a, err := ParseAddress(s)
			switch {
			case err == nil:
				if !a.InDomains([]string{"contoso.example", "vendor.example"}) {
					t.Fatalf("%q allowed with %s outside the rule's domains", body, s)
				}
				want = appendUnique(want, a.String())
			case isGUID(s):
				t.Fatalf("%q allowed naming %s by id under peopleDomains", body, s)
			default:
				t.Fatalf("%q allowed with %q, not an address", body, s)
			}
		}
		got := slices.Clone(d.Targets)
		if !slices.Contains(found, "ref:") && !sameSet(got, want) {
			t.Fatalf("%q: targets %v; the reference finds %v", body, got, want)
		}
	})
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.ContainsFunc(b, func(t string) bool { return strings.EqualFold(s, t) }) {
			return false
		}
	}
	return true
}
