package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// email is the payload type of the Queue tests.
type email struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

func queueTests() []testCase {
	return []testCase{
		{name: "RoundTrip", run: testQueueRoundTrip},
		{name: "EnqueueBatch", run: testQueueBatch},
		{name: "EnqueueBatchAtomic", run: testQueueBatchAtomic},
		{name: "WithIDOnce", run: testQueueWithID},
		{name: "Retries/ConstantBackoff", run: func(t *testing.T, f *fixture) {
			testQueueRetries(t, f, jobqueue.ConstantBackoff(20*time.Millisecond))
		}},
		{name: "Retries/NoBackoff", run: func(t *testing.T, f *fixture) { testQueueRetries(t, f, nil) }},
		{name: "PermanentDeadLetters", run: testQueuePermanent},
		{name: "Delay/Delay", run: func(t *testing.T, f *fixture) {
			testQueueDelay(t, f, func(d time.Duration) jobqueue.EnqueueOption { return jobqueue.Delay(d) })
		}},
		{name: "Delay/At", run: func(t *testing.T, f *fixture) {
			testQueueDelay(t, f, func(d time.Duration) jobqueue.EnqueueOption { return jobqueue.At(time.Now().Add(d)) })
		}},
		{name: "ReclaimLoopsOverBatches", run: testQueueReclaim},
		{name: "LostClaim", run: testQueueLostClaim},
		{name: "ExtendAndRelease", run: testQueueExtendRelease},
		{name: "Stats", run: testQueueStats},
		{name: "Events", run: testQueueEvents},
		{name: "Validation/NewBadName", run: testQueueNewBadName},
		{name: "Validation/PayloadTooLarge", run: func(t *testing.T, f *fixture) {
			testQueueRefused(t, f, jobqueue.ErrPayloadTooLarge, strings.Repeat("x", 100), jobqueue.WithPayloadLimit(64))
		}},
		{name: "Validation/Unencodable", run: func(t *testing.T, f *fixture) {
			testQueueRefused(t, f, jobqueue.ErrInvalidArgument, make(chan int))
		}},
		{name: "Validation/NilJob", run: testQueueNilJob},
	}
}

// claim1 claims the one job that is claimable now, or soon.
func claim1(t *testing.T, ctx context.Context, q *jobqueue.Queue) *jobqueue.Job {
	t.Helper()
	jobs, err := q.Claim(ctx, 1, eventually)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "no job became claimable within %v", eventually)
	return jobs[0]
}

func testQueueRoundTrip(t *testing.T, f *fixture) {
	q := f.queue()
	want := email{To: "ada@example.com", Subject: "hello"}
	id, err := q.Enqueue(f.ctx, want)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	job := claim1(t, f.ctx, q)
	require.Equal(t, id, job.ID)
	require.Equal(t, 1, job.Attempts)
	require.Equal(t, jobqueue.DefaultMaxAttempts, job.MaxAttempts)
	require.Equal(t, q, job.Queue())
	var got email
	require.NoError(t, job.Decode(&got))
	require.Equal(t, want, got)
	require.NoError(t, job.Complete(f.ctx, map[string]bool{"sent": true}))
	require.NoError(t, job.Complete(f.ctx, map[string]bool{"sent": true}), "a repeated complete")
	info, err := q.Get(f.ctx, id)
	require.NoError(t, err)
	require.Equal(t, jobqueue.StateCompleted, info.State)
	require.JSONEq(t, `{"sent":true}`, string(info.Result))
}

func testQueueBatch(t *testing.T, f *fixture) {
	q := f.queue()
	ids, err := q.EnqueueBatch(f.ctx, []any{email{To: "a"}, email{To: "b"}, email{To: "c"}})
	require.NoError(t, err)
	require.Len(t, ids, 3)
	jobs, err := q.Claim(f.ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, jobs, len(ids), "claim of the whole batch")
	var to []string
	for i, j := range jobs {
		require.Equal(t, ids[i], j.ID)
		var e email
		require.NoError(t, j.Decode(&e))
		to = append(to, e.To)
	}
	require.Equal(t, []string{"a", "b", "c"}, to)
}

func testQueueBatchAtomic(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithPayloadLimit(64))
	for _, bad := range []any{make(chan int), strings.Repeat("x", 100)} {
		f.unchanged(func() {
			ids, err := q.EnqueueBatch(f.ctx, []any{email{To: "a"}, bad, email{To: "c"}})
			require.Error(t, err)
			require.Empty(t, ids)
		})
	}
	require.Equal(t, backend.Stats{}, f.stats())
}

func testQueueWithID(t *testing.T, f *fixture) {
	q := f.queue()
	id, err := q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("welcome-42"))
	require.NoError(t, err)
	require.Equal(t, "welcome-42", id)
	f.unchanged(func() {
		_, err := q.Enqueue(f.ctx, email{To: "b"}, jobqueue.WithID("welcome-42"))
		require.ErrorIs(t, err, jobqueue.ErrJobExists)
	}, id)
}

// testQueueRetries fails a job on every attempt: it is retried, with the
// backoff, until it has used its attempts, then dead-lettered with the
// last error.
func testQueueRetries(t *testing.T, f *fixture, b jobqueue.Backoff) {
	const attempts = 3
	q := f.queue(jobqueue.WithMaxAttempts(attempts), jobqueue.WithBackoff(b))
	id, err := q.Enqueue(f.ctx, email{To: "a"})
	require.NoError(t, err)
	var last error
	for n := 1; n <= attempts; n++ {
		job := claim1(t, f.ctx, q)
		require.Equal(t, id, job.ID)
		require.Equal(t, n, job.Attempts)
		last = errors.New("smtp: try " + string(rune('0'+n)))
		require.NoError(t, job.Fail(f.ctx, last))
		if n < attempts {
			require.NotEqual(t, jobqueue.StateDead, f.get(id).State, "dead-lettered after %d of %d attempts", n, attempts)
		}
	}
	info := f.requireState(id, jobqueue.StateDead)
	require.Equal(t, last.Error(), info.LastError)
	require.Equal(t, attempts, info.Attempts)
	st := f.stats()
	require.Equal(t, int64(attempts-1), st.RetriedTotal)
	require.Equal(t, int64(1), st.DeadTotal)
}

func testQueuePermanent(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithMaxAttempts(5))
	id, err := q.Enqueue(f.ctx, email{To: "not an address"})
	require.NoError(t, err)
	job := claim1(t, f.ctx, q)
	require.NoError(t, job.Fail(f.ctx, jobqueue.Permanent(errors.New("bad address"))))
	info := f.requireState(id, jobqueue.StateDead)
	require.Equal(t, 1, info.Attempts)
	require.Equal(t, "bad address", info.LastError)
	require.Equal(t, int64(0), f.stats().RetriedTotal)
}

func testQueueDelay(t *testing.T, f *fixture, opt func(time.Duration) jobqueue.EnqueueOption) {
	const delay = 200 * time.Millisecond
	q := f.queue()
	start := time.Now()
	id, err := q.Enqueue(f.ctx, email{To: "later"}, opt(delay))
	require.NoError(t, err)
	f.requireState(id, jobqueue.StateScheduled)
	jobs, err := q.Claim(f.ctx, 1, 0)
	require.NoError(t, err)
	require.Empty(t, jobs, "a delayed job was claimable at once")
	require.Equal(t, id, claim1(t, f.ctx, q).ID)
	require.GreaterOrEqual(t, time.Since(start), delay-clockSlack, "claimed before its delay")
}

func testQueueReclaim(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithReclaimBatch(2), jobqueue.WithLease(shortLease))
	ids, err := q.EnqueueBatch(f.ctx, []any{1, 2, 3, 4, 5})
	require.NoError(t, err)
	jobs, err := q.Claim(f.ctx, 5, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 5)
	time.Sleep(time.Until(jobs[4].LeaseUntil) + 2*clockSlack)
	r, err := q.Reclaim(f.ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, ids, r.Requeued, "one Reclaim takes back every expired lease, batch after batch")
	require.Empty(t, r.Dead)
	require.Equal(t, int64(5), f.stats().Pending)
}

func testQueueLostClaim(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithLease(shortLease))
	_, err := q.Enqueue(f.ctx, email{To: "a"})
	require.NoError(t, err)
	old := claim1(t, f.ctx, q)
	time.Sleep(time.Until(old.LeaseUntil) + 2*clockSlack)
	_, err = q.Reclaim(f.ctx)
	require.NoError(t, err)
	owner := claim1(t, f.ctx, q)
	require.ErrorIs(t, old.Complete(f.ctx, nil), jobqueue.ErrLostClaim)
	require.ErrorIs(t, old.Fail(f.ctx, errors.New("late")), jobqueue.ErrLostClaim)
	require.ErrorIs(t, old.Extend(f.ctx), jobqueue.ErrLostClaim)
	require.ErrorIs(t, old.Release(f.ctx), jobqueue.ErrLostClaim)
	require.NoError(t, owner.Complete(f.ctx, nil))
}

func testQueueExtendRelease(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithLease(longLease))
	id, err := q.Enqueue(f.ctx, email{To: "a"})
	require.NoError(t, err)
	job := claim1(t, f.ctx, q)
	require.NoError(t, job.Extend(f.ctx))
	requireNear(t, time.Now().Add(longLease), f.requireState(id, jobqueue.StateProcessing).LeaseUntil, 2*time.Second, "LeaseUntil after Extend")
	require.NoError(t, job.Release(f.ctx))
	require.Equal(t, 0, f.requireState(id, jobqueue.StatePending).Attempts)
	require.Equal(t, 1, claim1(t, f.ctx, q).Attempts)
}

func testQueueStats(t *testing.T, f *fixture) {
	q := f.queue()
	_, err := q.EnqueueBatch(f.ctx, []any{"a", "b", "c"})
	require.NoError(t, err)
	jobs, err := q.Claim(f.ctx, 2, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.NoError(t, jobs[0].Complete(f.ctx, nil))
	st, err := q.Stats(f.ctx)
	require.NoError(t, err)
	st.Latency = 0 // the Latency group checks it
	require.Equal(t, backend.Stats{Pending: 1, Processing: 1, Completed: 1, EnqueuedTotal: 3, ClaimedTotal: 2, CompletedTotal: 1}, st.Stats)
	require.Equal(t, jobqueue.ProcessStats{Enqueued: 3, Claimed: 2, Completed: 1}, st.Process)
	completed, err := q.List(f.ctx, jobqueue.StateCompleted, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{jobs[0].ID}, completed)
}

func testQueueEvents(t *testing.T, f *fixture) {
	f.subscriber() // skips when the backend has no events
	q := f.queue()
	ch := f.subscribe(q.Events)
	id, err := q.Enqueue(f.ctx, email{To: "a"})
	require.NoError(t, err)
	f.awaitEvent(ch, backend.EventEnqueued, id)
}

func testQueueNewBadName(t *testing.T, f *fixture) {
	for _, n := range badQueueNames {
		_, err := jobqueue.New(f.b, n.of(f.q))
		require.ErrorIs(t, err, jobqueue.ErrInvalidQueueName, "New with a name that is %s", n.name)
	}
}

// testQueueRefused requires Enqueue of payload v to fail with want and
// store nothing.
func testQueueRefused(t *testing.T, f *fixture, want error, v any, opts ...jobqueue.Option) {
	q := f.queue(opts...)
	f.unchanged(func() {
		id, err := q.Enqueue(f.ctx, v)
		require.ErrorIs(t, err, want)
		require.Empty(t, id)
	})
	require.Equal(t, backend.Stats{}, f.stats())
}

func testQueueNilJob(t *testing.T, f *fixture) {
	var job *jobqueue.Job
	calls := map[string]func() error{
		"Complete": func() error { return job.Complete(f.ctx, nil) },
		"Fail":     func() error { return job.Fail(f.ctx, errors.New("x")) },
		"Extend":   func() error { return job.Extend(f.ctx) },
		"Release":  func() error { return job.Release(f.ctx) },
		"Decode":   func() error { var v any; return job.Decode(&v) },
	}
	for name, call := range calls {
		require.ErrorIs(t, call(), jobqueue.ErrInvalidArgument, "%s of a nil job", name)
	}
	var unclaimed jobqueue.Job
	require.ErrorIs(t, unclaimed.Complete(f.ctx, nil), jobqueue.ErrInvalidArgument, "Complete of a job that was not claimed")
}
