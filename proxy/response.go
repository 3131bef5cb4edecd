package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// The respond stage for calls whose rule has a response section (issue
// 21): Graph's answer goes through response.Filter, which rewrites its
// links in the same pass. Calls without one keep the link rewriter alone
// (links.go), at its cost.

// PseudonymKey supplies the key answers are pseudonymised with (policy
// response.pseudonymise): the customer's, from Key Vault
// (internal/secretkey). Key returns an error while there is none.
type PseudonymKey interface {
	Key() ([]byte, error)
}

var (
	// errPseudonymKey: a call whose answer is pseudonymised, and no key
	// to do it with. Nothing is forwarded (503).
	errPseudonymKey = errors.New("pseudonym key unavailable")
	// errAnswerWithheld: Graph's answer is not what the response section
	// can filter; none of it is relayed (502).
	errAnswerWithheld = errors.New("answer withheld: not filterable by the rule's response section")
)

// filtered reports whether the call's answer goes through the response
// filter: its rule, or a $batch sub-request's, has a response section.
func (c *call) filtered() bool {
	if c.decision.Response != nil {
		return true
	}
	for _, sd := range c.decision.Batch {
		if sd.Decision.Response != nil {
			return true
		}
	}
	return false
}

// pseudonymises reports whether the call's answer may need the key.
func (c *call) pseudonymises() bool {
	if c.decision.Response.Pseudonymises() {
		return true
	}
	for _, sd := range c.decision.Batch {
		if sd.Decision.Response.Pseudonymises() {
			return true
		}
	}
	return false
}

// pseudonymKey holds the key for a call whose answer is pseudonymised,
// before anything is forwarded: without it the answer could only be
// withheld after Graph acted on the call.
func (h *Handler) pseudonymKey(c *call) error {
	if !c.pseudonymises() {
		return nil
	}
	if h.o.PseudonymKey == nil {
		return fmt.Errorf("%w: none is configured (pseudonymKey.secretURI)", errPseudonymKey)
	}
	k, err := h.o.PseudonymKey.Key()
	if err != nil {
		return fmt.Errorf("%w: %w", errPseudonymKey, err)
	}
	c.key = k
	return nil
}

// filteredAnswer is answer for a call with a response section. An answer
// without a body passes. Any other answer must be JSON (never compressed:
// the transport decompresses what it asked for): its filtered output is
// read up to maxBufferedAnswer before anything is written, so that an
// answer found unfilterable within that is a 502 and none of it leaves;
// one that ends within it goes out whole with its length. A longer one
// streams on, and found unfilterable later, the caller's connection is
// cut (relay) before the document's last byte, which the filter holds
// until the answer has ended well.
func (h *Handler) filteredAnswer(c *call, resp *http.Response) (*bytes.Buffer, bool, error) {
	if resp.Body == http.NoBody || resp.ContentLength == 0 {
		return nil, false, nil
	}
	ct := resp.Header.Get("Content-Type")
	if answerMedia(resp.Header) != mediaJSON || resp.Header.Get("Content-Encoding") != "" {
		// A body of unknown length may yet be empty (an accepted
		// action's answer).
		if emptyBody(resp) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%w: Content-Type %q, Content-Encoding %q", errAnswerWithheld, ct, resp.Header.Get("Content-Encoding"))
	}
	if !jsonCharsetOK(ct) {
		// The filter reads UTF-8; the caller would decode other bytes.
		return nil, false, fmt.Errorf("%w: Content-Type %q", errAnswerWithheld, ct)
	}
	o := response.Options{Response: c.decision.Response, Status: resp.StatusCode, Key: c.key,
		Links: h.links.FilterLinks(!c.decision.ExternalLinks)}
	if len(c.decision.Batch) > 0 {
		o.Batch = make(map[string]*policy.Response, len(c.decision.Batch))
		for _, sd := range c.decision.Batch {
			o.Batch[sd.ID] = sd.Decision.Response
		}
	}
	f := response.New(resp.Body, o)
	c.filter = f
	resp.Body = f
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	buf := h.bufs.getAnswer(0)
	n, err := buf.ReadFrom(io.LimitReader(f, maxBufferedAnswer+1))
	switch {
	case errors.Is(err, response.ErrUnfilterable):
		return buf, false, fmt.Errorf("%w: %w", errAnswerWithheld, err)
	case err != nil:
		return buf, false, fmt.Errorf("%w: %w", errUpstreamBodyAbort, err)
	case n <= maxBufferedAnswer:
		resp.Header.Set("Content-Length", strconv.Itoa(buf.Len()))
		return buf, true, nil
	}
	resp.Body = prefixedBody{io.MultiReader(bytes.NewReader(buf.Bytes()), f), f}
	return buf, false, nil
}

// noteResponse puts in the call's record which response section applied
// and what it did: on a $batch's record, its sub-responses' totals.
func (c *call) noteResponse(rec *auditlog.Record) {
	if !c.filtered() || rec.UpstreamStatus == 0 {
		return
	}
	rec.Response = &auditlog.Response{}
	if s := c.decision.Response; s != nil {
		rec.Response.Rule = s.Rule
	}
	if c.filter != nil {
		n := c.filter.Counts()
		rec.Response.Removed, rec.Response.Pseudonymised = n.Removed, n.Pseudonymised
		if n.Withheld > 0 {
			rec.Reason = appendReason(rec.Reason, fmt.Sprintf("%d link(s) to hosts other than Graph withheld", n.Withheld))
		}
	}
}

// noteSubResponse is noteResponse for a $batch sub-request's record.
func (c *call) noteSubResponse(id string, s *policy.Response, rec *auditlog.Record) {
	if s == nil || c.rec.UpstreamStatus == 0 {
		return
	}
	rec.Response = &auditlog.Response{Rule: s.Rule}
	if c.filter != nil {
		n := c.filter.SubCounts(id)
		rec.Response.Removed, rec.Response.Pseudonymised = n.Removed, n.Pseudonymised
	}
}

// FilterLinks is the rewriter as response.Filter uses it: paging and delta
// links moved to the public base, and, when withhold is set, links to
// other hosts withheld as memberKind says.
func (l *LinkRewriter) FilterLinks(withhold bool) response.Links {
	return filterLinks{l: l, withhold: withhold}
}

type filterLinks struct {
	l        *LinkRewriter
	withhold bool
}

// Scope is scopeOf: a sharing link's object is known by its member.
func (fl filterLinks) Scope(key []byte) response.LinkScope { return scopeOf(key) }

// Kind is memberKind, as the filter names kinds: the same names hold
// links with or without a response section.
func (fl filterLinks) Kind(key []byte, scope response.LinkScope, top, list bool) response.LinkKind {
	switch stringKind(memberKind(key, scope, top, fl.withhold), list) {
	case linkValue:
		return response.GraphLink
	case externalValue:
		return response.ExternalLink
	case headerValue:
		return response.HeaderLink // withheld when elsewhere
	case credentialValue:
		return response.CredentialLink
	}
	return response.NotLink
}

// Credential is credentialURL.
func (fl filterLinks) Credential(raw []byte, complete bool) bool {
	return fl.l.credentialURL(raw, complete)
}

// Body is bodyReadsAsJSON.
func (fl filterLinks) Body(raw []byte, complete bool) bool {
	return bodyReadsAsJSON(raw, complete)
}

func (fl filterLinks) Rewrite(dst, raw []byte) ([]byte, bool) {
	split, ok := fl.l.rawPrefix(raw)
	if !ok {
		return dst, false
	}
	return append(append(dst, fl.l.to...), raw[split:]...), true
}
