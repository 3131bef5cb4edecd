package outbound_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/outbound"
)

// TestErrorWithoutQuery: a failed request's error names at most the
// URL's scheme, host and path, and keeps its chain.
func TestErrorWithoutQuery(t *testing.T) {
	for _, raw := range []string{
		"https://hooks.vendor.example/graph/notify?code=SECRET-1",
		"https://hooks.vendor.example/graph/notify?code=SECRET-1&validationToken=SECRET-2",
		"https://user:SECRET-3@files.example/a#SECRET-4",
		"https://contoso.sharepoint.com/_layouts/download.aspx?tempauth=SECRET-5",
	} {
		req, _ := http.NewRequest("POST", raw, nil)
		_, err := (&http.Client{Transport: failing{}}).Do(req)
		got := outbound.Text(err)
		if strings.Contains(got, "SECRET") || !strings.Contains(got, "refused") {
			t.Errorf("%s: %q", raw, got)
		}
		if !errors.Is(outbound.Error(err), errRefused) {
			t.Errorf("%s: the chain is lost", raw)
		}
	}
	if outbound.Error(nil) != nil || outbound.Error(context.Canceled) != context.Canceled {
		t.Errorf("an error without a URL changed")
	}
}

var errRefused = errors.New("connection refused")

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, errRefused }

func TestUnprocessed(t *testing.T) {
	for msg, want := range map[string]bool{
		"http2: Transport: cannot retry err [stream error: stream ID 3; REFUSED_STREAM] after Request.Body was written":                     true,
		"http2: Transport: cannot retry err [http2: Transport received Server's graceful shutdown GOAWAY] after Request.Body was written":   true,
		"http2: Transport: cannot retry err [stream error: stream ID 3; PROTOCOL_ERROR; received from peer] after Request.Body was written": false,
		"read tcp: connection reset by peer": false,
	} {
		if got := outbound.Unprocessed(errors.New(msg)); got != want {
			t.Errorf("%s: %v", msg, got)
		}
	}
}
