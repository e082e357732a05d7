package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Expiry group pins down NewJob.Expiry: a claim never returns a job
// whose expiry has passed, whichever way the job came back to pending; it
// dead-letters it under its DeadRetention, with a LastError that says it
// expired, and does not count it toward its Max. RetryDead lifts the
// expiry.

// The expiries the group works with: a short one to wait out, long enough
// for a claim made right after the enqueue to beat it; a long one that
// never runs out during a test.
const (
	shortExpiry = 500 * time.Millisecond
	longExpiry  = time.Hour
)

func expiryTests() []testCase {
	return []testCase{
		{name: "ExpiresAt", run: testExpiresAt},
		{name: "NeverReturned", run: testExpiryNeverReturned},
		{name: "DeadUnderClaimRetention", run: testExpiryRetention},
		{name: "BatchMixesExpiredAndLive", run: testExpiryBatch},
		{name: "WayBackMeetsExpiry", run: testExpiryWayBack},
		{name: "RetryDeadLiftsExpiry", run: testExpiryRetryDead},
		{name: "PublishesDead", run: testExpiryEvent},
	}
}

// claimKeeping claims up to limit jobs now, keeping the jobs it
// dead-letters.
func (f *fixture) claimKeeping(limit int) []backend.ClaimedJob {
	f.t.Helper()
	p := f.claimParams(limit, longLease, 0)
	p.DeadRetention = keep
	got, err := f.b.Claim(f.ctx, p)
	require.NoError(f.t, err)
	return got
}

// waitJobsExpired sleeps until the expiry of every job of ids has passed
// on the backend's clock, as Get reports it.
func (f *fixture) waitJobsExpired(ids ...string) {
	f.t.Helper()
	var last time.Time
	for _, id := range ids {
		at := f.get(id).ExpiresAt
		require.False(f.t, at.IsZero(), "ExpiresAt of %s, a job with an expiry", id)
		if at.After(last) {
			last = at
		}
	}
	time.Sleep(time.Until(last) + 2*clockSlack)
}

// requireExpired requires id to be dead of its expiry, after attempts
// claims.
func (f *fixture) requireExpired(id string, attempts int) backend.JobInfo {
	f.t.Helper()
	info := f.requireState(id, backend.StateDead)
	require.Contains(f.t, info.LastError, "expired", "LastError of a job dead of its expiry")
	require.Equal(f.t, attempts, info.Attempts, "an expired job is not claimed")
	require.False(f.t, info.FinishedAt.IsZero(), "FinishedAt of a dead job")
	return info
}

func testExpiresAt(t *testing.T, f *fixture) {
	start := time.Now()
	now := f.enqueue1(expiring(longExpiry))
	later := f.enqueue1(expiring(longExpiry), delayed(time.Minute))
	never := f.enqueue1()
	requireNear(t, start.Add(longExpiry), f.get(now).ExpiresAt, 2*time.Second, "ExpiresAt")
	requireNear(t, start.Add(longExpiry), f.requireState(later, backend.StateScheduled).ExpiresAt, 2*time.Second,
		"ExpiresAt of a delayed job counts from the enqueue, not from its run time")
	require.True(t, f.get(never).ExpiresAt.IsZero(), "ExpiresAt of a job with no expiry")
	c := f.claimID(now, longLease)
	require.Equal(t, 1, c.Attempts)
	f.complete(c)
}

func testExpiryNeverReturned(t *testing.T, f *fixture) {
	id := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(id)
	require.Empty(t, f.claimKeeping(10), "a claim returned an expired job")
	info := f.requireExpired(id, 0)
	requireNear(t, time.Now(), info.FinishedAt, 2*time.Second, "FinishedAt")
	require.Equal(t, []string{id}, f.list(backend.StateDead))
	st := f.stats()
	require.Equal(t, backend.Stats{Dead: 1, EnqueuedTotal: 1, DeadTotal: 1}, st, "an expired job is dead, and was never claimed")
	// A waiting claim does not take it either, nor wait less than it asks.
	start := time.Now()
	require.Empty(t, f.claimWait(1, longLease, 200*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the claim did not wait")
}

// testExpiryRetention dead-letters an expired job under each claim's
// DeadRetention: deleted under one that keeps nothing (which trims the
// whole dead history, so it goes first), kept under one that keeps.
func testExpiryRetention(t *testing.T, f *fixture) {
	gone := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(gone)
	require.Empty(t, f.claimWait(1, longLease, 0), "a claim with a DeadRetention that keeps nothing")
	f.requireGone(gone)

	kept := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(kept)
	require.Empty(t, f.claimKeeping(1))
	f.requireExpired(kept, 0)
	st := f.stats()
	require.Equal(t, int64(2), st.DeadTotal)
	require.Equal(t, int64(1), st.Dead)
	require.Equal(t, []string{kept}, f.list(backend.StateDead))
}

// testExpiryBatch claims past expired jobs: they are dead-lettered and do
// not count toward Max, so the claim still returns Max live jobs.
func testExpiryBatch(t *testing.T, f *fixture) {
	jobs := []backend.NewJob{
		f.job(), f.job(expiring(shortExpiry)), f.job(expiring(longExpiry)),
		f.job(expiring(shortExpiry)), f.job(), f.job(),
	}
	f.enqueueIn(f.q, jobs...)
	f.waitJobsExpired(jobs[1].ID, jobs[3].ID)
	got := f.claimKeeping(3)
	require.Equal(t, []string{jobs[0].ID, jobs[2].ID, jobs[4].ID}, ids(got), "a claim of 3 past 2 expired jobs")
	f.requireExpired(jobs[1].ID, 0)
	f.requireExpired(jobs[3].ID, 0)
	require.ElementsMatch(t, []string{jobs[1].ID, jobs[3].ID}, f.list(backend.StateDead))
	st := f.stats()
	require.Equal(t, int64(3), st.ClaimedTotal, "expired jobs are not claims")
	require.Equal(t, int64(2), st.DeadTotal)
	require.Equal(t, int64(1), st.Pending)
	require.Equal(t, []string{jobs[5].ID}, ids(f.claimKeeping(10)))
}

// testExpiryWayBack claims a job before its expiry, sends it back to
// pending every way there is, and claims after the expiry: the claim
// dead-letters it.
func testExpiryWayBack(t *testing.T, f *fixture) {
	ways := map[string]struct {
		back     func(f *fixture, c backend.ClaimedJob)
		attempts int // of the job once dead
	}{
		"RetryNow":   {func(f *fixture, c backend.ClaimedJob) { f.fail(retryNow, c) }, 1},
		"RetryLater": {func(f *fixture, c backend.ClaimedJob) { f.fail(retryAfter(shortExpiry/5), c) }, 1},
		"Snooze":     {func(f *fixture, c backend.ClaimedJob) { f.fail(snoozeFor(0), c) }, 0},
		"Release":    {func(f *fixture, c backend.ClaimedJob) { require.NoError(f.t, releaseOp.one(f, ack(c))) }, 0},
		"Reclaim": {func(f *fixture, c backend.ClaimedJob) {
			waitExpired(c)
			require.Equal(f.t, []string{c.ID}, f.reclaim(10).Requeued)
		}, 1},
	}
	for name, way := range ways {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := f.s.fixture(t)
			id := f.enqueue1(expiring(shortExpiry))
			c := f.claimID(id, shortLease)
			way.back(f, c)
			f.waitJobsExpired(id)
			require.Empty(t, f.claimKeeping(10), "a claim returned an expired job that came back by %s", name)
			f.requireExpired(id, way.attempts)
		})
	}
}

// testExpiryRetryDead sends an expired job back by hand: it runs, however
// late, and has no expiry any more.
func testExpiryRetryDead(t *testing.T, f *fixture) {
	id := f.enqueue1(expiring(shortExpiry))
	f.waitJobsExpired(id)
	require.Empty(t, f.claimKeeping(1))
	f.requireExpired(id, 0)
	require.NoError(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id}))
	info := f.requireState(id, backend.StatePending)
	require.True(t, info.ExpiresAt.IsZero(), "ExpiresAt of a job sent back by RetryDead: %v", info.ExpiresAt)
	c := f.claimKeeping(1)
	require.Equal(t, []string{id}, ids(c), "a claim of an expired job sent back by RetryDead")
	f.fail(retryNow, c[0])
	require.Equal(t, []string{id}, ids(f.claimKeeping(1)), "its retry")
}

func testExpiryEvent(t *testing.T, f *fixture) {
	open := f.subscriber()
	id := f.enqueue1(expiring(shortExpiry))
	ch := f.subscribe(open)
	f.waitJobsExpired(id)
	// The probe jobs subscribe enqueued are live: the claim takes them.
	f.claimKeeping(100)
	f.requireExpired(id, 0)
	f.awaitEvent(ch, backend.EventDead, id)
}
