package proxy

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/graph-proxy/graph-proxy/internal/telemetry"
)

func endSpan(s trace.Span, err error) {
	if err != nil {
		s.SetStatus(codes.Error, "failed")
	}
	s.End()
}

// traceLink links the call's span to the caller's own trace, for the
// callers trusted with it. A link, not a parent: the proxy's trace stays
// its own, and nothing of the caller's context goes on to Graph.
func (h *Handler) traceLink(r *http.Request, caller string) {
	if caller == "" || !slices.Contains(h.o.TraceCallers, caller) {
		return
	}
	remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header)))
	if remote.IsValid() {
		trace.SpanFromContext(r.Context()).AddLink(trace.Link{SpanContext: remote})
	}
}

// startSpan starts a span when spans go somewhere; otherwise it returns
// ctx unchanged and a span that records nothing, at no cost.
func (h *Handler) startSpan(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !h.tracing {
		return ctx, noSpan
	}
	return h.tracer.Start(ctx, name, opts...)
}

// noSpan is the span of a context without one: it records nothing.
var noSpan = trace.SpanFromContext(context.Background())

// observe sets the call's span attributes and records its metrics.
func (h *Handler) observe(ctx context.Context, c *call) {
	rec := &c.rec
	if !h.tracing {
		// No span was started, so none is looked up, and the metrics SDK,
		// which reads the context only to link exemplars to a sampled
		// span, gets none to search.
		ctx = context.Background()
	} else if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(
			attribute.String("graph_proxy.caller", rec.Caller.Name),
			attribute.String("graph_proxy.rule", rec.Rule),
			attribute.String("graph_proxy.route", rec.Route),
			attribute.String("graph_proxy.decision", rec.Decision),
			attribute.Int("http.response.status_code", rec.Status),
		)
		if len(c.decision.Batch) > 0 {
			span.SetAttributes(attribute.Int("graph_proxy.batch.size", len(c.decision.Batch)))
		}
		if rec.Status >= 500 {
			span.SetStatus(codes.Error, rec.Error)
		}
	}
	t := h.o.Telemetry
	if t == nil {
		return
	}
	h.metricAttrs.count(t.Requests, metricKey{rec.Caller.Name, rec.Rule, rec.Decision, rec.Status}).Add(1)
	if rec.UpstreamStatus > 0 {
		t.UpstreamLatency.Record(ctx, rec.UpstreamMs, h.metricAttrs.latency(rec.Rule))
	}
	if rec.UpstreamStatus == http.StatusTooManyRequests {
		attrs := metric.WithAttributes(attribute.String("caller", rec.Caller.Name))
		t.Throttled.Add(ctx, 1, attrs)
		t.RetryAfter.Add(ctx, rec.RetryAfter, attrs)
	}
}

// metricKey names the attributes of a per-call measurement: all four for
// graph_proxy.requests, the rule alone (status ruleOnly) for the upstream
// latency.
type metricKey struct {
	caller, rule, decision string
	status                 int
}

const ruleOnly = -1

// metricSets builds each combination's attribute set once, and finds its
// count: building a set sorts and allocates, and the combinations are few
// (callers and rules come from the policy). Past maxMetricSets, sets are
// built per call.
type metricSets struct {
	m sync.Map // metricKey → *telemetry.Count, or the latency's metric.MeasurementOption
	n atomic.Int64
}

const maxMetricSets = 4096

// count is k's count of calls in counts.
func (s *metricSets) count(counts *telemetry.Counts, k metricKey) *telemetry.Count {
	return s.cached(k, func() any {
		return counts.For(attribute.NewSet(attribute.String("caller", k.caller), attribute.String("rule", k.rule),
			attribute.String("decision", k.decision), attribute.Int("status", k.status)))
	}).(*telemetry.Count)
}

// latency is the upstream latency's attribute set for rule.
func (s *metricSets) latency(rule string) metric.MeasurementOption {
	return s.cached(metricKey{rule: rule, status: ruleOnly}, func() any {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("rule", rule)))
	}).(metric.MeasurementOption)
}

func (s *metricSets) cached(k metricKey, build func() any) any {
	if v, ok := s.m.Load(k); ok {
		return v
	}
	v := build()
	if s.n.Load() < maxMetricSets {
		if _, loaded := s.m.LoadOrStore(k, v); !loaded {
			s.n.Add(1)
		}
	}
	return v
}
