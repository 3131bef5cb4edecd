package callers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Directory names the caller a credential belongs to. The policy in force
// implements it, so that a reload changes who is known at once.
type Directory interface {
	// CallerForApp returns the name of the caller matching an Entra ID
	// application in a tenant.
	CallerForApp(tenantID, appID string) (string, bool)
	// CallerForCert returns the name of the caller matching a client
	// certificate's SHA-256 (or SHA-1) thumbprint, lower-case hex.
	CallerForCert(sha256Hex, sha1Hex string) (string, bool)
}

// EntraOptions configure Entra ID token validation.
type EntraOptions struct {
	// Tenants are the tenant ids whose tokens are accepted.
	Tenants []string
	// Audiences are the accepted aud values: the app id URI (v1 tokens)
	// and the client id (v2 tokens).
	Audiences []string
	// LoginURL is the Entra ID authority host, e.g.
	// https://login.microsoftonline.com.
	LoginURL string
	// STSURL is the issuer host of v1 tokens, e.g. https://sts.windows.net.
	STSURL string
	// AllowDelegated accepts tokens issued to a signed-in user; by
	// default only app-only tokens are accepted.
	AllowDelegated bool
	// HTTPClient fetches discovery documents and keys.
	HTTPClient *http.Client
	// KeyRefresh is how often keys are fetched again in the background.
	// Default 1h.
	KeyRefresh time.Duration
	// UnknownKeyRefresh is the least time between fetches caused by a
	// token signed with a key id not yet known (key rotation). Default 1m.
	UnknownKeyRefresh time.Duration
	// CacheSize bounds the validated-token cache. Default 10000.
	CacheSize int
	// Logger receives key refresh failures; nil discards them.
	Logger *slog.Logger
}

// Entra validates Entra ID access tokens. It is safe for concurrent use.
type Entra struct {
	o         EntraOptions
	dir       Directory
	issuers   map[string]string // issuer → tenant
	keys      keyfunc.Keyfunc
	storages  []jwkset.Storage
	parser    *jwt.Parser
	cacheMu   sync.Mutex
	cache     map[[32]byte]tokenInfo
	now       func() time.Time
	stopFetch context.CancelFunc
}

// tokenInfo is what a validated token established.
type tokenInfo struct {
	tenantID, appID string
	roles           []string
	exp             time.Time
}

// NewEntra discovers the tenants' signing keys and returns a validator.
// Keys are refreshed in the background until Close. A tenant whose OpenID
// discovery fails at start uses Entra ID's conventional key location, and
// its tokens are refused until its keys can be fetched: authentication
// fails closed.
func NewEntra(ctx context.Context, o EntraOptions, dir Directory) (*Entra, error) {
	if len(o.Tenants) == 0 || len(o.Audiences) == 0 {
		return nil, errors.New("callers: Entra ID validation needs tenants and an audience")
	}
	if o.KeyRefresh == 0 {
		o.KeyRefresh = time.Hour
	}
	if o.UnknownKeyRefresh == 0 {
		o.UnknownKeyRefresh = time.Minute
	}
	if o.CacheSize == 0 {
		o.CacheSize = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	login := strings.TrimSuffix(o.LoginURL, "/")
	e := &Entra{o: o, dir: dir, issuers: map[string]string{}, cache: map[[32]byte]tokenInfo{}, now: time.Now}
	fetchCtx, cancel := context.WithCancel(context.Background())
	e.stopFetch = cancel
	urls := map[string]jwkset.Storage{}
	for _, t := range o.Tenants {
		t = strings.ToLower(t)
		e.issuers[login+"/"+t+"/v2.0"] = t
		e.issuers[strings.TrimSuffix(o.STSURL, "/")+"/"+t+"/"] = t
		jwksURI, err := discoverKeys(ctx, o.HTTPClient, login, t)
		if err != nil {
			o.Logger.Warn("OpenID discovery failed; using the conventional key location", "tenant", t, "error", err)
			jwksURI = login + "/" + t + "/discovery/v2.0/keys"
		}
		store, err := jwkset.NewStorageFromHTTP(jwksURI, jwkset.HTTPClientStorageOptions{
			Client:                    o.HTTPClient,
			Ctx:                       fetchCtx,
			HTTPTimeout:               10 * time.Second,
			NoErrorReturnFirstHTTPReq: true,
			RefreshInterval:           o.KeyRefresh,
			RefreshErrorHandler: func(_ context.Context, err error) {
				o.Logger.Warn("Entra ID key refresh failed", "tenant", t, "error", err)
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("callers: keys of tenant %s: %w", t, err)
		}
		urls[jwksURI] = store
		e.storages = append(e.storages, store)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: urls,
		// A token with an unknown kid triggers at most one fetch per
		// interval, and a request waits briefly for it, never long: a
		// burst of forged kids must not hammer Entra ID or stall callers.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.UnknownKeyRefresh), 1),
		RateLimitWaitMax:  2 * time.Second,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("callers: %w", err)
	}
	e.keys, err = keyfunc.New(keyfunc.Options{Storage: client, Ctx: fetchCtx})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("callers: %w", err)
	}
	e.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(2*time.Minute),
		jwt.WithIssuedAt(),
	)
	return e, nil
}

// Close stops the background key refresh.
func (e *Entra) Close() { e.stopFetch() }

// Ready reports nil once signing keys are held for every tenant.
func (e *Entra) Ready() error {
	for i, s := range e.storages {
		keys, err := s.KeyReadAll(context.Background())
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("no Entra ID signing keys for tenant %s yet", e.o.Tenants[i])
		}
	}
	return nil
}

func discoverKeys(ctx context.Context, client *http.Client, login, tenant string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, login+"/"+tenant+"/v2.0/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OpenID discovery answered %d", resp.StatusCode)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&doc); err != nil || doc.JWKSURI == "" {
		return "", fmt.Errorf("OpenID discovery document without jwks_uri: %v", err)
	}
	return doc.JWKSURI, nil
}

// entraClaims are the claims read from an access token.
type entraClaims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"` // v1
	AZP      string   `json:"azp"`   // v2
	IDType   string   `json:"idtyp"`
	OID      string   `json:"oid"`
	Scope    string   `json:"scp"`
	Roles    []string `json:"roles"`
}

// Rejection wraps ErrUnauthenticated or ErrUnknownCaller with the detail
// of why; callers get neither, only a stable code.
type Rejection struct {
	Err    error
	Detail string
}

func (r *Rejection) Error() string { return r.Err.Error() + ": " + r.Detail }
func (r *Rejection) Unwrap() error { return r.Err }

func reject(err error, format string, args ...any) error {
	return &Rejection{Err: err, Detail: fmt.Sprintf(format, args...)}
}

// validate checks a bearer token, from the cache when it has been seen.
func (e *Entra) validate(raw string) (tokenInfo, error) {
	key := hashString(raw)
	now := e.now()
	e.cacheMu.Lock()
	info, ok := e.cache[key]
	e.cacheMu.Unlock()
	if ok && now.Before(info.exp) {
		return info, nil
	}
	info, err := e.verify(raw)
	if err != nil {
		return tokenInfo{}, err
	}
	e.remember(key, info, now)
	return info, nil
}

// verify checks a token's signature and claims, without the cache.
func (e *Entra) verify(raw string) (tokenInfo, error) {
	var c entraClaims
	tok, err := e.parser.ParseWithClaims(raw, &c, e.keys.Keyfunc)
	if err != nil || !tok.Valid {
		return tokenInfo{}, reject(ErrUnauthenticated, "invalid token: %v", err)
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(e.o.Audiences, a) }) {
		return tokenInfo{}, reject(ErrUnauthenticated, "audience %v is not %v", c.Audience, e.o.Audiences)
	}
	tenant, ok := e.issuers[c.Issuer]
	if !ok || !strings.EqualFold(c.TenantID, tenant) {
		return tokenInfo{}, reject(ErrUnauthenticated, "issuer %q (tenant %q) is not an accepted tenant", c.Issuer, c.TenantID)
	}
	app := c.AZP
	if app == "" {
		app = c.AppID
	}
	if app == "" {
		return tokenInfo{}, reject(ErrUnauthenticated, "token names no application (azp or appid)")
	}
	appOnly := c.IDType == "app" || (c.Scope == "" && c.OID != "" && c.OID == c.Subject)
	if !appOnly && !e.o.AllowDelegated {
		return tokenInfo{}, reject(ErrUnauthenticated, "delegated (user) token; only app-only tokens are accepted")
	}
	return tokenInfo{tenantID: tenant, appID: strings.ToLower(app), roles: c.Roles, exp: c.ExpiresAt.Time}, nil
}

// remember caches a validated token until it expires.
func (e *Entra) remember(key [32]byte, info tokenInfo, now time.Time) {
	e.cacheMu.Lock()
	if len(e.cache) >= e.o.CacheSize {
		// Bounded: drop the expired entries, then arbitrary ones (map
		// order is random) down to nine tenths.
		for k, v := range e.cache {
			if !now.Before(v.exp) {
				delete(e.cache, k)
			}
		}
		for k := range e.cache {
			if len(e.cache) < e.o.CacheSize*9/10 {
				break
			}
			delete(e.cache, k)
		}
	}
	e.cache[key] = info
	e.cacheMu.Unlock()
}

// Authenticate validates the request's bearer token and names its caller.
func (e *Entra) Authenticate(r *http.Request) (Caller, error) {
	raw, ok := bearer(r)
	if !ok {
		return Caller{}, reject(ErrUnauthenticated, "no bearer token")
	}
	info, err := e.validate(raw)
	if err != nil {
		return Caller{}, err
	}
	c := Caller{TenantID: info.tenantID, AppID: info.appID, Roles: info.roles, Auth: "entra-jwt"}
	name, ok := e.dir.CallerForApp(info.tenantID, info.appID)
	if !ok {
		return c, reject(ErrUnknownCaller, "application %s of tenant %s is not a caller in the policy", info.appID, info.tenantID)
	}
	c.Name = name
	return c, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// hashString is sha256.Sum256 of s without copying s into a []byte first
// (a token is over a kilobyte, and this runs on every call). The digest and
// its copy buffer are pooled together: a buffer on the stack would escape
// through the hash.Hash interface, an allocation per call.
func hashString(s string) [sha256.Size]byte {
	d := digests.Get().(*digest)
	defer digests.Put(d)
	d.h.Reset()
	for len(s) > 0 {
		n := copy(d.buf[:], s)
		d.h.Write(d.buf[:n])
		s = s[n:]
	}
	d.h.Sum(d.sum[:0])
	return d.sum
}

type digest struct {
	h   hash.Hash
	buf [256]byte
	sum [sha256.Size]byte
}

var digests = sync.Pool{New: func() any { return &digest{h: sha256.New()} }}
