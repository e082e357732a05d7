package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// dashboardCall sends one request to a running dashboard command, with
// edit to set what a test needs (credentials, Host), and returns the
// status, the headers and the body.
func dashboardCall(t *testing.T, s *serving, method, path string, form url.Values, edit func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// redisQueues opens queues of the given names on the shared Redis, as
// another process would, and returns them with the getenv that points the
// command at that Redis.
func redisQueues(t *testing.T, names ...string) ([]*jobqueue.Queue, func(string) string) {
	t.Helper()
	b, getenv := redisStore(t, redistest.Shared(t))
	qs := make([]*jobqueue.Queue, len(names))
	for i, name := range names {
		var err error
		if qs[i], err = jobqueue.New(b, name); err != nil {
			t.Fatal(err)
		}
	}
	return qs, getenv
}

// redisStore returns a backend on srv, as another process would have,
// and the getenv that points the command at srv.
func redisStore(t *testing.T, srv *redistest.Server) (backend.Backend, func(string) string) {
	t.Helper()
	ob, err := openBackend(context.Background(), backendGoredis, srv.URL, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ob.Close)
	return ob.Backend, envOf(map[string]string{"REDIS_URL": srv.URL})
}

// TestDashboardCommand serves two queues of a real Redis with "jobqueue
// dashboard": read-only by default, changing them with -actions.
func TestDashboardCommand(t *testing.T) {
	a, b := fmt.Sprintf("dash-a-%d", time.Now().UnixNano()), fmt.Sprintf("dash-b-%d", time.Now().UnixNano())
	qs, getenv := redisQueues(t, a, b)
	ctx := context.Background()
	for i, q := range qs {
		for range i + 1 {
			if _, err := q.Enqueue(ctx, map[string]any{"to": "ada@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
	}

	s := startCommand(t, getenv, "dashboard", "-queue", a, "-queue", b)
	if out := s.stderr.String(); !strings.Contains(out, "read-only") || !strings.Contains(out, "Redis at ") {
		t.Errorf("stderr does not say read-only and which Redis:\n%s", out)
	}
	code, _, body := dashboardCall(t, s, http.MethodGet, "/api/overview", nil, nil)
	var ov struct {
		Queues []struct {
			Name  string
			Depth struct{ Pending int }
		}
		ReadOnly bool `json:"read_only"`
	}
	if err := json.Unmarshal([]byte(body), &ov); err != nil || code != http.StatusOK {
		t.Fatalf("overview: %d %s (%v)", code, body, err)
	}
	if len(ov.Queues) != 2 || ov.Queues[0].Name != a || ov.Queues[1].Name != b || ov.Queues[0].Depth.Pending != 1 || ov.Queues[1].Depth.Pending != 2 || !ov.ReadOnly {
		t.Fatalf("overview: %+v", ov)
	}
	code, _, body = dashboardCall(t, s, http.MethodPost, "/api/pause", url.Values{"queue": {a}}, nil)
	if code != http.StatusForbidden {
		t.Fatalf("pause on a read-only dashboard: %d %s", code, body)
	}
	if st, _ := qs[0].Stats(ctx); st.Paused {
		t.Fatal("a read-only dashboard paused the queue")
	}
	if code := s.stop(); code != exitOK {
		t.Fatalf("dashboard exited %d", code)
	}

	s = startCommand(t, getenv, "dashboard", "-queue", a, "-actions")
	code, _, body = dashboardCall(t, s, http.MethodPost, "/api/pause", url.Values{"queue": {a}}, nil)
	if code != http.StatusOK {
		t.Fatalf("pause with -actions: %d %s", code, body)
	}
	if st, _ := qs[0].Stats(ctx); !st.Paused {
		t.Fatal("-actions: the queue is not paused")
	}
	if err := qs[0].Resume(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCommandAuth: serve and dashboard follow one rule. Beyond loopback
// they refuse to serve without authentication; with it, a request without
// the credentials gets 401 and a challenge; and whatever the address, a
// Host that is not a loopback name, an IP address or one given to -host
// gets 403 (DNS rebinding), on 0.0.0.0 too.
func TestCommandAuth(t *testing.T) {
	name := fmt.Sprintf("dash-auth-%d", time.Now().UnixNano())
	_, redisEnv := redisQueues(t, name)
	env := func(vars map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := vars[k]; ok {
				return v
			}
			return redisEnv(k)
		}
	}
	for _, cmd := range []struct {
		args  []string // the command and its flags, but -addr and -host
		paths []string // what a browser and a script would get
	}{
		{[]string{"dashboard", "-queue", name}, []string{"/", "/api/overview"}},
		{[]string{"serve", "-queue", name, "-schedules=false"}, []string{"/", "/assets/app.js", "/stats", "/api/jobs"}},
	} {
		t.Run(cmd.args[0], func(t *testing.T) {
			r := refused(t, env(nil), append(cmd.args, "-addr", "0.0.0.0:0")...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "refusing to serve") || !strings.Contains(r.stderr, envDashboardToken) || !strings.Contains(r.stderr, envDashboardAuth) {
				t.Fatalf("beyond loopback without authentication: exit %d, stderr %q", r.code, r.stderr)
			}
			if r := refused(t, env(map[string]string{envDashboardAuth: "no-colon"}), cmd.args...); r.code != exitUsage || !strings.Contains(r.stderr, "user:password") {
				t.Fatalf("%s without a colon: exit %d, stderr %q", envDashboardAuth, r.code, r.stderr)
			}
			if r := refused(t, env(map[string]string{envDashboardToken: "tok-a"}), append(cmd.args, "-token", "tok-b")...); r.code != exitUsage || !strings.Contains(r.stderr, "disagree") {
				t.Fatalf("-token and %s disagreeing: exit %d, stderr %q", envDashboardToken, r.code, r.stderr)
			}

			// Loopback without authentication: no credentials needed, but
			// the Host check holds.
			s := startCommand(t, env(nil), cmd.args[0], append(cmd.args[1:], "-host", "jobs.internal.example")...)
			for _, path := range cmd.paths {
				if code, _, body := dashboardCall(t, s, http.MethodGet, path, nil, nil); code != http.StatusOK {
					t.Errorf("loopback, GET %s: %d %s", path, code, body)
				}
				if code, _, body := dashboardCall(t, s, http.MethodGet, path, nil, func(r *http.Request) { r.Host = "rebind.attacker.example" }); code != http.StatusForbidden {
					t.Errorf("loopback, GET %s from a rebinding page's host: %d %s", path, code, body)
				}
			}
			s.stop()

			s = startCommand(t, env(map[string]string{envDashboardToken: "tok-3e1f", envDashboardAuth: "ops:pw-9d2c"}),
				cmd.args[0], append(cmd.args[1:], "-addr", "0.0.0.0:0", "-host", "jobs.internal.example")...)
			bearer := func(tok string) func(*http.Request) {
				return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
			}
			basic := func(user, pass string) func(*http.Request) {
				return func(r *http.Request) { r.SetBasicAuth(user, pass) }
			}
			for _, tc := range []struct {
				what string
				edit func(*http.Request)
				want int
			}{
				{"no credentials", nil, http.StatusUnauthorized},
				{"a wrong token", bearer("tok-wrong"), http.StatusUnauthorized},
				{"the token", bearer("tok-3e1f"), http.StatusOK},
				{"the token as a basic-auth password", basic("anyone", "tok-3e1f"), http.StatusOK},
				{"the basic-auth user and password", basic("ops", "pw-9d2c"), http.StatusOK},
				{"a wrong password", basic("ops", "pw-wrong"), http.StatusUnauthorized},
				{"the password of another user", basic("eve", "pw-9d2c"), http.StatusUnauthorized},
				{"the token, from a rebinding page's host", func(r *http.Request) { bearer("tok-3e1f")(r); r.Host = "rebind.attacker.example" }, http.StatusForbidden},
				// Refused for its host before its credentials are asked
				// for: a rebinding page gets no login prompt.
				{"no credentials, from a rebinding page's host", func(r *http.Request) { r.Host = "rebind.attacker.example" }, http.StatusForbidden},
				{"the token, to an allowed host", func(r *http.Request) { bearer("tok-3e1f")(r); r.Host = "jobs.internal.example:8799" }, http.StatusOK},
			} {
				for _, path := range cmd.paths {
					code, hdr, body := dashboardCall(t, s, http.MethodGet, path, nil, tc.edit)
					if code != tc.want {
						t.Errorf("%s, GET %s: %d %s, want %d", tc.what, path, code, body, tc.want)
					}
					if code == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
						t.Errorf("%s: 401 without a basic-auth challenge: %v", tc.what, hdr)
					}
					if hdr.Get("Content-Security-Policy") == "" || hdr.Get("Cache-Control") != "no-store" {
						t.Errorf("%s, GET %s: %d without the pages' security headers: %v", tc.what, path, code, hdr)
					}
					if code != http.StatusOK && strings.Contains(body, name) {
						t.Errorf("%s: a refusal names the queue: %s", tc.what, body)
					}
				}
			}
			// A change needs the credentials too.
			if code, _, body := dashboardCall(t, s, http.MethodPost, "/api/reset", url.Values{}, nil); cmd.args[0] == "serve" && code != http.StatusUnauthorized {
				t.Errorf("POST /api/reset without credentials: %d %s", code, body)
			}
		})
	}
	if r := refused(t, env(nil), "dashboard", "-queue", name, "-backend", "memory"); r.code != exitUsage || !strings.Contains(r.stderr, "kept in Redis") {
		t.Fatalf("dashboard -backend memory: exit %d, stderr %q", r.code, r.stderr)
	}
}

// refused runs a command that should refuse to start, and returns what it
// printed; one that starts serving instead is stopped, failing the test.
func refused(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: getenv}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- env.dispatch(ctx, args) }()
	for {
		select {
		case code := <-done:
			return result{code, out.String(), errOut.String()}
		case <-time.After(20 * time.Millisecond):
			if strings.Contains(errOut.String(), "dashboard at ") {
				cancel()
				<-done
				t.Fatalf("jobqueue %s served instead of refusing:\n%s", strings.Join(args, " "), errOut.String())
			}
		}
	}
}
