package upstream

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// OnBehalfOf exchanges a signed-in user's token for the proxy's API for a
// Graph token of the same user (OAuth 2.0 on-behalf-of, MSAL's
// AcquireTokenOnBehalfOf), with the proxy app registration's credential:
// its Key Vault secret or certificate, or the managed identity as a
// federated credential. Graph tokens are cached in memory only, per user
// token and scope set, bounded (least recently used go first), and never
// outlive the user's token. It is safe for concurrent use.
type OnBehalfOf struct {
	// clients is the MSAL client generation in use; newClients makes the
	// next. MSAL keeps every exchanged token in its own cache, without
	// bound, so a generation serves generationSize exchanges and is then
	// dropped whole (for a Key Vault credential, the secret is read again
	// with the next).
	clients    oboClients
	newClients func() (oboClients, error)
	generation int
	resource   string
	max        int
	timeout    time.Duration
	now        func() time.Time

	mu       sync.Mutex
	entries  map[[32]byte]*list.Element // of *oboEntry
	lru      *list.List                 // front: most recently used
	inflight map[[32]byte]*oboFlight
	swept    time.Time
	// exchanges counts exchanges started, for /status and tests.
	exchanges int
}

// OnBehalfOfOptions configure an OnBehalfOf beside the credential's Options.
type OnBehalfOfOptions struct {
	// GraphResource is Graph's resource in the cloud, e.g.
	// https://graph.microsoft.com: a scope Mail.Send is asked for as
	// {GraphResource}/Mail.Send.
	GraphResource string
	// MaxEntries bounds the cached Graph tokens. Default 10000.
	MaxEntries int
	// Timeout bounds one exchange. Default 30s.
	Timeout time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// User is the signed-in user whose token is exchanged. Its String and
// LogValue never reveal the token.
type User struct {
	// ObjectID and TenantID name the user.
	ObjectID, TenantID string
	// Assertion is the user's token for the proxy's API.
	Assertion string
	// ExpiresOn is the user's token's expiry: no Graph token obtained with
	// it is used past it.
	ExpiresOn time.Time
}

// String redacts the user's token.
func (u User) String() string { return u.ObjectID + "@" + u.TenantID }

// LogValue redacts the user's token in structured logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("oid", u.ObjectID), slog.String("tenantId", u.TenantID), slog.String("assertion", "REDACTED"))
}

// ClaimsChallenge is an exchange Entra ID refused until the user satisfies
// a policy (Conditional Access: MFA, a compliant device) it names in
// Claims, a JSON object: the caller's app must sign the user in again
// asking for these claims (the middle-tier's claims challenge).
type ClaimsChallenge struct {
	Claims string
	// Code is Entra's error (interaction_required) and its AADSTS code.
	Code string
}

func (c *ClaimsChallenge) Error() string {
	return "upstream: on-behalf-of exchange needs the user to satisfy a claims challenge (" + c.Code + ")"
}

// The kinds of refused exchange other than a claims challenge.
const (
	// ExchangeUserToken: Entra ID refused the user's token itself
	// (expired, revoked, or not for this app).
	ExchangeUserToken = "userToken"
	// ExchangeConsent: the delegated scopes are not consented for the
	// user or the tenant.
	ExchangeConsent = "consent"
	// ExchangeInteraction: the user must sign in again interactively,
	// with no claims to ask for.
	ExchangeInteraction = "interaction"
)

// ExchangeError is an exchange Entra ID refused for the user: Kind says
// why. An exchange that failed for the proxy's own reasons (its
// credential, Entra unreachable) wraps ErrUnavailable instead.
type ExchangeError struct {
	Kind string
	// Code is Entra's error and AADSTS code, for the log and the audit
	// record.
	Code string
}

func (e *ExchangeError) Error() string {
	return "upstream: on-behalf-of exchange refused (" + e.Kind + "): " + e.Code
}

type oboEntry struct {
	key [32]byte
	tok Token
	// oid and tenant name the user the token is of, checked on every hit.
	oid, tenant string
}

func (e *oboEntry) owns(u User) bool {
	return strings.EqualFold(e.oid, u.ObjectID) && strings.EqualFold(e.tenant, u.TenantID)
}

type oboFlight struct {
	done chan struct{}
	tok  Token
	err  error
}

// oboClients yields the MSAL client for the credential in force; force
// reads the credential again (a rotated secret).
type oboClients interface {
	current(ctx context.Context, force bool) (*appCredential, error)
}

type fixedClient struct{ app *appCredential }

func (f fixedClient) current(context.Context, bool) (*appCredential, error) { return f.app, nil }

// NewOnBehalfOf returns the exchange for o's app registration. The
// managedIdentity mode has none: a managed identity cannot exchange a
// user's token, so delegated access needs keyVaultSecret,
// keyVaultCertificate or federated.
func NewOnBehalfOf(o Options, oo OnBehalfOfOptions) (*OnBehalfOf, error) {
	if oo.GraphResource == "" {
		return nil, errors.New("upstream: on-behalf-of needs Graph's resource")
	}
	if oo.MaxEntries <= 0 {
		oo.MaxEntries = 10000
	}
	if oo.Timeout <= 0 {
		oo.Timeout = 30 * time.Second
	}
	if oo.Now == nil {
		oo.Now = time.Now
	}
	b := &OnBehalfOf{resource: strings.TrimSuffix(oo.GraphResource, "/"), max: oo.MaxEntries, timeout: oo.Timeout, now: oo.Now,
		entries: map[[32]byte]*list.Element{}, lru: list.New(), inflight: map[[32]byte]*oboFlight{}}
	mi, err := managedIdentity(o)
	if err != nil {
		return nil, err
	}
	switch o.Mode {
	case ModeFederated:
		assertion := federatedAssertion(mi)
		b.newClients = func() (oboClients, error) {
			c, err := newConfidential(o, assertion)
			if err != nil {
				return nil, err
			}
			return fixedClient{&appCredential{client: c}}, nil
		}
	case ModeKeyVaultSecret, ModeKeyVaultCertificate:
		secrets, err := secretsClient(o, mi)
		if err != nil {
			return nil, err
		}
		if o.KeyVaultRecheck == 0 {
			o.KeyVaultRecheck = 5 * time.Minute
		}
		b.newClients = func() (oboClients, error) { return &vaultCredential{o: o, secrets: secrets}, nil }
	default:
		return nil, fmt.Errorf("upstream: delegated access needs the proxy's app registration (mode keyVaultSecret, keyVaultCertificate or federated), not mode %q", o.Mode)
	}
	if b.clients, err = b.newClients(); err != nil {
		return nil, err
	}
	return b, nil
}

// generationSize is how many exchanges one MSAL client generation serves.
const generationSize = 1000

// currentClients returns the client generation for the next exchange,
// starting a new one when the current has served generationSize.
func (b *OnBehalfOf) currentClients() oboClients {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.generation >= generationSize {
		if next, err := b.newClients(); err == nil {
			b.clients, b.generation = next, 0
		}
	}
	b.generation++
	return b.clients
}

// Token returns a Graph token for user with scopes (Graph's delegated
// permission names, e.g. Mail.Send): from the cache while valid, else from
// one exchange shared by the concurrent calls that need it. Its error is a
// *ClaimsChallenge, an *ExchangeError, or wraps ErrUnavailable.
func (b *OnBehalfOf) Token(ctx context.Context, user User, scopes []string) (Token, error) {
	now := b.now()
	if user.Assertion == "" || !usable(Token{ExpiresOn: user.ExpiresOn}, now) {
		// Nothing exchanged with it could be used: the caller's app is to
		// present a fresh one.
		return Token{}, &ExchangeError{Kind: ExchangeUserToken, Code: "the user's token has expired or expires within seconds"}
	}
	if len(scopes) > 1 {
		scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	}
	key := oboKey(user.Assertion, scopes)

	b.mu.Lock()
	if el, ok := b.entries[key]; ok {
		e := el.Value.(*oboEntry)
		if e.owns(user) && usable(e.tok, now) {
			b.lru.MoveToFront(el)
			b.mu.Unlock()
			return e.tok, nil
		}
		b.removeLocked(el)
	}
	f, ok := b.inflight[key]
	if !ok {
		f = &oboFlight{done: make(chan struct{})}
		b.inflight[key] = f
		b.exchanges++
		go b.exchange(key, user, scopes, f)
	}
	b.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// usable: a token about to expire is as good as expired (Cache.valid).
func usable(t Token, now time.Time) bool { return now.Add(5 * time.Second).Before(t.ExpiresOn) }

// oboKey is the cache key: the user's token and the scope set, hashed,
// so that neither is kept in the key.
func oboKey(assertion string, scopes []string) [32]byte {
	h := sha256.New()
	io.WriteString(h, assertion)
	for _, s := range scopes {
		io.WriteString(h, "\x00"+strings.ToLower(s))
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// exchange runs one exchange on its own context: one caller giving up must
// not cancel what the others wait for.
func (b *OnBehalfOf) exchange(key [32]byte, user User, scopes []string, f *oboFlight) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	full := make([]string, len(scopes))
	for i, s := range scopes {
		full[i] = b.resource + "/" + s
	}
	tok, err := b.acquire(ctx, user.Assertion, full)
	if err == nil {
		// The Graph token may outlive the user's; it is not used past it.
		tok.ExpiresOn = minTime(tok.ExpiresOn, user.ExpiresOn)
		tok.bearer = "Bearer " + tok.Value
		if !usable(tok, b.now()) {
			err = fmt.Errorf("%w: the exchanged token is already expired", ErrUnavailable)
		}
	}
	b.mu.Lock()
	if err == nil {
		b.putLocked(&oboEntry{key: key, tok: tok, oid: user.ObjectID, tenant: user.TenantID})
	}
	delete(b.inflight, key)
	b.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// acquire asks Entra ID, once more with the credential read again when
// Entra refused the credential itself (a rotated secret).
func (b *OnBehalfOf) acquire(ctx context.Context, assertion string, scopes []string) (Token, error) {
	clients := b.currentClients()
	app, err := clients.current(ctx, false)
	if err != nil {
		return Token{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	res, err := app.client.AcquireTokenOnBehalfOf(ctx, assertion, scopes)
	if err != nil && rejectedCredential(err) {
		if app2, rerr := clients.current(ctx, true); rerr == nil && app2 != app {
			res, err = app2.client.AcquireTokenOnBehalfOf(ctx, assertion, scopes)
		}
	}
	if err != nil {
		return Token{}, exchangeError(err)
	}
	return Token{Value: res.AccessToken, ExpiresOn: res.ExpiresOn}, nil
}

// entraError is Entra ID's error answer.
type entraError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	SubError    string `json:"suberror"`
	Claims      string `json:"claims"`
}

// exchangeError classifies a failed exchange by Entra ID's answer.
func exchangeError(err error) error {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil || ce.Resp.Body == nil {
		return fmt.Errorf("%w: on-behalf-of exchange: %w", ErrUnavailable, err)
	}
	body, rerr := io.ReadAll(io.LimitReader(ce.Resp.Body, 64<<10))
	var ee entraError
	if rerr != nil || json.Unmarshal(body, &ee) != nil || ee.Error == "" {
		return fmt.Errorf("%w: on-behalf-of exchange: %w", ErrUnavailable, err)
	}
	code := ee.Error
	if len(ee.Codes) > 0 {
		code += fmt.Sprintf(" AADSTS%d", ee.Codes[0])
	}
	if ee.SubError != "" {
		code += " (" + ee.SubError + ")"
	}
	has := func(codes ...int) bool {
		return slices.ContainsFunc(ee.Codes, func(c int) bool { return slices.Contains(codes, c) })
	}
	switch {
	case ee.Claims != "" && (ee.Error == "interaction_required" || ee.Error == "invalid_grant"):
		return &ClaimsChallenge{Claims: ee.Claims, Code: code}
	case ee.Error == "consent_required" || ee.Error == "invalid_scope" || has(65001, 65004, 65005, 70011):
		return &ExchangeError{Kind: ExchangeConsent, Code: code}
	case ee.Error == "interaction_required":
		return &ExchangeError{Kind: ExchangeInteraction, Code: code}
	case ee.Error == "invalid_grant" || has(50013, 500133, 50173, 50132, 50057, 50053):
		return &ExchangeError{Kind: ExchangeUserToken, Code: code}
	}
	// invalid_client, server_error, temporarily_unavailable: the
	// proxy's own trouble, not the user's.
	return fmt.Errorf("%w: on-behalf-of exchange: %s", ErrUnavailable, code)
}

// putLocked caches an entry, making room first: expired entries, then the
// least recently used.
func (b *OnBehalfOf) putLocked(e *oboEntry) {
	if el, ok := b.entries[e.key]; ok {
		b.removeLocked(el)
	}
	now := b.now()
	if b.lru.Len() >= b.max || now.Sub(b.swept) > time.Minute {
		// Tokens whose user token expired go at least every minute, and
		// whenever room is needed.
		b.swept = now
		for el := b.lru.Back(); el != nil; {
			prev := el.Prev()
			if !usable(el.Value.(*oboEntry).tok, now) {
				b.removeLocked(el)
			}
			el = prev
		}
		for b.lru.Len() >= b.max {
			b.removeLocked(b.lru.Back())
		}
	}
	b.entries[e.key] = b.lru.PushFront(e)
}

func (b *OnBehalfOf) removeLocked(el *list.Element) {
	delete(b.entries, el.Value.(*oboEntry).key)
	b.lru.Remove(el)
}

// Len is the number of Graph tokens cached.
func (b *OnBehalfOf) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

// Exchanges reports how many exchanges have been started.
func (b *OnBehalfOf) Exchanges() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exchanges
}
