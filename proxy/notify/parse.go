package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A delivery is one POST of Graph's to a notification URL: a collection
// of notifications, and for rich ones the tokens that prove they are
// Graph's.
type delivery struct {
	notes            []note
	validationTokens []string
}

// note is one notification: the members the proxy reads, and every member
// as written, from which the caller's copy is written out again.
type note struct {
	raw            map[string]json.RawMessage
	size           int
	subscriptionID string
	changeType     string
	lifecycleEvent string
	resource       string
	clientState    string
	tenantID       string
	resourceData   bool // encryptedContent: the resource's data, encrypted for the caller
}

// MaxNotifications bounds the notifications of one delivery.
const MaxNotifications = 1000

// noteStrings are the members of a notification read as strings; any
// other member passes as it is written.
var noteStrings = []string{"subscriptionId", "changeType", "lifecycleEvent", "resource", "clientState", "tenantId"}

// parseDelivery reads a delivery strictly: one object with value (the
// notifications, objects) and optionally validationTokens (strings), and
// nothing else; no member twice, or twice but for case, in any object the
// proxy reads; the members it reads of the types Graph sends.
func parseDelivery(data []byte) (*delivery, error) {
	top, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	d := &delivery{}
	for k, v := range top {
		switch k {
		case "value":
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil || items == nil {
				return nil, errors.New("value must be a list of notifications")
			}
			if len(items) == 0 || len(items) > MaxNotifications {
				return nil, fmt.Errorf("a delivery carries 1 to %d notifications", MaxNotifications)
			}
			for i, item := range items {
				n, err := parseNote(item)
				if err != nil {
					return nil, fmt.Errorf("notification %d: %w", i, err)
				}
				d.notes = append(d.notes, n)
			}
		case "validationTokens":
			if err := json.Unmarshal(v, &d.validationTokens); err != nil {
				return nil, errors.New("validationTokens must be a list of strings")
			}
			if len(d.validationTokens) > MaxNotifications {
				return nil, errors.New("too many validationTokens")
			}
		default:
			return nil, fmt.Errorf("unexpected member %q", k)
		}
	}
	if d.notes == nil {
		return nil, errors.New("no value")
	}
	return d, nil
}

func parseNote(data []byte) (note, error) {
	obj, err := parseObject(data)
	if err != nil {
		return note{}, err
	}
	n := note{raw: obj, size: len(data)}
	for _, name := range noteStrings {
		k, ok := member(obj, name)
		if !ok {
			continue
		}
		if k != name {
			// A reader of exact names would not see what the proxy checked.
			return note{}, fmt.Errorf("member %q is spelled %q", name, k)
		}
		var s *string
		if err := json.Unmarshal(obj[k], &s); err != nil {
			return note{}, fmt.Errorf("%s must be a string", name)
		}
		if s == nil {
			continue
		}
		switch name {
		case "subscriptionId":
			n.subscriptionID = *s
		case "changeType":
			n.changeType = *s
		case "lifecycleEvent":
			n.lifecycleEvent = *s
		case "resource":
			n.resource = *s
		case "clientState":
			n.clientState = *s
		case "tenantId":
			n.tenantID = *s
		}
	}
	if k, ok := member(obj, "encryptedContent"); ok {
		if k != "encryptedContent" {
			return note{}, fmt.Errorf("member %q is spelled %q", "encryptedContent", k)
		}
		n.resourceData = strings.TrimSpace(string(obj[k])) != "null"
	}
	switch {
	case n.subscriptionID == "":
		return note{}, errors.New("no subscriptionId")
	case n.changeType == "" && n.lifecycleEvent == "":
		return note{}, errors.New("neither changeType nor lifecycleEvent")
	case n.lifecycleEvent != "" && !isLifecycleEvent(n.lifecycleEvent):
		return note{}, fmt.Errorf("unknown lifecycleEvent %q", n.lifecycleEvent)
	case n.lifecycleEvent != "" && (n.changeType != "" || n.resourceData):
		// A lifecycle notification carries no one's data, and is relayed
		// unscoped: one that carries a change is not one.
		return note{}, errors.New("a lifecycle notification with a changeType or resource data")
	}
	return n, nil
}

// isLifecycleEvent: the lifecycle notifications Graph sends.
func isLifecycleEvent(s string) bool {
	return s == "reauthorizationRequired" || s == "subscriptionRemoved" || s == "missed"
}

// forCaller writes the notification out again for the caller: its own
// clientState in place of the proxy's.
func (n note) forCaller(state string) json.RawMessage {
	out := make(map[string]json.RawMessage, len(n.raw))
	for k, v := range n.raw {
		out[k] = v
	}
	if state == "" {
		out["clientState"] = json.RawMessage("null")
	} else {
		out["clientState"], _ = json.Marshal(state)
	}
	b, _ := json.Marshal(out)
	return b
}
