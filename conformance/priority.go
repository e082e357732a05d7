package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Priorities group pins down the priority levels: a claim takes the
// highest level that has claimable jobs first, oldest first within it;
// every way back to pending keeps a job's level (Release at the head of
// it, the others at its tail); List and Stats count every level.

func priorityTests() []testCase {
	return []testCase{
		{name: "Field", run: testPriorityField},
		{name: "OrderAcrossLevels", run: testPriorityOrder},
		{name: "FIFOWithinLevel", run: testPriorityFIFO},
		{name: "BatchSpansLevels", run: testPriorityBatch},
		{name: "ReleaseKeepsLevelAndGoesFirst", run: testPriorityRelease},
		{name: "RetryKeepsLevel", run: testPriorityRetry},
		{name: "ReclaimKeepsLevel", run: testPriorityReclaim},
		{name: "DelayedPromotedIntoLevel", run: testPriorityDelayed},
		{name: "ListPendingOrder", run: testPriorityList},
		{name: "StatsPendingSum", run: testPriorityStats},
	}
}

// levels enqueues one job per level given, in one call, and returns their
// ids in that order.
func (f *fixture) levels(priorities ...int) []string {
	f.t.Helper()
	jobs := make([]backend.NewJob, len(priorities))
	for i, p := range priorities {
		jobs[i] = f.job(atLevel(p))
	}
	return f.enqueueIn(f.q, jobs...)
}

// claimEach claims the pending jobs one call at a time and returns their
// ids in the order they came.
func (f *fixture) claimEach(n int) []string {
	f.t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = f.claimN(1, longLease)[0].ID
	}
	f.requireNoneClaimable()
	return out
}

func testPriorityField(t *testing.T, f *fixture) {
	for p := range backend.MaxPriority + 1 {
		id := f.enqueue1(atLevel(p))
		require.Equal(t, p, f.get(id).Priority, "Get")
		c := f.claimID(id, longLease)
		require.Equal(t, p, c.Priority, "claim")
		f.complete(c)
		require.Equal(t, p, f.requireState(id, backend.StateCompleted).Priority, "Get of a completed job")
	}
	require.Zero(t, f.get(f.enqueue1()).Priority, "the default level")
}

func testPriorityOrder(t *testing.T, f *fixture) {
	all := f.levels(0, 2, 1, backend.MaxPriority, 0, 2)
	want := []string{all[3], all[1], all[5], all[2], all[0], all[4]}
	require.Equal(t, want, f.claimEach(len(all)), "the claim order of levels 0 2 1 3 0 2, enqueued in that order")
}

// testPriorityFIFO enqueues two levels in turns, over several calls: each
// level keeps the order of its jobs' enqueues.
func testPriorityFIFO(t *testing.T, f *fixture) {
	var high, low []string
	for range 3 {
		low = append(low, f.levels(1, 1)...)
		high = append(high, f.levels(2)...)
		low = append(low, f.levels(1)...)
		high = append(high, f.levels(2, 2)...)
	}
	require.Equal(t, append(high, low...), f.claimEach(len(high)+len(low)))
}

func testPriorityBatch(t *testing.T, f *fixture) {
	all := f.levels(0, 3, 1, 0, 3, 1)
	first := f.claimN(3, longLease)
	require.Equal(t, []string{all[1], all[4], all[2]}, ids(first), "a claim of 3 of levels 3 3 1 1 0 0")
	for i, c := range first {
		require.Equal(t, []int{3, 3, 1}[i], c.Priority)
	}
	require.Equal(t, []string{all[5], all[0], all[3]}, ids(f.claimWait(10, longLease, 0)), "the rest, in one claim")
}

// testPriorityRelease releases a high and a low job while jobs of both
// levels wait: each goes ahead of its own level, and behind every higher
// level.
func testPriorityRelease(t *testing.T, f *fixture) {
	first := f.levels(0, 2)
	cs := f.claimN(2, longLease)
	require.Equal(t, []string{first[1], first[0]}, ids(cs))
	later := f.levels(0, 2)
	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(cs[1], cs[0])})
	requireAllOK(t, 2, errs, err)
	want := []string{first[1], later[1], first[0], later[0]}
	require.Equal(t, want, f.list(backend.StatePending), "pending after a release of a level 0 and a level 2 job")
	got := f.claimN(4, longLease)
	require.Equal(t, want, ids(got))
	require.Equal(t, 2, got[0].Priority, "the level of a released job")
}

// testPriorityRetry retries a high job while another of its level and a
// lower one wait: it joins the tail of its own level.
func testPriorityRetry(t *testing.T, f *fixture) {
	for _, how := range []failure{retryNow, snoozeFor(0)} {
		all := f.levels(1, backend.MaxPriority)
		c := f.claimID(all[1], longLease)
		newer := f.levels(backend.MaxPriority)
		f.fail(how, c)
		want := []string{newer[0], all[1], all[0]}
		require.Equal(t, want, f.list(backend.StatePending), "pending after a retry (snooze %v)", how.snooze)
		got := f.claimN(3, longLease)
		require.Equal(t, want, ids(got))
		require.Equal(t, backend.MaxPriority, got[1].Priority)
		f.complete(got...)
	}
}

func testPriorityReclaim(t *testing.T, f *fixture) {
	all := f.levels(0, 2)
	c := f.claimID(all[1], shortLease)
	newer := f.levels(2)
	waitExpired(c)
	require.Equal(t, []string{c.ID}, f.reclaim(10).Requeued)
	want := []string{newer[0], all[1], all[0]}
	require.Equal(t, want, f.list(backend.StatePending), "pending after a reclaim")
	got := f.claimN(3, longLease)
	require.Equal(t, want, ids(got))
	require.Equal(t, 2, got[1].Priority)
}

// testPriorityDelayed lets a delayed high job fall due while lower jobs
// are pending: it is claimed before them, after the job of its level that
// was pending before it fell due.
func testPriorityDelayed(t *testing.T, f *fixture) {
	const delay = 100 * time.Millisecond
	later := f.job(atLevel(2), delayed(delay))
	now, low1, low2 := f.job(atLevel(2)), f.job(), f.job()
	f.enqueueIn(f.q, later, now, low1, low2)
	runAt := f.requireState(later.ID, backend.StateScheduled).RunAt
	time.Sleep(time.Until(runAt) + 2*clockSlack)
	got := f.claimN(4, longLease)
	require.Equal(t, []string{now.ID, later.ID, low1.ID, low2.ID}, ids(got))
	require.Equal(t, 2, got[1].Priority, "the level of a delayed job")
}

func testPriorityList(t *testing.T, f *fixture) {
	all := f.levels(0, 1, 3, 1, 0, 3, 2)
	want := []string{all[2], all[5], all[6], all[1], all[3], all[0], all[4]}
	require.Equal(t, want, f.list(backend.StatePending))
	require.Equal(t, want[:2], f.listPage(backend.StatePending, 0, 2))
	require.Equal(t, want[1:4], f.listPage(backend.StatePending, 1, 3), "a page across levels")
	require.Equal(t, want[3:6], f.listPage(backend.StatePending, 3, 3))
	require.Equal(t, want[6:], f.listPage(backend.StatePending, 6, 10))
	require.Empty(t, f.listPage(backend.StatePending, 7, 10))
	require.Equal(t, want, f.claimEach(len(want)), "List's order is the claim order")
}

func testPriorityStats(t *testing.T, f *fixture) {
	f.levels(0, 1, 2, 3, 3, 2, 1, 0, 0)
	f.enqueue1(atLevel(2), delayed(longLease))
	st := f.stats()
	require.Equal(t, int64(9), st.Pending, "pending jobs of every level")
	require.Equal(t, int64(1), st.Scheduled)
	f.claimN(4, longLease)
	st = f.stats()
	require.Equal(t, int64(5), st.Pending, "after a claim of the two highest levels")
	require.Equal(t, int64(4), st.Processing)
}
