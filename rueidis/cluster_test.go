package rueidis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	rueidislib "github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// newClusterBackend returns a backend on a client seeded with every node
// of c (rueidis finds out that they form a Cluster), closed by the test's
// cleanup.
func newClusterBackend(t testing.TB, c *redistest.Cluster) *rueidis.Backend {
	client, err := rueidislib.NewClient(rueidislib.ClientOption{InitAddress: c.Addrs})
	require.NoError(t, err)
	t.Cleanup(client.Close)
	b := rueidis.New(client)
	t.Cleanup(b.Close)
	return b
}

// TestClusterConformance runs the shared suite on a three-master Cluster.
// Each test's queue has its own hash slot, so the suite spreads over the
// masters; the check at the end makes sure it did.
func TestClusterConformance(t *testing.T) {
	// Nothing is killed here: a longer node timeout keeps a node that the
	// loaded machine stalls for a second from being failed over mid-suite.
	c := redistest.StartCluster(t, redistest.WithArgs("--cluster-node-timeout", "5000"))
	b := newClusterBackend(t, c)
	t.Run("Suite", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
	})
	assertSpread(t, c)
}

// assertSpread checks that the keys the suite left behind are on at
// least two masters, so the suite did exercise several slots and nodes.
func assertSpread(t *testing.T, c *redistest.Cluster) {
	keys := c.KeysByMaster(t)
	used := 0
	for _, n := range keys {
		if n > 0 {
			used++
		}
	}
	t.Logf("keys left by the suite per master: %v", keys)
	assert.GreaterOrEqual(t, used, 2, "the suite's queues should span several masters")
}

// TestClusterFailoverUnderWorker kills the master that serves a queue under
// a worker pool; its replica takes over and the pool finishes the jobs.
func TestClusterFailoverUnderWorker(t *testing.T) {
	c := redistest.StartCluster(t)
	b := newClusterBackend(t, c)
	queue := "failover"
	key := redisq.KeysFor(queue).Pending
	drainThroughFailover(t, b, queue, func() { c.WaitReplicated(t, key) }, func() {
		master := c.MasterOf(t, key)
		c.Kill(t, master)
		c.WaitHealthy(t)
		t.Logf("killed master %s; %s serves the queue now", master, c.MasterOf(t, key))
	})
}

// failoverJobs is how many jobs a failover test drains; a few thousand,
// so the pool is in the middle of them when the master dies.
const failoverJobs = 3000

// drainThroughFailover enqueues failoverJobs jobs, calls replicated so
// that they are on the replicas, and runs a pool over them; a third of the
// way through it calls kill, which kills the master that holds the queue
// and returns once a replica has taken its place. The pool must go on by
// itself and finish every job that still exists.
//
// Replication is asynchronous, so a write the master acknowledged in its
// last moments may be missing on the replica. Since every enqueue was
// replicated before the kill, what can go missing is only claims and
// acknowledgements in flight, and they come back as duplicates (a job runs
// again), not as loss: a lost claim leaves the job pending, a lost
// completion leaves it processing until its lease is reclaimed. Any job
// that is nonetheless gone is counted and logged, not hidden.
func drainThroughFailover(t *testing.T, b backend.Backend, queue string, replicated, kill func()) {
	ctx := context.Background()
	q, err := jobqueue.New(b, queue,
		jobqueue.WithVisibility(time.Second),
		jobqueue.WithBackoff(nil),
		// Reclaims after the failover count as attempts; none may
		// dead-letter a job.
		jobqueue.WithMaxAttempts(50),
		// Keep every completion, so a job that is gone was lost, not trimmed.
		jobqueue.WithCompletedRetention(2*failoverJobs, time.Hour))
	require.NoError(t, err)

	var ids []string
	for i := 0; i < failoverJobs; i += 500 {
		payloads := make([]any, 500)
		for k := range payloads {
			payloads[k] = i + k
		}
		batch, err := q.EnqueueBatch(ctx, payloads)
		require.NoError(t, err)
		ids = append(ids, batch...)
	}
	replicated()

	var mu sync.Mutex
	ran := map[string]int{}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	w, err := q.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		ran[j.ID]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return nil, nil
	}, jobqueue.WorkerOptions{
		Concurrency:     16,
		ClaimWait:       200 * time.Millisecond,
		ReclaimInterval: 200 * time.Millisecond,
		ShutdownGrace:   time.Second,
	})
	require.NoError(t, err)
	start := time.Now()
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop")
		}
	}()

	require.Eventually(t, func() bool { return w.Stats().Completed >= failoverJobs/3 }, 30*time.Second, 5*time.Millisecond,
		"the pool should complete a third of the jobs before the failover")
	before := w.Stats()
	killed := time.Now()
	kill()
	t.Logf("failover settled %v after the kill, with %d of %d jobs completed before it",
		time.Since(killed).Round(time.Millisecond), before.Completed, failoverJobs)

	var last jobqueue.Stats
	var lastErr error
	drained := assert.Eventually(t, func() bool {
		s, err := q.Stats(ctx)
		if lastErr = err; err != nil {
			return false
		}
		last = s
		return s.Pending == 0 && s.Processing == 0 && s.Scheduled == 0
	}, 30*time.Second, 20*time.Millisecond, "the pool drains the queue after the failover")
	if !drained {
		t.Fatalf("last stats %+v, last error %v", last, lastErr)
	}
	t.Logf("drained %d jobs in %v (%v after the kill); worker stats %+v",
		failoverJobs, time.Since(start).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), w.Stats())

	mu.Lock()
	defer mu.Unlock()
	var lost, lostNeverRan, again int
	for _, id := range ids {
		if ran[id] > 1 {
			again++
		}
		info, err := q.Get(ctx, id)
		if errors.Is(err, jobqueue.ErrNotFound) {
			lost++
			if ran[id] == 0 {
				lostNeverRan++
			}
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, jobqueue.StateCompleted, info.State, "job %s still exists, so it must have completed", id)
		assert.GreaterOrEqual(t, ran[id], 1, "job %s completed without running", id)
	}
	t.Logf("after the failover: %d of %d jobs ran more than once (claims or acks lost in flight), %d lost (%d of them never ran)",
		again, failoverJobs, lost, lostNeverRan)
	if lost > 0 {
		t.Logf("LOSS: %d enqueued jobs are gone after the failover, although their enqueue was replicated (WAIT) before the kill", lost)
	}
}

// BenchmarkClusterDrain measures what bounds one queue on a Cluster: all
// of a queue's keys share one hash slot, so one queue is served by one
// master however many there are, while queues on different masters are
// served in parallel. Each sub-benchmark drains b.N no-op jobs, spread
// evenly over its queues, with one 32-handler pool per queue.
func BenchmarkClusterDrain(b *testing.B) {
	c := redistest.StartCluster(b)
	be := newClusterBackend(b, c)
	queues := clusterQueuesOnMasters(b, c)
	for _, n := range []int{1, len(queues)} {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) {
			benchDrain(b, c, be, queues[:n])
		})
	}
}

// clusterQueuesOnMasters returns a queue name for each master, each in a
// slot served by a different one.
func clusterQueuesOnMasters(tb testing.TB, c *redistest.Cluster) []string {
	masters := c.Masters(tb)
	byMaster := map[string]string{}
	var out []string
	for i := 0; len(out) < len(masters); i++ {
		name := fmt.Sprintf("bench-%d", i)
		m := c.MasterOf(tb, redisq.KeysFor(name).Pending)
		if _, ok := byMaster[m]; !ok {
			byMaster[m] = name
			out = append(out, name)
		}
	}
	return out
}

// benchDrain enqueues b.N jobs over queues, then times pools draining them.
// Besides jobs/s it reports the processor time of the busiest node during
// the drain, in cores: near 1 means that node's one thread was the bound.
func benchDrain(b *testing.B, c *redistest.Cluster, be backend.Backend, names []string) {
	ctx := context.Background()
	var qs []*jobqueue.Queue
	for _, name := range names {
		q, err := jobqueue.New(be, name, jobqueue.WithCompletedRetention(100, time.Minute))
		require.NoError(b, err)
		require.NoError(b, q.Purge(ctx))
		qs = append(qs, q)
	}
	for i, q := range qs {
		n := b.N/len(qs) + min(1, max(0, b.N%len(qs)-i))
		for n > 0 {
			batch := make([]any, min(n, 1000))
			_, err := q.EnqueueBatch(ctx, batch)
			require.NoError(b, err)
			n -= len(batch)
		}
	}
	b.ResetTimer()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var workers []*jobqueue.Worker
	for _, q := range qs {
		w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
			jobqueue.WorkerOptions{Concurrency: 32, ClaimWait: 100 * time.Millisecond})
		require.NoError(b, err)
		workers = append(workers, w)
		wg.Go(func() { _ = w.Run(wctx) })
	}
	cpu := c.CPUTime(b)
	start := time.Now()
	for {
		var done int64
		for _, w := range workers {
			done += w.Stats().Completed
		}
		if done >= int64(b.N) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var busiest time.Duration
	for addr, d := range c.CPUTime(b) {
		busiest = max(busiest, d-cpu[addr])
	}
	stop()
	wg.Wait()
	for _, q := range qs {
		_ = q.Purge(ctx)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(busiest.Seconds()/elapsed.Seconds(), "busiest-node-cores")
}
