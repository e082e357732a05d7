package jobqueue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// fill enqueues n jobs on q in batches.
func fill(t *testing.T, q *Queue, n int) {
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

// runWorker runs w until the test ends, and returns a stop function that
// waits for Run.
func runWorker(t *testing.T, w *Worker) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			assert.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestIdleQueueLeavesItsShare serves an empty queue of weight 9 beside a
// busy one of weight 1: the busy one gets every slot but the one the idle
// queue waits with, and a job enqueued on the idle queue is still taken.
func TestIdleQueueLeavesItsShare(t *testing.T) {
	b := memory.New()
	idle, err := New(b, "idle")
	require.NoError(t, err)
	busy, err := New(b, "busy")
	require.NoError(t, err)
	fill(t, busy, 20)

	release := make(chan struct{})
	var running, idleDone atomic.Int64
	w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) {
		if j.Queue() == idle {
			idleDone.Add(1)
			return nil, nil
		}
		running.Add(1)
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, WorkerOptions{Concurrency: 4, ClaimWait: 50 * time.Millisecond}, Serve(idle, 9), Serve(busy, 1))
	require.NoError(t, err)
	runWorker(t, w)
	require.Eventually(t, func() bool { return running.Load() == 3 }, 10*time.Second, 5*time.Millisecond,
		"the busy queue runs on every slot the idle one does not wait with")
	_, err = idle.Enqueue(context.Background(), "now")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return idleDone.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return w.Stats().Completed == 21 }, 10*time.Second, 5*time.Millisecond)
}

// claimCounter counts the Claim calls in flight per queue and the most
// there ever were.
type claimCounter struct {
	backend.Backend
	mu       sync.Mutex
	inFlight map[string]int
	most     int
}

func (c *claimCounter) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	c.mu.Lock()
	c.inFlight[p.Queue]++
	c.most = max(c.most, c.inFlight[p.Queue])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight[p.Queue]--
		c.mu.Unlock()
	}()
	return c.Backend.Claim(ctx, p)
}

// TestOneClaimPerQueue checks that a Worker of many handlers over several
// queues never has two claims of one queue in flight, idle or busy.
func TestOneClaimPerQueue(t *testing.T) {
	c := &claimCounter{Backend: memory.New(), inFlight: map[string]int{}}
	var qs []ServedQueue
	for i, name := range []string{"a", "b", "c"} {
		q, err := New(c, name)
		require.NoError(t, err)
		fill(t, q, 100*i) // a stays empty
		qs = append(qs, Serve(q, i+1))
	}
	w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 16, ClaimBatch: 2, ClaimWait: 20 * time.Millisecond}, qs...)
	require.NoError(t, err)
	runWorker(t, w)
	require.Eventually(t, func() bool { return w.Stats().Completed == 300 }, 20*time.Second, 5*time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Equal(t, 1, c.most)
}

func TestNewWorkerRefusesBadQueues(t *testing.T) {
	b := memory.New()
	q, err := New(b, "q")
	require.NoError(t, err)
	same, err := New(b, "q")
	require.NoError(t, err)
	h := func(context.Context, *Job) (any, error) { return nil, nil }
	for name, qs := range map[string][]ServedQueue{
		"none":        nil,
		"zero weight": {Serve(q, 0)},
		"nil queue":   {Serve(nil, 1)},
		"twice":       {Serve(q, 1), Serve(same, 2)},
	} {
		_, err := NewWorker(h, WorkerOptions{}, qs...)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	other, err := New(b, "other")
	require.NoError(t, err)
	_, err = NewWorker(h, WorkerOptions{Concurrency: 1}, Serve(q, 1), Serve(other, 1))
	assert.ErrorIs(t, err, ErrInvalidArgument, "fewer slots than queues")
}

// taggedBackend is a backend wrapper whose value cannot be compared with
// ==, since it holds a map.
type taggedBackend struct {
	backend.Backend
	tags map[string]string
}

// TestNewWorkerNonComparableBackend serves two queues of a backend whose
// value cannot be compared: NewWorker must tell them apart without
// panicking, and still refuse one *Queue served twice.
func TestNewWorkerNonComparableBackend(t *testing.T) {
	b := taggedBackend{Backend: memory.New(), tags: map[string]string{"env": "test"}}
	a, err := New(b, "a")
	require.NoError(t, err)
	c, err := New(b, "c")
	require.NoError(t, err)
	h := func(context.Context, *Job) (any, error) { return nil, nil }
	var w *Worker
	require.NotPanics(t, func() { w, err = NewWorker(h, WorkerOptions{}, Serve(a, 1), Serve(c, 1)) })
	require.NoError(t, err)
	assert.NotNil(t, w)
	require.NotPanics(t, func() { _, err = NewWorker(h, WorkerOptions{}, Serve(a, 1), Serve(a, 2)) })
	assert.ErrorIs(t, err, ErrInvalidArgument, "one queue served twice")
}
