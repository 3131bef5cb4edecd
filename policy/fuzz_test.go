package policy

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalize checks the canonical form's promises on any input: it
// is stable (canonicalising the canonical path again gives the same
// request), and no accepted segment is empty, a dot segment, or holds a
// slash, a backslash, a '%', a '?' or a control character.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		"/v1.0/users/alice@contoso.example/events", "/v1.0/users('a''b')/x", "/beta/users/%2e%2e/x",
		"/v1.0/users/a%252Fb", "/v1.0/users/a%2fb", "/v1.0/users//x", "/v1.0/users/delta()",
		"/v1.0/users/b_f.example%23EXT%23@c.example", "/v1.0/users/%ff", "/v1.0/$batch",
	} {
		f.Add("GET", s, "$top=1&select=a")
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		r, err := Canonicalize(method, path, query)
		if err != nil {
			return
		}
		for _, seg := range r.Segments {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\%?") || strings.ContainsFunc(seg, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
				t.Fatalf("accepted segment %q of %q", seg, path)
			}
		}
		var esc []string
		for _, seg := range r.Segments {
			esc = append(esc, url.PathEscape(seg))
		}
		again, err := Canonicalize(r.Method, "/"+r.Version+"/"+strings.Join(esc, "/"), query)
		if err != nil {
			t.Fatalf("canonical form %v of %q rejected: %v", r.Segments, path, err)
		}
		if again.Path != r.Path || strings.Join(again.Query, ",") != strings.Join(r.Query, ",") {
			t.Fatalf("not stable: %q then %q", r.Path, again.Path)
		}
	})
}

// FuzzParseBatch checks that ParseBatch never panics and that what it
// accepts keeps its promises: 1 to 20 requests, unique ids, each with a
// method and url, and dependsOn naming earlier ids only.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{
		`{"requests":[{"id":"1","method":"GET","url":"/users"}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/users"},{"id":"2","method":"POST","url":"users/x/events","body":{"a":1},"headers":{"Content-Type":"application/json"},"dependsOn":["1"]}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"https://graph.microsoft.com/v1.0/users"}]}`,
		`{"requests":[{"id":"1","id":"2","method":"GET","url":"/users"}]}`,
		`{"requests":[],"x":1}`, `[`, `{"requests":[{"id":"1","method":"POST","url":"$batch","body":{"requests":[]}}]}`,
	} {
		f.Add([]byte(s))
	}
	p, err := LoadFile("testdata/decide.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, err := ParseBatch(body)
		if err == nil {
			if len(reqs) < 1 || len(reqs) > MaxBatch {
				t.Fatalf("accepted %d requests", len(reqs))
			}
			ids := map[string]bool{}
			for _, r := range reqs {
				if r.ID == "" || r.Method == "" || r.URL == "" || ids[r.ID] {
					t.Fatalf("accepted %+v", r)
				}
				for _, d := range r.DependsOn {
					if !ids[d] {
						t.Fatalf("accepted a dependency on a later id: %+v", r)
					}
				}
				ids[r.ID] = true
			}
		}
		// Deciding any body must not panic, and a batch is allowed only
		// if every sub-request is.
		req, _ := Canonicalize("POST", "/v1.0/$batch", "")
		d := p.Decide(Args{Caller: "engage", Request: req, ContentType: "application/json", Body: body})
		// A sub-request waiting for the people of its item holds the
		// whole batch back, and finished (here with no one) it is folded
		// into the batch's decision.
		for i := range d.Batch {
			if d.Batch[i].Decision.Lookup == nil {
				continue
			}
			if !d.Unresolved() {
				t.Fatalf("sub-request %s carries a lookup, the batch is not unresolved", d.Batch[i].ID)
			}
			d.Batch[i].DecideReferenced(nil)
			d.Settle(i)
		}
		if d.Unresolved() {
			t.Fatal("unresolved with every sub-request finished")
		}
		if d.Result == Allow {
			for _, sd := range d.Batch {
				if sd.Decision.Result != Allow {
					t.Fatalf("batch allowed with sub-request %s denied", sd.ID)
				}
			}
		}
	})
}

// TestAllowMeansExactMatch draws random requests from the rules' own
// vocabulary and checks, for every allowed one, that its canonical form
// matches the allowing rule exactly: same method, a version the rule names,
// a segment for every part (literals equal without case, {user} a user),
// query options the rule allows, and a permission the caller holds.
func TestAllowMeansExactMatch(t *testing.T) {
	p := mustLoad(t, "testdata/decide.yaml")
	rules := map[string]*rule{}
	for _, r := range p.rules {
		rules[r.id] = r
	}
	vocab := []string{"users", "Users", "delta", "events", "calendar", "getSchedule", "messages", "sendMail",
		"subscriptions", alice, "10000000-0000-4000-8000-000000000000", "AAMkAD", "x", "me"}
	queries := []string{"", "$top=1", "$select=displayName", "$filter=x", "$expand=y", "$skiptoken=z", "top=2&$filter=a"}
	rng := rand.New(rand.NewPCG(1, 2))
	allowed := 0
	for i := 0; i < 20000; i++ {
		var segs []string
		if rng.IntN(4) == 0 {
			for j := 1 + rng.IntN(4); j > 0; j-- {
				segs = append(segs, vocab[rng.IntN(len(vocab))])
			}
		} else {
			// A rule's template, each part kept, re-cased or replaced.
			for _, part := range p.rules[rng.IntN(len(p.rules))].tmpl.parts {
				w := vocab[rng.IntN(len(vocab))]
				switch {
				case rng.IntN(5) == 0:
				case part.kind == literal && rng.IntN(2) == 0:
					w = strings.ToUpper(part.lit)
				case part.kind == literal:
					w = part.lit
				case part.kind == userVar:
					w = []string{alice, "10000000-0000-4000-8000-000000000000", "x"}[rng.IntN(3)]
				}
				segs = append(segs, w)
			}
		}
		method := methods[rng.IntN(len(methods))]
		version := Versions[rng.IntN(2)]
		req, err := Canonicalize(method, "/"+version+"/"+strings.Join(segs, "/"), queries[rng.IntN(len(queries))])
		if err != nil {
			t.Fatal(err)
		}
		caller := []string{"engage", "reader"}[rng.IntN(2)]
		d := p.Decide(Args{Caller: caller, Request: req})
		if d.Result != Allow {
			continue
		}
		allowed++
		r := rules[d.RuleID]
		if err := exactMatch(r, p.callers[caller], req); err != nil {
			t.Fatalf("%s %s %s?%v allowed by %q: %v", caller, method, req.Path, req.Query, d.RuleID, err)
		}
	}
	if allowed < 100 {
		t.Fatalf("only %d of the random requests were allowed; the test proves little", allowed)
	}
}

func exactMatch(r *rule, c *caller, req Request) error {
	if !c.permissions[r.permission] {
		return fmt.Errorf("caller lacks %s", r.permission)
	}
	if !contains(r.methods, req.Method) || !contains(r.versions, req.Version) {
		return fmt.Errorf("method or version")
	}
	if len(req.Segments) != len(r.tmpl.parts) {
		return fmt.Errorf("segment count")
	}
	for i, part := range r.tmpl.parts {
		seg := req.Segments[i]
		switch part.kind {
		case literal:
			if !strings.EqualFold(seg, part.lit) {
				return fmt.Errorf("segment %d %q is not %q", i, seg, part.lit)
			}
		case userVar:
			if !isUser(seg) {
				return fmt.Errorf("segment %d %q is not a user", i, seg)
			}
		}
	}
	for _, q := range req.Query {
		if !contains(r.query, q) && q != "$skiptoken" && q != "$deltatoken" {
			return fmt.Errorf("query option %s", q)
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// benchPolicy builds a policy with n rules over distinct paths.
func benchPolicy(b *testing.B, n int) *Policy {
	var sb strings.Builder
	sb.WriteString(`version: 1
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite, User.ReadBasic.All]
rules:
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All }
  - { id: events, method: GET, path: "/users/{user}/calendar/events", query: [$select, $top], permission: Calendars.ReadBasic.All }
`)
	for i := 2; i < n; i++ {
		fmt.Fprintf(&sb, "  - { id: r%d, method: GET, path: \"/users/{user}/extension%d/items/{id}\", query: [$top], permission: User.ReadBasic.All }\n", i, i)
	}
	p, err := Parse("bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecide measures canonicalisation plus decision of a calendar
// read, with 20 and with 200 rules: the cost must not grow with the rules.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			p := benchPolicy(b, n)
			b.ReportAllocs()
			for b.Loop() {
				req, err := Canonicalize("GET", "/v1.0/users/alice@contoso.example/calendar/events", "$select=subject,start&$top=10")
				if err != nil {
					b.Fatal(err)
				}
				if d := p.Decide(Args{Caller: "engage", Request: req}); d.Result != Allow {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}

// BenchmarkDecideOnly measures the decision alone on a canonical request.
func BenchmarkDecideOnly(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			p := benchPolicy(b, n)
			req, _ := Canonicalize("GET", "/v1.0/users/alice@contoso.example/calendar/events", "$top=10")
			b.ReportAllocs()
			for b.Loop() {
				if d := p.Decide(Args{Caller: "engage", Request: req}); d.Result != Allow {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}

// FuzzParseJSON holds the one-pass strict parser to the verdicts of the
// token-by-token one it replaced: it may be stricter about duplicate keys
// (Unicode case folding, invalid UTF-8 in keys, very wide objects), never
// more lenient, and what both accept decodes to the same value.
func FuzzParseJSON(f *testing.F) {
	for _, seed := range []string{
		`{"subject":"a","body":{"content":"x"}}`, `{"a":1,"A":2}`, `{"a\u0041":1,"aa":2}`, `[1,2,{"x":[true,null]}]`,
		`{"a":1}{"b":2}`, `{"a":1} x`, `"str"`, `12.5e3`, `{"a":`, `{"a":1,}`, `[[[[[[]]]]]]`, `{"k":"\"}"}`,
		`{"\u017f":1,"s":2}`, "{\"\xff\":1}", ` { } `, ``, `{"a" "b"}`, `{"a":1 "a":2}`,
		`{"\u0130":1,"i":2}`, `{"K":1,"\u212a":2}`, `["\ud83d\ude00","\ud83d","\ude00x","\ud83d\u0041","\ud83d\uZZZZ"]`,
		`["\q"]`, "[\"a\x01\"]", "[\"\xc3\x28\"]", `[-]`, `[01]`, `[1.]`, `[1e]`, `[1e+]`, `[-0.5E-7]`, `[tru]`, `[nul]`, `[1,]`, `{,}`,
	} {
		f.Add([]byte(seed))
	}
	// Objects past the few keys compared one by one.
	f.Add([]byte(manyKeys(20, `"KEY3":1`)))
	f.Add([]byte(manyKeys(20, `"\u0130d":1,"id":2,"\u212a":3`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseJSON(data)
		want, werr := parseJSONTokens(data)
		switch {
		case werr != nil && err == nil:
			t.Fatalf("accepted %q, which the reference refuses: %v", data, werr)
		case werr == nil && err != nil:
			msg := err.Error()
			if !strings.Contains(msg, "appears twice") && !strings.Contains(msg, "not valid UTF-8") && !strings.Contains(msg, "keys in one object") {
				t.Fatalf("refused %q, which the reference accepts: %v", data, err)
			}
		case err == nil && !reflect.DeepEqual(got, want):
			t.Fatalf("%q decoded as %#v; the reference: %#v", data, got, want)
		}
	})
}

// FuzzParseBody holds parseBody, which builds only the members the policy
// reads, to parseJSON on the same input: the same verdict and error, the
// same value for every member checkDoc can ask for, nothing else built,
// and the source-URL annotation found exactly where hasKey finds it in the
// whole document.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		`{"schedules":["a@b.example"],"startTime":{"dateTime":"x","timeZone":"UTC"}}`,
		`{"subject":"a","Attendees":[{"emailAddress":{"address":"x@y.example"}}],"body":{"content":"\u00e9"}}`,
		`{"message":{"toRecipients":[{"emailAddress":{"address":"a@b.example"}}]},"saveToSentItems":false}`,
		`{"resource":"/users/a/events","notificationUrl":"https://h.example/n","includeResourceData":true,"expirationDateTime":"2026"}`,
		`{"x":{"y":[{"@microsoft.graph.sourceUrl":"https://e.example"}]}}`, `{"@Microsoft.Graph.SourceURL":1}`,
		`[{"@microsoft.graph.sourceUrl":1}]`, `"schedules"`, `{"a":[1,{"b":"\ud83d"}],"A":2}`, `{"skip":{"x":01}}`,
		`{"skip":"\q"}`, "{\"skip\":\"\xff\"}", "{\"\xff\":1}", `{"resource":1}{}`, `{"schedules":[1,2,]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Add([]byte(manyKeys(20, `"Attendees":[],"KEY3":1`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseBody(data, nil)
		whole, werr := parseJSON(data)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("%q: parseBody: %v; parseJSON: %v", data, err, werr)
		}
		// Lean parsing is as strict, and keeps what the policy reads: the
		// top-level members and the people, as the whole document has them.
		lean, lerr := parseLean(data)
		if (lerr == nil) != (werr == nil) || (lerr != nil && lerr.Error() != werr.Error()) {
			t.Fatalf("%q: parseLean: %v; parseJSON: %v", data, lerr, werr)
		}
		if err != nil {
			return
		}
		var leanPeople, wholePeople []string
		refPeople(lean, &leanPeople)
		refPeople(whole, &wholePeople)
		slices.Sort(leanPeople)
		slices.Sort(wholePeople)
		if !slices.Equal(leanPeople, wholePeople) {
			t.Fatalf("%q: lean people %q; whole %q", data, leanPeople, wholePeople)
		}
		if lo, ok := lean.(map[string]any); ok {
			wo := whole.(map[string]any)
			for _, m := range bodyMembers {
				if l, w := fieldValue(lo, m), fieldValue(wo, m); !reflect.DeepEqual(l, w) {
					t.Fatalf("%q: lean member %s is %#v; whole %#v", data, m, l, w)
				}
			}
		}
		obj, _ := whole.(map[string]any)
		want := body{obj: obj, sourceURL: hasKey(whole, sourceURLKey), people: namesPeople(whole)}
		if got.sourceURL != want.sourceURL {
			t.Fatalf("%q: source URL found %v; in the whole document %v", data, got.sourceURL, want.sourceURL)
		}
		if got.people != want.people {
			t.Fatalf("%q: people found %v; in the whole document %v", data, got.people, want.people)
		}
		if (got.obj == nil) != (want.obj == nil) {
			t.Fatalf("%q: built %#v; the whole document %#v", data, got.obj, whole)
		}
		for _, m := range bodyMembers {
			g, gok := got.get(m)
			if w, wok := want.get(m); !reflect.DeepEqual(g, w) || gok != wok {
				t.Fatalf("%q: member %s is %#v; in the whole document %#v", data, m, g, w)
			}
		}
		for k := range got.obj {
			if !slices.ContainsFunc(bodyMembers, func(m string) bool { return sameKey([]byte(m), []byte(k)) }) {
				t.Fatalf("%q: built member %q, which the policy does not read", data, k)
			}
		}
	})
}

// namesPeople is the reference for the parser's people watch: some key in
// the document, at any depth, is one of personKeys or a reference.
func namesPeople(v any) bool {
	switch x := v.(type) {
	case string:
		return namesSomeone(x)
	case map[string]any:
		for k, e := range x {
			lk := strings.ToLower(k)
			// A member whose name ends in EmailAddress is a person's too
			// (anyAddressMember), its end compared without case.
			addressNamed := len(k) >= len(addressSuffix) && strings.EqualFold(k[len(k)-len(addressSuffix):], addressSuffix)
			if slices.Contains(personKeys, lk) || strings.HasSuffix(lk, bindSuffix) || addressNamed || namesPeople(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if namesPeople(e) {
				return true
			}
		}
	}
	return false
}

// A check that reads a member parseBody does not build would see nothing
// and pass every body: get refuses names outside bodyMembers.
func TestBodyMemberUnlisted(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("get read an unlisted name")
		}
	}()
	body{obj: map[string]any{"subject": "x"}}.get("subject")
}

// BenchmarkParseJSON compares the one-pass strict parser with the
// token-by-token one on a 2 KB event body.
func BenchmarkParseJSON(b *testing.B) {
	body := []byte(`{"subject":"Onboarding consultation","body":{"contentType":"HTML","content":"` + strings.Repeat("Agenda: introductions, goals, next steps. ", 38) +
		`"},"start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00","timeZone":"UTC"},"location":{"displayName":"Online"},"attendees":[{"emailAddress":{"address":"client@fabrikam.example","name":"Client"},"type":"required"}],"isOnlineMeeting":false}`)
	for _, p := range []struct {
		name  string
		parse func([]byte) (any, error)
	}{
		{"one-pass", parseJSON},
		{"members", func(b []byte) (any, error) { v, err := parseBody(b, nil); return v.obj, err }},
		{"tokens", parseJSONTokens},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := p.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyKeys is an object of n distinct keys followed by extra.
func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"key%d":%d,`, i, i)
	}
	b.WriteString(extra + "}")
	return b.String()
}

// Duplicate keys are found in objects of any size: among few keys by
// comparison, among many by their folded form. Where the token reference
// accepts (it compares lowered keys only), parseJSON may be stricter.
func TestParseJSONDuplicateKeys(t *testing.T) {
	for _, tt := range []struct {
		name, body    string
		dup, stricter bool
		// foldsASCII: a key has a character whose case is ASCII, which
		// both parsers refuse before looking for duplicates.
		foldsASCII bool
	}{
		{name: "few, distinct", body: `{"a":1,"b":2}`},
		{name: "few, case", body: `{"Subject":1,"subject":2}`, dup: true},
		{name: "few, Greek sigma", body: `{"\u03a3":1,"\u03c2":2}`, dup: true, stricter: true},
		{name: "few, long s", body: `{"s":1,"\u017f":2}`, foldsASCII: true},
		{name: "many, distinct", body: manyKeys(40, `"other":1`)},
		{name: "many, case", body: manyKeys(40, `"KEY3":1`), dup: true},
		{name: "many, Greek sigma", body: manyKeys(40, `"\u03c3":1,"\u03c2":2`), dup: true, stricter: true},
		{name: "many, Kelvin sign", body: manyKeys(40, `"\u212aey7":1`), foldsASCII: true},
		{name: "many, long s", body: manyKeys(40, `"s":1,"\u017f":2`), foldsASCII: true},
		{name: "many, dotted capital I", body: manyKeys(40, `"\u0130d":1,"id":2`), foldsASCII: true},
		{name: "many, non-ASCII distinct", body: manyKeys(40, `"é":1,"e":2,"ß":3,"ss":4`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.foldsASCII {
				_, err := parseJSON([]byte(tt.body))
				_, rerr := parseJSONTokens([]byte(tt.body))
				if err == nil || rerr == nil || !strings.Contains(err.Error(), "whose case is ASCII") {
					t.Errorf("parseJSON: %v; the reference: %v; want both to refuse the key", err, rerr)
				}
				return
			}
			_, err := parseJSON([]byte(tt.body))
			if found := err != nil && strings.Contains(err.Error(), "appears twice"); found != tt.dup || (!tt.dup && err != nil) {
				t.Errorf("parseJSON: %v; want a duplicate found: %v", err, tt.dup)
			}
			if _, rerr := parseJSONTokens([]byte(tt.body)); (rerr != nil) != (tt.dup && !tt.stricter) {
				t.Errorf("the reference: %v", rerr)
			}
		})
	}
}

// BenchmarkParseJSONManyKeys is the duplicate check's worst case: objects
// of the most keys allowed, which a caller controls. Quadratic, it took
// seconds for a body of the default size; folded, it is linear.
func BenchmarkParseJSONManyKeys(b *testing.B) {
	body := []byte(manyKeys(maxKeysPerObject-1, `"last":0`))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSameKey holds sameKey's ASCII fast path to the rune-by-rune
// comparison on any pair of byte strings, and foldKey to it: keys that are
// the same but for case share a folded form.
func FuzzSameKey(f *testing.F) {
	for _, s := range [][2]string{
		{"subject", "Subject"}, {"subject", "subjecT"}, {"a@b", "a`b"}, {"[x", "{x"}, {"k", "\u212a"},
		{"risk", "ri\u017fk"}, {"id", "\u0130d"}, {"xK", "x\u212a"}, {"abc", "abcd"}, {"", ""},
		{"\xff", "\xfe"}, {"a\xff", "A\xff"}, {"ž", "Ž"}, {"caf\u00e9", "CAF\u00c9"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, want := sameKey([]byte(a), []byte(b)), sameKeyRunes([]byte(a), []byte(b))
		if got != want {
			t.Fatalf("sameKey(%q, %q) = %v; rune by rune: %v", a, b, got, want)
		}
		if utf8.ValidString(a) && utf8.ValidString(b) && got && foldKey([]byte(a)) != foldKey([]byte(b)) {
			t.Fatalf("%q and %q are the same key but fold to %q and %q", a, b, foldKey([]byte(a)), foldKey([]byte(b)))
		}
	})
}

// plainASCII8 against a byte-by-byte reading: every byte value at every
// position of an otherwise plain word, then random words (of bytes drawn
// mostly from around the values it tells apart).
func TestPlainASCII8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	ref := func(w [8]byte) bool {
		for _, c := range w {
			if !plain(c) {
				return false
			}
		}
		return true
	}
	check := func(w [8]byte) {
		t.Helper()
		if got, want := plainASCII8(binary.LittleEndian.Uint64(w[:])), ref(w); got != want {
			t.Fatalf("plainASCII8(% x) = %v, want %v", w, got, want)
		}
	}
	for pos := range 8 {
		for v := range 256 {
			w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			w[pos] = byte(v)
			check(w)
		}
	}
	near := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		var w [8]byte
		for i := range w {
			if rng.IntN(4) == 0 {
				w[i] = byte(rng.IntN(256))
			} else {
				w[i] = near[rng.IntN(len(near))]
			}
		}
		check(w)
	}
}
