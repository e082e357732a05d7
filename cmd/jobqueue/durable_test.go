package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestCLIEnqueueDurableUsage gives enqueue's durability flags values that
// ask for nothing sensible: each is a usage error saying what is wrong,
// and none enqueues anything.
func TestCLIEnqueueDurableUsage(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"-replicas", "-1"}, "negative"},
		{[]string{"-replicas", "1", "-durable-timeout", "0"}, "at least 1ms"},
		{[]string{"-aof", "-durable-timeout", "500us"}, "at least 1ms"},
		{[]string{"-replicas", "two"}, "invalid value"},
	} {
		args := append(append([]string{"enqueue"}, tc.args...), "{}")
		if r := c.run("", args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("jobqueue %q: exit %d, stderr %q; want exit %d saying %q", args, r.code, r.stderr, exitUsage, tc.says)
		}
	}
	if st, err := c.q.Stats(t.Context()); err != nil || st.EnqueuedTotal != 0 {
		t.Errorf("after the usage errors: enqueued %d, %v", st.EnqueuedTotal, err)
	}
	// The memory backend has no replica to wait for: any durability is
	// met at once.
	var got struct{ Durable *bool }
	r := c.run("", "enqueue", "-replicas", "2", "--json", "{}")
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK || got.Durable == nil || !*got.Durable {
		t.Errorf("enqueue -replicas 2 on memory: %+v, %v; want exit 0, durable", r, err)
	}
}

// TestCLIEnqueueDurableOnRedis enqueues with -replicas on a master with
// one replica and on one with none, on each Redis adapter: with the
// replica the job is on it when the command returns; without, the
// command waits its timeout, prints the stored id, says the job is not
// durable and exits 1, and the job is in the queue.
func TestCLIEnqueueDurableOnRedis(t *testing.T) {
	lone := redistest.Start(t, redistest.RequireProcess())
	master := redistest.Start(t, redistest.RequireProcess())
	replica := redistest.StartReplica(t, master)
	for _, kind := range []string{backendGoredis, backendRueidis} {
		t.Run(kind, func(t *testing.T) {
			name := fmt.Sprintf("cmd-durable-%s-%d", kind, time.Now().UnixNano())
			enqueue := func(url string, args ...string) result {
				c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": url})}
				return c.run("", append([]string{"enqueue", "-backend", kind, "-queue", name}, args...)...)
			}
			var got struct {
				Enqueued []string `json:"enqueued"`
				Durable  *bool    `json:"durable"`
			}

			r := enqueue(master.URL, "-replicas", "1", "-durable-timeout", "5s", "--json", `{"n":1}`)
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK || len(got.Enqueued) != 1 || got.Durable == nil || !*got.Durable {
				t.Fatalf("durable enqueue with a replica: %+v, %+v, %v", r, got, err)
			}
			// WAIT confirmed it: the replica has the job now, without
			// waiting for it to catch up.
			if info := getOn(t, kind, replica.URL, name, got.Enqueued[0]); info.State != jobqueue.StatePending {
				t.Errorf("the job on the replica right after the command: %+v", info)
			}

			r = enqueue(lone.URL, "-replicas", "1", "-durable-timeout", "50ms", `{"n":2}`)
			id := strings.TrimSpace(r.stdout)
			if r.code != exitError || id == "" || !strings.Contains(r.stderr, "not durable") || !strings.Contains(r.stderr, "0 of 1 replicas") {
				t.Fatalf("durable enqueue without a replica: %+v; want exit %d, the id, and why on stderr", r, exitError)
			}
			if info := getOn(t, kind, lone.URL, name, id); info.State != jobqueue.StatePending {
				t.Errorf("the job not confirmed durable: %+v; want it stored, pending", info)
			}
			got.Durable = nil
			r = enqueue(lone.URL, "-replicas", "1", "-durable-timeout", "50ms", "--json", `{"n":3}`)
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitError || len(got.Enqueued) != 1 || got.Durable == nil || *got.Durable {
				t.Errorf("durable enqueue --json without a replica: %+v, %+v, %v; want exit 1, the id, durable false", r, got, err)
			}
		})
	}
}

// getOn reads job id of queue name on the server at url through the
// adapter kind.
func getOn(t *testing.T, kind, url, name, id string) jobqueue.JobInfo {
	t.Helper()
	ctx := context.Background()
	b, err := openBackend(ctx, kind, url, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q, err := jobqueue.New(b, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := q.Get(ctx, id)
	if err != nil {
		t.Fatalf("get %s on %s: %v", id, url, err)
	}
	return info
}

// TestCLIEnqueueRegisters: the queue an enqueue used is registered by
// the time the command returns (it ends right after its call, before a
// registration in the background would be made).
func TestCLIEnqueueRegisters(t *testing.T) {
	srv := redistest.Shared(t)
	name := fmt.Sprintf("cmd-registers-%d", time.Now().UnixNano())
	c := &cli{t: t, getenv: envOf(map[string]string{"REDIS_URL": srv.URL})}
	c.ok("", "enqueue", "-backend", backendGoredis, "-queue", name, "{}")
	ob, err := openBackend(context.Background(), backendGoredis, srv.URL, "", memoryBounds{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	entries, err := jobqueue.Queues(context.Background(), ob.Backend)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e jobqueue.QueueEntry) bool { return e.Name == name }) {
		t.Errorf("queue %s not registered after the enqueue command: %v", name, entries)
	}
	if err := jobqueue.ForgetQueue(context.Background(), ob.Backend, name); err != nil {
		t.Fatal(err)
	}
}
