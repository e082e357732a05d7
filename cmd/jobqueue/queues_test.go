package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/dashboard"
)

// ownRedis starts a Redis of the test's own, whose registry of queues
// holds only what the test registers (see redisStore).
func ownRedis(t *testing.T) (backend.Backend, func(string) string) {
	t.Helper()
	return redisStore(t, redistest.Start(t))
}

// registerQueues enqueues to each of names through a Queue value of its
// own, and waits until each is registered.
func registerQueues(t *testing.T, b backend.Backend, names ...string) map[string]*jobqueue.Queue {
	t.Helper()
	qs := map[string]*jobqueue.Queue{}
	for _, name := range names {
		q, err := jobqueue.New(b, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(context.Background(), map[string]any{"to": "ada@example.com"}); err != nil {
			t.Fatal(err)
		}
		qs[name] = q
	}
	waitFor(t, "the registrations", 10*time.Second, func() bool {
		entries, err := jobqueue.Queues(context.Background(), b)
		return err == nil && len(entries) >= len(names) && !slices.ContainsFunc(names, func(n string) bool {
			return !slices.ContainsFunc(entries, func(e jobqueue.QueueEntry) bool { return e.Name == n })
		})
	})
	return qs
}

// TestQueuesCommand lists the queues registered in a Redis of its own,
// as a table that fits 80 columns and as JSON, naming the store; forgets
// one, which keeps its jobs; and refuses what it cannot do with the exit
// codes of every command.
func TestQueuesCommand(t *testing.T) {
	ctx := context.Background()
	b, getenv := ownRedis(t)
	c := &cli{t: t, getenv: getenv}

	r := c.run("", "queues")
	if r.code != exitOK || !strings.Contains(r.stdout, "no queue registered") || !strings.Contains(r.stderr, "Redis at ") {
		t.Fatalf("an empty registry: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	long := strings.Repeat("l", backend.MaxQueueNameLen)
	qs := registerQueues(t, b, "reports", "emails", long)
	emails := qs["emails"]
	if _, err := emails.EnqueueBatch(ctx, []any{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	jobs, err := emails.Claim(ctx, 2, 0)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if err := jobs[1].Fail(ctx, jobqueue.Permanent(errors.New("550"))); err != nil {
		t.Fatal(err)
	}
	if err := qs["reports"].Pause(ctx); err != nil {
		t.Fatal(err)
	}

	r = c.run("", "queues")
	if r.code != exitOK || !strings.Contains(r.stderr, "the registry of queues on Redis at ") {
		t.Fatalf("queues: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("a line of %d columns:\n%s", n, r.stdout)
		}
	}
	if !strings.HasPrefix(lines[0], "QUEUE") || !strings.Contains(lines[0], "PROCESSING") || !strings.Contains(lines[0], "LAST SEEN") {
		t.Fatalf("header %q", lines[0])
	}
	emailsRow := strings.Fields(lines[1])
	if len(emailsRow) < 6 || emailsRow[0] != "emails" || emailsRow[1] != "2" || emailsRow[2] != "1" || emailsRow[3] != "1" || emailsRow[4] != "running" {
		t.Errorf("the row of emails, first by name: %q\n%s", lines[1], r.stdout)
	}
	if !strings.Contains(r.stdout, "reports") || !strings.Contains(r.stdout, "paused") || !strings.Contains(r.stdout, "ago") {
		t.Errorf("no paused row of reports, or no last seen:\n%s", r.stdout)
	}

	r = c.run("", "queues", "--json")
	var list struct {
		Redis  string     `json:"redis"`
		Queues []queueRow `json:"queues"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != exitOK || r.stderr != "" {
		t.Fatalf("queues --json: exit %d, %v\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	var names []string
	for _, q := range list.Queues {
		names = append(names, q.Name)
	}
	if !strings.HasPrefix(list.Redis, "redis://127.0.0.1:") || !slices.Equal(names, []string{"emails", long, "reports"}) {
		t.Fatalf("queues --json: store %q, queues %q", list.Redis, names)
	}
	if e := list.Queues[0]; e.Pending != 2 || e.Processing != 1 || e.Dead != 1 || e.Paused || time.Since(e.LastSeen) > time.Minute {
		t.Errorf("emails in JSON: %+v", e)
	}
	if !list.Queues[2].Paused {
		t.Errorf("reports in JSON is not paused: %+v", list.Queues[2])
	}

	r = c.run("", "queues", "-forget", "reports")
	if r.code != exitOK || !strings.Contains(r.stdout, `forgot queue "reports"`) || !strings.Contains(r.stderr, "registers it again") {
		t.Fatalf("-forget reports: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	entries, err := jobqueue.Queues(ctx, b)
	if err != nil || slices.ContainsFunc(entries, func(e jobqueue.QueueEntry) bool { return e.Name == "reports" }) {
		t.Fatalf("after -forget: %v %v", entries, err)
	}
	if st, err := qs["reports"].Stats(ctx); err != nil || st.Pending != 1 || !st.Paused {
		t.Errorf("the forgotten queue lost something: %+v %v", st, err)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-forget", "reports"}, exitError, `no queue "reports" is registered`},
		{[]string{"-forget", "a b"}, exitUsage, "-forget"},
		{[]string{"extra"}, exitUsage, "no arguments"},
		{[]string{"-backend", "memory"}, exitUsage, "kept in Redis"},
		{[]string{"-nope"}, exitUsage, "-nope"},
	} {
		r := c.run("", append([]string{"queues"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("queues %q: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, r.code, tc.code, tc.want, r.stdout, r.stderr)
		}
	}
	r = c.run("", "queues", "--json", "-forget", "nope")
	var line map[string]string
	if err := json.Unmarshal([]byte(r.stderr), &line); err != nil || r.code != exitError || !strings.Contains(line["error"], "nope") || line["redis"] == "" {
		t.Errorf("queues --json -forget nope: exit %d, stderr %q (%v)", r.code, r.stderr, err)
	}
}

// TestDashboardDiscovers serves "jobqueue dashboard" without -queue: it
// shows every queue registered in the store, by name, and says so.
func TestDashboardDiscovers(t *testing.T) {
	b, getenv := ownRedis(t)
	registerQueues(t, b, "orders", "invoices")
	s := startCommand(t, getenv, "dashboard")
	if out := s.stderr.String(); !strings.Contains(out, "every queue registered in the store (2 now)") || !strings.Contains(out, "Redis at ") {
		t.Errorf("stderr does not say it discovers, and where:\n%s", out)
	}
	code, _, body := dashboardCall(t, s, http.MethodGet, "/api/overview", nil, nil)
	var ov struct{ Queues []struct{ Name string } }
	if err := json.Unmarshal([]byte(body), &ov); err != nil || code != http.StatusOK {
		t.Fatalf("overview: %d %s (%v)", code, body, err)
	}
	if len(ov.Queues) != 2 || ov.Queues[0].Name != "invoices" || ov.Queues[1].Name != "orders" {
		t.Fatalf("overview: %+v, want invoices and orders", ov.Queues)
	}
}

// TestQueuesCommandUnreadableQueue lists the registry as a user whose ACL
// grants it and one queue's keys, not another's: the other queue is
// listed as unreadable, with why, and the exit code is 1; the readable
// one has its counts.
func TestQueuesCommandUnreadableQueue(t *testing.T) {
	srv := redistest.Start(t, redistest.RequireProcess())
	b, _ := redisStore(t, srv)
	registerQueues(t, b, "tenant-a", "tenant-b")
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	if err := raw.Do(context.Background(), "ACL", "SETUSER", "tenant", "on", ">pw-a", "~queue:{tenant-a}:*", "~jobqueue:queues", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": "redis://tenant:pw-a@" + srv.Addr + "/0"})}
	r := c.run("", "queues", "--json")
	var got queuesJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitError || len(got.Queues) != 2 {
		t.Fatalf("queues as a user of one queue: %+v, %v; want both listed, exit 1", r, err)
	}
	a, other := got.Queues[0], got.Queues[1]
	if a.Name != "tenant-a" || a.Error != "" || a.Pending != 1 {
		t.Errorf("the readable queue: %+v", a)
	}
	if other.Name != "tenant-b" || !strings.Contains(other.Error, "NOPERM") || !strings.Contains(r.stderr, "tenant-b") {
		t.Errorf("the unreadable queue: %+v, stderr %q", other, r.stderr)
	}
	r = c.run("", "queues")
	if r.code != exitError || !strings.Contains(r.stdout, "unreadable") || !strings.Contains(r.stdout, "tenant-a") {
		t.Errorf("the table: %+v", r)
	}

	// A dashboard that discovers queues as that user: the other queue is
	// not readable, which is no outage: no start, and 403 when opened.
	tb, err := openBackend(context.Background(), backendGoredis, "redis://tenant:pw-a@"+srv.Addr+"/0", "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.Close)
	ts := httptest.NewServer(dashboard.New(nil, dashboard.Discover(tb.Backend)))
	t.Cleanup(ts.Close)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	code, body := get("/api/overview")
	qs, _ := body["queues"].([]any)
	if code != http.StatusOK || len(qs) != 2 {
		t.Fatalf("the overview as a user of one queue: %d %v", code, body)
	}
	row := qs[1].(map[string]any)
	if msg, _ := row["error"].(string); row["name"] != "tenant-b" || !strings.Contains(msg, "NOPERM") || row["since"] != nil {
		t.Errorf("the unreadable queue in the overview: %v; want its NOPERM, and no outage start", row)
	}
	if code, body := get("/api/queue?queue=tenant-b"); code != http.StatusForbidden {
		t.Errorf("the unreadable queue opened: %d %v, want 403", code, body)
	}
}
