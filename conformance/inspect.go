package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

func inspectTests() []testCase {
	cases := []testCase{
		{name: "Get/Lifecycle", run: testGetLifecycle},
		{name: "Get/Unknown", run: func(t *testing.T, f *fixture) { f.requireGone("no-such-job") }},
		{name: "Stats/KnownSequence", run: testStatsSequence},
		{name: "Stats/ExpiredLeasesStillProcessing", run: testStatsExpiredLeases},
		{name: "RetryDead/BackToPending", run: testRetryDead},
		{name: "RetryDead/Unknown", run: func(t *testing.T, f *fixture) {
			require.ErrorIs(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: "no-such-job"}), backend.ErrNotFound)
		}},
		{name: "Delete/ReenqueuedIDFencesOldClaim", run: testDeleteReenqueue},
		{name: "Delete/Unknown", run: func(t *testing.T, f *fixture) {
			require.ErrorIs(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: "no-such-job"}), backend.ErrNotFound)
		}},
	}
	for _, s := range backend.States {
		name := string(s)
		cases = append(cases,
			testCase{name: "List/" + name, run: func(t *testing.T, f *fixture) { testListPaging(t, f, s) }},
			testCase{name: "Delete/" + name, run: func(t *testing.T, f *fixture) { testDelete(t, f, s) }},
		)
		if s != backend.StateDead {
			cases = append(cases, testCase{name: "RetryDead/WrongState/" + name, run: func(t *testing.T, f *fixture) {
				id, _ := f.jobsIn(s, 1)
				f.unchanged(func() {
					require.ErrorIs(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id[0]}), backend.ErrWrongState)
				}, id...)
			}})
		}
	}
	return cases
}

// jobsIn puts n new jobs in state and returns their ids in the order List
// must show them, and the claims of processing jobs. Each state has its
// own order, so jobs are made to reach it in an order that differs from
// their enqueue order where the state allows.
func (f *fixture) jobsIn(state backend.State, n int) ([]string, []backend.ClaimedJob) {
	f.t.Helper()
	switch state {
	case backend.StatePending:
		return f.enqueueN(n), nil
	case backend.StateScheduled:
		// Enqueued in a shuffled order of run times: the earliest run
		// time comes first. 3 and n have no common factor for the n the
		// suite uses, so i*3%n visits every rank once.
		byRank := make([]string, n)
		for i := range n {
			rank := i * 3 % n
			byRank[rank] = f.enqueue1(delayed(time.Duration(rank+1) * time.Minute))
		}
		return byRank, nil
	case backend.StateProcessing:
		// Claimed with shrinking leases: the earliest deadline comes first.
		all := f.enqueueN(n)
		var claimed []backend.ClaimedJob
		for i, id := range all {
			claimed = append(claimed, f.claimID(id, time.Duration(n-i)*time.Minute))
		}
		return reversed(all), claimed
	case backend.StateCancelled:
		// Cancelled one by one: the most recent comes first.
		all := f.enqueueN(n)
		for _, id := range all {
			f.cancel(id)
		}
		return reversed(all), nil
	case backend.StateCompleted, backend.StateDead:
		// Finished one by one: the most recent comes first.
		h := histories[0]
		if state == backend.StateDead {
			h = histories[1]
		}
		return reversed(h.finish(f, n, keep)), nil
	}
	f.t.Fatalf("unknown state %q", state)
	return nil, nil
}

func testListPaging(t *testing.T, f *fixture, state backend.State) {
	require.Empty(t, f.list(state), "a new queue")
	want, _ := f.jobsIn(state, 5)
	require.Equal(t, want, f.listPage(state, 0, 10))
	require.Equal(t, want[:2], f.listPage(state, 0, 2))
	require.Equal(t, want[1:4], f.listPage(state, 1, 3))
	require.Equal(t, want[4:], f.listPage(state, 4, 10))
	require.Empty(t, f.listPage(state, 5, 10))
	require.Empty(t, f.listPage(state, 100, 10))
	for _, other := range backend.States {
		if other != state {
			require.Empty(t, f.list(other), "%s jobs listed as %s", state, other)
		}
	}
}

func testDelete(t *testing.T, f *fixture, state backend.State) {
	all, claimed := f.jobsIn(state, 2)
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: all[0]}))
	f.requireGone(all[0])
	require.Equal(t, all[1:], f.list(state))
	f.requireState(all[1], state)
	require.ErrorIs(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: all[0]}), backend.ErrNotFound, "a second delete")
	for _, c := range claimed {
		if c.ID == all[0] {
			require.ErrorIs(t, completeOp.one(f, ack(c)), backend.ErrNotFound, "a worker's complete of a deleted job")
		}
	}
	require.Equal(t, int64(len(all)-1), stateDepth(f.stats(), state))
}

// testDeleteReenqueue deletes a claimed job and enqueues its id again: the
// old claim's token must not reach the new job.
func testDeleteReenqueue(t *testing.T, f *fixture) {
	old := f.claimID(f.enqueue1(), longLease)
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: old.ID}))
	f.enqueueIn(f.q, backend.NewJob{ID: old.ID, MaxAttempts: 1})
	f.unchanged(func() {
		require.ErrorIs(t, completeOp.one(f, ack(old)), backend.ErrLostClaim, "a deleted job's claim on its successor")
	}, old.ID)
	owner := f.claimID(old.ID, longLease)
	requireLostClaim(t, f, completeOp, ack(old), owner)
}

// stateDepth reads the depth of state from st.
func stateDepth(st backend.Stats, state backend.State) int64 {
	return map[backend.State]int64{
		backend.StatePending:    st.Pending,
		backend.StateScheduled:  st.Scheduled,
		backend.StateProcessing: st.Processing,
		backend.StateCompleted:  st.Completed,
		backend.StateDead:       st.Dead,
		backend.StateCancelled:  st.Cancelled,
	}[state]
}

func testRetryDead(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(2))
	f.fail(dead, f.claimID(id, longLease))
	require.NoError(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id}))
	info := f.requireState(id, backend.StatePending)
	require.Equal(t, 0, info.Attempts, "RetryDead resets the attempts")
	require.Empty(t, f.list(backend.StateDead))
	st := f.stats()
	require.Equal(t, int64(0), st.Dead)
	require.Equal(t, int64(1), st.Pending)
	c := f.claimID(id, longLease)
	require.Equal(t, 1, c.Attempts)
	require.Equal(t, 2, c.MaxAttempts)
	f.complete(c)
}

func testGetLifecycle(t *testing.T, f *fixture) {
	id := f.enqueue1()
	enqueuedAt := f.requireState(id, backend.StatePending).EnqueuedAt

	c := f.claimID(id, longLease)
	info := f.requireState(id, backend.StateProcessing)
	require.Equal(t, 1, info.Attempts)
	require.Equal(t, 3, info.MaxAttempts)
	require.Equal(t, enqueuedAt, info.EnqueuedAt, "EnqueuedAt changed")
	requireNear(t, time.Now(), info.ClaimedAt, 2*time.Second, "ClaimedAt")
	requireNear(t, info.ClaimedAt.Add(longLease), info.LeaseUntil, time.Second, "LeaseUntil")
	requireNear(t, c.LeaseUntil, info.LeaseUntil, clockSlack, "LeaseUntil of Get and of the claim")
	require.True(t, info.FinishedAt.IsZero(), "FinishedAt of a processing job")

	f.fail(retryNow, c)
	info = f.requireState(id, backend.StatePending)
	require.Equal(t, retryNow.err, info.LastError)
	require.True(t, info.LeaseUntil.IsZero(), "LeaseUntil of a pending job")

	c = f.claimID(id, longLease)
	require.Equal(t, 2, f.requireState(id, backend.StateProcessing).Attempts)
	errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c), Result: []byte(`{"sent":true}`)}}, Retention: keep})
	requireAllOK(t, 1, errs, err)
	info = f.requireState(id, backend.StateCompleted)
	require.Equal(t, []byte(`{"sent":true}`), info.Result)
	require.Equal(t, 2, info.Attempts)
	requireNear(t, time.Now(), info.FinishedAt, 2*time.Second, "FinishedAt")
	require.True(t, info.LeaseUntil.IsZero(), "LeaseUntil of a completed job")
	require.Equal(t, enqueuedAt, info.EnqueuedAt, "EnqueuedAt changed")
}

// testStatsExpiredLeases: a claim whose lease ran out, and that no
// Reclaim took back yet, is processing for every read.
func testStatsExpiredLeases(t *testing.T, f *fixture) {
	c := f.claimID(f.enqueue1(), shortLease)
	waitExpired(c)
	require.Equal(t, int64(1), f.stats().Processing, "Stats.Processing")
	require.Equal(t, []string{c.ID}, f.list(backend.StateProcessing))
	f.requireState(c.ID, backend.StateProcessing)
	require.Empty(t, f.list(backend.StatePending))
}

func testStatsSequence(t *testing.T, f *fixture) {
	all := f.enqueueN(5)
	f.enqueue1(delayed(longLease))
	cs := f.claimN(4, longLease)
	f.complete(cs[0])
	f.fail(retryNow, cs[1])
	f.fail(dead, cs[2])
	// cs[3] stays processing; all[4] and the retried cs[1] are pending.
	waitExpired(f.claimN(1, shortLease)...)
	require.Equal(t, 1, f.reclaim(10).Len())
	require.Equal(t, backend.Stats{
		Pending: 2, Scheduled: 1, Processing: 1, Completed: 1, Dead: 1,
		EnqueuedTotal: 6, ClaimedTotal: 5, CompletedTotal: 1, RetriedTotal: 1, DeadTotal: 1, ReclaimedTotal: 1,
	}, f.stats())
	require.ElementsMatch(t, []string{all[1], all[4]}, f.list(backend.StatePending))
}
