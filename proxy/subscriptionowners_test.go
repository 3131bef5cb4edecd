package proxy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/proxy"
)

// TestSubscriptionOwners: a replica's own memory of who made which
// subscription, bounded, forgetting what expired or was deleted.
func TestSubscriptionOwners(t *testing.T) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		made      map[string]time.Time // id → expiry, made by "vendor"
		gone      []string
		ask       string
		wantOwner string
	}{
		{name: "made", made: map[string]time.Time{"S1": later}, ask: "s1", wantOwner: "vendor"},
		{name: "not made here", made: map[string]time.Time{"s1": later}, ask: "s2"},
		{name: "deleted", made: map[string]time.Time{"s1": later}, gone: []string{"S1"}, ask: "s1"},
		{name: "expired over an hour ago", made: map[string]time.Time{"s1": time.Now().Add(-2 * time.Hour)}, ask: "s1"},
		{name: "expired minutes ago: Graph may hold it still", made: map[string]time.Time{"s1": time.Now().Add(-time.Minute)}, ask: "s1", wantOwner: "vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &proxy.SubscriptionOwners{}
			for id, exp := range tt.made {
				o.Made(ctx, id, "vendor", exp)
			}
			for _, id := range tt.gone {
				o.Gone(ctx, id)
			}
			owner, known := o.Owner(ctx, tt.ask)
			if owner != tt.wantOwner || known != (tt.wantOwner != "") {
				t.Errorf("owner %q, known %v; want %q", owner, known, tt.wantOwner)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		o := &proxy.SubscriptionOwners{MaxEntries: 10}
		for i := range 25 {
			o.Made(ctx, fmt.Sprint("s", i), "vendor", later)
		}
		known := 0
		for i := range 25 {
			if _, ok := o.Owner(ctx, fmt.Sprint("s", i)); ok {
				known++
			}
		}
		if known > 10 || known == 0 {
			t.Errorf("%d of 25 remembered; want at most 10, the latest among them", known)
		}
		if _, ok := o.Owner(ctx, "s24"); !ok {
			t.Error("the latest made was forgotten")
		}
	})
}
