package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// annotation is the first custom annotation in the body
	// (customAnnotation), or "".
	annotation string
	// people: some object in the body has one of personKeys, or a
	// reference (people.go); the body is then read whole.
	people bool
	// spans are its objects and lists, for rawBody (jsonParser.spans).
	spans []rawSpan
}

// sourceURLKey is the annotation with which a body asks Graph to fetch a
// URL itself (attachments and file content by reference).
const sourceURLKey = "@microsoft.graph.sourceUrl"

// bodyMembers are the top-level members checkDoc reads; parseBody builds
// only these. body.member refuses (panics on) any other name, so a check
// added without its member here fails its first test instead of passing
// every body it should refuse.
var bodyMembers = []string{
	"schedules", "message", "toRecipients",
	"notificationUrl", "lifecycleNotificationUrl", "notificationQueryOptions", "includeResourceData", "resource",
	"status", "externalAudience",
	"sendResponse",
	"scope", "recipients", "parentReference", "destinationId",
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
// bodyMembers: the rest of the body is checked without being built. Its
// objects and lists are recorded after spans' length (jsonParser.spans);
// the body returned holds what spans grew to, a refused body's too, so
// that a lent list goes back whole.
func parseBody(data []byte, spans []rawSpan) (body, error) {
	p := jsonParser{b: data, members: bodyMemberKeys, watch: sourceURLBytes, people: true, annotations: true, record: true, spans: spans}
	v, err := p.parse()
	if err != nil {
		return body{spans: p.spans}, err
	}
	obj, _ := v.(map[string]any)
	return body{obj: obj, sourceURL: p.watched, annotation: p.annotation, people: p.peopleSeen, spans: p.spans}, nil
}

// parseLean reads a body as strictly as parseJSON, building its whole
// shape but only the strings and numbers the policy reads (jsonParser.lean).
// It was how a body naming people was read for walk; FuzzWalkRaw holds
// walkRaw, which replaced it, to walk on what it builds.
func parseLean(data []byte) (any, error) {
	p := jsonParser{b: data, lean: true}
	return p.parse()
}

// get reads a top-level member without case, and whether it is there.
func (b body) get(name string) (any, bool) {
	if !slices.Contains(bodyMembers, name) {
		panic("policy: body member " + name + " is not in bodyMembers")
	}
	for k, v := range b.obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
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
			if foldsToASCII([]byte(k)) {
				return nil, fmt.Errorf("key %s has a character whose case is ASCII", shownName(k))
			}
			lk := strings.ToLower(k)
			if seen[lk] {
				return nil, fmt.Errorf("key %s appears twice in one object", shownName(k))
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
