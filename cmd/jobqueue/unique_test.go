package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestCLIEnqueueUniqueUsage gives enqueue's unique flags in combinations
// that make no sense: each is a usage error that says what is wrong, and
// none enqueues anything.
func TestCLIEnqueueUniqueUsage(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		says  string
	}{
		{[]string{"-unique-for", "1h"}, "", "-unique-for needs -unique KEY"},
		{[]string{"-unique-until", "finished"}, "", "-unique-until needs -unique KEY"},
		{[]string{"-unique", "k"}, "", "-unique needs -unique-for DURATION"},
		{[]string{"-unique", "k", "-unique-for", "0"}, "", "at least 1ms"},
		{[]string{"-unique", "k", "-unique-for", "-1h"}, "", "at least 1ms"},
		{[]string{"-unique", "k", "-unique-for", "500us"}, "", "at least 1ms"},
		{[]string{"-unique", "a key", "-unique-for", "1h"}, "", "-unique: invalid argument"},
		{[]string{"-unique", strings.Repeat("k", jobqueue.MaxUniqueKeyLen+1), "-unique-for", "1h"}, "", "hash a longer key"},
		{[]string{"-unique", "k", "-unique-for", "1h", "-unique-until", "done"}, "", `invalid state: "done"`},
		{[]string{"-unique", "k", "-unique-for", "1h", "-unique-until", "pending,completed"}, "", "must list scheduled"},
		// A unique key is one job's: a batch from stdin cannot share it.
		{[]string{"-unique", "k", "-unique-for", "1h"}, "1 2", "-unique names one job's key, but stdin held 2"},
	} {
		args := append([]string{"enqueue"}, tc.args...)
		if tc.stdin == "" {
			args = append(args, "{}")
		}
		r := c.run(tc.stdin, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("jobqueue %q: exit %d, stderr %q; want exit %d saying %q", args, r.code, r.stderr, exitUsage, tc.says)
		}
	}
	if st, err := c.q.Stats(t.Context()); err != nil || st.EnqueuedTotal != 0 {
		t.Errorf("after the usage errors: enqueued %d, %v", st.EnqueuedTotal, err)
	}
}

// TestCLIEnqueueUniqueOnRedis enqueues unique jobs with the command on
// each Redis adapter: a duplicate prints the holder's id, says so, exits 1
// and stores nothing; -unique-for and -unique-until reach the store.
func TestCLIEnqueueUniqueOnRedis(t *testing.T) {
	srv := redistest.Shared(t)
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("cmd-unique-%s-%d", kind, time.Now().UnixNano())
			c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": srv.URL})}
			enqueue := func(args ...string) result {
				return c.run("", append([]string{"enqueue", "-backend", kind, "-queue", name}, args...)...)
			}
			// The test's own queue on the same store, to look and to
			// finish jobs as a worker would.
			ob, err := openBackend(ctx, kind, srv.URL, "", memoryBounds{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ob.Close)
			q, err := jobqueue.New(ob, name, jobqueue.WithBackoff(nil))
			if err != nil {
				t.Fatal(err)
			}
			finish := func(id string, cause error) {
				t.Helper()
				jobs, err := q.Claim(ctx, 1, 0)
				if err != nil || len(jobs) != 1 || jobs[0].ID != id {
					t.Fatalf("claim: %v %v, want job %s", jobs, err, id)
				}
				if cause == nil {
					err = jobs[0].Complete(ctx, nil)
				} else {
					err = jobs[0].Fail(ctx, jobqueue.Permanent(cause))
				}
				if err != nil {
					t.Fatal(err)
				}
			}

			// The window alone: a completed job keeps its key.
			r := enqueue("-unique", "report:1", "-unique-for", "1h", `{"n":1}`)
			first := strings.TrimSpace(r.stdout)
			if r.code != exitOK || first == "" {
				t.Fatalf("first unique enqueue: %+v", r)
			}
			r = enqueue("-unique", "report:1", "-unique-for", "1h", `{"n":2}`)
			if r.code != exitError || strings.TrimSpace(r.stdout) != first || !strings.Contains(r.stderr, "duplicate") || !strings.Contains(r.stderr, first) {
				t.Errorf("duplicate enqueue: %+v; want exit %d, stdout %s and a duplicate on stderr", r, exitError, first)
			}
			var got struct {
				Enqueued   []string `json:"enqueued"`
				Duplicate  bool     `json:"duplicate"`
				ExistingID string   `json:"existing_id"`
			}
			r = enqueue("-unique", "report:1", "-unique-for", "1h", "--json", `{"n":3}`)
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitError || !got.Duplicate || got.ExistingID != first || got.Enqueued == nil || len(got.Enqueued) != 0 {
				t.Errorf("duplicate enqueue --json: %+v, %+v, %v", r, got, err)
			}
			finish(first, nil)
			if r := enqueue("-unique", "report:1", "-unique-for", "1h", `{"n":4}`); r.code != exitError || strings.TrimSpace(r.stdout) != first {
				t.Errorf("enqueue after the holder completed, without -unique-until: %+v", r)
			}

			// finished: the key goes with the job's completion.
			held := strings.TrimSpace(c.ok("", "enqueue", "-backend", kind, "-queue", name, "-unique", "report:2", "-unique-for", "1h", "-unique-until", "finished", `{"n":5}`))
			if r := enqueue("-unique", "report:2", "-unique-for", "1h", `{"n":6}`); r.code != exitError || strings.TrimSpace(r.stdout) != held {
				t.Errorf("duplicate of a pending job held until finished: %+v", r)
			}
			finish(held, nil)
			r = enqueue("-unique", "report:2", "-unique-for", "1h", "--json", `{"n":7}`)
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK || got.Duplicate || len(got.Enqueued) != 1 || got.Enqueued[0] == held {
				t.Errorf("enqueue after the holder completed, -unique-until finished: %+v, %+v, %v", r, got, err)
			}
			finish(got.Enqueued[0], nil)

			// A list of states: kept while completed, given up when dead.
			until := []string{"-unique-for", "1h", "-unique-until", "pending,scheduled,processing,completed"}
			done := strings.TrimSpace(c.ok("", append([]string{"enqueue", "-backend", kind, "-queue", name, "-unique", "report:3", `{"n":8}`}, until...)...))
			finish(done, nil)
			if r := enqueue(append([]string{"-unique", "report:3", `{"n":9}`}, until...)...); r.code != exitError || strings.TrimSpace(r.stdout) != done {
				t.Errorf("enqueue after a holder that keeps its key when completed: %+v", r)
			}
			dead := strings.TrimSpace(c.ok("", append([]string{"enqueue", "-backend", kind, "-queue", name, "-unique", "report:4", `{"n":10}`}, until...)...))
			finish(dead, errors.New("boom"))
			if r := enqueue(append([]string{"-unique", "report:4", `{"n":11}`}, until...)...); r.code != exitOK || strings.TrimSpace(r.stdout) == dead {
				t.Errorf("enqueue after a holder that gives its key up when dead: %+v", r)
			}

			// -unique-for is the window: a short one ends by itself.
			short := strings.TrimSpace(c.ok("", "enqueue", "-backend", kind, "-queue", name, "-unique", "report:5", "-unique-for", "50ms", `{"n":12}`))
			var again result
			waitFor(t, "the 50ms window to end", 5*time.Second, func() bool {
				again = enqueue("-unique", "report:5", "-unique-for", "1h", `{"n":13}`)
				return again.code == exitOK
			})
			if id := strings.TrimSpace(again.stdout); id == "" || id == short {
				t.Errorf("enqueue after the window: %+v", again)
			}

			st, err := q.Stats(ctx)
			if err != nil || st.EnqueuedTotal != 8 {
				t.Errorf("the queue counts %d enqueued jobs (%v), want 8: duplicates store nothing", st.EnqueuedTotal, err)
			}
		})
	}
}
