package conformance

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The KindLimits group pins down the limits of one kind's jobs
// (backend.LimitParams.Kind): they cap that kind's jobs in processing and
// its starts, across every claimer, on top of the queue's own limits; a
// kind at its limit holds up only its own jobs, which claims pass by to
// take the other kinds' jobs behind them; the jobs passed by stay pending
// (counted, listed, cancelled and deleted as any pending job) and start,
// in the order they were passed by and at their priority, as their kind's
// slots free or its rate allows, waking a waiting claim by themselves.

func kindLimitTests() []testCase {
	return withNeeds(SharedLimits, []testCase{
		{name: "ConcurrencyPassesOtherKinds", run: testKindConcurrency},
		{name: "SlotFreedWakesClaim", run: testKindSlotWakes},
		{name: "HeldJobsKeepOrderAndPriority", run: testKindHeldOrder},
		{name: "RateCapsStarts", run: testKindRate},
		{name: "RateWindowSlides", run: testKindRateWindow},
		{name: "HeldJobsArePending", run: testKindHeldPending},
		{name: "WithQueueLimits", run: testKindAndQueueLimits},
		{name: "QueueRateWakesHeldJobs", run: testKindHeldQueueRate},
		{name: "SettingsInStats", run: testKindStats},
		{name: "Invalid", run: testKindLimitsInvalid},
		{name: "Workers", run: testKindWorkers},
	})
}

func (f *fixture) setKindLimits(kind string, l backend.Limits) {
	f.t.Helper()
	require.NoError(f.t, f.controller().SetLimits(f.ctx, backend.LimitParams{Queue: f.q, Kind: kind, Limits: l}),
		"set the limits of kind %q to %+v", kind, l)
}

// claimKind claims what is claimable now and requires it to be n jobs of
// kind, returning them.
func (f *fixture) claimKind(n int, kind string, lease time.Duration, what string) []backend.ClaimedJob {
	f.t.Helper()
	got := f.claimWait(10, lease, 0)
	require.Len(f.t, got, n, "jobs claimed %s", what)
	for _, c := range got {
		require.Equal(f.t, kind, c.Kind, "kind of job %s claimed %s", c.ID, what)
	}
	return got
}

// testKindConcurrency limits one kind to 2 in processing: a claim takes
// two of its jobs and passes the others by for the other kind's jobs
// behind them; a completion, a release, a failure and a reclaim each free
// the slot of their job, and the limit is raised, lowered and removed.
func testKindConcurrency(t *testing.T, f *fixture) {
	f.setKindLimits("video", backend.Limits{Concurrency: 2})
	v := f.enqueueN(4, ofKind("video"))
	e := f.enqueueN(2, ofKind("email"))
	got := f.claimWait(10, longLease, 0)
	require.Equal(t, []string{v[0], v[1], e[0], e[1]}, ids(got), "a claim of 10 with video limited to 2")
	f.requireNoneClaimable()
	require.Empty(t, f.claimWait(1, longLease, settle), "a claim that waits while the kind's slots are taken")
	require.Equal(t, int64(2), f.stats().Pending, "the video jobs passed by")

	f.complete(got[0])
	c := f.claimKind(1, "video", longLease, "after a completion")
	f.requireNoneClaimable()

	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(c...)})
	requireAllOK(t, 1, errs, err)
	c = f.claimKind(1, "video", longLease, "after a release")
	f.requireNoneClaimable()

	f.fail(retryNow, c...)
	c = f.claimKind(1, "video", shortLease, "after a failure")
	f.requireNoneClaimable()

	waitExpired(c...)
	// An expired lease holds its slot until a reclaim takes it back.
	f.requireNoneClaimable()
	require.Equal(t, ids(c), f.reclaim(10).Requeued)
	f.claimKind(1, "video", longLease, "after a reclaim")
	f.requireNoneClaimable()
	st := f.stats()
	require.Equal(t, int64(1), st.Pending)
	require.Equal(t, int64(4), st.Processing)

	// A raised limit lets claims take more; a lowered one takes nothing
	// back and starts nothing until the kind is under it; no limit lets
	// every job start.
	f.setKindLimits("video", backend.Limits{Concurrency: 3})
	f.claimKind(1, "video", longLease, "after the limit went up to 3")
	f.setKindLimits("video", backend.Limits{Concurrency: 1})
	more := f.enqueueN(2, ofKind("video"))
	f.requireNoneClaimable()
	require.Equal(t, int64(5), f.stats().Processing, "a lowered limit takes nothing back")
	f.setKindLimits("video", backend.Limits{})
	require.Equal(t, more, ids(f.claimWait(10, longLease, 0)), "with no limit, the jobs passed by")
}

// testKindSlotWakes blocks a claim on a kind whose only slot is taken:
// each way a job of the kind leaves processing wakes it, with the job of
// the kind passed by first.
func testKindSlotWakes(t *testing.T, f *fixture) {
	f.setKindLimits("video", backend.Limits{Concurrency: 1})
	f.requireSlotWakes("the kind's limit", ofKind("video"))
}

// testKindHeldOrder passes jobs of a kind by and checks they start in
// the order they were passed by, each at its own priority: a job of the
// kind at a higher level still goes first.
func testKindHeldOrder(t *testing.T, f *fixture) {
	f.setKindLimits("video", backend.Limits{Concurrency: 1})
	v0 := f.enqueue1(ofKind("video"))
	v1 := f.enqueue1(ofKind("video"))
	v2 := f.enqueue1(ofKind("video"), atLevel(2))
	e0 := f.enqueue1(ofKind("email"), atLevel(1))
	got := f.claimWait(10, longLease, 0)
	require.Equal(t, []string{v2, e0}, ids(got), "the highest level first, then the other kind")
	v3 := f.enqueue1(ofKind("video"), atLevel(3))
	f.requireNoneClaimable()
	f.complete(got[0])
	next := f.claimWait(1, longLease, 0)
	require.Equal(t, []string{v3}, ids(next), "a job of the kind at a higher level than those passed by")
	for _, want := range []string{v0, v1} {
		f.complete(next...)
		next = f.claimWait(10, longLease, 0)
		require.Equal(t, []string{want}, ids(next), "the jobs passed by, in their order")
	}
	f.requireNoneClaimable()
}

// testKindRate sets a kind's rate that no test outlives: claims take what
// it allows of the kind and every other job, and a changed rate counts
// the starts already made.
func testKindRate(t *testing.T, f *fixture) {
	f.setKindLimits("video", backend.Limits{Rate: 3, Per: time.Hour})
	v := f.enqueueN(5, ofKind("video"))
	e := f.enqueueN(2, ofKind("email"))
	require.Equal(t, []string{v[0], v[1], v[2], e[0], e[1]}, ids(f.claimWait(10, longLease, 0)),
		"a claim of 10 under a video rate of 3")
	f.requireNoneClaimable()
	require.Empty(t, f.claimWait(10, longLease, settle), "a claim that waits while the kind's rate allows nothing")
	f.setKindLimits("video", backend.Limits{Rate: 4, Per: time.Hour})
	require.Equal(t, v[3:4], ids(f.claimWait(10, longLease, 0)), "after the rate went up to 4")
	f.requireNoneClaimable()
	f.setKindLimits("video", backend.Limits{})
	require.Equal(t, v[4:], ids(f.claimWait(10, longLease, 0)), "with no limit, the rest")
}

// testKindRateWindow lets claims wait out a kind's short rate window while
// the other kind's jobs all start at once: each waiting claim is let
// through by the backend itself, and the kind's claim times never put
// more than its rate into one window.
func testKindRateWindow(t *testing.T, f *fixture) {
	const rate, per, n = 3, 300 * time.Millisecond, 10
	f.setKindLimits("video", backend.Limits{Rate: rate, Per: per})
	v := f.enqueueN(n, ofKind("video"))
	e := f.enqueueN(3, ofKind("email"))
	first := ids(f.claimWait(10, longLease, 0))
	require.Equal(t, append(slices.Clone(v[:rate]), e...), first, "the first claim")
	_, polls := f.s.h.Lacks[PromptWakeup]
	got := first[:rate]
	for len(got) < n {
		start := time.Now()
		c := f.claimWait(2, longLease, time.Minute)
		require.NotEmpty(t, c, "a claim waiting for the kind's rate window returned empty after a minute")
		if took := time.Since(start); !polls && took > eventually {
			t.Fatalf("a claim waiting for a kind's rate of %d per %v took %v to be let through", rate, per, took)
		}
		got = append(got, ids(c)...)
	}
	require.Equal(t, v, got, "every job of the kind, in order")
	f.requireRateSpaced(got, rate, per)
}

// testKindHeldPending checks that jobs passed by for their kind are
// pending jobs like any other: counted, listed, read, deleted and
// cancelled; and that a purge takes them and frees the kind's slots while
// keeping its limits.
func testKindHeldPending(t *testing.T, f *fixture) {
	f.setKindLimits("video", backend.Limits{Concurrency: 1})
	v := f.enqueueN(4, ofKind("video"))
	e := f.enqueue1(ofKind("email"))
	got := f.claimWait(10, longLease, 0)
	require.Equal(t, []string{v[0], e}, ids(got))
	st := f.stats()
	require.Equal(t, int64(3), st.Pending, "jobs passed by for their kind")
	require.Equal(t, int64(2), st.Processing)
	require.ElementsMatch(t, v[1:], f.list(backend.StatePending), "the pending list")
	f.requireState(v[2], backend.StatePending)

	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: v[2]}))
	f.requireGone(v[2])
	wantPending := []string{v[1], v[3]}
	if _, lacks := f.s.h.Lacks[Cancel]; !lacks {
		f.cancel(v[3])
		f.requireCancelled(v[3])
		wantPending = wantPending[:1]
	}
	require.Equal(t, int64(len(wantPending)), f.stats().Pending, "after a delete and a cancel")
	require.ElementsMatch(t, wantPending, f.list(backend.StatePending))
	f.complete(got[0])
	require.Equal(t, v[1:2], ids(f.claimWait(10, longLease, 0)), "the job left")
	f.requireNoneClaimable()

	// A purge takes the held jobs and the kind's count of processing jobs
	// with everything else; the limit stays.
	f.enqueueN(2, ofKind("video"))
	f.requireNoneClaimable()
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Empty(t, f.list(backend.StatePending), "after a purge")
	after := f.enqueueN(2, ofKind("video"))
	require.Equal(t, after[:1], ids(f.claimWait(10, longLease, 0)), "after a purge, the kind's limit of 1 with nothing running")
	require.Equal(t, map[string]backend.Limits{"video": {Concurrency: 1}}, f.stats().KindLimits)
}

// testKindAndQueueLimits sets both: a claim takes what both allow.
func testKindAndQueueLimits(t *testing.T, f *fixture) {
	f.setLimits(backend.Limits{Concurrency: 3})
	f.setKindLimits("video", backend.Limits{Concurrency: 2})
	v := f.enqueueN(4, ofKind("video"))
	e := f.enqueueN(2, ofKind("email"))
	got := f.claimWait(10, longLease, 0)
	require.Equal(t, []string{v[0], v[1], e[0]}, ids(got), "a claim of 10 under a queue limit of 3 and a video limit of 2")
	f.requireNoneClaimable()
	f.complete(got[2])
	require.Equal(t, e[1:], ids(f.claimWait(10, longLease, 0)), "after an email job completed, video is still full")
	f.complete(got[0])
	require.Equal(t, v[2:3], ids(f.claimWait(10, longLease, 0)), "after a video job completed")
	f.requireNoneClaimable()
}

// testKindHeldQueueRate holds the only pending job for its kind while
// the queue's rate is spent: once the kind's slot frees, a waiting claim
// is let through by the backend itself when the queue's window lets the
// next job start.
func testKindHeldQueueRate(t *testing.T, f *fixture) {
	const per = 300 * time.Millisecond
	f.setLimits(backend.Limits{Rate: 2, Per: per})
	f.setKindLimits("video", backend.Limits{Concurrency: 1})
	v := f.enqueueN(2, ofKind("video"))
	e := f.enqueue1(ofKind("email"))
	got := f.claimWait(10, longLease, 0)
	require.Equal(t, []string{v[0], e}, ids(got), "a claim under a queue rate of 2 and a video limit of 1")
	f.complete(got[0])
	start := time.Now()
	c := f.claimWait(10, longLease, time.Minute)
	require.Equal(t, v[1:], ids(c), "the held job, once the kind's slot freed and the queue's window let it start")
	if _, polls := f.s.h.Lacks[PromptWakeup]; !polls && time.Since(start) > eventually {
		t.Fatalf("the claim took %v to be let through by a rate of 2 per %v", time.Since(start), per)
	}
}

func testKindStats(t *testing.T, f *fixture) {
	require.Nil(t, f.stats().KindLimits, "a new queue")
	video, email := backend.Limits{Concurrency: 2}, backend.Limits{Rate: 5, Per: time.Minute}
	f.setKindLimits("video", video)
	f.setKindLimits("email", email)
	f.setKindLimits("email", email)
	want := backend.Stats{KindLimits: map[string]backend.Limits{"video": video, "email": email}}
	require.Equal(t, want, f.stats())
	require.Nil(t, f.other().stats().KindLimits, "the other queue")
	// A kind's limits are settings: a purge keeps them.
	f.enqueue1(ofKind("video"))
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, want, f.stats(), "a purged queue keeps the kinds' limits")
	f.setKindLimits("email", backend.Limits{})
	f.setKindLimits("email", backend.Limits{})
	want.KindLimits = map[string]backend.Limits{"video": video}
	require.Equal(t, want, f.stats(), "after email's limits were removed")
	f.setKindLimits("video", backend.Limits{})
	require.Equal(t, backend.Stats{}, f.stats(), "after every kind's limits were removed")
}

func testKindLimitsInvalid(t *testing.T, f *fixture) {
	c := f.controller()
	set := func(kind string, l backend.Limits) error {
		return c.SetLimits(f.ctx, backend.LimitParams{Queue: f.q, Kind: kind, Limits: l})
	}
	require.ErrorIs(t, set("a b", backend.Limits{Concurrency: 1}), backend.ErrInvalidArgument, "a kind that is no kind")
	require.ErrorIs(t, set("video", backend.Limits{Concurrency: -1}), backend.ErrInvalidArgument, "a negative limit")
	require.ErrorIs(t, set("video", backend.Limits{Rate: 1}), backend.ErrInvalidArgument, "a rate without a period")
	for i := range backend.MaxLimitedKinds {
		require.NoError(t, set(fmt.Sprintf("k%d", i), backend.Limits{Concurrency: i + 1}), "kind %d of %d", i+1, backend.MaxLimitedKinds)
	}
	err := set("one-more", backend.Limits{Concurrency: 1})
	require.ErrorIs(t, err, backend.ErrTooManyLimitedKinds, "a limit for one kind more than %d", backend.MaxLimitedKinds)
	require.ErrorIs(t, err, backend.ErrInvalidArgument)
	require.NoError(t, set("k0", backend.Limits{Concurrency: 7}), "a kind that has limits, at the bound")
	require.NoError(t, set("k1", backend.Limits{}), "removing one")
	require.NoError(t, set("one-more", backend.Limits{Concurrency: 1}), "after one was removed")
	st := f.stats()
	require.Len(t, st.KindLimits, backend.MaxLimitedKinds)
	require.Equal(t, backend.Limits{Concurrency: 7}, st.KindLimits["k0"])
	require.Equal(t, backend.Limits{}, st.Limits, "the queue's own limits")
}

// testKindWorkers runs two Workers on a queue whose "slow" kind may run 2
// at once: slow handlers block until the test lets them go, and every
// "fast" job enqueued behind the slow ones completes meanwhile; the slow
// handlers' own count never goes over 2.
func testKindWorkers(t *testing.T, f *fixture) {
	const limit, n = 2, 6
	require.NoError(t, f.queue().SetKindLimits(f.ctx, "slow", jobqueue.Limits{Concurrency: limit}))
	var running, most, fast atomic.Int64
	release := make(chan struct{})
	h := func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if j.Kind != "slow" {
			fast.Add(1)
			return nil, nil
		}
		raiseMax(&most, running.Add(1))
		defer running.Add(-1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, nil
	}
	defer f.runWorkers(h, 4)()
	f.enqueueN(n, ofKind("slow"))
	f.enqueueN(n, ofKind("fast"))
	require.Eventually(t, func() bool { return fast.Load() == n && running.Load() == limit }, 30*time.Second, tick,
		"every fast job done while %d slow jobs run: are the slow jobs passed by?", limit)
	close(release)
	require.Eventually(t, func() bool { return f.stats().Completed == 2*n }, 30*time.Second, tick, "every job completed")
	require.LessOrEqual(t, most.Load(), int64(limit), "slow handlers running at once")
}
