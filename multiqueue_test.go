package jobqueue

import (
	"context"
	"fmt"
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

// outage wraps a real backend and takes one queue's store away on demand,
// as a Cluster master that goes down takes the queues it holds: while down
// is set, that queue's Claim, Complete and Extend fail with ErrUnavailable,
// or, with hang set, block until their context ends. With claims set, its
// claims still work.
type outage struct {
	backend.Backend
	queue  string
	down   atomic.Bool
	hang   bool
	claims bool
}

func (o *outage) away(ctx context.Context, queue string) error {
	if queue != o.queue || !o.down.Load() {
		return nil
	}
	if o.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return fmt.Errorf("%w: connection refused", backend.ErrUnavailable)
}

func (o *outage) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if o.claims {
		return o.Backend.Claim(ctx, p)
	}
	if err := o.away(ctx, p.Queue); err != nil {
		return nil, err
	}
	return o.Backend.Claim(ctx, p)
}

func (o *outage) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if err := o.away(ctx, p.Queue); err != nil {
		return nil, err
	}
	return o.Backend.Complete(ctx, p)
}

func (o *outage) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := o.away(ctx, p.Queue); err != nil {
		return nil, err
	}
	return o.Backend.Extend(ctx, p)
}

// TestOneQueueDownLeavesTheOthersRunning takes one queue's store away
// while its jobs run, so their outcomes cannot be recorded: the other
// queue must still drain its whole backlog, and once the store is back the
// first queue's jobs complete too, none lost. With claims still working
// and only the acks refused, the first queue must stop taking work rather
// than hold the handler slots.
func TestOneQueueDownLeavesTheOthersRunning(t *testing.T) {
	for name, claims := range map[string]bool{"store down": false, "acks refused": true} {
		t.Run(name, func(t *testing.T) {
			b := &outage{Backend: memory.New(), queue: "down", claims: claims}
			down, err := New(b, "down", WithLease(time.Minute))
			require.NoError(t, err)
			up, err := New(b, "up", WithLease(time.Minute))
			require.NoError(t, err)
			const downJobs, upJobs = 100, 1000
			fill(t, down, downJobs)
			fill(t, up, upJobs)

			var gone sync.Once
			w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) {
				if j.Queue() == down {
					gone.Do(func() { b.down.Store(true) }) // the store goes while its jobs run
				}
				return nil, nil
			}, WorkerOptions{Concurrency: 4, ClaimWait: 20 * time.Millisecond}, Serve(down, 1), Serve(up, 1))
			require.NoError(t, err)
			runWorker(t, w)

			completed := func(q *Queue) int64 {
				s, err := q.Stats(context.Background())
				require.NoError(t, err)
				return s.CompletedTotal
			}
			require.Eventually(t, func() bool { return completed(up) == upJobs }, 30*time.Second, 5*time.Millisecond,
				"the healthy queue stopped while the other was down")
			require.True(t, b.down.Load())
			assert.Zero(t, completed(down), "a completion got through while the store was down")

			b.down.Store(false)
			require.Eventually(t, func() bool { return completed(down) == downJobs }, 30*time.Second, 5*time.Millisecond,
				"the queue whose store came back did not finish its jobs")
			s, err := down.Stats(context.Background())
			require.NoError(t, err)
			assert.Zero(t, s.Pending+s.Processing+s.Dead, "jobs left behind: %+v", s)
		})
	}
}

// TestHungQueueKeepsOthersLeases makes one queue's lease renewals hang:
// the other queue's leases must still be renewed, again and again.
func TestHungQueueKeepsOthersLeases(t *testing.T) {
	b := &outage{Backend: memory.New(), queue: "hung", hang: true}
	hung, err := New(b, "hung", WithLease(time.Minute))
	require.NoError(t, err)
	up, err := New(b, "up", WithLease(300*time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = hung.Enqueue(ctx, "stuck")
	require.NoError(t, err)
	upID, err := up.Enqueue(ctx, "renewed")
	require.NoError(t, err)

	hungRunning := make(chan struct{})
	upDone := make(chan struct{})
	w, err := NewWorker(func(ctx context.Context, j *Job) (any, error) {
		if j.Queue() == hung {
			b.down.Store(true) // from now on, its renewals hang
			close(hungRunning)
			<-upDone
			return nil, nil
		}
		<-hungRunning
		// Three renewals of this lease, each seen as a later LeaseUntil.
		last := j.LeaseUntil
		for renewals := 0; renewals < 3; {
			info, err := up.Get(ctx, j.ID)
			if err != nil {
				return nil, err
			}
			if info.LeaseUntil.After(last) {
				last = info.LeaseUntil
				renewals++
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		close(upDone)
		return nil, nil
	}, WorkerOptions{Concurrency: 4, ClaimWait: 20 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, ReclaimInterval: NoReclaim},
		Serve(hung, 1), Serve(up, 1))
	require.NoError(t, err)
	w.flushTimeout = 100 * time.Millisecond // the hung queue's outcome never gets through
	runWorker(t, w)

	select {
	case <-upDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the healthy queue's lease was not renewed while the other queue's renewals hung")
	}
	require.Eventually(t, func() bool {
		info, err := up.Get(ctx, upID)
		return err == nil && info.State == StateCompleted
	}, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, w.Stats().LostClaims)
}

// TestHungClaimLeavesOthersRunning makes one queue's claims hang, as a
// partitioned store's would: the other queue's backlog must still drain,
// whether the hung queue comes first by its pass or by strict priority.
// The hung claim keeps the slots it was granted, so ClaimBatch leaves
// some to the other queue.
func TestHungClaimLeavesOthersRunning(t *testing.T) {
	for name, strict := range map[string]bool{"weights": false, "strict priority": true} {
		t.Run(name, func(t *testing.T) {
			b := &outage{Backend: memory.New(), queue: "hung", hang: true}
			b.down.Store(true)
			hung, err := New(b, "hung")
			require.NoError(t, err)
			other, err := New(b, "other")
			require.NoError(t, err)
			const backlog = 500
			fill(t, hung, backlog)
			fill(t, other, backlog)

			w, err := NewWorker(func(context.Context, *Job) (any, error) { return nil, nil },
				WorkerOptions{Concurrency: 4, ClaimBatch: 2, ClaimWait: 20 * time.Millisecond, StrictPriority: strict},
				Serve(hung, 2), Serve(other, 1))
			require.NoError(t, err)
			runWorker(t, w)
			require.Eventually(t, func() bool {
				s, err := other.Stats(context.Background())
				require.NoError(t, err)
				return s.CompletedTotal == backlog
			}, 30*time.Second, 5*time.Millisecond, "the other queue stopped behind the hung claim")
			s, err := hung.Stats(context.Background())
			require.NoError(t, err)
			assert.Equal(t, int64(backlog), s.Pending, "a claim of the hung queue got through")
		})
	}
}
