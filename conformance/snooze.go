package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Snooze group pins down a Fail item with Snooze set: the job goes
// back, at once or after its Delay, as if the attempt had not been made.
// It keeps its attempts and its LastError, counts no retry and publishes
// snoozed; its token follows the rules of every other Fail.

func snoozeTests() []testCase {
	return []testCase{
		{name: "AttemptsUnchanged", run: testSnoozeAttempts},
		{name: "LastErrorUnchanged", run: testSnoozeLastError},
		{name: "CountsNoRetry", run: testSnoozeCounters},
		{name: "DelayScheduledThenClaimable", run: testSnoozeDelay},
		{name: "ZeroDelayTailOfLevel", run: testSnoozeTail},
		{name: "MixedBatch", run: testSnoozeBatch},
		{name: "PublishesSnoozed", run: testSnoozeEvent},
		{name: "RepeatIsNoOp", run: testSnoozeRepeat},
		{name: "StaleToken", run: testSnoozeStale},
	}
}

// testSnoozeAttempts snoozes a job on its last attempt: the attempt is
// given back, so the job is claimed again, and its next claim is that same
// last attempt.
func testSnoozeAttempts(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(2))
	f.fail(retryNow, f.claimID(id, longLease))
	c := f.claimID(id, longLease)
	require.Equal(t, 2, c.Attempts)
	f.fail(snoozeFor(0), c)
	info := f.requireState(id, backend.StatePending)
	require.Equal(t, 1, info.Attempts, "a snooze gives the attempt back")
	c = f.claimID(id, shortLease)
	require.Equal(t, 2, c.Attempts)
	require.Equal(t, 2, c.MaxAttempts)
	waitExpired(c)
	require.Equal(t, []string{id}, f.reclaim(10).Dead, "the job had two attempts, the second used by the claim after the snooze")
}

func testSnoozeLastError(t *testing.T, f *fixture) {
	fresh := f.enqueue1()
	f.fail(snoozeFor(0), f.claimID(fresh, longLease))
	require.Empty(t, f.requireState(fresh, backend.StatePending).LastError, "a snooze's Error is ignored")
	f.complete(f.claimID(fresh, longLease))

	failed := f.enqueue1()
	f.fail(retryNow, f.claimID(failed, longLease))
	f.fail(snoozeFor(time.Minute), f.claimID(failed, longLease))
	require.Equal(t, retryNow.err, f.requireState(failed, backend.StateScheduled).LastError, "a snooze keeps the LastError of the attempt before")
}

func testSnoozeCounters(t *testing.T, f *fixture) {
	all := f.enqueueN(2)
	f.fail(snoozeFor(0), f.claimN(2, longLease)...)
	st := f.stats()
	require.Equal(t, backend.Stats{Pending: 2, EnqueuedTotal: 2, ClaimedTotal: 2}, st, "a snooze counts no retry, and no dead job")
	require.Equal(t, all, f.list(backend.StatePending))
}

func testSnoozeDelay(t *testing.T, f *fixture) {
	const delay = 300 * time.Millisecond
	id := f.enqueue1()
	f.fail(snoozeFor(delay), f.claimID(id, longLease))
	snoozedAt := time.Now()
	info := f.requireState(id, backend.StateScheduled)
	requireNear(t, snoozedAt.Add(delay), info.RunAt, 200*time.Millisecond, "RunAt of a snoozed job")
	require.Equal(t, 0, info.Attempts)
	require.Equal(t, []string{id}, f.list(backend.StateScheduled))
	require.Equal(t, int64(1), f.stats().Scheduled)
	// Not claimable before its delay; checked only while half the delay
	// is left, so that a slow store cannot make the claim land after it.
	if time.Since(snoozedAt) < delay/2 {
		f.requireNoneClaimable()
	}
	c := f.claimSoon(longLease)
	require.Equal(t, id, c.ID)
	require.GreaterOrEqual(t, time.Since(snoozedAt), delay-clockSlack, "the snoozed job ran before its delay")
	require.Equal(t, 1, c.Attempts)
}

// testSnoozeTail snoozes a job with no delay while another job of its
// level and a lower one wait: it goes to the tail of its own level, unlike
// a released job, which goes to its head.
func testSnoozeTail(t *testing.T, f *fixture) {
	all := f.levels(0, 1, 1)
	c := f.claimID(all[1], longLease)
	newer := f.levels(1)
	f.fail(snoozeFor(0), c)
	want := []string{all[2], newer[0], all[1], all[0]}
	require.Equal(t, want, f.list(backend.StatePending))
	got := f.claimN(4, longLease)
	require.Equal(t, want, ids(got))
	require.Equal(t, 1, got[2].Priority)
}

// testSnoozeBatch fails four jobs in one call, each its own way: each
// follows its own item.
func testSnoozeBatch(t *testing.T, f *fixture) {
	cs := f.claimN(len(f.enqueueN(4)), longLease)
	items := []backend.Failure{
		retryNow.item(ack(cs[0])),
		snoozeFor(0).item(ack(cs[1])),
		dead.item(ack(cs[2])),
		snoozeFor(time.Minute).item(ack(cs[3])),
	}
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: items, Retention: keep})
	requireAllOK(t, len(items), errs, err)
	require.Equal(t, 1, f.requireState(cs[0].ID, backend.StatePending).Attempts)
	require.Equal(t, 0, f.requireState(cs[1].ID, backend.StatePending).Attempts)
	require.Equal(t, 1, f.requireState(cs[2].ID, backend.StateDead).Attempts)
	require.Equal(t, 0, f.requireState(cs[3].ID, backend.StateScheduled).Attempts)
	st := f.stats()
	require.Equal(t, int64(1), st.RetriedTotal)
	require.Equal(t, int64(1), st.DeadTotal)
}

// testSnoozeEvent: a snooze publishes snoozed for its job, and never
// retrying. The events of one queue arrive in order, so all of them have
// arrived once the event of a job enqueued last has.
func testSnoozeEvent(t *testing.T, f *fixture) {
	open := f.subscriber()
	cs := f.claimN(len(f.enqueueN(2)), longLease)
	ch := f.subscribe(open)
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: []backend.Failure{
		snoozeFor(0).item(ack(cs[0])), snoozeFor(time.Minute).item(ack(cs[1])),
	}, Retention: keep})
	requireAllOK(t, 2, errs, err)
	marker := f.enqueue1()
	var snoozed []string
	for {
		ev := f.awaitEvent(ch, "", "")
		if ev.Kind == backend.EventEnqueued && slices.Contains(ev.IDs, marker) {
			break
		}
		require.NotEqual(t, backend.EventRetrying, ev.Kind, "a snooze published retrying")
		if ev.Kind == backend.EventSnoozed {
			snoozed = append(snoozed, ev.IDs...)
		}
	}
	require.Equal(t, ids(cs), snoozed, "the snoozed events of one call snoozing two jobs")
}

// testSnoozeRepeat repeats a snooze with the same token: it succeeds and
// gives no second attempt back.
func testSnoozeRepeat(t *testing.T, f *fixture) {
	id := f.enqueue1()
	f.fail(retryNow, f.claimID(id, longLease))
	c := f.claimID(id, longLease)
	f.fail(snoozeFor(0), c)
	f.unchanged(func() { f.fail(snoozeFor(0), c) }, id)
	f.unchanged(func() { f.fail(retryNow, c) }, id)
	require.Equal(t, 1, f.requireState(id, backend.StatePending).Attempts)
	require.Equal(t, 2, f.claimID(id, longLease).Attempts)
}

// testSnoozeStale snoozes with a token that is not the job's current one:
// after a reclaim, and after the job was snoozed and claimed again.
func testSnoozeStale(t *testing.T, f *fixture) {
	id := f.enqueue1()
	old := f.claimID(id, shortLease)
	waitExpired(old)
	require.Equal(t, []string{id}, f.reclaim(10).Requeued)
	f.unchanged(func() {
		require.ErrorIs(t, failSnoozeOp.one(f, ack(old)), backend.ErrLostClaim)
	}, id)
	snoozed := f.claimID(id, longLease)
	require.NoError(t, failSnoozeOp.one(f, ack(snoozed)))
	owner := f.claimID(id, longLease)
	require.Equal(t, 2, owner.Attempts)
	requireLostClaim(t, f, failSnoozeOp, ack(snoozed), owner)
}
