package conformance

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Control group pins down backend.Controller: a paused queue hands
// out nothing while enqueues land, and a resume wakes blocked claims; a
// concurrency limit caps the jobs in processing across every claimer, and
// each job that leaves processing frees its slot for a waiting claim; a
// rate limit caps the starts within any window of its period, counted
// exactly on the backend's clock, and a claim that meets it wakes by
// itself when the window lets the next job start.

func controlTests() []testCase {
	return []testCase{
		{name: "PauseHoldsJobs", run: testPauseHoldsJobs},
		{name: "PauseKeepsAcks", run: testPauseKeepsAcks},
		{name: "ResumeWakesBlockedClaims", run: testResumeWakes},
		{name: "ConcurrencyCapsClaims", run: needing(SharedLimits, testConcurrencyCaps)},
		{name: "SlotFreedWakesClaim", run: needing(SharedLimits, testSlotWakes)},
		{name: "ConcurrencyAcrossQueues", run: needing(SharedLimits, testConcurrencyWorkers)},
		{name: "RateCapsStarts", run: needing(SharedLimits, testRateCaps)},
		{name: "RateWindowSlides", run: needing(SharedLimits, testRateWindow)},
		{name: "SettingsInStats", run: testControlStats},
		{name: "OwnQueueOnly", run: needing(SharedLimits, testControlOwnQueue)},
		{name: "PausedQueueWorker", run: testPausedWorker},
		{name: "Invalid", run: testControlInvalid},
		{name: "LostReplies", run: testControlLostReplies},
	}
}

// controller returns the backend's Controller. A backend without one must
// declare the Control capability missing, so that a wrapper that hides
// the methods (an embedded backend.Backend) does not pass unnoticed.
func (f *fixture) controller() backend.Controller {
	f.t.Helper()
	f.s.needs(f.t, Control)
	c, ok := f.b.(backend.Controller)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.Controller; a backend without it declares conformance.Control in Harness.Lacks", f.b)
	}
	return c
}

func (f *fixture) pause() {
	f.t.Helper()
	require.NoError(f.t, f.controller().Pause(f.ctx, f.q), "pause")
}

func (f *fixture) resume() {
	f.t.Helper()
	require.NoError(f.t, f.controller().Resume(f.ctx, f.q), "resume")
}

func (f *fixture) setLimits(l backend.Limits) {
	f.t.Helper()
	require.NoError(f.t, f.controller().SetLimits(f.ctx, backend.LimitParams{Queue: f.q, Limits: l}), "set limits %+v", l)
}

func testPauseHoldsJobs(t *testing.T, f *fixture) {
	first := f.enqueueN(3)
	f.pause()
	f.requireNoneClaimable()
	later := f.enqueueN(2)
	st := f.stats()
	require.True(t, st.Paused, "Stats.Paused of a paused queue")
	require.Equal(t, int64(5), st.Pending, "jobs enqueued before and during the pause are pending")
	require.Empty(t, f.claimWait(10, longLease, settle), "a claim that waits on a paused queue")
	f.requireNoneClaimable()
	f.resume()
	require.False(t, f.stats().Paused, "Stats.Paused after resume")
	require.Equal(t, append(first, later...), ids(f.claimN(5, longLease)), "after resume, the jobs in their order")
}

// testPauseKeepsAcks pauses a queue whose jobs are claimed: they are
// acknowledged, extended and reclaimed as usual, and a job a reclaim or a
// release puts back waits for the resume.
func testPauseKeepsAcks(t *testing.T, f *fixture) {
	f.enqueueN(4)
	done, ext, rel := f.claimN(1, longLease)[0], f.claimN(1, longLease)[0], f.claimN(1, longLease)[0]
	exp := f.claimN(1, shortLease)[0]
	f.pause()
	f.complete(done)
	errs, err := f.b.Extend(f.ctx, backend.ExtendParams{Queue: f.q, Items: acks(ext), Lease: longLease})
	requireAllOK(t, 1, errs, err)
	errs, err = f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(rel)})
	requireAllOK(t, 1, errs, err)
	waitExpired(exp)
	require.Equal(t, []string{exp.ID}, f.reclaim(10).Requeued, "reclaim while paused")
	f.requireNoneClaimable()
	f.resume()
	require.ElementsMatch(t, []string{rel.ID, exp.ID}, ids(f.claimWait(10, longLease, 0)), "after resume")
}

// testResumeWakes blocks three claims on a paused queue that holds three
// jobs: the resume wakes every one of them, each with one job.
func testResumeWakes(t *testing.T, f *fixture) {
	want := f.enqueueN(3)
	f.pause()
	var chs []<-chan claimResult
	for range 3 {
		chs = append(chs, f.claimAsync(f.ctx, f.claimParams(1, longLease, time.Minute)))
	}
	for _, ch := range chs {
		requireBlocked(t, ch)
	}
	f.resume()
	var got []string
	for _, ch := range chs {
		r := receive(t, ch)
		require.NoError(t, r.err)
		require.Len(t, r.jobs, 1, "a claim blocked on the paused queue, after the resume")
		got = append(got, r.jobs[0].ID)
	}
	require.ElementsMatch(t, want, got)
}

// testConcurrencyCaps sets a concurrency limit of 2: claims never take
// more than the free slots, and a completion, a release, a failure and a
// reclaim each free the slot of their job.
func testConcurrencyCaps(t *testing.T, f *fixture) {
	f.setLimits(backend.Limits{Concurrency: 2})
	all := f.enqueueN(8)
	held := f.claimWait(5, longLease, 0)
	require.Equal(t, all[:2], ids(held), "a claim of 5 under a limit of 2")
	f.requireNoneClaimable()
	require.Empty(t, f.claimWait(1, longLease, settle), "a claim that waits while every slot is taken")

	f.complete(held[0])
	c := f.claimWait(5, longLease, 0)
	require.Equal(t, all[2:3], ids(c), "after a completion")
	f.requireNoneClaimable()

	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(c...)})
	requireAllOK(t, 1, errs, err)
	c = f.claimWait(5, longLease, 0)
	require.Equal(t, all[2:3], ids(c), "after a release, the released job")
	f.requireNoneClaimable()

	f.fail(retryNow, c...)
	c = f.claimWait(5, shortLease, 0)
	require.Equal(t, all[3:4], ids(c), "after a failure")
	f.requireNoneClaimable()

	waitExpired(c...)
	// An expired lease holds its slot until a reclaim takes it back.
	f.requireNoneClaimable()
	require.Equal(t, ids(c), f.reclaim(10).Requeued)
	require.Equal(t, all[4:5], ids(f.claimWait(5, longLease, 0)), "after a reclaim")
	f.requireNoneClaimable()
	require.Equal(t, int64(2), f.stats().Processing)

	// A raised limit lets claims take more at once; a lowered one takes
	// nothing back and starts nothing until processing is under it.
	f.setLimits(backend.Limits{Concurrency: 4})
	require.Len(t, f.claimWait(5, longLease, 0), 2, "after the limit went up to 4")
	f.setLimits(backend.Limits{Concurrency: 1})
	require.Equal(t, int64(4), f.stats().Processing, "a lowered limit takes nothing back")
	f.requireNoneClaimable()
	f.setLimits(backend.Limits{})
	require.Len(t, f.claimWait(10, longLease, 0), 3, "with no limit, the rest (one never claimed, one retried, one reclaimed)")
}

// testSlotWakes blocks a claim on a queue whose only slot is taken: each
// way a job leaves processing wakes it, with the next job.
func testSlotWakes(t *testing.T, f *fixture) {
	f.setLimits(backend.Limits{Concurrency: 1})
	f.requireSlotWakes("the limit")
}

// requireSlotWakes claims the first of six new jobs (of kind, if given)
// while their only slot is taken: each way a job leaves processing
// (completion, dead-letter, retry, reclaim, delete) wakes a blocked claim
// with the next one. what names the limit in messages.
func (f *fixture) requireSlotWakes(what string, mods ...func(*backend.NewJob)) {
	t := f.t
	// One attempt each, so that a reclaim dead-letters.
	all := f.enqueueN(6, append(mods, maxAttempts(1))...)
	held := f.claimID(all[0], longLease)
	_, polls := f.s.h.Lacks[PromptWakeup]
	for i, free := range []struct {
		name string
		do   func(backend.ClaimedJob)
	}{
		{"a completion", func(c backend.ClaimedJob) { f.complete(c) }},
		{"a failure that dead-letters", func(c backend.ClaimedJob) { f.fail(dead, c) }},
		{"a failure that retries later", func(c backend.ClaimedJob) { f.fail(retryAfter(time.Hour), c) }},
		{"a reclaim that dead-letters", func(c backend.ClaimedJob) {
			waitExpired(c)
			require.Equal(t, []string{c.ID}, f.reclaim(10).Dead)
		}},
		{"a delete", func(c backend.ClaimedJob) {
			require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: c.ID}))
		}},
	} {
		lease := longLease
		if i == 2 {
			lease = shortLease // the next one is reclaimed
		}
		ch := f.claimAsync(f.ctx, f.claimParams(1, lease, time.Minute))
		requireBlocked(t, ch)
		free.do(held)
		freed := time.Now()
		r := receive(t, ch)
		require.NoError(t, r.err)
		require.Equal(t, all[i+1:i+2], ids(r.jobs), "the claim blocked on %s, after %s", what, free.name)
		// The freed slot wakes the claim: it does not wait for a poll.
		if took := time.Since(freed); !polls && took > eventually {
			t.Fatalf("the claim blocked on %s took %v to wake after %s", what, took, free.name)
		}
		held = r.jobs[0]
	}
}

// testConcurrencyWorkers runs two Workers of five handlers each, on two
// Queue values of one queue whose concurrency limit is 2: the handlers'
// own count of those running never goes over 2, and every job is done.
func testConcurrencyWorkers(t *testing.T, f *fixture) {
	const limit, jobs = 2, 20
	f.setLimits(backend.Limits{Concurrency: limit})
	var running, most atomic.Int64
	var done sync.WaitGroup
	done.Add(jobs)
	h := func(ctx context.Context, j *jobqueue.Job) (any, error) {
		raiseMax(&most, running.Add(1))
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		done.Done()
		return nil, nil
	}
	defer f.runWorkers(h, 5)()
	f.enqueueN(jobs)
	finished := make(chan struct{})
	go func() {
		done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d jobs done after 30s under a concurrency limit of %d: a freed slot wakes no waiting claim?",
			f.stats().CompletedTotal, jobs, limit)
	}
	require.LessOrEqual(t, most.Load(), int64(limit), "handlers running at once")
}

// testRateCaps sets a rate that no test outlives: the claims take exactly
// what it allows, and a changed rate counts the starts already made.
func testRateCaps(t *testing.T, f *fixture) {
	f.setLimits(backend.Limits{Rate: 5, Per: time.Hour})
	all := f.enqueueN(12)
	require.Equal(t, all[:5], ids(f.claimWait(10, longLease, 0)), "a claim of 10 under a rate of 5")
	f.requireNoneClaimable()
	// A claim that will not be let through in its wait returns empty.
	require.Empty(t, f.claimWait(10, longLease, settle), "a claim that waits while the rate allows nothing")
	f.setLimits(backend.Limits{Rate: 8, Per: time.Hour})
	require.Equal(t, all[5:8], ids(f.claimWait(10, longLease, 0)), "after the rate went up to 8")
	f.requireNoneClaimable()
	f.setLimits(backend.Limits{})
	require.Equal(t, all[8:], ids(f.claimWait(10, longLease, 0)), "with no limit, the rest")
}

// testRateWindow lets claims wait out a short rate window: each waiting
// claim is let through by the backend itself (nothing else happens to the
// queue), and the claim times, on the backend's clock, never put more
// than the rate into one window.
func testRateWindow(t *testing.T, f *fixture) {
	const rate, per, n = 4, 300 * time.Millisecond, 13
	f.setLimits(backend.Limits{Rate: rate, Per: per})
	f.enqueueN(n)
	_, polls := f.s.h.Lacks[PromptWakeup]
	var got []string
	for len(got) < n {
		start := time.Now()
		c := f.claimWait(3, longLease, time.Minute)
		require.NotEmpty(t, c, "a claim waiting for the rate's window returned empty after a minute")
		// The window lets the next job start within per; a claim that
		// sleeps until then wakes by itself, long before its wait ends.
		if took := time.Since(start); !polls && took > eventually {
			t.Fatalf("a claim waiting for a rate of %d per %v took %v to be let through", rate, per, took)
		}
		got = append(got, ids(c)...)
	}
	require.Equal(t, f.allIDs(), got, "every job, in order")
	f.requireRateSpaced(got, rate, per)
}

// requireRateSpaced requires the claim times of the jobs ids, on the
// backend's clock, never to put more than rate starts into one window of
// per.
func (f *fixture) requireRateSpaced(ids []string, rate int, per time.Duration) {
	f.t.Helper()
	at := make([]time.Time, len(ids))
	for i, id := range ids {
		at[i] = f.get(id).ClaimedAt
	}
	slices.SortFunc(at, time.Time.Compare)
	for i := rate; i < len(at); i++ {
		// A start leaves the window at its time plus per; the next may
		// not start before.
		require.GreaterOrEqual(f.t, at[i].Sub(at[i-rate]), per-time.Millisecond,
			"starts %d and %d are less than the rate's period apart: %d starts within %v", i-rate, i, rate+1, per)
	}
}

func testControlStats(t *testing.T, f *fixture) {
	require.False(t, f.stats().Paused, "a new queue")
	require.Equal(t, backend.Limits{}, f.stats().Limits, "a new queue")
	l := backend.Limits{Concurrency: 3, Rate: 100, Per: 2 * time.Second}
	f.setLimits(l)
	f.pause()
	f.pause()
	st := f.stats()
	require.True(t, st.Paused)
	require.Equal(t, l, st.Limits)
	// The settings are no job, list or counter: a purge keeps them.
	f.enqueue1()
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	want := backend.Stats{Paused: true, Limits: l}
	require.Equal(t, want, f.stats(), "a purged queue keeps its settings")
	f.resume()
	f.resume()
	f.setLimits(backend.Limits{Rate: 7, Per: time.Minute})
	want = backend.Stats{Limits: backend.Limits{Rate: 7, Per: time.Minute}}
	require.Equal(t, want, f.stats(), "after resume and new limits")
	f.setLimits(backend.Limits{})
	require.Equal(t, backend.Stats{}, f.stats(), "after the limits were removed")
}

func testControlOwnQueue(t *testing.T, f *fixture) {
	o := f.other()
	o.enqueueN(3)
	f.pause()
	f.setLimits(backend.Limits{Concurrency: 1, Rate: 1, Per: time.Hour})
	st := o.stats()
	require.False(t, st.Paused, "the other queue")
	require.Equal(t, backend.Limits{}, st.Limits, "the other queue")
	require.Len(t, o.claimWait(10, longLease, 0), 3, "the other queue")
}

// testPausedWorker pauses a queue through the root Queue while a Worker
// serves it: no handler runs until Resume, and then every job does.
func testPausedWorker(t *testing.T, f *fixture) {
	q := f.queue()
	require.NoError(t, q.Pause(f.ctx))
	st, err := q.Stats(f.ctx)
	require.NoError(t, err)
	require.True(t, st.Paused)
	var ran atomic.Int64
	w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) {
		ran.Add(1)
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 3, ClaimWait: time.Minute, ReclaimInterval: jobqueue.NoReclaim})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-stopped)
	}()
	for range 3 {
		_, err := q.Enqueue(f.ctx, map[string]int{"n": 1})
		require.NoError(t, err)
	}
	time.Sleep(settle)
	require.Zero(t, ran.Load(), "handlers run on a paused queue")
	require.NoError(t, q.Resume(f.ctx))
	deadline := time.Now().Add(eventually)
	for ran.Load() < 3 {
		require.False(t, time.Now().After(deadline), "%d of 3 jobs ran within %v of the resume", ran.Load(), eventually)
		time.Sleep(tick)
	}
	require.ErrorIs(t, q.SetLimits(f.ctx, jobqueue.Limits{Rate: 1}), backend.ErrInvalidArgument, "a rate without a period")
	// 4: at least one slot per shard of a sharded queue (SharedLimits).
	require.NoError(t, q.SetLimits(f.ctx, jobqueue.Limits{Concurrency: 4}))
	st, err = q.Stats(f.ctx)
	require.NoError(t, err)
	require.Equal(t, jobqueue.Limits{Concurrency: 4}, st.Limits)
}

func testControlInvalid(t *testing.T, f *fixture) {
	c := f.controller()
	f.setLimits(backend.Limits{Concurrency: 3})
	id := f.enqueue1()
	for _, l := range []backend.Limits{
		{Concurrency: -1},
		{Concurrency: backend.MaxConcurrency + 1},
		{Rate: -1, Per: time.Second},
		{Rate: backend.MaxRate + 1, Per: time.Second},
		{Rate: 5},
		{Per: time.Second},
		{Rate: 5, Per: time.Microsecond},
		{Rate: 5, Per: 1500 * time.Microsecond},
		{Rate: 5, Per: backend.MaxRatePer + time.Millisecond},
		{Rate: 5, Per: -time.Second},
	} {
		f.unchanged(func() {
			err := c.SetLimits(f.ctx, backend.LimitParams{Queue: f.q, Limits: l})
			require.ErrorIs(t, err, backend.ErrInvalidArgument, "limits %+v", l)
		}, id)
	}
	for _, name := range []string{"", "a b", "q{x}"} {
		require.ErrorIs(t, c.Pause(f.ctx, name), backend.ErrInvalidQueueName, "pause %q", name)
		require.ErrorIs(t, c.Resume(f.ctx, name), backend.ErrInvalidQueueName, "resume %q", name)
		require.ErrorIs(t, c.SetLimits(f.ctx, backend.LimitParams{Queue: name}), backend.ErrInvalidQueueName, "set limits %q", name)
	}
	ended, cancel := context.WithCancel(f.ctx)
	cancel()
	f.unchanged(func() {
		require.ErrorIs(t, c.Pause(ended, f.q), context.Canceled, "pause")
		require.ErrorIs(t, c.SetLimits(ended, backend.LimitParams{Queue: f.q}), context.Canceled, "set limits")
	}, id)
	f.pause()
	f.unchanged(func() { require.ErrorIs(t, c.Resume(ended, f.q), context.Canceled, "resume") }, id)
}

// testControlLostReplies loses the reply of each setting: the call may
// report backend.ErrUnavailable, and its repeat succeeds and leaves the
// settings as one call would.
func testControlLostReplies(t *testing.T, f *fixture) {
	f.controller()
	loser := DropReplies(f.b)
	if f.s.h.LoseReplies != nil {
		loser = f.s.h.LoseReplies(t)
	}
	c, ok := loser.Backend.(backend.Controller)
	require.True(t, ok, "the reply loser's backend %T is no backend.Controller", loser.Backend)
	// At least one slot and one start per shard of a sharded queue
	// (SharedLimits), so that this runs there too.
	l := backend.Limits{Concurrency: 4, Rate: 9, Per: time.Minute}
	want := f.enqueueN(5)
	for _, step := range []struct {
		method string
		call   func() error
		paused bool
		limits backend.Limits
	}{
		{"Pause", func() error { return c.Pause(f.ctx, f.q) }, true, backend.Limits{}},
		{"SetLimits", func() error { return c.SetLimits(f.ctx, backend.LimitParams{Queue: f.q, Limits: l}) }, true, l},
		{"Resume", func() error { return c.Resume(f.ctx, f.q) }, false, l},
	} {
		lost := loser.Lost()
		loser.Lose(step.method)
		if err := step.call(); err != nil {
			require.True(t, errors.Is(err, backend.ErrUnavailable), "%s whose reply was lost: %v", step.method, err)
		}
		require.Equal(t, lost+1, loser.Lost(), "the harness lost no reply of %s", step.method)
		require.NoError(t, step.call(), "the repeat of %s", step.method)
		st := f.stats()
		require.Equal(t, step.paused, st.Paused, "after %s and its repeat", step.method)
		require.Equal(t, step.limits, st.Limits, "after %s and its repeat", step.method)
	}
	if _, split := f.s.h.Lacks[SharedLimits]; split {
		return // the jobs' part of the queue has a share of the concurrency
	}
	require.Equal(t, want[:4], ids(f.claimWait(10, longLease, 0)), "the limits set by a repeated call")
}

// runWorkers runs two Workers of concurrency handlers each, on two Queue
// values of the fixture's queue, until the returned stop is called.
func (f *fixture) runWorkers(h jobqueue.Handler, concurrency int) (stop func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	for range 2 {
		w, err := f.queue().NewWorker(h, jobqueue.WorkerOptions{Concurrency: concurrency, ClaimWait: time.Minute, ReclaimInterval: jobqueue.NoReclaim})
		require.NoError(f.t, err)
		wg.Go(func() { _ = w.Run(ctx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// raiseMax raises most to n when n is larger.
func raiseMax(most *atomic.Int64, n int64) {
	for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
	}
}
