package conformance

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

// multiQueueTests pin down a Worker of several queues on every backend:
// claims shared by weight while both queues have a backlog, and strict
// priority. They count jobs, never time.
func multiQueueTests() []testCase {
	return []testCase{
		{"WeightsShareClaims", false, testWeightsShareClaims},
		{"StrictPriorityDrainsFirst", false, testStrictPriority},
	}
}

// fillQueue enqueues n jobs on q, in batches.
func fillQueue(t *testing.T, q *jobqueue.Queue, n int) {
	t.Helper()
	for n > 0 {
		batch := make([]any, min(n, 1000))
		for i := range batch {
			batch[i] = i
		}
		_, err := q.EnqueueBatch(context.Background(), batch)
		require.NoError(t, err)
		n -= len(batch)
	}
}

// runWorker runs w until the test ends, and returns a function that stops
// it and waits for Run to return.
func runWorker(t *testing.T, w *jobqueue.Worker) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Worker.Run did not return within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// testWeightsShareClaims serves two queues of weights 3 and 1, each with a
// backlog of 3000 jobs, and counts the first 2000 jobs handled, while
// both still have a backlog: they must split 3:1 within 10 %.
func testWeightsShareClaims(t *testing.T, f *fixture) {
	heavy, light := workerQueue(f), workerQueue(f.other())
	const backlog, counted = 3000, 2000
	fillQueue(t, heavy, backlog)
	fillQueue(t, light, backlog)

	var handled, fromHeavy, fromLight atomic.Int64
	enough := make(chan struct{})
	w, err := jobqueue.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if n := handled.Add(1); n <= counted {
			if j.Queue() == heavy {
				fromHeavy.Add(1)
			} else {
				fromLight.Add(1)
			}
			if n == counted {
				close(enough)
			}
		}
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 16, ClaimWait: 100 * time.Millisecond},
		jobqueue.Serve(heavy, 3), jobqueue.Serve(light, 1))
	require.NoError(t, err)
	stop := runWorker(t, w)
	select {
	case <-enough:
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d jobs handled", handled.Load())
	}
	stop()

	h, l := fromHeavy.Load(), fromLight.Load()
	require.Positive(t, l)
	assert.InDelta(t, 3.0, float64(h)/float64(l), 0.3, "jobs handled: %d from the queue of weight 3, %d from the one of weight 1", h, l)
	for _, q := range []*jobqueue.Queue{heavy, light} {
		s, err := q.Stats(context.Background())
		require.NoError(t, err)
		assert.Positive(t, s.Pending, "queue %s had no backlog left when the count ended", q.Name())
	}
}

// testStrictPriority serves a high and a low queue, both with a backlog,
// under StrictPriority: no job of the low queue may start while the high
// one still has a job to claim.
func testStrictPriority(t *testing.T, f *fixture) {
	high, low := workerQueue(f), workerQueue(f.other())
	const n = 300
	fillQueue(t, high, n)
	fillQueue(t, low, n)

	var early, lowRuns atomic.Int64
	w, err := jobqueue.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if j.Queue() == low {
			lowRuns.Add(1)
			s, err := high.Stats(ctx)
			if err != nil {
				return nil, err
			}
			if s.Pending > 0 {
				early.Add(1)
			}
		}
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 8, ClaimWait: 100 * time.Millisecond, StrictPriority: true},
		jobqueue.Serve(low, 1), jobqueue.Serve(high, 2))
	require.NoError(t, err)
	runWorker(t, w)
	require.Eventually(t, func() bool { return w.Stats().Completed == 2*n }, time.Minute, 10*time.Millisecond)
	assert.Equal(t, int64(n), lowRuns.Load())
	assert.Zero(t, early.Load(), "jobs of the low queue started while the high queue had pending jobs")
}
