package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// memberCache is a proxy.MemberCache in memory: what Redis is to the
// replicas.
type memberCache struct {
	mu      sync.Mutex
	answers map[string]cached
}

type cached struct {
	member bool
	at     time.Time
}

func (c *memberCache) Get(_ context.Context, group, user string) (bool, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.answers[group+"|"+user]
	return a.member, a.at, ok
}

func (c *memberCache) Put(_ context.Context, group, user string, member bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[group+"|"+user] = cached{member, at}
}

type staticTokens struct{}

func (staticTokens) Token(context.Context) (upstream.Token, error) {
	return upstream.Token{Value: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestMembershipShared: with a shared cache, an answer one replica had
// from Graph serves another without asking Graph again, unless it is old
// enough to need a refresh; without one, each replica asks.
func TestMembershipShared(t *testing.T) {
	const group = "90000000-0000-4000-8000-000000000001"
	var asked atomic.Int32
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/checkMemberGroups") {
			http.NotFound(w, r)
			return
		}
		asked.Add(1)
		json.NewEncoder(w).Encode(map[string][]string{"value": {group}})
	}))
	t.Cleanup(graph.Close)
	u, _ := url.Parse(graph.URL)
	ttl := 5 * time.Minute
	tests := []struct {
		name      string
		shared    bool
		preload   time.Duration // age of an answer already in the cache; 0: none
		wantAsked int32         // of Graph, by both replicas together
	}{
		{name: "shared: the second replica takes the first's answer", shared: true, wantAsked: 1},
		{name: "shared: a recent answer in the cache serves both", shared: true, preload: time.Minute, wantAsked: 0},
		{name: "shared: an answer due for refresh is asked again", shared: true, preload: 4 * time.Minute, wantAsked: 1},
		{name: "not shared: each replica asks", wantAsked: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked.Store(0)
			cache := &memberCache{answers: map[string]cached{}}
			if tt.preload > 0 {
				cache.Put(context.Background(), group, "adele@contoso.example", true, time.Now().Add(-tt.preload))
			}
			replica := func() *proxy.GraphMembership {
				m := &proxy.GraphMembership{Graph: u, Transport: graph.Client().Transport, Tokens: staticTokens{}, TTL: ttl, MaxEntries: 10}
				if tt.shared {
					m.Shared = cache
				}
				return m
			}
			for i, m := range []*proxy.GraphMembership{replica(), replica()} {
				member, err := m.IsMember(context.Background(), group, "Adele@contoso.example")
				if err != nil || !member {
					t.Fatalf("replica %d: member %v, %v; want a member", i, member, err)
				}
			}
			if got := asked.Load(); got != tt.wantAsked {
				t.Errorf("Graph asked %d times; want %d", got, tt.wantAsked)
			}
		})
	}
}

// TestMembershipNotRecordedNotAsked: a check whose record cannot be
// written is not sent, and the caller gets an error (its call is denied).
func TestMembershipNotRecordedNotAsked(t *testing.T) {
	var asked atomic.Int32
	graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		json.NewEncoder(w).Encode(map[string][]string{"value": {"g"}})
	}))
	defer graph.Close()
	u, _ := url.Parse(graph.URL)
	audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "discard", W: io.Discard}}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	audit.Close(context.Background(), nil)
	m := &proxy.GraphMembership{Graph: u, Transport: graph.Client().Transport, Tokens: staticTokens{}, TTL: time.Minute, MaxEntries: 10, Audit: audit}
	member, err := m.IsMember(context.Background(), "g", "u@contoso.example")
	if err == nil || member || !errors.Is(err, auditlog.ErrClosed) {
		t.Errorf("IsMember with the audit log closed: %v, %v; want an error naming it", member, err)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("Graph asked %d times without a record", n)
	}
}

// TestMembershipRefreshStopsWithBackground: a refresh made in the
// background against a Graph that does not answer ends when Background
// does (the proxy's shutdown begins), and its record is written then,
// while the audit log still takes it.
func TestMembershipRefreshStopsWithBackground(t *testing.T) {
	var asked atomic.Int32
	hang := make(chan struct{})
	graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) > 1 {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		json.NewEncoder(w).Encode(map[string][]string{"value": {"g"}})
	}))
	defer graph.Close()
	defer close(hang)
	u, _ := url.Parse(graph.URL)
	var lines lineSink
	audit, err := auditlog.New(auditlog.Options{Replica: "test", Sinks: []auditlog.Sink{&lines}, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	background, stop := context.WithCancel(context.Background())
	const ttl = 200 * time.Millisecond
	m := &proxy.GraphMembership{Graph: u, Transport: graph.Client().Transport, Tokens: staticTokens{}, TTL: ttl, MaxEntries: 10, Audit: audit, Background: background}
	if member, err := m.IsMember(context.Background(), "g", "u@contoso.example"); err != nil || !member {
		t.Fatalf("first check: %v, %v", member, err)
	}
	time.Sleep(ttl * 3 / 4)
	if member, err := m.IsMember(context.Background(), "g", "u@contoso.example"); err != nil || !member {
		t.Fatalf("cached check: %v, %v", member, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for asked.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if asked.Load() < 2 {
		t.Fatal("no refresh was sent")
	}
	stop()
	for audit.Stats().Reserved > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r := audit.Stats().Reserved; r != 0 {
		t.Fatalf("the refresh still holds room for its record after Background ended (%d)", r)
	}
	if err := audit.Close(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := lines.count(`"kind":"membership"`); got != 2 {
		t.Errorf("%d membership records; want 2, the refresh's among them", got)
	}
}

// lineSink keeps the lines written to it.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) Name() string { return "lines" }
func (s *lineSink) Write(_ context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		s.lines = append(s.lines, string(l))
	}
	return nil
}
func (s *lineSink) Close() error { return nil }

func (s *lineSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
