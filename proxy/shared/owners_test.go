package shared_test

import (
	"context"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/redistest"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/shared"
)

// TestOwners: the caller one replica saw make a subscription is known to
// another, until the subscription expires or is deleted; with Redis down,
// a replica knows only what it saw itself.
func TestOwners(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newReplica(t, srv, shared.Options{Replica: "a", Prefix: "owners", Timeout: 100 * time.Millisecond})
	b := newReplica(t, srv, shared.Options{Replica: "b", Prefix: "owners", Timeout: 100 * time.Millisecond})
	oa := &proxy.SubscriptionOwners{Shared: &shared.Owners{Store: a.store}}
	ob := &proxy.SubscriptionOwners{Shared: &shared.Owners{Store: b.store}}
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		id        string
		made      bool
		expires   time.Time
		gone      bool
		wantOwner string
	}{
		{name: "made on a, asked on b", id: "A1B2C3D4-0000-4000-8000-000000000001", made: true, expires: later, wantOwner: "vendor"},
		{name: "its id in another case", id: "a1b2c3d4-0000-4000-8000-000000000001", wantOwner: "vendor"},
		{name: "never made through the proxy", id: "a1b2c3d4-0000-4000-8000-000000000002"},
		{name: "expired long ago", id: "a1b2c3d4-0000-4000-8000-000000000003", made: true, expires: time.Now().Add(-2 * time.Hour)},
		{name: "deleted", id: "a1b2c3d4-0000-4000-8000-000000000004", made: true, expires: later, gone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.made {
				oa.Made(ctx, tt.id, "vendor", tt.expires)
			}
			if tt.gone {
				oa.Gone(ctx, tt.id)
			}
			owner, known := ob.Owner(ctx, tt.id)
			if owner != tt.wantOwner || known != (tt.wantOwner != "") {
				t.Errorf("owner %q, known %v; want %q", owner, known, tt.wantOwner)
			}
		})
	}
	srv.Stop()
	if _, known := ob.Owner(ctx, tests[0].id); known {
		t.Error("a maker from a Redis that is down; want a miss (the subscription is read)")
	}
	if owner, known := oa.Owner(ctx, tests[0].id); !known || owner != "vendor" {
		t.Errorf("the replica that saw it made: %q, %v; want its own memory to answer", owner, known)
	}
}

// TestOwnersWrittenByEarlierVersions: what an earlier version wrote — the
// maker's policy name, under the key it used — is unknown to this one
// (the subscription is then read from Graph), never taken for a maker,
// even where it holds a string equal to a caller's identity; and this
// version writes nothing there.
func TestOwnersWrittenByEarlierVersions(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newReplica(t, srv, shared.Options{Replica: "a", Prefix: "owners", Timeout: time.Second})
	o := &proxy.SubscriptionOwners{Shared: &shared.Owners{Store: r.store}}
	ctx := context.Background()
	const identity = "entra-jwt:app:t1:a1"
	tests := []struct {
		name, id, value string
	}{
		{name: "a policy name", id: "a1b2c3d4-0000-4000-8000-000000000011", value: "engage"},
		{name: "an identity's text", id: "a1b2c3d4-0000-4000-8000-000000000012", value: identity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := srv.Do("SET", "owners:subscription:"+tt.id, tt.value, "EX", "3600"); err != nil {
				t.Fatal(err)
			}
			if owner, known := o.Owner(ctx, tt.id); known {
				t.Errorf("owner %q from an earlier version's key; want unknown", owner)
			}
		})
	}
	id := "a1b2c3d4-0000-4000-8000-000000000013"
	o.Made(ctx, id, identity, time.Now().Add(time.Hour))
	if got, err := srv.Do("EXISTS", "owners:subscription:"+id); err != nil || got != ":0" {
		t.Errorf("EXISTS under the earlier key: %q, %v; want :0", got, err)
	}
	other := &proxy.SubscriptionOwners{Shared: &shared.Owners{Store: r.store}}
	if owner, known := other.Owner(ctx, id); !known || owner != identity {
		t.Errorf("owner %q, %v; want %q from the shared store", owner, known, identity)
	}
}
