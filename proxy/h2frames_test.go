package proxy_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// TestHTTP2AnswerEndsInItsFrame: over HTTP/2, as the Graph SDKs call, an
// answer read whole leaves in DATA frames the last of which ends the
// stream, not followed by an empty frame that does (a TLS record and a
// write more on both sides, per call). Over HTTP/1 the answer is flushed
// before the call's bookkeeping; the test holds both to the same bytes.
func TestHTTP2AnswerEndsInItsFrame(t *testing.T) {
	tests := []struct {
		name   string
		answer []byte
	}{
		{"a small answer", []byte(`{"value":[]}`)},
		{"an answer of 2 KB, as an event created", []byte(`{"subject":"` + strings.Repeat("Agenda: introductions, goals. ", 66) + `"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := benchHandlerWith(t, benchPolicy, func(o *proxy.Options) {
				o.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
					return &http.Response{StatusCode: 200, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, ContentLength: int64(len(tt.answer)),
						Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(tt.answer))}},
						Body:   io.NopCloser(bytes.NewReader(tt.answer))}, nil
				})
			})
			srv := httptest.NewUnstartedServer(h)
			srv.EnableHTTP2 = true
			srv.StartTLS()
			t.Cleanup(srv.Close)

			frames := h2Get(t, srv, "/v1.0/users/adele.vance0@contoso.example/events?$top=5")
			var body []byte
			for i, f := range frames {
				body = append(body, f.data...)
				if len(f.data) == 0 && f.end && i > 0 {
					t.Errorf("the stream ends in an empty DATA frame of its own, after %d with the answer: %+v", i, frames)
				}
			}
			if !bytes.Equal(body, tt.answer) {
				t.Errorf("answer %q, want %q", body, tt.answer)
			}
			if len(frames) == 0 || !frames[len(frames)-1].end {
				t.Errorf("the stream did not end: %+v", frames)
			}

			// HTTP/1.1: the same answer.
			c := srv.Client()
			c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
			c.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
			req, _ := http.NewRequest("GET", srv.URL+"/v1.0/users/adele.vance0@contoso.example/events?$top=5", nil)
			req.Header.Set("Authorization", "Bearer vendor-token")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 1 || !bytes.Equal(got, tt.answer) {
				t.Errorf("HTTP/1.1: %s %q, want the answer", resp.Proto, got)
			}
		})
	}
}

type dataFrame struct {
	data []byte
	end  bool
}

// h2Get sends one GET on a connection of its own and returns the DATA
// frames of its stream, up to the one that ends it.
func h2Get(t *testing.T, srv *httptest.Server, path string) []dataFrame {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		ServerName: "example.com", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "gp.contoso.example"}, {":path", path},
		{"authorization", "Bearer vendor-token"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	var frames []dataFrame
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d DATA frames: %v", len(frames), err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamEnded() {
				return frames
			}
		case *http2.DataFrame:
			frames = append(frames, dataFrame{append([]byte(nil), f.Data()...), f.StreamEnded()})
			if f.StreamEnded() {
				return frames
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			t.Fatalf("stream refused: %v", f)
		}
	}
}
