package testaddr

import (
	"net"
	"testing"
)

// TestPortOutside draws every port portOutside can give, for ranges
// inside, across and outside the ports it draws from, and checks each is
// in [minPort, maxPort] and outside the range.
func TestPortOutside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi int
		count  int // ports it can give
	}{
		{"Linux's default", 32768, 60999, (32768 - minPort) + (maxPort - 60999)},
		{"up to the top", 32768, 65535, 32768 - minPort},
		{"from below the bottom", 1024, 40000, maxPort - 40000},
		{"below the ports drawn", 1024, 5000, maxPort - minPort + 1},
		{"every port drawn from", 1024, 65535, 0},
	} {
		seen := map[int]bool{}
		for n := 0; n < tc.count; n++ {
			p, ok := portOutside(tc.lo, tc.hi, func(k int) int {
				if k != tc.count {
					t.Fatalf("%s: drawn from %d ports, want %d", tc.name, k, tc.count)
				}
				return n
			})
			if !ok || p < minPort || p > maxPort || (p >= tc.lo && p <= tc.hi) || seen[p] {
				t.Fatalf("%s: draw %d gave port %d (in the range, out of bounds, or twice)", tc.name, n, p)
			}
			seen[p] = true
		}
		if tc.count == 0 {
			if p, ok := portOutside(tc.lo, tc.hi, func(int) int { t.Fatalf("%s: drew from no ports", tc.name); return 0 }); ok {
				t.Errorf("%s: gave port %d, want none", tc.name, p)
			}
		}
	}
}

// TestFree gives a port outside the ephemeral range that can be
// listened on.
func TestFree(t *testing.T) {
	lo, hi := ephemeralRange()
	for range 20 {
		addr := Free(t)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port >= lo && port <= hi {
			t.Errorf("%s is in the ephemeral range %d-%d", addr, lo, hi)
		}
	}
}

// TestFreeNeverTwice: a process is never given one port twice, though
// the ports drawn are free until bound and a test draws several before
// its process binds any (a proxy's main and admin listeners). 2,000 draws
// from some 27,000 ports would repeat one almost surely if drawn alone.
func TestFreeNeverTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		addr := Free(t)
		if seen[addr] {
			t.Fatalf("%s given twice", addr)
		}
		seen[addr] = true
	}
}
