package redisqtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

// faultDrain is a worker pool draining a queue through a fault: the fault
// is injected once the pool has completed a third of the jobs, and the pool
// must then finish by itself.
type faultDrain struct {
	jobs    int                    // enqueued before the pool starts
	work    time.Duration          // each run of the handler
	options jobqueue.WorkerOptions // of the pool
	// ready runs after the enqueue, before the pool starts.
	ready func()
	// fault injects the fault and returns once it is over (or settled).
	fault func()
	// drained tells from the queue's stats that the pool is done.
	drained func(jobqueue.Stats) bool
	// within bounds the wait for drained after the fault.
	within time.Duration
}

// drainResult is what a faultDrain observed.
type drainResult struct {
	ids  []string       // the enqueued jobs
	ran  map[string]int // how many times the handler ran each job
	last jobqueue.Stats // the queue's stats once drained
}

// enqueueN enqueues n jobs on q in batches, returning their IDs.
func enqueueN(t testing.TB, q *jobqueue.Queue, n int) []string {
	var ids []string
	for i := 0; i < n; i += 500 {
		payloads := make([]any, min(500, n-i))
		for k := range payloads {
			payloads[k] = i + k
		}
		batch, err := q.EnqueueBatch(context.Background(), payloads)
		require.NoError(t, err)
		ids = append(ids, batch...)
	}
	return ids
}

// run enqueues the jobs on q, runs the pool through the fault and waits for
// the drain. The pool is stopped when it returns.
func (f faultDrain) run(t *testing.T, q *jobqueue.Queue) drainResult {
	ctx := context.Background()
	ids := enqueueN(t, q, f.jobs)
	if f.ready != nil {
		f.ready()
	}

	var mu sync.Mutex
	ran := map[string]int{}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	w, err := q.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		ran[j.ID]++
		mu.Unlock()
		time.Sleep(f.work)
		return nil, nil
	}, f.options)
	require.NoError(t, err)
	start := time.Now()
	go func() { done <- w.Run(wctx) }()
	stopPool := sync.OnceFunc(func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop")
		}
	})
	defer stopPool()

	require.Eventually(t, func() bool { return w.Stats().Completed >= int64(f.jobs/3) }, 30*time.Second, 5*time.Millisecond,
		"the pool should complete a third of the jobs before the fault")
	before := w.Stats()
	injected := time.Now()
	f.fault()
	t.Logf("fault over %v after it began, with %d of %d jobs completed before it",
		time.Since(injected).Round(time.Millisecond), before.Completed, f.jobs)

	// testify polls the condition in a goroutine it does not wait for on a
	// timeout, so what the condition records is shared under a lock.
	var (
		lmu     sync.Mutex
		last    jobqueue.Stats
		lastErr error
	)
	drained := assert.Eventually(t, func() bool {
		s, err := q.Stats(ctx)
		lmu.Lock()
		defer lmu.Unlock()
		if lastErr = err; err != nil {
			return false
		}
		last = s
		return f.drained(s)
	}, f.within, 20*time.Millisecond, "the pool drains the queue after the fault")
	lmu.Lock()
	final, finalErr := last, lastErr
	lmu.Unlock()
	if !drained {
		t.Fatalf("last stats %+v, last error %v", final, finalErr)
	}
	t.Logf("drained %d jobs in %v (%v after the fault); worker stats %+v",
		f.jobs, time.Since(start).Round(time.Millisecond), time.Since(injected).Round(time.Millisecond), w.Stats())

	stopPool()
	mu.Lock()
	defer mu.Unlock()
	return drainResult{ids: ids, ran: ran, last: final}
}
