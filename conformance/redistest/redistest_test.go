package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// recorder stands in for a test so the skip and failure paths can be
// checked without skipping or failing the real test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) end(skip bool, msg string) {
	r.skipped, r.failed, r.msg = skip, !skip, msg
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any)                 { r.end(true, fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any) { r.end(true, fmt.Sprintf(format, args...)) }
func (r *recorder) SkipNow()                         { r.end(true, "") }
func (r *recorder) Fatal(args ...any)                { r.end(false, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.end(false, fmt.Sprintf(format, args...))
}
func (r *recorder) FailNow() { r.end(false, "") }

// run calls f on its own goroutine, as the testing package does, so that
// Goexit ends f and not the test.
func record(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// noSources is an environment where nothing can provide Redis.
func noSources(require bool) environment {
	return environment{
		require:  require,
		lookPath: func(string) (string, error) { return "", exec.ErrNotFound },
		docker:   func() error { return errors.New("no engine here") },
	}
}

func mustPing(t *testing.T, s *Server) {
	t.Helper()
	if err := s.ping(time.Second); err != nil {
		t.Fatalf("PING %s: %v", s.Addr, err)
	}
}

func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	rc, err := dialRESP(addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer rc.Close()
	reply, err := rc.do(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return reply
}

func TestSharedAnswersPing(t *testing.T) {
	start := time.Now()
	s := Shared(t)
	t.Logf("shared server %s from %s in %v", s.Addr, s.Source, time.Since(start))
	mustPing(t, s)
	if again := Shared(t); again != s {
		t.Fatalf("second Shared call returned %p, want the first server %p", again, s)
	}
	if !strings.HasPrefix(s.URL, "redis") {
		t.Errorf("URL = %q, want a redis:// URL", s.URL)
	}
}

func TestSharedRefusesFaultInjection(t *testing.T) {
	s := Shared(t)
	r := record(t, func(tb testing.TB) { s.Kill(tb) })
	if !r.failed || !strings.Contains(r.msg, "shared server") {
		t.Fatalf("Kill on the shared server: failed=%v msg=%q, want a failure naming the shared server", r.failed, r.msg)
	}
	mustPing(t, s)
}

func TestStartKillRestart(t *testing.T) {
	t.Parallel()
	s := Start(t, RequireProcess(), WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	mustPing(t, s)
	if got := do(t, s.Addr, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %q", got)
	}
	pid := s.PID()
	if pid == 0 {
		t.Fatal("PID() = 0 for a running process")
	}

	s.Kill(t)
	if err := s.ping(200 * time.Millisecond); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if got := s.PID(); got != 0 {
		t.Fatalf("PID() = %d after Kill, want 0", got)
	}
	s.Kill(t) // a second kill of a dead server does nothing

	s.Restart(t)
	mustPing(t, s)
	if got := do(t, s.Addr, "GET", "k"); got != "v" {
		t.Fatalf("GET after crash and restart = %q, want the AOF to keep v", got)
	}
	if got := s.PID(); got == 0 || got == pid {
		t.Fatalf("PID() after Restart = %d, want a new process (old %d)", got, pid)
	}

	s.Stop(t)
	if err := s.ping(200 * time.Millisecond); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Restart(t)
	mustPing(t, s)
	s.Restart(t) // restarting a running server stops it first
	mustPing(t, s)
}

func TestStartDefaultsDoNotPersist(t *testing.T) {
	t.Parallel()
	s := Start(t, RequireProcess())
	if got := do(t, s.Addr, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %q", got)
	}
	s.Restart(t)
	if got := do(t, s.Addr, "EXISTS", "k"); got != "0" {
		t.Fatalf("EXISTS after restart = %q, want 0: the default server must not persist", got)
	}
	if got := do(t, s.Addr, "INFO", "persistence"); !strings.Contains(got, "aof_enabled:0") {
		t.Fatalf("INFO persistence does not show the AOF off:\n%s", got)
	}
}

func TestCleanupStopsProcess(t *testing.T) {
	var pid int
	var dir string
	t.Run("owner", func(t *testing.T) {
		s := Start(t, RequireProcess())
		pid, dir = s.PID(), s.Dir()
		mustPing(t, s)
	})
	if pid == 0 {
		t.Fatal("owner subtest did not get a process")
	}
	proc, err := os.FindProcess(pid)
	if err == nil {
		err = proc.Signal(syscall.Signal(0))
	}
	if err == nil {
		t.Fatalf("process %d still exists after the owning test's cleanup", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory %s still exists after cleanup (stat: %v)", dir, err)
	}
}

func TestEnvURLIsHonoured(t *testing.T) {
	target := Start(t, RequireProcess())
	for _, value := range []string{target.URL, target.Addr} {
		t.Setenv(EnvURL, value)
		var st sharedState
		got := st.get(t, currentEnvironment())
		if got.Source != SourceEnv || got.Addr != target.Addr {
			t.Fatalf("%s=%s: got %s server at %s, want the env server at %s", EnvURL, value, got.Source, got.Addr, target.Addr)
		}
		mustPing(t, got)
		if got.PID() != 0 || got.Dir() != "" {
			t.Fatalf("env server claims a local process: pid %d dir %q", got.PID(), got.Dir())
		}
		r := record(t, func(tb testing.TB) { got.Restart(tb) })
		if !r.failed {
			t.Fatal("Restart on an env server did not fail the test")
		}
	}

	// Start must not hand a shared env server to a test wanting its own.
	own := Start(t)
	if own.Source == SourceEnv || own.Addr == target.Addr {
		t.Fatalf("Start returned %s at %s while %s was set; want a private server", own.Source, own.Addr, EnvURL)
	}
}

func TestEnvURLThatDoesNotAnswerFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	for _, raw := range []string{"redis://" + dead, "http://" + dead, "redis://:6379"} {
		env := noSources(false)
		env.url = raw
		_, err := acquire(env, config{}, true)
		if err == nil || shouldSkip(err, false) {
			t.Fatalf("%s=%s: err=%v skip=%v, want a failure even without %s", EnvURL, raw, err, shouldSkip(err, false), EnvRequire)
		}
		if !strings.Contains(err.Error(), EnvURL) {
			t.Errorf("message does not name %s: %v", EnvURL, err)
		}
	}
}

func TestNoSourceSkipsOrFails(t *testing.T) {
	// A real environment with PATH emptied; only the Docker probe is
	// replaced, because a machine with Docker would otherwise find it.
	t.Setenv("PATH", "")
	t.Setenv(EnvURL, "")
	env := currentEnvironment()
	env.docker = func() error { return errors.New("no engine here") }

	_, err := acquire(env, config{}, true)
	if err == nil {
		t.Fatal("acquire found a server with nothing available")
	}
	for _, want := range []string{EnvURL + ": not set", "Docker: no engine here", serverBinary + ": not found on PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	if !shouldSkip(err, false) {
		t.Errorf("shouldSkip(_, require=false) = false, want a skip")
	}
	if shouldSkip(err, true) {
		t.Errorf("shouldSkip(_, require=true) = true, want a failure")
	}

	for _, require := range []bool{false, true} {
		env.require = require
		r := record(t, func(tb testing.TB) { start(tb, env) })
		if r.skipped == require || r.failed != require {
			t.Errorf("require=%v: skipped=%v failed=%v, msg %q", require, r.skipped, r.failed, r.msg)
		}
		if require && !strings.Contains(r.msg, EnvRequire) {
			t.Errorf("failure under %s does not say why: %q", EnvRequire, r.msg)
		}
		var st sharedState
		r = record(t, func(tb testing.TB) { st.get(tb, env) })
		if r.skipped == require || r.failed != require {
			t.Errorf("shared, require=%v: skipped=%v failed=%v, msg %q", require, r.skipped, r.failed, r.msg)
		}
	}
}

func TestRequireProcessDoesNotTakeContainer(t *testing.T) {
	env := noSources(false)
	env.url = "redis://127.0.0.1:1"
	env.docker = func() error {
		t.Error("Docker was probed for a test that needs a process")
		return nil
	}
	_, err := acquire(env, config{requireProcess: true}, false)
	if !shouldSkip(err, false) {
		t.Fatalf("err=%v, want a skip", err)
	}
	for _, want := range []string{"shared by every test", "Docker: not tried", serverBinary + ": not found"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
}

func TestBrokenServerFailsWithLogTail(t *testing.T) {
	if _, err := exec.LookPath(serverBinary); err != nil {
		t.Skip("needs " + serverBinary)
	}
	r := record(t, func(tb testing.TB) { Start(tb, WithArgs("--no-such-directive", "x")) })
	if !r.failed {
		t.Fatalf("Start with a bad directive: skipped=%v, want a failure", r.skipped)
	}
	if !strings.Contains(r.msg, "no-such-directive") || !strings.Contains(r.msg, "redis.log") {
		t.Fatalf("failure message lacks the log path or tail:\n%s", r.msg)
	}
	if dir, _, ok := strings.Cut(r.msg, "/redis.log"); ok {
		if i := strings.LastIndex(dir, " "); i >= 0 {
			os.RemoveAll(dir[i+1:])
		}
	}
}

func TestReadyChecksProcessID(t *testing.T) {
	s := Start(t, RequireProcess())
	if err := readyAs(s.Addr, s.PID(), time.Second); err != nil {
		t.Fatalf("readyAs with the right pid: %v", err)
	}
	if err := readyAs(s.Addr, s.PID()+1, time.Second); err == nil {
		t.Fatal("readyAs accepted a server with another pid")
	}
}

func TestDockerProbeIsCheap(t *testing.T) {
	start := time.Now()
	err := dockerAnswers()
	t.Logf("Docker probe: %v after %v", err, time.Since(start))
}
