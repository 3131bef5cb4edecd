package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 text form.
func IsGUID(s string) bool { return guid.MatchString(s) }

type problems []Problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
}

// validate checks values (their types were checked when decoding) and returns
// every problem, each naming its key.
func (c Config) validate() []Problem {
	var ps problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		ps.add("listen", "%q is not host:port (for example \":8080\")", c.Listen)
	}
	ps.checkBaseURL("publicBaseURL", c.PublicBaseURL, true, true)
	if c.ShutdownTimeout <= 0 {
		ps.add("shutdownTimeout", "must be positive")
	}

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		ps.add("tls", "certFile and keyFile go together: set both or neither")
	}
	ps.checkReadable("tls.certFile", c.TLS.CertFile)
	ps.checkReadable("tls.keyFile", c.TLS.KeyFile)

	if c.Limits.MaxBodyBytes <= 0 {
		ps.add("limits.maxBodyBytes", "must be positive")
	}
	if c.Audit.RetryBudget <= 0 {
		ps.add("audit.retryBudget", "must be positive")
	}
	if c.Audit.Linger < 0 || c.Audit.Linger > time.Second {
		ps.add("audit.linger", "%v is not between 0s and 1s", c.Audit.Linger)
	}
	if c.Limits.ReadHeaderTimeout <= 0 {
		ps.add("limits.readHeaderTimeout", "must be positive")
	}
	if c.Limits.MaxHeaderBytes < 4096 {
		ps.add("limits.maxHeaderBytes", "%d is below the 4096 bytes a Graph SDK request needs", c.Limits.MaxHeaderBytes)
	}

	if _, ok := Clouds[c.Graph.Cloud]; !ok {
		ps.add("graph.cloud", "%q is not one of %s", c.Graph.Cloud, strings.Join(cloudNames(), ", "))
	}
	ps.checkBaseURL("graph.baseURL", c.Graph.BaseURL, false, false)
	ps.checkBaseURL("graph.loginURL", c.Graph.LoginURL, false, false)
	ps.checkPEM("graph.caFile", c.Graph.CAFile)
	if c.Graph.Timeout <= 0 {
		ps.add("graph.timeout", "must be positive")
	}

	for i, t := range c.Inbound.Entra.Tenants {
		if !IsGUID(t) {
			ps.add(fmt.Sprintf("inbound.entra.tenants[%d]", i), "%q is not a tenant id (a GUID)", t)
		}
	}
	if len(c.Inbound.Entra.Tenants) > 0 && c.Inbound.Entra.Audience == "" {
		ps.add("inbound.entra.audience", "required when inbound.entra.tenants is set: the application id URI of graph-proxy's app registration")
	}
	ps.checkGUID("inbound.entra.clientID", c.Inbound.Entra.ClientID)
	ps.checkDelegated(c)
	ps.checkPEM("inbound.mtls.trustedCAs", c.Inbound.MTLS.TrustedCAs)
	if c.Inbound.MTLS.ClientCertHeader != "" && c.Inbound.MTLS.TrustedCAs == "" {
		ps.add("inbound.mtls.clientCertHeader", "needs inbound.mtls.trustedCAs: a forwarded certificate is verified against them")
	}
	for i, cidr := range c.Inbound.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			ps.add(fmt.Sprintf("inbound.trustedProxies[%d]", i), "%q is not a CIDR such as 100.100.0.0/16", cidr)
		}
	}
	// Without trusted proxies a forwarded certificate is believed from no
	// one, so every call carrying one would be refused: a configuration
	// that cannot work is a start-up error, not a surprise in production.
	if c.Inbound.MTLS.ClientCertHeader != "" && len(c.Inbound.TrustedProxies) == 0 {
		ps.add("inbound.mtls.clientCertHeader", "needs inbound.trustedProxies: a forwarded certificate is believed only from those addresses (the ingress's; docs/installation.md says how to find them)")
	}
	if len(c.Inbound.Entra.Tenants) == 0 && c.Inbound.MTLS.TrustedCAs == "" {
		ps.add("inbound", "no way to authenticate callers: set inbound.entra.tenants and audience, or inbound.mtls.trustedCAs")
	}

	ps.checkLimitsStore(c.Limits)
	ps.checkUpstream(c.Upstream)
	ps.checkPolicy(c.Policy)
	ps.checkKeyVaultSecret("pseudonymKey", c.PseudonymKey)
	ps.checkNotifications(c.Notifications)
	ps.checkFiles(c.Files)
	ps.checkAudit(c.Audit)
	if i := c.Mediation.Interval; i != 0 && (i < time.Minute || i > 168*time.Hour) {
		ps.add("mediation.interval", "%s is not 0s (never) nor between 1m and 168h", i)
	}

	if a := c.Admin.Listen; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			ps.add("admin.listen", "%q is not host:port (for example \":9090\"); empty disables the admin listener", a)
		} else if a == c.Listen {
			ps.add("admin.listen", "%q is the main listener's address: the admin listener needs its own port", a)
		}
	}
	if e := c.Telemetry.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || u.Host == "" {
			ps.add("telemetry.otlpEndpoint", "%q is not an absolute URL", e)
		}
	}
	return ps
}

func (ps *problems) checkUpstream(u Upstream) {
	modes := []string{ModeManagedIdentity, ModeKeyVaultSecret, ModeKeyVaultCertificate, ModeFederated}
	if !slices.Contains(modes, u.Mode) {
		ps.add("upstream.mode", "%q is not one of %s", u.Mode, strings.Join(modes, ", "))
		return
	}
	ps.checkGUID("upstream.tenantID", u.TenantID)
	ps.checkGUID("upstream.clientID", u.ClientID)
	ps.checkGUID("upstream.managedIdentityClientID", u.ManagedIdentityClientID)
	if u.Mode == ModeManagedIdentity {
		return
	}
	if u.TenantID == "" {
		ps.add("upstream.tenantID", "required in mode %s: the customer's tenant id", u.Mode)
	}
	if u.ClientID == "" {
		ps.add("upstream.clientID", "required in mode %s: the app registration's client id", u.Mode)
	}
	if u.Mode == ModeFederated {
		return
	}
	ps.checkBaseURL("upstream.keyVault.url", u.KeyVault.URL, false, false)
	if u.KeyVault.URL == "" {
		ps.add("upstream.keyVault.url", "required in mode %s: the vault holding the app credential", u.Mode)
	}
	if u.KeyVault.SecretName == "" {
		ps.add("upstream.keyVault.secretName", "required in mode %s", u.Mode)
	}
}

func (ps *problems) checkLimitsStore(l Limits) {
	switch l.Store {
	case StoreLocal:
		return
	case StoreRedis:
	default:
		ps.add("limits.store", "%q is not one of %s, %s", l.Store, StoreLocal, StoreRedis)
		return
	}
	r := l.Redis
	host, _, err := net.SplitHostPort(r.Address)
	clear := false
	switch {
	case r.Address == "":
		ps.add("limits.redis.address", "required with limits.store: redis: host:port (Azure Managed Redis: <name>.<region>.redis.azure.net:10000)")
	case err != nil:
		ps.add("limits.redis.address", "%q is not host:port (Azure Managed Redis: <name>.<region>.redis.azure.net:10000)", r.Address)
	case !r.TLS && !isLoopback(host):
		// A token or password, and every caller's and mailbox's name, would
		// cross the network in the clear.
		ps.add("limits.redis.tls", "false with %q: the connection to a Redis other than on loopback must use TLS", r.Address)
		clear = true
	}
	auths := []string{RedisAuthEntra, RedisAuthPassword, RedisAuthNone}
	switch {
	case !slices.Contains(auths, r.Auth):
		ps.add("limits.redis.auth", "%q is not one of %s", r.Auth, strings.Join(auths, ", "))
	case r.Auth == RedisAuthPassword && r.Password == "":
		ps.add("limits.redis.password", "required with limits.redis.auth: password (from a secret, in GRAPH_PROXY_LIMITS_REDIS_PASSWORD)")
	case r.Auth != RedisAuthPassword && (r.Password != "" || r.Username != ""):
		ps.add("limits.redis.auth", "%s, but limits.redis.username or password is set: set auth: password, or unset them", r.Auth)
	case r.Auth == RedisAuthEntra && !r.TLS && !clear:
		ps.add("limits.redis.tls", "false with limits.redis.auth: entra: Azure's Redis takes Entra tokens over TLS only")
	}
	if r.Timeout < time.Millisecond || r.Timeout > time.Second {
		ps.add("limits.redis.timeout", "%v is not between 1ms and 1s", r.Timeout)
	}
	if r.LeaseTTL < time.Second || r.LeaseTTL > 10*time.Minute {
		ps.add("limits.redis.leaseTTL", "%v is not between 1s and 10m", r.LeaseTTL)
	}
	if r.AssumedReplicas < 1 || r.AssumedReplicas > 1000 {
		ps.add("limits.redis.assumedReplicas", "%d is not between 1 and 1000", r.AssumedReplicas)
	}
	if r.KeyPrefix == "" || strings.ContainsAny(r.KeyPrefix, "{} \t\r\n") {
		ps.add("limits.redis.keyPrefix", "%q must be non-empty, without braces or spaces", r.KeyPrefix)
	}
}

func (ps *problems) checkPolicy(p Policy) {
	kv := p.KeyVault
	switch {
	case p.File == "" && kv.SecretURI == "":
		ps.add("policy.file", "required: the allow-list of Graph calls (see examples/policy-engage.yaml), unless policy.keyVault.secretURI names a Key Vault secret holding it")
	case p.File != "" && kv.SecretURI != "":
		ps.add("policy.keyVault.secretURI", "set with policy.file: the policy comes from one place; unset one of them")
	}
	ps.checkReadable("policy.file", p.File)
	if kv.SecretURI != "" {
		if _, _, err := splitSecretURI(kv.SecretURI); err != nil {
			ps.add("policy.keyVault.secretURI", "%q %v", kv.SecretURI, err)
		}
	}
	if kv.PollInterval < time.Second || kv.PollInterval > time.Hour {
		ps.add("policy.keyVault.pollInterval", "%v is not between 1s and 1h", kv.PollInterval)
	}
}

// secretName is what Key Vault accepts as a secret's name.
var secretName = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// splitSecretURI splits a Key Vault secret identifier without a version,
// https://<vault host>/secrets/<name>, into the vault's URL and the
// secret's name.
func splitSecretURI(s string) (vaultURL, name string, err error) { return splitVaultURI(s, "secrets") }

// vaultExamples are the identifiers the errors of splitVaultURI show.
var vaultExamples = map[string]string{
	"secrets": "https://contoso-gp.vault.azure.net/secrets/graph-proxy-policy",
	"keys":    "https://contoso-gp.vault.azure.net/keys/audit-checkpoint",
}

// splitVaultURI splits the identifier of a vault's object of a kind
// ("secrets", "keys") without a version into the vault's URL and the
// object's name.
func splitVaultURI(s, kind string) (vaultURL, name string, err error) {
	what := strings.TrimSuffix(kind, "s")
	notURI := fmt.Errorf("is not a Key Vault %s URI such as %s", what, vaultExamples[kind])
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", notURI
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) < 2 || len(parts) > 3 || parts[0] != kind:
		return "", "", notURI
	case !secretName.MatchString(parts[1]):
		return "", "", fmt.Errorf("names %s %q: a %s's name is 1 to 127 letters, digits and dashes", what, parts[1], what)
	case len(parts) == 3:
		// A pinned version would never be followed by a new one: the
		// policy could change, or the key rotate, only with a new
		// revision of the app.
		return "", "", fmt.Errorf("names version %s: give the %s without its version; the proxy follows the newest one", parts[2], what)
	}
	return u.Scheme + "://" + u.Host, parts[1], nil
}

func (ps *problems) checkAudit(a Audit) {
	sinks := []string{"stdout", "file", "azureMonitor"}
	if len(a.Sinks) == 0 {
		ps.add("audit.sinks", "at least one sink is required (%s)", strings.Join(sinks, ", "))
	}
	seen := map[string]bool{}
	for _, s := range a.Sinks {
		switch {
		case !slices.Contains(sinks, s):
			ps.add("audit.sinks", "%q is not one of %s", s, strings.Join(sinks, ", "))
		case seen[s]:
			ps.add("audit.sinks", "%q is listed twice", s)
		}
		seen[s] = true
	}
	if seen["file"] {
		if a.File.Path == "" {
			ps.add("audit.file.path", "required with the file sink")
		}
		if a.File.MaxSizeMB <= 0 {
			ps.add("audit.file.maxSizeMB", "must be positive")
		}
		if a.File.MaxFiles < 1 {
			ps.add("audit.file.maxFiles", "must be at least 1")
		}
	}
	if seen["azureMonitor"] {
		if a.AzureMonitor.Endpoint == "" {
			ps.add("audit.azureMonitor.endpoint", "required with the azureMonitor sink: the data collection endpoint's logs ingestion URL")
		} else {
			ps.checkBaseURL("audit.azureMonitor.endpoint", a.AzureMonitor.Endpoint, false, false)
		}
		if a.AzureMonitor.RuleID == "" {
			ps.add("audit.azureMonitor.ruleID", "required with the azureMonitor sink: the data collection rule's immutable id (dcr-...)")
		}
		if !strings.HasPrefix(a.AzureMonitor.Stream, "Custom-") {
			ps.add("audit.azureMonitor.stream", "%q must name a custom stream (Custom-...)", a.AzureMonitor.Stream)
		}
	}
	if cp := a.Checkpoint; cp.KeyID != "" {
		if _, _, err := splitVaultURI(cp.KeyID, "keys"); err != nil {
			ps.add("audit.checkpoint.keyID", "%q %v", cp.KeyID, err)
		}
		if cp.Every < 1 {
			ps.add("audit.checkpoint.every", "must be at least 1")
		}
		if cp.Interval < 10*time.Second || cp.Interval > time.Hour {
			ps.add("audit.checkpoint.interval", "%s is not between 10s and 1h", cp.Interval)
		}
	}
}

// checkBaseURL accepts an absolute https URL with nothing after the host.
// Plain http is accepted only for loopback hosts, and only where
// allowLoopbackHTTP is set.
func (ps *problems) checkBaseURL(key, s string, required, allowLoopbackHTTP bool) {
	if s == "" {
		if required {
			ps.add(key, "required: an absolute https URL such as https://graph-proxy.contoso.example")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		ps.add(key, "%q is not an absolute https URL", s)
		return
	}
	if u.Scheme == "http" && !(allowLoopbackHTTP && isLoopback(u.Hostname())) {
		ps.add(key, "%q must use https", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		ps.add(key, "%q must be scheme and host only (no path, query or credentials): Graph SDKs expect /v1.0 right after the host", s)
	}
}

func (ps *problems) checkGUID(key, s string) {
	if s != "" && !IsGUID(s) {
		ps.add(key, "%q is not a GUID", s)
	}
}

func (ps *problems) checkReadable(key, name string) {
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		ps.add(key, "cannot read %q: %v", name, unwrapPath(err))
		return
	}
	f.Close()
}

func (ps *problems) checkPEM(key, name string) {
	if name == "" {
		return
	}
	data, err := os.ReadFile(name)
	if err != nil {
		ps.add(key, "cannot read %q: %v", name, unwrapPath(err))
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		ps.add(key, "%q holds no PEM certificate", name)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func cloudNames() []string {
	names := make([]string, 0, len(Clouds))
	for n := range Clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
