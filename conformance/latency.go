package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Latency group pins down Stats.Latency: how long the longest-waiting
// claimable job has waited, counted from when it last became claimable.
// Each test waits a while (wait) so that the job it measures has waited
// longer than any later one could have, and checks the figure against
// the test's own clock, read before and after the events that bound it:
// the backend's clock is the machine's, up to clockSlack.

func latencyTests() []testCase {
	return []testCase{
		{name: "ZeroWhenNothingClaimable", run: testLatencyZero},
		{name: "OldestPendingJob", run: testLatencyOldest},
		{name: "NextJobOnceClaimed", run: testLatencyNext},
		{name: "OldestOfEveryLevel", run: testLatencyLevels},
		{name: "DelayedJobFromItsRunTime", run: testLatencyDelayed},
		{name: "RetryCountsAfresh", run: testLatencyRetry},
		{name: "ReclaimCountsAfresh", run: testLatencyReclaim},
		{name: "RetryDeadCountsAfresh", run: testLatencyRetryDead},
		{name: "ReleaseKeepsItsTime", run: testLatencyRelease},
	}
}

// wait is how long a measured job waits before the next event.
const wait = 150 * time.Millisecond

// latencyWindow is what the test knows of one job's wait: it became
// claimable after from and before to, on the test's clock.
type latencyWindow struct{ from, to time.Time }

// since returns the window of the events that run, which make a job
// claimable.
func since(run func()) latencyWindow {
	from := time.Now()
	run()
	return latencyWindow{from: from, to: time.Now()}
}

// requireLatency checks that the queue's latency is that of a job that
// became claimable within w.
func (f *fixture) requireLatency(w latencyWindow, what string) {
	f.t.Helper()
	least := time.Since(w.to)
	got := f.statsWithLatency().Latency
	most := time.Since(w.from)
	require.GreaterOrEqual(f.t, got, least-clockSlack, "%s: latency %v, the job has waited at least %v", what, got, least)
	require.LessOrEqual(f.t, got, most+clockSlack, "%s: latency %v, the job has waited at most %v", what, got, most)
}

func testLatencyZero(t *testing.T, f *fixture) {
	require.Zero(t, f.statsWithLatency().Latency, "an empty queue")
	f.enqueue1(delayed(time.Hour))
	id := f.enqueue1()
	f.claimID(id, longLease)
	time.Sleep(wait)
	require.Zero(t, f.statsWithLatency().Latency, "only a scheduled job and a processing one")
}

func testLatencyOldest(t *testing.T, f *fixture) {
	first := since(func() { f.enqueue1() })
	time.Sleep(wait)
	f.enqueueN(3)
	f.requireLatency(first, "the first of four jobs")
}

func testLatencyNext(t *testing.T, f *fixture) {
	a := f.enqueue1()
	time.Sleep(wait)
	second := since(func() { f.enqueue1() })
	time.Sleep(wait)
	f.claimID(a, longLease)
	f.requireLatency(second, "the first job claimed, the second waits")
}

func testLatencyLevels(t *testing.T, f *fixture) {
	low := since(func() { f.enqueue1() })
	time.Sleep(wait)
	f.enqueue1(atLevel(backend.MaxPriority))
	f.requireLatency(low, "a job of level 0 waits behind a later one of a higher level")
}

// testLatencyDelayed checks a delayed job's wait from its run time, both
// as the due job a backend may still keep scheduled and, once a claim has
// moved due jobs to pending, as a pending one.
func testLatencyDelayed(t *testing.T, f *fixture) {
	const delay = 100 * time.Millisecond
	due := since(func() { f.enqueue1(delayed(delay)) })
	due.from, due.to = due.from.Add(delay), due.to.Add(delay)
	time.Sleep(delay + wait)
	f.requireLatency(due, "a delayed job, due")
	// A claim moves due jobs to pending; a job of a higher level takes
	// it, so the delayed job stays, now pending.
	f.enqueue1(atLevel(backend.MaxPriority))
	f.claimN(1, longLease)
	f.requireLatency(due, "a delayed job, due, after a claim")
}

func testLatencyRetry(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(3))
	time.Sleep(wait)
	c := f.claimID(id, longLease)
	retried := since(func() { f.fail(retryNow, c) })
	f.requireLatency(retried, "a job retried at once")
	time.Sleep(wait)
	f.requireLatency(retried, "a job retried at once, a while later")

	c = f.claimID(id, longLease)
	snoozed := since(func() { f.fail(snoozeFor(0), c) })
	f.requireLatency(snoozed, "a job snoozed for no time")
}

func testLatencyReclaim(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(3))
	time.Sleep(wait)
	c := f.claimID(id, shortLease)
	waitExpired(c)
	reclaimed := since(func() { require.Equal(t, []string{id}, f.reclaim(10).Requeued) })
	f.requireLatency(reclaimed, "a reclaimed job")
}

func testLatencyRetryDead(t *testing.T, f *fixture) {
	id := f.enqueue1()
	time.Sleep(wait)
	f.fail(dead, f.claimID(id, longLease))
	back := since(func() { require.NoError(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id})) })
	f.requireLatency(back, "a dead job sent back")
}

// testLatencyRelease checks that a released job keeps the wait it had, as
// it keeps its place ahead of the jobs enqueued after it.
func testLatencyRelease(t *testing.T, f *fixture) {
	first := since(func() { f.enqueue1() })
	time.Sleep(wait)
	f.enqueue1()
	c := f.claimN(1, longLease)
	time.Sleep(wait)
	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(c...)})
	requireAllOK(t, 1, errs, err)
	f.requireLatency(first, "a released job")
}
