package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func newQueue(t *testing.T, b backend.Backend) *jobqueue.Queue {
	q, err := jobqueue.New(b, redisqtest.QueueName(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Purge(context.Background()) })
	return q
}

func run(t *testing.T, cfg load.Config) load.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var progress bytes.Buffer
	rep, err := load.Run(ctx, cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "\r") {
		t.Errorf("progress has no carriage-return redraws: %q", progress.String())
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if rep.Latency.Count != rep.Config.Jobs {
		t.Errorf("latency count %d, want %d", rep.Latency.Count, rep.Config.Jobs)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency distribution out of order: %+v", rep.Latency)
	}
	st, err := cfg.Queue.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.CompletedTotal != int64(rep.Config.Jobs) || st.Pending+st.Processing != 0 {
		t.Errorf("queue after run: %+v, want %d completed and nothing left", st.Stats, rep.Config.Jobs)
	}
	return rep
}

func TestThroughputMemory(t *testing.T) {
	for _, batch := range []int{1, 10} {
		rep := run(t, load.Config{Name: "memory", Queue: newQueue(t, memory.New()), Jobs: 500, Producers: 4, Batch: batch, Workers: 8})
		if rep.Mode != load.ModeThroughput || rep.Enqueue.JobsPerSecond() <= 0 || rep.Drain.JobsPerSecond() <= 0 {
			t.Errorf("report %+v", rep)
		}
		if u := rep.Total.Usage; u == nil || u.Redis || u.ClientCPU <= 0 {
			t.Errorf("memory usage %+v: want client CPU only", u)
		}
	}
}

func TestLatencyMemory(t *testing.T) {
	rep := run(t, load.Config{Queue: newQueue(t, memory.New()), Rate: 500, Duration: 200 * time.Millisecond, Workers: 4})
	if rep.Mode != load.ModeLatency || rep.Config.Jobs != 100 {
		t.Errorf("latency run: mode %s, %d jobs; want 100", rep.Mode, rep.Config.Jobs)
	}
	if rep.Enqueue.Elapsed < 150*time.Millisecond {
		t.Errorf("100 jobs at 500/s offered in %v: not paced", rep.Enqueue.Elapsed)
	}
}

func TestRedis(t *testing.T) {
	url := redistest.Shared(t).URL
	cases := []struct {
		name string
		open redisqtest.Open
	}{
		{"goredis", redisqtest.GoRedis},
		{"rueidis", redisqtest.Rueidis},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, info := c.open(t, url)
			rep := run(t, load.Config{Name: c.name, Queue: newQueue(t, b), Info: info, Jobs: 300, Producers: 4, Batch: 3, Workers: 8})
			u := rep.Total.Usage
			if u == nil || !u.Redis {
				t.Fatalf("no Redis usage: %+v", u)
			}
			// At least one enqueue per batch, and one claim and one ack
			// per job at worst; script-inner commands come on top. The
			// shared server may carry other tests' load, so no upper bound.
			if u.Scripts < 100 || u.Commands <= u.Scripts || u.RedisCPU <= 0 {
				t.Errorf("usage %+v", u)
			}
		})
	}
}

func TestRunRefusesBusyQueue(t *testing.T) {
	q := newQueue(t, memory.New())
	if _, err := q.Enqueue(context.Background(), map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := load.Run(context.Background(), load.Config{Queue: q, Jobs: 1}, nil); err == nil {
		t.Fatal("Run on a queue with a pending job: want an error")
	}
	if _, err := load.Run(context.Background(), load.Config{}, nil); err == nil {
		t.Fatal("Run without a queue: want an error")
	}
}

func TestPayload(t *testing.T) {
	for _, size := range []int{10, 100, 1000} {
		p := load.Payload(time.Now().UnixNano(), size)
		if size >= 40 && len(p) != size {
			t.Errorf("Payload(%d) has %d bytes", size, len(p))
		}
		if !jsonValid(p) {
			t.Errorf("Payload(%d) is not JSON: %s", size, p)
		}
	}
}

func jsonValid(p []byte) bool { return json.Valid(p) }
