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

// TestWeightedQueuesShareClaims serves two queues with weights 3 and 1,
// each with a backlog larger than what is counted, so both still have
// work throughout: the jobs handled must follow the weights within 10 %.
func TestWeightedQueuesShareClaims(t *testing.T) {
	b := memory.New()
	heavy, err := New(b, "heavy")
	require.NoError(t, err)
	light, err := New(b, "light")
	require.NoError(t, err)
	const backlog, counted = 4000, 2000
	fill(t, heavy, backlog)
	fill(t, light, backlog)

	var handled atomic.Int64
	var perQueue [2]atomic.Int64
	enough := make(chan struct{})
	w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) {
		if n := handled.Add(1); n <= counted {
			if j.Queue() == heavy {
				perQueue[0].Add(1)
			} else {
				perQueue[1].Add(1)
			}
			if n == counted {
				close(enough)
			}
		}
		return nil, nil
	}, WorkerOptions{Concurrency: 8, ClaimWait: 50 * time.Millisecond}, Serve(heavy, 3), Serve(light, 1))
	require.NoError(t, err)
	stop := runWorker(t, w)
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d jobs handled", handled.Load())
	}
	stop()

	h, l := perQueue[0].Load(), perQueue[1].Load()
	require.Positive(t, l)
	ratio := float64(h) / float64(l)
	assert.InDelta(t, 3.0, ratio, 0.3, "heavy %d, light %d", h, l)
	t.Logf("heavy %d, light %d: %.3f", h, l, ratio)
	for _, q := range []*Queue{heavy, light} {
		s, err := q.Stats(context.Background())
		require.NoError(t, err)
		assert.Positive(t, s.Pending, "queue %s still had a backlog when the count ended", q.Name())
	}
}

// TestStrictPriorityDrainsFirst serves a high and a low queue, both with a
// backlog, under StrictPriority: no job of the low queue may start while
// the high one still has a job to claim.
func TestStrictPriorityDrainsFirst(t *testing.T) {
	b := memory.New()
	high, err := New(b, "high")
	require.NoError(t, err)
	low, err := New(b, "low")
	require.NoError(t, err)
	fill(t, high, 500)
	fill(t, low, 500)

	var early, lowRuns atomic.Int64
	w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) {
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
	}, WorkerOptions{Concurrency: 8, ClaimWait: 50 * time.Millisecond, StrictPriority: true},
		Serve(low, 1), Serve(high, 2))
	require.NoError(t, err)
	runWorker(t, w)
	require.Eventually(t, func() bool { return w.Stats().Completed == 1000 }, 60*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(500), lowRuns.Load())
	assert.Zero(t, early.Load(), "low jobs started while the high queue had pending jobs")
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
