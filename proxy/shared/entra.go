package shared

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/redis/go-redis/v9/auth"
)

// RedisScope is the Microsoft Entra scope of Azure Cache for Redis and
// Azure Managed Redis tokens.
const RedisScope = "https://redis.azure.com/.default"

// EntraCredentials authenticates to Azure's Redis with a Microsoft Entra
// token of the proxy's identity, as Azure Cache for Redis and Azure
// Managed Redis require: the user is the identity's object id (the
// token's oid claim), the password the access token, over TLS. The cache
// drops a connection whose token expires, so the token is fetched again
// at half its remaining life (the Azure SDK's cache hands out a new one
// in the minutes before expiry) and every connection is authenticated
// with it again, through go-redis's StreamingCredentialsProvider.
//
// Subscribe never waits for Entra: a connection made before the first
// token (Refresh) fails, and the store falls back to local limits until
// one is held. Tokens are never logged.
type EntraCredentials struct {
	// Credential is the identity (the managed identity in Azure).
	Credential azcore.TokenCredential
	// Scope is the token's scope; empty is RedisScope.
	Scope string
	// Logger receives refresh failures; nil discards them.
	Logger *slog.Logger

	mu        sync.Mutex
	current   *entraCredential
	expiresOn time.Time
	listeners map[auth.CredentialsListener]bool
}

var _ auth.StreamingCredentialsProvider = (*EntraCredentials)(nil)

// entraCredential is one token and the user it authenticates.
type entraCredential struct{ user, token string }

func (c *entraCredential) BasicAuth() (string, string) { return c.user, c.token }
func (c *entraCredential) RawCredentials() string      { return c.user + ":" + c.token }

// String and LogValue keep the token out of logs and errors.
func (c *entraCredential) String() string             { return "entra:" + c.user + ":REDACTED" }
func (c *entraCredential) LogValue() slog.Value       { return slog.StringValue(c.String()) }
func (c *entraCredential) GoString() string           { return c.String() }
func (c *entraCredential) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Subscribe implements auth.StreamingCredentialsProvider: listener is
// told each new token until it unsubscribes.
func (e *EntraCredentials) Subscribe(listener auth.CredentialsListener) (auth.Credentials, auth.UnsubscribeFunc, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil || time.Now().After(e.expiresOn) {
		return nil, nil, errors.New("shared: no valid Entra token for Redis yet")
	}
	if e.listeners == nil {
		e.listeners = map[auth.CredentialsListener]bool{}
	}
	e.listeners[listener] = true
	unsubscribe := func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.listeners, listener)
		return nil
	}
	return e.current, unsubscribe, nil
}

// Refresh fetches the token now and, when it is a new one, hands it to
// every connection.
func (e *EntraCredentials) Refresh(ctx context.Context) error {
	scope := e.Scope
	if scope == "" {
		scope = RedisScope
	}
	tok, err := e.Credential.GetToken(ctx, azpolicy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return fmt.Errorf("shared: Entra token for Redis: %w", err)
	}
	oid, err := objectID(tok.Token)
	if err != nil {
		return fmt.Errorf("shared: Entra token for Redis: %w", err)
	}
	e.mu.Lock()
	if e.current != nil && e.current.token == tok.Token {
		e.mu.Unlock()
		return nil
	}
	c := &entraCredential{user: oid, token: tok.Token}
	e.current, e.expiresOn = c, tok.ExpiresOn
	listeners := make([]auth.CredentialsListener, 0, len(e.listeners))
	for l := range e.listeners {
		listeners = append(listeners, l)
	}
	e.mu.Unlock()
	// Outside the lock: a listener re-authenticates its connection, which
	// may take a round trip.
	for _, l := range listeners {
		l.OnNext(c)
	}
	return nil
}

// Run refreshes the token until ctx ends: at half its remaining life, at
// least 30 seconds apart, and every 10 seconds after a failure.
func (e *EntraCredentials) Run(ctx context.Context) {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		wait := 10 * time.Second
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.Refresh(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("Redis token refresh failed; shared limits fall back to local ones once the token expires", "error", err)
		} else {
			e.mu.Lock()
			wait = max(30*time.Second, time.Until(e.expiresOn)/2)
			e.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// objectID is the oid claim of a JWT access token, read without checking
// its signature: the token comes from Entra itself, and is only passed on
// to Redis, which checks it.
func objectID(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", fmt.Errorf("the access token's payload: %w", err)
	}
	var claims struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.OID == "" {
		return "", errors.New("the access token has no oid claim (the identity's object id, Redis's user name)")
	}
	return claims.OID, nil
}
