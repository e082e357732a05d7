package jobqueue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// faultyAcks wraps a real backend and delays or refuses Complete, standing
// in for a slow or unreachable store while claims still work.
type faultyAcks struct {
	backend.Backend
	delay  time.Duration
	refuse atomic.Bool
}

var errUnreachable = errors.New("dial tcp: connection refused")

func (f *faultyAcks) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if f.refuse.Load() {
		return nil, errUnreachable
	}
	time.Sleep(f.delay)
	return f.Backend.Complete(ctx, p)
}

func startInternalWorker(t *testing.T, q *Queue, h Handler, o WorkerOptions) (*Worker, func() time.Duration) {
	t.Helper()
	w, err := q.NewWorker(h, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return w, func() time.Duration {
		begin := time.Now()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
		return time.Since(begin)
	}
}

// A job whose handler has returned, but whose completion is still on its
// way when the grace period ends, must not be released behind its back.
func TestShutdownKeepsFinishedJobsClaimed(t *testing.T) {
	b := &faultyAcks{Backend: memory.New(), delay: 300 * time.Millisecond}
	q, err := New(b, "finished")
	require.NoError(t, err)
	ctx := context.Background()
	quick, err := q.Enqueue(ctx, "quick")
	require.NoError(t, err)
	slow, err := q.Enqueue(ctx, "slow")
	require.NoError(t, err)

	returned := make(chan struct{})
	w, stop := startInternalWorker(t, q, func(ctx context.Context, j *Job) (any, error) {
		if j.ID == quick {
			close(returned)
			return nil, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}, WorkerOptions{Concurrency: 2, ClaimBatch: 2, ShutdownGrace: 50 * time.Millisecond, ClaimWait: 50 * time.Millisecond})
	<-returned
	stop()

	info, err := q.Get(ctx, quick)
	require.NoError(t, err)
	assert.Equal(t, StateCompleted, info.State, "the finished job's outcome is recorded, not overtaken by a release")
	info, err = q.Get(ctx, slow)
	require.NoError(t, err)
	assert.Equal(t, StatePending, info.State, "the running job is released")
	s := w.Stats()
	assert.Equal(t, int64(1), s.Released)
	assert.Equal(t, int64(1), s.Completed)
	assert.Zero(t, s.LostClaims)
}

// Run must return in bounded time when the backend refuses every
// completion and a handler ignores its context.
func TestShutdownIsBoundedWhenAcksFailAndHandlersHang(t *testing.T) {
	defer func(d time.Duration) { ackFlushTimeout = d }(ackFlushTimeout)
	ackFlushTimeout = 200 * time.Millisecond

	b := &faultyAcks{Backend: memory.New()}
	b.refuse.Store(true)
	q, err := New(b, "stuck", WithVisibility(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = q.EnqueueBatch(ctx, []any{1, 2, 3, 4})
	require.NoError(t, err)

	hang := make(chan struct{})
	defer close(hang)
	var ran atomic.Int32
	_, stop := startInternalWorker(t, q, func(ctx context.Context, j *Job) (any, error) {
		if ran.Add(1) == 1 {
			<-hang // ignores ctx
		}
		return nil, nil
	}, WorkerOptions{Concurrency: 2, ShutdownGrace: 50 * time.Millisecond, ClaimWait: 50 * time.Millisecond})
	require.Eventually(t, func() bool { return ran.Load() >= 2 }, 5*time.Second, 5*time.Millisecond)
	took := stop()
	assert.Less(t, took, 5*time.Second, "shutdown is bounded by the grace period and the flush bound")
}

func TestTransient(t *testing.T) {
	assert.True(t, transient(errUnreachable))
	assert.True(t, transient(context.DeadlineExceeded))
	assert.False(t, transient(ErrInvalidArgument))
	assert.False(t, transient(ErrPayloadTooLarge))
}

func TestWorkerRunsOnce(t *testing.T) {
	q, err := New(memory.New(), "once")
	require.NoError(t, err)
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil }, WorkerOptions{ClaimWait: 10 * time.Millisecond})
	stop()
	assert.ErrorIs(t, w.Run(context.Background()), ErrInvalidArgument)
}
