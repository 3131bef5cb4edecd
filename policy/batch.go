package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// MaxBatch is the most sub-requests Graph takes in one JSON batch.
const MaxBatch = 20

// ForwardedHeaders are the request headers that may reach Graph, on a call
// and on a $batch sub-request alike; every other header stays behind. An
// allow-list, because a header the proxy does not know is one it cannot
// vouch for.
var ForwardedHeaders = []string{
	"Accept",
	"Accept-Language",
	"Cache-Control",
	"ConsistencyLevel",
	"Content-Type",
	"If-Match",
	"If-None-Match",
	"Prefer",
	"return-client-request-id",
	"SdkVersion",
	"User-Agent",
	"x-ms-throttle-priority",
}

var forwardedHeader = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range ForwardedHeaders {
		m[http.CanonicalHeaderKey(h)] = true
	}
	return m
}()

// BatchRequest is one sub-request of a JSON batch, as parsed.
type BatchRequest struct {
	ID        string
	Method    string
	URL       string
	Headers   map[string]string
	Body      any
	DependsOn []string
}

// ParseBatch reads a $batch body strictly: an object with only "requests",
// 1 to MaxBatch sub-requests with unique ids, each with only id, method,
// url, headers, body and dependsOn; dependsOn naming earlier ids. It does
// not decide anything.
func ParseBatch(body []byte) ([]BatchRequest, error) {
	doc, err := parseJSON(body)
	if err != nil {
		return nil, fmt.Errorf("batch body: %w", err)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("batch body must be a JSON object")
	}
	for k := range top {
		if k != "requests" {
			return nil, fmt.Errorf("batch body has unknown property %s", shownName(k))
		}
	}
	list, ok := top["requests"].([]any)
	if !ok || len(list) == 0 || len(list) > MaxBatch {
		return nil, fmt.Errorf("batch needs 1 to %d requests", MaxBatch)
	}
	out := make([]BatchRequest, 0, len(list))
	ids := map[string]bool{}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("batch request %d is not an object", i)
		}
		var br BatchRequest
		for k, v := range m {
			switch k {
			case "id":
				br.ID, ok = v.(string)
			case "method":
				br.Method, ok = v.(string)
			case "url":
				br.URL, ok = v.(string)
			case "headers":
				br.Headers, ok = stringMap(v)
			case "body":
				br.Body = v
			case "dependsOn":
				br.DependsOn, ok = stringList(v)
			default:
				return nil, fmt.Errorf("batch request %d has unknown property %s", i, shownName(k))
			}
			if !ok {
				return nil, fmt.Errorf("batch request %d: %s has the wrong type", i, k)
			}
		}
		if br.ID == "" || br.Method == "" || br.URL == "" {
			return nil, fmt.Errorf("batch request %d needs id, method and url", i)
		}
		if ids[br.ID] {
			return nil, fmt.Errorf("batch request id %s is used twice", shownName(br.ID))
		}
		for _, dep := range br.DependsOn {
			if !ids[dep] {
				return nil, fmt.Errorf("batch request %s depends on %s, which does not come before it", shownName(br.ID), shownName(dep))
			}
		}
		ids[br.ID] = true
		out = append(out, br)
	}
	return out, nil
}

func stringMap(v any) (map[string]string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// errBatchFormat marks a sub-request URL Graph itself refuses as an
// invalid batch payload (400): absolute, version-prefixed, with a fragment.
var errBatchFormat = errors.New("invalid batch payload format")

func batchFormat(format string, args ...any) error {
	return fmt.Errorf("%w: %w", errBatchFormat, ambiguous(format, args...))
}

// CanonicalizeBatchURL canonicalises a sub-request URL, which Graph reads
// relative to the batch's version: "users/x" and "/users/x" alike. Absolute
// URLs, version-prefixed URLs and nested batches are refused.
func CanonicalizeBatchURL(method, version, raw string) (Request, error) {
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "//") {
		return Request{}, batchFormat("absolute URL in a batch request")
	}
	rel := strings.TrimPrefix(raw, "/")
	for _, v := range Versions {
		if strings.HasPrefix(strings.ToLower(rel), strings.ToLower(v)+"/") || strings.EqualFold(rel, v) {
			return Request{}, batchFormat("version-prefixed URL in a batch request (Graph reads sub-request URLs relative to the batch's version)")
		}
	}
	if strings.Contains(rel, "#") {
		// In the query too: Graph would drop what follows, which the
		// policy decided on.
		return Request{}, batchFormat("fragment in a batch request URL")
	}
	if strings.ContainsFunc(rel, func(r rune) bool { return r <= ' ' || isControl(r) }) {
		// A URL is written without them; Graph may trim or mend one that
		// has them, and read another path than the policy's.
		return Request{}, batchFormat("white space or a control character in a batch request URL")
	}
	path, query, _ := strings.Cut(rel, "?")
	req, err := Canonicalize(method, "/"+version+"/"+path, query)
	if err == nil && len(req.Segments) > 0 && req.Segments[0] == "$batch" {
		return Request{}, ambiguous("nested $batch")
	}
	return req, err
}

// decideBatch decides every sub-request; any denial denies the batch. A
// batch Graph would refuse as malformed is refused so (400), naming the
// sub-requests; one the policy refuses is a denial (403). What is
// forwarded is the batch written out again from what was decided.
func (p *Policy) decideBatch(c *caller, actor *Actor, version, contentType string, body []byte) Decision {
	if len(body) == 0 {
		return malformed("Invalid batch payload format: a $batch needs a body")
	}
	ct, _, reason := decideMediaType(contentType, mediaJSON)
	if reason != "" {
		d := deny("$batch body: %s", reason)
		d.Refusal = RefusalMediaType
		return d
	}
	reqs, err := ParseBatch(body)
	if err != nil {
		return malformed("Invalid batch payload format: %v", err)
	}
	d := Decision{Result: Allow, Route: "/$batch", Group: c.group, ExternalLinks: p.externalLinks, ContentType: ct}
	var refused []string
	for _, br := range reqs {
		sd := SubDecision{ID: br.ID}
		sd.Request, err = CanonicalizeBatchURL(br.Method, version, br.URL)
		switch {
		case errors.Is(err, errBatchFormat):
			sd.Decision = malformed("Invalid batch payload format: %s", strings.TrimPrefix(err.Error(), errBatchFormat.Error()+": "+ErrAmbiguous.Error()+": "))
		case err != nil:
			sd.Decision = deny("%s", strings.TrimPrefix(err.Error(), ErrAmbiguous.Error()+": "))
		default:
			sd.Decision, sd.routed = p.decideSub(c, actor, sd.Request, br)
		}
		if sd.Decision.Result != Allow {
			refused = append(refused, bareName(br.ID))
			if sd.Decision.Refusal != RefusalPolicy {
				d.Refusal = RefusalMalformed
			}
		}
		d.gather(&sd.Decision)
		d.Batch = append(d.Batch, sd)
	}
	switch {
	case len(refused) > 0:
		d.Result = Deny
		d.Reason = "batch requests refused: " + strings.Join(refused, ", ")
	case len(d.Targets) > MaxTargets:
		d.Result = Deny
		d.Reason = tooManyTargets + ", counting its requests together"
	}
	if d.Body, err = rebuildBatch(reqs, d.Batch); err != nil {
		// Every value came from the parser; failing to write one out
		// again is a bug, and the batch is refused for it.
		return deny("the batch cannot be written out again: %v", err)
	}
	return d
}

// gather adds a sub-request's targets (up to one past MaxTargets, which
// refuses the batch), unscoped people and scopes to the batch's decision
// d: when the batch is decided, and again when a sub-request's referenced
// people are read (Settle).
func (d *Decision) gather(sub *Decision) {
	for _, t := range sub.Targets {
		if len(d.Targets) > MaxTargets {
			break
		}
		d.Targets = appendUnique(d.Targets, t)
	}
	for _, t := range sub.Unscoped {
		d.Unscoped = appendUnique(d.Unscoped, t)
	}
	for _, s := range sub.Scopes {
		d.Scopes = appendUnique(d.Scopes, s)
	}
}

func malformed(format string, args ...any) Decision {
	d := deny(format, args...)
	d.Refusal = RefusalMalformed
	return d
}

// decideSub decides one sub-request, and returns it as routed when it was
// (for the people of the item it refers to, read later: DecideReferenced).
func (p *Policy) decideSub(c *caller, actor *Actor, req Request, br BatchRequest) (Decision, *Routed) {
	ct := ""
	seen := map[string]bool{}
	for _, k := range sortedKeys(br.Headers) {
		name := http.CanonicalHeaderKey(k)
		if !forwardedHeader[name] {
			return deny("header %s is not allowed in a batch request", shownName(k)), nil
		}
		if seen[name] {
			return malformed("Invalid batch payload format: header %s is given twice", shownName(name)), nil
		}
		seen[name] = true
		if !httpguts.ValidHeaderFieldValue(br.Headers[k]) {
			// The wire refuses it before the proxy sees it; inside a batch
			// it would reach Graph, and a line break would let whatever
			// writes the sub-request out read a header after it.
			return malformed("Invalid batch payload format: header %s has a control character in its value", shownName(name)), nil
		}
		if name == "Content-Type" {
			ct = br.Headers[k]
		}
	}
	if br.Body != nil {
		if _, isString := br.Body.(string); isString {
			// A string body is base64 of a non-JSON payload, which the
			// policy cannot read.
			d := deny("batch request bodies must be JSON")
			d.Refusal = RefusalMediaType
			return d, nil
		}
		if _, _, reason := decideMediaType(ct, mediaJSON); reason != "" {
			d := deny("%s", reason)
			d.Refusal = RefusalMediaType
			return d, nil
		}
	}
	// The body was parsed strictly with the batch: decide on that value.
	rt := p.routeAs(c.name, actor, req, false)
	d := rt.decide(&Args{Caller: c.name, Request: req, ContentType: ct, doc: br.Body, Actor: actor, inBatch: true})
	if d.Result == Allow && d.Content != nil {
		// File content moves only as a call of its own: inside a batch,
		// Graph's redirect to the file host (and an upload session's URL)
		// would sit in the batch's answer, beyond the stage that follows
		// or seals it.
		return deny("file content (rule %q) cannot be moved inside $batch: send the call on its own", d.RuleID), nil
	}
	return d, &rt
}

// outRequest is a sub-request as Graph receives it.
type outRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      any               `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

// rebuildBatch writes a batch out again from what was decided: each
// sub-request with its canonical method, the $select the policy adds, its
// headers once each by their canonical names and the Content-Type its
// body was read as, and the body as parsed (one value, no duplicate
// keys). Graph then reads exactly what the policy read.
func rebuildBatch(reqs []BatchRequest, subs []SubDecision) ([]byte, error) {
	out := struct {
		Requests []outRequest `json:"requests"`
	}{Requests: make([]outRequest, len(reqs))}
	for i, br := range reqs {
		o := outRequest{ID: br.ID, Method: strings.ToUpper(br.Method), URL: br.URL, Body: br.Body, DependsOn: br.DependsOn}
		if len(br.Headers) > 0 {
			o.Headers = make(map[string]string, len(br.Headers))
			for k, v := range br.Headers {
				o.Headers[http.CanonicalHeaderKey(k)] = v
			}
		}
		if i < len(subs) {
			sd := subs[i].Decision
			if sd.AddSelect != "" {
				o.URL = WithSelect(o.URL, sd.AddSelect)
			}
			if sd.ContentType != "" && br.Body != nil {
				o.Headers["Content-Type"] = sd.ContentType
			}
		}
		out.Requests[i] = o
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// WithSelect adds $select=fields to a URL or a path with its query.
func WithSelect(target, fields string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
		if strings.HasSuffix(target, "?") || strings.HasSuffix(target, "&") {
			sep = ""
		}
	}
	parts := strings.Split(fields, ",")
	for i, f := range parts {
		parts[i] = url.QueryEscape(f)
	}
	return target + sep + "$select=" + strings.Join(parts, ",")
}
