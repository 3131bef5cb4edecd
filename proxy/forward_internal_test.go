package proxy

import (
	"net/http"
	"reflect"
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
