package hardening

import (
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
)

// soak runs TestConcurrentLoad for this long instead of a fixed number of
// calls: go test ./internal/hardening -run ConcurrentLoad -soak 10m.
var soak = flag.Duration("soak", 0, "run the concurrent load test for this long")

// loadCalls is how many calls TestConcurrentLoad makes; -short makes
// fewer. Under the race detector (make test) the full count takes a few
// seconds on two cores.
func loadCalls() int {
	if testing.Short() {
		return 300
	}
	return 1500
}

// TestConcurrentLoad runs the real handler in-process, under the race
// detector when the suite is (make test), with many callers at once:
// allowed, denied and $batch calls, while the policy file is reloaded and
// the Graph token renewed underneath. Invariants: one record per call (and
// one per $batch sub-request), an intact chain, the policy and the token
// really changed meanwhile, and no goroutine left once everything is shut
// down.
func TestConcurrentLoad(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("load", func(t *testing.T) { concurrentLoad(t) })
	// Everything the load test started has been closed by its cleanups.
	goleak.VerifyNone(t, before)
}

// loadPolicy is the default test policy with caller limits high enough
// that the load is decided on its merits; a mailbox's concurrency limit
// still applies (429, recorded).
var loadPolicy = strings.Replace(proxytest.DefaultPolicy, "    permissions:",
	"    rateLimit: { rps: 100000, burst: 100000, concurrent: 1000 }\n    permissions:", 1)

func concurrentLoad(t *testing.T) {
	e := proxytest.New(t, proxytest.Options{Policy: loadPolicy, Reloadable: true, FreshIdentity: true, TokenLifetime: 12 * time.Second})
	ids, _ := e.Sim.Graph.Users()
	fetches := e.Tokens.Fetches()
	policies := map[string]bool{e.Store.Policy().Digest: true}
	var pmu sync.Mutex

	ctx, stop := context.WithCancel(t.Context())
	var bg sync.WaitGroup
	// Reload the policy every 20 ms between two valid versions (the second
	// adds a rule), as an operator's edits would.
	variant := loadPolicy + `  - { id: users-manager, method: GET, path: "/users/{user}/manager", permission: User.ReadBasic.All }` + "\n"
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			text := loadPolicy
			if i%2 == 0 {
				text = variant
			}
			os.WriteFile(e.PolicyFile, []byte(text), 0o600)
			if err := e.Store.Reload(); err != nil {
				t.Errorf("reload: %v", err)
				return
			}
			pmu.Lock()
			policies[e.Store.Policy().Digest] = true
			pmu.Unlock()
		}
	}()

	client := e.Server.Client()
	tok := e.VendorToken()
	type answer struct {
		kind   string // allowed, denied, batch
		status int
		id     string
	}
	var (
		mu      sync.Mutex
		answers []answer
		next    atomic.Int64
	)
	batch := `{"requests":[{"id":"1","method":"GET","url":"/users?$top=1"},{"id":"2","method":"GET","url":"/users/` + ids[1] + `"},{"id":"3","method":"GET","url":"/users/` + ids[2] + `?$select=id"}]}`
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if *soak == 0 && i > loadCalls() || *soak > 0 && time.Since(start) > *soak {
					return
				}
				var method, path, body, kind string
				switch i % 5 {
				case 0:
					method, path, kind = "GET", "/v1.0/users/"+ids[i%len(ids)]+"/messages", "denied"
				case 1:
					method, path, body, kind = "POST", "/v1.0/$batch", batch, "batch"
				case 2:
					method, path, kind = "GET", "/v1.0/users/"+ids[i%len(ids)]+"?$select=id,displayName", "allowed"
				default:
					method, path, kind = "GET", "/v1.0/users?$top=2&$select=id", "allowed"
				}
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				req, _ := http.NewRequest(method, e.Server.URL+path, rd)
				req.Header.Set("Authorization", "Bearer "+tok)
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				answers = append(answers, answer{kind, resp.StatusCode, resp.Header.Get("x-graph-proxy-request-id")})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Keep going until at least one token renewal happened meanwhile.
	proxytest.WaitFor(t, "a Graph token renewal", func() bool {
		e.Tokens.Token(t.Context())
		return e.Tokens.Fetches() > fetches
	})
	stop()
	bg.Wait()
	t.Logf("%d calls in %v with %d policy versions in force and %d token acquisitions",
		len(answers), time.Since(start).Round(time.Millisecond), len(policies), e.Tokens.Fetches()-fetches)

	// Shut down: the server, then the audit log with its closing record.
	e.Server.Close()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.AuditLog.Close(cctx, &auditlog.Record{Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	recs := e.Audit.Records(t)
	reasons := map[string]string{}
	for _, r := range recs {
		reasons[r.RequestID] = r.Path + ": " + r.Reason
	}
	byID := map[string]int{}
	subs := map[string]int{}
	for _, r := range recs {
		if r.Batch != nil {
			subs[r.Batch.RequestID]++
			continue
		}
		if r.Kind == "" {
			byID[r.RequestID]++
		}
	}
	want := map[string]int{"allowed": 200, "denied": 403, "batch": 200}
	limited := 0
	for _, a := range answers {
		if a.status == http.StatusTooManyRequests && a.kind != "denied" {
			limited++
		} else if a.status != want[a.kind] {
			t.Errorf("%s call %s: %d (%s)", a.kind, a.id, a.status, reasons[a.id])
		}
		if byID[a.id] != 1 {
			t.Errorf("%s call %s has %d records; want 1", a.kind, a.id, byID[a.id])
		}
		if a.kind == "batch" && subs[a.id] != 3 {
			t.Errorf("batch %s has %d sub-request records; want 3", a.id, subs[a.id])
		}
		delete(byID, a.id)
	}
	if limited > len(answers)/10 {
		t.Errorf("%d of %d calls limited; the load should be decided on its merits", limited, len(answers))
	}
	if *soak == 0 && len(answers) != loadCalls() {
		t.Errorf("%d answers; want %d", len(answers), loadCalls())
	}
	if len(byID) != 0 {
		t.Errorf("%d records of calls nobody made", len(byID))
	}
	if len(policies) < 2 {
		t.Errorf("the policy never changed under load")
	}
	var v auditlog.Verifier
	if err := v.Add("audit", strings.NewReader(e.Audit.String())); err != nil {
		t.Fatal(err)
	}
	if res, err := v.Done(); err != nil {
		t.Errorf("audit chain: %v", err)
	} else if res.Records != len(recs) {
		t.Errorf("verified %d of %d records", res.Records, len(recs))
	}
}
