package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// The outbound half: a relayed subscription is created with the proxy's
// URLs, and its answers show the caller its own.

// Subscribe rewrites the body of a subscription's creation, which the
// policy has decided and allowed: notificationUrl and
// lifecycleNotificationUrl become the proxy's, each with a token sealing
// the caller's identity (its credential, not its policy name), the
// caller's URL and its clientState, the version and the resource (decided
// again on every delivery), and clientState becomes a random one of the
// proxy's. The body Graph receives is written out again from the parsed
// JSON. An error wraps proxy.ErrRelayUnavailable when no token can be
// sealed; a caller without an identity is refused (its deliveries would
// be nobody's).
func (rl *Relay) Subscribe(caller *callers.Caller, version string, body []byte) ([]byte, error) {
	identity := caller.Identity()
	if identity == "" {
		return nil, errors.New("the caller's credential cannot be named, so its notifications cannot be relayed")
	}
	obj, err := parseObject(body)
	if err != nil {
		return nil, fmt.Errorf("subscription body: %w", err)
	}
	rt := route{Identity: identity, Name: caller.Name, Proxy: newState(), Version: version}
	if caller.Auth == "mtls" {
		rt.CertSHA1 = caller.CertSHA1
	}
	if a := caller.Actor; a != nil {
		rt.User, rt.UPN = a.ObjectID, a.UPN
	}
	if k, ok := member(obj, "resource"); ok {
		if err := json.Unmarshal(obj[k], &rt.Resource); err != nil {
			return nil, errors.New("subscription body: resource must be a string")
		}
	}
	if k, ok := member(obj, "clientState"); ok {
		var s *string
		if err := json.Unmarshal(obj[k], &s); err != nil {
			return nil, errors.New("subscription body: clientState must be a string")
		}
		if s != nil {
			rt.State = *s
		}
		delete(obj, k)
	}
	obj["clientState"], _ = json.Marshal(rt.Proxy)
	for _, name := range []string{"notificationUrl", "lifecycleNotificationUrl"} {
		k, ok := member(obj, name)
		if !ok {
			continue
		}
		var u string
		if err := json.Unmarshal(obj[k], &u); err != nil || u == "" {
			return nil, fmt.Errorf("subscription body: %s must be a URL", name)
		}
		r := rt
		r.URL, r.Lifecycle = u, name == "lifecycleNotificationUrl"
		tok, err := rl.seal.seal(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", proxy.ErrRelayUnavailable, err)
		}
		obj[k], _ = json.Marshal(rl.base + tok)
	}
	return json.Marshal(obj)
}

// Restore puts the caller's own notification URLs and clientState back
// into an answer about subscriptions, wherever an object in it has a
// notificationUrl of the proxy's whose token opens and was sealed for
// this caller's identity (callers.Caller.Identity; "" is nobody's): a
// caller the policy renamed keeps seeing its own, a new caller given an
// old name never sees them. Another caller's tokens stay as they are,
// opaque, and the
// clientState of every other subscription whose URL is the relay's, the
// proxy's proof of Graph's deliveries, is withheld (null): Graph lists
// every subscription of the proxy's application to whoever asks. An
// answer that names the relay's path but cannot be read whole (not one
// JSON value, nested deeper than maxRestoreDepth) is an error: as it is,
// it would carry those clientStates.
func (rl *Relay) Restore(identity string, answer []byte) ([]byte, error) {
	if !bytes.Contains(answer, []byte(relayPathWord)) && !bytes.Contains(answer, []byte(`\u`)) {
		return answer, nil
	}
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, errors.New("an answer naming the relay's URLs is not one JSON value")
	}
	changed, err := rl.restore(identity, v, 0)
	if err != nil || !changed {
		return answer, err
	}
	return json.Marshal(v)
}

// relayPathWord is the part of the relay's path any spelling of its URLs
// in JSON holds, '/' escaped or not; one with a \u escape (which may
// stand for any of its letters) is read whole.
const relayPathWord = "notifications"

// maxRestoreDepth bounds the nesting Restore walks: a $batch's
// sub-response holding a listing is six deep.
const maxRestoreDepth = 32

// Owner implements proxy.Notifications: the identity the URL's token was
// sealed for, "" for a token that does not open or carries none.
func (rl *Relay) Owner(notificationURL string) (identity, url string, relayed bool) {
	tok, ok := tokenOf(rl.base, notificationURL)
	if !ok {
		// Under the relay's base all the same (a token with a '/'): one
		// of the proxy's, whose owner cannot be told.
		return "", "", strings.HasPrefix(notificationURL, rl.base)
	}
	rt, err := rl.seal.open(tok)
	if err != nil {
		return "", "", true
	}
	return rt.Identity, rt.URL, true
}

// restore walks v, restoring subscriptions in place; it reports whether
// it changed any.
func (rl *Relay) restore(identity string, v any, depth int) (bool, error) {
	if depth > maxRestoreDepth {
		return false, errors.New("an answer naming the relay's URLs is nested too deep to restore")
	}
	changed := false
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			c, err := rl.restore(identity, e, depth+1)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	case map[string]any:
		// relayed: a URL of the relay's; mine: the caller's route, when
		// the relay sealed it for this caller's identity.
		var relayed bool
		var mine *route
		for _, name := range []string{"notificationUrl", "lifecycleNotificationUrl"} {
			k, ok := memberAny(x, name)
			if !ok {
				continue
			}
			s, _ := x[k].(string)
			if !strings.HasPrefix(s, rl.base) {
				continue
			}
			relayed = true
			tok, ok := tokenOf(rl.base, s)
			if !ok {
				continue
			}
			if rt, err := rl.seal.open(tok); err == nil && identity != "" && rt.Identity == identity {
				x[k], mine = rt.URL, &rt
			}
		}
		if relayed {
			changed = true
			if k, ok := memberAny(x, "clientState"); ok {
				// Graph holds the proxy's clientState for every relayed
				// subscription: the caller sees its own, or none.
				x[k] = nil
				if mine != nil && mine.State != "" {
					x[k] = mine.State
				}
			}
		}
		for _, e := range x {
			c, err := rl.restore(identity, e, depth+1)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	}
	return changed, nil
}

// parseObject reads a JSON object whose members are kept as they are
// written, refusing what a reader could take two ways: a key twice, or
// two keys equal but for case (Graph reads names without case).
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	obj := map[string]json.RawMessage{}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		if seen[strings.ToLower(k)] {
			return nil, fmt.Errorf("member %q appears twice", k)
		}
		seen[strings.ToLower(k)] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		obj[k] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return obj, nil
}

// member finds a member by name without case, as Graph reads it.
func member(obj map[string]json.RawMessage, name string) (string, bool) {
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func memberAny(obj map[string]any, name string) (string, bool) {
	for k := range obj {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}
