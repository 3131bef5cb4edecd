package proxy

import (
	"context"
	"testing"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
)

type ctxKey int

// BenchmarkObserve measures a call's metrics as the handler records them:
// without tracing, as deployments without an OTLP collector run, in a
// request context as deep as the HTTP server's.
func BenchmarkObserve(b *testing.B) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tel.Shutdown(context.Background()) })
	h := &Handler{o: Options{Telemetry: tel}} // no tracing, as New makes it without a collector
	ctx := context.Background()
	for i := range 6 {
		ctx = context.WithValue(ctx, ctxKey(i), i)
	}
	c := &call{rec: auditlog.Record{Caller: auditlog.Caller{Name: "engage"}, Rule: "events-create", Decision: "allow",
		Status: 201, UpstreamStatus: 201, UpstreamMs: 1.2}}
	b.ReportAllocs()
	for b.Loop() {
		h.observe(ctx, c)
	}
}
