package proxy

import (
	"bufio"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestRemoveHopByHop(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"end-to-end headers stay",
			http.Header{"Content-Type": {"application/json"}, "Request-Id": {"x"}},
			http.Header{"Content-Type": {"application/json"}, "Request-Id": {"x"}}},
		{"fixed hop-by-hop headers go",
			http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "Proxy-Authenticate": {"Basic"},
				"Te": {"trailers"}, "Trailer": {"X-Sum"}, "Upgrade": {"h2c"}, "Proxy-Connection": {"close"}, "Etag": {`"1"`}},
			http.Header{"Etag": {`"1"`}}},
		{"headers Connection names go, in any case and spacing",
			http.Header{"Connection": {"x-hop , X-Other", "x-third"}, "X-Hop": {"1"}, "X-Other": {"2"}, "X-Third": {"3"}, "X-Kept": {"4"}},
			http.Header{"X-Kept": {"4"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			removeHopByHop(tt.in)
			if !reflect.DeepEqual(tt.in, tt.want) {
				t.Errorf("got %v; want %v", tt.in, tt.want)
			}
		})
	}
}

// ambiguousFraming on requests as net/http's own parser hands them over
// (which hides the header it set aside): the framings RFC 9112 §6.1 has
// the server close the connection after, and not the plain ones.
func TestAmbiguousFraming(t *testing.T) {
	for _, tt := range []struct {
		name, raw string
		want      bool
	}{
		{"length", "POST /v1.0/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}", false},
		{"no body", "GET /v1.0/x HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{"chunked", "POST /v1.0/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"chunked and length", "POST /v1.0/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"HTTP/1.0 with Transfer-Encoding", "POST /v1.0/x HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"HTTP/1.0", "GET /v1.0/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
			if err != nil {
				t.Fatal(err)
			}
			if got := ambiguousFraming(r); got != tt.want {
				t.Errorf("ambiguousFraming = %v; want %v (TransferEncoding %q, ContentLength %d, header %v)", got, tt.want, r.TransferEncoding, r.ContentLength, r.Header)
			}
		})
	}
	if ambiguousFraming(&http.Request{ProtoMajor: 2, ContentLength: -1}) {
		t.Error("an HTTP/2 request without a length: its frames delimit it")
	}
}
