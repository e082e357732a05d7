package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// doTLS sends one command to s over TLS with the client side s gives.
func doTLS(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	rc, err := dialRESPOver(s.Addr, s.TLSConfig(), time.Second)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", s.Addr, err)
	}
	defer rc.Close()
	reply, err := rc.do(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return reply
}

func TestTLSStartKillRestart(t *testing.T) {
	t.Parallel()
	s := Start(t, WithTLS(), WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	if !strings.HasPrefix(s.URL, "rediss://127.0.0.1:") || s.Source != SourceProcess {
		t.Fatalf("URL %q from %s, want rediss://127.0.0.1:port from a process", s.URL, s.Source)
	}
	mustPing(t, s)
	if got := doTLS(t, s, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %q", got)
	}

	// Nothing is served in plain text: the only port is the TLS one, and
	// a plain-text PING there gets no PONG.
	if err := ping(s.Addr, nil, nil, 500*time.Millisecond); err == nil {
		t.Fatal("plain-text PING on the TLS port answered")
	}
	// The certificate is trusted only through the server's own CA.
	_, err := dialRESPOver(s.Addr, &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, time.Second)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("TLS dial with the system roots: %v, want an unknown authority", err)
	}

	// Each call hands out its own copy.
	a, b := s.TLSConfig(), s.TLSConfig()
	if a == b || a.RootCAs == nil {
		t.Fatalf("TLSConfig() = %p and %p, RootCAs %v: want two copies with the CA", a, b, a.RootCAs)
	}
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CAFile %s holds no certificate", s.CAFile())
	}
	rc, err := dialRESPOver(s.Addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, time.Second)
	if err != nil {
		t.Fatalf("TLS dial trusting CAFile: %v", err)
	}
	if err := pingOn(rc); err != nil {
		t.Fatalf("PING trusting CAFile: %v", err)
	}
	rc.Close()

	addr := s.Addr
	s.Kill(t)
	if err := s.ping(200 * time.Millisecond); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart(t)
	if s.Addr != addr || !strings.HasPrefix(s.URL, "rediss://") {
		t.Fatalf("after Restart: %s %s, want the TLS server on %s", s.Addr, s.URL, addr)
	}
	mustPing(t, s)
	if got := doTLS(t, s, "GET", "k"); got != "v" {
		t.Fatalf("GET after Restart = %q, want the value kept by the AOF", got)
	}
}

func TestTLSOnlyForLocalProcesses(t *testing.T) {
	t.Parallel()
	env := noSources(false)
	env.docker = func() error { return nil } // a container would be possible
	r := record(t, func(tb testing.TB) { start(tb, env, WithTLS()) })
	if !r.skipped || !strings.Contains(r.msg, "TLS certificates are made for a local process") {
		t.Fatalf("WithTLS without redis-server: skipped=%v msg=%q, want a skip naming TLS", r.skipped, r.msg)
	}
}

func TestPlainServerHasNoTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, RequireProcess())
	if s.TLSConfig() != nil || s.CAFile() != "" || !strings.HasPrefix(s.URL, "redis://") {
		t.Fatalf("plain server: TLSConfig %v, CAFile %q, URL %q", s.TLSConfig(), s.CAFile(), s.URL)
	}
}
