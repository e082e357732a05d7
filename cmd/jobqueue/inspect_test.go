package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// cli runs subcommands in-process against one queue.
type cli struct {
	t      *testing.T
	q      *jobqueue.Queue
	getenv func(string) string
}

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func newCLI(t *testing.T) *cli {
	q, err := jobqueue.New(memory.New(), "cli", jobqueue.WithBackoff(nil))
	if err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, q: q}
}

func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errOut syncBuffer
	env := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: c.getenv, queue: c.q}
	if env.getenv == nil {
		env.getenv = func(string) string { return "" }
	}
	code := env.dispatch(context.Background(), args)
	return result{code, out.String(), errOut.String()}
}

// ok runs args and fails the test unless they exit 0.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != exitOK {
		c.t.Fatalf("jobqueue %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deadJob enqueues a job and dead-letters it, as a worker would.
func deadJob(t *testing.T, q *jobqueue.Queue, payload string) string {
	t.Helper()
	ctx := context.Background()
	id, err := q.Enqueue(ctx, json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 1, 0)
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if err := jobs[0].Fail(ctx, jobqueue.Permanent(errors.New("smtp: 550 mailbox unavailable"))); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCLIEnqueueListShow(t *testing.T) {
	c := newCLI(t)
	id := strings.TrimSpace(c.ok("", "enqueue", `{"to":"ada@example.com"}`))
	if id == "" {
		t.Fatal("enqueue printed no id")
	}
	out := c.ok("{\"n\":1}\n{\"n\":2}\n[3]\n", "enqueue", "--json")
	var enq struct {
		Queue    string   `json:"queue"`
		Enqueued []string `json:"enqueued"`
	}
	if err := json.Unmarshal([]byte(out), &enq); err != nil || len(enq.Enqueued) != 3 || enq.Queue != "cli" {
		t.Fatalf("enqueue from stdin: %q %v", out, err)
	}
	c.ok("", "enqueue", "-delay", "1h", "-max-attempts", "5", "-id", "later", `"x"`)

	out = c.ok("", "stats")
	for _, want := range []string{"queue  cli", "pending     4", "scheduled   1", "queue latency  ", "enqueued   5"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats table lacks %q:\n%s", want, out)
		}
	}
	var st queueStats
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &st); err != nil || st.Queue != "cli" || st.PendingDepth != 4 || st.ScheduledDepth != 1 || st.EnqueuedTotal != 5 {
		t.Errorf("stats --json: %+v %v", st, err)
	}

	out = c.ok("", "list", "pending")
	if !strings.Contains(out, id) || !strings.Contains(out, `{"to":"ada@example.com"}`) || !strings.HasPrefix(out, "ID ") {
		t.Errorf("list pending:\n%s", out)
	}
	// Flags may follow the positional argument.
	var listed jobList
	if err := json.Unmarshal([]byte(c.ok("", "list", "pending", "--json", "-limit", "2")), &listed); err != nil ||
		len(listed.Jobs) != 2 || listed.Jobs[0].ID != id || listed.Total != 4 || listed.State != "pending" {
		t.Errorf("list --json: %+v %v", listed, err)
	}
	if out := c.ok("", "list", "scheduled"); !strings.Contains(out, "later") || !strings.Contains(out, "from now") {
		t.Errorf("list scheduled:\n%s", out)
	}
	if out := c.ok("", "list", "dead"); !strings.Contains(out, "no dead jobs") {
		t.Errorf("list of an empty state: %q", out)
	}

	out = c.ok("", "show", "later")
	for _, want := range []string{"id           later\n", "state        scheduled\n", "attempts     0 of 5\n", "runs at      ", "payload\n  \"x\""} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var d jobDetail
	if err := json.Unmarshal([]byte(c.ok("", "show", id, "--json")), &d); err != nil || d.ID != id || compactJSON(d.Payload) != `{"to":"ada@example.com"}` {
		t.Errorf("show --json: %+v %v", d, err)
	}
}

func TestCLIRetryDeletePurge(t *testing.T) {
	c := newCLI(t)
	a := deadJob(t, c.q, `{"n":"a"}`)
	b := deadJob(t, c.q, `{"n":"b"}`)
	d := deadJob(t, c.q, `{"n":"d"}`)

	if out := c.ok("", "show", a); !strings.Contains(out, "smtp: 550 mailbox unavailable") || !strings.Contains(out, "state        dead\n") {
		t.Errorf("show of a dead job:\n%s", out)
	}
	var listed jobList
	if err := json.Unmarshal([]byte(c.ok("", "list", "dead", "--json")), &listed); err != nil || len(listed.Jobs) != 3 || listed.Jobs[0].State != "dead" {
		t.Errorf("list dead --json: %+v %v", listed, err)
	}
	if out := c.ok("", "retry", a); !strings.Contains(out, "retried 1 job") {
		t.Errorf("retry ID: %q", out)
	}
	if r := c.run("", "retry", a); r.code != exitError || !strings.Contains(r.stderr, "retry "+a) {
		t.Errorf("retry of a job that is not dead: %+v", r)
	}
	var rep struct{ Retried, Failed []string }
	if err := json.Unmarshal([]byte(c.ok("", "retry", "--all-dead", "--json")), &rep); err != nil || len(rep.Retried) != 2 || len(rep.Failed) != 0 {
		t.Errorf("retry --all-dead: %+v %v", rep, err)
	}
	if info, _ := c.q.Get(context.Background(), b); info.State != jobqueue.StatePending || info.Attempts != 0 {
		t.Errorf("retried job: %+v", info)
	}
	for _, args := range [][]string{{"retry"}, {"retry", "--all-dead", d}} {
		if r := c.run("", args...); r.code != exitUsage {
			t.Errorf("%v: %+v, want a usage error", args, r)
		}
	}

	if out := c.ok("", "delete", a, b); !strings.Contains(out, "deleted 2 jobs") {
		t.Errorf("delete: %q", out)
	}
	if r := c.run("", "delete", a); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("delete of a deleted job: %+v", r)
	}

	r := c.run("no\n", "purge")
	if r.code != exitError || !strings.Contains(r.stderr, `Purge queue "cli" on memory: delete its 1 job`) || !strings.Contains(r.stderr, "not purged") {
		t.Errorf("purge answered no: %+v", r)
	}
	if r := c.run("", "purge"); r.code != exitError {
		t.Errorf("purge without an answer: %+v", r)
	}
	if _, err := c.q.Get(context.Background(), d); err != nil {
		t.Fatalf("a refused purge deleted: %v", err)
	}
	if out := c.ok("yes\n", "purge"); !strings.Contains(out, `purged queue "cli"`) {
		t.Errorf("purge: %q", out)
	}
	c.ok("", "enqueue", "1")
	c.ok("", "purge", "--yes")
	if st, _ := c.q.Stats(context.Background()); st.Pending != 0 || st.EnqueuedTotal != 0 {
		t.Errorf("after purge --yes: %+v", st)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"list"},
		{"list", "done"},
		{"show"},
		{"enqueue", "{not json"},
		{"enqueue", "1", "2"},
		{"stats", "-nope"},
		{"list", "pending", "-limit", "0"},
		{"serve", "-lease-ms", "0"},
		{"serve", "-workers", "65"},
		{"serve", "extra"},
		{"serve", "-memory-max-jobs", "-1"},
		{"serve", "-memory-max-mib", "-1"},
	} {
		if r := c.run("", args...); r.code != exitUsage {
			t.Errorf("jobqueue %v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
	if r := c.run("", "enqueue"); r.code != exitUsage || !strings.Contains(r.stderr, "no JSON on stdin") {
		t.Errorf("enqueue with empty stdin: %+v", r)
	}
	if r := c.run("", "show", "missing"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("show of an unknown id: %+v", r)
	}
	if out := c.ok("", "help"); !strings.Contains(out, "retry") || !strings.Contains(out, "REDIS_URL") {
		t.Errorf("help: %q", out)
	}
	if r := c.run("", "help", "list"); r.code != exitOK || !strings.Contains(r.stderr, "-limit") {
		t.Errorf("help list: %+v", r)
	}
}

// TestServeOnMemoryWhenRedisIsAbsent runs "jobqueue serve" with auto and
// a Redis URL that nothing answers: it must serve on the memory backend,
// say so, and never print the URL's password.
func TestServeOnMemoryWhenRedisIsAbsent(t *testing.T) {
	var out, errOut syncBuffer
	env := &cmdEnv{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(k string) string {
			if k == "REDIS_URL" {
				return "redis://admin:hunter2@127.0.0.1:1/0"
			}
			return ""
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- env.dispatch(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-workers", "2", "-queue", "servetest"})
	}()

	var base string
	waitFor(t, "the dashboard address", 10*time.Second, func() bool {
		s := errOut.String()
		if i := strings.Index(s, "dashboard at "); i >= 0 {
			base = strings.TrimSpace(strings.SplitN(s[i+len("dashboard at "):], "\n", 2)[0])
			return true
		}
		return false
	})
	ts := &testServer{t: t, URL: strings.TrimSuffix(base, "/")}
	st := ts.stats()
	if st["queue"] != "servetest" || !strings.Contains(st["backend"].(string), "in-memory") || num(st["workers_running"]) != 2 {
		t.Errorf("stats of the served queue: %v", st)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exited %d", code)
	}
	log := errOut.String()
	if strings.Contains(log, "hunter2") {
		t.Errorf("the password was printed:\n%s", log)
	}
	for _, want := range []string{"redis://admin:xxxxx@127.0.0.1:1/0 did not answer", "using the in-memory backend"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's log lacks %q:\n%s", want, log)
		}
	}
}

func TestCLIStatsWorkers(t *testing.T) {
	b := memory.New()
	q, err := jobqueue.New(b, "cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"host-a:1:x", "host-b:2:y"} {
		if err := b.Beat(context.Background(), backend.BeatParams{Queue: "cli", ID: id, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	c := &cli{t: t, q: q}
	if out := c.ok("", "stats"); !regexp.MustCompile(`(?m)^workers +2$`).MatchString(out) {
		t.Errorf("stats table lacks the workers line:\n%s", out)
	}
	var st queueStats
	if err := json.Unmarshal([]byte(c.ok("", "stats", "--json")), &st); err != nil || st.Workers != 2 {
		t.Errorf("stats --json: %+v %v", st, err)
	}
}
