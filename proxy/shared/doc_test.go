package shared_test

import (
	"context"
	"crypto/tls"
	"log"
	"time"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

// Limits every replica shares in Azure Managed Redis, with a fallback to
// local limits while Redis is down or slow.
func ExampleNewLimiter() {
	ctx := context.Background()
	store, err := shared.New(shared.Options{
		Client:  shared.NewClient(shared.ClientOptions{Address: "contoso-gp.westeurope.redis.azure.net:10000", TLS: &tls.Config{MinVersion: tls.VersionTLS12}}),
		Replica: "graph-proxy--1a2b3c",
		Timeout: 5 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	go store.Run(ctx) // heartbeat, lease renewal, return from fallback

	var limiter proxy.CallLimiter = shared.NewLimiter(store)
	leave, err := limiter.Enter(ctx, "engage", policy.DefaultLimits)
	if err != nil {
		log.Print(err) // a *proxy.LimitedError: 429
		return
	}
	defer leave()
}
