// Package redistest runs a real Redis for tests: Debian's redis-server,
// started on a free loopback port with a temporary directory and no
// persistence (redis-server --save "" --appendonly no), and stopped when
// the test ends. Without redis-server the test is skipped, saying why,
// unless the CI environment variable is set: then it fails, so that a
// missing server never passes unnoticed where .ci/run installs it.
package redistest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/testaddr"
)

// Options are how a Server is started.
type Options struct {
	// TLS serves TLS only (no plain port), with a certificate for
	// 127.0.0.1 from a CA made for the test: Server.TLSConfig trusts it.
	TLS bool
	// Args are more redis-server options, e.g. "--requirepass", "x".
	Args []string
}

// Server is one redis-server process.
type Server struct {
	// Addr is host:port on loopback.
	Addr string

	t      testing.TB
	dir    string
	args   []string
	roots  *x509.CertPool
	cmd    *exec.Cmd
	exited chan struct{}
}

// Binary returns the redis-server to run, or skips (fails with CI set)
// the test when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("redis-server is not installed, and CI is set: the shared-limits tests must run (.ci/run installs Debian's redis-server package)")
	}
	t.Skip("redis-server is not installed (Debian: apt-get install redis-server): the shared-limits tests are skipped; with CI set they fail instead")
	return ""
}

// Start starts a redis-server for the test and stops it when the test
// ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{t: t, dir: t.TempDir()}
	s.Addr = testaddr.Free(t)
	_, port, _ := net.SplitHostPort(s.Addr)
	s.args = []string{"--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "warning", "--logfile", filepath.Join(s.dir, "redis.log")}
	if o.TLS {
		s.roots = s.certificates()
		s.args = append(s.args, "--port", "0", "--tls-port", port,
			"--tls-cert-file", filepath.Join(s.dir, "tls.crt"), "--tls-key-file", filepath.Join(s.dir, "tls.key"),
			"--tls-ca-cert-file", filepath.Join(s.dir, "ca.crt"), "--tls-auth-clients", "no")
	} else {
		s.args = append(s.args, "--port", port)
	}
	s.args = append(s.args, o.Args...)
	s.args = append([]string{bin}, s.args...)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same port, after Stop: a Redis
// back after an outage, empty (nothing is persisted).
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redistest: Restart of a running server")
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for !s.ping() {
		select {
		case <-s.exited:
			s.cmd = nil
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatal("redis-server did not answer PING within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the server (SIGKILL: a Redis that goes away, not one that
// says goodbye) and waits for it to exit. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Pause stops the server from answering (SIGSTOP) until Resume: a Redis
// that is slow or hung rather than gone, whose connections stay open.
func (s *Server) Pause() { s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused server answer again.
func (s *Server) Resume() { s.cmd.Process.Signal(syscall.SIGCONT) }

// TLSConfig trusts the server's certificate; nil without Options.TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Do sends one command with redis-cli-like framing and returns the first
// line of the answer (for setup and checks that need no client library).
func (s *Server) Do(args ...string) (string, error) {
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: time.Second}
	if s.roots != nil {
		conn, err = tls.DialWithDialer(d, "tcp", s.Addr, s.TLSConfig())
	} else {
		conn, err = d.Dial("tcp", s.Addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func (s *Server) ping() bool {
	line, err := s.Do("PING")
	return err == nil && (line == "+PONG" || strings.HasPrefix(line, "-NOAUTH"))
}

// certificates writes a CA and a server certificate for 127.0.0.1 into
// the server's directory and returns a pool trusting the CA.
func (s *Server) certificates() *x509.CertPool {
	t := s.t
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.crt":  {Type: "CERTIFICATE", Bytes: caDER},
		"tls.crt": {Type: "CERTIFICATE", Bytes: der},
		"tls.key": {Type: "EC PRIVATE KEY", Bytes: kd},
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}
