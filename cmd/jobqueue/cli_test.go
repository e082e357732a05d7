package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// jsonObject decodes out, which must be one JSON object.
func jsonObject(t *testing.T, what, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%s: not one JSON object: %v\n%s", what, err, out)
	}
	return m
}

// TestEveryCommandNamesItsStore runs every subcommand that uses a queue on
// Redis, and checks that each says which Redis: on stderr in text, and as
// "redis" in each JSON object it prints with --json, so that a wrong
// REDIS_URL cannot pass for an empty queue.
func TestEveryCommandNamesItsStore(t *testing.T) {
	srv := redistest.Shared(t)
	c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": srv.URL})}
	shown := redactURL(srv.URL)
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			c.t = t
			name := fmt.Sprintf("store-%v-%d", asJSON, time.Now().UnixNano())
			run := func(args ...string) result {
				t.Helper()
				args = append(args, "-queue", name)
				if asJSON {
					args = append(args, "--json")
				}
				r := c.run("", args...)
				if r.code != exitOK {
					t.Fatalf("jobqueue %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
				}
				if asJSON {
					if got := jsonObject(t, strings.Join(args, " "), r.stdout)["redis"]; got != shown {
						t.Errorf("jobqueue %v: \"redis\" is %v, want %q", args, got, shown)
					}
				} else if want := fmt.Sprintf("queue %q on Redis at %s", name, shown); !strings.Contains(r.stderr, want) {
					t.Errorf("jobqueue %v: stderr %q lacks %q", args, r.stderr, want)
				}
				return r
			}
			enqueue := func() string {
				out := run("enqueue", `{"a":1}`).stdout
				if asJSON {
					return jsonObject(t, "enqueue", out)["enqueued"].([]any)[0].(string)
				}
				return strings.TrimSpace(out)
			}
			id, other := enqueue(), enqueue()
			for _, args := range [][]string{
				{"stats"}, {"list", "pending"}, {"show", id}, {"history"}, {"schedules"}, {"pause"}, {"resume"},
				{"limits"}, {"limits", "-concurrency", "3"}, {"cancel", id}, {"retry", "--all-dead"}, {"delete", other}, {"purge", "--yes"},
			} {
				run(args...)
			}
		})
	}
}

// TestJSONErrors checks that with --json every error is one JSON object on
// stderr, naming the store when one was chosen, and stdout stays empty.
func TestJSONErrors(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args  []string
		code  int
		says  string
		store any
	}{
		{[]string{"stats", "--json", "-nope"}, exitUsage, "-nope", nil},
		{[]string{"list", "--json"}, exitUsage, "usage: jobqueue list", nil},
		{[]string{"list", "done", "--json"}, exitUsage, "done", nil},
		{[]string{"show", "missing", "--json"}, exitError, "not found", "memory"},
		{[]string{"enqueue", "--json", "{bad"}, exitUsage, "not valid JSON", nil},
	} {
		r := c.run("", tc.args...)
		if r.code != tc.code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("jobqueue %v: exit %d, stdout %q, stderr %q; want exit %d and one line on stderr", tc.args, r.code, r.stdout, r.stderr, tc.code)
			continue
		}
		m := jsonObject(t, strings.Join(tc.args, " "), r.stderr)
		if msg, _ := m["error"].(string); !strings.Contains(msg, tc.says) || m["redis"] != tc.store {
			t.Errorf("jobqueue %v: %v; want an error saying %q, redis %v", tc.args, m, tc.says, tc.store)
		}
	}

	// A Redis that does not answer: the error names it, password redacted.
	c = &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": "redis://u:hunter2@127.0.0.1:1/"})}
	r := c.run("", "stats", "--json")
	if r.code != exitError || strings.Contains(r.stderr, "hunter2") {
		t.Fatalf("stats --json without Redis: %+v", r)
	}
	if m := jsonObject(t, "stats --json without Redis", r.stderr); m["redis"] != "redis://u:xxxxx@127.0.0.1:1/" || !strings.Contains(fmt.Sprint(m["error"]), "did not answer") {
		t.Errorf("stats --json without Redis: %v", m)
	}
}

// TestExitCodes checks the three exit codes: 2 for every mistake in the
// flags, arguments or input, before anything is stored; 1 for a command
// that was well formed and failed.
func TestExitCodes(t *testing.T) {
	c := newCLI(t)
	pending := strings.TrimSpace(c.ok("", "enqueue", "1"))
	for _, args := range [][]string{
		{"enqueue", "{bad json"},
		{"enqueue", "-max-attempts", "0", "1"},
		{"enqueue", "-max-attempts", "-1", "1"},
		{"enqueue", "-delay", "-1s", "1"},
		{"enqueue", "-id", "..", "1"},
		{"enqueue", "-id", ".", "1"},
		{"enqueue", "-id", "a b", "1"},
		{"list", "pending", "-limit", "many"},
		{"list", "pending", "-limit", "0"},
		{"stats", "-backend", "postgres"},
		{"stats", "-queue", "a b"},
		{"show", "an id"},
		{"limits", "-rate", "5"},
		{"limits", "-per", "1s"},
		{"limits", "-concurrency", "-1"},
		{"limits", "-kind", "a b", "-concurrency", "1"},
		{"history", "-minutes", "0"},
		{"history", "-minutes", "1441"},
	} {
		if r := c.run("", args...); r.code != exitUsage {
			t.Errorf("jobqueue %v: exit %d, want %d (a usage error)\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
	st, err := c.q.Stats(context.Background())
	if err != nil || st.EnqueuedTotal != 1 || !st.Limits.IsZero() {
		t.Errorf("the refused commands changed the queue: %+v, %v", st, err)
	}
	for _, args := range [][]string{{"show", "missing"}, {"retry", pending}, {"delete", "missing"}} {
		if r := c.run("", args...); r.code != exitError {
			t.Errorf("jobqueue %v: exit %d, want %d (a runtime error)\n%s", args, r.code, exitError, r.stderr)
		}
	}
	down := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": "redis://127.0.0.1:1/"})}
	if r := down.run("", "stats", "-backend", "goredis"); r.code != exitError {
		t.Errorf("stats without Redis: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
}

// TestPurgeAcceptsOnlyYes checks that the purge question, which says
// "Type yes", takes nothing else for an answer.
func TestPurgeAcceptsOnlyYes(t *testing.T) {
	c := newCLI(t)
	c.ok("", "enqueue", "1")
	for _, answer := range []string{"y\n", "Y\n", "yep\n", "no\n", "\n", ""} {
		r := c.run(answer, "purge")
		if r.code != exitError || !strings.Contains(r.stderr, "Type yes") || !strings.Contains(r.stderr, "not purged") {
			t.Errorf("purge answered %q: %+v", answer, r)
		}
	}
	if st, _ := c.q.Stats(context.Background()); st.Pending != 1 {
		t.Fatalf("a refused purge deleted the job: %+v", st)
	}
	if out := c.ok(" yes \n", "purge"); !strings.Contains(out, "purged") {
		t.Errorf("purge answered yes: %q", out)
	}
}

// interruptible runs args in-process with stdin that never ends, cancels
// the context (as Ctrl-C does) once ready says so, and returns what the
// command printed and its exit code. It fails the test when the command
// does not end.
func interruptible(t *testing.T, q *jobqueue.Queue, ready func(stderr string) bool, args ...string) result {
	t.Helper()
	stdin, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	var out, errOut syncBuffer
	env := &cmdEnv{stdin: stdin, stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, queue: q}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- env.dispatch(ctx, args) }()
	waitFor(t, "the command to wait for stdin", 10*time.Second, func() bool { return ready(errOut.String()) })
	cancel()
	select {
	case code := <-done:
		return result{code, out.String(), errOut.String()}
	case <-time.After(10 * time.Second):
		t.Fatalf("jobqueue %v did not end on Ctrl-C; stderr:\n%s", args, errOut.String())
	}
	return result{}
}

// TestCtrlCEndsStdinReads checks that Ctrl-C ends the commands that wait
// for stdin, changing nothing: the purge question and enqueue reading its
// payloads.
func TestCtrlCEndsStdinReads(t *testing.T) {
	c := newCLI(t)
	c.ok("", "enqueue", "1")
	r := interruptible(t, c.q, func(s string) bool { return strings.Contains(s, "Type yes") }, "purge")
	if r.code != exitError || !strings.Contains(r.stderr, "interrupted; not purged") {
		t.Errorf("purge interrupted at its question: %+v", r)
	}
	// enqueue prints nothing before it reads: cancel at once.
	r = interruptible(t, c.q, func(string) bool { return true }, "enqueue")
	if r.code != exitError || !strings.Contains(r.stderr, "interrupted; nothing enqueued") {
		t.Errorf("enqueue interrupted reading stdin: %+v", r)
	}
	if st, _ := c.q.Stats(context.Background()); st.Pending != 1 || st.EnqueuedTotal != 1 {
		t.Errorf("after the interrupted commands: %+v", st)
	}
}

// TestEnqueueHintsOnTerminal checks that enqueue reading a terminal (a
// character device; /dev/null is one) says how to end and cancel it.
func TestEnqueueHintsOnTerminal(t *testing.T) {
	tty, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer tty.Close()
	var out, errOut syncBuffer
	env := &cmdEnv{stdin: tty, stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, queue: newCLI(t).q}
	code := env.dispatch(context.Background(), []string{"enqueue"})
	if code != exitUsage || !strings.Contains(errOut.String(), "Ctrl-D to end, Ctrl-C to cancel") {
		t.Errorf("enqueue on a terminal: exit %d, stderr %q", code, errOut.String())
	}
	// A pipe gets no hint.
	if r := newCLI(t).run("1", "enqueue"); r.code != exitOK || strings.Contains(r.stderr, "Ctrl-D") {
		t.Errorf("enqueue from a pipe: %+v", r)
	}
}

// TestMainProcess is the command itself in a process of its own, for
// TestInterruptSignal; it runs only when that test starts it.
func TestMainProcess(t *testing.T) {
	args := os.Getenv("JOBQUEUE_TEST_MAIN")
	if args == "" {
		t.Skip("runs as the command, started by TestInterruptSignal")
	}
	os.Args = append([]string{"jobqueue"}, strings.Fields(args)...)
	main()
}

// TestInterruptSignal sends a real SIGINT to the command waiting at the
// purge question, and checks that it ends, saying so, with exit code 1.
func TestInterruptSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainProcess$")
	cmd.Env = append(os.Environ(), "JOBQUEUE_TEST_MAIN=purge -backend memory")
	typing, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer typing.Close()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the purge question", 30*time.Second, func() bool { return strings.Contains(stderr.String(), "Type yes") })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitError || !strings.Contains(stderr.String(), "interrupted; not purged") {
			t.Errorf("purge after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("purge did not end on SIGINT:\n%s", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "version"); !strings.HasPrefix(out, "jobqueue ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: %q", out)
	}
	m := jsonObject(t, "version --json", c.ok("", "version", "--json"))
	if m["go"] != runtime.Version() || m["version"] == "" || m["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --json: %v", m)
	}
	if r := c.run("", "version", "extra"); r.code != exitUsage {
		t.Errorf("version extra: %+v", r)
	}
}

// TestIDPrefixes checks that show, cancel, retry and delete take the start
// of an id, as the dashboard shows ids, when it names one job; that an
// exact id wins; and that an ambiguous or unknown prefix is refused.
func TestIDPrefixes(t *testing.T) {
	c := newCLI(t)
	dead := deadJob(t, c.q, `{"n":1}`)
	for _, id := range []string{"alpha-1", "alpha-2", "beta-1", "al"} {
		c.ok("", "enqueue", "-id", id, `{"id":"`+id+`"}`)
	}
	random, err := c.q.Enqueue(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if out := c.ok("", "show", "beta"); !strings.Contains(out, "id           beta-1\n") {
		t.Errorf("show beta:\n%s", out)
	}
	if out := c.ok("", "show", random[:8]); !strings.Contains(out, "id           "+random+"\n") {
		t.Errorf("show %s:\n%s", random[:8], out)
	}
	if out := c.ok("", "show", "al"); !strings.Contains(out, "id           al\n") {
		t.Errorf("show al, an exact id that starts others:\n%s", out)
	}
	if r := c.run("", "show", "alpha"); r.code != exitUsage || !strings.Contains(r.stderr, "ambiguous") ||
		!strings.Contains(r.stderr, "alpha-1") || !strings.Contains(r.stderr, "alpha-2") {
		t.Errorf("show alpha: %+v", r)
	}
	if r := c.run("", "show", "gamma"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("show gamma: %+v", r)
	}
	if r := c.run("", "cancel", "alpha"); r.code != exitUsage || !strings.Contains(r.stderr, "ambiguous") {
		t.Errorf("cancel alpha: %+v", r)
	}
	if out := c.ok("", "cancel", "alpha-2"); !strings.Contains(out, "cancelled 1 job") {
		t.Errorf("cancel alpha-2: %q", out)
	}
	if out := c.ok("", "delete", "bet"); !strings.Contains(out, "deleted 1 job") {
		t.Errorf("delete bet: %q", out)
	}
	if _, err := c.q.Get(context.Background(), "beta-1"); !errors.Is(err, jobqueue.ErrNotFound) {
		t.Errorf("beta-1 after delete bet: %v", err)
	}
	m := jsonObject(t, "retry --json", c.ok("", "retry", dead[:8], "--json"))
	if fmt.Sprint(m["retried"]) != "["+dead+"]" {
		t.Errorf("retry %s --json: %v", dead[:8], m)
	}
	if info, err := c.q.Get(context.Background(), dead); err != nil || info.State != jobqueue.StatePending {
		t.Errorf("the retried job: %+v, %v", info, err)
	}
}

// TestIDPrefixSearchIsBounded checks that a prefix search reads a bounded
// number of ids per state, and that a mutating command refuses a match
// that the ids beyond the bound could make ambiguous.
func TestIDPrefixSearchIsBounded(t *testing.T) {
	q, err := jobqueue.New(memory.New(), "cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"xa-1", "b1", "b2", "xz-9"} {
		if _, err := q.Enqueue(context.Background(), 1, jobqueue.WithID(id)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) result {
		var out, errOut syncBuffer
		env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, queue: q, prefixScan: 2}
		return result{env.dispatch(context.Background(), args), out.String(), errOut.String()}
	}
	if r := run("show", "xa"); r.code != exitOK || !strings.Contains(r.stdout, "xa-1") || !strings.Contains(r.stderr, "another may match") {
		t.Errorf("show xa, past the bound: %+v", r)
	}
	if r := run("delete", "xa"); r.code != exitUsage || !strings.Contains(r.stderr, "give the whole id") {
		t.Errorf("delete xa, past the bound: %+v", r)
	}
	if r := run("show", "xz"); r.code != exitError || !strings.Contains(r.stderr, "among the first 2") {
		t.Errorf("show xz, beyond the bound: %+v", r)
	}
	if _, err := q.Get(context.Background(), "xa-1"); err != nil {
		t.Errorf("xa-1 after a refused delete: %v", err)
	}
}

// TestListFooter checks that list says which part of the state it shows:
// "50 of 60 pending jobs", and the offset of the next page.
func TestListFooter(t *testing.T) {
	c := newCLI(t)
	c.ok(strings.Repeat("1\n", 60), "enqueue")
	if out := c.ok("", "list", "pending"); !strings.HasSuffix(out, "\n50 of 60 pending jobs; -offset 50 for the next\n") {
		t.Errorf("list pending ends:\n%s", out[max(0, len(out)-200):])
	}
	if out := c.ok("", "list", "pending", "-offset", "50"); !strings.HasSuffix(out, "\n51–60 of 60 pending jobs\n") {
		t.Errorf("list pending -offset 50 ends:\n%s", out[max(0, len(out)-200):])
	}
	m := jsonObject(t, "list --json", c.ok("", "list", "pending", "--json", "-limit", "5"))
	if m["total"] != 60.0 || len(m["jobs"].([]any)) != 5 || m["state"] != "pending" || m["queue"] != "cli" {
		t.Errorf("list --json: total %v, state %v, queue %v", m["total"], m["state"], m["queue"])
	}
}

// TestTablesFit80Columns prints the tables of list, stats, schedules and
// help with long ids, kinds, names, payloads and errors, and checks that
// no line is wider than 80 columns and that ids are not cut.
func TestTablesFit80Columns(t *testing.T) {
	ctx := context.Background()
	longQueue := strings.Repeat("q", backend.MaxQueueNameLen)
	b := memory.New()
	q, err := jobqueue.New(b, longQueue, jobqueue.WithBackoff(nil))
	if err != nil {
		t.Fatal(err)
	}
	longID := "order-" + strings.Repeat("0123456789", 12)
	longKind := strings.Repeat("k", backend.MaxKindLen)
	payload := `{"to":"` + strings.Repeat("ada@example.com ", 20) + `"}`
	if _, err := q.Enqueue(ctx, json.RawMessage(payload), jobqueue.WithID(longID), jobqueue.Kind(longKind), jobqueue.Priority(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, json.RawMessage(payload), jobqueue.WithID(longID+"-dead"), jobqueue.Kind(longKind), jobqueue.MaxAttempts(1)); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(ctx, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.ID == longID+"-dead" {
			if err := j.Fail(ctx, errors.New(strings.Repeat("smtp: 550 mailbox unavailable; ", 10))); err != nil {
				t.Fatal(err)
			}
		} else if err := j.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.SetKindLimits(ctx, longKind, jobqueue.Limits{Concurrency: 12345, Rate: 100000, Per: 90 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	def := `{"spec":"*/5 1-3,7-9,13-15,19-21 * JAN-MAR,JUL-SEP MON-FRI","tz":"America/Argentina/ComodRivadavia","missed":"run-once"}`
	if err := b.MarkSchedule(ctx, backend.MarkScheduleParams{Queue: longQueue, Name: "nightly-" + strings.Repeat("report-", 8), Definition: def, Tick: time.Now()}); err != nil {
		t.Fatal(err)
	}

	c := &cli{t: t, q: q}
	for _, args := range [][]string{{"list", "pending"}, {"list", "dead"}, {"stats"}, {"schedules"}, {"help"}, {"history"}} {
		out := c.ok("", args...)
		for i, line := range strings.Split(out, "\n") {
			if n := len([]rune(line)); n > 80 {
				t.Errorf("jobqueue %v: line %d is %d columns wide:\n%s", args, i+1, n, out)
				break
			}
		}
		if args[0] == "list" {
			// A wrapped id is whole, over its lines' first column.
			want := longID
			if args[1] == "dead" {
				want += "-dead"
			}
			var id strings.Builder
			for _, line := range strings.Split(out, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(want, id.String()+f[0]) {
					id.WriteString(f[0])
				}
			}
			if id.String() != want {
				t.Errorf("jobqueue %v cut the id %s to %s:\n%s", args, want, id.String(), out)
			}
		}
	}
}

// TestBadPortStopsTheCommand checks that a REDIS_URL whose port is out of
// range stops serve, which would otherwise fall back to memory, and the
// inspection commands, with a message that says why.
func TestBadPortStopsTheCommand(t *testing.T) {
	c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": "redis://u:hunter2@127.0.0.1:99999/"})}
	for _, args := range [][]string{{"serve", "-addr", "127.0.0.1:0"}, {"stats"}, {"stats", "-backend", "rueidis"}} {
		var out, errOut syncBuffer
		env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: c.getenv}
		// A serve that fell back would run until its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := env.dispatch(ctx, args)
		cancel()
		if code != exitError || !strings.Contains(errOut.String(), "port 99999 is out of range") ||
			strings.Contains(errOut.String(), "in-memory") || strings.Contains(errOut.String(), "hunter2") {
			t.Errorf("jobqueue %v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
