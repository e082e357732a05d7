package jobqueue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// countedRegistry is a memory backend whose RegisterQueue is counted, and
// can be held up (gate) or refused (refuse) for a test.
type countedRegistry struct {
	*memory.Backend
	calls  atomic.Int32
	gate   chan struct{} // when set, RegisterQueue waits for it to close
	refuse atomic.Bool
}

var errNoPerm = errors.New("jobqueue: redis: NOPERM No permissions to access a key")

func (c *countedRegistry) RegisterQueue(ctx context.Context, queue string) error {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if c.refuse.Load() {
		return errNoPerm
	}
	return c.Backend.RegisterQueue(ctx, queue)
}

// registered reports whether name is in b's registry.
func registered(t *testing.T, b backend.Backend, name string) bool {
	t.Helper()
	entries, err := Queues(context.Background(), b)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// requireRegistered waits until name is registered in b.
func requireRegistered(t *testing.T, b backend.Backend, name string) {
	t.Helper()
	require.Eventually(t, func() bool { return registered(t, b, name) }, 5*time.Second, time.Millisecond, "%s is not registered", name)
}

// TestEnqueueRegistersOnce: a Queue value registers its queue after its
// first successful enqueue, and never again; an enqueue that stores
// nothing registers nothing; another Queue value of the same name
// registers once more.
func TestEnqueueRegistersOnce(t *testing.T) {
	ctx := context.Background()
	b := &countedRegistry{Backend: memory.New()}

	refused, err := New(b, "refused")
	require.NoError(t, err)
	_, err = refused.Enqueue(ctx, make(chan int))
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = refused.Enqueue(ctx, "x", WithID("a b"))
	require.ErrorIs(t, err, ErrInvalidArgument)

	q, err := New(b, "emails")
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, "first")
	require.NoError(t, err)
	requireRegistered(t, b, "emails")
	_, err = q.EnqueueBatch(ctx, []any{"a", "b"})
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, "later", Delay(time.Hour))
	require.NoError(t, err)
	require.Equal(t, int32(1), b.calls.Load(), "registrations after four enqueues of one Queue value and two refused ones of another")
	require.False(t, registered(t, b, "refused"), "a queue whose enqueues stored nothing")

	again, err := New(b, "emails")
	require.NoError(t, err)
	_, err = again.Enqueue(ctx, "x")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.calls.Load() == 2 }, 5*time.Second, time.Millisecond, "another Queue value's first enqueue")
	_, err = again.Enqueue(ctx, "y")
	require.NoError(t, err)
	require.Equal(t, int32(2), b.calls.Load(), "registrations after its second enqueue")
}

// TestWorkerRegisters: a Worker registers the queues it serves as it
// starts, unless their Queue value did already, and registers them again
// every refresh interval while it runs, moving their LastSeen on.
func TestWorkerRegisters(t *testing.T) {
	ctx := context.Background()
	b := &countedRegistry{Backend: memory.New()}
	q, err := New(b, "reports")
	require.NoError(t, err)
	_, stop1 := startInternalWorker(t, q, idle, WorkerOptions{})
	requireWorkers(t, 1, q)
	require.True(t, registered(t, b, "reports"), "after a Worker started")
	// Each Worker registers before its first beat, so a second one that
	// beat has made its choice.
	_, stop2 := startInternalWorker(t, q, idle, WorkerOptions{})
	requireWorkers(t, 2, q)
	require.Equal(t, int32(1), b.calls.Load(), "registrations by two Workers on one Queue value")
	stop1()
	stop2()

	// A Queue value that registered on enqueue: its Worker does not again.
	p, err := New(b, "payments")
	require.NoError(t, err)
	_, err = p.Enqueue(ctx, "x")
	require.NoError(t, err)
	requireRegistered(t, b, "payments")
	_, stop := startInternalWorker(t, p, idle, WorkerOptions{})
	requireWorkers(t, 1, p)
	require.Equal(t, int32(2), b.calls.Load(), "registrations after a Worker started on a Queue value that enqueued")
	stop()

	// A Worker that refreshes often: its queue's LastSeen moves on.
	r, err := New(b, "refreshed")
	require.NoError(t, err)
	_, stop = startInternalWorker(t, r, idle, WorkerOptions{}, func(w *Worker) {
		w.beatEvery, w.refreshEvery = time.Millisecond, time.Millisecond
	})
	defer stop()
	requireRegistered(t, b, "refreshed")
	first := lastSeen(t, b, "refreshed")
	require.Eventually(t, func() bool { return lastSeen(t, b, "refreshed").After(first) }, 5*time.Second, time.Millisecond,
		"LastSeen of a queue whose Worker refreshes stays %v", first)
}

func lastSeen(t *testing.T, b backend.Backend, name string) time.Time {
	t.Helper()
	entries, err := Queues(context.Background(), b)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name == name {
			return e.LastSeen
		}
	}
	t.Fatalf("%s is not registered", name)
	return time.Time{}
}

// TestRegistrationNeverHoldsUpEnqueue: an enqueue returns while its
// registration is still held up in the store; a refused registration
// fails no enqueue, is logged once, and is tried again only after
// registerRetry, by a later enqueue, which then succeeds.
func TestRegistrationNeverHoldsUpEnqueue(t *testing.T) {
	ctx := context.Background()
	b := &countedRegistry{Backend: memory.New(), gate: make(chan struct{})}
	b.refuse.Store(true)
	q, err := New(b, "acl")
	require.NoError(t, err)
	var logs logLines
	q.log = logs.logger()

	id, err := q.Enqueue(ctx, "x")
	require.NoError(t, err, "an enqueue whose registration is held up")
	require.Eventually(t, func() bool { return b.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	// The registration is still waiting at the gate: the enqueue did not
	// wait for it.
	info, err := q.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, StatePending, info.State)
	_, err = q.Enqueue(ctx, "y")
	require.NoError(t, err, "an enqueue while the registration is on its way")
	close(b.gate)

	waitRegistration := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			q.reg.mu.Lock()
			defer q.reg.mu.Unlock()
			return !q.reg.running
		}, 5*time.Second, time.Millisecond)
	}
	waitRegistration()
	require.False(t, registered(t, b, "acl"))
	for range 3 {
		_, err = q.Enqueue(ctx, "z")
		require.NoError(t, err, "an enqueue after the registration was refused")
	}
	require.Equal(t, int32(1), b.calls.Load(), "registrations tried within registerRetry of a refusal")

	// registerRetry later, the next enqueue tries again.
	retry := func() {
		t.Helper()
		q.reg.mu.Lock()
		q.reg.next = time.Now()
		q.reg.mu.Unlock()
		_, err = q.Enqueue(ctx, "z")
		require.NoError(t, err)
		waitRegistration()
	}
	retry()
	require.Equal(t, int32(2), b.calls.Load(), "registrations after registerRetry")
	require.Equal(t, 1, logs.count("level=WARN"), "warnings after two refusals")
	require.Equal(t, 1, logs.count("level=WARN", "jobqueue:queues", "NOPERM"), "the warning names the key to grant, and Redis's refusal")
	require.Equal(t, 1, logs.count("level=DEBUG", "registration failed"), "the second refusal, at DEBUG")

	b.refuse.Store(false)
	retry()
	require.True(t, registered(t, b, "acl"), "after a registration the store accepted")
	_, err = q.Enqueue(ctx, "done")
	require.NoError(t, err)
	require.Equal(t, int32(3), b.calls.Load(), "registrations once one succeeded")
}

// TestQueuesNeedsRegistry: the root's registry calls check their input
// and say what the backend lacks.
func TestQueuesNeedsRegistry(t *testing.T) {
	ctx := context.Background()
	_, err := Queues(ctx, struct{ backend.Backend }{memory.New()})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorIs(t, ForgetQueue(ctx, struct{ backend.Backend }{memory.New()}, "a"), errors.ErrUnsupported)
	_, err = Queues(ctx, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	b := memory.New()
	require.ErrorIs(t, ForgetQueue(ctx, b, "a b"), ErrInvalidQueueName)
	require.NoError(t, b.RegisterQueue(ctx, "a"))
	require.NoError(t, ForgetQueue(ctx, b, "a"))
	got, err := Queues(ctx, b)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestWithoutRegistry: a queue opened WithoutRegistry is registered
// neither by its enqueues nor by its Workers.
func TestWithoutRegistry(t *testing.T) {
	ctx := context.Background()
	b := &countedRegistry{Backend: memory.New()}
	q, err := New(b, "bench-1", WithoutRegistry())
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, "x")
	require.NoError(t, err)
	_, stop := startInternalWorker(t, q, idle, WorkerOptions{})
	// A Worker registers before its first beat: once it is counted, it
	// would have.
	requireWorkers(t, 1, q)
	stop()

	listed, err := New(b, "emails")
	require.NoError(t, err)
	_, err = listed.Enqueue(ctx, "y")
	require.NoError(t, err)
	requireRegistered(t, b, "emails")
	require.False(t, registered(t, b, "bench-1"), "a queue opened WithoutRegistry")
	require.Equal(t, int32(1), b.calls.Load(), "registrations: the listed queue's only")
}
