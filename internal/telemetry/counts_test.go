package telemetry

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// requests collects graph_proxy.requests: each data point's value by its
// attributes, and whether the sum was reported cumulative and monotonic.
func requests(t *testing.T, r sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "graph_proxy.requests" {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality {
				t.Fatalf("graph_proxy.requests is %T (%+v); want a cumulative monotonic sum", m.Data, m.Data)
			}
			for _, p := range sum.DataPoints {
				got[p.Attributes.Encoded(attribute.DefaultEncoder())] = p.Value
			}
		}
	}
	return got
}

// withReader is telemetry whose metrics the test collects through reader.
func withReader(t testing.TB) (*Telemetry, sdkmetric.Reader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	tel, err := New(context.Background(), Options{MetricReader: reader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	return tel, reader
}

func TestCounts(t *testing.T) {
	set := func(rule string) attribute.Set {
		return attribute.NewSet(attribute.String("rule", rule), attribute.Int("status", 200))
	}
	key := func(rule string) string {
		s := set(rule)
		return s.Encoded(attribute.DefaultEncoder())
	}
	overflow := overflowSet.Encoded(attribute.DefaultEncoder())
	for _, tt := range []struct {
		name string
		// first and second are the calls counted, by rule, in two
		// rounds: collected after each, the counts must be the running
		// totals.
		first, second []string
		want1, want2  map[string]int64
	}{
		{name: "nothing counted", want1: map[string]int64{}, want2: map[string]int64{}},
		{
			name:  "two sets, cumulative across collections",
			first: []string{"a", "b", "a"}, second: []string{"a"},
			want1: map[string]int64{key("a"): 2, key("b"): 1},
			want2: map[string]int64{key("a"): 3, key("b"): 1},
		},
		{
			name:  "the same set looked up again shares its count",
			first: []string{"a"}, second: []string{"a", "a"},
			want1: map[string]int64{key("a"): 1},
			want2: map[string]int64{key("a"): 3},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tel, reader := withReader(t)
			for _, r := range tt.first {
				tel.Requests.For(set(r)).Add(1)
			}
			if got := requests(t, reader); !maps.Equal(got, tt.want1) {
				t.Errorf("first collection %v; want %v", got, tt.want1)
			}
			for _, r := range tt.second {
				tel.Requests.For(set(r)).Add(1)
			}
			if got := requests(t, reader); !maps.Equal(got, tt.want2) {
				t.Errorf("second collection %v; want %v", got, tt.want2)
			}
		})
	}

	t.Run("past maxCounts sets, counted as overflow", func(t *testing.T) {
		tel, reader := withReader(t)
		for i := range maxCounts + 3 {
			tel.Requests.For(set(fmt.Sprint(i))).Add(1)
		}
		tel.Requests.For(set("0")).Add(1) // kept before the limit: its own count
		got := requests(t, reader)
		if len(got) != maxCounts+1 || got[overflow] != 3 || got[key("0")] != 2 || got[key(fmt.Sprint(maxCounts-1))] != 1 {
			t.Errorf("%d sets, overflow %d, first %d, last kept %d; want %d, 3, 2, 1",
				len(got), got[overflow], got[key("0")], got[key(fmt.Sprint(maxCounts-1))], maxCounts+1)
		}
	})
}

// BenchmarkCountAdd is a call's count once its set is looked up: one
// atomic add, where a synchronous counter's Add finds the set in the SDK's
// maps (BenchmarkSyncCounterAdd).
func BenchmarkCountAdd(b *testing.B) {
	tel, _ := withReader(b)
	n := tel.Requests.For(attribute.NewSet(attribute.String("caller", "engage"), attribute.String("rule", "events-create"),
		attribute.String("decision", "allow"), attribute.Int("status", 201)))
	for b.Loop() {
		n.Add(1)
	}
}

// BenchmarkSyncCounterAdd is what graph_proxy.requests cost before Counts.
func BenchmarkSyncCounterAdd(b *testing.B) {
	tel, _ := withReader(b)
	c, err := tel.Meter.Int64Counter("graph_proxy.requests.sync")
	if err != nil {
		b.Fatal(err)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("caller", "engage"), attribute.String("rule", "events-create"),
		attribute.String("decision", "allow"), attribute.Int("status", 201)))
	ctx := context.Background()
	for b.Loop() {
		c.Add(ctx, 1, opt)
	}
}

// TestCountsOnMetrics: the admin listener's /metrics shows the counts as
// the synchronous counter showed them, a Prometheus counter.
func TestCountsOnMetrics(t *testing.T) {
	tel, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	n := tel.Requests.For(attribute.NewSet(attribute.String("caller", "engage"), attribute.String("decision", "allow"),
		attribute.String("rule", "users-get"), attribute.Int("status", 200)))
	n.Add(2)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	const want = `graph_proxy_requests_total{caller="engage",decision="allow",otel_scope_name="github.com/graph-proxy/graph-proxy/proxy",otel_scope_schema_url="",otel_scope_version="",rule="users-get",status="200"} 2`
	if !strings.Contains(rec.Body.String(), "# TYPE graph_proxy_requests_total counter") || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics has no %s counter line:\n%s", want, rec.Body)
	}
}
