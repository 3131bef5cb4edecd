package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// scheduleJSON is a getSchedule answer of about 1 KB, as Graph sends one
// for a single mailbox and a working day at 30-minute intervals.
var scheduleJSON = []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)","value":[{"scheduleId":"adelev@contoso.example","availabilityView":"000220000000000000000000","scheduleItems":[{"isPrivate":false,"status":"busy","subject":"Quarterly planning","location":"Conference room 4","start":{"dateTime":"2026-12-01T09:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"}},{"isPrivate":true,"status":"tentative","start":{"dateTime":"2026-12-01T13:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T13:30:00.0000000","timeZone":"UTC"}}],"workingHours":{"daysOfWeek":["monday","tuesday","wednesday","thursday","friday"],"startTime":"08:00:00.0000000","endTime":"17:00:00.0000000","timeZone":{"name":"Pacific Standard Time"}}}]}`)

// eventsJSON is the answer to a listing of a mailbox's events (-reads):
// one event of about 2 KB, the one the load creates.
var eventsJSON = []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('user0%40contoso.example')/events","value":[` + eventBody + `]}`)

// backend is the fast upstream standing in for Graph: getSchedule and a
// listing of events answer from memory, event creation echoes the body
// (201), anything else 404.
// With -delay (or a POST to /_bench/delay?d=300ms while it runs) it answers
// after that delay, as Graph does in 100–500 ms; GET /_bench/inflight says
// how many calls it holds at that moment and how many it has answered.
func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	cert := fs.String("cert", "", "certificate PEM")
	key := fs.String("key", "", "key PEM")
	compress := fs.Bool("gzip", false, "compress answers when the request accepts gzip, as Graph does")
	delay := fs.Duration("delay", 0, "answer after this delay")
	fs.Parse(args)
	return serveTLS(*listen, *cert, *key, newBackend(*compress, *delay), graphFrames)
}

// graphFrames has the backend advertise HTTP/2's default frame size, 16
// KB, as servers commonly do, rather than Go's 1 MiB: a Go client writes a
// request body through a buffer as large as the server's frames, up to
// 512 KB, so against a Go server each large body going out would cost a
// proxy half a megabyte more than against Graph.
var graphFrames = &http.HTTP2Config{MaxReadFrameSize: 16 << 10}

// fakeGraph is the backend's handler: see backend.
type fakeGraph struct {
	compress bool
	delay    atomic.Int64 // nanoseconds
	inFlight atomic.Int64
	answered atomic.Int64
}

func newBackend(compress bool, delay time.Duration) *fakeGraph {
	u := &fakeGraph{compress: compress}
	u.delay.Store(int64(delay))
	return u
}

// maxEchoed is the largest event body the backend answers with.
const maxEchoed = 64 << 10

func (u *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_bench/delay":
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if r.Method != http.MethodPost || err != nil || d < 0 {
			http.Error(w, "POST /_bench/delay?d=DURATION", http.StatusBadRequest)
			return
		}
		u.delay.Store(int64(d))
		return
	case "/_bench/inflight":
		fmt.Fprintln(w, u.inFlight.Load(), u.answered.Load())
		return
	}
	u.inFlight.Add(1)
	defer func() {
		u.inFlight.Add(-1)
		u.answered.Add(1)
	}()
	body, _ := io.ReadAll(r.Body)
	if d := time.Duration(u.delay.Load()); d > 0 {
		// A timer, not a busy wait: a call held costs the backend a
		// goroutine and its buffers, as it costs the proxy in front.
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if u.compress {
		var done func()
		w, done = graphsim.Compress(w, r)
		defer done()
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("request-id", "00000000-0000-4000-8000-000000000000")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/calendar/getSchedule"):
		w.Write(scheduleJSON)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events"):
		w.Write(eventsJSON)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/events") && len(body) > maxEchoed:
		// A large body's answer is the event's id: the phases with large
		// bodies measure them going out.
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"AAMkAGI2THVSAAA="}`)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/events"):
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"Request_ResourceNotFound","message":"not here"}}`)
	}
}

// bare is the floor of a Go proxy: httputil.ReverseProxy with an HTTP/2
// transport tuned for one busy upstream, and nothing else.
func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	cert := fs.String("cert", "", "certificate PEM")
	key := fs.String("key", "", "key PEM")
	upstream := fs.String("upstream", "", "upstream base URL")
	caFile := fs.String("ca", "", "CA of the upstream")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof here (for the harness's -profile)")
	fs.Parse(args)
	if *pprofAddr != "" {
		go http.ListenAndServe(*pprofAddr, nil) // the default mux, where net/http/pprof registers
	}
	rp, err := newBareProxy(*upstream, *caFile)
	if err != nil {
		return err
	}
	return serveTLS(*listen, *cert, *key, rp)
}

// newBareProxy is the bare proxy's forwarding: to upstream, whose
// certificate caFile's CA issued. The OPA peer forwards with it too.
func newBareProxy(upstream, caFile string) (*httputil.ReverseProxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	return &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = u.Host },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}, nil
}

// serveTLS serves h with HTTP/2 and HTTP/1.1 until SIGTERM or SIGINT.
// frames, when set, is its HTTP/2 configuration.
func serveTLS(addr, cert, key string, h http.Handler, frames ...*http.HTTP2Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String()) // the harness reads the address
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if len(frames) > 0 {
		srv.HTTP2 = frames[0]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, cert, key); err != http.ErrServerClosed {
		return err
	}
	return nil
}
