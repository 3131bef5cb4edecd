package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The Graph SDKs speak HTTP/2: a vendor's calls in flight are streams on
// a few connections, not a connection each as wrk makes them. h2load is
// the delayed phases' load in that shape (levels "h2/N"): N streams, at
// most h2Streams on each connection, each keeping one call outstanding
// (a closed loop), the same calls as wrk's script. It prints the line the
// script prints, so that parseWrk reads both.

// h2Streams is the most streams h2load opens on one connection: under
// the servers' limits (Go's 250; nginx's 128).
const h2Streams = 100

// h2Load runs h2load pinned to the load core.
// With think, each stream waits before each call a time drawn at random
// from nothing to twice think (twinPhase).
func (h *harness) h2Load(target string, streams int, d time.Duration, bodyBytes int, think time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", "-c", h.o.loadCPU, h.self, "h2load", "-target", target, "-ca", h.ca,
		"-streams", strconv.Itoa(streams), "-duration", d.String(), "-body-bytes", strconv.Itoa(bodyBytes), "-think", think.String(),
		"-reads="+strconv.FormatBool(h.o.reads))
	cmd.Env = append(os.Environ(), "BENCH_TOKEN="+h.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

// h2LoadMain is the h2load subcommand.
func h2LoadMain(args []string) error {
	fs := flag.NewFlagSet("h2load", flag.ExitOnError)
	target := fs.String("target", "", "base URL")
	caFile := fs.String("ca", "", "CA certificate (PEM)")
	streams := fs.Int("streams", 300, "calls in flight")
	d := fs.Duration("duration", 10*time.Second, "how long")
	bodyBytes := fs.Int("body-bytes", 0, "every call an event creation with a body this large (0: the load's calls)")
	reads := fs.Bool("reads", false, "every call a read (readQuery)")
	think := fs.Duration("think", 0, "each stream waits before each call a time drawn at random from nothing to twice this (0: none, a closed loop)")
	fs.Parse(args)
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	token := os.Getenv("BENCH_TOKEN")
	// At least five mailboxes per call in flight, as wrk's script has.
	mailboxes := max(1000, 5**streams)

	var (
		next               atomic.Int64
		bad, sockErr, done atomic.Int64
		mu                 sync.Mutex
		latencies          []float64
		wg                 sync.WaitGroup
	)
	deadline := time.Now().Add(*d)
	start := time.Now()
	// Large bodies share a connection's bandwidth: each may take seconds.
	timeout := 10 * time.Second
	if *bodyBytes > 0 {
		timeout = time.Minute
	}
	for c := 0; c*h2Streams < *streams; c++ {
		// A transport per connection: its streams stay on it.
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: h2Streams}}
		for s := 0; s < h2Streams && c*h2Streams+s < *streams; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []float64
				for time.Now().Before(deadline) {
					if *think > 0 {
						time.Sleep(mathrand.N(2 * *think))
						if !time.Now().Before(deadline) {
							break
						}
					}
					i := next.Add(1)
					req := loadRequest(*target, token, i, mailboxes, *reads)
					if *bodyBytes > 0 {
						req = largeRequest(*target, token, i, mailboxes, *bodyBytes)
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						sockErr.Add(1)
						continue
					}
					answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, float64(time.Since(t0).Microseconds()))
					if resp.StatusCode >= 300 && bad.Add(1) == 1 {
						// The first tells why; wrk's script says nothing more.
						fmt.Fprintf(os.Stderr, "h2load: %s: %s\n", resp.Status, answer)
					}
					done.Add(1)
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	p := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(q*float64(len(latencies))))]
	}
	fmt.Printf("BENCHWRK %d %d %d %d %.1f %.1f\n", done.Load(), elapsed.Microseconds(), bad.Load(), sockErr.Load(), p(0.50), p(0.99))
	return nil
}

// sdkVersion is the SdkVersion header of msgraph-sdk-go's calls.
const sdkVersion = "graph-go/1.80.0, graph-go-core/1.2.1"

// sdkHeaders adds what the Graph SDKs' telemetry handler adds to every
// call: a client-request-id of its own (a version 4 GUID) and the SDK's
// version. A proxy forwarding them indexes a new header value per call in
// HPACK, as it does in front of a real vendor.
func sdkHeaders(h http.Header) {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h.Set("client-request-id", fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
	h.Set("SdkVersion", sdkVersion)
}

// loadRequest is the i-th call of the load, as wrk's script makes it:
// getSchedule and event creation in turn, over the mailboxes; with reads,
// a listing of the mailbox's events.
func loadRequest(target, token string, i int64, mailboxes int, reads bool) *http.Request {
	user := "user" + strconv.FormatInt(i%int64(mailboxes), 10) + "@contoso.example"
	method, path, body := http.MethodPost, "", ""
	switch {
	case reads:
		method, path = http.MethodGet, "/v1.0/users/"+user+readQuery
	case i%2 == 0:
		path, body = "/v1.0/users/"+user+"/calendar/getSchedule", strings.ReplaceAll(scheduleBody, "{user}", user)
	default:
		client := "client" + strconv.FormatInt(i%int64(mailboxes), 10) + "@fabrikam.example"
		path, body = "/v1.0/users/"+user+"/events", strings.ReplaceAll(eventBody, "client@fabrikam.example", client)
	}
	var content io.Reader
	if body != "" {
		content = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, target+path, content)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sdkHeaders(req.Header)
	return req
}

// largeRequest is an event creation whose body is size bytes: the load's
// event with its HTML body grown, as a large invitation or a message with
// an attachment arrives.
func largeRequest(target, token string, i int64, mailboxes, size int) *http.Request {
	user := "user" + strconv.FormatInt(i%int64(mailboxes), 10) + "@contoso.example"
	client := "client" + strconv.FormatInt(i%int64(mailboxes), 10) + "@fabrikam.example"
	event := strings.ReplaceAll(eventBody, "client@fabrikam.example", client)
	const marker = `"content":"`
	at := strings.Index(event, marker) + len(marker)
	pad := max(0, size-len(event))
	body := make([]byte, 0, len(event)+pad)
	body = append(body, event[:at]...)
	body = append(body, bytes.Repeat([]byte("x"), pad)...)
	body = append(body, event[at:]...)
	req, _ := http.NewRequest(http.MethodPost, target+"/v1.0/users/"+user+"/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	sdkHeaders(req.Header)
	return req
}
