package config

import (
	"time"
)

// Config is graph-proxy's whole configuration. Field tags name the keys of the
// YAML file; every key is also the environment variable GRAPH_PROXY_<PATH>,
// with the path upper-cased and its dots replaced by underscores (for example
// graph.baseURL is GRAPH_PROXY_GRAPH_BASEURL). Lists in the environment are
// comma-separated.
type Config struct {
	// Listen is the address the proxy serves on. Default ":8080".
	Listen string `mapstructure:"listen"`
	// PublicBaseURL is the base URL the vendor uses to reach the proxy (scheme
	// and host, no path). Graph links in responses are rewritten to it.
	// Required.
	PublicBaseURL string `mapstructure:"publicBaseURL"`
	// ShutdownTimeout bounds how long in-flight requests may drain after
	// SIGTERM. Default 25s (Container Apps allows 30s).
	ShutdownTimeout time.Duration `mapstructure:"shutdownTimeout"`

	TLS      TLS      `mapstructure:"tls"`
	Limits   Limits   `mapstructure:"limits"`
	Graph    Graph    `mapstructure:"graph"`
	Inbound  Inbound  `mapstructure:"inbound"`
	Upstream Upstream `mapstructure:"upstream"`
	Policy   Policy   `mapstructure:"policy"`
	Audit    Audit    `mapstructure:"audit"`
	// PseudonymKey is the key answers are pseudonymised with (policy
	// response.pseudonymise).
	PseudonymKey PseudonymKey `mapstructure:"pseudonymKey"`
	// Notifications relays change notifications (policy
	// callers[].notifications: relay).
	Notifications Notifications `mapstructure:"notifications"`
	// Files moves file content for content rules (policy rules[].content).
	Files Files `mapstructure:"files"`

	Mediation Mediation `mapstructure:"mediation"`
	Telemetry Telemetry `mapstructure:"telemetry"`
	Admin     Admin     `mapstructure:"admin"`
}

// Mediation configures the proxy's look at the tenant for ways around it:
// Graph access the callers' applications hold of their own
// (internal/mediation).
type Mediation struct {
	// Interval is how often the look is taken, the first at start, with
	// the proxy's identity (which needs Directory.Read.All); 0s never.
	// Between 1m and 168h. Default 6h.
	Interval time.Duration `mapstructure:"interval"`
}

// Admin configures the admin listener: /metrics, /status and, when
// enabled, /debug/pprof. Keep it off the ingress: Container Apps exposes
// only the target port.
type Admin struct {
	// Listen is the admin address; empty disables the listener. Default
	// ":9090".
	Listen string `mapstructure:"listen"`
	// Pprof serves /debug/pprof. Default false.
	Pprof bool `mapstructure:"pprof"`
}

// TLS configures the proxy's own listener. Both empty (the default) serves
// plain HTTP, as behind Container Apps ingress.
type TLS struct {
	// CertFile is a PEM certificate chain for the listener.
	CertFile string `mapstructure:"certFile"`
	// KeyFile is the PEM private key for CertFile.
	KeyFile string `mapstructure:"keyFile"`
}

// Limits bounds what one request may carry.
type Limits struct {
	// MaxBodyBytes caps a request body; larger ones get 413. Default 4 MiB,
	// Graph's own limit for a request.
	MaxBodyBytes int64 `mapstructure:"maxBodyBytes"`
	// MaxHeaderBytes caps the request line and headers. Default 64 KiB.
	MaxHeaderBytes int `mapstructure:"maxHeaderBytes"`
	// ReadHeaderTimeout bounds the wait for a request's headers, so that a
	// slow sender cannot hold a connection (slowloris). Default 10s.
	ReadHeaderTimeout time.Duration `mapstructure:"readHeaderTimeout"`
	// Store is where the policy's rate and concurrency limits are
	// counted: local (each replica counts its own calls, so N replicas
	// admit N times the limits) or redis (every replica's calls, in the
	// Redis of Limits.Redis, which also shares group membership answers).
	// Default local.
	Store string `mapstructure:"store"`

	Redis Redis `mapstructure:"redis"`
}

// The limits stores.
const (
	StoreLocal = "local"
	StoreRedis = "redis"
)

// The ways to authenticate to Redis.
const (
	RedisAuthEntra    = "entra"
	RedisAuthPassword = "password"
	RedisAuthNone     = "none"
)

// Redis is the store the replicas share with limits.store: redis. When it
// fails or is slower than Timeout, each replica counts its own calls
// against the limits divided by the replica count last known, and returns
// to the shared limits when Redis answers in time again: the limits hold
// and calls flow either way.
type Redis struct {
	// Address is host:port: Azure Managed Redis listens on 10000, Azure
	// Cache for Redis on 6380. Required with limits.store: redis.
	Address string `mapstructure:"address"`
	// Auth is entra (the managed identity's Microsoft Entra token, as
	// Azure's Redis takes it: upstream.managedIdentityClientID selects the
	// identity), password (Username and Password) or none. Default entra.
	Auth string `mapstructure:"auth"`
	// Username is the Redis user with auth: password; empty is Redis's
	// default user.
	Username string `mapstructure:"username"`
	// Password is the password with auth: password; give it in the
	// environment (GRAPH_PROXY_LIMITS_REDIS_PASSWORD) from a secret. It
	// is never logged.
	Password string `mapstructure:"password"`
	// TLS encrypts the connection, trusting the system's roots and
	// graph.caFile's. Default true; false only to a loopback address.
	TLS bool `mapstructure:"tls"`
	// Timeout bounds each Redis call a Graph call waits for, between 1ms
	// and 1s; past it the local fallback decides. Default 5ms.
	Timeout time.Duration `mapstructure:"timeout"`
	// LeaseTTL is how long the concurrency slots of a replica that died
	// stay taken, and how long a replica stays counted after its last
	// heartbeat, between 1s and 10m. Default 30s.
	LeaseTTL time.Duration `mapstructure:"leaseTTL"`
	// AssumedReplicas is the replica count the fallback divides the
	// limits by before Redis has told the replica how many there are (a
	// replica that starts while Redis is down): the deployment's maximum.
	// Default 1.
	AssumedReplicas int `mapstructure:"assumedReplicas"`
	// KeyPrefix begins every key, so that deployments can share one Redis.
	// Default graph-proxy.
	KeyPrefix string `mapstructure:"keyPrefix"`
}

// Graph selects the Microsoft cloud the proxy talks to.
type Graph struct {
	// Cloud is global, usgov, usgovdod or china. Default global.
	Cloud string `mapstructure:"cloud"`
	// BaseURL overrides the cloud's Graph host (the simulator, tests).
	BaseURL string `mapstructure:"baseURL"`
	// LoginURL overrides the cloud's Entra ID authority host.
	LoginURL string `mapstructure:"loginURL"`
	// CAFile is a PEM bundle trusted, in addition to the system roots, for
	// every outbound connection: Graph, Entra ID, Key Vault and the identity
	// endpoint. For TLS-inspecting egress firewalls and the simulator.
	CAFile string `mapstructure:"caFile"`
	// Timeout bounds the wait for Graph's response headers; past it the
	// caller gets 504. Default 100s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Compression asks Graph for gzip answers. Off by default: the proxy
	// decompresses every answer to check its links, which costs more CPU
	// than the bytes it saves between Graph and the proxy (the caller's
	// leg is uncompressed either way).
	Compression bool `mapstructure:"compression"`
}

// Inbound configures how vendors authenticate to the proxy.
type Inbound struct {
	Entra Entra `mapstructure:"entra"`
	MTLS  MTLS  `mapstructure:"mtls"`
	// TrustedProxies lists the CIDRs (the Container Apps ingress) whose
	// X-Forwarded-For is believed for the caller's address, and the only
	// peers a forwarded client certificate (MTLS.ClientCertHeader) is
	// believed from. Empty (the default) believes none and records the
	// socket's address.
	TrustedProxies []string `mapstructure:"trustedProxies"`
}

// Entra configures the validation of vendors' Entra ID access tokens.
type Entra struct {
	// Tenants lists the tenant ids whose tokens are accepted.
	Tenants []string `mapstructure:"tenants"`
	// Audience is the application id URI of the proxy's app registration
	// (the aud of v1 tokens).
	Audience string `mapstructure:"audience"`
	// ClientID is the proxy app registration's client id (the aud of v2
	// tokens); optional.
	ClientID string `mapstructure:"clientID"`
	// AllowDelegated accepts tokens issued to a signed-in user of the
	// customer's tenant (upstream.tenantID) for the proxy's API, and
	// exchanges them on behalf of the user for the user's Graph token
	// (delegated access; it needs an upstream.mode with the app
	// registration). Default false: only app-only tokens are accepted.
	AllowDelegated bool `mapstructure:"allowDelegated"`
	// UserScope is the delegated scope the proxy's app registration
	// exposes, which a user's token must carry. Default access_as_user.
	UserScope string `mapstructure:"userScope"`
}

// MTLS configures client-certificate authentication.
type MTLS struct {
	// TrustedCAs is a PEM bundle of the CAs that issue vendor client
	// certificates. Empty disables client certificates.
	TrustedCAs string `mapstructure:"trustedCAs"`
	// ClientCertHeader names the header in which an ingress forwards the
	// client certificate. Empty (the default) ignores any such header. Set,
	// it needs TrustedCAs and Inbound.TrustedProxies: the header from any
	// other peer makes the call unauthenticated (401).
	ClientCertHeader string `mapstructure:"clientCertHeader"`
}

// Upstream configures how the proxy obtains its own Graph token.
type Upstream struct {
	// Mode is managedIdentity, keyVaultSecret, keyVaultCertificate or
	// federated. Default managedIdentity.
	Mode string `mapstructure:"mode"`
	// TenantID is the customer's tenant.
	TenantID string `mapstructure:"tenantID"`
	// ClientID is the app registration used in every mode but
	// managedIdentity.
	ClientID string `mapstructure:"clientID"`
	// ManagedIdentityClientID selects a user-assigned identity; empty uses
	// the system-assigned one.
	ManagedIdentityClientID string `mapstructure:"managedIdentityClientID"`

	KeyVault KeyVault `mapstructure:"keyVault"`
}

// KeyVault locates the app credential in the keyVault* modes.
type KeyVault struct {
	// URL is the vault, e.g. https://contoso-gp.vault.azure.net/.
	URL string `mapstructure:"url"`
	// SecretName is the secret holding the client secret or certificate.
	SecretName string `mapstructure:"secretName"`
	// SendX5C sends the certificate chain with the signed assertion
	// (keyVaultCertificate, for subject name and issuer authentication).
	SendX5C bool `mapstructure:"sendX5C"`
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool `mapstructure:"disableChallengeResourceVerification"`
}

// Policy locates the allow-list: a file, or a Key Vault secret. Exactly
// one of File and KeyVault.SecretURI is required.
type Policy struct {
	// File is the policy file.
	File string `mapstructure:"file"`
	// Reload watches the file (or polls the secret), and takes SIGHUP, to
	// swap in a valid new version; a version that does not load is
	// rejected and the policy in force stays. Default true.
	Reload bool `mapstructure:"reload"`

	KeyVault PolicyKeyVault `mapstructure:"keyVault"`
}

// PolicyKeyVault reads the policy from a Key Vault secret with the managed
// identity (upstream.managedIdentityClientID), which needs the Key Vault
// Secrets User role on the secret or its vault. Unlike a Container Apps
// secret, a new secret version reaches running replicas. Its poll
// interval defaults to 30s.
type PolicyKeyVault = KeyVaultSecret

// PseudonymKey reads the key of pseudonyms (policy
// response.pseudonymise, docs/policy.md) from a Key Vault secret with the
// managed identity (upstream.managedIdentityClientID), which needs the Key
// Vault Secrets User role on the secret or its vault. Without it, calls
// whose answers a rule pseudonymises are refused (503).
type PseudonymKey = KeyVaultSecret

// Audit configures where audit records go.
type Audit struct {
	// Sinks lists stdout, file and azureMonitor (several allowed). Default
	// [stdout].
	Sinks []string `mapstructure:"sinks"`
	// Replica names this replica's hash chain. Default: the host name
	// (Container Apps sets it to the replica name).
	Replica string `mapstructure:"replica"`
	// RetryBudget is how long a sink's failing write is retried before
	// the sink counts as failing; when every sink is failing, calls are
	// refused (503) until one recovers. Default 30s.
	RetryBudget time.Duration `mapstructure:"retryBudget"`
	// Linger is how long a batch of records stays open for more before
	// it goes to the sinks in one write: longer batches cost fewer writes
	// (and wake-ups), and leave more records in memory should the process
	// die. Between 0 (each batch at once) and 1s. Default 20ms.
	Linger time.Duration `mapstructure:"linger"`

	File         AuditFile    `mapstructure:"file"`
	AzureMonitor AzureMonitor `mapstructure:"azureMonitor"`
	// Checkpoint has a Key Vault key sign the chain head now and then.
	Checkpoint AuditCheckpoint `mapstructure:"checkpoint"`
}

// AuditCheckpoint signs the audit chain's head with a key in the
// customer's Key Vault (docs/audit.md, "Signed checkpoints"), with the
// managed identity (upstream.managedIdentityClientID), which needs the Key
// Vault Crypto User role on that key.
type AuditCheckpoint struct {
	// KeyID is the key without a version, e.g.
	// https://contoso-gp.vault.azure.net/keys/audit-checkpoint: the proxy
	// signs with its newest version. Empty writes no checkpoints.
	KeyID string `mapstructure:"keyID"`
	// Every is how many records may be written between two checkpoints,
	// at most. Default 10000.
	Every int `mapstructure:"every"`
	// Interval is how long the chain may grow without a checkpoint,
	// between 10s and 1h. Default 5m.
	Interval time.Duration `mapstructure:"interval"`
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool `mapstructure:"disableChallengeResourceVerification"`
}

// AuditFile configures the file sink.
type AuditFile struct {
	// Path is the JSON-lines file. Default audit.jsonl.
	Path string `mapstructure:"path"`
	// MaxSizeMB rotates the file at this size. Default 100.
	MaxSizeMB int `mapstructure:"maxSizeMB"`
	// MaxFiles is how many rotated files are kept. Default 10.
	MaxFiles int `mapstructure:"maxFiles"`
}

// AzureMonitor configures the Logs Ingestion sink.
type AzureMonitor struct {
	// Endpoint is the data collection endpoint (or rule endpoint).
	Endpoint string `mapstructure:"endpoint"`
	// RuleID is the data collection rule's immutable id.
	RuleID string `mapstructure:"ruleID"`
	// Stream is the DCR stream. Default Custom-GraphProxyAudit.
	Stream string `mapstructure:"stream"`
}

// Telemetry configures OpenTelemetry export.
type Telemetry struct {
	// OTLPEndpoint receives traces and metrics; empty disables export
	// unless the standard OTEL_* variables are set.
	OTLPEndpoint string `mapstructure:"otlpEndpoint"`
	// TraceCallers names the policy callers whose W3C trace context is
	// honoured (linked from the proxy's spans); empty trusts none.
	TraceCallers []string `mapstructure:"traceCallers"`
}

// Default returns the configuration used for every key the file, the
// environment and the flags leave unset.
func Default() Config {
	return Config{
		Listen:          ":8080",
		ShutdownTimeout: 25 * time.Second,
		Limits: Limits{MaxBodyBytes: 4 << 20, MaxHeaderBytes: 64 << 10, ReadHeaderTimeout: 10 * time.Second, Store: StoreLocal,
			Redis: Redis{Auth: RedisAuthEntra, TLS: true, Timeout: 5 * time.Millisecond, LeaseTTL: 30 * time.Second,
				AssumedReplicas: 1, KeyPrefix: "graph-proxy"}},
		Graph:         Graph{Cloud: "global", Timeout: 100 * time.Second},
		Inbound:       Inbound{Entra: Entra{UserScope: "access_as_user"}},
		Upstream:      Upstream{Mode: ModeManagedIdentity},
		Policy:        Policy{Reload: true, KeyVault: PolicyKeyVault{PollInterval: 30 * time.Second}},
		PseudonymKey:  PseudonymKey{PollInterval: 5 * time.Minute},
		Notifications: Notifications{KeyVaultSecret: KeyVaultSecret{PollInterval: 5 * time.Minute}},
		Files:         Files{KeyVaultSecret: KeyVaultSecret{PollInterval: 5 * time.Minute}},
		Admin:         Admin{Listen: ":9090"},
		Mediation:     Mediation{Interval: 6 * time.Hour},
		Audit: Audit{
			Sinks:        []string{"stdout"},
			RetryBudget:  30 * time.Second,
			Linger:       20 * time.Millisecond,
			File:         AuditFile{Path: "audit.jsonl", MaxSizeMB: 100, MaxFiles: 10},
			AzureMonitor: AzureMonitor{Stream: "Custom-GraphProxyAudit"},
			Checkpoint:   AuditCheckpoint{Every: 10000, Interval: 5 * time.Minute},
		},
	}
}

// The upstream token modes.
const (
	ModeManagedIdentity     = "managedIdentity"
	ModeKeyVaultSecret      = "keyVaultSecret"
	ModeKeyVaultCertificate = "keyVaultCertificate"
	ModeFederated           = "federated"
)
