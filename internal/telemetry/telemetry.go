// Package telemetry sets up OpenTelemetry for graph-proxy: a tracer for the
// request pipeline's spans, the proxy's metrics, a Prometheus-format
// /metrics handler for the admin listener, and OTLP export configured by the
// standard OTEL_* variables (off when none is set).
//
// Export never blocks a request: spans and metrics leave through batching
// exporters, so an unreachable collector costs dropped telemetry, not
// latency or errors.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure telemetry.
type Options struct {
	// ServiceVersion is reported as service.version.
	ServiceVersion string
	// OTLPEndpoint, when set, exports to this collector (as
	// OTEL_EXPORTER_OTLP_ENDPOINT would).
	OTLPEndpoint string
	// Env is the process environment: whether an OTEL_* variable in it
	// asks for export. The exporters themselves read the process
	// environment, as the OpenTelemetry specification has them do.
	Env []string
	// SpanProcessor and MetricReader, when set, replace export (tests).
	SpanProcessor sdktrace.SpanProcessor
	MetricReader  sdkmetric.Reader
}

// Telemetry holds the tracer, the instruments and the exporters.
type Telemetry struct {
	Tracer trace.Tracer
	// Tracing is whether spans go anywhere (an exporter or a test's
	// processor); when not, the proxy starts none.
	Tracing bool
	Meter   metric.Meter

	// Requests counts calls by caller, rule, decision and status: an
	// observable counter, added to through each set's own Count (Counts).
	Requests *Counts
	// UpstreamLatency is the time to Graph's response headers, in ms.
	UpstreamLatency metric.Float64Histogram
	// Throttled counts Graph's 429s; RetryAfter sums their Retry-After.
	Throttled  metric.Int64Counter
	RetryAfter metric.Float64Counter
	// TokenAcquisitions counts Graph token acquisitions by result.
	TokenAcquisitions metric.Int64Counter
	// PolicyReloads counts policy loads by result.
	PolicyReloads metric.Int64Counter
	// HTTP2Errors counts the HTTP/2 server's protocol errors by type
	// (rapid resets, flow-control and framing violations): what broke a
	// connection or a stream before any request reached the handler.
	HTTP2Errors metric.Int64Counter

	tp         *sdktrace.TracerProvider
	mp         *sdkmetric.MeterProvider
	registry   *prometheus.Registry
	exporting  bool
	shutdownFn []func(context.Context) error
}

// exportConfigured reports whether any OTEL_* variable asks for export.
func exportConfigured(env []string) bool {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT":
			if v != "" {
				return true
			}
		case "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER":
			if v != "" && v != "none" {
				return true
			}
		}
	}
	return false
}

// New sets up telemetry. A bad OTEL_* setting is an error naming it.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	t := &Telemetry{registry: prometheus.NewRegistry()}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("graph-proxy"), semconv.ServiceVersion(o.ServiceVersion))

	// telemetry.otlpEndpoint names a collector directly; otherwise the
	// standard OTEL_* variables decide (Container Apps' managed agent
	// sets OTEL_EXPORTER_OTLP_ENDPOINT).
	direct := o.OTLPEndpoint != ""
	t.exporting = direct || exportConfigured(o.Env)

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	t.Tracing = o.SpanProcessor != nil || t.exporting
	switch {
	case o.SpanProcessor != nil:
		topts = append(topts, sdktrace.WithSpanProcessor(o.SpanProcessor))
	case direct:
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(o.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry.otlpEndpoint: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	case t.exporting:
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_*: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
	default:
		// Spans go nowhere: record none (the proxy also starts none when
		// Tracing is false; this covers the SDKs' own).
		topts = append(topts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.shutdownFn = append(t.shutdownFn, t.tp.Shutdown)

	prom, err := otelprom.New(otelprom.WithRegisterer(t.registry))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	switch {
	case o.MetricReader != nil:
		mopts = append(mopts, sdkmetric.WithReader(o.MetricReader))
	case direct:
		exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(o.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("telemetry.otlpEndpoint: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	case t.exporting:
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTEL_METRICS_EXPORTER / OTEL_EXPORTER_OTLP_*: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	t.shutdownFn = append(t.shutdownFn, t.mp.Shutdown)

	t.Tracer = t.tp.Tracer("github.com/graph-proxy/graph-proxy/proxy")
	t.Meter = t.mp.Meter("github.com/graph-proxy/graph-proxy/proxy")
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var e error
	t.Requests, e = t.newCounts("graph_proxy.requests", "Calls answered, by caller, rule, decision and status.")
	add(e)
	t.UpstreamLatency, e = t.Meter.Float64Histogram("graph_proxy.upstream.duration", metric.WithUnit("ms"),
		metric.WithDescription("Time to Microsoft Graph's response headers."),
		metric.WithExplicitBucketBoundaries(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000))
	add(e)
	t.Throttled, e = t.Meter.Int64Counter("graph_proxy.graph.throttled", metric.WithDescription("Microsoft Graph 429 answers."))
	add(e)
	t.RetryAfter, e = t.Meter.Float64Counter("graph_proxy.graph.retry_after", metric.WithUnit("s"), metric.WithDescription("Retry-After seconds Microsoft Graph asked for."))
	add(e)
	t.TokenAcquisitions, e = t.Meter.Int64Counter("graph_proxy.token.acquisitions", metric.WithDescription("Graph token acquisitions, by result."))
	add(e)
	t.PolicyReloads, e = t.Meter.Int64Counter("graph_proxy.policy.reloads", metric.WithDescription("Policy loads, by result."))
	add(e)
	t.HTTP2Errors, e = t.Meter.Int64Counter("graph_proxy.http2.errors", metric.WithDescription("HTTP/2 protocol errors of callers' connections, by type."))
	add(e)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// CountHTTP2Error is the HTTP/2 server's CountError hook.
func (t *Telemetry) CountHTTP2Error(errType string) {
	t.HTTP2Errors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", errType)))
}

// Gauge registers an observable gauge read at each collection, such as
// the audit queue depth.
func (t *Telemetry) Gauge(name, desc string, read func() int64) error {
	_, err := t.Meter.Int64ObservableGauge(name, metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(read())
			return nil
		}))
	return err
}

// Counter registers an observable counter read at each collection, such
// as the audit records a sink failed to take.
func (t *Telemetry) Counter(name, desc string, read func() int64) error {
	_, err := t.Meter.Int64ObservableCounter(name, metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(read())
			return nil
		}))
	return err
}

// Exporting reports whether OTLP export is on.
func (t *Telemetry) Exporting() bool { return t.exporting }

// MetricsHandler serves the metrics in Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops export.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdownFn {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// Attr is shorthand for a string attribute.
func Attr(k, v string) attribute.KeyValue { return attribute.String(k, v) }
