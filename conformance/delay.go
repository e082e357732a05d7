package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

func delayTests() []testCase {
	return []testCase{
		{name: "WakesBlockedClaimWhenDue", serial: true, run: testDelayWakesClaim},
		{name: "NotClaimableBeforeTime", run: testDelayNotBefore},
		{name: "ZeroOrNegativeIsNow", run: testDelayNow},
		{name: "MixedBatch", run: testDelayMixedBatch},
		{name: "DueReadsAsPending", run: testDelayDueReadsAsPending},
	}
}

func testDelayNotBefore(t *testing.T, f *fixture) {
	const delay = 300 * time.Millisecond
	start := time.Now()
	id := f.enqueue1(delayed(delay))
	info := f.requireState(id, backend.StateScheduled)
	requireNear(t, start.Add(delay), info.RunAt, 200*time.Millisecond, "RunAt")
	require.Equal(t, []string{id}, f.list(backend.StateScheduled))
	require.Empty(t, f.list(backend.StatePending))
	st := f.stats()
	require.Equal(t, int64(1), st.Scheduled)
	require.Equal(t, int64(0), st.Pending)
	f.requireNoneClaimable()
	c := f.claimSoon(longLease)
	require.Equal(t, id, c.ID)
	require.GreaterOrEqual(t, time.Since(start), delay-clockSlack, "claimed before its delay")
	require.Equal(t, 1, c.Attempts)
}

func testDelayNow(t *testing.T, f *fixture) {
	all := []string{f.enqueue1(delayed(0)), f.enqueue1(delayed(-time.Hour))}
	require.Equal(t, all, f.list(backend.StatePending))
	require.Equal(t, all, ids(f.claimN(2, longLease)))
}

func testDelayMixedBatch(t *testing.T, f *fixture) {
	later, now := f.job(delayed(longLease)), f.job()
	f.enqueueIn(f.q, later, now)
	require.Equal(t, []string{now.ID}, ids(f.claimWait(10, longLease, 0)))
	require.Equal(t, []string{later.ID}, f.list(backend.StateScheduled))
}

// testDelayWakesClaim blocks a claim with a long wait on a queue whose
// only job is delayed: it must return the job soon after it falls due,
// with no enqueue to wake it.
func testDelayWakesClaim(t *testing.T, f *fixture) {
	f.s.needs(t, PromptWakeup)
	const delay = settle + 150*time.Millisecond // due while the claim blocks
	lat := f.measureWake(3, waker{armFirst: true, arm: func() (string, time.Time) {
		at := time.Now()
		return f.enqueue1(delayed(delay)), at.Add(delay)
	}})
	require.GreaterOrEqual(t, lat, -clockSlack, "a delayed job was claimed before it fell due")
	require.Less(t, lat, dueLimit, "median time from a delayed job's due time to the blocked claim's return")
}

// testDelayDueReadsAsPending lets a delayed job fall due with no claim to
// move it: every read must already count it as pending, after the jobs
// that were pending before, as a claim would take them.
func testDelayDueReadsAsPending(t *testing.T, f *fixture) {
	const delay = 100 * time.Millisecond
	due := f.enqueue1(delayed(delay))
	later := f.enqueue1(delayed(longLease))
	first := f.enqueue1()
	time.Sleep(delay + 2*clockSlack)
	info := f.requireState(due, backend.StatePending)
	require.True(t, info.RunAt.IsZero(), "RunAt of a job that reads as pending")
	require.Equal(t, []string{first, due}, f.list(backend.StatePending))
	require.Equal(t, []string{due}, f.listPage(backend.StatePending, 1, 10))
	require.Equal(t, []string{first}, f.listPage(backend.StatePending, 0, 1))
	require.Equal(t, []string{later}, f.list(backend.StateScheduled))
	st := f.stats()
	require.Equal(t, int64(2), st.Pending)
	require.Equal(t, int64(1), st.Scheduled)
	require.Equal(t, []string{first, due}, ids(f.claimN(2, longLease)))
}
