// Package redistest gives tests a real Redis server, and is the only place
// in the project that knows how that server was obtained.
//
// There are two ways to ask for one:
//
//   - [Shared] returns one server per test binary, started on first use. Tests
//     that only need "a Redis" use it and isolate themselves by queue name;
//     they never flush it, so they can run in parallel.
//   - [Start] returns a server that belongs to one test and is stopped by its
//     cleanup. Tests that change server-wide state or inject faults ([Server.Kill],
//     [Server.Restart]) use it.
//
// [Shared] tries these sources in order and takes the first that works:
//
//  1. the server named by JOBQUEUE_REDIS_URL (redis://[user:password@]host:port[/db],
//     rediss:// or a bare host:port). When it is set and does not answer,
//     the test fails: an explicit setting is never silently replaced.
//  2. a Redis container started with testcontainers, when a Docker engine
//     answers a ping within a second.
//  3. a redis-server found on PATH, started on a free 127.0.0.1 port with its
//     own temporary directory and no persistence (--save "" --appendonly no).
//
// [Start] never uses JOBQUEUE_REDIS_URL, because that server is shared by
// every test: it starts a local redis-server when one is on PATH, else a
// container. With [RequireProcess] it accepts only a local redis-server,
// since fault injection needs a process it can signal. With [WithTLS] the
// server speaks TLS only (rediss://), with a certificate authority made for
// it alone, which [Server.TLSConfig] and [Server.CAFile] give to clients.
//
// [StartCluster] and [StartSentinel] give a test a topology of its own, made
// of local redis-server processes only: a Redis Cluster of three masters
// with one replica each, or a master and replica watched by three
// Sentinels. Their timeouts are short, so a master killed with
// [Server.Kill] is failed over in a few seconds, and they can tell which
// node holds a key or is master now, wait for replication, and wait for a
// failover to settle.
//
// When no source gives a server the test is skipped with the reason each
// source gave, or fails when JOBQUEUE_REQUIRE_REDIS is true ("1", "true"),
// which CI sets so that a missing Redis cannot turn into a green run. If a
// source was present but broken on the way (a redis-server that would not
// start, a container that would not run), the test fails even without
// JOBQUEUE_REQUIRE_REDIS: that is a fault to fix, not a tool to install.
//
// Local servers listen on 127.0.0.1 only and write their output to a log in
// their directory; a start that fails reports the log's path and its tail.
//
// Processes are started with a parent-death signal (SIGKILL, Linux), so they
// never outlive the test binary, and a package that calls [Shared] should
// stop the shared server when its tests end by using [Main] in its TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
package redistest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// EnvURL names the environment variable that points every shared use at an
// existing Redis server.
const EnvURL = "JOBQUEUE_REDIS_URL"

// EnvRequire names the environment variable that, when true, turns "no Redis
// available" from a skip into a test failure.
const EnvRequire = "JOBQUEUE_REQUIRE_REDIS"

// serverBinary is the program looked up on PATH for local servers.
const serverBinary = "redis-server"

// Source says where a Server came from.
type Source int

const (
	// SourceEnv is a server named by JOBQUEUE_REDIS_URL; redistest did not
	// start it and cannot stop it.
	SourceEnv Source = iota + 1
	// SourceContainer is a Redis container started with testcontainers.
	SourceContainer
	// SourceProcess is a redis-server process started by redistest.
	SourceProcess
)

// String returns the name used for the source in messages.
func (s Source) String() string {
	switch s {
	case SourceEnv:
		return EnvURL
	case SourceContainer:
		return "container"
	case SourceProcess:
		return serverBinary
	default:
		return "Source(" + strconv.Itoa(int(s)) + ")"
	}
}

// Option configures a server started by Start.
type Option func(*config)

type config struct {
	args           []string
	requireProcess bool
	tls            bool
}

// WithArgs appends redis-server command-line arguments, for example
// WithArgs("--appendonly", "yes"). They come after the defaults, so they
// override them, and they are kept for Restart.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// RequireProcess makes Start accept only a local redis-server process, which
// Kill, Stop, Restart and PID need. Without redis-server on PATH the test is
// skipped (or fails under JOBQUEUE_REQUIRE_REDIS) instead of getting a
// container it could not fault-inject.
func RequireProcess() Option {
	return func(c *config) { c.requireProcess = true }
}

// environment is everything the choice of source depends on, gathered in one
// value so tests can replace it.
type environment struct {
	url      string
	require  bool
	lookPath func(file string) (string, error)
	docker   func() error
}

func currentEnvironment() environment {
	require, _ := strconv.ParseBool(os.Getenv(EnvRequire))
	return environment{
		url:      os.Getenv(EnvURL),
		require:  require,
		lookPath: exec.LookPath,
		docker:   dockerAnswers,
	}
}

// noRedisError lists every source that was considered and why it gave no
// server.
type noRedisError struct {
	tried []string
	// broken records that a source was present but failed, which is a fault
	// of the environment rather than a missing tool, so it is never skipped.
	broken bool
}

func (e *noRedisError) note(src, reason string) {
	e.tried = append(e.tried, src+": "+strings.TrimPrefix(reason, "redistest: "))
}

func (e *noRedisError) Error() string {
	what := "no Redis server available (set " + EnvURL + ", start Docker or install " + serverBinary + ")"
	if e.broken {
		what = "could not get a Redis server"
	}
	return "redistest: " + what + "; tried:\n\t" + strings.Join(e.tried, "\n\t")
}

// shouldSkip reports whether an acquisition error skips the test rather than
// failing it.
func shouldSkip(err error, require bool) bool {
	var nr *noRedisError
	return errors.As(err, &nr) && !nr.broken && !require
}

// report ends the test because err left it without a server.
func report(t testing.TB, err error, require bool) {
	t.Helper()
	if shouldSkip(err, require) {
		t.Skip(err.Error())
	}
	msg := err.Error()
	var nr *noRedisError
	if require && errors.As(err, &nr) && !nr.broken {
		msg += "\n" + EnvRequire + " is set, so a missing Redis is a failure"
	}
	t.Fatal(msg)
}

// acquire walks the sources in the order the package documentation gives and
// returns the first server that answers.
func acquire(env environment, cfg config, shared bool) (*Server, error) {
	nr := &noRedisError{}
	if shared {
		if env.url == "" {
			nr.note(EnvURL, "not set")
		} else {
			s, err := fromURL(env.url)
			if err != nil {
				nr.note(EnvURL, err.Error())
				nr.broken = true
				return nil, nr
			}
			return s, nil
		}
	} else if env.url != "" {
		nr.note(EnvURL, "set, but it is shared by every test and this test needs a server of its own")
	}

	tryContainer := func() *Server {
		if cfg.requireProcess {
			why := "this test needs a local process it can signal"
			if cfg.tls {
				why = "the TLS certificates are made for a local process"
			}
			nr.note("Docker", "not tried: "+why)
			return nil
		}
		if err := env.docker(); err != nil {
			nr.note("Docker", err.Error())
			return nil
		}
		s, err := startContainer(cfg.args)
		if err != nil {
			nr.note("Docker", "engine answers, but the Redis container did not start: "+err.Error())
			nr.broken = true
			return nil
		}
		return s
	}
	tryProcess := func() *Server {
		bin, err := env.lookPath(serverBinary)
		if err != nil {
			nr.note(serverBinary, "not found on PATH")
			return nil
		}
		p, err := startProcessSpec(bin, processSpec{args: cfg.args, tls: cfg.tls})
		if err != nil {
			nr.note(serverBinary, err.Error())
			nr.broken = true
			return nil
		}
		return p.server()
	}

	// Shared prefers a container because it matches a production Redis more
	// closely; private servers prefer a process because it starts in
	// milliseconds and can be killed and restarted on the same port.
	order := []func() *Server{tryProcess, tryContainer}
	if shared {
		order = []func() *Server{tryContainer, tryProcess}
	}
	for _, try := range order {
		if s := try(); s != nil {
			return s, nil
		}
	}
	return nil, nr
}

// sharedState holds the lazily started per-binary server.
type sharedState struct {
	once sync.Once
	srv  *Server
	err  error
}

var shared sharedState

// Shared returns the test binary's shared server, starting it on first use.
// Tests using it must not flush it or change its configuration; they
// isolate themselves by queue name. It is stopped by Main, or killed with the
// test binary when a package has no TestMain.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.get(t, currentEnvironment())
}

func (st *sharedState) get(t testing.TB, env environment) *Server {
	t.Helper()
	st.once.Do(func() {
		st.srv, st.err = acquire(env, config{}, true)
		if st.srv != nil {
			st.srv.shared = true
			track(st.srv)
		}
	})
	if st.err != nil {
		report(t, st.err, env.require)
	}
	return st.srv
}

// Start returns a server owned by t and stopped in t's cleanup, so the test
// may change its configuration, kill it or restart it. When t has failed, the
// cleanup logs the tail of the server's log.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return start(t, currentEnvironment(), opts...)
}

func start(t testing.TB, env environment, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s, err := acquire(env, cfg, false)
	if err != nil {
		report(t, err, env.require)
		return nil
	}
	track(s)
	t.Cleanup(func() {
		if t.Failed() && s.proc != nil {
			t.Logf("redistest: tail of %s:\n%s", s.proc.logPath, s.proc.tail(0))
		}
		s.shutdown()
	})
	return s
}

// Main runs the tests and stops the shared server before exiting; a package
// that uses Shared calls it from TestMain.
func Main(m *testing.M) {
	os.Exit(RunMain(m))
}

// RunMain runs the tests, stops every server redistest still owns and returns
// the exit code, for a TestMain that has more to do (a leak check, say)
// before calling os.Exit.
func RunMain(m *testing.M) int {
	code := m.Run()
	stopAll()
	return code
}

// live holds every server that has a process or container to stop.
var live struct {
	mu      sync.Mutex
	servers map[*Server]struct{}
}

func track(s *Server) {
	if s.proc == nil && s.ctr == nil {
		return
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.servers == nil {
		live.servers = make(map[*Server]struct{})
	}
	live.servers[s] = struct{}{}
}

func untrack(s *Server) {
	live.mu.Lock()
	defer live.mu.Unlock()
	delete(live.servers, s)
}

func stopAll() {
	live.mu.Lock()
	servers := make([]*Server, 0, len(live.servers))
	for s := range live.servers {
		servers = append(servers, s)
	}
	live.mu.Unlock()
	for _, s := range servers {
		s.shutdown()
	}
}

// errorf builds the package's error messages.
func errorf(format string, args ...any) error {
	return fmt.Errorf("redistest: "+format, args...)
}
