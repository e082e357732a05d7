package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Cancel group pins down backend.Canceller: a job that has not
// started never runs; a running one learns of its cancel at its next
// heartbeat, from the store, and whatever its claim does next ends it
// cancelled, never retried nor dead-lettered.

func cancelTests() []testCase {
	each := func(check func(t *testing.T, f *fixture, op ackOp)) func(*testing.T, *fixture) {
		return func(t *testing.T, f *fixture) { forEachOp(t, f, outcomeOps, check) }
	}
	return []testCase{
		{name: "Pending", run: testCancelPending},
		{name: "Scheduled", run: testCancelScheduled},
		{name: "ScheduledDue", run: testCancelScheduledDue},
		{name: "Processing/ExtendRefused", run: testCancelExtend},
		{name: "Processing/OutcomeRefused", run: each(testCancelOutcome)},
		{name: "Processing/StaleTokenLostClaim", run: testCancelStaleToken},
		{name: "Processing/ReclaimEndsCancelled", run: testCancelReclaim},
		{name: "Processing/PoisonReclaimEndsCancelled", run: testCancelReclaimPoison},
		{name: "Processing/RetentionOfTheCancel", run: testCancelProcessingRetention},
		{name: "Finished/WrongState", run: testCancelFinished},
		{name: "Unknown", run: testCancelUnknown},
		{name: "Again", run: testCancelAgain},
		{name: "Batch", run: testCancelBatch},
		{name: "Retention/Max", run: testCancelRetentionMax},
		{name: "Retention/TTL", run: testCancelRetentionTTL},
		{name: "Retention/KeepNothing", run: testCancelKeepNothing},
		{name: "Events", run: testCancelEvents},
		{name: "History", run: testCancelHistory},
		{name: "Purge", run: testCancelPurge},
		{name: "Invalid", run: testCancelInvalid},
		{name: "ContextAlreadyEnded", run: testCancelEndedContext},
		{name: "Repeat", run: func(t *testing.T, f *fixture) { testRepeat(t, f, cancelRepeatCase) }},
		{name: "LostReply", run: func(t *testing.T, f *fixture) { testLostReply(t, f, cancelRepeatCase) }},
		{name: "RepeatPublishesNothing", run: func(t *testing.T, f *fixture) { testRepeatEvents(t, f, cancelRepeatCase) }},
		{name: "Queue/Errors", run: testCancelQueueErrors},
		{name: "Worker/CancelsHandler", run: testCancelWorker},
		{name: "Worker/OutcomeOfIgnoredCancelRefused", run: testCancelWorkerIgnored},
	}
}

// canceller returns the backend's Canceller. A backend without one fails
// the test, unless the harness declares Cancel missing: a wrapper that
// embeds backend.Backend hides the method, and must not pass unnoticed.
func (f *fixture) canceller() backend.Canceller {
	f.t.Helper()
	f.s.needs(f.t, Cancel)
	c, ok := f.b.(backend.Canceller)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.Canceller; a backend without it declares conformance.Cancel in Harness.Lacks", f.b)
	}
	return c
}

// cancelCall cancels ids under r and returns the per-item errors, the call
// as a whole required to succeed.
func (f *fixture) cancelCall(r backend.Retention, ids ...string) []error {
	f.t.Helper()
	errs, err := f.canceller().Cancel(f.ctx, backend.CancelParams{Queue: f.q, IDs: ids, Retention: r})
	require.NoError(f.t, err, "cancel %v", ids)
	require.Len(f.t, errs, len(ids), "one error per item")
	return errs
}

// cancel cancels ids, keeping them, and requires every item to succeed.
func (f *fixture) cancel(ids ...string) {
	f.t.Helper()
	for i, err := range f.cancelCall(keep, ids...) {
		require.NoError(f.t, err, "cancel of %s", ids[i])
	}
}

// requireCancelled requires id to be cancelled, finished about now, and
// listed first in the cancelled history.
func (f *fixture) requireCancelled(id string) backend.JobInfo {
	f.t.Helper()
	info := f.requireState(id, backend.StateCancelled)
	requireNear(f.t, time.Now(), info.FinishedAt, 2*time.Second, "FinishedAt of a cancelled job")
	require.True(f.t, info.LeaseUntil.IsZero(), "LeaseUntil of a cancelled job")
	got := f.list(backend.StateCancelled)
	require.NotEmpty(f.t, got, "the cancelled history")
	require.Equal(f.t, id, got[0], "the most recent cancel is listed first")
	return info
}

func testCancelPending(t *testing.T, f *fixture) {
	all := f.enqueueN(3)
	f.cancel(all[1])
	f.requireCancelled(all[1])
	require.Equal(t, []string{all[0], all[2]}, f.list(backend.StatePending))
	require.Equal(t, backend.Stats{Pending: 2, Cancelled: 1, EnqueuedTotal: 3, CancelledTotal: 1}, f.stats())
	require.Equal(t, []string{all[0], all[2]}, ids(f.claimN(2, longLease)), "the claims pass over the cancelled job")
	f.requireNoneClaimable()
	f.requireState(all[1], backend.StateCancelled)
}

func testCancelScheduled(t *testing.T, f *fixture) {
	id := f.enqueue1(delayed(longLease))
	f.cancel(id)
	f.requireCancelled(id)
	require.Empty(t, f.list(backend.StateScheduled))
	require.Equal(t, backend.Stats{Cancelled: 1, EnqueuedTotal: 1, CancelledTotal: 1}, f.stats())
}

// testCancelScheduledDue cancels a delayed job whose time has come, which
// reads as pending though no claim has moved it yet.
func testCancelScheduledDue(t *testing.T, f *fixture) {
	id := f.enqueue1(delayed(shortLease))
	time.Sleep(shortLease + 2*clockSlack)
	f.requireState(id, backend.StatePending)
	f.cancel(id)
	f.requireCancelled(id)
	f.requireNoneClaimable()
	require.Equal(t, backend.Stats{Cancelled: 1, EnqueuedTotal: 1, CancelledTotal: 1}, f.stats())
}

// cancelRunning claims a new job and cancels it.
func (f *fixture) cancelRunning(lease time.Duration, mods ...func(*backend.NewJob)) backend.ClaimedJob {
	f.t.Helper()
	c := f.claimID(f.enqueue1(mods...), lease)
	f.cancel(c.ID)
	return c
}

func testCancelExtend(t *testing.T, f *fixture) {
	c := f.cancelRunning(longLease)
	info := f.requireState(c.ID, backend.StateProcessing)
	require.Equal(t, backend.Stats{Processing: 1, EnqueuedTotal: 1, ClaimedTotal: 1}, f.stats(), "a cancel of a running job waits for its claim to end")
	time.Sleep(5 * clockSlack)
	f.unchanged(func() {
		require.ErrorIs(t, extendOp.one(f, ack(c)), backend.ErrCancelled, "the heartbeat of a cancelled job")
	}, c.ID)
	require.Equal(t, info.LeaseUntil, f.get(c.ID).LeaseUntil, "the lease was renewed")
	f.requireNoneClaimable()
}

// testCancelOutcome: whatever outcome a cancelled job's claim sends is
// refused, and the job ends cancelled, counted as nothing else; the
// outcome repeated, or any other, says the same.
func testCancelOutcome(t *testing.T, f *fixture, op ackOp) {
	c := f.cancelRunning(longLease)
	require.ErrorIs(t, op.one(f, ack(c)), backend.ErrCancelled, "%s of a cancelled job", op.name)
	f.requireCancelled(c.ID)
	want := backend.Stats{Cancelled: 1, EnqueuedTotal: 1, ClaimedTotal: 1, CancelledTotal: 1}
	require.Equal(t, want, f.stats())
	f.unchanged(func() {
		for _, again := range allAckOps {
			require.ErrorIs(t, again.one(f, ack(c)), backend.ErrCancelled, "%s after the cancel ended the claim", again.name)
		}
	}, c.ID)
	f.requireNoneClaimable()
	require.Zero(t, f.reclaim(10).Len())
	require.Equal(t, want, f.stats())
}

// testCancelStaleToken: the cancel of a running job does not change the
// token rules: a stale token is a lost claim and changes nothing.
func testCancelStaleToken(t *testing.T, f *fixture) {
	c := f.cancelRunning(longLease)
	stale := backend.Ack{ID: c.ID, Token: c.Token + "-stale"}
	f.unchanged(func() {
		for _, op := range allAckOps {
			require.ErrorIs(t, op.one(f, stale), backend.ErrLostClaim, "%s with a stale token", op.name)
		}
	}, c.ID)
	f.requireState(c.ID, backend.StateProcessing)
}

// testCancelReclaim: a cancelled job whose worker died ends cancelled
// when its lease runs out, neither requeued nor dead; the late outcome of
// its claim is refused as cancelled.
func testCancelReclaim(t *testing.T, f *fixture) {
	c := f.cancelRunning(shortLease)
	other := f.claimID(f.enqueue1(), shortLease)
	waitExpired(c, other)
	r := f.reclaim(10)
	require.Equal(t, []string{other.ID}, r.Requeued, "the reclaim requeued")
	require.Empty(t, r.Dead, "the reclaim dead-lettered")
	f.requireCancelled(c.ID)
	require.Equal(t, []string{other.ID}, ids(f.claimN(1, longLease)), "only the job not cancelled comes back")
	f.requireNoneClaimable()
	require.ErrorIs(t, completeOp.one(f, ack(c)), backend.ErrCancelled, "the late complete of a cancelled job")
	st := f.stats()
	require.Equal(t, int64(1), st.CancelledTotal)
	require.Equal(t, int64(1), st.Cancelled)
	require.Zero(t, st.DeadTotal)
}

// testCancelReclaimPoison: a cancelled job on its last attempt is
// cancelled, not dead-lettered, when its lease runs out.
func testCancelReclaimPoison(t *testing.T, f *fixture) {
	c := f.cancelRunning(shortLease, maxAttempts(1))
	waitExpired(c)
	require.Zero(t, f.reclaim(10).Len(), "the reclaim requeued or dead-lettered a cancelled job")
	f.requireCancelled(c.ID)
	require.Empty(t, f.list(backend.StateDead))
	require.Zero(t, f.stats().DeadTotal)
}

// testCancelProcessingRetention: a running job ends under the retention
// of its cancel, whatever the outcome's own call says.
func testCancelProcessingRetention(t *testing.T, f *fixture) {
	c := f.claimID(f.enqueue1(), longLease)
	require.NoError(t, f.cancelCall(backend.Retention{}, c.ID)[0])
	require.ErrorIs(t, completeOp.one(f, ack(c)), backend.ErrCancelled)
	f.requireGone(c.ID)
	require.Empty(t, f.list(backend.StateCancelled))
	require.Equal(t, backend.Stats{EnqueuedTotal: 1, ClaimedTotal: 1, CancelledTotal: 1}, f.stats())
}

func testCancelFinished(t *testing.T, f *fixture) {
	done := f.claimID(f.enqueue1(), longLease)
	f.complete(done)
	gone := f.claimID(f.enqueue1(), longLease)
	f.fail(dead, gone)
	f.unchanged(func() {
		for i, err := range f.cancelCall(keep, done.ID, gone.ID) {
			require.ErrorIs(t, err, backend.ErrWrongState, "cancel of a finished job (item %d)", i)
		}
	}, done.ID, gone.ID)
}

func testCancelUnknown(t *testing.T, f *fixture) {
	f.unchanged(func() {
		require.ErrorIs(t, f.cancelCall(keep, "no-such-job")[0], backend.ErrNotFound)
	})
	f.enqueue1()
	f.unchanged(func() {
		require.ErrorIs(t, f.cancelCall(keep, "no-such-job")[0], backend.ErrNotFound)
	})
}

// testCancelAgain: a job already cancelled, or already marked, is a no-op
// that succeeds.
func testCancelAgain(t *testing.T, f *fixture) {
	id := f.enqueue1()
	f.cancel(id)
	c := f.cancelRunning(longLease)
	f.unchanged(func() { f.cancel(id, c.ID) }, id, c.ID)
	require.ErrorIs(t, completeOp.one(f, ack(c)), backend.ErrCancelled)
	f.unchanged(func() { f.cancel(id, c.ID) }, id, c.ID)
	require.Equal(t, int64(2), f.stats().CancelledTotal)
}

// testCancelBatch: each item is checked on its own, and its result comes
// back in its place.
func testCancelBatch(t *testing.T, f *fixture) {
	done := f.claimID(f.enqueue1(), longLease)
	f.complete(done)
	running := f.claimID(f.enqueue1(), longLease)
	pending := f.enqueue1()
	scheduled := f.enqueue1(delayed(longLease))
	errs := f.cancelCall(keep, pending, "no-such-job", done.ID, running.ID, scheduled)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], backend.ErrNotFound)
	require.ErrorIs(t, errs[2], backend.ErrWrongState)
	require.NoError(t, errs[3])
	require.NoError(t, errs[4])
	require.Equal(t, []string{scheduled, pending}, f.list(backend.StateCancelled), "cancelled in the order given, the last first")
	f.requireState(running.ID, backend.StateProcessing)
	f.requireState(done.ID, backend.StateCompleted)
}

func testCancelRetentionMax(t *testing.T, f *fixture) {
	ids := f.enqueueN(4)
	r := backend.Retention{Max: 2, TTL: time.Hour}
	for _, id := range ids[:3] {
		require.NoError(t, f.cancelCall(r, id)[0])
	}
	require.Equal(t, []string{ids[2], ids[1]}, f.list(backend.StateCancelled))
	f.requireGone(ids[0])
	require.Equal(t, int64(2), f.stats().Cancelled)
	require.Equal(t, int64(3), f.stats().CancelledTotal)
	f.requireState(ids[3], backend.StatePending)
}

func testCancelRetentionTTL(t *testing.T, f *fixture) {
	id := f.enqueue1()
	require.NoError(t, f.cancelCall(backend.Retention{Max: 10, TTL: shortLease}, id)[0])
	f.requireState(id, backend.StateCancelled)
	require.Eventually(t, func() bool {
		_, err := f.b.Get(f.ctx, f.q, id)
		return errors.Is(err, backend.ErrNotFound)
	}, eventually, tick, "the cancelled job did not expire")
	require.Empty(t, f.list(backend.StateCancelled))
	require.Zero(t, f.stats().Cancelled)
}

func testCancelKeepNothing(t *testing.T, f *fixture) {
	id := f.enqueue1()
	require.NoError(t, f.cancelCall(backend.Retention{Max: 10}, id)[0])
	f.requireGone(id)
	require.Equal(t, backend.Stats{EnqueuedTotal: 1, CancelledTotal: 1}, f.stats())
}

// testCancelEvents: a job is published cancelled when it becomes so: at
// the cancel when it was waiting, when its claim ends when it ran.
func testCancelEvents(t *testing.T, f *fixture) {
	open := f.subscriber()
	running := f.claimID(f.enqueue1(), longLease)
	waiting := f.enqueue1()
	ch := f.subscribe(open)
	f.cancel(waiting, running.ID)
	ev := f.awaitEvent(ch, backend.EventCancelled, "")
	require.Equal(t, []string{waiting}, ev.IDs, "the cancel's event")
	require.ErrorIs(t, failRetryOp.one(f, ack(running)), backend.ErrCancelled)
	ev = f.awaitEvent(ch, "", "")
	require.Equal(t, backend.Event{Queue: f.q, Kind: backend.EventCancelled, IDs: []string{running.ID}}, ev, "the refused outcome's event")
}

func testCancelHistory(t *testing.T, f *fixture) {
	f.historian()
	start := time.Now()
	ids := f.enqueueN(2)
	c := f.claimID(ids[0], longLease)
	f.cancel(ids...)
	require.ErrorIs(t, releaseOp.one(f, ack(c)), backend.ErrCancelled)
	require.Equal(t, backend.HistoryPoint{Enqueued: 2, Cancelled: 2}, f.historySince(start))
}

func testCancelPurge(t *testing.T, f *fixture) {
	c := f.cancelRunning(longLease)
	ids := f.enqueueN(2)
	f.cancel(ids[0])
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, backend.Stats{}, f.stats())
	require.Empty(t, f.list(backend.StateCancelled))
	f.requireGone(ids[0])
	f.requireGone(c.ID)
	require.ErrorIs(t, completeOp.one(f, ack(c)), backend.ErrNotFound)
}

func testCancelInvalid(t *testing.T, f *fixture) {
	id := f.enqueue1()
	cancel := f.canceller()
	for _, tc := range []struct {
		name string
		p    backend.CancelParams
		want error
	}{
		{"no ids", backend.CancelParams{Queue: f.q, Retention: keep}, backend.ErrInvalidArgument},
		{"empty id", backend.CancelParams{Queue: f.q, IDs: []string{id, ""}, Retention: keep}, backend.ErrInvalidArgument},
		{"id twice", backend.CancelParams{Queue: f.q, IDs: []string{id, id}, Retention: keep}, backend.ErrInvalidArgument},
		{"id with a space", backend.CancelParams{Queue: f.q, IDs: []string{id, "a b"}, Retention: keep}, backend.ErrInvalidArgument},
		{"negative max", backend.CancelParams{Queue: f.q, IDs: []string{id}, Retention: backend.Retention{Max: -1, TTL: time.Hour}}, backend.ErrInvalidArgument},
		{"negative TTL", backend.CancelParams{Queue: f.q, IDs: []string{id}, Retention: backend.Retention{Max: 1, TTL: -time.Hour}}, backend.ErrInvalidArgument},
		{"bad request id", backend.CancelParams{Queue: f.q, IDs: []string{id}, Retention: keep, RequestID: "a b"}, backend.ErrInvalidArgument},
		{"bad queue", backend.CancelParams{Queue: "no good", IDs: []string{id}, Retention: keep}, backend.ErrInvalidQueueName},
		{"too many ids", backend.CancelParams{Queue: f.q, IDs: make([]string, backend.MaxCancelIDs+1), Retention: keep}, backend.ErrInvalidArgument},
	} {
		f.unchanged(func() {
			errs, err := cancel.Cancel(f.ctx, tc.p)
			require.ErrorIs(t, err, tc.want, tc.name)
			require.Nil(t, errs, tc.name)
		}, id)
	}
}

func testCancelEndedContext(t *testing.T, f *fixture) {
	id := f.enqueue1()
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	f.unchanged(func() {
		_, err := f.canceller().Cancel(ctx, backend.CancelParams{Queue: f.q, IDs: []string{id}, Retention: keep})
		require.ErrorIs(t, err, context.Canceled)
	}, id)
}

// cancelRepeatCase is the Cancel of the LostReplies rules: a job waiting,
// a job running and an unknown id; in between, the waiting job is deleted
// and enqueued again, which a cancel run again would cancel.
var cancelRepeatCase = repeatCase{name: "Cancel", method: "Cancel", kind: backend.EventCancelled,
	prepare: func(f *fixture) repeatCall {
		f.canceller()
		running := f.claimID(f.enqueue1(), longLease)
		waiting := f.enqueue1()
		p := backend.CancelParams{Queue: f.q, IDs: []string{waiting, running.ID, "no-such-job"}, Retention: keep, RequestID: newRequestID()}
		return func(b backend.Backend) (any, error) {
			c, ok := b.(backend.Canceller)
			require.True(f.t, ok, "%T does not implement backend.Canceller", b)
			return c.Cancel(f.ctx, p)
		}
	},
	between: func(f *fixture) {
		id := f.allIDs()[1]
		require.NoError(f.t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id}))
		f.enqueueIn(f.q, backend.NewJob{ID: id, MaxAttempts: 1})
	},
}

// testCancelQueueErrors: Queue.Cancel cancels what it can and joins the
// errors of the others, each naming its job.
func testCancelQueueErrors(t *testing.T, f *fixture) {
	f.canceller()
	q := f.queue()
	done := f.claimID(f.enqueue1(), longLease)
	f.complete(done)
	id := f.enqueue1()
	err := q.Cancel(f.ctx, id, "no-such-job", done.ID)
	require.ErrorIs(t, err, jobqueue.ErrNotFound)
	require.ErrorIs(t, err, jobqueue.ErrWrongState)
	require.Contains(t, err.Error(), "no-such-job")
	require.Contains(t, err.Error(), done.ID)
	f.requireState(id, jobqueue.StateCancelled)
	require.NoError(t, q.Cancel(f.ctx, id), "a job already cancelled")
	require.ErrorIs(t, q.Cancel(f.ctx), jobqueue.ErrInvalidArgument, "no ids")
	st, err := q.Stats(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), st.CancelledTotal)
}

// testCancelWorker cancels a job while a Worker runs it: the handler's
// context ends with ErrCancelled as its cause, within a few heartbeats,
// and the job ends cancelled, run once.
func testCancelWorker(t *testing.T, f *fixture) {
	f.canceller()
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 1)
	started := make(chan struct{})
	causes := make(chan error, 1)
	var runs runCounter
	w, _ := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if runs.add(j.ID) == 1 {
			close(started)
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	}, jobqueue.WorkerOptions{Concurrency: 1, ReclaimInterval: 50 * time.Millisecond, ClaimWait: 100 * time.Millisecond})

	<-started
	require.NoError(t, q.Cancel(f.ctx, ids[0]))
	select {
	case cause := <-causes:
		require.ErrorIs(t, cause, jobqueue.ErrCancelled, "the cause of the handler's context")
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled after its job was")
	}
	waitStats(t, q, 5*time.Second, "the job ends cancelled", func(s jobqueue.Stats) bool { return s.Cancelled == 1 })
	require.Eventually(t, func() bool { return w.Stats().Cancelled == 1 }, 5*time.Second, tick, "WorkerStats.Cancelled")
	f.requireState(ids[0], backend.StateCancelled)
	// Time for a retry or a reclaim, were the job to have any.
	time.Sleep(3 * 300 * time.Millisecond)
	assert.Equal(t, map[string]int{ids[0]: 1}, runs.snapshot(), "the job ran again")
	st := f.stats()
	assert.Zero(t, st.RetriedTotal+st.DeadTotal+st.CompletedTotal+st.ReclaimedTotal, "stats %+v", st)
	assert.Zero(t, w.Stats().LostClaims)
}

// testCancelWorkerIgnored: a handler that ignores its context and
// succeeds after its job was cancelled does not complete it.
func testCancelWorkerIgnored(t *testing.T, f *fixture) {
	f.canceller()
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 1)
	started := make(chan struct{})
	w, _ := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		close(started)
		<-ctx.Done()
		return "done anyway", nil
	}, jobqueue.WorkerOptions{Concurrency: 1, ClaimWait: 100 * time.Millisecond})
	<-started
	require.NoError(t, q.Cancel(f.ctx, ids[0]))
	require.Eventually(t, func() bool { return w.Stats().Cancelled == 1 }, 5*time.Second, tick, "WorkerStats.Cancelled")
	info := f.requireState(ids[0], backend.StateCancelled)
	assert.Empty(t, info.Result, "the refused completion's result was stored")
	assert.Zero(t, w.Stats().Completed)
}
