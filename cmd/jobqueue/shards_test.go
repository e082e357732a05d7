package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestCLIShardedQueue: -shards and JOBQUEUE_SHARDS open a queue sharded
// the same way, so commands see the jobs a sharded producer stored, each
// on its shard; without them the same name is another, empty queue.
func TestCLIShardedQueue(t *testing.T) {
	srv := redistest.Start(t)
	name := fmt.Sprintf("cmd-sharded-%d", time.Now().UnixNano())
	env := map[string]string{"REDIS_URL": srv.URL}
	c := &cli{t: t, getenv: envOf(env)}
	flags := []string{"-backend", "goredis", "-queue", name}
	var ids []string
	for i := range 3 {
		// One call per job: calls take the shards in turn.
		ids = append(ids, strings.TrimSpace(c.ok("", append([]string{"enqueue", "-shards", "3", fmt.Sprintf(`{"n":%d}`, i)}, flags...)...)))
	}
	stats := func(c *cli, extra ...string) queueStats {
		t.Helper()
		var st queueStats
		if err := json.Unmarshal([]byte(c.ok("", append(append([]string{"stats", "--json"}, flags...), extra...)...)), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(c, "-shards", "3"); st.PendingDepth != 3 || st.EnqueuedTotal != 3 {
		t.Errorf("stats -shards 3: %+v, want the 3 jobs", st)
	}
	if st := stats(c); st.PendingDepth != 0 {
		t.Errorf("stats without -shards: %+v, want the unsharded queue of that name, empty", st)
	}
	for _, spec := range []string{name + "=3", "*=3", "other=2,*=3"} {
		env["JOBQUEUE_SHARDS"] = spec
		withEnv := &cli{t: t, getenv: envOf(env)}
		if st := stats(withEnv); st.PendingDepth != 3 {
			t.Errorf("stats with JOBQUEUE_SHARDS=%s: %+v, want the 3 jobs", spec, st)
		}
		for _, id := range ids {
			if out := withEnv.ok("", append([]string{"show", id}, flags...)...); !strings.Contains(out, id) {
				t.Errorf("show %s with JOBQUEUE_SHARDS=%s:\n%s", id, spec, out)
			}
		}
	}
	delete(env, "JOBQUEUE_SHARDS")
	for _, bad := range [][]string{{"-shards", "1"}, {"-shards", "65"}} {
		if r := c.run("", append(append([]string{"stats"}, flags...), bad...)...); r.code != exitUsage || !strings.Contains(r.stderr, "-shards") {
			t.Errorf("stats %v: %+v, want a usage error naming -shards", bad, r)
		}
	}
	for _, spec := range []string{"x", "x=1", "x=two", "x=2,x=3"} {
		env["JOBQUEUE_SHARDS"] = spec
		if r := (&cli{t: t, getenv: envOf(env)}).run("", append([]string{"stats"}, flags...)...); r.code != exitUsage || !strings.Contains(r.stderr, "JOBQUEUE_SHARDS") {
			t.Errorf("stats with JOBQUEUE_SHARDS=%s: %+v, want a usage error naming it", spec, r)
		}
	}
}
