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
	// UserTenants, when set, are the only tenants whose user tokens are
	// accepted (the customer's: the tenant the on-behalf-of exchange runs
	// in). Each must also be one of Tenants.
	UserTenants []string
	// UserScope, when set, is the delegated scope the proxy's API exposes
	// (e.g. access_as_user): a user token must carry it in scp.
	UserScope string
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
	// Now is the clock tokens' exp, nbf and iat are checked against, in
	// verification and in the validated-token cache alike; nil uses
	// time.Now.
	Now func() time.Time
}

// ClockSkew is how far the proxy's clock and Entra ID's may disagree: a
// token is accepted until ClockSkew after its exp, and from ClockSkew
// before its nbf and iat (docs/configuration.md states it).
const ClockSkew = 2 * time.Minute

// Entra validates Entra ID access tokens. It is safe for concurrent use.
type Entra struct {
	o         EntraOptions
	dir       Directory
	issuers   map[string]string // issuer → tenant
	tenants   []*tenantKeys     // in the order of o.Tenants, duplicates dropped
	keys      map[string]*tenantKeys
	parser    *jwt.Parser
	cacheMu   sync.Mutex
	cache     map[[32]byte]tokenInfo
	now       func() time.Time
	stopFetch context.CancelFunc
}

// tenantKeys are the signing keys one tenant's OpenID metadata publishes.
// Each tenant has its own, so that a key of one accepted tenant never
// verifies a token claiming another.
type tenantKeys struct {
	tenant  string
	storage jwkset.Storage
	keyfunc keyfunc.Keyfunc
}

// tokenInfo is what a validated token established.
type tokenInfo struct {
	tenantID, appID string
	roles           []string
	// actor is the signed-in user of a delegated token, without the
	// token; nil for an app-only token.
	actor *Actor
	// until is when the token stops being accepted: its exp plus
	// ClockSkew, as verification decides, so that the cache and a fresh
	// verification never disagree about a token.
	until time.Time
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
	if o.Now == nil {
		o.Now = time.Now
	}
	login := strings.TrimSuffix(o.LoginURL, "/")
	e := &Entra{o: o, dir: dir, issuers: map[string]string{}, keys: map[string]*tenantKeys{},
		cache: map[[32]byte]tokenInfo{}, now: o.Now}
	fetchCtx, cancel := context.WithCancel(context.Background())
	e.stopFetch = cancel
	for _, t := range o.Tenants {
		t = strings.ToLower(t)
		if e.keys[t] != nil {
			continue
		}
		e.issuers[login+"/"+t+"/v2.0"] = t
		e.issuers[strings.TrimSuffix(o.STSURL, "/")+"/"+t+"/"] = t
		k, err := newTenantKeys(ctx, fetchCtx, o, login, t)
		if err != nil {
			cancel()
			return nil, err
		}
		e.keys[t] = k
		e.tenants = append(e.tenants, k)
	}
	e.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(e.now),
	)
	return e, nil
}

// newTenantKeys discovers a tenant's key location and starts fetching its
// keys in the background (until fetchCtx ends).
func newTenantKeys(ctx, fetchCtx context.Context, o EntraOptions, login, t string) (*tenantKeys, error) {
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
		return nil, fmt.Errorf("callers: keys of tenant %s: %w", t, err)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{jwksURI: store},
		// A token with an unknown kid triggers at most one fetch per
		// interval, and a request waits briefly for it, never long: a
		// burst of forged kids must not hammer Entra ID or stall callers.
		// The limiter is the tenant's own, so forged kids claiming one
		// tenant cannot delay another tenant's key rotation.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.UnknownKeyRefresh), 1),
		RateLimitWaitMax:  2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("callers: keys of tenant %s: %w", t, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: client, Ctx: fetchCtx})
	if err != nil {
		return nil, fmt.Errorf("callers: keys of tenant %s: %w", t, err)
	}
	return &tenantKeys{tenant: t, storage: store, keyfunc: kf}, nil
}

// Close stops the background key refresh.
func (e *Entra) Close() { e.stopFetch() }

// Ready reports nil once signing keys are held for every tenant.
func (e *Entra) Ready() error {
	for _, k := range e.tenants {
		keys, err := k.storage.KeyReadAll(context.Background())
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("no Entra ID signing keys for tenant %s yet", k.tenant)
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

// entraClaims are the claims read from an access token. They implement
// jwt.Claims themselves rather than embed jwt.RegisteredClaims, whose
// dates accept a JSON string holding a number.
type entraClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	TenantID  string           `json:"tid"`
	AppID     string           `json:"appid"` // v1
	AZP       string           `json:"azp"`   // v2
	IDType    string           `json:"idtyp"`
	OID       string           `json:"oid"`
	Scope     string           `json:"scp"`
	Roles     []string         `json:"roles"`
	UPN       string           `json:"upn"`
	// PreferredUsername names the user of a v2 token without upn.
	PreferredUsername string `json:"preferred_username"`

	// keysOf is the tenant whose keys verified the signature (keyFor).
	keysOf string
}

func (c *entraClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *entraClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *entraClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *entraClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *entraClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *entraClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// numericDate is a JWT NumericDate that must be a JSON number (RFC 7519
// §2). jwt.NumericDate also takes a string such as "1999999999", which
// Entra ID never issues: a token carrying one is malformed, not read
// leniently.
type numericDate struct{ jwt.NumericDate }

var errNotNumber = errors.New("a date claim (exp, nbf, iat) is not a JSON number")

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumber
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
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
	if ok && now.Before(info.until) {
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
	tok, err := e.parser.ParseWithClaims(raw, &c, e.keyFor)
	if forGraph(c.Audience) {
		// Whether it verified or not (Graph's tokens are not meant to be
		// verified by anyone else): the caller is told to ask for a token
		// for the proxy instead.
		return tokenInfo{}, reject(ErrGraphToken, "audience %v is Microsoft Graph", c.Audience)
	}
	if err != nil || !tok.Valid {
		return tokenInfo{}, reject(ErrUnauthenticated, "invalid token: %v", err)
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(e.o.Audiences, a) }) {
		return tokenInfo{}, reject(ErrUnauthenticated, "audience %v is not %v", c.Audience, e.o.Audiences)
	}
	// keyFor chose the keys from these claims before they were verified;
	// check again on the verified claims, so that the tenant a caller is
	// named by is always the tenant whose key signed the token.
	tenant, ok := e.issuers[c.Issuer]
	if !ok || tenant != c.keysOf || !strings.EqualFold(c.TenantID, tenant) {
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
	var actor *Actor
	if !appOnly {
		if actor, err = e.userInfo(&c, tenant); err != nil {
			return tokenInfo{}, err
		}
	}
	return tokenInfo{tenantID: tenant, appID: strings.ToLower(app), roles: c.Roles, actor: actor, until: c.ExpiresAt.Add(ClockSkew)}, nil
}

// keyFor is the jwt.Keyfunc: the keys of the one tenant the token claims
// to come from. The claims are not verified yet, which is why they only
// choose the keys: a token naming tenant A verifies with A's keys or not
// at all, however many tenants are accepted and whatever its kid.
func (e *Entra) keyFor(t *jwt.Token) (any, error) {
	c, ok := t.Claims.(*entraClaims)
	if !ok {
		return nil, errors.New("unexpected claims type")
	}
	tenant, ok := e.issuers[c.Issuer]
	if !ok || !strings.EqualFold(c.TenantID, tenant) {
		return nil, fmt.Errorf("issuer %q (tenant %q) is not an accepted tenant", c.Issuer, c.TenantID)
	}
	c.keysOf = tenant
	return e.keys[tenant].keyfunc.Keyfunc(t)
}

// remember caches a validated token until it expires.
func (e *Entra) remember(key [32]byte, info tokenInfo, now time.Time) {
	e.cacheMu.Lock()
	if len(e.cache) >= e.o.CacheSize {
		// Bounded: drop the expired entries, then arbitrary ones (map
		// order is random) down to nine tenths.
		for k, v := range e.cache {
			if !now.Before(v.until) {
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
	var name string
	if info.actor != nil {
		a := *info.actor
		a.assertion = raw
		c.Actor = &a
		name, ok = e.nameDelegated(info)
	} else {
		name, ok = e.dir.CallerForApp(info.tenantID, info.appID)
	}
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
	// Two byte searches, not strings.ContainsAny: a token is over a
	// kilobyte, which IndexByte scans many bytes at a time and IndexAny
	// one by one.
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
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
