package hardening

// Every request made with the proxy's Graph token is one its audit
// accounts for, however the request ends: resent by the transport, sent
// and never answered, cut by a shutdown, or made around the proxy with a
// client-request-id the proxy once sent. And no outbound request's error
// puts its URL's query into a record.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// h4Reconcile writes the simulator's Graph activity log and runs
// `graph-proxy audit reconcile` on the proxy's audit file.
func h4Reconcile(t *testing.T, sim *graphsim.Sim, auditFile string) (string, error) {
	t.Helper()
	rows := sim.Graph.ActivityLog(time.Now().Add(time.Hour), 0)
	for _, r := range rows {
		// The simulator applies a fault before it reads the token, so a
		// delayed request has no AppId; Graph logs the token's app. Every
		// request here without one is the proxy's.
		if r["AppId"] == "" {
			r["AppId"] = graphsim.SystemIdentityClientID
		}
	}
	b, _ := json.Marshal(rows)
	file := filepath.Join(t.TempDir(), "activity.json")
	write(t, file, string(b))
	out, err := exec.Command(binary, "audit", "reconcile", "--graph-activity", file, "--proxy-app", graphsim.SystemIdentityClientID,
		"--settle", "0s", auditFile).CombinedOutput()
	return string(out), err
}

// h4Stop sends SIGTERM and waits for the process, without Stop's checks.
func h4Stop(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("graph-proxy did not exit after SIGTERM")
	}
}

func recordsWithClientID(recs []auditlog.Record, id string) []auditlog.Record {
	var out []auditlog.Record
	for _, r := range recs {
		if strings.EqualFold(r.ClientRequestID, id) {
			out = append(out, r)
		}
	}
	return out
}

func simSawClientID(sim *graphsim.Sim, id string) int {
	n := 0
	for _, r := range sim.Graph.Requests() {
		if strings.EqualFold(r.Header.Get("client-request-id"), id) {
			n++
		}
	}
	return n
}

// Promise: "No request reaches Graph without a decision and an audit
// record" and "are calls' records written before the close record?".
// A call forwarded to Graph while SIGTERM arrives, whose answer takes
// longer than shutdownTimeout.
func TestAttemptsShutdownCutRecorded(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_SHUTDOWNTIMEOUT=1s", "GRAPH_PROXY_GRAPH_TIMEOUT=30s"}})
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Delay: 4 * time.Second, Times: 1})
	const cid = "4a4a4a4a-0000-4000-8000-00000000a001"
	done := make(chan result, 1)
	go func() { done <- p.Do("GET", "/v1.0/users?$top=1", "", "client-request-id", cid) }()
	proxytest.WaitWithin(t, "Graph receives the call", 10*time.Second, func() bool { return simSawClientID(sim, cid) > 0 })
	h4Stop(t, p)
	r := <-done
	recs := p.Records()
	mine := recordsWithClientID(recs, cid)
	closeAt := -1
	for i, rec := range recs {
		if rec.Kind == "close" {
			closeAt = i
		}
	}
	t.Logf("caller got status %d err %v; Graph saw the call %d time(s); records with its client-request-id: %d; close record at %d of %d",
		r.Status, r.Err, simSawClientID(sim, cid), len(mine), closeAt, len(recs))
	if strings.Contains(p.Stderr(), "audit record lost") {
		t.Logf("stderr: %s", grepLines(p.Stderr(), "audit record lost"))
	}
	for _, rec := range mine {
		t.Logf("its record: status %d upstreamStatus %d error %q", rec.Status, rec.UpstreamStatus, rec.Error)
	}
	if len(mine) == 0 {
		t.Errorf("a call Graph received (client-request-id %s) has no audit record; the chain was closed without it", cid)
	}
	out, err := h4Reconcile(t, sim, p.Audit)
	t.Logf("audit reconcile: %v\n%s", err, out)
	if len(mine) > 0 && (mine[0].Attempts != 1 || mine[0].Status != http.StatusServiceUnavailable || !strings.Contains(mine[0].Error, "graphProxy.shutDown")) {
		t.Errorf("the record of a call cut at shutdown says status %d, attempts %d, error %q; want 503 graphProxy.shutDown, 1 attempt", mine[0].Status, mine[0].Attempts, mine[0].Error)
	}
	if len(mine) > 0 && mine[0].UpstreamStatus == 0 && strings.Contains(out, cid) {
		t.Errorf("the proxy cut a forwarded call at shutdown; its record says %d %q (the caller went away), upstreamStatus 0 (not forwarded), and reconcile reports Graph's row as never recorded",
			mine[0].Status, mine[0].Error)
	}
}

// Promise: every request made with the proxy's token is one the proxy
// recorded, so that reconcile proves completeness; the record's
// upstreamStatus is "0 if the call was not forwarded". A call Graph
// received but whose answer never came back (graph.timeout, caller gone)
// is recorded as if never sent, and reconcile then reports Graph's row as
// a request the proxy never recorded (its identity used elsewhere).
func TestAttemptsSentUnansweredReconciles(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_GRAPH_TIMEOUT=1s"}})

	// Graph slower than graph.timeout: 504.
	const slow = "4a4a4a4a-0000-4000-8000-00000000b001"
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Delay: 2500 * time.Millisecond, Times: 1})
	r := p.Do("GET", "/v1.0/users?$top=1", "", "client-request-id", slow)
	rec := p.Record(r.RequestID)
	t.Logf("504 case: status %d, record status %d upstreamStatus %d upstreamMs %v error %q; Graph saw it %d time(s)",
		r.Status, rec.Status, rec.UpstreamStatus, rec.UpstreamMs, rec.Error, simSawClientID(sim, slow))

	// The caller goes away while Graph works on the call: 499.
	const gone = "4a4a4a4a-0000-4000-8000-00000000b002"
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users", Delay: 800 * time.Millisecond, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", p.Base+"/v1.0/users?$top=1", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token())
	req.Header.Set("client-request-id", gone)
	if resp, err := p.Client.Do(req); err == nil {
		resp.Body.Close()
	}
	cancel()
	proxytest.WaitWithin(t, "the gone caller's record", 10*time.Second, func() bool { return len(recordsWithClientID(p.Records(), gone)) > 0 })
	grec := recordsWithClientID(p.Records(), gone)[0]
	t.Logf("499 case: record status %d upstreamStatus %d error %q; Graph saw it %d time(s)",
		grec.Status, grec.UpstreamStatus, grec.Error, simSawClientID(sim, gone))
	time.Sleep(time.Second) // the simulator's delayed answers finish
	p.Stop()

	out, err := h4Reconcile(t, sim, p.Audit)
	t.Logf("audit reconcile: %v\n%s", err, out)
	for _, id := range []string{slow, gone} {
		if simSawClientID(sim, id) > 0 && strings.Contains(out, id) {
			t.Errorf("Graph received the call with client-request-id %s and its record exists, but the record says upstreamStatus 0 (not forwarded) and reconcile reports it as a request the proxy never recorded", id)
		}
	}
}

// Promise: reconcile proves that every request made with the proxy's
// identity is one the proxy recorded. A caller chooses its
// client-request-id; the same id on a request made with the proxy's
// stolen token, directly at Graph, matches the caller's record and is
// never reported.
func TestAttemptsChosenClientRequestIDReported(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	p := startProxy(t, sim, procOptions{})
	const cid = "4a4a4a4a-0000-4000-8000-00000000c001"
	expect(t, p, "a call with a chosen client-request-id", p.Do("GET", "/v1.0/users?$top=1", "", "client-request-id", cid), 200, "", nil)
	// The proxy's identity used around the proxy, twice, with that id.
	for _, path := range []string{"/v1.0/users/" + "ceo@contoso.example" + "/messages", "/v1.0/users?$top=999"} {
		tok, _, err := sim.Entra.Mint(graphsim.TokenSpec{Tenant: graphsim.CustomerTenant, AppID: graphsim.SystemIdentityClientID,
			Audience: graphsim.GraphResource, Roles: []string{"User.ReadBasic.All", "Mail.Read"}})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", sim.Graph.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("client-request-id", cid)
		resp, err := sim.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	p.Stop()
	out, err := h4Reconcile(t, sim, p.Audit)
	t.Logf("Graph saw %d requests with client-request-id %s (1 through the proxy); audit reconcile: %v\n%s", simSawClientID(sim, cid), cid, err, out)
	if err == nil {
		t.Errorf("two requests made with the proxy's identity around the proxy were not reported: reconcile matched them to the caller's one record by its caller-chosen client-request-id")
	}
}

// h2Upstream is a raw HTTP/2 server standing in for Graph. Each request
// it reads whole counts as received (Graph processed it); the first
// `reset` requests are then answered with RST_STREAM(PROTOCOL_ERROR), as
// a front end may do after processing, the rest with 201 and a JSON body.
type h2Upstream struct {
	URL      string
	reset    int32
	received atomic.Int32
	mu       sync.Mutex
	bodies   []string
	ln       net.Listener
}

func startH2Upstream(t *testing.T, certFile, keyFile string, reset int) *h2Upstream {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	u := &h2Upstream{URL: "https://" + ln.Addr().String(), reset: int32(reset), ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *h2Upstream) serve(c net.Conn) {
	defer c.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var wmu sync.Mutex
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	type stream struct {
		method, path string
		body         []byte
	}
	streams := map[uint32]*stream{}
	complete := func(id uint32, s *stream) {
		n := u.received.Add(1)
		u.mu.Lock()
		u.bodies = append(u.bodies, s.method+" "+s.path+" "+string(s.body))
		u.mu.Unlock()
		wmu.Lock()
		defer wmu.Unlock()
		if n <= u.reset {
			fr.WriteRSTStream(id, http2.ErrCodeProtocol)
			return
		}
		var hb strings.Builder
		enc := hpack.NewEncoder(&hb)
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "201"})
		enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/json"})
		enc.WriteField(hpack.HeaderField{Name: "request-id", Value: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", n)})
		body := `{"id":"AAMk-created-` + fmt.Sprint(n) + `","subject":"Demo"}`
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: fmt.Sprint(len(body))})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte(hb.String()), EndHeaders: true})
		fr.WriteData(id, true, []byte(body))
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				wmu.Lock()
				fr.WriteSettingsAck()
				wmu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				wmu.Lock()
				fr.WritePing(true, f.Data)
				wmu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			s := &stream{method: f.PseudoValue("method"), path: f.PseudoValue("path")}
			streams[f.StreamID] = s
			if f.StreamEnded() {
				complete(f.StreamID, s)
			}
		case *http2.DataFrame:
			s := streams[f.StreamID]
			if s == nil {
				continue
			}
			s.body = append(s.body, f.Data()...)
			if len(f.Data()) > 0 {
				wmu.Lock()
				fr.WriteWindowUpdate(0, uint32(len(f.Data())))
				wmu.Unlock()
			}
			if f.StreamEnded() {
				complete(f.StreamID, s)
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

// Promise: every request made with the proxy's own Graph token is one the
// proxy recorded. Graph processes a POST, then resets the stream with
// PROTOCOL_ERROR; the transport sends it again (Go retries that error
// code, GetBody set). Graph received two event creations; the audit has
// one record.
func TestAttemptsWriteNotResentAfterProcessed(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "up.crt"), filepath.Join(dir, "up.key")
	serverCert(t, certFile, keyFile)
	upCert, _ := os.ReadFile(certFile)
	bundle := filepath.Join(dir, "bundle.pem")
	write(t, bundle, string(sim.CAPEM())+"\n"+string(upCert))
	up := startH2Upstream(t, certFile, keyFile, 1)
	p := startProxy(t, sim, procOptions{Env: []string{"GRAPH_PROXY_GRAPH_BASEURL=" + up.URL, "GRAPH_PROXY_GRAPH_CAFILE=" + bundle}})
	const cid = "4a4a4a4a-0000-4000-8000-00000000d001"
	ev := `{"subject":"Demo","start":{"dateTime":"2030-01-02T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2030-01-02T10:30:00","timeZone":"UTC"}}`
	r := p.Do("POST", "/v1.0/users/adele.vance0@"+graphsim.Domain+"/events", ev, "client-request-id", cid)
	t.Logf("caller got %d %s", r.Status, r.Body)
	if r.RequestID == "" {
		t.Fatalf("no answer from the proxy: %v", r.Err)
	}
	p.Record(r.RequestID)
	p.Stop()
	recs := recordsWithClientID(p.Records(), cid)
	up.mu.Lock()
	t.Logf("upstream received %d request(s): %q", up.received.Load(), up.bodies)
	up.mu.Unlock()
	for _, rec := range recs {
		t.Logf("record: status %d upstreamStatus %d graphRequestId %s error %q", rec.Status, rec.UpstreamStatus, rec.GraphRequestID, rec.Error)
	}
	if up.received.Load() != 1 {
		t.Errorf("Graph received %d POSTs for one call; a write Graph may have processed is never sent again", up.received.Load())
	}
	if len(recs) != 1 || recs[0].Attempts != int(up.received.Load()) {
		t.Errorf("records %+v; want one, with attempts %d", recs, up.received.Load())
	}
}

// Promise: never store a secret. A relayed subscription's notificationUrl
// carrying the receiver's key (an Azure Functions ?code=), allowed by
// prefix; the receiver then goes down, and Graph's delivery fails at the
// proxy's relay: the inbound record's error names the URL.
func TestOutboundErrorWithoutQuery(t *testing.T) {
	var mu sync.Mutex
	receiver := httptestTLS(t, func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, tok)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	policy := `version: 1
callers:
  - name: engage
    match: { tenantID: "` + graphsim.VendorTenant + `", appID: "` + graphsim.VendorAppID + `" }
    permissions: [Calendars.ReadBasic.All]
    notifications: relay
subscriptions:
  notificationUrls: ["` + receiver.URL + `/graph/*"]
rules:
  - { id: events-read, method: GET, path: "/users/{user}/events", permission: Calendars.ReadBasic.All }
  - { id: subscribe, method: POST, path: "/subscriptions", permission: Calendars.ReadBasic.All }
`
	e := proxytest.New(t, proxytest.Options{Policy: policy, NotificationKey: "0123456789abcdef0123456789abcdef-notifications", NotificationClient: receiver.Client()})
	ids, _ := e.Sim.Graph.Users()
	e.Sim.Graph.Subscriptions.SetRetries(0, 5*time.Millisecond)
	body := `{"changeType":"created","notificationUrl":"` + receiver.URL + `/graph/notify?code=FUNCKEY-SECRET-0020","resource":"users/` + ids[0] + `/events","expirationDateTime":"` +
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `","clientState":"s"}`
	resp := e.Do("POST", "/v1.0/subscriptions", strings.NewReader(body), "Content-Type", "application/json")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("subscription: %d %s\nreason %q", resp.StatusCode, b, e.Record(resp).Reason)
	}
	var sub struct{ ID string }
	json.Unmarshal(b, &sub)
	mu.Lock()
	receiver.Close() // the vendor's receiver goes down
	mu.Unlock()
	status, err := e.Sim.Graph.Subscriptions.Notify(sub.ID, graphsim.Change{Resource: "Users/" + ids[0] + "/Events/AAMk1"})
	t.Logf("delivery answered %d, %v", status, err)
	time.Sleep(300 * time.Millisecond)
	audit := e.Audit.String()
	if strings.Contains(audit, "FUNCKEY-SECRET-0020") {
		t.Errorf("the receiver's key (notificationUrl query value) is in the audit log: %s", grepLines(audit, "FUNCKEY-SECRET-0020"))
	}
}

type tlsServer struct {
	URL    string
	srv    *http.Server
	ln     net.Listener
	client *http.Client
}

func (s *tlsServer) Client() *http.Client { return s.client }
func (s *tlsServer) Close()               { s.srv.Close() }

// httptestTLS is httptest.NewTLSServer, kept local so as not to widen the
// package's imports' meaning.
func httptestTLS(t *testing.T, h http.HandlerFunc) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "r.crt"), filepath.Join(dir, "r.key")
	pool := serverCert(t, certFile, keyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{URL: "https://" + ln.Addr().String(), srv: &http.Server{Handler: h}, ln: ln,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}
