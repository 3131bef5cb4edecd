package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/config"
	"github.com/graph-proxy/graph-proxy/internal/handshake"
	"github.com/graph-proxy/graph-proxy/internal/telemetry"
	"github.com/graph-proxy/graph-proxy/internal/tokenshape"
	"github.com/graph-proxy/graph-proxy/internal/vaultkey"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
	"github.com/graph-proxy/graph-proxy/proxy/upstream"
)

// loadConfig parses the flags shared by the subcommands that read the
// configuration, and loads it.
func loadConfig(fs *flag.FlagSet, args, env []string) (config.Config, error) {
	file := fs.String("config", "", "configuration file (default $GRAPH_PROXY_CONFIG)")
	keys := map[string]string{"listen": "listen", "public-base-url": "publicBaseURL", "policy": "policy.file"}
	fs.String("listen", "", "listen address (key listen)")
	fs.String("public-base-url", "", "public base URL (key publicBaseURL)")
	fs.String("policy", "", "policy file (key policy.file)")
	if err := parseFlags(fs, args); err != nil {
		return config.Config{}, err
	}
	src := config.Sources{File: *file, Env: env, Flags: map[string]string{}}
	if src.File == "" {
		src.File = lookupEnv(env, config.EnvConfigFile)
	}
	fs.Visit(func(f *flag.Flag) {
		if key, ok := keys[f.Name]; ok {
			src.Flags[key] = f.Value.String()
		}
	})
	return config.Load(src)
}

func lookupEnv(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

func serve(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(newFlags("serve", stderr), args, env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: tokenshape.ReplaceAttr}))
	pacer := tuneGC(log)
	defer pacer.Stop()

	roots, err := rootCAs(cfg.Graph.CAFile)
	if err != nil {
		return err
	}
	tel, err := telemetry.New(ctx, telemetry.Options{ServiceVersion: version(), OTLPEndpoint: cfg.Telemetry.OTLPEndpoint, Env: env})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(sctx)
	}()
	graphURL, loginURL, resource := cfg.Graph.Endpoints()
	publicBase, _ := urlParse(cfg.PublicBaseURL)

	outbound := &http.Client{Transport: proxy.NewTransport(proxy.TransportOptions{RootCAs: roots, ResponseHeaderTimeout: 30 * time.Second}), Timeout: time.Minute}
	uo := upstreamOptions(cfg, loginURL, outbound)
	cred, err := upstream.NewCredential(uo)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	tokens := upstream.NewCache(cred, resource+"/.default")
	delegated, err := newDelegated(cfg, uo, resource)
	if err != nil {
		return err
	}
	tokens.OnError = func(err error) {
		log.Error("Graph token acquisition failed; calls get 503 once the current token expires", "error", err, "fix", upstream.Fix(err, uo))
	}
	tokens.OnAcquired = func(err error) {
		result := "ok"
		if err != nil {
			result = "failed"
		}
		tel.TokenAcquisitions.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", result)))
	}

	replica := cfg.Audit.Replica
	if replica == "" {
		replica, _ = os.Hostname()
	}
	audit, err := newAudit(cfg, replica, stdout, loginURL, outbound, log)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	// However serve ends, the chain is closed and everything queued is
	// written: the last record says the log was not truncated.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := audit.Close(cctx, &auditlog.Record{Time: time.Now().UTC(), Kind: "close", ProxyVersion: version()}); err != nil {
			log.Error("closing the audit log", "error", err)
		}
	}()
	// The Key Vault source's managed identity reads the identity
	// endpoint's secret when it is built, so it is built before the scrub.
	src, err := policySource(cfg, loginURL, outbound)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	keyVault, err := newPseudonymKey(cfg, loginURL, outbound, log)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	notifyKey, err := newNotificationKey(cfg, loginURL, outbound, log)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	fileKey, err := newFileLinkKey(cfg, loginURL, outbound, log)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	// So is the shared limits' (limits.store: redis, with Entra auth).
	limits, err := newLimiting(ctx, cfg, roots, loginURL, outbound, replica, log, tel)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer limits.close()
	// Every credential is built: the identity endpoint's secret leaves the
	// environment.
	upstream.ScrubEnvironment()

	// Fail closed at start: without a policy that loads, the proxy does not
	// serve (a new revision then never takes traffic).
	store, err := policy.OpenStore(ctx, src.Source)
	if err != nil {
		var le *policy.LoadError
		if errors.As(err, &le) {
			return &exitError{code: exitUsage, err: err}
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("%w\nfix: %s", err, src.fix(err))}
	}
	pstat := &policyStatus{loadedAt: time.Now().UTC(), lastRead: time.Now().UTC()}
	store.OnReload = func(ev policy.ReloadEvent) {
		now := time.Now().UTC()
		if ev.Outcome == policy.Unreadable {
			// The policy in force is still valid, so calls go on under it
			// (and /readyz stays ready): a vault outage must not become an
			// outage of the proxy. Each failed read is logged and counted,
			// and /status says since when reads fail.
			since := pstat.failed(now, ev.Err)
			tel.PolicyReloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", ev.Outcome.String())))
			log.Error("policy source unreadable; the policy in force stays", "source", src.name, "failingSince", since,
				"digest", ev.Policy.Digest, "error", ev.Err, "fix", src.fix(ev.Err))
			return
		}
		if since := pstat.read(now, ev.Outcome == policy.Loaded); !since.IsZero() {
			log.Info("policy source readable again", "source", src.name, "failingSince", since)
		}
		if ev.Outcome == policy.Unchanged {
			return
		}
		tel.PolicyReloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", ev.Outcome.String())))
		// The record's path is where the version came from: the file, or
		// the secret version's identifier, whose last segment is its
		// version id. Its digest is the policy in force afterwards.
		rec := &auditlog.Record{Time: now, Kind: "policy", PolicyDigest: ev.Policy.Digest, ProxyVersion: version(),
			Decision: ev.Outcome.String(), Path: ev.Revision.Name}
		if ev.Outcome == policy.Rejected {
			log.Error("policy version rejected; the policy in force is unchanged", "source", ev.Revision.Name,
				"version", ev.Revision.Version, "digest", ev.Policy.Digest, "error", ev.Err)
			rec.Error = ev.Err.Error()
		} else {
			log.Info("policy in force", "source", ev.Revision.Name, "version", ev.Revision.Version, "digest", ev.Policy.Digest,
				"mode", modeName(ev.Policy))
			logPolicyWarnings(log, ev.Policy)
		}
		if err := audit.Record(rec); err != nil {
			log.Error("policy record not audited", "error", err)
		}
	}
	if err := audit.Record(&auditlog.Record{Time: time.Now().UTC(), Kind: "genesis", ProxyVersion: version(),
		PolicyDigest: store.Policy().Digest, Path: store.Revision().Name}); err != nil {
		return err
	}
	log.Info("policy in force", "source", store.Revision().Name, "version", store.Revision().Version,
		"digest", store.Policy().Digest, "mode", modeName(store.Policy()))
	logPolicyWarnings(log, store.Policy())
	pseudonyms, keyTasks, err := startPseudonymKey(ctx, keyVault, store.Policy(), log)
	if err != nil {
		return err
	}
	if src.polled && cfg.Policy.Reload {
		if err := tel.Gauge("graph_proxy.policy.source_age_seconds",
			"Seconds since the policy's Key Vault secret was last read successfully.", pstat.age); err != nil {
			return err
		}
	}
	auth, authReady, closeAuth, err := newAuthenticator(ctx, cfg, loginURL, outbound, store, log)
	if err != nil {
		return err
	}
	defer closeAuth()

	graphTransport := proxy.NewTransport(proxy.TransportOptions{RootCAs: roots, ResponseHeaderTimeout: cfg.Graph.Timeout, Compression: cfg.Graph.Compression})
	// One membership cache for the calls and the notifications they scope.
	members := &proxy.GraphMembership{Graph: graphURL, Transport: graphTransport, Tokens: tokens, TTL: memberTTL, MaxEntries: 50000, Shared: limits.members, Audit: audit,
		Background: ctx}
	// Change notifications relayed (callers[].notifications: relay).
	relay, relayTasks, closeRelay, err := startNotifications(ctx, relayDeps{cfg: cfg, key: notifyKey, store: store,
		publicBase: publicBase, loginURL: loginURL, client: outbound, tokens: tokens, audit: audit, replica: replica, log: log,
		members: members})
	if err != nil {
		return err
	}
	defer closeRelay()
	// File content (rules[].content).
	files, fileTasks, err := startFiles(ctx, cfg, roots, fileKey, log)
	if err != nil {
		return err
	}
	h, err := proxy.New(proxy.Options{
		Graph:              graphURL,
		PublicBase:         publicBase,
		Transport:          graphTransport,
		UpstreamIdle:       cfg.Graph.Timeout,
		Callers:            auth,
		Policy:             store,
		Members:            members,
		Limiter:            limits.limiter,
		Limits:             store,
		Telemetry:          tel,
		TraceCallers:       cfg.Telemetry.TraceCallers,
		Tokens:             tokens,
		Delegated:          delegated,
		PseudonymKey:       pseudonyms,
		Notifications:      relay,
		SubscriptionOwners: &proxy.SubscriptionOwners{Shared: limits.owners},
		Files:              files,
		Audit:              audit,
		MaxBodyBytes:       cfg.Limits.MaxBodyBytes,
		MaxHeaderBytes:     cfg.Limits.MaxHeaderBytes,
		Replica:            replica,
		Logger:             log,
		Ready: append([]proxy.ReadyCheck{
			{Name: "token", Check: tokens.Ready},
			{Name: "audit", Check: audit.Ready},
		}, authReady...),
	})
	if err != nil {
		return err
	}

	conns := &proxy.ConnAudit{Audit: audit, Replica: replica, Log: log}
	srv := &http.Server{
		Addr:              cfg.Listen,
		Handler:           countCalls(pacer, h),
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		// Bodies are at most limits.maxBodyBytes; a minute is generous.
		ReadTimeout: time.Minute,
		// Long enough for Graph's own timeout and a streamed answer.
		WriteTimeout: cfg.Graph.Timeout + time.Minute,
		IdleTimeout:  2 * time.Minute,
		// The handler enforces limits.maxHeaderBytes with an audited 431;
		// the server's own refusal (recorded by conns) is the backstop.
		MaxHeaderBytes: 2 * cfg.Limits.MaxHeaderBytes,
		// Otherwise the server answers "OPTIONS *" itself, 200 over HTTP/1
		// and HTTP/2 alike, and the handler never sees it: every request
		// must be answered by the proxy and leave its record.
		DisableGeneralOptionsHandler: true,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 100,
			// HPACK-decoded header lists are capped like HTTP/1 headers.
			MaxDecoderHeaderTableSize: 4096,
			MaxEncoderHeaderTableSize: 4096,
			// Protocol errors never become requests, so they have no audit
			// record; the security team sees them as a metric.
			CountError: tel.CountHTTP2Error,
		},
		ConnContext: conns.ConnContext,
		ConnState:   conns.ConnState,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("tls: %w", err)}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if auth.MTLS != nil {
			// Verified by the handshake when given; a request without one
			// may still bring a token.
			srv.TLSConfig.ClientCAs = auth.MTLS.Roots
			srv.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln = conns.Listener(ln)
	if srv.TLSConfig != nil {
		// What ServeTLS would offer, set here because the server is
		// given a listener that is TLS already (Serve, not ServeTLS):
		// the handshake runs apart from the connection's goroutine.
		srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		ln = handshake.Listener(ln, srv.TLSConfig)
	}
	if err := auditMetrics(tel, audit); err != nil {
		return err
	}
	mw, err := mediationWatch(cfg, graphURL, graphTransport, tokens, store, audit, tel, log)
	if err != nil {
		return err
	}
	servers := []*served{{srv: srv, ln: ln}}
	if cfg.Admin.Listen != "" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		status := func() any {
			tokErr := ""
			if err := tokens.Ready(); err != nil {
				tokErr = err.Error()
			}
			p := store.Policy()
			st := map[string]any{
				"version": version(),
				"replica": replica,
				"policy":  pstat.status(p, store.Revision()),
				"token":   map[string]any{"expiresOn": tokens.ExpiresOn(), "ready": tokErr == "", "error": tokErr},
				"audit":   audit.Stats(),
				"limits":  limits.status(),
			}
			if mw != nil {
				st["mediation"] = mw.Status()
			}
			return st
		}
		servers = append(servers, &served{srv: adminServer(tel, status, cfg.Admin.Pprof, log), ln: aln})
	}
	background := append(append(append([]func(context.Context){tokens.Run}, keyTasks...), relayTasks...), fileTasks...)
	background = append(background, limits.background...)
	if mw != nil {
		background = append(background, mw.Run)
	}
	if cfg.Policy.Reload {
		background = append(background, func(ctx context.Context) {
			if err := store.Watch(ctx, hangups(ctx)); err != nil {
				log.Error("policy watch stopped: new versions are no longer applied", "source", src.name, "error", err)
			}
		})
	}
	return runServers(ctx, servers, cfg.ShutdownTimeout, log, background...)
}

// upstreamOptions are the token settings of the configuration.
func upstreamOptions(cfg config.Config, loginURL *url.URL, client *http.Client) upstream.Options {
	u := cfg.Upstream
	return upstream.Options{
		Mode:                                 u.Mode,
		TenantID:                             u.TenantID,
		ClientID:                             u.ClientID,
		ManagedIdentityClientID:              u.ManagedIdentityClientID,
		LoginURL:                             loginURL,
		CustomLogin:                          cfg.Graph.LoginURL != "",
		HTTPClient:                           client,
		KeyVaultURL:                          u.KeyVault.URL,
		SecretName:                           u.KeyVault.SecretName,
		SendX5C:                              u.KeyVault.SendX5C,
		DisableChallengeResourceVerification: u.KeyVault.DisableChallengeResourceVerification,
	}
}

// newAuthenticator builds inbound authentication from the configuration:
// Entra ID tokens and/or client certificates, callers named by the policy
// in force.
func newAuthenticator(ctx context.Context, cfg config.Config, loginURL *url.URL, client *http.Client, dir callers.Directory, log *slog.Logger) (*callers.Chain, []proxy.ReadyCheck, func(), error) {
	chain := &callers.Chain{}
	var ready []proxy.ReadyCheck
	closeFn := func() {}
	for _, cidr := range cfg.Inbound.TrustedProxies {
		chain.TrustedProxies = append(chain.TrustedProxies, netip.MustParsePrefix(cidr)) // validated at load
	}
	if e := cfg.Inbound.Entra; len(e.Tenants) > 0 {
		audiences := []string{e.Audience}
		if e.ClientID != "" {
			audiences = append(audiences, e.ClientID)
		}
		entra, err := callers.NewEntra(ctx, callers.EntraOptions{
			Tenants:        inboundTenants(cfg),
			UserTenants:    userTenants(cfg),
			UserScope:      e.UserScope,
			Audiences:      audiences,
			LoginURL:       loginURL.String(),
			STSURL:         config.Clouds[cfg.Graph.Cloud].STSURL,
			AllowDelegated: e.AllowDelegated,
			HTTPClient:     client,
			Logger:         log,
		}, dir)
		if err != nil {
			return nil, nil, nil, &exitError{code: exitUsage, err: err}
		}
		chain.Entra = entra
		closeFn = entra.Close
		ready = append(ready, proxy.ReadyCheck{Name: "inboundKeys", Check: entra.Ready})
	}
	if m := cfg.Inbound.MTLS; m.TrustedCAs != "" {
		data, err := os.ReadFile(m.TrustedCAs)
		if err != nil {
			return nil, nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("inbound.mtls.trustedCAs: %w", err)}
		}
		roots, err := rootCAsFromPEM(data)
		if err != nil {
			return nil, nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("inbound.mtls.trustedCAs: %w", err)}
		}
		// The forwarded certificate is believed from the same peers as
		// X-Forwarded-For: the ingress (validation requires the list when
		// clientCertHeader is set).
		chain.MTLS = &callers.MTLS{Roots: roots, Header: m.ClientCertHeader, Dir: dir, TrustedProxies: chain.TrustedProxies}
	}
	return chain, ready, closeFn, nil
}

// newAudit opens the configured sinks and starts the pipeline. The file
// sink's chain continues from the last record already in its file.
func newAudit(cfg config.Config, replica string, stdout io.Writer, loginURL *url.URL, client *http.Client, log *slog.Logger) (*auditlog.Log, error) {
	var sinks []auditlog.Sink
	var seq uint64
	var prev string
	for _, name := range cfg.Audit.Sinks {
		switch name {
		case "stdout":
			sinks = append(sinks, &auditlog.WriterSink{SinkName: "stdout", W: stdout})
		case "file":
			f := cfg.Audit.File
			last, hash, ok, err := auditlog.LastRecord(f.Path)
			if err != nil {
				return nil, fmt.Errorf("audit.file.path: %w", err)
			}
			if ok {
				seq, prev = last, hash
			}
			fs, err := auditlog.OpenFile(f.Path, int64(f.MaxSizeMB)<<20, f.MaxFiles, time.Second)
			if err != nil {
				return nil, fmt.Errorf("audit.file.path: %w", err)
			}
			sinks = append(sinks, fs)
		case "azureMonitor":
			m := cfg.Audit.AzureMonitor
			// The identity holds Monitoring Metrics Publisher on the rule,
			// whatever credential it uses for Graph.
			cred, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
				ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
			if err != nil {
				return nil, fmt.Errorf("audit.azureMonitor: %w", err)
			}
			mc, err := azlogs.NewClient(m.Endpoint, cred, &azlogs.ClientOptions{ClientOptions: azcore.ClientOptions{
				Cloud:     monitorCloud(cfg.Graph.Cloud),
				Transport: client,
				Retry:     policyRetry(),
			}})
			if err != nil {
				return nil, fmt.Errorf("audit.azureMonitor: %w", err)
			}
			sinks = append(sinks, &auditlog.MonitorSink{Client: mc, RuleID: m.RuleID, Stream: m.Stream})
		}
	}
	linger := cfg.Audit.Linger
	if linger == 0 {
		linger = -1 // auditlog's "each batch at once"
	}
	checkpoint, err := checkpointOptions(cfg, loginURL, client)
	if err != nil {
		return nil, err
	}
	l, err := auditlog.New(auditlog.Options{Replica: replica, Sinks: sinks, Logger: log, RetryBudget: cfg.Audit.RetryBudget, Linger: linger,
		Checkpoint: checkpoint})
	if err != nil {
		return nil, err
	}
	if prev != "" {
		l.Continue(seq, prev)
	}
	return l, nil
}

// checkpointOptions sign the chain head with the Key Vault key of
// audit.checkpoint.keyID, with the managed identity, if one is set.
func checkpointOptions(cfg config.Config, loginURL *url.URL, client *http.Client) (auditlog.CheckpointOptions, error) {
	cp := cfg.Audit.Checkpoint
	if cp.KeyID == "" {
		return auditlog.CheckpointOptions{}, nil
	}
	mi, err := upstream.NewCredential(upstream.Options{Mode: config.ModeManagedIdentity,
		ManagedIdentityClientID: cfg.Upstream.ManagedIdentityClientID, LoginURL: loginURL, HTTPClient: client})
	if err != nil {
		return auditlog.CheckpointOptions{}, fmt.Errorf("audit.checkpoint: %w", err)
	}
	signer, err := vaultkey.NewSigner(cp.KeyID, vaultkey.Options{Credential: mi, Transport: client,
		DisableChallengeResourceVerification: cp.DisableChallengeResourceVerification})
	if err != nil {
		return auditlog.CheckpointOptions{}, fmt.Errorf("audit.checkpoint.keyID: %w", err)
	}
	return auditlog.CheckpointOptions{Signer: signer, Every: cp.Every, Interval: cp.Interval}, nil
}

// monitorCloud is the Azure cloud whose Logs Ingestion audience applies.
func monitorCloud(name string) cloud.Configuration {
	switch name {
	case "usgov", "usgovdod":
		return cloud.AzureGovernment
	case "china":
		return cloud.AzureChina
	}
	return cloud.AzurePublic
}

// policyRetry retries throttled and failed uploads a few times inside the
// Azure SDK; the audit pipeline retries on top within its budget.
func policyRetry() azpolicy.RetryOptions {
	return azpolicy.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 8 * time.Second}
}

// rootCAs returns the system roots plus those in caFile.
func rootCAs(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("graph.caFile: %w", err)
	}
	pool.AppendCertsFromPEM(pem)
	return pool, nil
}

func urlParse(s string) (*url.URL, error) { return url.Parse(strings.TrimSuffix(s, "/")) }

func rootCAsFromPEM(pem []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

func tlsConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
