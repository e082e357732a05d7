package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredislib "github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// plantedPassword is a password distinctive enough that finding it in any
// output can only mean it leaked; leakText is in it and in every wrong
// password made from it.
const (
	plantedPassword = "pw-planted-7f3a9c"
	leakText        = "7f3a9c"
)

// tlsServerWithPassword starts a TLS-only Redis that requires
// plantedPassword.
func tlsServerWithPassword(t *testing.T) *redistest.Server {
	t.Helper()
	srv := redistest.Start(t, redistest.WithTLS())
	opt, err := goredislib.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.TLSConfig = srv.TLSConfig()
	admin := goredislib.NewClient(opt)
	defer admin.Close()
	if err := admin.ConfigSet(t.Context(), "requirepass", plantedPassword).Err(); err != nil {
		t.Fatal(err)
	}
	return srv
}

// passwordURL returns srv's rediss:// URL with password in it.
func passwordURL(srv *redistest.Server, password string) string {
	return "rediss://:" + password + "@" + srv.Addr + "/0"
}

// envOf returns a getenv that knows only vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// serving is "jobqueue serve" running in-process.
type serving struct {
	base   string
	stderr *syncBuffer
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs "jobqueue serve" with getenv and args on a free port and
// waits until it names its dashboard.
func startServe(t *testing.T, getenv func(string) string, args ...string) *serving {
	t.Helper()
	return startCommand(t, getenv, "serve", args...)
}

// startCommand runs the subcommand name (serve or dashboard) with getenv
// and args on a free loopback port, unless args give another -addr, and
// waits until it names its dashboard.
func startCommand(t *testing.T, getenv func(string) string, name string, args ...string) *serving {
	t.Helper()
	s := &serving{stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan int, 1)}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: s.stdout, stderr: s.stderr, getenv: getenv}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- env.dispatch(ctx, append([]string{name, "-addr", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	waitFor(t, "the dashboard address", 15*time.Second, func() bool {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("%s exited %d:\n%s", name, code, s.stderr.String())
		default:
		}
		out := s.stderr.String()
		if i := strings.Index(out, "dashboard at "); i >= 0 {
			s.base = strings.TrimSuffix(strings.TrimSpace(strings.SplitN(out[i+len("dashboard at "):], "\n", 2)[0]), "/")
			return true
		}
		return false
	})
	return s
}

// stop ends serve and returns its exit code.
func (s *serving) stop() int {
	s.cancel()
	code := <-s.done
	s.done <- code // for the cleanup
	return code
}

// fetch sends one request and returns the status and everything the
// response said: its headers and body.
func (s *serving) fetch(t *testing.T, method, path string, form url.Values) (int, string) {
	t.Helper()
	code, hdr, body := dashboardCall(t, s, method, path, form, nil)
	var all strings.Builder
	for k, vs := range hdr {
		fmt.Fprintf(&all, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	all.WriteString(body)
	return code, all.String()
}

// TestSecurityServe runs "jobqueue serve" on each Redis adapter with the
// password in REDIS_URL, over TLS trusted through REDIS_CA_FILE, and checks
// that no log line, HTTP response or error quotes the password: while the
// dashboard works, and after Redis goes away.
func TestSecurityServe(t *testing.T) {
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			srv := tlsServerWithPassword(t)
			s := startServe(t, envOf(map[string]string{
				"REDIS_URL":     passwordURL(srv, plantedPassword),
				"REDIS_CA_FILE": srv.CAFile(),
			}), "-backend", kind, "-workers", "2", "-queue", "secret", "-lease-ms", "1000")

			var said []string
			got := func(method, path string, form url.Values, want int) string {
				t.Helper()
				code, text := s.fetch(t, method, path, form)
				if code != want {
					t.Errorf("%s %s: %d, want %d:\n%s", method, path, code, want, text)
				}
				if strings.Contains(text, leakText) {
					t.Errorf("%s %s quotes the password:\n%s", method, path, text)
				}
				said = append(said, text)
				return text
			}
			got("GET", "/", nil, http.StatusOK)
			got("GET", "/assets/app.js", nil, http.StatusOK)
			if st := got("GET", "/stats", nil, http.StatusOK); !strings.Contains(st, "rediss://:xxxxx@"+srv.Addr) {
				t.Errorf("GET /stats does not name the server by its redacted URL:\n%s", st)
			}
			enq := got("POST", "/enqueue", url.Values{"count": {"3"}, "kind": {"email"}}, http.StatusOK)
			got("GET", "/jobs", nil, http.StatusOK)
			if i := strings.Index(enq, `"enqueued":["`); i >= 0 {
				id := strings.SplitN(enq[i+len(`"enqueued":["`):], `"`, 2)[0]
				got("GET", "/jobs/"+id, nil, http.StatusOK)
			} else {
				t.Errorf("POST /enqueue names no job:\n%s", enq)
			}
			got("GET", "/jobs/no-such-job", nil, http.StatusNotFound)
			got("POST", "/jobs/no-such-job/retry", nil, http.StatusNotFound)
			got("POST", "/workers/configure", url.Values{"fail_rate": {"1"}}, http.StatusOK)
			got("POST", "/reclaim", nil, http.StatusOK)
			// serve runs the demo's schedules unless told not to.
			waitFor(t, "the demo's schedules to be recorded", 10*time.Second, func() bool {
				_, text := s.fetch(t, "GET", "/api/schedules", nil)
				return strings.Contains(text, `"name":"heartbeat"`) && strings.Contains(text, `"name":"digest"`)
			})

			srv.Kill(t)
			if down := got("GET", "/stats", nil, http.StatusServiceUnavailable); !strings.Contains(down, "queue unavailable") {
				t.Errorf("GET /stats with Redis gone:\n%s", down)
			}
			got("POST", "/enqueue", url.Values{"count": {"1"}, "kind": {"email"}}, http.StatusServiceUnavailable)
			got("GET", "/jobs", nil, http.StatusServiceUnavailable)
			got("GET", "/api/schedules", nil, http.StatusServiceUnavailable)
			waitFor(t, "the worker pool to log the outage", 15*time.Second, func() bool {
				return strings.Contains(s.stderr.String(), "claim failed")
			})
			if code := s.stop(); code != exitOK {
				t.Errorf("serve exited %d", code)
			}
			log := s.stderr.String() + s.stdout.String()
			if strings.Contains(log, leakText) {
				t.Errorf("serve's output quotes the password:\n%s", log)
			}
			for _, want := range []string{"rediss://:xxxxx@" + srv.Addr, "jobqueue serve: queue unavailable"} {
				if !strings.Contains(log, want) {
					t.Errorf("serve's output lacks %q:\n%s", want, log)
				}
			}
			t.Logf("serve's output:\n%s", log)
		})
	}
}

// TestSecurityRefusedConnections checks the ways a connection to a TLS Redis
// that requires a password can fail, for serve and an inspection
// subcommand on every Redis backend: a wrong password, a certificate
// nobody told the command to trust, a REDIS_CA_FILE that is no certificate
// or given for a plain redis:// URL. Each is an error that says what went
// wrong and never quotes the password.
func TestSecurityRefusedConnections(t *testing.T) {
	srv := tlsServerWithPassword(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, url, caFile, want string
	}{
		{"wrong password", passwordURL(srv, plantedPassword+"-wrong"), srv.CAFile(), "WRONGPASS"},
		{"untrusted certificate", passwordURL(srv, plantedPassword), "", "certificate"},
		{"CA file without a certificate", passwordURL(srv, plantedPassword), notPEM, "holds no PEM certificate"},
		{"CA file for plain redis://", "redis://:" + plantedPassword + "@" + srv.Addr + "/0", srv.CAFile(), "not rediss://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": tc.url, "REDIS_CA_FILE": tc.caFile})}
			for _, kind := range []string{backendAuto, backendGoredis, backendRueidis} {
				for _, args := range [][]string{{"serve", "-addr", "127.0.0.1:0"}, {"stats"}} {
					if kind == backendAuto && tc.name == "untrusted certificate" && args[0] == "serve" {
						// auto takes a server it cannot talk to for an
						// absent one and serves from memory, saying why
						// (TestServeOnMemoryWhenRedisIsAbsent).
						continue
					}
					args = append(args, "-backend", kind, "-queue", "secret")
					r := c.run("", args...)
					out := r.stdout + r.stderr
					if strings.Contains(out, leakText) {
						t.Errorf("%v quotes the password:\n%s", args, out)
					}
					if r.code != exitError || !strings.Contains(out, tc.want) {
						t.Errorf("%v: exit %d, want %d and %q:\n%s", args, r.code, exitError, tc.want, out)
					}
				}
			}
		})
	}
}

// TestSecurityACLUser runs the command as a Redis user limited to one queue's
// keys and channel and refused CLIENT TRACKING, over TLS: both backends must
// connect (rueidis without its client-side cache) and work on that queue.
func TestSecurityACLUser(t *testing.T) {
	srv := tlsServerWithPassword(t)
	opt, err := goredislib.ParseURL(passwordURL(srv, plantedPassword))
	if err != nil {
		t.Fatal(err)
	}
	opt.TLSConfig = srv.TLSConfig()
	admin := goredislib.NewClient(opt)
	defer admin.Close()
	const user, password = "emails-app", "acl-pw-7f3a9c"
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "reset", "on", ">"+password,
		"~queue:{emails}:*", "&queue:{emails}:events", "+@all", "-client|tracking").Err(); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, getenv: envOf(map[string]string{
		"REDIS_URL":     "rediss://" + user + ":" + password + "@" + srv.Addr + "/0",
		"REDIS_CA_FILE": srv.CAFile(),
	})}
	for _, kind := range []string{backendGoredis, backendRueidis} {
		flags := []string{"-backend", kind, "-queue", "emails"}
		c.ok("", append([]string{"enqueue", `{"kind":"email"}`}, flags...)...)
		if out := c.ok("", append([]string{"stats"}, flags...)...); strings.Contains(out, leakText) {
			t.Errorf("%s stats quotes the password:\n%s", kind, out)
		}
		r := c.run("", "stats", "-backend", kind, "-queue", "payments")
		if r.code != exitError || !strings.Contains(r.stderr, "NOPERM") || strings.Contains(r.stdout+r.stderr, leakText) {
			t.Errorf("%s stats on another queue: exit %d\n%s%s", kind, r.code, r.stdout, r.stderr)
		}
	}
}
