package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// maxJSONDepth bounds nesting in bodies the policy reads.
const maxJSONDepth = 64

// parseJSON reads a JSON document strictly: one value, nesting at most
// maxJSONDepth, and no object with the same key twice (compared without
// case, as Graph's binder compares them). Duplicate keys are ambiguous:
// parsers disagree on which one wins.
//
// jsonParser does it in one pass over the bytes, several times cheaper
// than encoding/json's decoder into an any, and much cheaper than walking
// the document token by token (parseJSONTokens, kept as the reference the
// fuzz test compares with).
func parseJSON(data []byte) (any, error) {
	p := jsonParser{b: data}
	return p.parse()
}

// body is what the policy reads of a JSON request body: its top-level
// members by name, and whether any object in it asks Graph to fetch a URL.
type body struct {
	obj       map[string]any // nil unless the body is an object
	sourceURL bool
}

// sourceURLKey is the annotation with which a body asks Graph to fetch a
// URL itself (attachments and file content by reference).
const sourceURLKey = "@microsoft.graph.sourceUrl"

// bodyMembers are the top-level members checkDoc reads; parseBody builds
// only these. body.member refuses (panics on) any other name, so a check
// added without its member here fails its first test instead of passing
// every body it should refuse.
var bodyMembers = []string{
	"schedules", "message", "attendees",
	"notificationUrl", "lifecycleNotificationUrl", "notificationQueryOptions", "includeResourceData", "resource",
}

var sourceURLBytes = []byte(sourceURLKey)

var bodyMemberKeys = func() [][]byte {
	out := make([][]byte, len(bodyMembers))
	for i, m := range bodyMembers {
		out[i] = []byte(m)
	}
	return out
}()

// parseBody reads a request body as strictly as parseJSON, building only
// bodyMembers: the rest of the body is checked without being built.
func parseBody(data []byte) (body, error) {
	p := jsonParser{b: data, members: bodyMemberKeys, watch: sourceURLBytes}
	v, err := p.parse()
	if err != nil {
		return body{}, err
	}
	obj, _ := v.(map[string]any)
	return body{obj: obj, sourceURL: p.watched}, nil
}

// bodyOf is the body of a document parsed whole ($batch sub-requests).
func bodyOf(doc any) body {
	obj, _ := doc.(map[string]any)
	return body{obj: obj, sourceURL: hasKey(doc, sourceURLKey)}
}

// member reads a top-level member without case, as Graph does.
func (b body) member(name string) any {
	if !slices.Contains(bodyMembers, name) {
		panic("policy: body member " + name + " is not in bodyMembers")
	}
	return fieldValue(b.obj, name)
}

// maxKeysPerObject bounds an object's keys. Graph's own objects have a
// few dozen at most.
const maxKeysPerObject = 1000

// parseJSONTokens is the token-by-token strict parser parseJSON replaced;
// the fuzz test holds parseJSON to its verdicts.
func parseJSONTokens(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err == io.EOF {
		err = errors.New("unexpected end of the body")
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	switch d {
	case '{':
		obj := map[string]any{}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			lk := strings.ToLower(k)
			if seen[lk] {
				return nil, fmt.Errorf("key %q appears twice in one object", k)
			}
			seen[lk] = true
			if obj[k], err = readValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token()
		return obj, err
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := readValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// checkBody applies the rules whose threat is in the body and collects the
// users the body names. It returns a denial reason, or "".
func (p *Policy) checkBody(c *caller, r *rule, req Request, a Args, d *Decision) string {
	if a.doc != nil {
		return p.checkDoc(c, r, req, bodyOf(a.doc), d)
	}
	if len(a.Body) == 0 {
		return ""
	}
	if !isJSON(a.ContentType) {
		// Non-JSON bodies (file content) carry no links or targets the
		// policy reads; the rule decides on the path alone.
		return ""
	}
	b, err := parseBody(a.Body)
	if err != nil {
		return "request body is not acceptable JSON: " + err.Error()
	}
	return p.checkDoc(c, r, req, b, d)
}

func (p *Policy) checkDoc(c *caller, r *rule, req Request, b body, d *Decision) string {
	if !p.externalLinks && b.sourceURL {
		return "the body asks Graph to fetch a URL (" + sourceURLKey + "); set externalLinks: true to allow it"
	}
	last := ""
	if n := len(req.Segments); n > 0 {
		last = strings.ToLower(req.Segments[n-1])
	}
	switch {
	case last == "getschedule":
		schedules, _ := b.member("schedules").([]any)
		if len(schedules) > MaxTargets {
			return tooManyTargets
		}
		for _, s := range schedules {
			str, ok := s.(string)
			if !ok || str == "" {
				return "getSchedule schedules must be mailbox addresses"
			}
			d.Targets = appendUnique(d.Targets, str)
		}
	case last == "sendmail":
		msg, _ := b.member("message").(map[string]any)
		for _, list := range []string{"toRecipients", "ccRecipients", "bccRecipients"} {
			for _, a := range addresses(field(msg, list)) {
				if !domainIn(a, p.recipientDomains) {
					return fmt.Sprintf("mail recipient %s is outside mail.recipientDomains", a)
				}
			}
		}
	case len(req.Segments) >= 1 && strings.EqualFold(req.Segments[0], "subscriptions"):
		if reason := p.checkSubscription(c, req, b); reason != "" {
			return reason
		}
	}
	if len(r.attendeeDomains) > 0 {
		list, _ := b.member("attendees").([]any)
		attendees := addresses(list)
		if len(attendees) > MaxTargets {
			return tooManyTargets
		}
		for _, a := range attendees {
			if !domainIn(a, r.attendeeDomains) {
				return fmt.Sprintf("attendee %s is outside the domains rule %q allows", a, r.id)
			}
			d.Targets = appendUnique(d.Targets, a)
		}
	}
	return ""
}

// checkSubscription vets a change-notification subscription: where
// notifications go, whether they carry data, and that the watched resource
// is one the caller could read.
func (p *Policy) checkSubscription(c *caller, req Request, b body) string {
	for _, k := range []string{"notificationUrl", "lifecycleNotificationUrl", "notificationQueryOptions"} {
		v := b.member(k)
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return k + " must be a string"
		}
		if k == "notificationQueryOptions" {
			return "notificationQueryOptions is not allowed"
		}
		if !slices.ContainsFunc(p.notificationURLs, func(allowed string) bool { return notificationURLMatches(allowed, s) }) {
			return fmt.Sprintf("%s %q is not in subscriptions.notificationUrls", k, s)
		}
	}
	if on, _ := b.member("includeResourceData").(bool); on && !p.includeResourceData {
		return "includeResourceData is not allowed (subscriptions.includeResourceData)"
	}
	if res := b.member("resource"); res != nil {
		s, ok := res.(string)
		if !ok || s == "" {
			return "resource must be a Graph path"
		}
		path, query, _ := strings.Cut(s, "?")
		inner, err := Canonicalize("GET", "/"+req.Version+"/"+strings.TrimPrefix(path, "/"), query)
		if err != nil {
			return "subscription resource: " + strings.TrimPrefix(err.Error(), ErrAmbiguous.Error()+": ")
		}
		sub := p.decide(Args{Caller: c.name, Request: inner}, false)
		if sub.Result != Allow {
			return "subscription resource " + inner.Path + " is not readable under this policy: " + sub.Reason
		}
	} else if req.Method == "POST" {
		return "a subscription needs a resource"
	}
	return ""
}

// notificationURLMatches compares a notification URL with an allowed one:
// exactly, or by prefix when the allowed one ends in '*'. The EventGrid:
// and EventHub: forms are compared the same way.
func notificationURLMatches(allowed, got string) bool {
	if prefix, ok := strings.CutSuffix(allowed, "*"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == allowed
}

func checkNotificationURL(s string) error {
	base := strings.TrimSuffix(s, "*")
	lower := strings.ToLower(base)
	if strings.HasPrefix(lower, "eventgrid:") || strings.HasPrefix(lower, "eventhub:") {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("notification URL %q must be an https URL or an EventGrid: or EventHub: address", s)
	}
	if strings.HasSuffix(s, "*") && !strings.HasSuffix(base, "/") {
		return fmt.Errorf("notification URL %q: a '*' may only follow a '/'", s)
	}
	return nil
}

// hasKey reports whether key appears (without case) in any object in v.
func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.EqualFold(k, key) || hasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKey(e, key) {
				return true
			}
		}
	}
	return false
}

// fieldValue reads a property without case, as Graph does.
func fieldValue(obj map[string]any, name string) any {
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func field(obj map[string]any, name string) []any {
	l, _ := fieldValue(obj, name).([]any)
	return l
}

// addresses reads emailAddress.address from recipients or attendees.
func addresses(list []any) []string {
	var out []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		ea, _ := fieldValue(m, "emailAddress").(map[string]any)
		a, _ := fieldValue(ea, "address").(string)
		out = append(out, a) // an empty address fails the domain check
	}
	return out
}

func domainIn(addr string, domains []string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return false
	}
	return slices.Contains(domains, strings.ToLower(addr[at+1:]))
}

// MaxTargets bounds the users one call may name in its body (Graph itself
// takes at most 500 attendees per event). Each target costs a rate-limit
// bucket and, with users.group, a membership check, and collecting them
// compares each with those before it.
const MaxTargets = 500

var tooManyTargets = fmt.Sprintf("the call names more than %d users", MaxTargets)

func appendUnique(l []string, s string) []string {
	for _, e := range l {
		if strings.EqualFold(e, s) {
			return l
		}
	}
	return append(l, s)
}
