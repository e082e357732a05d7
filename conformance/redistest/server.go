package redistest

import (
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Server is a Redis server obtained for a test.
type Server struct {
	// Addr is the server's host:port, for dialing without a client library.
	Addr string
	// URL is the server as a redis:// (or rediss://) URL, carrying any
	// credentials and database number; clients are built from it.
	URL string
	// Source says where the server came from.
	Source Source

	shared   bool
	auth     []string // the AUTH command the URL implies, for ping
	proc     *process
	ctr      *tcredis.RedisContainer
	stopOnce sync.Once
}

// PID returns the process id of a local redis-server, or 0 when the server
// is not a process redistest started or is not running.
func (s *Server) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}

// Dir returns the working directory (RDB and AOF files) of a local
// redis-server, or "" for other sources.
func (s *Server) Dir() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.dir
}

// LogPath returns the file that receives a local redis-server's output across
// restarts, or "" for other sources.
func (s *Server) LogPath() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.logPath
}

// Kill sends SIGKILL to a local redis-server and waits until it is gone, to
// simulate a crash: nothing is flushed and clients see their connections
// drop. Killing a stopped server does nothing. On a server that is shared or
// not a local process, Kill calls t.Fatal.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mustOwnProcess(t, "Kill").kill()
}

// Stop shuts a local redis-server down gracefully (SIGTERM, so an AOF is
// fsynced), and kills it if it has not exited within 10 seconds.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mustOwnProcess(t, "Stop").stop(10 * time.Second)
}

// Restart brings a local redis-server back on the same port, in the same
// directory, with the same arguments, stopping it gracefully first if it is
// running; data survives when the arguments enable persistence. It returns
// once the server answers PING, and fails the test if it does not.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	p := s.mustOwnProcess(t, "Restart")
	p.stop(10 * time.Second)
	if err := p.relaunch(); err != nil {
		t.Fatal(err.Error())
	}
}

func (s *Server) mustOwnProcess(t testing.TB, op string) *process {
	t.Helper()
	switch {
	case s.shared:
		t.Fatalf("redistest: %s on the shared server would break every other test; use Start(t, RequireProcess())", op)
	case s.proc == nil:
		t.Fatalf("redistest: %s needs a local %s, but this server is a %s; use Start(t, RequireProcess())", op, serverBinary, s.Source)
	}
	return s.proc
}

// ping checks that the server answers, with the credentials of its URL.
func (s *Server) ping(timeout time.Duration) error {
	var tc *tls.Config
	if s.proc != nil {
		tc = s.proc.tls.clientConfig()
	}
	return ping(s.Addr, tc, s.auth, timeout)
}

// shutdown releases whatever the server holds; it is safe to call twice.
func (s *Server) shutdown() {
	s.stopOnce.Do(func() {
		if s.proc != nil {
			s.proc.kill()
			_ = os.RemoveAll(s.proc.dir)
		}
		if s.ctr != nil {
			_ = testcontainers.TerminateContainer(s.ctr)
		}
		untrack(s)
	})
}

// fromURL describes the server named by JOBQUEUE_REDIS_URL and checks that
// it answers, so a wrong setting is reported once, clearly, instead of as a
// connection error in every test.
func fromURL(raw string) (*Server, error) {
	if !strings.Contains(raw, "://") {
		raw = "redis://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errorf("%s: %v", EnvURL, err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, errorf("%s: scheme %q, want redis or rediss", EnvURL, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errorf("%s: no host in %q", EnvURL, u.Redacted())
	}
	if port == "" {
		port = "6379"
	}
	s := &Server{Addr: net.JoinHostPort(host, port), URL: raw, Source: SourceEnv, shared: true}
	// A TLS server cannot be pinged without its certificates; the client
	// will report it.
	if pw, ok := u.User.Password(); ok {
		s.auth = []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			s.auth = []string{"AUTH", name, pw}
		}
	}
	if u.Scheme == "redis" {
		if err := s.ping(2 * time.Second); err != nil {
			return nil, errorf("%s=%s does not answer: %v", EnvURL, u.Redacted(), err)
		}
	}
	return s, nil
}
