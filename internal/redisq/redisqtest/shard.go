// shard.go holds the tests and benchmarks of sharded queues (package
// shard) on a Cluster, which both Redis adapters run on their own client.

package redisqtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/shard"
)

// ShardLacks is what a sharded queue does not promise (see package
// shard), for a conformance Harness.
var ShardLacks = map[conformance.Capability]string{
	conformance.GlobalOrder:   "jobs keep their order within a shard, not across shards",
	conformance.AtomicBatches: "an enqueue is atomic within a shard, not across shards",
	conformance.SharedLimits:  "a limit is split into one budget per shard",
}

// ClusterSharded runs the shared suite with every queue sharded three
// ways over a three-master Cluster, then drains one sharded queue with a
// Worker and checks where its jobs ran: each once, a third on each master.
func ClusterSharded(t *testing.T, open ClusterOpen) {
	c := redistest.StartCluster(t, redistest.WithArgs("--cluster-node-timeout", "5000"))
	inner := open(t, c)
	b, err := shard.New(inner, map[string]int{shard.Every: 3})
	require.NoError(t, err)
	t.Run("Suite", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }, Lacks: ShardLacks})
	})
	t.Run("DrainOverMasters", func(t *testing.T) {
		d := drainSharded(t, c, inner, 3, 300, 10)
		t.Log(d)
		require.Len(t, d.jobsByMaster, 3, "masters that ran jobs of a queue of 3 shards")
		for m, n := range d.jobsByMaster {
			share := float64(n) / float64(d.jobs)
			require.InDelta(t, 1.0/3, share, 0.15/3, "share of the jobs on %s (±15 %% of a third)", m)
		}
	})
}

// shardedDrain is what draining one queue cost each master.
type shardedDrain struct {
	shards       int // 1: not sharded
	jobs         int
	elapsed      time.Duration
	jobsByMaster map[string]int
	cpuByMaster  map[string]time.Duration // the master's processor time during the drain
}

// String writes d as a table: per master, its share of the jobs and its
// processor time per job of the whole queue.
func (d shardedDrain) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d jobs, %d shard(s), %v, %.0f jobs/s\n", d.jobs, d.shards, d.elapsed.Round(time.Millisecond), float64(d.jobs)/d.elapsed.Seconds())
	for _, m := range slices.Sorted(maps.Keys(d.cpuByMaster)) {
		fmt.Fprintf(&sb, "  master %s: %5.1f %% of the jobs, %6.1f µs of its CPU per job of the queue\n",
			m, 100*float64(d.jobsByMaster[m])/float64(d.jobs), float64(d.cpuByMaster[m].Microseconds())/float64(d.jobs))
	}
	return sb.String()
}

// maxCPUPerJob is the busiest master's processor time per job.
func (d shardedDrain) maxCPUPerJob() time.Duration {
	var most time.Duration
	for _, c := range d.cpuByMaster {
		most = max(most, c)
	}
	return most / time.Duration(d.jobs)
}

// drainSharded enqueues calls batches of size no-op jobs on a new queue of
// shards shards (1: an unsharded queue) and drains them with one Worker of
// 32 handlers, measuring each master's processor time. Every job must run
// once.
func drainSharded(tb testing.TB, c *redistest.Cluster, inner backend.Backend, shards, calls, size int) shardedDrain {
	ctx := context.Background()
	name := fmt.Sprintf("drain-%d-%d", shards, time.Now().UnixNano())
	var b backend.Backend = inner
	parts := []string{name}
	if shards > 1 {
		sb, err := shard.New(inner, map[string]int{name: shards})
		require.NoError(tb, err)
		b, parts = sb, sb.Shards(name)
	}
	q, err := jobqueue.New(b, name, jobqueue.WithCompletedRetention(100, time.Minute), jobqueue.WithoutRegistry())
	require.NoError(tb, err)
	defer func() { _ = q.Purge(ctx) }()
	for range calls {
		_, err := q.EnqueueBatch(ctx, make([]any, size))
		require.NoError(tb, err)
	}
	jobs := calls * size
	var mu sync.Mutex
	runs := make(map[string]int, jobs)
	w, err := q.NewWorker(func(_ context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 32, ClaimWait: 100 * time.Millisecond})
	require.NoError(tb, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	before := c.CPUTime(tb)
	start := time.Now()
	go func() { done <- w.Run(wctx) }()
	require.Eventually(tb, func() bool { return w.Stats().Completed >= int64(jobs) }, 2*time.Minute, time.Millisecond)
	elapsed := time.Since(start)
	after := c.CPUTime(tb)
	stop()
	require.NoError(tb, <-done)

	mu.Lock()
	require.Len(tb, runs, jobs, "jobs run")
	for id, n := range runs {
		require.Equal(tb, 1, n, "runs of %s", id)
	}
	mu.Unlock()
	d := shardedDrain{shards: shards, jobs: jobs, elapsed: elapsed, jobsByMaster: map[string]int{}, cpuByMaster: map[string]time.Duration{}}
	for _, m := range c.Masters(tb) {
		d.cpuByMaster[m] = after[m] - before[m]
	}
	for _, part := range parts {
		st, err := inner.Stats(ctx, part)
		require.NoError(tb, err)
		d.jobsByMaster[c.MasterOf(tb, redisq.KeysFor(part).Pending)] += int(st.CompletedTotal)
	}
	return d
}

// ClusterShardedDrain measures what sharding a queue buys on a
// three-master Cluster: an unsharded queue is served by one master, a
// queue of 3 or 6 shards by all three. Each sub-benchmark drains b.N
// no-op jobs (enqueued in batches of 10) with one Worker of 32 handlers
// and reports jobs/s, the busiest master's processor time per job, and
// the largest share of the jobs one master served. This machine's 2
// cores run the three masters and the benchmark itself, so wall-clock
// throughput cannot scale here; the per-master figures are what show the
// split.
func ClusterShardedDrain(b *testing.B, open ClusterOpen) {
	c := redistest.StartCluster(b)
	inner := open(b, c)
	for _, shards := range []int{1, 3, 6} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			calls := max(1, b.N/10)
			d := drainSharded(b, c, inner, shards, calls, 10)
			b.Logf("%v", d)
			b.ReportMetric(float64(d.jobs)/d.elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(d.maxCPUPerJob().Nanoseconds())/1e3, "busiest-master-µs/job")
			top := slices.Max(slices.Collect(maps.Values(d.jobsByMaster)))
			b.ReportMetric(100*float64(top)/float64(d.jobs), "top-master-%jobs")
			b.ReportMetric(0, "ns/op")
		})
	}
}
