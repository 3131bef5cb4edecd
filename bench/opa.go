package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"go.yaml.in/yaml/v3"
)

// The OPA peer: the proxy a customer would build instead of graph-proxy —
// a reverse proxy (the bare proxy's own forwarding) whose every call is
// authorised by a Rego policy evaluated in process by OPA's Go SDK, with
// one JSON access-log line per call.
//
// The vendor's token is verified inside Rego (io.jwt.decode_verify), with
// the issuer's JWKS as data, not in Go with golang-jwt before the query:
// that is how OPA's own documentation and its Envoy integration verify a
// bearer token, and it keeps who-may-call and what-they-may-do in the one
// policy a customer would review. OPA's io_jwt cache is switched on (it is
// off by default; an operator sets caching.inter_query_builtin_value_cache
// .named.io_jwt), so a token seen before is not verified again — as
// graph-proxy caches a validated token — while its expiry, audience and
// issuer are still checked on every call.
//
// What it does not do that graph-proxy does, on purpose: no rate limits,
// no upstream token (the caller's Authorization is dropped, not replaced),
// no link rewriting, no hash chain or fsync in its log, and bodies parsed
// with encoding/json (a duplicate key is not refused: the last one wins).

//go:embed opa/policy.rego
var regoPolicy string

// regoQuery is the decision the peer acts on.
const regoQuery = "data.graphproxy.decision"

// peerConfig is what the OPA peer is built from.
type peerConfig struct {
	// Upstream and CAFile: where calls go, and the CA of its certificate.
	Upstream, CAFile string
	// Policy is graph-proxy's policy file (YAML), the same the bench
	// gives graph-proxy: its callers and rules become data.graph.
	Policy []byte
	// JWKS is the vendor tenant's key set as Entra ID publishes it.
	JWKS []byte
	// LoginURL and STSURL are the v2 and v1 issuers' hosts; Tenant the
	// vendor's tenant; Audience the proxy's app id URI.
	LoginURL, STSURL, Tenant, Audience string
	// AccessLog receives one JSON line per call.
	AccessLog io.Writer
	// MaxBodyBytes caps request bodies; 4 MiB as graph-proxy's default.
	MaxBodyBytes int64
}

// peer is the OPA peer's handler.
type peer struct {
	query   rego.PreparedEvalQuery
	values  cache.InterQueryValueCache // OPA's io_jwt and io_jwt_keys caches
	forward *httputil.ReverseProxy
	log     *slog.Logger
	maxBody int64
}

func newPeer(ctx context.Context, c peerConfig) (*peer, error) {
	rules, err := regoData(c.Policy)
	if err != nil {
		return nil, err
	}
	tenant := strings.ToLower(c.Tenant)
	data := map[string]any{
		"graph": rules,
		"entra": map[string]any{
			"jwks":     string(c.JWKS),
			"audience": c.Audience,
			"issuers": map[string]any{
				strings.TrimSuffix(c.LoginURL, "/") + "/" + tenant + "/v2.0": tenant,
				strings.TrimSuffix(c.STSURL, "/") + "/" + tenant + "/":       tenant,
			},
		},
	}
	caching, err := cache.ParseCachingConfig([]byte(`{"inter_query_builtin_value_cache": {"named": {"io_jwt": {"max_num_entries": 10000}}}}`))
	if err != nil {
		return nil, err
	}
	// A prepared query takes the cache with each evaluation, not from
	// rego.New.
	values := cache.NewInterQueryValueCache(ctx, caching)
	q, err := rego.New(
		rego.Query(regoQuery),
		rego.Module("policy.rego", regoPolicy),
		// Held as AST values: read as Go values, the 200 rules would be
		// converted again on every call (a third of the time).
		rego.Store(inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(true), inmem.OptReturnASTValuesOnRead(true))),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("rego: %w", err)
	}
	fwd, err := newBareProxy(c.Upstream, c.CAFile)
	if err != nil {
		return nil, err
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	return &peer{query: q, values: values, forward: fwd, maxBody: c.MaxBodyBytes,
		log: slog.New(slog.NewJSONHandler(c.AccessLog, nil))}, nil
}

// decision is what the policy says of one call.
type decision struct {
	Allow  bool
	Status int
	Reason string
	Rule   string
	Caller string
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := uuid.NewString()
	input, err := p.input(w, r)
	var d decision
	if err == nil {
		d, err = p.decide(r.Context(), input)
	}
	decided := time.Since(start)
	status := d.Status
	switch {
	case err != nil:
		// Fail closed: a call whose body or decision could not be had is
		// refused.
		status = http.StatusInternalServerError
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		d.Reason = err.Error()
		refuse(w, status, id)
	case !d.Allow:
		refuse(w, status, id)
	default:
		r.Header.Del("Authorization")
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p.forward.ServeHTTP(sw, r)
		status = sw.status
	}
	verdict := "deny"
	if err == nil && d.Allow {
		verdict = "allow"
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "call",
		slog.String("requestId", id), slog.String("caller", d.Caller), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.String("decision", verdict), slog.String("reason", d.Reason),
		slog.String("rule", d.Rule), slog.Int("status", status),
		slog.Float64("decideMs", float64(decided.Microseconds())/1000),
		slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000))
}

// input is the query's input: the request as the policy reads it. A body
// is read whole (bounded) and put back for forwarding.
func (p *peer) input(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	in := map[string]any{
		"method":        r.Method,
		"path":          r.URL.Path,
		"authorization": r.Header.Get("Authorization"),
		"content_type":  r.Header.Get("Content-Type"),
		"has_body":      false,
		"body_error":    false,
		"query_error":   false,
	}
	var names []any
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			in["query_error"] = true
		}
		for k := range q {
			names = append(names, strings.ToLower(k))
		}
	}
	in["query"] = names
	if r.Body == nil || r.Body == http.NoBody {
		return in, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if len(body) == 0 {
		return in, nil
	}
	in["has_body"] = true
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		in["body_error"] = true
	} else {
		in["body"] = doc
	}
	return in, nil
}

func (p *peer) decide(ctx context.Context, input map[string]any) (decision, error) {
	rs, err := p.query.Eval(ctx, rego.EvalInput(input), rego.EvalInterQueryBuiltinValueCache(p.values))
	if err != nil {
		return decision{}, fmt.Errorf("policy evaluation: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return decision{}, errors.New("policy evaluation: no decision")
	}
	v, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return decision{}, errors.New("policy evaluation: the decision is not an object")
	}
	d := decision{}
	d.Allow, _ = v["allow"].(bool)
	d.Reason, _ = v["reason"].(string)
	d.Rule, _ = v["rule"].(string)
	d.Caller, _ = v["caller"].(string)
	if n, ok := v["status"].(json.Number); ok {
		s, _ := n.Int64()
		d.Status = int(s)
	}
	if !d.Allow && (d.Status < 400 || d.Status > 499) {
		d.Status = http.StatusForbidden
	}
	return d, nil
}

// refuse answers with a Graph-shaped error that says no more than the
// status: the reason is for the access log.
func refuse(w http.ResponseWriter, status int, id string) {
	code := map[int]string{400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Forbidden", 413: "RequestEntityTooLarge",
		415: "UnsupportedMediaType"}[status]
	if code == "" {
		code = "InternalServerError"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q,"innerError":{"request-id":%q}}}`, code, http.StatusText(status), id)
}

// statusWriter notes the status the upstream's answer was relayed with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets ReverseProxy's http.ResponseController reach the flusher.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// peerPolicy is the part of graph-proxy's policy file the bench writes,
// decoded strictly: a key the conversion does not know would be a check
// the peer silently skips.
type peerPolicy struct {
	Version int    `yaml:"version"`
	Mode    string `yaml:"mode"`
	Callers []struct {
		Name  string `yaml:"name"`
		Match struct {
			TenantID string `yaml:"tenantID"`
			AppID    string `yaml:"appID"`
		} `yaml:"match"`
		Permissions []string  `yaml:"permissions"`
		RateLimit   yaml.Node `yaml:"rateLimit"` // not enforced by the peer
	} `yaml:"callers"`
	Rules []struct {
		ID            string    `yaml:"id"`
		Method        yaml.Node `yaml:"method"`
		Path          string    `yaml:"path"`
		Versions      []string  `yaml:"versions"`
		Query         []string  `yaml:"query"`
		Permission    string    `yaml:"permission"`
		PeopleDomains []string  `yaml:"peopleDomains"`
	} `yaml:"rules"`
}

// regoData turns graph-proxy's policy file into data.graph: callers and
// rules as the YAML has them, with each rule's path split into lower-case
// segments once, as graph-proxy compiles it once.
func regoData(file []byte) (map[string]any, error) {
	var f peerPolicy
	dec := yaml.NewDecoder(bytes.NewReader(file))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("policy for the OPA peer: %w", err)
	}
	if f.Mode != "enforce" {
		return nil, fmt.Errorf("policy for the OPA peer: mode %q; the peer only enforces", f.Mode)
	}
	var callers, rules []any
	for _, c := range f.Callers {
		callers = append(callers, map[string]any{"name": c.Name, "tenantID": strings.ToLower(c.Match.TenantID),
			"appID": strings.ToLower(c.Match.AppID), "permissions": anys(c.Permissions, same)})
	}
	for _, r := range f.Rules {
		var methods []string
		switch r.Method.Kind {
		case yaml.ScalarNode:
			methods = []string{r.Method.Value}
		case yaml.SequenceNode:
			if err := r.Method.Decode(&methods); err != nil {
				return nil, fmt.Errorf("rule %q: %w", r.ID, err)
			}
		}
		if len(methods) == 0 || r.Path == "" || path.Clean(r.Path) != r.Path || !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("rule %q: needs a method and a clean path", r.ID)
		}
		versions := r.Versions
		if len(versions) == 0 {
			versions = []string{"v1.0"} // graph-proxy's default
		}
		var segs []any
		for _, s := range strings.Split(r.Path[1:], "/") {
			if !strings.HasPrefix(s, "{") {
				s = strings.ToLower(s)
			}
			segs = append(segs, s)
		}
		rules = append(rules, map[string]any{"id": r.ID, "methods": anys(methods, strings.ToUpper), "versions": anys(versions, same),
			"path": r.Path, "segments": segs, "query": anys(r.Query, strings.ToLower), "permission": r.Permission,
			"peopleDomains": anys(r.PeopleDomains, strings.ToLower)})
	}
	// by_method: the rules of each method, in file order — an index, so
	// that a call is matched against its method's rules only.
	byMethod := map[string]any{}
	for _, r := range rules {
		for _, m := range r.(map[string]any)["methods"].([]any) {
			l, _ := byMethod[m.(string)].([]any)
			byMethod[m.(string)] = append(l, r)
		}
	}
	return map[string]any{"callers": callers, "rules": rules, "by_method": byMethod}, nil
}

// anys is ss for the store, which takes JSON-like values, each passed
// through fold.
func anys(ss []string, fold func(string) string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, fold(s))
	}
	return out
}

func same(s string) string { return s }

// opaPeer is the subcommand: the peer serving over TLS.
func opaPeer(args []string) error {
	fs := flag.NewFlagSet("opa", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	cert := fs.String("cert", "", "certificate PEM")
	key := fs.String("key", "", "key PEM")
	c := peerConfig{}
	fs.StringVar(&c.Upstream, "upstream", "", "upstream base URL")
	fs.StringVar(&c.CAFile, "ca", "", "CA of the upstream")
	policyFile := fs.String("policy", "", "graph-proxy's policy file (YAML)")
	jwksFile := fs.String("jwks", "", "the vendor tenant's JWKS")
	fs.StringVar(&c.LoginURL, "login", "", "Entra ID's login URL (v2 issuer host)")
	fs.StringVar(&c.STSURL, "sts", "https://sts.windows.net", "v1 issuer host")
	fs.StringVar(&c.Tenant, "tenant", "", "the vendor's tenant id")
	fs.StringVar(&c.Audience, "audience", "", "the proxy's app id URI")
	accessLog := fs.String("access-log", "", "file of the access log (one JSON line per call)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof here")
	fs.Parse(args)
	if *pprofAddr != "" {
		go http.ListenAndServe(*pprofAddr, nil) // the default mux, where net/http/pprof registers
	}
	var err error
	if c.Policy, err = os.ReadFile(*policyFile); err != nil {
		return err
	}
	if c.JWKS, err = os.ReadFile(*jwksFile); err != nil {
		return err
	}
	f, err := os.OpenFile(*accessLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	c.AccessLog = f
	p, err := newPeer(context.Background(), c)
	if err != nil {
		return err
	}
	return serveTLS(*listen, *cert, *key, p)
}

// startOPA starts the OPA peer as configuration name: graph-proxy's bench
// policy, and the vendor tenant's JWKS fetched once from the simulated
// Entra ID, as graph-proxy fetches it.
func (h *harness) startOPA(name string, simEnv []byte, cert, key, upstream string) error {
	dir := filepath.Join(h.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	login, tenant := envValue(simEnv, "SIM_ENTRA_URL"), envValue(simEnv, "SIM_VENDOR_TENANT")
	simCA, err := os.ReadFile(filepath.Join(h.dir, "sim", "ca.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(simCA)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(login + "/" + tenant + "/discovery/v2.0/keys")
	if err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	jwks, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("JWKS: %d %v", resp.StatusCode, err)
	}
	files := map[string][]byte{"jwks.json": jwks, "policy.yaml": []byte(benchPolicy(200))}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return err
		}
	}
	args := []string{"-cert", cert, "-key", key, "-upstream", upstream, "-ca", h.ca,
		"-policy", filepath.Join(dir, "policy.yaml"), "-jwks", filepath.Join(dir, "jwks.json"),
		"-login", login, "-tenant", tenant, "-audience", envValue(simEnv, "SIM_PROXY_AUDIENCE"),
		"-access-log", filepath.Join(dir, "access.jsonl")}
	if args, err = h.withPprof(name, args); err != nil {
		return err
	}
	h.procs[name], h.addrs[name], err = h.startServer(h.o.proxyCPU, "opa", args...)
	return err
}
