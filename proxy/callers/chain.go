package callers

import (
	"net/http"
	"net/netip"
	"strings"
)

// Chain authenticates with an Entra ID token when the request carries an
// Authorization header, else with a client certificate. Either may be nil
// (not configured); with neither applicable the request is refused. A
// forwarded client certificate from a peer MTLS does not trust refuses the
// request, whichever credential would have been used.
type Chain struct {
	Entra *Entra
	MTLS  *MTLS
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	// The forwarded client certificate has its own list,
	// MTLS.TrustedProxies; serve sets both from inbound.trustedProxies.
	TrustedProxies []netip.Prefix
}

// Authenticate implements Authenticator.
func (c *Chain) Authenticate(r *http.Request) (Caller, error) {
	var caller Caller
	var err error
	if c.MTLS != nil {
		// Before the bearer token too: a forged certificate header beside
		// a valid token is an attack to record as such, not a detail to
		// ignore.
		err = c.MTLS.checkForwarded(r)
	}
	switch {
	case err != nil:
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

// isTrusted reports whether a is in one of the prefixes. An IPv4-mapped
// IPv6 address (a dual-stack listener's view of an IPv4 peer) matches as
// its IPv4 address, and as itself where a prefix is written mapped.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a.Unmap()) || p.Contains(a) {
			return true
		}
	}
	return false
}
