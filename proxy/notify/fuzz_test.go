package notify

import (
	"encoding/json"
	"testing"
)

// FuzzOpen: any string at the notification path opens only as a token
// this proxy sealed, never panics, and what opens seals and opens again
// to the same route.
func FuzzOpen(f *testing.F) {
	s := newSealer(key1)
	tok, err := s.seal(route{Identity: "entra-jwt:app:t1:a1", URL: "https://v.example/n", State: "s", Proxy: newState()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)-1])
	f.Add("")
	f.Add("AQ")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, token string) {
		rt, err := s.open(token)
		if err != nil {
			return
		}
		again, err := s.seal(rt)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := s.open(again); err != nil || back != rt {
			t.Fatalf("resealed %+v opens as %+v, %v", rt, back, err)
		}
	})
}

// FuzzParseDelivery: any body either is refused or parses into
// notifications whose copies for the caller are JSON objects parsing
// again to the same notification with the caller's clientState.
func FuzzParseDelivery(f *testing.F) {
	f.Add([]byte(`{"value":[{"subscriptionId":"s1","changeType":"created","resource":"Users/u1/Events/e1","clientState":"c","tenantId":"t","resourceData":{"id":"e1"}}]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"s1","changeType":"created","encryptedContent":{"data":"x"}}],"validationTokens":["a.b.c"]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"s1","lifecycleEvent":"missed","clientState":null}]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"s1","changeType":"created","clientState":"a","ClientState":"b"}]}`))
	f.Add([]byte(`{"value":[{"subscriptionId":"\u0073\ud800","changeType":"x"}]} `))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseDelivery(body)
		if err != nil {
			return
		}
		for _, n := range d.notes {
			out := n.forCaller("mine")
			back, err := parseNote(out)
			if err != nil {
				t.Fatalf("the caller's copy %s does not parse: %v", out, err)
			}
			if back.subscriptionID != n.subscriptionID || back.changeType != n.changeType || back.resource != n.resource ||
				back.clientState != "mine" || back.resourceData != n.resourceData || back.lifecycleEvent != n.lifecycleEvent {
				t.Fatalf("the caller's copy %+v; want %+v", back, n)
			}
			if !json.Valid(out) {
				t.Fatalf("invalid JSON %s", out)
			}
		}
	})
}
