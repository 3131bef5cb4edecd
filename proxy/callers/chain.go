package callers

import (
	"net/http"
	"net/netip"
	"strings"
)

// Chain authenticates with an Entra ID token when the request carries an
// Authorization header, else with a client certificate. Either may be nil
// (not configured); with neither applicable the request is refused.
type Chain struct {
	Entra *Entra
	MTLS  *MTLS
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
}

// Authenticate implements Authenticator.
func (c *Chain) Authenticate(r *http.Request) (Caller, error) {
	var caller Caller
	var err error
	switch {
	case c.Entra != nil && r.Header.Get("Authorization") != "":
		caller, err = c.Entra.Authenticate(r)
	case c.MTLS != nil:
		caller, err = c.MTLS.Authenticate(r)
	case c.Entra != nil:
		caller, err = c.Entra.Authenticate(r)
	default:
		err = reject(ErrUnauthenticated, "no authentication configured")
	}
	caller.IP = ClientIP(r, c.TrustedProxies)
	return caller, err
}

// ClientIP is the caller's address: the socket's peer, or — when that peer
// is a trusted proxy — the rightmost X-Forwarded-For entry not itself a
// trusted proxy. Entries an untrusted client wrote are never believed.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := RemoteIP(r)
	addr, err := netip.ParseAddr(peer)
	if err != nil || !isTrusted(addr, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed chain: believe only the socket
		}
		if !isTrusted(h, trusted) {
			return h.String()
		}
	}
	return peer
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
