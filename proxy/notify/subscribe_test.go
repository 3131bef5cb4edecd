package notify

import (
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

func testRelay(t *testing.T, k seal.Keys) *Relay {
	t.Helper()
	audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "test", W: io.Discard}}})
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse("https://proxy.example")
	rl, err := New(Options{PublicBase: public, Key: k, Policy: func() *policy.Policy { return nil }, TenantID: "t", Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	return rl
}

// engage and other are two callers, by their credentials: what the relay
// seals and compares is their identity, never their policy names.
var (
	engage = &callers.Caller{Name: "engage", Auth: "entra-jwt", TenantID: "t1", AppID: "a1"}
	other  = &callers.Caller{Name: "other", Auth: "entra-jwt", TenantID: "t1", AppID: "a2"}
)

func TestSubscribe(t *testing.T) {
	rl := testRelay(t, key1)
	tests := []struct {
		name, body      string
		wantErr         string
		wantURL         string // the member that holds the proxy's URL
		wantLifecycle   string
		wantState       string // the caller's clientState sealed
		wantStateMember string
	}{
		{name: "both URLs", body: `{"notificationUrl":"https://v.example/n","lifecycleNotificationUrl":"https://v.example/l","clientState":"s","resource":"r","expirationDateTime":"2030-01-01T00:00:00Z"}`,
			wantURL: "notificationUrl", wantLifecycle: "lifecycleNotificationUrl", wantState: "s", wantStateMember: "clientState"},
		{name: "no clientState", body: `{"notificationUrl":"https://v.example/n","resource":"r"}`, wantURL: "notificationUrl", wantStateMember: "clientState"},
		{name: "null clientState", body: `{"notificationUrl":"https://v.example/n","clientState":null}`, wantURL: "notificationUrl", wantStateMember: "clientState"},
		{name: "members in another case", body: `{"NotificationUrl":"https://v.example/n","ClientState":"s"}`, wantURL: "NotificationUrl", wantState: "s", wantStateMember: "clientState"},
		{name: "member twice", body: `{"notificationUrl":"https://v.example/n","notificationurl":"https://evil.example/n"}`, wantErr: `subscription body: member "notificationurl" appears twice`},
		{name: "clientState not a string", body: `{"notificationUrl":"https://v.example/n","clientState":5}`, wantErr: "subscription body: clientState must be a string"},
		{name: "URL not a string", body: `{"notificationUrl":5}`, wantErr: "subscription body: notificationUrl must be a URL"},
		{name: "not an object", body: `[1]`, wantErr: "subscription body: not a JSON object"},
		{name: "trailing data", body: `{"notificationUrl":"https://v.example/n"} {}`, wantErr: "subscription body: trailing data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rl.Subscribe(engage, "v1.0", []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			var in map[string]any
			json.Unmarshal([]byte(tt.body), &in)
			for _, m := range []string{tt.wantURL, tt.wantLifecycle} {
				if m == "" {
					continue
				}
				tok, ok := tokenOf(rl.base, got[m].(string))
				if !ok {
					t.Fatalf("%s = %v; want the proxy's URL", m, got[m])
				}
				rt, err := rl.seal.open(tok)
				if err != nil || rt.Identity != engage.Identity() || rt.CertSHA1 != "" || rt.URL != in[m] || rt.State != tt.wantState || rt.Proxy != got[tt.wantStateMember] ||
					rt.Lifecycle != (m == tt.wantLifecycle) {
					t.Errorf("%s seals %+v, %v", m, rt, err)
				}
			}
			if len(got) != len(in)+btoi(in["clientState"] == nil && in["ClientState"] == nil && !strings.Contains(tt.body, "clientState")) {
				t.Errorf("members %v; want those of %v and clientState", got, in)
			}
			// What the caller is shown of it is what it sent.
			var shown map[string]any
			restored, err := rl.Restore(engage.Identity(), out)
			if err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(restored, &shown)
			for k, v := range in {
				if strings.EqualFold(k, "clientState") {
					k = "clientState"
				}
				if shown[k] != v {
					t.Errorf("shown %s = %v; want %v", k, shown[k], v)
				}
			}
			// Another caller sees the proxy's URLs, and no clientState:
			// another credential, even given the maker's name, and
			// nobody ("") — the name is no identity.
			renamed := &callers.Caller{Name: engage.Name, Auth: "mtls", CertSHA256: strings.Repeat("ab", 32)}
			for _, identity := range []string{other.Identity(), renamed.Identity(), engage.Name, ""} {
				var theirs map[string]any
				restored, err = rl.Restore(identity, out)
				if err != nil {
					t.Fatal(err)
				}
				json.Unmarshal(restored, &theirs)
				if theirs[tt.wantURL] != got[tt.wantURL] || theirs["clientState"] != nil {
					t.Errorf("%q is shown %v", identity, theirs)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRestore(t *testing.T) {
	rl := testRelay(t, key1)
	sent, err := rl.Subscribe(engage, "v1.0", []byte(`{"notificationUrl":"https://v.example/n","clientState":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sub map[string]any
	json.Unmarshal(sent, &sub)
	theirs, _ := rl.Subscribe(other, "v1.0", []byte(`{"notificationUrl":"https://v.example/o","clientState":"t"}`))
	var their map[string]any
	json.Unmarshal(theirs, &their)
	list, _ := json.Marshal(map[string]any{"value": []any{sub, map[string]any{"notificationUrl": "https://proxy.example/notifications/forged", "clientState": "x"}}})
	batch, _ := json.Marshal(map[string]any{"responses": []any{map[string]any{"id": "1", "status": 200, "body": map[string]any{"value": []any{their}}}}})
	deep := strings.Repeat(`{"a":`, 40) + string(sent) + strings.Repeat(`}`, 40)
	for _, tt := range []struct {
		name, answer, want string
		err                bool
	}{
		{name: "not JSON", answer: "<html>/notifications/</html>", err: true},
		{name: "two values", answer: string(sent) + string(sent), err: true},
		{name: "nested too deep", answer: deep, err: true},
		{name: "no URL of the proxy's", answer: `{"notificationUrl":"https://v.example/n"}`, want: `{"notificationUrl":"https://v.example/n"}`},
		// The relay's URL whose token does not open is no caller's: its
		// clientState is withheld all the same.
		{name: "a list", answer: string(list), want: `{"value":[{"clientState":"s","notificationUrl":"https://v.example/n"},{"clientState":null,"notificationUrl":"https://proxy.example/notifications/forged"}]}`},
		{name: "another caller's, in a $batch", answer: string(batch),
			want: `{"responses":[{"body":{"value":[{"clientState":null,"notificationUrl":` + strconvQuote(their["notificationUrl"].(string)) + `}]},"id":"1","status":200}]}`},
		// The relay's URL spelled with escapes (any JSON writer may) is
		// the relay's all the same.
		{name: "escaped", answer: `{"value":[{"notificationUrl":"https://proxy.example/\u006eotifications/forged","clientState":"x"}]}`,
			want: `{"value":[{"clientState":null,"notificationUrl":"https://proxy.example/notifications/forged"}]}`},
		{name: "numbers kept", answer: strings.Replace(string(sent), "{", `{"n":12345678901234567890,`, 1), want: `{"clientState":"s","n":12345678901234567890,"notificationUrl":"https://v.example/n"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rl.Restore(engage.Identity(), []byte(tt.answer))
			if tt.err {
				if err == nil {
					t.Errorf("got %s; want an error", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSubscribeWithoutKey(t *testing.T) {
	rl := testRelay(t, testKey(nil))
	_, err := rl.Subscribe(engage, "v1.0", []byte(`{"notificationUrl":"https://v.example/n"}`))
	if err == nil || !strings.Contains(err.Error(), "change notifications cannot be relayed") {
		t.Errorf("got %v; want the relay unavailable", err)
	}
}

// TestOwner: a subscription's notification URL, as Graph holds it, is
// the proxy's for the caller the relay sealed it for, whose own URL it
// gives back; a forged or foreign one of the proxy's has no owner; any
// other URL is not the relay's.
func TestOwner(t *testing.T) {
	rl := testRelay(t, key1)
	sent, err := rl.Subscribe(engage, "v1.0", []byte(`{"notificationUrl":"https://v.example/n","lifecycleNotificationUrl":"https://v.example/l"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ NotificationURL, LifecycleNotificationURL string }
	if err := json.Unmarshal(sent, &sub); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, url, caller, own string
		relayed                bool
	}{
		{name: "notificationUrl", url: sub.NotificationURL, caller: engage.Identity(), own: "https://v.example/n", relayed: true},
		{name: "lifecycleNotificationUrl", url: sub.LifecycleNotificationURL, caller: engage.Identity(), own: "https://v.example/l", relayed: true},
		{name: "forged", url: "https://proxy.example/notifications/forged", relayed: true},
		{name: "with a path after the token", url: sub.NotificationURL + "/x", relayed: true},
		{name: "another key's", url: "https://proxy.example/notifications/" + strings.Repeat("A", 80), relayed: true},
		{name: "a caller's own", url: "https://v.example/n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			caller, own, relayed := rl.Owner(tt.url)
			if caller != tt.caller || own != tt.own || relayed != tt.relayed {
				t.Errorf("got %q %q %v; want %q %q %v", caller, own, relayed, tt.caller, tt.own, tt.relayed)
			}
		})
	}
}

// TestSubscribeSealsTheCredential: the token seals the caller's identity,
// and for a client certificate its SHA-1 thumbprint beside (the policy
// may name the certificate by it); the caller's policy name only for
// earlier versions, after a rollback (Restore and deliveries never read
// it: TestSubscribe, e2e.TestNotificationsFollowTheCredential); a caller
// the proxy cannot name by its credential is refused, never sealed as
// nobody.
func TestSubscribeSealsTheCredential(t *testing.T) {
	rl := testRelay(t, key1)
	cert := &callers.Caller{Name: "partner", Auth: "mtls", CertSHA256: strings.Repeat("ab", 32), CertSHA1: strings.Repeat("cd", 20)}
	for _, tt := range []struct {
		name         string
		caller       *callers.Caller
		wantIdentity string
		wantSHA1     string
		wantErr      bool
	}{
		{name: "Entra ID token", caller: engage, wantIdentity: "entra-jwt:app:t1:a1"},
		{name: "client certificate", caller: cert, wantIdentity: "mtls:sha256:" + strings.Repeat("ab", 32), wantSHA1: strings.Repeat("cd", 20)},
		{name: "no credential", caller: &callers.Caller{Name: "engage"}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rl.Subscribe(tt.caller, "v1.0", []byte(`{"notificationUrl":"https://v.example/n"}`))
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %s; want the creation refused", out)
				}
				return
			}
			var sub struct{ NotificationURL string }
			json.Unmarshal(out, &sub)
			tok, _ := tokenOf(rl.base, sub.NotificationURL)
			rt, err := rl.seal.open(tok)
			// The name is sealed for earlier versions (a rollback) only.
			if err != nil || rt.Identity != tt.wantIdentity || rt.CertSHA1 != tt.wantSHA1 || rt.Name != tt.caller.Name {
				t.Errorf("sealed %+v, %v; want identity %q, SHA-1 %q", rt, err, tt.wantIdentity, tt.wantSHA1)
			}
		})
	}
}
