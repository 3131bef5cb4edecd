package notify

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/policy"
)

// MinKeyBytes is the shortest secret taken.
const MinKeyBytes = seal.MinSecretBytes

// route is what a token carries: where one of a subscription's
// notification URLs leads. It is sealed (AES-256-GCM), so that nobody
// without the key can read it, forge one, or change where one leads.
type route struct {
	// Identity is the credential of the caller that made the
	// subscription (callers.Caller.Identity), never its policy name: the
	// policy may rename a caller, or give its old name to another party.
	// Whose the subscription is (Restore, Owner) compares it; a delivery
	// goes to the caller the policy in force names it by (callers.NameOf),
	// decided under that caller's rules. Tokens of earlier versions carry
	// a name (Name) and no identity: they open as errNoIdentity.
	Identity string `json:"i"`
	// CertSHA1 is the SHA-1 thumbprint of the certificate of an mtls
	// identity (callers.Caller.CertSHA1), by which the policy may name it
	// instead of the SHA-256 the identity holds.
	CertSHA1 string `json:"t,omitempty"`
	// Name is the caller's policy name when the subscription was made,
	// sealed for earlier versions alone (they route by it, so that a
	// rollback keeps the subscriptions made since): this one never reads
	// it, and never decides anything by it.
	Name string `json:"c,omitempty"`
	// URL is the caller's own notification URL this one stands for.
	URL string `json:"u"`
	// Lifecycle: the token stands for the lifecycleNotificationUrl.
	Lifecycle bool `json:"l,omitempty"`
	// State is the caller's clientState; empty when it set none.
	State string `json:"s,omitempty"`
	// Proxy is the clientState Graph was given instead: random, per
	// subscription, so that every delivery proves it is Graph's.
	Proxy string `json:"p"`
	// Version and Resource are the subscription's Graph version and
	// resource, as the policy decided them at its creation: every
	// delivery is decided again as that read, under the policy in force.
	Version  string `json:"v,omitempty"`
	Resource string `json:"r,omitempty"`
	// User and UPN are the signed-in user the subscription was made as,
	// empty for an app-only one: its resource is decided again as that
	// user's read (me/… is the user's).
	User string `json:"o,omitempty"`
	UPN  string `json:"n,omitempty"`
}

// actor is the signed-in user rt's subscription was made as, nil for an
// app-only one.
func (rt route) actor() *policy.Actor {
	if rt.User == "" {
		return nil
	}
	return &policy.Actor{ObjectID: rt.User, UPN: rt.UPN}
}

// maxTokenChars bounds a token read from a path, before anything is
// decoded: a caller's URL and clientState fit well within it.
const maxTokenChars = 2048

var (
	errNoKey    = seal.ErrNoKey
	errBadToken = seal.ErrInvalid
	// errNoIdentity is a token this proxy's key sealed without the
	// identity of the caller it was made for: an earlier version's, which
	// sealed the caller's policy name. The name is never believed (it
	// may be another party's now), so the token is nobody's: its
	// deliveries are refused and its subscription is another caller's to
	// everyone. Such subscriptions must be made again.
	errNoIdentity = errors.New("the notification URL was made by an earlier version of the proxy, without the caller's credential: the subscription must be made again")
)

// purpose separates the tokens' key from any other use of the secret: a
// token of another feature does not open as a notification token.
const purpose = "graph-proxy/notifications"

// sealer seals routes into tokens (internal/seal): under the newest
// version of the secret, opened under any version the keys still give,
// so that rotating the secret leaves the relayed subscriptions' URLs
// working until the old version is disabled.
type sealer struct{ box *seal.Box }

func newSealer(keys seal.Keys) sealer {
	if keys == nil {
		return sealer{}
	}
	return sealer{box: seal.New(keys, purpose, maxTokenChars)}
}

// seal returns rt as a token.
func (s sealer) seal(rt route) (string, error) {
	if s.box == nil {
		return "", errNoKey
	}
	plain, err := json.Marshal(rt)
	if err != nil {
		return "", err
	}
	return s.box.Seal(plain)
}

// open reads a token: any change to it, a token of another key or
// purpose, or one not from seal, is errBadToken.
func (s sealer) open(token string) (route, error) {
	if s.box == nil {
		return route{}, errNoKey
	}
	plain, err := s.box.Open(token)
	if err != nil {
		return route{}, err
	}
	var rt route
	if err := json.Unmarshal(plain, &rt); err != nil || rt.URL == "" || rt.Proxy == "" || !utf8.Valid(plain) {
		// Sealed by this proxy, so never expected; refused all the same.
		return route{}, errBadToken
	}
	if rt.Identity == "" {
		return route{}, errNoIdentity
	}
	return rt, nil
}

// tokenOf returns the token of a URL under the proxy's notification
// path, and whether it is one.
func tokenOf(base, u string) (string, bool) {
	tok, ok := strings.CutPrefix(u, base)
	if !ok || tok == "" || strings.ContainsAny(tok, "/?#") {
		return "", false
	}
	return tok, true
}

// newState returns a fresh random clientState for Graph: 32 bytes,
// base64url (43 characters; Graph takes up to 128).
func newState() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
