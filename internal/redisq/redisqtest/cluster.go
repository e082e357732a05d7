// cluster.go holds the Cluster and Sentinel tests both Redis adapters run
// on their own client: the clients differ, what they must survive does not.

package redisqtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// ClusterOpen returns a backend on a Cluster client seeded with every node
// of c; tb's cleanup closes what it opened.
type ClusterOpen func(tb testing.TB, c *redistest.Cluster) backend.Backend

// ClusterConformance runs the shared suite on a three-master Cluster. Each
// test's queue has its own hash slot, so the suite spreads over the
// masters; the check at the end makes sure it did.
func ClusterConformance(t *testing.T, open ClusterOpen) {
	// Nothing is killed here: a longer node timeout keeps a node that the
	// loaded machine stalls for a second from being failed over mid-suite.
	c := redistest.StartCluster(t, redistest.WithArgs("--cluster-node-timeout", "5000"))
	b := open(t, c)
	t.Run("Suite", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
	})
	assertSpread(t, c)
	t.Run("WorkerOverMasters", func(t *testing.T) { workerOverMasters(t, c, b) })
}

// workerOverMasters runs one Worker over three queues that live on three
// different masters, weighted 3:2:1, until their backlogs are drained:
// each job runs once, and the queues share the one pool of handlers.
func workerOverMasters(t *testing.T, c *redistest.Cluster, b backend.Backend) {
	ctx := context.Background()
	byMaster := map[string]*jobqueue.Queue{}
	var queues []*jobqueue.Queue
	for i := 0; len(queues) < 3 && i < 1000; i++ {
		name := fmt.Sprintf("spread-%d-%d", time.Now().UnixNano(), i)
		m := c.MasterOf(t, redisq.KeysFor(name).Pending)
		if byMaster[m] != nil {
			continue
		}
		q, err := jobqueue.New(b, name)
		require.NoError(t, err)
		byMaster[m] = q
		queues = append(queues, q)
	}
	require.Len(t, queues, 3, "queue names on three masters")
	const perQueue = 300
	for _, q := range queues {
		batch := make([]any, perQueue)
		for i := range batch {
			batch[i] = i
		}
		_, err := q.EnqueueBatch(ctx, batch)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	w, err := jobqueue.NewWorker(func(_ context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		runs[j.Queue().Name()+"/"+j.ID]++
		mu.Unlock()
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 12, ClaimWait: 200 * time.Millisecond},
		jobqueue.Serve(queues[0], 3), jobqueue.Serve(queues[1], 2), jobqueue.Serve(queues[2], 1))
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	require.Eventually(t, func() bool { return w.Stats().Completed == 3*perQueue }, time.Minute, 20*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, runs, 3*perQueue, "jobs run")
	for key, n := range runs {
		require.Equal(t, 1, n, "runs of %s", key)
	}
	for _, q := range queues {
		s, err := q.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(perQueue), s.CompletedTotal, "queue %s", q.Name())
		assert.Zero(t, s.Pending+s.Processing, "queue %s", q.Name())
	}
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

// ClusterFailover kills the master that serves a queue under a worker
// pool; its replica takes over and the pool finishes the jobs.
func ClusterFailover(t *testing.T, open ClusterOpen) {
	c := redistest.StartCluster(t)
	b := open(t, c)
	queue := "failover"
	key := redisq.KeysFor(queue).Pending
	DrainThroughFailover(t, b, queue, func() { c.WaitReplicated(t, key) }, func() {
		master := c.MasterOf(t, key)
		c.Kill(t, master)
		c.WaitHealthy(t)
		t.Logf("killed master %s; %s serves the queue now", master, c.MasterOf(t, key))
	})
}

// SentinelOpen returns a backend on a client that finds the master of s
// through its Sentinels; tb's cleanup closes what it opened.
type SentinelOpen func(tb testing.TB, s *redistest.Sentinel) backend.Backend

// SentinelConformance runs the shared suite through a Sentinel client.
func SentinelConformance(t *testing.T, open SentinelOpen) {
	b := open(t, redistest.StartSentinel(t))
	conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
}

// SentinelFailover kills the master under a worker pool; the Sentinels
// promote the replica, the client follows, and the pool finishes the jobs.
func SentinelFailover(t *testing.T, open SentinelOpen) {
	s := redistest.StartSentinel(t)
	b := open(t, s)
	DrainThroughFailover(t, b, "failover", func() { s.WaitReplicated(t) }, func() {
		old := s.KillMaster(t)
		t.Logf("killed master %s; the Sentinels promoted %s", old, s.WaitFailover(t, old))
	})
}

// failoverJobs is how many jobs a failover test drains; a few thousand,
// so the pool is in the middle of them when the master dies.
const failoverJobs = 3000

// DrainThroughFailover enqueues a few thousand jobs, calls replicated so
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
func DrainThroughFailover(t *testing.T, b backend.Backend, queue string, replicated, kill func()) {
	ctx := context.Background()
	q, err := jobqueue.New(b, queue,
		jobqueue.WithLease(time.Second),
		jobqueue.WithBackoff(nil),
		// Reclaims after the failover count as attempts; none may
		// dead-letter a job.
		jobqueue.WithMaxAttempts(50),
		// Keep every completion, so a job that is gone was lost, not trimmed.
		jobqueue.WithCompletedRetention(2*failoverJobs, time.Hour))
	require.NoError(t, err)

	res := faultDrain{
		jobs: failoverJobs,
		work: time.Millisecond,
		options: jobqueue.WorkerOptions{
			Concurrency:     16,
			ClaimWait:       200 * time.Millisecond,
			ReclaimInterval: 200 * time.Millisecond,
			ShutdownGrace:   time.Second,
		},
		ready: replicated,
		fault: kill,
		drained: func(s jobqueue.Stats) bool {
			return s.Pending == 0 && s.Processing == 0 && s.Scheduled == 0
		},
		within: 30 * time.Second,
	}.run(t, q)

	var lost, lostNeverRan, again int
	for _, id := range res.ids {
		if res.ran[id] > 1 {
			again++
		}
		info, err := q.Get(ctx, id)
		if errors.Is(err, jobqueue.ErrNotFound) {
			lost++
			if res.ran[id] == 0 {
				lostNeverRan++
			}
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, jobqueue.StateCompleted, info.State, "job %s still exists, so it must have completed", id)
		assert.GreaterOrEqual(t, res.ran[id], 1, "job %s completed without running", id)
	}
	t.Logf("after the failover: %d of %d jobs ran more than once (claims or acks lost in flight), %d lost (%d of them never ran)",
		again, failoverJobs, lost, lostNeverRan)
	if lost > 0 {
		t.Logf("LOSS: %d enqueued jobs are gone after the failover, although their enqueue was replicated (WAIT) before the kill", lost)
	}
}

// ClusterDrain measures what bounds one queue on a Cluster: all of a
// queue's keys share one hash slot, so one queue is served by one master
// however many there are, while queues on different masters are served in
// parallel. Each sub-benchmark drains b.N no-op jobs, spread evenly over
// its queues, with one 32-handler pool per queue.
func ClusterDrain(b *testing.B, open ClusterOpen) {
	c := redistest.StartCluster(b)
	be := open(b, c)
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
