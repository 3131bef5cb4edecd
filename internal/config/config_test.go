package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const baseline = `listen: ":8080"
publicBaseURL: "https://graph-proxy.contoso.example"
graph:
  cloud: global
  timeout: 100s
upstream:
  mode: managedIdentity
  tenantID: "c1a5517e-0000-4000-8000-000000000001"
audit:
  sinks: [stdout]
policy:
  file: "POLICY"
inbound:
  entra: { tenants: ["d2b6628f-0000-4000-8000-000000000002"], audience: "api://graph-proxy" }
`

// writeConfig writes the baseline with one change (old replaced by new) and
// returns its path.
func writeConfig(t *testing.T, old, new string) string {
	t.Helper()
	text := baseline
	if old != "" {
		if !strings.Contains(text, old) {
			t.Fatalf("baseline has no %q", old)
		}
		text = strings.Replace(text, old, new, 1)
	}
	abs, err := filepath.Abs("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, "POLICY", abs, 1)
	p := filepath.Join(t.TempDir(), "graph-proxy.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadBaseline(t *testing.T) {
	p := writeConfig(t, "", "")
	cfg, err := Load(Sources{File: p})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Graph.Timeout != 100*time.Second || cfg.Listen != ":8080" || cfg.Limits.MaxBodyBytes != 4<<20 {
		t.Errorf("got %+v; want the file's values over the defaults", cfg)
	}
	g, l, res := cfg.Graph.Endpoints()
	if g.String() != "https://graph.microsoft.com" || l.String() != "https://login.microsoftonline.com" || res != "https://graph.microsoft.com" {
		t.Errorf("Endpoints() = %s, %s, %s", g, l, res)
	}
}

func TestLoadTestdataGood(t *testing.T) {
	// policy.file in good.yaml is relative to the working directory, as
	// every path in the configuration is.
	t.Chdir("testdata")
	if _, err := Load(Sources{File: "good.yaml"}); err != nil {
		t.Fatalf("Load(testdata/good.yaml): %v", err)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		env      []string
		flags    map[string]string
		want     []string // problems, with "FILE" for the file's path
	}{
		{
			name: "unknown key with suggestion",
			old:  "  cloud: global", new: "  clod: global",
			want: []string{`FILE:4: graph.clod: unknown key (did you mean "graph.cloud"?)`},
		},
		{
			name: "unknown top-level section",
			old:  "audit:", new: "auditing:",
			want: []string{`FILE:9: auditing: unknown key (did you mean "audit"?)`},
		},
		{
			name: "bad cloud",
			old:  "cloud: global", new: "cloud: moon",
			want: []string{`FILE:4: graph.cloud: "moon" is not one of china, global, usgov, usgovdod`},
		},
		{
			name: "bad duration",
			old:  "timeout: 100s", new: "timeout: soon",
			want: []string{`FILE:5: graph.timeout: cannot use "soon": time: invalid duration`},
		},
		{
			name: "malformed YAML",
			old:  "  mode: managedIdentity", new: "  mode: [managedIdentity",
			// yaml.v3 names the line of the enclosing mapping.
			want: []string{`FILE:6: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "section given a scalar",
			old:  "graph:\n  cloud: global\n  timeout: 100s\n", new: "graph: global\n",
			want: []string{`FILE:3: graph: must be a mapping of keys to values`},
		},
		{
			name: "every problem at once",
			old:  `listen: ":8080"` + "\n" + `publicBaseURL: "https://graph-proxy.contoso.example"`,
			new:  `listen: "8080"` + "\n" + `publicBaseURL: "https://graph-proxy.contoso.example/graph"`,
			env:  []string{"GRAPH_PROXY_UPSTREAM_MODE=keyVaultSecret"},
			want: []string{
				`FILE:1: listen: "8080" is not host:port (for example ":8080")`,
				`FILE:2: publicBaseURL: "https://graph-proxy.contoso.example/graph" must be scheme and host only (no path, query or credentials): Graph SDKs expect /v1.0 right after the host`,
				`default: upstream.clientID: required in mode keyVaultSecret: the app registration's client id`,
				`default: upstream.keyVault.url: required in mode keyVaultSecret: the vault holding the app credential`,
				`default: upstream.keyVault.secretName: required in mode keyVaultSecret`,
			},
		},
		{
			name: "unknown environment variable",
			env:  []string{"GRAPH_PROXY_GRAPH_CLOUDS=global"},
			want: []string{`env GRAPH_PROXY_GRAPH_CLOUDS: unknown variable; did you mean GRAPH_PROXY_GRAPH_CLOUD?`},
		},
		{
			name: "audit linger out of range",
			env:  []string{"GRAPH_PROXY_AUDIT_LINGER=2s"},
			want: []string{`env GRAPH_PROXY_AUDIT_LINGER: audit.linger: 2s is not between 0s and 1s`},
		},
		{
			name: "bad value from the environment names the variable",
			env:  []string{"GRAPH_PROXY_AUDIT_SINKS=stdout,syslog"},
			want: []string{`env GRAPH_PROXY_AUDIT_SINKS: audit.sinks: "syslog" is not one of stdout, file, azureMonitor`},
		},
		{
			name:  "bad value from a flag names the flag",
			flags: map[string]string{"publicBaseURL": "http://gp.contoso.example"},
			want:  []string{`flag publicBaseURL: publicBaseURL: "http://gp.contoso.example" must use https`},
		},
		{
			name: "missing ingestion settings",
			old:  "sinks: [stdout]", new: "sinks: [stdout, azureMonitor]",
			want: []string{
				`default: audit.azureMonitor.endpoint: required with the azureMonitor sink: the data collection endpoint's logs ingestion URL`,
				`default: audit.azureMonitor.ruleID: required with the azureMonitor sink: the data collection rule's immutable id (dcr-...)`,
			},
		},
		{
			name: "bad tenant in a list",
			old:  `tenants: ["d2b6628f-0000-4000-8000-000000000002"]`, new: `tenants: ["not-a-guid"]`,
			want: []string{`FILE:14: inbound.entra.tenants[0]: "not-a-guid" is not a tenant id (a GUID)`},
		},
		{
			name: "no inbound authentication",
			old:  "inbound:\n  entra: { tenants: [\"d2b6628f-0000-4000-8000-000000000002\"], audience: \"api://graph-proxy\" }\n", new: "",
			want: []string{`default: inbound: no way to authenticate callers: set inbound.entra.tenants and audience, or inbound.mtls.trustedCAs`},
		},
		{
			name: "bad trusted proxy",
			env:  []string{"GRAPH_PROXY_INBOUND_TRUSTEDPROXIES=100.100.0.0/16,ingress"},
			want: []string{`env GRAPH_PROXY_INBOUND_TRUSTEDPROXIES: inbound.trustedProxies[1]: "ingress" is not a CIDR such as 100.100.0.0/16`},
		},
		{
			name: "missing policy file",
			old:  `file: "POLICY"`, new: "file: /nonexistent/policy.yaml",
			want: []string{`FILE:12: policy.file: cannot read "/nonexistent/policy.yaml": no such file or directory`},
		},
		{
			name: "no policy file",
			old:  "policy:\n  file: \"POLICY\"\n", new: "",
			want: []string{`default: policy.file: required: the allow-list of Graph calls (see examples/policy-engage.yaml), unless policy.keyVault.secretURI names a Key Vault secret holding it`},
		},
		{
			name: "policy from a file and a secret",
			env:  []string{"GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI=https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy"},
			want: []string{`env GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI: policy.keyVault.secretURI: set with policy.file: the policy comes from one place; unset one of them`},
		},
		{
			name: "policy secret with its version",
			old:  `file: "POLICY"`, new: "keyVault: { secretURI: \"https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy/4387e9f3d6e14c459867679a90fd0f79\" }",
			want: []string{`FILE:12: policy.keyVault.secretURI: "https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy/4387e9f3d6e14c459867679a90fd0f79" names version 4387e9f3d6e14c459867679a90fd0f79: give the secret without its version; the proxy follows the newest one`},
		},
		{
			name: "checkpoint key with its version, interval out of range",
			env: []string{"GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID=https://contoso-gp.vault.azure.net/keys/audit-checkpoint/0123abcd",
				"GRAPH_PROXY_AUDIT_CHECKPOINT_INTERVAL=2s"},
			want: []string{
				`env GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID: audit.checkpoint.keyID: "https://contoso-gp.vault.azure.net/keys/audit-checkpoint/0123abcd" names version 0123abcd: give the key without its version; the proxy follows the newest one`,
				`env GRAPH_PROXY_AUDIT_CHECKPOINT_INTERVAL: audit.checkpoint.interval: 2s is not between 10s and 1h`,
			},
		},
		{
			name: "checkpoint key not a key URI",
			env:  []string{"GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID=https://contoso-gp.vault.azure.net/secrets/audit-checkpoint"},
			want: []string{`env GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID: audit.checkpoint.keyID: "https://contoso-gp.vault.azure.net/secrets/audit-checkpoint" is not a Key Vault key URI such as https://contoso-gp.vault.azure.net/keys/audit-checkpoint`},
		},
		{
			name: "policy secret not a secret URI",
			old:  `file: "POLICY"`, new: "keyVault: { secretURI: \"https://contoso-gp.vault.azure.net/keys/graph-proxy-policy\" }",
			want: []string{`FILE:12: policy.keyVault.secretURI: "https://contoso-gp.vault.azure.net/keys/graph-proxy-policy" is not a Key Vault secret URI such as https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy`},
		},
		{
			name: "policy secret over plain http",
			old:  `file: "POLICY"`, new: "keyVault: { secretURI: \"http://127.0.0.1:8443/secrets/graph-proxy-policy\" }",
			want: []string{`FILE:12: policy.keyVault.secretURI: "http://127.0.0.1:8443/secrets/graph-proxy-policy" is not a Key Vault secret URI such as https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy`},
		},
		{
			name: "policy secret with a bad name",
			old:  `file: "POLICY"`, new: "keyVault: { secretURI: \"https://contoso-gp.vault.azure.net/secrets/graph_proxy_policy\" }",
			want: []string{`FILE:12: policy.keyVault.secretURI: "https://contoso-gp.vault.azure.net/secrets/graph_proxy_policy" names secret "graph_proxy_policy": a secret's name is 1 to 127 letters, digits and dashes`},
		},
		{
			name: "redis store without an address",
			env:  []string{"GRAPH_PROXY_LIMITS_STORE=redis"},
			want: []string{`default: limits.redis.address: required with limits.store: redis: host:port (Azure Managed Redis: <name>.<region>.redis.azure.net:10000)`},
		},
		{
			name: "unknown limits store",
			env:  []string{"GRAPH_PROXY_LIMITS_STORE=memcached"},
			want: []string{`env GRAPH_PROXY_LIMITS_STORE: limits.store: "memcached" is not one of local, redis`},
		},
		{
			name: "redis in the clear beyond loopback",
			env:  []string{"GRAPH_PROXY_LIMITS_STORE=redis", "GRAPH_PROXY_LIMITS_REDIS_ADDRESS=contoso-gp.westeurope.redis.azure.net:10000", "GRAPH_PROXY_LIMITS_REDIS_TLS=false"},
			want: []string{`env GRAPH_PROXY_LIMITS_REDIS_TLS: limits.redis.tls: false with "contoso-gp.westeurope.redis.azure.net:10000": the connection to a Redis other than on loopback must use TLS`},
		},
		{
			name: "entra token to redis in the clear",
			env:  []string{"GRAPH_PROXY_LIMITS_STORE=redis", "GRAPH_PROXY_LIMITS_REDIS_ADDRESS=127.0.0.1:6379", "GRAPH_PROXY_LIMITS_REDIS_TLS=false"},
			want: []string{`env GRAPH_PROXY_LIMITS_REDIS_TLS: limits.redis.tls: false with limits.redis.auth: entra: Azure's Redis takes Entra tokens over TLS only`},
		},
		{
			name: "redis password auth without a password, timeout out of range",
			env: []string{"GRAPH_PROXY_LIMITS_STORE=redis", "GRAPH_PROXY_LIMITS_REDIS_ADDRESS=redis.contoso.example:6380",
				"GRAPH_PROXY_LIMITS_REDIS_AUTH=password", "GRAPH_PROXY_LIMITS_REDIS_TIMEOUT=2s"},
			want: []string{
				`default: limits.redis.password: required with limits.redis.auth: password (from a secret, in GRAPH_PROXY_LIMITS_REDIS_PASSWORD)`,
				`env GRAPH_PROXY_LIMITS_REDIS_TIMEOUT: limits.redis.timeout: 2s is not between 1ms and 1s`,
			},
		},
		{
			name: "redis password with entra auth",
			env:  []string{"GRAPH_PROXY_LIMITS_STORE=redis", "GRAPH_PROXY_LIMITS_REDIS_ADDRESS=redis.contoso.example:10000", "GRAPH_PROXY_LIMITS_REDIS_PASSWORD=hunter2"},
			want: []string{`default: limits.redis.auth: entra, but limits.redis.username or password is set: set auth: password, or unset them`},
		},
		{
			name: "policy poll interval out of range",
			env:  []string{"GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL=500ms"},
			want: []string{`env GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL: policy.keyVault.pollInterval: 500ms is not between 1s and 1h`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.old, tt.new)
			_, err := Load(Sources{File: p, Env: tt.env, Flags: tt.flags})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v; want *Error", err)
			}
			var got []string
			for _, pr := range ce.Problems {
				got = append(got, strings.ReplaceAll(pr.String(), p, "FILE"))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestLoadRedis: the shared limits' settings as a deployment gives them.
func TestLoadRedis(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want Redis
	}{
		{
			name: "Azure Managed Redis with the managed identity",
			env:  []string{"GRAPH_PROXY_LIMITS_REDIS_ADDRESS=contoso-gp.westeurope.redis.azure.net:10000", "GRAPH_PROXY_LIMITS_REDIS_ASSUMEDREPLICAS=5"},
			want: Redis{Address: "contoso-gp.westeurope.redis.azure.net:10000", Auth: RedisAuthEntra, TLS: true, Timeout: 5 * time.Millisecond,
				LeaseTTL: 30 * time.Second, AssumedReplicas: 5, KeyPrefix: "graph-proxy"},
		},
		{
			name: "a Redis on loopback, in the clear, no auth",
			env: []string{"GRAPH_PROXY_LIMITS_REDIS_ADDRESS=127.0.0.1:6379", "GRAPH_PROXY_LIMITS_REDIS_TLS=false", "GRAPH_PROXY_LIMITS_REDIS_AUTH=none",
				"GRAPH_PROXY_LIMITS_REDIS_TIMEOUT=20ms", "GRAPH_PROXY_LIMITS_REDIS_LEASETTL=2s"},
			want: Redis{Address: "127.0.0.1:6379", Auth: RedisAuthNone, Timeout: 20 * time.Millisecond, LeaseTTL: 2 * time.Second,
				AssumedReplicas: 1, KeyPrefix: "graph-proxy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{File: writeConfig(t, "", ""), Env: append(tt.env, "GRAPH_PROXY_LIMITS_STORE=redis")})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Limits.Store != StoreRedis || cfg.Limits.Redis != tt.want {
				t.Errorf("got %s %+v; want redis %+v", cfg.Limits.Store, cfg.Limits.Redis, tt.want)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	p := writeConfig(t, `listen: ":8080"`, `listen: ":1111"`)
	tests := []struct {
		name  string
		env   []string
		flags map[string]string
		want  string
	}{
		{name: "file over default", want: ":1111"},
		{name: "env over file", env: []string{"GRAPH_PROXY_LISTEN=:2222"}, want: ":2222"},
		{name: "flag over env", env: []string{"GRAPH_PROXY_LISTEN=:2222"}, flags: map[string]string{"listen": ":3333"}, want: ":3333"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{File: p, Env: tt.env, Flags: tt.flags})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tt.want {
				t.Errorf("listen = %q; want %q", cfg.Listen, tt.want)
			}
		})
	}
}

func TestLoadEnvTypes(t *testing.T) {
	cfg, err := Load(Sources{Env: []string{
		"GRAPH_PROXY_POLICY_FILE=testdata/policy.yaml",
		"GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS=" + testCA(t),
		"GRAPH_PROXY_PUBLICBASEURL=https://gp.contoso.example",
		"GRAPH_PROXY_GRAPH_TIMEOUT=30s",
		"GRAPH_PROXY_AUDIT_SINKS=stdout, file",
		"GRAPH_PROXY_POLICY_RELOAD=false",
		"GRAPH_PROXY_LIMITS_MAXBODYBYTES=1024",
		"GRAPH_PROXY_GRAPH_CLOUD=usgov",
		"UNRELATED=1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Graph.Timeout != 30*time.Second || strings.Join(cfg.Audit.Sinks, "|") != "stdout|file" ||
		cfg.Policy.Reload || cfg.Limits.MaxBodyBytes != 1024 {
		t.Errorf("got %+v", cfg)
	}
	if g, _, res := cfg.Graph.Endpoints(); g.Host != "graph.microsoft.us" || res != "https://graph.microsoft.us" {
		t.Errorf("usgov endpoints: %s, %s", g, res)
	}
}

// testCA writes a fresh self-signed CA certificate and returns its path.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "config test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	return p
}

// TestLoadPolicySecret: the policy read from a Key Vault secret instead of
// a file, the vault and the secret's name taken from its URI.
func TestLoadPolicySecret(t *testing.T) {
	tests := []struct {
		name          string
		uri           string
		env           []string
		wantVault     string
		wantName      string
		wantPoll      time.Duration
		wantNoVerifyC bool
	}{
		{name: "defaults", uri: "https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy",
			wantVault: "https://contoso-gp.vault.azure.net", wantName: "graph-proxy-policy", wantPoll: 30 * time.Second},
		{name: "trailing slash", uri: "https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy/",
			wantVault: "https://contoso-gp.vault.azure.net", wantName: "graph-proxy-policy", wantPoll: 30 * time.Second},
		{name: "simulator", uri: "https://127.0.0.1:8443/secrets/p1",
			env:       []string{"GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL=1s", "GRAPH_PROXY_POLICY_KEYVAULT_DISABLECHALLENGERESOURCEVERIFICATION=true"},
			wantVault: "https://127.0.0.1:8443", wantName: "p1", wantPoll: time.Second, wantNoVerifyC: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, `file: "POLICY"`, `keyVault: { secretURI: "`+tt.uri+`" }`)
			cfg, err := Load(Sources{File: p, Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			kv := cfg.Policy.KeyVault
			vault, name := kv.Secret()
			if vault != tt.wantVault || name != tt.wantName || kv.PollInterval != tt.wantPoll ||
				kv.DisableChallengeResourceVerification != tt.wantNoVerifyC || cfg.Policy.File != "" {
				t.Errorf("got vault %q, secret %q, poll %v, no verification %v, file %q; want %q, %q, %v, %v, none",
					vault, name, kv.PollInterval, kv.DisableChallengeResourceVerification, cfg.Policy.File,
					tt.wantVault, tt.wantName, tt.wantPoll, tt.wantNoVerifyC)
			}
		})
	}
}

func TestEndpointsOverride(t *testing.T) {
	g := Graph{Cloud: "china", BaseURL: "https://127.0.0.1:9442", LoginURL: "https://127.0.0.1:9441"}
	gu, lu, res := g.Endpoints()
	if gu.Host != "127.0.0.1:9442" || lu.Host != "127.0.0.1:9441" || res != "https://microsoftgraph.chinacloudapi.cn" {
		t.Errorf("got %s %s %s; want overrides for hosts, the cloud's resource", gu, lu, res)
	}
}

func TestKeysHaveEnvNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k[1]] {
			t.Errorf("two keys map to %s", k[1])
		}
		seen[k[1]] = true
	}
	if !seen["GRAPH_PROXY_UPSTREAM_KEYVAULT_SECRETNAME"] {
		t.Errorf("Keys() lacks upstream.keyVault.secretName")
	}
}

// TestClientCertHeaderNeedsTrustedProxies: a forwarded certificate is
// believed only from inbound.trustedProxies, so setting the header without
// them is a start-up error.
func TestClientCertHeaderNeedsTrustedProxies(t *testing.T) {
	ca := testCA(t)
	const want = `env GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER: inbound.mtls.clientCertHeader: needs inbound.trustedProxies: a forwarded certificate is believed only from those addresses (the ingress's; docs/installation.md says how to find them)`
	tests := []struct {
		name string
		env  []string
		want string // the one problem; empty loads
	}{
		{name: "neither", env: nil},
		{name: "trusted proxies alone", env: []string{"GRAPH_PROXY_INBOUND_TRUSTEDPROXIES=100.100.0.0/17"}},
		{name: "header and trusted proxies", env: []string{
			"GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS=" + ca,
			"GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER=X-Forwarded-Client-Cert",
			"GRAPH_PROXY_INBOUND_TRUSTEDPROXIES=100.100.0.0/17,100.100.128.0/19",
		}},
		{name: "header without trusted proxies", env: []string{
			"GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS=" + ca,
			"GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER=X-Forwarded-Client-Cert",
		}, want: want},
		{name: "header with an empty list", env: []string{
			"GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS=" + ca,
			"GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER=X-Forwarded-Client-Cert",
			"GRAPH_PROXY_INBOUND_TRUSTEDPROXIES=",
		}, want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Sources{File: writeConfig(t, "", ""), Env: tt.env})
			var got string
			var ce *Error
			if errors.As(err, &ce) {
				for _, pr := range ce.Problems {
					got += pr.String()
				}
			} else if err != nil {
				t.Fatalf("got %v; want nil or *Error", err)
			}
			if got != tt.want {
				t.Errorf("got problems %q; want %q", got, tt.want)
			}
		})
	}
}
