package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The History group pins down backend.Historian: per-minute counts written
// by the state changes themselves, on the backend's clock. A test's steps
// may straddle a minute's end, so counts are checked as sums over the
// minutes the test can have spanned, and every other minute must read
// zero: the test's queue is new.

func historyTests() []testCase {
	return []testCase{
		{name: "CountsWhatHappened", run: testHistoryCounts},
		{name: "Window", run: testHistoryWindow},
		{name: "UnusedQueueReadsZero", run: testHistoryUnused},
		{name: "Invalid", run: testHistoryInvalid},
		{name: "PurgeClears", run: testHistoryPurge},
		{name: "RepeatsCountOnce", run: testHistoryRepeats},
		{name: "LostReplyCountsOnce", run: testHistoryLostReply},
		{name: "ThroughQueue", run: testHistoryQueue},
	}
}

// historian returns the backend's Historian. A backend without one fails
// the test, unless the harness declares History missing: every backend
// shipped with jobqueue keeps a history.
func (f *fixture) historian() backend.Historian {
	f.t.Helper()
	f.s.needs(f.t, History)
	h, ok := f.b.(backend.Historian)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.Historian (a backend that keeps no history declares %q in Harness.Lacks)", f.b, History)
	}
	return h
}

// history reads the last minutes of the test's queue, and checks the
// shape every reply has: minutes points, one minute apart, each the start
// of a minute, the last the minute of now on the backend's clock, which
// is the machine's.
func (f *fixture) history(minutes int) []backend.HistoryPoint {
	f.t.Helper()
	h := f.historian()
	before := time.Now()
	got, err := h.History(f.ctx, backend.HistoryParams{Queue: f.q, Minutes: minutes})
	after := time.Now()
	require.NoError(f.t, err, "History of %d minutes", minutes)
	require.Len(f.t, got, minutes, "History of %d minutes", minutes)
	for i, pt := range got {
		require.Equal(f.t, pt.Minute.Truncate(time.Minute), pt.Minute, "point %d is not the start of a minute", i)
		if i > 0 {
			require.Equal(f.t, time.Minute, pt.Minute.Sub(got[i-1].Minute), "points %d and %d are not one minute apart, oldest first", i-1, i)
		}
	}
	last := got[len(got)-1].Minute
	require.False(f.t, last.Before(before.Add(-clockSlack).Truncate(time.Minute)), "the last point %v is older than the minute of the call (%v)", last, before)
	require.False(f.t, last.After(after.Add(clockSlack)), "the last point %v is later than the call (%v)", last, after)
	return got
}

// historySum adds up points, with a zero Minute.
func historySum(points []backend.HistoryPoint) backend.HistoryPoint {
	var s backend.HistoryPoint
	for _, pt := range points {
		s.Enqueued += pt.Enqueued
		s.Completed += pt.Completed
		s.Failed += pt.Failed
		s.Retried += pt.Retried
		s.Dead += pt.Dead
		s.Reclaimed += pt.Reclaimed
		s.Cancelled += pt.Cancelled
	}
	return s
}

// historySince reads the counts of everything that happened in the test's
// queue since start, a time read before its first step: their sum over
// the minutes from start's to now's, with every older minute zero.
func (f *fixture) historySince(start time.Time) backend.HistoryPoint {
	f.t.Helper()
	got := f.history(60)
	// The backend's clock may run behind the test's by clockSlack.
	first := start.Add(-clockSlack).Truncate(time.Minute)
	require.True(f.t, got[0].Minute.Before(first), "the test ran for over an hour")
	var older, since []backend.HistoryPoint
	for i, pt := range got {
		if !pt.Minute.Before(first) {
			older, since = got[:i], got[i:]
			break
		}
	}
	require.Equal(f.t, backend.HistoryPoint{}, historySum(older), "minutes before the test began have counts")
	return historySum(since)
}

// historyOfStats is the history that the Stats totals of a queue that
// was new at its first step imply, less Failed, which has no total.
func historyOfStats(st backend.Stats, failed int64) backend.HistoryPoint {
	return backend.HistoryPoint{Enqueued: st.EnqueuedTotal, Completed: st.CompletedTotal, Failed: failed,
		Retried: st.RetriedTotal, Dead: st.DeadTotal, Reclaimed: st.ReclaimedTotal}
}

// testHistoryCounts runs one of every counted change, and a snooze and a
// release, which count nothing, and checks the history holds exactly
// them, as the Stats totals do.
func testHistoryCounts(t *testing.T, f *fixture) {
	start := time.Now()
	require.Equal(t, backend.HistoryPoint{}, f.historySince(start), "a new queue")
	f.enqueueN(5)
	poison := f.enqueue1(maxAttempts(1))
	// Another queue's changes are its own.
	g := f.other()
	g.complete(g.claimID(g.enqueue1(), longLease))
	require.Equal(t, backend.HistoryPoint{Enqueued: 6}, f.historySince(start), "after enqueues of 5 and 1 jobs")

	cs := f.claimN(5, longLease)
	f.complete(cs[0], cs[1])
	f.fail(retryNow, cs[2])
	f.fail(dead, cs[3])
	f.fail(snoozeFor(0), cs[4])
	require.Equal(t, backend.HistoryPoint{Enqueued: 6, Completed: 2, Failed: 2, Retried: 1, Dead: 1}, f.historySince(start),
		"after 2 completions, a retry, a dead-letter and a snooze by Fail")

	// The poison job, then the retried and the snoozed ones.
	leased := f.claimN(3, shortLease)
	require.Equal(t, poison, leased[0].ID)
	waitExpired(leased...)
	r := f.reclaim(10)
	require.Equal(t, []string{poison}, r.Dead, "the reclaim's poison job")
	require.Len(t, r.Requeued, 2, "the reclaim's requeued jobs")
	f.claimN(1, longLease)
	back := f.claimN(1, longLease)
	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(back...)})
	requireAllOK(t, 1, errs, err)
	require.Equal(t, backend.HistoryPoint{Enqueued: 6, Completed: 2, Failed: 2, Retried: 1, Dead: 2, Reclaimed: 3}, f.historySince(start),
		"after a reclaim of 3 jobs, one dead-lettered, and a release")

	// A job that expires before a claim meets it is dead-lettered by it.
	late := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(late)
	got, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: f.q, Max: 10, Lease: longLease, DeadRetention: keep})
	require.NoError(t, err)
	require.Equal(t, ids(back), ids(got), "a claim that met the released job and an expired one")
	f.requireState(late, backend.StateDead)
	want := backend.HistoryPoint{Enqueued: 7, Completed: 2, Failed: 2, Retried: 1, Dead: 3, Reclaimed: 3}
	require.Equal(t, want, f.historySince(start), "after an expired job was dead-lettered by a claim")
	require.Equal(t, historyOfStats(f.stats(), want.Failed), want, "the history against the Stats totals")
}

// testHistoryWindow checks the shape of replies of every length, and that
// reading changes nothing.
func testHistoryWindow(t *testing.T, f *fixture) {
	f.populate()
	for _, minutes := range []int{1, 2, 61, int(backend.HistoryRetention / time.Minute)} {
		f.unchanged(func() { f.history(minutes) })
	}
	long, short := f.history(int(backend.HistoryRetention/time.Minute)), f.history(1)
	last := long[len(long)-1]
	if last.Minute.Equal(short[0].Minute) { // the minute did not end in between
		require.Equal(t, last, short[0], "the current minute, read twice")
	}
	require.Equal(t, backend.HistoryPoint{Enqueued: 6, Completed: 1, Failed: 1, Dead: 1}, historySum(long), "the day's counts")
}

func testHistoryUnused(t *testing.T, f *fixture) {
	for _, pt := range f.history(90) {
		require.Equal(t, backend.HistoryPoint{Minute: pt.Minute}, pt, "a queue never used")
	}
	st := f.stats()
	require.Equal(t, backend.Stats{}, st, "a queue whose history was read")
}

func testHistoryInvalid(t *testing.T, f *fixture) {
	h := f.historian()
	for _, c := range []struct {
		p    backend.HistoryParams
		want error
	}{
		{backend.HistoryParams{Queue: f.q, Minutes: 0}, backend.ErrInvalidArgument},
		{backend.HistoryParams{Queue: f.q, Minutes: -1}, backend.ErrInvalidArgument},
		{backend.HistoryParams{Queue: f.q, Minutes: int(backend.HistoryRetention/time.Minute) + 1}, backend.ErrInvalidArgument},
		{backend.HistoryParams{Queue: "", Minutes: 1}, backend.ErrInvalidQueueName},
		{backend.HistoryParams{Queue: "bad name", Minutes: 1}, backend.ErrInvalidQueueName},
		{backend.HistoryParams{Queue: "queue:{x}", Minutes: 1}, backend.ErrInvalidQueueName},
	} {
		got, err := h.History(f.ctx, c.p)
		require.ErrorIs(t, err, c.want, "History(%+v)", c.p)
		require.Nil(t, got, "History(%+v)", c.p)
	}
}

// testHistoryPurge: a purge deletes the history with the queue's
// counters, and what happens after it counts afresh.
func testHistoryPurge(t *testing.T, f *fixture) {
	start := time.Now()
	g := f.other()
	g.populate()
	f.populate()
	require.NotEqual(t, backend.HistoryPoint{}, f.historySince(start))
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, backend.HistoryPoint{}, f.historySince(start), "a purged queue's history")
	require.Equal(t, backend.HistoryPoint{Enqueued: 6, Completed: 1, Failed: 1, Dead: 1}, g.historySince(start),
		"the history of a queue that was not purged")
	f.complete(f.claimID(f.enqueue1(), longLease))
	require.Equal(t, backend.HistoryPoint{Enqueued: 1, Completed: 1}, f.historySince(start), "after the purge")
}

// testHistoryRepeats repeats every counted call with the same request id
// or token (backend's "Lost replies and repeated calls"): nothing counts
// twice.
func testHistoryRepeats(t *testing.T, f *fixture) {
	start := time.Now()
	enqueue := backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{f.job(), f.job(), f.job(), f.job(maxAttempts(1))}, RequestID: newRequestID()}
	twice := func(call func() error) {
		t.Helper()
		require.NoError(t, call(), "the first run")
		require.NoError(t, call(), "the repeat")
	}
	twice(func() error { return f.b.Enqueue(f.ctx, enqueue) })
	cs := f.claimN(3, longLease)
	for _, how := range []failure{retryNow, dead} {
		c := cs[0]
		cs = cs[1:]
		twice(func() error {
			errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: []backend.Failure{how.item(ack(c))}, Retention: keep})
			requireAllOK(t, 1, errs, err)
			return nil
		})
	}
	twice(func() error {
		errs, err := completeOp.call(f, acks(cs[0]))
		requireAllOK(t, 1, errs, err)
		return nil
	})
	// The poison job, and the retried one.
	leased := f.claimN(2, shortLease)
	waitExpired(leased...)
	reclaim := backend.ReclaimParams{Queue: f.q, Max: 10, DeadRetention: keep, RequestID: newRequestID()}
	twice(func() error {
		r, err := f.b.Reclaim(f.ctx, reclaim)
		require.Equal(t, 2, r.Len(), "the jobs reclaimed")
		return err
	})
	late := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(late)
	claim := f.claimParams(10, longLease, 0)
	claim.RequestID = newRequestID()
	twice(func() error {
		got, err := f.b.Claim(f.ctx, claim)
		require.Len(t, got, 1, "the job the reclaim requeued")
		return err
	})
	want := backend.HistoryPoint{Enqueued: 5, Completed: 1, Failed: 2, Retried: 1, Dead: 3, Reclaimed: 2}
	require.Equal(t, want, f.historySince(start), "every counted call made twice")
	require.Equal(t, historyOfStats(f.stats(), want.Failed), want, "the history against the Stats totals")
}

// testHistoryLostReply loses the reply of a completion and of a failure,
// which ran, and repeats them as the root Queue does: each counts once.
func testHistoryLostReply(t *testing.T, f *fixture) {
	start := time.Now()
	loser := DropReplies(f.b)
	if f.s.h.LoseReplies != nil {
		loser = f.s.h.LoseReplies(t)
	}
	f.enqueueN(2)
	cs := f.claimN(2, longLease)
	for _, c := range []struct {
		method string
		call   func(b backend.Backend) ([]error, error)
	}{
		{"Complete", func(b backend.Backend) ([]error, error) {
			return b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(cs[0])}}, Retention: keep})
		}},
		{"Fail", func(b backend.Backend) ([]error, error) {
			return b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: []backend.Failure{retryNow.item(ack(cs[1]))}, Retention: keep})
		}},
	} {
		lost := loser.Lost()
		loser.Lose(c.method)
		if _, err := c.call(loser.Backend); err != nil {
			require.ErrorIs(t, err, backend.ErrUnavailable, "a %s whose reply was lost", c.method)
		}
		require.Equal(t, lost+1, loser.Lost(), "the harness lost no reply of %s", c.method)
		errs, err := c.call(loser.Backend)
		requireAllOK(t, 1, errs, err)
	}
	require.Equal(t, backend.HistoryPoint{Enqueued: 2, Completed: 1, Failed: 1, Retried: 1}, f.historySince(start))
}

// testHistoryQueue reads the history through the root Queue.
func testHistoryQueue(t *testing.T, f *fixture) {
	f.historian()
	q := f.queue()
	f.complete(f.claimID(f.enqueue1(), longLease))
	got, err := q.History(f.ctx, 5)
	require.NoError(t, err)
	require.Len(t, got, 5)
	require.Equal(t, backend.HistoryPoint{Enqueued: 1, Completed: 1}, historySum(got))
	_, err = q.History(f.ctx, 0)
	require.ErrorIs(t, err, backend.ErrInvalidArgument)
}
