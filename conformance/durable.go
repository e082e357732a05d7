package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Durability group pins down backend.DurableWriter on any store:
// whether a write is confirmed durable depends on the store's replicas,
// so each call here may return nil or ErrNotDurable, but in both cases
// the write is made, once, and a call refused for its own reason keeps
// that reason. The waits themselves are checked against real replicas by
// the Redis adapters' own tests (internal/redisq/redisqtest).

func durabilityTests() []testCase {
	return []testCase{
		{name: "EnqueueStores", run: testDurableEnqueue},
		{name: "RefusedEnqueueKeepsItsError", run: testDurableEnqueueRefused},
		{name: "AcksRecorded", run: testDurableAcks},
		{name: "Invalid", run: testDurableInvalid},
		{name: "QueueReturnsIDs", run: testDurableQueue},
		{name: "WorkerCompletes", run: testDurableWorker},
	}
}

// oneReplica asks for one replica, briefly: a store without one reports
// ErrNotDurable after the timeout.
var oneReplica = backend.Durability{Replicas: 1, Timeout: 50 * time.Millisecond}

// durable checks that the backend is a DurableWriter. A backend without
// one must declare the Durability capability missing, so that a wrapper
// that hides the method (an embedded backend.Backend) does not pass
// unnoticed, ignoring every Durability it is given.
func (f *fixture) durable() {
	f.t.Helper()
	f.s.needs(f.t, Durability)
	if _, ok := f.b.(backend.DurableWriter); !ok {
		f.t.Fatalf("conformance: %T does not implement backend.DurableWriter; a backend without it declares conformance.Durability in Harness.Lacks", f.b)
	}
}

// requireDurableOrNot requires err to be nil or to wrap ErrNotDurable.
func requireDurableOrNot(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		require.ErrorIs(t, err, backend.ErrNotDurable, append([]any{what}, args...)...)
	}
}

func testDurableEnqueue(t *testing.T, f *fixture) {
	f.durable()
	p := backend.EnqueueParams{Queue: f.q, RequestID: "durable-enqueue", Durability: oneReplica,
		Jobs: []backend.NewJob{f.job(), f.job(), f.job(delayed(time.Hour))}}
	requireDurableOrNot(t, f.b.Enqueue(f.ctx, p), "durable enqueue")
	ids := f.allIDs()
	f.requireState(ids[0], backend.StatePending)
	f.requireState(ids[1], backend.StatePending)
	f.requireState(ids[2], backend.StateScheduled)
	require.Equal(t, int64(3), f.stats().EnqueuedTotal, "enqueued total")
	require.Equal(t, ids[:2], f.list(backend.StatePending), "pending in order")

	f.unchanged(func() {
		requireDurableOrNot(t, f.b.Enqueue(f.ctx, p), "the repeat of a durable enqueue")
	}, ids...)
}

func testDurableEnqueueRefused(t *testing.T, f *fixture) {
	f.durable()
	id := f.enqueue1()
	f.unchanged(func() {
		err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, RequestID: "taken", Durability: oneReplica,
			Jobs: []backend.NewJob{f.job(), {ID: id, Payload: []byte("{}"), MaxAttempts: 1}}})
		require.ErrorIs(t, err, backend.ErrJobExists)
		require.NotErrorIs(t, err, backend.ErrNotDurable, "a refused enqueue stored nothing to wait for")
	}, f.allIDs()...)
}

func testDurableAcks(t *testing.T, f *fixture) {
	f.durable()
	ids := f.enqueueN(4)
	jobs := f.claimN(4, longLease)
	stale := ack(jobs[3])
	stale.Token += "-stale"

	complete := func() ([]error, error) {
		return f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Retention: keep, Durability: oneReplica,
			Items: []backend.Completion{{Ack: ack(jobs[0]), Result: []byte(`"r"`)}, {Ack: stale}}})
	}
	errs, err := complete()
	require.NoError(t, err, "a durable Complete as a whole")
	require.Len(t, errs, 2)
	requireDurableOrNot(t, errs[0], "a durable completion")
	require.ErrorIs(t, errs[1], backend.ErrLostClaim, "an item refused keeps its own error")
	require.Equal(t, `"r"`, string(f.requireState(ids[0], backend.StateCompleted).Result))
	f.requireState(ids[3], backend.StateProcessing)

	errs, err = f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Retention: keep, Durability: oneReplica,
		Items: []backend.Failure{dead.item(ack(jobs[1])), retryNow.item(ack(jobs[2]))}})
	require.NoError(t, err, "a durable Fail as a whole")
	require.Len(t, errs, 2)
	requireDurableOrNot(t, errs[0], "a durable dead-lettering")
	requireDurableOrNot(t, errs[1], "a durable retry")
	f.requireState(ids[1], backend.StateDead)
	f.requireState(ids[2], backend.StatePending)
	s := f.stats()
	require.Equal(t, int64(1), s.CompletedTotal, "completed total")
	require.Equal(t, int64(1), s.DeadTotal, "dead total")
	require.Equal(t, int64(1), s.RetriedTotal, "retried total")

	f.unchanged(func() {
		errs, err := complete()
		require.NoError(t, err)
		requireDurableOrNot(t, errs[0], "the repeat of a durable completion")
		require.ErrorIs(t, errs[1], backend.ErrLostClaim)
	}, ids...)
}

func testDurableInvalid(t *testing.T, f *fixture) {
	f.durable()
	ids := f.enqueueN(1)
	jobs := f.claimN(1, longLease)
	bad := map[string]backend.Durability{
		"negative replicas": {Replicas: -1, Timeout: time.Second},
		"nothing to wait":   {Timeout: time.Second},
		"no timeout":        {Replicas: 1},
		"sub-ms timeout":    {Replicas: 1, Timeout: time.Microsecond},
	}
	for name, d := range bad {
		f.unchanged(func() {
			err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Durability: d, Jobs: []backend.NewJob{f.job()}})
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "Enqueue, %s", name)
			_, err = f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Retention: keep, Durability: d,
				Items: []backend.Completion{{Ack: ack(jobs[0])}}})
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "Complete, %s", name)
			_, err = f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Retention: keep, Durability: d,
				Items: []backend.Failure{dead.item(ack(jobs[0]))}})
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "Fail, %s", name)
			_, err = jobqueue.New(f.b, f.q, jobqueue.WithDurability(d))
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "WithDurability, %s", name)
			_, err = jobqueue.New(f.b, f.q, jobqueue.WithAckDurability(d))
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "WithAckDurability, %s", name)
		}, append(ids, f.allIDs()...)...)
	}
}

func testDurableQueue(t *testing.T, f *fixture) {
	f.durable()
	ctx := f.ctx
	q := f.queue(jobqueue.WithDurability(jobqueue.Durability(oneReplica)), jobqueue.WithAckDurability(jobqueue.Durability(oneReplica)))

	id, err := q.Enqueue(ctx, map[string]int{"n": 1})
	require.NotEmpty(t, id, "Enqueue returns the id, durable or not")
	requireDurableOrNot(t, err, "a durable Enqueue")
	f.requireState(id, backend.StatePending)
	var nd *jobqueue.NotDurableError
	if errors.As(err, &nd) {
		require.Equal(t, []string{id}, nd.IDs)
		f.unchanged(func() {
			requireDurableOrNot(t, nd.Retry(ctx), "Retry")
		}, id)
	} else {
		require.NoError(t, err)
	}

	ids, err := q.EnqueueBatch(ctx, []any{2, 3}, jobqueue.Durable(jobqueue.Durability{}))
	require.NoError(t, err, "a call that asks for no durability")
	require.Len(t, ids, 2)
	ids, err = q.EnqueueBatch(ctx, []any{4, 5})
	require.Len(t, ids, 2, "EnqueueBatch returns the ids, durable or not")
	requireDurableOrNot(t, err, "a durable EnqueueBatch")
	for _, id := range ids {
		f.requireState(id, backend.StatePending)
	}
	_, err = q.EnqueueBatch(ctx, []any{jobqueue.Item(6, jobqueue.Durable(jobqueue.Durability(oneReplica)))})
	require.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "Durable on one job of a batch")
	require.Equal(t, int64(5), f.stats().EnqueuedTotal, "enqueued total")

	jobs, err := q.Claim(ctx, 1, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	requireDurableOrNot(t, jobs[0].Complete(ctx, "done"), "a durable Job.Complete")
	f.requireState(jobs[0].ID, backend.StateCompleted)
	s, err := q.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(5), s.Process.Enqueued, "this process's enqueued count")
	require.Equal(t, int64(1), s.Process.Completed, "this process's completed count")
}

func testDurableWorker(t *testing.T, f *fixture) {
	f.durable()
	q := workerQueue(f, jobqueue.WithAckDurability(jobqueue.Durability(oneReplica)))
	ids := enqueueN(t, q, 5)
	w, _ := startWorker(t, q, func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
		jobqueue.WorkerOptions{Concurrency: 2, ClaimWait: 50 * time.Millisecond})
	require.Eventually(t, func() bool { return w.Stats().Completed == 5 }, 10*time.Second, tick,
		"the worker counts outcomes recorded, durable or not, as completed")
	for _, id := range ids {
		f.requireState(id, backend.StateCompleted)
	}
	require.Equal(t, int64(5), f.stats().CompletedTotal)
}
