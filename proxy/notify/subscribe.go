package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// The outbound half: a relayed subscription is created with the proxy's
// URLs, and its answers show the caller its own.

// Subscribe rewrites the body of a subscription's creation, which the
// policy has decided and allowed: notificationUrl and
// lifecycleNotificationUrl become the proxy's, each with a token sealing
// the caller, the caller's URL and its clientState, and clientState
// becomes a random one of the proxy's. The body Graph receives is written
// out again from the parsed JSON. An error wraps proxy.ErrRelayUnavailable
// when no token can be sealed.
func (rl *Relay) Subscribe(caller string, body []byte) ([]byte, error) {
	obj, err := parseObject(body)
	if err != nil {
		return nil, fmt.Errorf("subscription body: %w", err)
	}
	rt := route{Caller: caller, Proxy: newState()}
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
// this caller. Another caller's tokens stay as they are, opaque, and its
// subscription's clientState, the proxy's proof of Graph's deliveries,
// is withheld (null): Graph lists every subscription of the proxy's
// application to whoever asks.
func (rl *Relay) Restore(caller string, answer []byte) []byte {
	if !bytes.Contains(answer, []byte(proxy.NotificationsPath)) {
		return answer
	}
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return answer
	}
	if !rl.restore(caller, v, 0) {
		return answer
	}
	out, err := json.Marshal(v)
	if err != nil {
		return answer
	}
	return out
}

// Owner implements proxy.Notifications.
func (rl *Relay) Owner(notificationURL string) (caller, url string, relayed bool) {
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
	return rt.Caller, rt.URL, true
}

// restore walks v, restoring subscriptions in place; it reports whether
// it changed any.
func (rl *Relay) restore(caller string, v any, depth int) bool {
	if depth > 16 {
		return false
	}
	changed := false
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			changed = rl.restore(caller, e, depth+1) || changed
		}
	case map[string]any:
		var state *route
		for _, name := range []string{"notificationUrl", "lifecycleNotificationUrl"} {
			k, ok := memberAny(x, name)
			if !ok {
				continue
			}
			s, _ := x[k].(string)
			tok, ok := tokenOf(rl.base, s)
			if !ok {
				continue
			}
			rt, err := rl.seal.open(tok)
			if err != nil {
				continue
			}
			if rt.Caller == caller {
				x[k] = rt.URL
			}
			changed, state = true, &rt
		}
		if state != nil {
			if k, ok := memberAny(x, "clientState"); ok && x[k] == state.Proxy {
				x[k] = nil
				if state.State != "" && state.Caller == caller {
					x[k] = state.State
				}
			}
		}
		for _, e := range x {
			changed = rl.restore(caller, e, depth+1) || changed
		}
	}
	return changed
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
