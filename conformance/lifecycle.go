package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

func failTests() []testCase {
	return []testCase{
		{name: "RetryNow", run: testFailRetryNow},
		{name: "RetryAfterDelay", run: testFailRetryAfterDelay},
		{name: "Dead", run: testFailDead},
		{name: "MixedBatch", run: testFailMixedBatch},
	}
}

func testFailRetryNow(t *testing.T, f *fixture) {
	id := f.enqueue1()
	f.fail(retryNow, f.claimID(id, longLease))
	info := f.requireState(id, backend.StatePending)
	require.Equal(t, 1, info.Attempts, "a failed attempt counts")
	require.Equal(t, retryNow.err, info.LastError)
	require.True(t, info.LeaseUntil.IsZero(), "LeaseUntil of a pending job")
	again := f.claimID(id, longLease)
	require.Equal(t, 2, again.Attempts)
	st := f.stats()
	require.Equal(t, int64(1), st.RetriedTotal)
	require.Equal(t, int64(0), st.DeadTotal)
}

func testFailRetryAfterDelay(t *testing.T, f *fixture) {
	const delay = 300 * time.Millisecond
	id := f.enqueue1()
	how := retryAfter(delay)
	f.fail(how, f.claimID(id, longLease))
	failedAt := time.Now()
	info := f.requireState(id, backend.StateScheduled)
	require.Equal(t, how.err, info.LastError)
	require.Equal(t, 1, info.Attempts)
	requireNear(t, failedAt.Add(delay), info.RunAt, 200*time.Millisecond, "RunAt of a retry")
	require.Equal(t, []string{id}, f.list(backend.StateScheduled))
	require.Equal(t, int64(1), f.stats().Scheduled)
	f.requireNoneClaimable()
	again := f.claimSoon(longLease)
	require.Equal(t, id, again.ID)
	require.GreaterOrEqual(t, time.Since(failedAt), delay-clockSlack, "the retry ran before its delay")
	require.Equal(t, 2, again.Attempts)
}

func testFailDead(t *testing.T, f *fixture) {
	id := f.enqueue1()
	f.fail(dead, f.claimID(id, longLease))
	info := f.requireState(id, backend.StateDead)
	require.Equal(t, dead.err, info.LastError)
	require.Equal(t, 1, info.Attempts)
	requireNear(t, time.Now(), info.FinishedAt, 2*time.Second, "FinishedAt")
	require.Equal(t, []string{id}, f.list(backend.StateDead))
	f.requireNoneClaimable()
	st := f.stats()
	require.Equal(t, int64(1), st.Dead)
	require.Equal(t, int64(1), st.DeadTotal)
	require.Equal(t, int64(0), st.Processing)
}

// testFailMixedBatch fails three jobs in one call, each its own way: each
// must follow its own item, not the first one's.
func testFailMixedBatch(t *testing.T, f *fixture) {
	const later = time.Minute
	cs := f.claimN(len(f.enqueueN(3)), longLease)
	items := []backend.Failure{
		{Ack: ack(cs[0]), Error: "now"},
		{Ack: ack(cs[1]), Error: "later", Delay: later},
		{Ack: ack(cs[2]), Error: "for good", Dead: true},
	}
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: items, Retention: keep})
	failedAt := time.Now()
	requireAllOK(t, len(items), errs, err)
	require.Equal(t, "now", f.requireState(cs[0].ID, backend.StatePending).LastError)
	info := f.requireState(cs[1].ID, backend.StateScheduled)
	require.Equal(t, "later", info.LastError)
	requireNear(t, failedAt.Add(later), info.RunAt, 2*time.Second, "RunAt of the item retried later")
	require.Equal(t, "for good", f.requireState(cs[2].ID, backend.StateDead).LastError)
	st := f.stats()
	require.Equal(t, int64(2), st.RetriedTotal)
	require.Equal(t, int64(1), st.DeadTotal)
}

func extendTests() []testCase {
	return []testCase{
		{name: "KeepsLease", run: testExtendKeepsLease},
		{name: "AfterAnotherClaim", run: testExtendAfterAnotherClaim},
	}
}

// testExtendAfterAnotherClaim: a job claimed again — after a release, a
// retry or a reclaim — is fully owned by its new claim: its heartbeat
// renews the lease, whatever the earlier claims recorded.
func testExtendAfterAnotherClaim(t *testing.T, f *fixture) {
	again := map[string]func(c backend.ClaimedJob){
		"release": func(c backend.ClaimedJob) { require.NoError(t, releaseOp.one(f, ack(c))) },
		"retry":   func(c backend.ClaimedJob) { f.fail(retryNow, c) },
		"reclaim": func(c backend.ClaimedJob) { waitExpired(c); require.Equal(t, 1, f.reclaim(10).Len()) },
	}
	for name, put := range again {
		id := f.enqueue1()
		put(f.claimID(id, 100*time.Millisecond))
		c := f.claimID(id, 200*time.Millisecond)
		require.NoError(t, extendOp.one(f, ack(c)), "%s, then claimed again: the new owner's heartbeat is refused", name)
		waitExpired(c)
		require.Zero(t, f.reclaim(10).Len(), "%s, then claimed again: reclaimed past an extended lease", name)
		require.NoError(t, completeOp.one(f, ack(c)))
	}
}

func testExtendKeepsLease(t *testing.T, f *fixture) {
	id := f.enqueue1()
	c := f.claimID(id, 200*time.Millisecond)
	before := time.Now()
	require.NoError(t, extendOp.one(f, ack(c)))
	after := time.Now()
	// The new lease counts from the call, not from the old deadline.
	info := f.requireState(id, backend.StateProcessing)
	require.False(t, info.LeaseUntil.Before(before.Add(longLease-clockSlack)), "LeaseUntil after Extend: %v, called at %v", info.LeaseUntil, before)
	require.False(t, info.LeaseUntil.After(after.Add(longLease+clockSlack)), "LeaseUntil after Extend: %v, returned at %v", info.LeaseUntil, after)
	waitExpired(c)
	require.Zero(t, f.reclaim(10).Len(), "a job was reclaimed past its original lease although it was extended")
	f.requireNoneClaimable()
	require.Equal(t, 1, f.requireState(id, backend.StateProcessing).Attempts)
	f.complete(c)
}

func releaseTests() []testCase {
	return []testCase{
		{name: "NextToClaim", run: testReleaseNextToClaim},
		{name: "KeepsAttempts", run: testReleaseKeepsAttempts},
	}
}

func testReleaseNextToClaim(t *testing.T, f *fixture) {
	all := f.enqueueN(3)
	c := f.claimID(all[0], longLease)
	all = append(all, f.enqueue1())
	require.NoError(t, releaseOp.one(f, ack(c)))
	require.Equal(t, all, f.list(backend.StatePending), "a released job goes ahead of every pending job")
	require.Equal(t, all, ids(f.claimN(len(all), longLease)))
}

func testReleaseKeepsAttempts(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(1))
	c := f.claimID(id, longLease)
	require.NoError(t, releaseOp.one(f, ack(c)))
	info := f.requireState(id, backend.StatePending)
	require.Equal(t, 0, info.Attempts, "a release gives the attempt back")
	again := f.claimID(id, shortLease)
	require.Equal(t, 1, again.Attempts)
	waitExpired(again)
	require.Equal(t, []string{id}, f.reclaim(10).Dead, "the job had one attempt, used by the second claim")
}

func reclaimTests() []testCase {
	return []testCase{
		{name: "ExpiredToPending", run: testReclaimExpired},
		{name: "BoundedBatch", run: testReclaimBounded},
		{name: "LiveLeasesUntouched", run: testReclaimLive},
		{name: "LeaseAboutToExpireUntouched", run: testReclaimAlmostExpired},
		{name: "OldestDeadlineFirst", run: testReclaimOrder},
		{name: "PoisonJobDeadLettered", run: testReclaimPoison},
		{name: "ConcurrentReclaimers", run: testReclaimConcurrent},
	}
}

func testReclaimExpired(t *testing.T, f *fixture) {
	id := f.enqueue1()
	c := f.claimID(id, shortLease)
	waitExpired(c)
	r := f.reclaim(10)
	require.Equal(t, []string{id}, r.Requeued)
	require.Empty(t, r.Dead)
	info := f.requireState(id, backend.StatePending)
	require.Equal(t, 1, info.Attempts, "an expired lease used its attempt")
	require.True(t, info.LeaseUntil.IsZero(), "LeaseUntil of a pending job")
	st := f.stats()
	require.Equal(t, int64(1), st.ReclaimedTotal)
	require.Equal(t, int64(1), st.Pending)
	require.Equal(t, int64(0), st.Processing)
	require.Equal(t, 2, f.claimID(id, longLease).Attempts)
}

func testReclaimBounded(t *testing.T, f *fixture) {
	all := f.enqueueN(5)
	waitExpired(f.claimN(5, shortLease)...)
	var got []string
	for _, want := range []int{2, 2, 1, 0} {
		r := f.reclaim(2)
		require.Len(t, r.Requeued, want, "reclaim with Max 2 of %d expired leases", 5-len(got))
		got = append(got, r.Requeued...)
	}
	require.ElementsMatch(t, all, got)
}

func testReclaimLive(t *testing.T, f *fixture) {
	id := f.enqueue1()
	c := f.claimID(id, longLease)
	f.unchanged(func() {
		require.Zero(t, f.reclaim(10).Len())
	}, id)
	f.complete(c)
}

// testReclaimAlmostExpired reclaims while one lease has run out and
// another is about to: only the first may be taken back. A try in which
// the test stalled past the second lease's end before the call checks
// nothing and is made again.
func testReclaimAlmostExpired(t *testing.T, f *fixture) {
	for try := range 3 {
		all := f.enqueueN(2)
		expired := f.claimID(all[0], shortLease)
		soon := f.claimID(all[1], shortLease+400*time.Millisecond)
		waitExpired(expired)
		start := time.Now()
		r := f.reclaim(10)
		if !soon.LeaseUntil.After(start.Add(clockSlack)) {
			t.Logf("try %d stalled past the live lease's end (%v late)", try+1, start.Sub(soon.LeaseUntil))
			require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
			continue
		}
		require.Equal(t, []string{expired.ID}, r.Requeued, "a lease with %v left was reclaimed", soon.LeaseUntil.Sub(start))
		require.Empty(t, r.Dead)
		require.Equal(t, soon.LeaseUntil, f.requireState(soon.ID, backend.StateProcessing).LeaseUntil)
		return
	}
	t.Skip("every try stalled past the live lease's end; nothing was checked")
}

func testReclaimOrder(t *testing.T, f *fixture) {
	all := f.enqueueN(2)
	late := f.claimID(all[0], 400*time.Millisecond)
	early := f.claimID(all[1], 50*time.Millisecond)
	waitExpired(late, early)
	require.Equal(t, []string{early.ID}, f.reclaim(1).Requeued, "the lease that ran out first is reclaimed first")
	require.Equal(t, []string{late.ID}, f.reclaim(1).Requeued)
}

// testReclaimPoison lets a job's lease run out on every attempt, as when
// the job kills its worker: it ends dead-lettered, not retried forever.
func testReclaimPoison(t *testing.T, f *fixture) {
	id := f.enqueue1(maxAttempts(2))
	waitExpired(f.claimID(id, shortLease))
	require.Equal(t, []string{id}, f.reclaim(10).Requeued)
	waitExpired(f.claimID(id, shortLease))
	r := f.reclaim(10)
	require.Empty(t, r.Requeued)
	require.Equal(t, []string{id}, r.Dead)
	info := f.requireState(id, backend.StateDead)
	require.NotEmpty(t, info.LastError, "a dead-lettered job says why")
	require.Equal(t, 2, info.Attempts)
	require.False(t, info.FinishedAt.IsZero(), "FinishedAt of a dead job")
	require.Equal(t, []string{id}, f.list(backend.StateDead))
	f.requireNoneClaimable()
	st := f.stats()
	require.Equal(t, int64(2), st.ReclaimedTotal)
	require.Equal(t, int64(1), st.DeadTotal)
	require.Equal(t, int64(1), st.Dead)
}

func testReclaimConcurrent(t *testing.T, f *fixture) {
	const jobs, reclaimers = 20, 4
	all := f.enqueueN(jobs)
	waitExpired(f.claimN(jobs, shortLease)...)
	var (
		mu       sync.Mutex
		got      []string
		failures []error
		wg       sync.WaitGroup
	)
	for range reclaimers {
		wg.Go(func() {
			for {
				r, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: 3, DeadRetention: keep})
				mu.Lock()
				got = append(got, r.Requeued...)
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
				if err != nil || r.Len() == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, failures)
	require.ElementsMatch(t, all, got, "every expired job reclaimed exactly once")
	st := f.stats()
	require.Equal(t, int64(jobs), st.ReclaimedTotal)
	require.Equal(t, int64(jobs), st.Pending)
}
