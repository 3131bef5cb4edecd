package notify

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy"
	"github.com/graph-proxy/graph-proxy/proxy/callers"
)

// ChangeTrackingAppID is the application Microsoft Graph's change
// notifications come from: the azp (or appid) of every validation token.
const ChangeTrackingAppID = "0bf30f3b-4a52-48df-9a82-234910c4a086"

// TokenVerifier verifies the validation tokens of rich notifications:
// signature by the Microsoft identity platform's published keys of the
// proxy's tenant, issuer, audience (the proxy's own application) and
// lifetime. callers.Entra implements it.
type TokenVerifier interface {
	Verify(raw string) (callers.Token, error)
}

// Options are a Relay's dependencies. Every field is required unless its
// comment says otherwise.
type Options struct {
	// PublicBase is the base URL Graph reaches the proxy at
	// (publicBaseURL): the relayed subscriptions' URLs are under it.
	PublicBase *url.URL
	// Key is the secret that seals and opens the tokens of the proxy's
	// notification URLs (internal/seal), its versions newest first;
	// every replica needs the same. While it has none, relayed
	// subscriptions are refused (503) and deliveries answered 503.
	Key seal.Keys
	// Policy returns the policy in force: a caller it no longer relays,
	// or a URL it no longer allows, receives nothing more.
	Policy func() *policy.Policy
	// Tokens verifies validation tokens. Nil refuses every delivery that
	// carries resource data or validation tokens.
	Tokens TokenVerifier
	// TenantID is the tenant the proxy serves: a notification naming
	// another is refused.
	TenantID string
	// Members answers users.group membership. Nil: the notifications of
	// a caller scoped to a group are answered 503 (Graph delivers again
	// later), never delivered unchecked.
	Members proxy.Membership
	// Audit takes one record per notification.
	Audit proxy.AuditLog
	// Client carries deliveries and validation requests to the callers'
	// endpoints; it must not follow redirects. Nil uses a client cloned
	// from http.DefaultTransport that follows none.
	Client *http.Client
	// ReceiverTimeout bounds a delivery to a caller's endpoint, answer
	// included: Graph expects its own answer within 3 seconds. Default
	// 2.5s.
	ReceiverTimeout time.Duration
	// ValidationTimeout bounds the relay of a validation request: Graph
	// waits 10 seconds for the echo. Default 8s.
	ValidationTimeout time.Duration
	// MaxBodyBytes caps a delivery (413 beyond). Default 4 MiB.
	MaxBodyBytes int64
	// Rate and Burst bound the requests this replica's notification
	// endpoint takes at URLs the relay made, whoever sends them (429
	// beyond); one whose token does not open is refused (403) without
	// spending them. Default 200 per second, burst 400.
	Rate  float64
	Burst int
	// Graph is Graph's origin, scheme and host. What is relayed to a
	// caller goes through the link rule of answers, links to other hosts
	// withheld: a link at Graph is moved to PublicBase. Nil counts no
	// host but PublicBase's as Graph's.
	Graph *url.URL
	// Replica names this replica in audit records.
	Replica string
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// Relay relays change notifications through the proxy: it implements
// proxy.Notifications. It keeps no state of its own: what a notification
// URL leads to is sealed in its token, so that any replica with the key
// serves any subscription.
type Relay struct {
	o       Options
	base    string // PublicBase + NotificationsPath
	links   *proxy.LinkRewriter
	seal    sealer
	limiter *rate.Limiter
	log     *slog.Logger
	now     func() time.Time
}

var _ proxy.Notifications = (*Relay)(nil)

// New returns a Relay built from o.
func New(o Options) (*Relay, error) {
	if o.PublicBase == nil || o.Policy == nil || o.Audit == nil || o.TenantID == "" {
		return nil, errors.New("notify: incomplete options")
	}
	if o.ReceiverTimeout <= 0 {
		o.ReceiverTimeout = 2500 * time.Millisecond
	}
	if o.ValidationTimeout <= 0 {
		o.ValidationTimeout = 8 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Burst <= 0 {
		o.Burst = 400
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// Whatever client is given: a redirect would carry a notification to
	// a URL the policy never allowed.
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &c
	rl := &Relay{o: o, seal: newSealer(o.Key), limiter: rate.NewLimiter(rate.Limit(o.Rate), o.Burst), log: o.Logger, now: o.Now}
	public := o.PublicBase.Scheme + "://" + o.PublicBase.Host
	rl.base = strings.TrimSuffix(public, "/") + proxy.NotificationsPath
	graph := public
	if o.Graph != nil {
		graph = o.Graph.Scheme + "://" + o.Graph.Host
	}
	rl.links = proxy.NewLinkRewriter(graph, public)
	if rl.log == nil {
		rl.log = slog.New(slog.DiscardHandler)
	}
	if rl.now == nil {
		rl.now = time.Now
	}
	return rl, nil
}
