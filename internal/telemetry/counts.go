package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Counts is a monotonic counter whose every add is one atomic add: each
// attribute set has a count of its own in the process, which the caller
// looks up once and keeps, and the metrics SDK reads them all at each
// collection through an observable counter. A synchronous counter's Add
// instead finds its attribute set in the SDK's own maps on every call;
// once per call on the proxy's path that was most of the metrics' cost,
// and more with the caches cold between calls than a micro-benchmark
// shows (bench/RESULTS.md, "The metrics' counter").
type Counts struct {
	mu    sync.Mutex
	byKey map[attribute.Distinct]*Count
	all   []*Count // in the order registered; only appended to
	over  *Count   // where sets past maxCounts are counted
}

// Count is one attribute set's count.
type Count struct {
	n     atomic.Int64
	attrs metric.ObserveOption
}

// Add adds n, which must not be negative: the counter is monotonic.
func (c *Count) Add(n int64) { c.n.Add(n) }

// maxCounts bounds the attribute sets a Counts keeps, as the SDK's
// cardinality limit bounds an instrument's (2,000 data points by default,
// its overflow point among them): past it, new sets are counted under
// otel.metric.overflow=true. It stays under the SDK's, so that the SDK
// never folds a set of ours into the overflow on its own.
const maxCounts = 1000

var overflowSet = attribute.NewSet(attribute.Bool("otel.metric.overflow", true))

// newCounts registers the observable counter that reports c.
func (t *Telemetry) newCounts(name, desc string) (*Counts, error) {
	c := &Counts{byKey: map[attribute.Distinct]*Count{}}
	c.over = &Count{attrs: metric.WithAttributeSet(overflowSet)}
	_, err := t.Meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithInt64Callback(c.observe))
	return c, err
}

// For returns set's count, registering it on first use. Callers keep what
// it returns: the lookup takes a lock.
func (c *Counts) For(set attribute.Set) *Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.byKey[set.Equivalent()]; ok {
		return n
	}
	if len(c.all) >= maxCounts {
		return c.over
	}
	n := &Count{attrs: metric.WithAttributeSet(set)}
	c.byKey[set.Equivalent()] = n
	c.all = append(c.all, n)
	return n
}

// observe reports every count, cumulative, as an observable counter does.
func (c *Counts) observe(_ context.Context, o metric.Int64Observer) error {
	c.mu.Lock()
	all := c.all
	c.mu.Unlock()
	for _, n := range all {
		o.Observe(n.n.Load(), n.attrs)
	}
	if v := c.over.n.Load(); v > 0 {
		o.Observe(v, c.over.attrs)
	}
	return nil
}
