package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

// workerTests pin down jobqueue.Worker on every backend: it is the part of
// the root package that leans hardest on the backend's timing and token
// rules. The shutdown test runs alone, so that it can count goroutines.
func workerTests() []testCase {
	return []testCase{
		{"GracefulShutdownReleases", true, testWorkerShutdown},
		{"DrainsEveryJobOnce", false, testWorkerDrains},
		{"HeartbeatKeepsLongJobs", false, testWorkerHeartbeat},
		{"LostLeaseCancelsHandler", false, testWorkerLostLease},
		{"RetriesThenCompletes", false, testWorkerRetries},
		{"PermanentAndPanicDeadLetter", false, testWorkerPermanentAndPanic},
		{"ReclaimsCrashedWorkersJobs", false, testWorkerReclaims},
	}
}

// workerQueue opens the fixture's queue for a worker test.
func workerQueue(f *fixture, opts ...jobqueue.Option) *jobqueue.Queue {
	f.t.Helper()
	q, err := jobqueue.New(f.b, f.q, opts...)
	require.NoError(f.t, err)
	return q
}

// startWorker runs w until the test ends (or stop is called) and returns a
// stop function that waits for Run to return.
func startWorker(t *testing.T, q *jobqueue.Queue, h jobqueue.Handler, o jobqueue.WorkerOptions) (*jobqueue.Worker, func()) {
	t.Helper()
	w, err := q.NewWorker(h, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("Worker.Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// enqueueN enqueues n jobs whose payload is their index.
func enqueueN(t *testing.T, q *jobqueue.Queue, n int) []string {
	t.Helper()
	payloads := make([]any, n)
	for i := range payloads {
		payloads[i] = i
	}
	ids, err := q.EnqueueBatch(context.Background(), payloads)
	require.NoError(t, err)
	return ids
}

// waitStats waits until cond holds on the queue's stats.
func waitStats(t *testing.T, q *jobqueue.Queue, within time.Duration, what string, cond func(jobqueue.Stats) bool) jobqueue.Stats {
	t.Helper()
	var last jobqueue.Stats
	require.Eventually(t, func() bool {
		s, err := q.Stats(context.Background())
		if err != nil {
			return false
		}
		last = s
		return cond(s)
	}, within, 10*time.Millisecond, "%s; last stats %+v", what, &last)
	return last
}

// runCounter counts handler runs per job id.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *runCounter) add(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[id]++
	return c.runs[id]
}

func (c *runCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.runs))
	for k, v := range c.runs {
		out[k] = v
	}
	return out
}

func testWorkerDrains(t *testing.T, f *fixture) {
	q := workerQueue(f)
	ids := enqueueN(t, q, 300)
	var runs runCounter
	w, _ := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		runs.add(j.ID)
		return map[string]string{"ok": j.ID}, nil
	}, jobqueue.WorkerOptions{Concurrency: 16, ClaimWait: 100 * time.Millisecond})

	waitStats(t, q, 20*time.Second, "all jobs completed", func(s jobqueue.Stats) bool { return s.CompletedTotal == 300 })
	got := runs.snapshot()
	require.Len(t, got, len(ids))
	for _, id := range ids {
		require.Equal(t, 1, got[id], "job %s runs", id)
	}
	info, err := q.Get(context.Background(), ids[len(ids)-1])
	if err == nil { // the completed history keeps only the most recent jobs
		assert.JSONEq(t, fmt.Sprintf(`{"ok":%q}`, ids[len(ids)-1]), string(info.Result))
	}
	require.Eventually(t, func() bool { return w.Stats().Completed == 300 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(300), w.Stats().Claimed)
}

// testWorkerHeartbeat runs handlers far longer than the lease
// while a reclaimer sweeps often: the heartbeat must keep every lease.
func testWorkerHeartbeat(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 4)
	var runs runCounter
	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		runs.add(j.ID)
		select {
		case <-time.After(2 * time.Second):
			return nil, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}, jobqueue.WorkerOptions{Concurrency: 4, ReclaimInterval: 50 * time.Millisecond, ClaimWait: 100 * time.Millisecond})

	s := waitStats(t, q, 15*time.Second, "long jobs completed", func(s jobqueue.Stats) bool { return s.CompletedTotal == 4 })
	assert.Zero(t, s.ReclaimedTotal, "no lease may expire while its worker heartbeats")
	for _, id := range ids {
		assert.Equal(t, 1, runs.snapshot()[id], "job %s runs once", id)
	}
}

func testWorkerLostLease(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 1)
	started := make(chan struct{})
	causes := make(chan error, 1)
	w, _ := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}, jobqueue.WorkerOptions{Concurrency: 1, ReclaimInterval: -1, ClaimWait: 100 * time.Millisecond})

	<-started
	// Deleting the job takes its claim away; the next heartbeat finds out.
	require.NoError(t, q.Delete(context.Background(), ids[0]))
	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, jobqueue.ErrLostClaim)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled after its lease was lost")
	}
	require.Eventually(t, func() bool { return w.Stats().LostClaims == 1 }, 2*time.Second, 10*time.Millisecond)
	assert.Zero(t, w.Stats().Completed)
}

func testWorkerRetries(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithMaxAttempts(3), jobqueue.WithBackoff(jobqueue.ConstantBackoff(20*time.Millisecond)))
	ids := enqueueN(t, q, 1)
	var runs runCounter
	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if n := runs.add(j.ID); n < 3 {
			return nil, fmt.Errorf("transient failure %d", n)
		}
		return "third time lucky", nil
	}, jobqueue.WorkerOptions{Concurrency: 2, ClaimWait: 100 * time.Millisecond})

	s := waitStats(t, q, 10*time.Second, "job completed on its third attempt", func(s jobqueue.Stats) bool { return s.CompletedTotal == 1 })
	assert.Equal(t, int64(2), s.RetriedTotal)
	info, err := q.Get(context.Background(), ids[0])
	require.NoError(t, err)
	assert.Equal(t, jobqueue.StateCompleted, info.State)
	assert.Equal(t, 3, info.Attempts)
	assert.Equal(t, "transient failure 2", info.LastError)
}

func testWorkerPermanentAndPanic(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithMaxAttempts(2), jobqueue.WithBackoff(nil))
	ctx := context.Background()
	permanent, err := q.Enqueue(ctx, "permanent")
	require.NoError(t, err)
	panics, err := q.Enqueue(ctx, "panic")
	require.NoError(t, err)
	w, _ := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		var kind string
		if err := j.Decode(&kind); err != nil {
			return nil, err
		}
		if kind == "panic" {
			panic("handler bug")
		}
		return nil, jobqueue.Permanent(errors.New("bad input"))
	}, jobqueue.WorkerOptions{Concurrency: 2, ClaimWait: 100 * time.Millisecond})

	waitStats(t, q, 10*time.Second, "both jobs dead", func(s jobqueue.Stats) bool { return s.Dead == 2 })
	info, err := q.Get(ctx, permanent)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Attempts, "a permanent error skips the remaining attempts")
	assert.Equal(t, "bad input", info.LastError)
	info, err = q.Get(ctx, panics)
	require.NoError(t, err)
	assert.Equal(t, 2, info.Attempts, "a panic is retried like an error")
	assert.Contains(t, info.LastError, "handler bug")
	assert.NotContains(t, info.LastError, "goroutine", "the stack goes to the log, not the store")
	assert.Equal(t, int64(2), w.Stats().Panics)
}

// testWorkerReclaims has a "crashed" worker claim jobs and vanish; a live
// worker's reclaim loop must hand them back and finish them.
func testWorkerReclaims(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(200*time.Millisecond))
	ctx := context.Background()
	enqueueN(t, q, 5)
	crashed, err := q.Claim(ctx, 5, time.Second)
	require.NoError(t, err)
	require.Len(t, crashed, 5)

	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) { return nil, nil },
		jobqueue.WorkerOptions{Concurrency: 4, ReclaimInterval: 50 * time.Millisecond, ClaimWait: 100 * time.Millisecond})
	s := waitStats(t, q, 10*time.Second, "reclaimed jobs completed", func(s jobqueue.Stats) bool { return s.CompletedTotal == 5 })
	assert.Equal(t, int64(5), s.ReclaimedTotal)
	for _, j := range crashed {
		assert.ErrorIs(t, j.Complete(ctx, nil), jobqueue.ErrLostClaim, "the crashed worker's token is stale")
	}
}

// testWorkerShutdown cancels a worker whose handlers outlive the grace
// period: Run must return soon after it, with every job back in pending,
// no attempt used up, and none of the worker's goroutines left behind.
func testWorkerShutdown(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(time.Minute))
	ctx := context.Background()
	ids := enqueueN(t, q, 3)
	var started atomic.Int32
	w, stop := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		started.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}, jobqueue.WorkerOptions{Concurrency: 3, ShutdownGrace: 100 * time.Millisecond, ClaimWait: 100 * time.Millisecond})
	require.Eventually(t, func() bool { return started.Load() == 3 }, 5*time.Second, 5*time.Millisecond)

	begin := time.Now()
	stop()
	assert.Less(t, time.Since(begin), 5*time.Second, "Run returns soon after the grace period, not after the lease")
	assert.Equal(t, int64(3), w.Stats().Released)

	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), s.Pending)
	assert.Zero(t, s.Processing)
	for _, id := range ids {
		info, err := q.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, jobqueue.StatePending, info.State)
		assert.Zero(t, info.Attempts, "a released job keeps its attempts")
	}
	assert.Empty(t, workerGoroutines(), "worker goroutines left after Run returned")
}

// workerGoroutines lists the goroutines running jobqueue.Worker code. It is
// only meaningful in a serial test, after its worker stopped: then any such
// goroutine is a leak. It retries briefly, since a goroutine that has
// signalled its end may not have exited yet.
func workerGoroutines() []string {
	var leaked []string
	for range 50 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "jobqueue-go/jobqueue.(*Worker)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return leaked
}
