package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The JSON a file host answers an upload session's request with: the
// session's state (Outlook's and SharePoint's), the driveItem at its end,
// an error. Outlook's range answers name Outlook's own metadata in
// @odata.context (its host, the mailbox, the message), a URL of a host
// the caller is never to see; it is withheld. Everything else goes on
// through the link rewriter, which withholds or replaces the
// pre-authenticated URLs.

// maxFileHostJSON bounds a file host's JSON answer, read whole: a
// session's state or a driveItem is a few kilobytes. A longer one is not
// relayed (502).
const maxFileHostJSON = 1 << 20

// errFileHostAnswer: a file host's JSON answer that is not one JSON object
// within maxFileHostJSON; withheld (502), since the range it answers may
// have been taken.
var errFileHostAnswer = fmt.Errorf("%w: the file host's answer is not one JSON object of at most %d bytes", errAnswerWithheld, maxFileHostJSON)

// fileHostJSON reads a file host's JSON answer and returns it without a
// top-level @odata.context that does not point at Graph. Fail closed: an
// answer that is not exactly one JSON object within maxFileHostJSON is an
// error, and nothing of it is relayed. The members kept are written as
// they came, in their order.
func (h *Handler) fileHostJSON(body io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxFileHostJSON+1))
	if err != nil {
		return nil, fmt.Errorf("the file host's answer: %w", err)
	}
	if len(b) > maxFileHostJSON {
		return nil, errFileHostAnswer
	}
	out, ok := h.withholdForeignContext(b)
	if !ok {
		return nil, errFileHostAnswer
	}
	return out, nil
}

// withholdForeignContext is the object b without its top-level
// @odata.context members that do not point at Graph, and whether b is one
// JSON object. Keys are compared decoded, so an escaped spelling is the
// same key.
func (h *Handler) withholdForeignContext(b []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	out := make([]byte, 0, len(b))
	out = append(out, '{')
	first := true
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := t.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if key == "@odata.context" && !h.atGraph(v) {
			continue
		}
		k, err := json.Marshal(key)
		if err != nil {
			return nil, false
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(append(append(out, k...), ':'), v...)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false // more after the object
	}
	return append(out, '}'), true
}

// atGraph reports whether a JSON value is a string naming a URL on Graph.
func (h *Handler) atGraph(v json.RawMessage) bool {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return false
	}
	_, ok := h.links.URL(s)
	return ok
}
