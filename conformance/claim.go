package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The latencies the wake-up tests allow. They are the contract's "returns
// promptly", not performance targets: a backend that polls its store once
// a second fails them, one that blocks on the store passes with room.
const (
	wakeLimit   = 50 * time.Millisecond
	dueLimit    = 100 * time.Millisecond
	cancelLimit = 200 * time.Millisecond
)

func enqueueTests() []testCase {
	return []testCase{
		{name: "StoresJob", run: testEnqueueStoresJob},
		{name: "PayloadUnchanged", run: testEnqueuePayloadUnchanged},
		{name: "ExistingIDStoresNone", run: testEnqueueExistingID},
		{name: "FinishedIDStillHeld", run: func(t *testing.T, f *fixture) { testEnqueueFinishedID(t, f, keep, backend.ErrJobExists) }},
		{name: "ExpiredIDReusable", run: func(t *testing.T, f *fixture) {
			testEnqueueFinishedID(t, f, backend.Retention{Max: 0, TTL: time.Hour}, nil)
		}},
		{name: "BatchKeepsOrder", run: testEnqueueBatchOrder},
		{name: "PayloadCopied", run: testEnqueuePayloadCopied},
		{name: "LongestID", run: testEnqueueLongestID},
	}
}

func testEnqueueStoresJob(t *testing.T, f *fixture) {
	j := f.job(maxAttempts(5))
	f.enqueueIn(f.q, j)
	info := f.requireState(j.ID, backend.StatePending)
	require.Equal(t, j.Payload, info.Payload)
	require.Equal(t, 0, info.Attempts)
	require.Equal(t, 5, info.MaxAttempts)
	requireNear(t, time.Now(), info.EnqueuedAt, 2*time.Second, "EnqueuedAt")
	require.True(t, info.ClaimedAt.IsZero(), "ClaimedAt of a job never claimed")
	require.True(t, info.LeaseUntil.IsZero(), "LeaseUntil of a pending job")
	require.True(t, info.FinishedAt.IsZero(), "FinishedAt of a pending job")
	require.True(t, info.RunAt.IsZero(), "RunAt of a pending job")
	require.Empty(t, info.LastError)
	st := f.stats()
	require.Equal(t, int64(1), st.Pending)
	require.Equal(t, int64(1), st.EnqueuedTotal)
}

func testEnqueuePayloadUnchanged(t *testing.T, f *fixture) {
	payloads := [][]byte{
		[]byte(`{"to":"ada@example.com"}`),
		{0, 1, 2, 0xff, 0xfe, '\r', '\n', ' ', '"', '\\'},
		[]byte("not json, {{}} ::"),
		nil,
		bytes.Repeat([]byte("0123456789abcdef"), 8<<10),
	}
	jobs := make([]backend.NewJob, len(payloads))
	for i, p := range payloads {
		jobs[i] = f.job(func(j *backend.NewJob) { j.Payload = p })
	}
	f.enqueueIn(f.q, jobs...)
	for i, c := range f.claimN(len(payloads), longLease) {
		require.Equal(t, jobs[i].ID, c.ID)
		require.True(t, bytes.Equal(payloads[i], c.Payload), "payload %d changed on claim", i)
		require.True(t, bytes.Equal(payloads[i], f.get(c.ID).Payload), "payload %d changed on get", i)
	}
}

// testEnqueuePayloadCopied changes the caller's buffers after each call
// returned: the stored payload and result must not change with them, nor
// with a change to a payload a claim returned.
func testEnqueuePayloadCopied(t *testing.T, f *fixture) {
	payload := []byte(`{"to":"ada"}`)
	j := f.job(func(j *backend.NewJob) { j.Payload = payload })
	f.enqueueIn(f.q, j)
	copy(payload, `{"to":"bob"}`)
	c := f.claimN(1, longLease)[0]
	require.Equal(t, `{"to":"ada"}`, string(c.Payload), "the payload changed with the caller's buffer")
	copy(c.Payload, "XXXX")
	require.Equal(t, `{"to":"ada"}`, string(f.get(j.ID).Payload), "the stored payload changed with a claimed copy")

	result := []byte(`"sent"`)
	errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c), Result: result}}, Retention: keep})
	requireAllOK(t, 1, errs, err)
	copy(result, "XXXXXX")
	require.Equal(t, `"sent"`, string(f.get(j.ID).Result), "the result changed with the caller's buffer")
}

// testEnqueueLongestID stores an id of the longest length allowed: it
// comes back whole, and every call that takes an id finds the job by it.
func testEnqueueLongestID(t *testing.T, f *fixture) {
	id := strings.Repeat("i", backend.MaxIDLen-1) + "!"
	f.enqueueIn(f.q, backend.NewJob{ID: id, Payload: []byte(`1`), MaxAttempts: 1})
	c := f.claimID(id, longLease)
	f.complete(c)
	require.Equal(t, []string{id}, f.list(backend.StateCompleted))
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id}))
	f.requireGone(id)
}

func testEnqueueExistingID(t *testing.T, f *fixture) {
	old := f.enqueue1()
	fresh := f.job()
	f.unchanged(func() {
		err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{fresh, {ID: old, MaxAttempts: 1}}})
		require.ErrorIs(t, err, backend.ErrJobExists)
	}, old, fresh.ID)
	f.requireGone(fresh.ID)
}

// testEnqueueFinishedID enqueues the id of a job that completed under
// retention r again: refused while its record is kept, accepted once gone.
func testEnqueueFinishedID(t *testing.T, f *fixture, r backend.Retention, want error) {
	id := histories[0].finish(f, 1, r)[0]
	err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{{ID: id, MaxAttempts: 1}}})
	if want != nil {
		require.ErrorIs(t, err, want)
		f.requireState(id, backend.StateCompleted)
		return
	}
	require.NoError(t, err)
	require.Equal(t, 0, f.requireState(id, backend.StatePending).Attempts)
}

func testEnqueueBatchOrder(t *testing.T, f *fixture) {
	first := f.enqueueN(3)
	second := f.enqueueN(4)
	require.Equal(t, append(first, second...), f.list(backend.StatePending))
}

func claimTests() []testCase {
	return []testCase{
		{name: "WakesOnEnqueue", serial: true, run: testClaimWakesOnEnqueue},
		{name: "CancelEndsWait", serial: true, run: testClaimCancelEndsWait},
		{name: "ManyWaitersWake", serial: true, run: testClaimManyWaitersWake},
		{name: "FIFO", run: testClaimFIFO},
		{name: "UpToMax", run: testClaimUpToMax},
		{name: "EmptyNoWait", run: testClaimEmptyNoWait},
		{name: "WaitRunsOut", run: testClaimWaitRunsOut},
		{name: "ReadyReturnsAtOnce", run: testClaimReadyAtOnce},
		{name: "DeadlineEndsWait", run: testClaimDeadline},
		{name: "ContextAlreadyEnded", run: testClaimEndedContext},
		{name: "Fields", run: testClaimFields},
		{name: "ConcurrentExactlyOnce", run: testClaimConcurrent},
	}
}

func testClaimFIFO(t *testing.T, f *fixture) {
	var want []string
	for _, n := range []int{1, 4, 1, 3} {
		want = append(want, f.enqueueN(n)...)
	}
	var got []string
	for range want {
		got = append(got, f.claimN(1, longLease)[0].ID)
	}
	require.Equal(t, want, got)
}

func testClaimUpToMax(t *testing.T, f *fixture) {
	all := f.enqueueN(5)
	require.Equal(t, all[:3], ids(f.claimN(3, longLease)))
	require.Equal(t, all[3:], ids(f.claimWait(10, longLease, 0)), "a claim returns what there is, up to Max")
	require.Equal(t, int64(5), f.stats().Processing)
}

func testClaimEmptyNoWait(t *testing.T, f *fixture) {
	start := time.Now()
	got, err := f.b.Claim(f.ctx, f.claimParams(5, longLease, 0))
	require.NoError(t, err)
	require.Empty(t, got)
	require.Less(t, time.Since(start), time.Second, "a claim with Wait 0 must not wait")
}

func testClaimWaitRunsOut(t *testing.T, f *fixture) {
	const wait = 300 * time.Millisecond
	start := time.Now()
	got, err := f.b.Claim(f.ctx, f.claimParams(1, longLease, wait))
	elapsed := time.Since(start)
	require.NoError(t, err, "a wait that runs out is not an error")
	require.Empty(t, got)
	require.GreaterOrEqual(t, elapsed, wait*8/10, "the claim did not wait")
	require.Less(t, elapsed, wait+2*time.Second, "the claim waited far past its Wait")
}

func testClaimReadyAtOnce(t *testing.T, f *fixture) {
	id := f.enqueue1()
	start := time.Now()
	got := f.claimWait(10, longLease, 10*time.Second)
	require.Equal(t, []string{id}, ids(got), "a claim returns what is pending, without waiting to fill Max")
	require.Less(t, time.Since(start), 2*time.Second, "a claim waited although a job was pending")
}

// waker makes one job claimable for measureWake: arm stores it and
// returns its id and the moment it becomes claimable. A waker that arms
// before the claim starts blocking tests a wake-up with no call to cause it.
type waker struct {
	armFirst bool
	arm      func() (id string, claimable time.Time)
}

// measureWake times, as the median of tries, how long a blocked claim
// takes to return once w's job is claimable.
func (f *fixture) measureWake(tries int, w waker) time.Duration {
	f.t.Helper()
	lat := make([]time.Duration, tries)
	for i := range lat {
		var id string
		var at time.Time
		if w.armFirst {
			id, at = w.arm()
		}
		ch := f.claimAsync(f.ctx, f.claimParams(1, longLease, 10*time.Second))
		requireBlocked(f.t, ch)
		if !w.armFirst {
			id, at = w.arm()
		}
		r := receive(f.t, ch)
		require.NoError(f.t, r.err)
		require.Equal(f.t, []string{id}, ids(r.jobs))
		lat[i] = r.at.Sub(at)
	}
	f.t.Logf("wake-up latencies %v", lat)
	return median(lat)
}

func testClaimWakesOnEnqueue(t *testing.T, f *fixture) {
	f.s.needs(t, PromptWakeup)
	lat := f.measureWake(5, waker{arm: func() (string, time.Time) {
		at := time.Now()
		return f.enqueue1(), at
	}})
	require.Less(t, lat, wakeLimit, "median time from enqueue to the blocked claim's return")
}

func testClaimManyWaitersWake(t *testing.T, f *fixture) {
	const waiters = 4
	chs := make([]<-chan claimResult, waiters)
	for i := range chs {
		chs[i] = f.claimAsync(f.ctx, f.claimParams(1, longLease, 5*time.Second))
	}
	time.Sleep(settle)
	start := time.Now()
	want := f.enqueueN(waiters)
	var got []string
	for _, ch := range chs {
		r := receive(t, ch)
		require.NoError(t, r.err)
		require.Len(t, r.jobs, 1, "a waiting claimer got no job although %d were enqueued for %d waiters", waiters, waiters)
		got = append(got, r.jobs[0].ID)
		require.Less(t, r.at.Sub(start), 2*time.Second, "a waiting claimer slept while jobs were pending")
	}
	require.ElementsMatch(t, want, got)
}

func testClaimCancelEndsWait(t *testing.T, f *fixture) {
	lat := make([]time.Duration, 3)
	for i := range lat {
		ctx, cancel := context.WithCancel(f.ctx)
		ch := f.claimAsync(ctx, f.claimParams(1, longLease, 10*time.Second))
		requireBlocked(t, ch)
		start := time.Now()
		cancel()
		// Enqueued while the claim unwinds: it must be returned by that
		// claim or stay claimable, never lost.
		id := f.enqueue1()
		r := receive(t, ch)
		lat[i] = r.at.Sub(start)
		if r.err == nil && len(r.jobs) == 1 {
			require.Equal(t, id, r.jobs[0].ID)
			continue
		}
		require.ErrorIs(t, r.err, context.Canceled)
		require.Empty(t, r.jobs)
		require.Equal(t, id, f.claimSoon(longLease).ID, "the job enqueued as the claim was cancelled was lost")
	}
	t.Logf("cancel latencies %v", lat)
	require.Less(t, median(lat), cancelLimit, "median time from cancel to the claim's return")

	// With no work to wake it, only the cancel can end the wait.
	ctx, cancel := context.WithCancel(f.ctx)
	ch := f.claimAsync(ctx, f.claimParams(1, longLease, 10*time.Second))
	requireBlocked(t, ch)
	start := time.Now()
	cancel()
	r := receive(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Empty(t, r.jobs)
	require.Less(t, r.at.Sub(start), 2*time.Second, "a cancelled claim with no work went on waiting")
}

func testClaimDeadline(t *testing.T, f *fixture) {
	const timeout = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(f.ctx, timeout)
	defer cancel()
	start := time.Now()
	got, err := f.b.Claim(ctx, f.claimParams(1, longLease, 10*time.Second))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Empty(t, got)
	require.Less(t, time.Since(start), timeout+2*time.Second, "the claim outlived its context")
	id := f.enqueue1()
	require.Equal(t, id, f.claimSoon(longLease).ID)
}

// testClaimEndedContext claims with a context that has already ended: no
// job may be taken, with or without a wait, since none could be returned.
func testClaimEndedContext(t *testing.T, f *fixture) {
	all := f.enqueueN(2)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	for _, wait := range []time.Duration{0, time.Second} {
		f.unchanged(func() {
			got, err := f.b.Claim(ctx, f.claimParams(2, longLease, wait))
			require.ErrorIs(t, err, context.Canceled, "a claim with an ended context, wait %v", wait)
			require.Empty(t, got)
		}, all...)
	}
	require.Equal(t, all, ids(f.claimN(2, longLease)))
}

func testClaimFields(t *testing.T, f *fixture) {
	jobs := []backend.NewJob{f.job(maxAttempts(1)), f.job(maxAttempts(7))}
	f.enqueueIn(f.q, jobs...)
	before := time.Now()
	got := f.claimN(2, longLease)
	tokens := map[string]bool{}
	for i, c := range got {
		require.Equal(t, jobs[i].ID, c.ID)
		require.NotEmpty(t, c.Token)
		tokens[c.Token] = true
		require.Equal(t, jobs[i].Payload, c.Payload)
		require.Equal(t, 1, c.Attempts)
		require.Equal(t, jobs[i].MaxAttempts, c.MaxAttempts)
		requireNear(t, before, c.EnqueuedAt, 2*time.Second, "EnqueuedAt")
		requireNear(t, before.Add(longLease), c.LeaseUntil, 2*time.Second, "LeaseUntil")
	}
	require.Len(t, tokens, 2, "each claim gets its own token")
	st := f.stats()
	require.Equal(t, int64(2), st.Processing)
	require.Equal(t, int64(2), st.ClaimedTotal)
	require.Equal(t, int64(0), st.Pending)
}

// testClaimConcurrent has 16 claimers take 1,000 jobs while two producers
// enqueue them: every job must be handed out exactly once while the
// leases are live.
func testClaimConcurrent(t *testing.T, f *fixture) {
	const producers, perProducer, claimers = 2, 500, 16
	want := make([]string, 0, producers*perProducer)
	batches := make([][]backend.NewJob, producers)
	for p := range batches {
		for range perProducer {
			j := f.job()
			batches[p] = append(batches[p], j)
			want = append(want, j.ID)
		}
	}

	var (
		mu        sync.Mutex
		seen      = map[string]int{}
		failures  []error
		producing sync.WaitGroup
		claiming  sync.WaitGroup
		produced  atomic.Bool
	)
	report := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for _, batch := range batches {
		producing.Go(func() {
			for chunk := range slices.Chunk(batch, 50) {
				if err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: chunk}); err != nil {
					report(fmt.Errorf("enqueue: %w", err))
					return
				}
			}
		})
	}
	for i := range claimers {
		claiming.Go(func() {
			for {
				// Read before claiming: once every job is enqueued, an empty
				// claim means another claimer holds the rest.
				done := produced.Load()
				got, err := f.b.Claim(f.ctx, f.claimParams(1+i%8, longLease, 50*time.Millisecond))
				if err != nil {
					report(fmt.Errorf("claim: %w", err))
					return
				}
				if len(got) == 0 {
					if done {
						return
					}
					continue
				}
				mu.Lock()
				for _, c := range got {
					seen[c.ID]++
				}
				mu.Unlock()
				errs, err := completeOp.call(f, acks(got...))
				if err == nil {
					err = firstError(errs)
				}
				if err != nil {
					report(fmt.Errorf("complete: %w", err))
					return
				}
			}
		})
	}
	producing.Wait()
	produced.Store(true)
	claiming.Wait()

	require.Empty(t, failures)
	for id, n := range seen {
		assert.Equal(t, 1, n, "job %s was handed out %d times", id, n)
	}
	got := make([]string, 0, len(seen))
	for id := range seen {
		got = append(got, id)
	}
	require.ElementsMatch(t, want, got, "the jobs claimed are not the jobs enqueued")
	st := f.stats()
	require.Equal(t, int64(len(want)), st.ClaimedTotal)
	require.Equal(t, int64(len(want)), st.CompletedTotal)
	require.Zero(t, st.Pending+st.Processing, "jobs left over")
}

func firstError(errs []error) error {
	for i, e := range errs {
		if e != nil {
			return fmt.Errorf("item %d: %w", i, e)
		}
	}
	return nil
}
