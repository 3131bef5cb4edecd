package proxy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// TestEncodedAnswerWithheld: a JSON answer under a Content-Encoding the
// transport did not undo (the proxy did not ask for it) cannot be read for
// links: it is withheld (502), never passed on for the caller's client to
// decode.
func TestEncodedAnswerWithheld(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	io.WriteString(zw, `{"uploadUrl":"https://contoso.sharepoint.com/up?tempauth=secret"}`)
	zw.Close()
	for _, enc := range []string{"gzip", "br", "identity"} {
		t.Run(enc, func(t *testing.T) {
			h := benchHandlerWith(t, benchPolicy, func(o *proxy.Options) {
				o.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
					return &http.Response{StatusCode: 200, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, ContentLength: int64(zipped.Len()),
						Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {enc}, "Content-Length": {strconv.Itoa(zipped.Len())}},
						Body:   io.NopCloser(bytes.NewReader(zipped.Bytes()))}, nil
				})
			})
			req := httptest.NewRequest("GET", "https://gp.contoso.example/v1.0/users/adele.vance0@contoso.example/events?$top=5", nil)
			req.Header.Set("Authorization", "Bearer vendor-token")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			var ge struct{ Error struct{ Code string } }
			json.Unmarshal(w.Body.Bytes(), &ge)
			if w.Code != http.StatusBadGateway || ge.Error.Code != "graphProxy.answerWithheld" || strings.Contains(w.Body.String(), "secret") {
				t.Errorf("got %d %s; want 502 graphProxy.answerWithheld", w.Code, w.Body)
			}
		})
	}
}
