package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

// TestSharedLimitsTemplate deploys mainTemplate.json on paper with and
// without sharedLimits. With it: Azure Managed Redis over TLS with Entra
// authentication only (no access keys), the proxy's identity granted data
// access by an access policy assignment, and a container environment that
// graph-proxy loads as limits.store: redis at the cache's address, the
// fallback assuming maxReplicas until Redis counts them. Without it: no
// Redis, local limits. Either way the scale rule and the replica bounds
// are the parameters', and a minimum above the maximum fails the
// deployment before anything is created.
func TestSharedLimitsTemplate(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	const host = "graph-proxy-redis.westeurope.redis.azure.net"
	const principal = "d0000000-0000-4000-8000-00000000000d"
	env := defaultEnv
	env.deployed = map[string]map[string]any{
		"microsoft.keyvault/vaults":                        {"vaultUri": "https://graph-proxy-abc.vault.azure.net/"},
		"microsoft.keyvault/vaults/keys":                   {"keyUri": "https://graph-proxy-abc.vault.azure.net/keys/audit-checkpoint"},
		"microsoft.app/managedenvironments":                {"defaultDomain": "kindhill-0a1b2c3d.westeurope.azurecontainerapps.io"},
		"microsoft.insights/datacollectionendpoints":       {"logsIngestion": map[string]any{"endpoint": "https://graph-proxy-dce-x1y2.westeurope-1.ingest.monitor.azure.com"}},
		"microsoft.insights/datacollectionrules":           {"immutableId": "dcr-00000000000000000000000000000001"},
		"microsoft.managedidentity/userassignedidentities": {"clientId": "c0000000-0000-4000-8000-00000000000c", "principalId": principal},
		"microsoft.cache/redisenterprise":                  {"hostName": host},
	}
	tests := []struct {
		name         string
		over         map[string]any
		wantRedis    bool
		wantMin      int64
		wantMax      int64
		wantRequests string
		wantFail     string
	}{
		{name: "defaults: local limits", wantMin: 1, wantMax: 5, wantRequests: "50"},
		{name: "shared limits among up to 8 replicas", over: map[string]any{"sharedLimits": true, "maxReplicas": int64(8), "minReplicas": int64(2), "scaleConcurrentRequests": int64(30)},
			wantRedis: true, wantMin: 2, wantMax: 8, wantRequests: "30"},
		{name: "a minimum above the maximum", over: map[string]any{"minReplicas": int64(4), "maxReplicas": int64(3)}, wantFail: "minReplicas 4 is above maxReplicas 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := deployARM(tm, td, armArgs(tt.over), env)
			if tt.wantFail != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantFail) {
					t.Fatalf("deployment: %v; want it to fail saying %q", err, tt.wantFail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var redis, database, access *armResource
			for i, r := range d.resources {
				switch r.typ {
				case "Microsoft.Cache/redisEnterprise":
					redis = &d.resources[i]
				case "Microsoft.Cache/redisEnterprise/databases":
					database = &d.resources[i]
				case "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments":
					access = &d.resources[i]
				}
			}
			if got := redis != nil && database != nil && access != nil; got != tt.wantRedis || (!got && (redis != nil || database != nil || access != nil)) {
				t.Fatalf("Redis deployed: cluster %v, database %v, access %v; want %v", redis != nil, database != nil, access != nil, tt.wantRedis)
			}
			vars := containerEnv(t, d)
			var list []string
			for name, v := range vars {
				list = append(list, name+"="+v.(string))
			}
			cfg, err := config.Load(config.Sources{Env: list})
			if err != nil {
				t.Fatalf("graph-proxy refuses the template's environment: %v", err)
			}
			if tt.wantRedis {
				props := func(r *armResource) map[string]any { return r.body["properties"].(map[string]any) }
				if p := props(database); p["clientProtocol"] != "Encrypted" || p["accessKeysAuthentication"] != "Disabled" || p["evictionPolicy"] != "NoEviction" {
					t.Errorf("database %v; want TLS only, no access keys, no eviction", p)
				}
				user := props(access)["user"].(map[string]any)
				if props(access)["accessPolicyName"] != "default" || user["objectId"] != principal {
					t.Errorf("access policy assignment %v; want the default (data) policy for the proxy's identity %s", props(access), principal)
				}
				r := cfg.Limits.Redis
				if cfg.Limits.Store != config.StoreRedis || r.Address != host+":10000" || r.Auth != config.RedisAuthEntra || !r.TLS || int64(r.AssumedReplicas) != tt.wantMax {
					t.Errorf("limits %s %+v; want redis at %s:10000, entra over TLS, %d replicas assumed", cfg.Limits.Store, r, host, tt.wantMax)
				}
			} else if cfg.Limits.Store != config.StoreLocal {
				t.Errorf("limits.store %s without sharedLimits; want local", cfg.Limits.Store)
			}
			app := findResource(t, d, "Microsoft.App/containerApps")
			scale := app.body["properties"].(map[string]any)["template"].(map[string]any)["scale"].(map[string]any)
			rule := scale["rules"].([]any)[0].(map[string]any)["http"].(map[string]any)["metadata"].(map[string]any)
			if scale["minReplicas"] != tt.wantMin || scale["maxReplicas"] != tt.wantMax || rule["concurrentRequests"] != tt.wantRequests {
				t.Errorf("scale %v; want %d to %d replicas, one per %s calls in flight", scale, tt.wantMin, tt.wantMax, tt.wantRequests)
			}
		})
	}
	var fail armFail
	if _, err := deployARM(tm, td, armArgs(map[string]any{"minReplicas": int64(5), "maxReplicas": int64(1)}), env); !errors.As(err, &fail) {
		t.Errorf("minReplicas above maxReplicas: %v; want a deliberate fail()", err)
	}
}
