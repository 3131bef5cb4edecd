package hardening

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/redistest"
)

// replicasPolicy gives the caller a rate of its own (20 a second, a burst
// of 20) and Graph's 4 calls at a time per mailbox.
var replicasPolicy = strings.Replace(proxytest.DefaultPolicy, "    permissions:",
	"    rateLimit: { rps: 20, burst: 20, concurrent: 1000, mailboxConcurrent: 4 }\n    permissions:", 1)

// replicasLeaseTTL is short, so that a killed replica's leases expire
// within the test.
const replicasLeaseTTL = 3 * time.Second

// TestReplicasShareLimits runs three replicas of the real binary on
// loopback over one real Redis (limits.store: redis) and measures at the
// simulated Graph what reaches it, calls landing on every replica in
// turn:
//
//   - one mailbox's concurrency: at most 4 of the caller's calls at a time
//     reach Graph, not 4 per replica;
//   - one caller's rate: at most its burst plus its rate over the time
//     measured, not three times that;
//   - Redis stopped mid-run: calls keep flowing, and the fallback (the
//     limits divided by the 3 replicas: 1 call at a time per replica)
//     still holds; /status and /metrics say so;
//   - Redis back: the shared limits resume (4 at a time again);
//   - a replica killed (SIGKILL) while its calls hold the mailbox's 4
//     leases: the other replicas refuse that mailbox until the leases
//     expire (limits.redis.leaseTTL), then serve it.
//
// Each replica keeps its own audit chain; they verify together.
func TestReplicasShareLimits(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	srv := redistest.Start(t, redistest.Options{})
	var ps []*proc
	for _, name := range []string{"replica-a", "replica-b", "replica-c"} {
		ps = append(ps, startProxy(t, sim, procOptions{Policy: replicasPolicy, Env: []string{
			"GRAPH_PROXY_AUDIT_REPLICA=" + name,
			"GRAPH_PROXY_LIMITS_STORE=redis",
			"GRAPH_PROXY_LIMITS_REDIS_ADDRESS=" + srv.Addr,
			"GRAPH_PROXY_LIMITS_REDIS_TLS=false",
			"GRAPH_PROXY_LIMITS_REDIS_AUTH=none",
			// Generous for loopback under the race detector, where a few
			// milliseconds are sometimes not enough: falling back on a
			// scheduling hiccup is not what this test is about.
			"GRAPH_PROXY_LIMITS_REDIS_TIMEOUT=250ms",
			"GRAPH_PROXY_LIMITS_REDIS_LEASETTL=" + replicasLeaseTTL.String(),
			"GRAPH_PROXY_LIMITS_REDIS_ASSUMEDREPLICAS=3",
		}}))
	}
	waitLimits(t, ps, "shared", 3)
	_, upns := sim.Graph.Users()
	mailbox, killed := upns[1], upns[2]
	tok := ps[0].Token()
	// Graph takes a quarter of a second per call to the mailbox: calls
	// overlap, and the concurrency limit is what decides.
	sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/" + mailbox, Delay: 250 * time.Millisecond})
	events := "/v1.0/users/" + mailbox + "/events?$top=1"

	t.Run("one mailbox's concurrency", func(t *testing.T) {
		sim.Graph.ResetPeakInFlight()
		hammer(ps, tok, events, 12, 1500*time.Millisecond).check(t, "mailbox load")
		if peak := sim.Graph.PeakInFlight(mailbox); peak != 4 {
			t.Errorf("at most %d calls to the mailbox at once reached Graph; want 4 (not 4 per replica)", peak)
		}
	})

	t.Run("one caller's rate", func(t *testing.T) {
		time.Sleep(time.Second) // the burst refills
		sim.Graph.ResetRequests()
		start := time.Now()
		st := hammer(ps, tok, "/v1.0/users?$top=1", 12, 1500*time.Millisecond)
		elapsed := time.Since(start)
		reached := 0
		for _, r := range graphSaw(sim) {
			if r.Path == "/v1.0/users" {
				reached++
			}
		}
		// The burst, then 20 a second, counted from the first call: one
		// more for a call whose token accrued as the window closed.
		most := 20 + int(20*elapsed.Seconds()) + 1
		if reached > most || reached < 20 {
			t.Errorf("%d of the caller's calls reached Graph in %s; want between its burst (20) and %d, not up to 3 times that", reached, elapsed.Round(time.Millisecond), most)
		}
		st.check(t, "rate load")
	})

	t.Run("Redis stopped mid-run", func(t *testing.T) {
		// The load goes on across the outage: calls keep flowing.
		done := make(chan *stats)
		go func() { done <- hammer(ps, tok, events, 12, 2*time.Second) }()
		time.Sleep(500 * time.Millisecond)
		srv.Stop()
		before := reachedMailbox(sim, mailbox)
		(<-done).check(t, "load as Redis stopped")
		if after := reachedMailbox(sim, mailbox) - before; after == 0 {
			t.Error("once Redis stopped, no call reached Graph: the fallback refused everything")
		}
		waitLimits(t, ps, "fallback", 3)
		// The calls the shared limits admitted have ended: from now on
		// only the fallback admits.
		time.Sleep(300 * time.Millisecond)
		sim.Graph.ResetPeakInFlight()
		hammer(ps, tok, events, 12, 1500*time.Millisecond).check(t, "load with Redis down")
		if peak := sim.Graph.PeakInFlight(mailbox); peak > 3 || peak < 1 {
			t.Errorf("with Redis down, at most %d calls to the mailbox at once reached Graph; want 1 to 3 (4 divided among 3 replicas: 1 each)", peak)
		}
		metrics := getAdmin(t, "http://"+ps[1].Admin+"/metrics")
		if !strings.Contains(metrics, "graph_proxy_limits_fallback 1") {
			t.Errorf("/metrics does not say the limits fell back:\n%s", grepLines(metrics, "graph_proxy_limits"))
		}
		if !strings.Contains(ps[1].Stderr(), "shared limits unavailable") {
			t.Error("the log does not say the limits fell back")
		}
	})

	t.Run("Redis back", func(t *testing.T) {
		srv.Restart()
		waitLimits(t, ps, "shared", 3)
		sim.Graph.ResetPeakInFlight()
		hammer(ps, tok, events, 12, 1500*time.Millisecond).check(t, "load with Redis back")
		if peak := sim.Graph.PeakInFlight(mailbox); peak != 4 {
			t.Errorf("with Redis back, at most %d calls to the mailbox at once reached Graph; want the shared 4 again", peak)
		}
		if !strings.Contains(ps[1].Stderr(), "shared limits restored") {
			t.Error("the log does not say the shared limits were restored")
		}
	})

	t.Run("a replica killed with leases held", func(t *testing.T) {
		sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/" + killed, Hang: true})
		c := ps[2]
		for range 4 {
			go c.DoToken(tok, "GET", "/v1.0/users/"+killed+"/events?$top=1", "")
		}
		proxytest.WaitFor(t, "4 calls to hang at Graph", func() bool { return sim.Graph.InFlight(killed) == 4 })
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		c.exited <- <-c.exited
		sim.Graph.ClearFaults()
		path := "/v1.0/users/" + killed + "/events?$top=1"
		killedAt := time.Now()
		if r := ps[0].DoToken(tok, "GET", path, ""); r.Status != 429 || !strings.Contains(string(r.Body), "rateLimited") {
			t.Fatalf("right after the kill: %d %s; want 429 (the dead replica's leases still held)", r.Status, r.Body)
		}
		tries := 0
		proxytest.WaitWithin(t, "the dead replica's leases to expire", replicasLeaseTTL+10*time.Second, func() bool {
			tries++
			return ps[tries%2].DoToken(tok, "GET", path, "").Status == 200
		})
		t.Logf("the mailbox was served again %s after the kill (lease TTL %s)", time.Since(killedAt).Round(100*time.Millisecond), replicasLeaseTTL)
		waitLimits(t, ps[:2], "shared", 2)
	})

	// Each replica's chain verifies on its own, and all together; the
	// killed one's is open (no close record), as a crash leaves it.
	ps[0].Stop()
	ps[1].Stop()
	out, err := exec.Command(binary, "audit", "verify", "--open", ps[0].Audit, ps[1].Audit, ps[2].Audit).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 chain(s) intact") {
		t.Errorf("audit verify of the three replicas' chains: %v\n%s", err, out)
	}
}

// reachedMailbox is how many calls to the mailbox Graph received.
func reachedMailbox(sim *graphsim.Sim, mailbox string) int {
	n := 0
	for _, r := range graphSaw(sim) {
		if strings.HasPrefix(r.Path, "/v1.0/users/"+mailbox+"/") {
			n++
		}
	}
	return n
}

// stats counts the answers a load got.
type stats struct {
	mu      sync.Mutex
	byCode  map[string]int
	reached int // answered 200
}

func (s *stats) add(r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprint(r.Status, " ", r.Code)
	if r.Err != nil {
		key = "error " + r.Err.Error()
	}
	s.byCode[key]++
	if r.Status == 200 {
		s.reached++
	}
}

// check fails the test unless every answer was a 200 or the proxy's own
// 429, and some were 200s.
func (s *stats) check(t *testing.T, what string) {
	t.Helper()
	for k, n := range s.byCode {
		if k != "200 " && k != "429 graphProxy.rateLimited" {
			t.Errorf("%s: %d answers %q; want only 200 and the proxy's 429", what, n, k)
		}
	}
	if s.reached == 0 {
		t.Errorf("%s: no call answered 200: %v", what, s.byCode)
	}
	t.Logf("%s: %v", what, s.byCode)
}

// hammer has workers call path for d, each call on the next replica in
// turn, and returns what they were answered. A refused worker waits a
// little before its next call, as a client honouring 429 would, without
// waiting the whole Retry-After.
func hammer(ps []*proc, tok, path string, workers int, d time.Duration) *stats {
	st := &stats{byCode: map[string]int{}}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i++ {
				p := ps[i%len(ps)]
				r := p.DoToken(tok, "GET", path, "")
				st.add(r)
				if r.Status != 200 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return st
}

// limitsStatus is the "limits" member of /status.
type limitsStatus struct {
	Mode     string `json:"mode"`
	Replicas int    `json:"replicas"`
}

// waitLimits waits until every replica's /status says its limits are in
// mode with the replica count given.
func waitLimits(t *testing.T, ps []*proc, mode string, replicas int) {
	t.Helper()
	for _, p := range ps {
		var last limitsStatus
		proxytest.WaitWithin(t, fmt.Sprintf("%s's limits to be %s among %d replicas", p.Admin, mode, replicas), 20*time.Second, func() bool {
			var st struct {
				Limits limitsStatus `json:"limits"`
			}
			if err := json.Unmarshal([]byte(getAdmin(t, "http://"+p.Admin+"/status")), &st); err != nil {
				t.Fatal(err)
			}
			last = st.Limits
			return last.Mode == mode && last.Replicas == replicas
		})
	}
}

func getAdmin(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
