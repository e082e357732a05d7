package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// ackOp is one of the token-fenced calls, applied to a batch of claims.
// The Ack tests run each of their checks across all of them.
type ackOp struct {
	name string
	// family groups the ops that are the same operation for the
	// idempotency rule: a Fail repeated is a repeat, whatever its outcome.
	family string
	// after is the state of a job once the op took effect.
	after backend.State
	// counter reads the Stats field the op adds one to.
	counter func(backend.Stats) int64
	call    func(f *fixture, items []backend.Ack) ([]error, error)
}

func failOp(name string, how failure, after backend.State, counter func(backend.Stats) int64) ackOp {
	return ackOp{name: name, family: "Fail", after: after, counter: counter, call: func(f *fixture, items []backend.Ack) ([]error, error) {
		fs := make([]backend.Failure, len(items))
		for i, a := range items {
			fs[i] = how.item(a)
		}
		return f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: fs, Retention: keep})
	}}
}

var (
	completeOp = ackOp{name: "Complete", family: "Complete", after: backend.StateCompleted, counter: func(s backend.Stats) int64 { return s.CompletedTotal }, call: func(f *fixture, items []backend.Ack) ([]error, error) {
		cs := make([]backend.Completion, len(items))
		for i, a := range items {
			cs[i] = backend.Completion{Ack: a, Result: []byte(`"done"`)}
		}
		return f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: cs, Retention: keep})
	}}
	failRetryOp = failOp("FailRetry", retryNow, backend.StatePending, func(s backend.Stats) int64 { return s.RetriedTotal })
	failDeadOp  = failOp("FailDead", dead, backend.StateDead, func(s backend.Stats) int64 { return s.DeadTotal })
	// failSnoozeOp counts nothing of its own; the job it puts back is
	// pending.
	failSnoozeOp = failOp("FailSnooze", snoozeFor(0), backend.StatePending, func(s backend.Stats) int64 { return s.Pending })
	extendOp     = ackOp{name: "Extend", family: "Extend", after: backend.StateProcessing, call: func(f *fixture, items []backend.Ack) ([]error, error) {
		return f.b.Extend(f.ctx, backend.ExtendParams{Queue: f.q, Items: items, Lease: longLease})
	}}
	releaseOp = ackOp{name: "Release", family: "Release", after: backend.StatePending, counter: func(s backend.Stats) int64 { return s.Pending }, call: func(f *fixture, items []backend.Ack) ([]error, error) {
		return f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: items})
	}}

	allAckOps = []ackOp{completeOp, failRetryOp, failDeadOp, failSnoozeOp, extendOp, releaseOp}
	// outcomeOps record an outcome for a claim; Extend does not.
	outcomeOps = []ackOp{completeOp, failRetryOp, failDeadOp, failSnoozeOp, releaseOp}
)

// one calls op for a single item and returns its error.
func (op ackOp) one(f *fixture, a backend.Ack) error {
	f.t.Helper()
	errs, err := op.call(f, []backend.Ack{a})
	require.NoError(f.t, err, "%s: the call as a whole failed", op.name)
	require.Len(f.t, errs, 1, "%s: one error per item", op.name)
	return errs[0]
}

// forEachOp runs check as a parallel subtest per op, each on its own queue.
func forEachOp(t *testing.T, f *fixture, ops []ackOp, check func(t *testing.T, f *fixture, op ackOp)) {
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			check(t, f.s.fixture(t), op)
		})
	}
}

func ackTests() []testCase {
	each := func(check func(t *testing.T, f *fixture, op ackOp)) func(*testing.T, *fixture) {
		return func(t *testing.T, f *fixture) { forEachOp(t, f, allAckOps, check) }
	}
	return []testCase{
		{name: "StaleTokenAfterReclaim", run: each(testAckStaleAfterReclaim)},
		{name: "MadeUpToken", run: each(testAckMadeUpToken)},
		{name: "UnknownID", run: each(testAckUnknownID)},
		{name: "BatchPerItem", run: each(testAckBatch)},
		{name: "ExpiredNotYetReclaimed", run: each(testAckExpired)},
		{name: "Repeat", run: func(t *testing.T, f *fixture) { forEachOp(t, f, outcomeOps, testAckRepeat) }},
		{name: "OtherOutcome", run: testAckOtherOutcome},
		{name: "StaleTokenAfterRetryDead", run: each(testAckStaleAfterRetryDead)},
		{name: "CompleteWithNote", run: testAckCompleteNote},
	}
}

// testAckStaleAfterRetryDead: a dead job sent back by RetryDead no longer
// accepts the token of its dead attempt, repeats of that attempt's Fail
// included.
func testAckStaleAfterRetryDead(t *testing.T, f *fixture, op ackOp) {
	id := f.enqueue1(maxAttempts(1))
	old := f.claimID(id, longLease)
	f.fail(dead, old)
	require.NoError(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id}))
	f.unchanged(func() {
		require.ErrorIs(t, op.one(f, ack(old)), backend.ErrLostClaim)
	}, id)
	require.Equal(t, 0, f.requireState(id, backend.StatePending).Attempts)
	owner := f.claimID(id, longLease)
	requireLostClaim(t, f, op, ack(old), owner)
}

// requireLostClaim requires op with a token that is not the current one to
// report ErrLostClaim, change nothing, and leave owner's claim intact.
func requireLostClaim(t *testing.T, f *fixture, op ackOp, stale backend.Ack, owner backend.ClaimedJob) {
	t.Helper()
	f.unchanged(func() {
		require.ErrorIs(t, op.one(f, stale), backend.ErrLostClaim)
	}, owner.ID)
	require.NoError(t, completeOp.one(f, ack(owner)), "the owner's claim no longer works")
	f.requireState(owner.ID, backend.StateCompleted)
}

func testAckStaleAfterReclaim(t *testing.T, f *fixture, op ackOp) {
	id := f.enqueue1()
	old := f.claimID(id, shortLease)
	waitExpired(old)
	require.Equal(t, []string{id}, f.reclaim(10).Requeued)
	// The reclaimed claim is stale before anyone claims the job again.
	f.unchanged(func() {
		require.ErrorIs(t, op.one(f, ack(old)), backend.ErrLostClaim)
	}, id)
	owner := f.claimID(id, longLease)
	require.NotEqual(t, old.Token, owner.Token)
	require.Equal(t, 2, owner.Attempts)
	requireLostClaim(t, f, op, ack(old), owner)
}

func testAckMadeUpToken(t *testing.T, f *fixture, op ackOp) {
	owner := f.claimID(f.enqueue1(), longLease)
	requireLostClaim(t, f, op, backend.Ack{ID: owner.ID, Token: "made-up-token"}, owner)
}

func testAckUnknownID(t *testing.T, f *fixture, op ackOp) {
	f.unchanged(func() {
		require.ErrorIs(t, op.one(f, backend.Ack{ID: "no-such-job", Token: "some-token"}), backend.ErrNotFound)
	})
}

// testAckExpired acknowledges a claim whose lease ran out but that no
// Reclaim took back: the token is still the current one, so it works.
func testAckExpired(t *testing.T, f *fixture, op ackOp) {
	c := f.claimID(f.enqueue1(), shortLease)
	waitExpired(c)
	require.NoError(t, op.one(f, ack(c)))
	f.requireState(c.ID, op.after)
	require.Empty(t, f.reclaim(10).Requeued, "a job reclaimed after its claim was acknowledged")
}

// testAckBatch sends good items around a stale and an unknown one: each
// item gets its own error, in order, and the bad ones stop nothing.
func testAckBatch(t *testing.T, f *fixture, op ackOp) {
	all := f.enqueueN(3)
	claimed := f.claimN(3, longLease)
	items := []backend.Ack{
		ack(claimed[0]),
		{ID: claimed[1].ID, Token: "made-up-token"},
		{ID: "no-such-job", Token: "some-token"},
		ack(claimed[2]),
	}
	errs, err := op.call(f, items)
	require.NoError(t, err)
	require.Len(t, errs, len(items))
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], backend.ErrLostClaim)
	require.ErrorIs(t, errs[2], backend.ErrNotFound)
	require.NoError(t, errs[3])
	f.requireState(all[0], op.after)
	f.requireState(all[2], op.after)
	require.Equal(t, claimed[1].LeaseUntil, f.requireState(all[1], backend.StateProcessing).LeaseUntil)
}

// testAckRepeat repeats an outcome with the same token, as a client does
// after a lost reply: it succeeds and changes nothing.
func testAckRepeat(t *testing.T, f *fixture, op ackOp) {
	c := f.claimID(f.enqueue1(), longLease)
	require.NoError(t, op.one(f, ack(c)))
	f.unchanged(func() {
		require.NoError(t, op.one(f, ack(c)), "a repeated %s", op.name)
	}, c.ID)
	require.Equal(t, []string{c.ID}, f.list(op.after), "the job is listed once")
	require.Equal(t, int64(1), op.counter(f.stats()), "counted once")
}

// testAckOtherOutcome sends, with the same token, a different operation
// after an outcome was recorded: the claim is spent, so it is lost.
func testAckOtherOutcome(t *testing.T, f *fixture) {
	for _, first := range outcomeOps {
		for _, then := range allAckOps {
			if first.family == then.family {
				continue
			}
			t.Run(first.name+"Then"+then.name, func(t *testing.T) {
				t.Parallel()
				f := f.s.fixture(t)
				c := f.claimID(f.enqueue1(), longLease)
				require.NoError(t, first.one(f, ack(c)))
				f.unchanged(func() {
					require.ErrorIs(t, then.one(f, ack(c)), backend.ErrLostClaim)
				}, c.ID)
			})
		}
	}
}

// testAckCompleteNote completes a job with a note (Completion.Error), such
// as why its result was dropped: the note becomes its LastError. A
// completion without one keeps the LastError of an earlier attempt.
func testAckCompleteNote(t *testing.T, f *fixture) {
	noted, kept := f.enqueue1(), f.enqueue1()
	c := f.claimID(noted, longLease)
	errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c), Error: "result dropped: too large"}}, Retention: keep})
	requireAllOK(t, 1, errs, err)
	info := f.requireState(noted, backend.StateCompleted)
	require.Equal(t, "result dropped: too large", info.LastError)
	require.Empty(t, info.Result)

	f.fail(retryNow, f.claimID(kept, longLease))
	f.complete(f.claimID(kept, longLease))
	require.Equal(t, retryNow.err, f.requireState(kept, backend.StateCompleted).LastError)
}
