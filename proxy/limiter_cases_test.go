package proxy_test

import (
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/limitertest"
	"github.com/graph-proxy/graph-proxy/proxy"
)

// TestLimiter takes this replica's own Limiter through the steps every
// limiter must take alike (the shared one is held to the same, beside it).
func TestLimiter(t *testing.T) {
	limitertest.Run(t, []string{"local"}, func(t *testing.T, now func() time.Time) map[string]proxy.CallLimiter {
		return map[string]proxy.CallLimiter{"local": proxy.NewLimiter(now)}
	})
}
