// Package testaddr gives the tests and the bench loopback addresses for
// the processes they start (graph-proxy, redis-server, the bench's
// proxies and backend) to listen on.
package testaddr

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Free is a loopback address with a port free a moment ago, for a
// process the test starts to listen on it.
//
// The port is outside the kernel's ephemeral range. A port the kernel
// chose for a listener on :0 goes back, once closed, to the range it
// hands out to outgoing connections, and while the packages' tests run in
// parallel one of their connections can take it before the process binds
// it ("address already in use"). Outside that range only another test's
// Free can, and it draws from some 27,000 ports.
func Free(t testing.TB) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Addr is Free for a program that is not a test (the bench).
func Addr() (string, error) {
	lo, hi := ephemeralRange()
	for range 100 {
		port, ok := portOutside(lo, hi, rand.IntN)
		if !ok {
			break // the ephemeral range covers every port drawn from
		}
		if !handOut(port) {
			continue // given to another process of this one's already
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// handedOut holds the ports Addr has given in this process. A port given
// is free until its process binds it, which may be after the next draw: a
// test that starts a proxy with a main and an admin listener draws twice
// before either binds, and the same port drawn twice made the proxy refuse
// its configuration ("the admin listener needs its own port").
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// handOut reports whether port was not given before, and records it.
func handOut(port int) bool {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports[port] {
		return false
	}
	handedOut.ports[port] = true
	return true
}

// The ports Free draws from: above the well-known and the common
// services' ones, outside the ephemeral range.
const minPort, maxPort = 10000, 65535

// portOutside draws a port in [minPort, maxPort] outside [lo, hi], with
// intn(n) drawing from [0, n); ok is false when [lo, hi] covers them all.
func portOutside(lo, hi int, intn func(int) int) (port int, ok bool) {
	lo, hi = max(lo, minPort), min(hi, maxPort)
	below := max(lo-minPort, 0)
	above := max(maxPort-hi, 0)
	if lo > hi { // no range to avoid within [minPort, maxPort]
		below, above = maxPort-minPort+1, 0
	}
	if below+above == 0 {
		return 0, false
	}
	n := intn(below + above)
	if n < below {
		return minPort + n, true
	}
	return hi + 1 + n - below, true
}

// ephemeralRange is the kernel's range for outgoing connections' ports
// (Linux's ip_local_port_range), or its default where it cannot be read.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return lo, hi
	}
	a, err1 := strconv.Atoi(f[0])
	b, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || a > b {
		return lo, hi
	}
	return a, b
}
