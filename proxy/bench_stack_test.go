package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// At Graph's latency every call in flight holds the stack of the goroutine
// that serves it (over HTTP/2 a goroutine of its own, over HTTP/1.1 its
// connection's), and a stack is as large as the deepest the call went
// before or while it waited, rounded up to a power of two; one that grows
// is copied whole each time. These measure it through the handler: the
// vendor's token checked by the real Entra authenticator (the simulator's
// keys), Graph's place taken by a function that holds every call until all
// of them are there. Each goroutine starts as deep as net/http's HTTP/2
// handler goroutine is when it calls the handler, and the function waits
// as deep as net/http's HTTP/2 transport does, by frames of those
// sizes (go build -gcflags=-S, Go 1.26), so that the figures are the
// proxy's.
//
// BenchmarkCallStack serves stackCalls calls at once. stack-B/waiting is
// the stacks' memory per call while the calls wait, after a collection
// (which halves a stack that uses under a quarter of itself, as it would in
// the proxy); stack-B/served is per call once it has answered, with no
// collection in between. Both are the runtime's stack memory, which also
// holds stacks the goroutines of earlier rounds left for reuse: an
// estimate, where TestCallStack is exact about one call.
const stackCalls = 256

func BenchmarkCallStack(b *testing.B) {
	for _, c := range stackCases {
		b.Run(c.name, func(b *testing.B) {
			s := newStackBench(b, c)
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var waiting, served float64
			for b.Loop() {
				w, s2 := s.measure(b)
				waiting += w
				served += s2
			}
			b.ReportMetric(waiting/float64(b.N), "stack-B/waiting")
			b.ReportMetric(served/float64(b.N), "stack-B/served")
		})
	}
}

// TestCallStack holds the figure the proxy's memory per call in flight
// rests on: a call, from the frames net/http's server puts above the
// handler to its deepest (its body's check, the wait for Graph under the
// transport's frames, its audit record), fits a stack of 8 KB, on the
// goroutine HTTP/2 gives each call and on the one an HTTP/1.1 connection
// serves its calls on, whose frames above the handler are deeper. A stage
// that keeps a decision or a record in its frame, a check that recurses
// deeply, or a result built in a frame on the body's path doubles it, for
// every call in flight.
//
// The call runs on a goroutine whose stack is made 8 KB first; a stack
// that grows is copied to a new place, so the address of a variable in
// the goroutine's first frame tells whether the call made it grow. The
// collector, which may shrink a stack (and so move it), is off.
func TestCallStack(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector deepens every frame; make test runs this without it")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// The check sees what it looks for: 10 KB more than its start does
	// not fit, 5 KB does.
	if !grows(func() { deep10KB(0) }) || grows(func() {}) {
		t.Fatal("a stack's growth cannot be told here (a goroutine starts with more than 8 KB?)")
	}
	servers := []struct {
		name  string
		under func(int, func())
	}{{"http2", underServer}, {"http1.1", underConnection}}
	for _, c := range stackCases {
		for _, srv := range servers {
			t.Run(c.name+"/"+srv.name, func(t *testing.T) {
				s := newStackBench(t, c)
				s.release = make(chan struct{})
				close(s.release)
				s.arrived.Add(1)
				req := s.request()
				var code int
				if grows(func() {
					srv.under(0, func() {
						w := httptest.NewRecorder()
						s.h.ServeHTTP(w, req)
						code = w.Code
					})
				}) {
					t.Errorf("the call's goroutine grew past 8 KB of stack")
				}
				if code != c.status {
					t.Errorf("status %d; want %d", code, c.status)
				}
			})
		}
	}
}

// grows runs f on a goroutine of its own whose stack is 8 KB, and reports
// whether f made it grow.
func grows(f func()) bool {
	runtime.GC() // goroutines start small again (Go sizes them by the stacks it scans)
	moved := make(chan bool)
	go func() {
		var here byte
		deep5KB(0) // the stack is 8 KB from here on
		before := uintptr(unsafe.Pointer(&here))
		f()
		moved <- uintptr(unsafe.Pointer(&here)) != before
	}()
	return <-moved
}

//go:noinline
func deep5KB(i int) {
	var frame [5 << 10]byte
	frame[i%len(frame)] = 1
	if frame[len(frame)-1-i%len(frame)] == 2 {
		panic("unreachable")
	}
}

//go:noinline
func deep10KB(i int) {
	var frame [10 << 10]byte
	frame[i%len(frame)] = 1
	if frame[len(frame)-1-i%len(frame)] == 2 {
		panic("unreachable")
	}
}

type stackCase struct {
	name, method, path string
	body               string
	status             int
}

// eventBody is an event's creation as the Graph SDKs send it: three
// levels deep (attendees, emailAddress, address).
var eventBody = `{"subject":"Onboarding consultation","body":{"contentType":"HTML","content":"` + strings.Repeat("Agenda: introductions, goals, next steps. ", 38) +
	`"},"start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00","timeZone":"UTC"},"location":{"displayName":"Online"},` +
	`"attendees":[{"emailAddress":{"address":"client@fabrikam.example","name":"Client"},"type":"required"}],"isOnlineMeeting":false,"transactionId":"7E163156-7762-4BEB-A1C6-729EA81755A7"}`

var stackCases = []stackCase{
	{name: "list-events", method: "GET", path: "/v1.0/users/adele.vance0@contoso.example/events?$top=5", status: 200},
	{name: "create-event", method: "POST", path: "/v1.0/users/adele.vance0@contoso.example/events", status: 201, body: eventBody},
	// The same creation inside a $batch: its sub-request's body is two
	// levels deeper, and each sub-request is decided under the batch's
	// frames.
	{name: "batch-create-event", method: "POST", path: "/v1.0/$batch", status: 200,
		body: `{"requests":[{"id":"1","method":"POST","url":"/users/adele.vance0@contoso.example/events","headers":{"Content-Type":"application/json"},"body":` + eventBody + `}]}`},
}

type stackBench struct {
	h       *proxy.Handler
	c       stackCase
	vendor  string
	arrived sync.WaitGroup
	release chan struct{}
}

func newStackBench(t testing.TB, c stackCase) *stackBench {
	sim, err := graphsim.Start(graphsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	p, err := policy.Parse("bench.yaml", []byte(stackBenchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	entra, err := callers.NewEntra(context.Background(), callers.EntraOptions{
		Tenants: []string{graphsim.VendorTenant}, Audiences: []string{graphsim.ProxyAudience},
		LoginURL: sim.Entra.URL, STSURL: "https://sts.windows.net", HTTPClient: sim.Client(),
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(entra.Close)
	s := &stackBench{c: c}
	if s.vendor, _, err = sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.VendorTenant, AppID: graphsim.VendorAppID,
		Audience: graphsim.ProxyAudience, Roles: []string{"Graph.Proxy"}}); err != nil {
		t.Fatal(err)
	}
	answer := eventsPage(5)
	if strings.HasSuffix(c.path, "/$batch") {
		// The event as Graph answers its creation, inside the batch's
		// answer: its people three levels down in the sub-request's body.
		answer = []byte(`{"responses":[{"id":"1","status":201,"headers":{"Content-Type":"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8","Location":"https://graph.microsoft.com/v1.0/users/adele.vance0@contoso.example/events/AAMkAGIAAAoZDOFAAA="},` +
			`"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('adele.vance0%40contoso.example')/events/$entity","@odata.etag":"W/\"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==\"","id":"AAMkAGIAAAoZDOFAAA=",` +
			`"subject":"Onboarding consultation","start":{"dateTime":"2026-12-01T10:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00.0000000","timeZone":"UTC"},` +
			`"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"Client","address":"client@fabrikam.example"}}],` +
			`"organizer":{"emailAddress":{"name":"Adele Vance","address":"adele.vance0@contoso.example"}}}}]}`)
	}
	s.h = benchHandlerWith(t, stackBenchPolicy, func(o *proxy.Options) {
		o.Callers = &callers.Chain{Entra: entra}
		o.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				io.Copy(io.Discard, r.Body)
			}
			underTransport(0, func() {
				s.arrived.Done()
				<-s.release
			})
			return &http.Response{StatusCode: c.status, Proto: "HTTP/2.0", ProtoMajor: 2, Request: r, ContentLength: int64(len(answer)),
				Header: http.Header{"Content-Type": {"application/json;odata.metadata=minimal;charset=utf-8"},
					"Content-Length": {strconv.Itoa(len(answer))}, "Request-Id": {"0c4b1a3e-9d2f-4a8b-b1c5-5e6f7a8b9c0d"}},
				Body: io.NopCloser(bytes.NewReader(answer))}, nil
		})
	})
	// The first call fills the token cache, as the first of a caller's
	// calls does.
	s.release = make(chan struct{})
	close(s.release)
	s.arrived.Add(1)
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, s.request())
	if w.Code != c.status {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return s
}

func (s *stackBench) request() *http.Request {
	var body io.Reader
	if s.c.body != "" {
		body = strings.NewReader(s.c.body)
	}
	req := httptest.NewRequest(s.c.method, "https://gp.contoso.example"+s.c.path, body)
	req.Header.Set("Authorization", "Bearer "+s.vendor)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// measure serves stackCalls calls at once and returns the stack memory per
// call while they wait and once they have answered. The collector must be
// off (debug.SetGCPercent(-1)): it runs here only when asked.
func (s *stackBench) measure(t testing.TB) (waiting, served float64) {
	runtime.GC()
	base := stackInUse()
	s.release = make(chan struct{})
	hold := make(chan struct{})
	var done, gone sync.WaitGroup
	s.arrived.Add(stackCalls)
	done.Add(stackCalls)
	gone.Add(stackCalls)
	for range stackCalls {
		req := s.request()
		go underServer(0, func() {
			defer gone.Done()
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, req)
			if w.Code != s.c.status {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
			done.Done()
			<-hold
		})
	}
	s.arrived.Wait()
	runtime.GC()
	waiting = float64(stackInUse()-base) / stackCalls
	close(s.release)
	done.Wait()
	served = float64(stackInUse()-base) / stackCalls
	close(hold)
	gone.Wait()
	return waiting, served
}

// underServer calls f from under a frame the size of net/http's HTTP/2
// frames above the handler (http2serverConn.runHandler,
// initALPNRequest.ServeHTTP, serverHandler.ServeHTTP: about 0.8 KB), on
// the goroutine of its own each HTTP/2 call has.
//
//go:noinline
func underServer(i int, f func()) {
	var frame [800]byte
	frame[i%len(frame)] = 1 // indexed by an argument: kept on the stack, whole
	f()
	if frame[len(frame)-1-i%len(frame)] == 2 {
		panic("unreachable")
	}
}

// underConnection calls f from under a frame the size of net/http's
// frames above the handler on an HTTP/1.1 connection's goroutine
// (conn.serve, serverHandler.ServeHTTP, HandlerFunc.ServeHTTP: about 1.2
// KB) and the serve command's handler that counts calls (0.1 KB), which
// serves call after call: a stack it grows there stays grown while the
// connection waits for its next call.
//
//go:noinline
func underConnection(i int, f func()) {
	var frame [1350]byte
	frame[i%len(frame)] = 1
	f()
	if frame[len(frame)-1-i%len(frame)] == 2 {
		panic("unreachable")
	}
}

// underTransport calls f from under a frame the size of net/http's frames
// between Transport.RoundTrip and the wait in http2ClientConn.roundTrip
// (about 1.7 KB).
//
//go:noinline
func underTransport(i int, f func()) {
	var frame [1700]byte
	frame[i%len(frame)] = 1
	f()
	if frame[len(frame)-1-i%len(frame)] == 2 {
		panic("unreachable")
	}
}

func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

const stackBenchPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite]
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", query: [$top], permission: Calendars.ReadBasic.All }
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite }
`
