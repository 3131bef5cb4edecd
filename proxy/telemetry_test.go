package proxy_test

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
)

func TestTelemetry(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.New(context.Background(), telemetry.Options{SpanProcessor: spans, MetricReader: reader})
	if err != nil {
		t.Fatal(err)
	}
	e := proxytest.New(t, proxytest.Options{Telemetry: tel})
	_, upns := e.Sim.Graph.Users()
	e.Sim.Graph.Inject(&graphsim.Fault{PathPrefix: "/users/" + upns[2], Status: 429, RetryAfter: "3", Times: 1})
	calls := []struct{ method, path, body string }{
		{"GET", "/v1.0/users/" + upns[0], ""},
		{"GET", "/v1.0/users/" + upns[0] + "/messages", ""},
		{"POST", "/v1.0/$batch", `{"requests":[{"id":"1","method":"GET","url":"/users/` + upns[0] + `"},{"id":"2","method":"GET","url":"/users?$top=1"}]}`},
		{"GET", "/v1.0/users/" + upns[2], ""},
	}
	ids := map[string]string{}
	for _, c := range calls {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		resp := e.Do(c.method, c.path, body, "Content-Type", "application/json")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ids[resp.Header.Get("x-graph-proxy-request-id")] = c.method + " " + c.path
	}

	// The root span ends just after the audit record is written.
	proxytest.WaitFor(t, "every root span", func() bool {
		n := 0
		for _, s := range spans.Ended() {
			if !s.Parent().IsValid() {
				n++
			}
		}
		return n >= len(calls)
	})
	// Span trees: each call's root and its children, by name.
	byTrace := map[string][]string{}
	roots := map[string]map[attribute.Key]attribute.Value{}
	events := map[string]int{}
	for _, s := range spans.Ended() {
		tid := s.SpanContext().TraceID().String()
		byTrace[tid] = append(byTrace[tid], s.Name())
		if !s.Parent().IsValid() {
			attrs := map[attribute.Key]attribute.Value{}
			for _, a := range s.Attributes() {
				attrs[a.Key] = a.Value
			}
			roots[tid] = attrs
		}
		if s.Name() == "decide" {
			events[tid] = len(s.Events())
		}
	}
	want := map[string]struct {
		children string
		decision string
		status   int64
		events   int
	}{
		"GET /v1.0/users/" + upns[0]:               {"authenticate,decide,token,upstream", "allow", 200, 0},
		"GET /v1.0/users/" + upns[0] + "/messages": {"authenticate,decide", "deny", 403, 0},
		"POST /v1.0/$batch":                        {"authenticate,decide,token,upstream", "allow", 200, 2},
		"GET /v1.0/users/" + upns[2]:               {"authenticate,decide,token,upstream", "allow", 429, 0},
	}
	found := 0
	for tid, attrs := range roots {
		call := ids[attrs["graph_proxy.request_id"].AsString()]
		w, ok := want[call]
		if !ok {
			continue
		}
		found++
		names := slices.DeleteFunc(append([]string(nil), byTrace[tid]...), func(n string) bool { return strings.HasPrefix(n, "graph-proxy ") })
		slices.Sort(names)
		if strings.Join(names, ",") != w.children || attrs["graph_proxy.decision"].AsString() != w.decision ||
			attrs["http.response.status_code"].AsInt64() != w.status || attrs["graph_proxy.caller"].AsString() != "engage" || events[tid] != w.events {
			t.Errorf("%s: children %v, attrs %v, decide events %d", call, names, attrs, events[tid])
		}
	}
	if found != len(want) {
		t.Errorf("found %d of %d calls' span trees", found, len(want))
	}

	// Metrics after the sequence.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	var latencies uint64
	latencyRules := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := m.Name
					if v, ok := p.Attributes.Value("decision"); ok {
						st, _ := p.Attributes.Value("status")
						key += "/" + v.AsString() + "/" + st.String()
					}
					sums[key] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					latencies += p.Count
					rule, _ := p.Attributes.Value("rule")
					latencyRules[rule.AsString()] += p.Count
					if p.Attributes.Len() != 1 {
						t.Errorf("upstream latency attributes %v; want the rule alone", p.Attributes.ToSlice())
					}
				}
			}
		}
	}
	for k, v := range map[string]int64{
		"graph_proxy.requests/allow/200": 2, "graph_proxy.requests/deny/403": 1, "graph_proxy.requests/allow/429": 1,
		"graph_proxy.graph.throttled": 1,
	} {
		if sums[k] != v {
			t.Errorf("%s = %d; want %d (all: %v)", k, sums[k], v, sums)
		}
	}
	// By rule; the $batch call's own record has none (its sub-requests do).
	if want := map[string]uint64{"users-get": 2, "": 1}; latencies != 3 || !maps.Equal(latencyRules, want) {
		t.Errorf("%d upstream latencies recorded, by rule %v; want 3, by rule %v", latencies, latencyRules, want)
	}
}
