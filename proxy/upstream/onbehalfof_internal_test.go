package upstream

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// FuzzExchangeError: whatever Entra ID's error answer holds, a failed
// exchange is a claims challenge (only when the answer carries claims), a
// refusal for the user, or the proxy's own trouble (ErrUnavailable); never
// anything else, and never a panic.
func FuzzExchangeError(f *testing.F) {
	for _, s := range []string{
		`{"error":"interaction_required","error_codes":[50076],"suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"x\"]}}}"}`,
		`{"error":"invalid_grant","error_codes":[65001]}`, `{"error":"invalid_grant","error_codes":[50013]}`,
		`{"error":"consent_required"}`, `{"error":"invalid_scope","error_codes":[70011]}`, `{"error":"interaction_required"}`,
		`{"error":"invalid_client","error_codes":[7000215]}`, `{"error":"temporarily_unavailable"}`, `{}`, `null`, `[`, ``,
		`{"error":"invalid_grant","claims":""}`, `{"error":1}`, `{"error_codes":"x"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		err := exchangeError(msalerrors.CallErr{
			Req:  &http.Request{},
			Resp: &http.Response{StatusCode: 400, Body: io.NopCloser(strings.NewReader(body))},
			Err:  errors.New("http call failed"),
		})
		var cc *ClaimsChallenge
		var xe *ExchangeError
		switch {
		case errors.As(err, &cc):
			var ee entraError
			if json.Unmarshal([]byte(body), &ee) != nil || ee.Claims == "" || cc.Claims != ee.Claims {
				t.Fatalf("%q: a claims challenge %q not from the answer's claims", body, cc.Claims)
			}
		case errors.As(err, &xe):
			if xe.Kind != ExchangeUserToken && xe.Kind != ExchangeConsent && xe.Kind != ExchangeInteraction {
				t.Fatalf("%q: kind %q", body, xe.Kind)
			}
		case errors.Is(err, ErrUnavailable):
		default:
			t.Fatalf("%q: %v is none of the exchange's errors", body, err)
		}
	})
	// Not an answer of Entra's at all: the proxy's trouble.
	if err := exchangeError(errors.New("dial tcp: refused")); !errors.Is(err, ErrUnavailable) {
		f.Errorf("a network error: %v", err)
	}
}
