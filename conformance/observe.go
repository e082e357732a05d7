package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

// observerTests pin down what a Worker tells its Observers, on every
// backend: the outcome of an attempt is only known once the backend has
// answered, so this is backend behaviour seen through the Worker.
func observerTests() []testCase {
	return []testCase{
		{"ObserverOutcomes", false, testObserverOutcomes},
		{"ObserverLeaseRenewedThenEnded", false, testObserverLease},
		{"ObserverLostLease", false, testObserverLostLease},
		{"ObserverReleasedAtShutdown", false, testObserverReleased},
	}
}

// attemptKey marks the context an Observer returned, so that the tests see
// it reach the handler and every later event.
type attemptKey struct{}

// step is one thing an Observer was told.
type step struct {
	id    string
	n     int // the attempt number (Job.Attempts)
	event jobqueue.AttemptEvent
	// started is set for AttemptStarted, whose event is empty.
	started bool
	// marked is whether the context carried the mark AttemptStarted put.
	marked bool
}

// recorder is an Observer that records every call. Its calls also go to
// on, when set, after they are recorded.
type recorder struct {
	mu    sync.Mutex
	steps []step
	on    func(step)
}

func (r *recorder) AttemptStarted(ctx context.Context, j *jobqueue.Job) context.Context {
	r.add(step{id: j.ID, n: j.Attempts, started: true, marked: ctx.Value(attemptKey{}) != nil})
	return context.WithValue(ctx, attemptKey{}, j.ID)
}

func (r *recorder) AttemptEvent(ctx context.Context, j *jobqueue.Job, e jobqueue.AttemptEvent) {
	r.add(step{id: j.ID, n: j.Attempts, event: e, marked: ctx.Value(attemptKey{}) == j.ID})
}

func (r *recorder) add(s step) {
	r.mu.Lock()
	r.steps = append(r.steps, s)
	on := r.on
	r.mu.Unlock()
	if on != nil {
		on(s)
	}
}

// of returns the steps of one job, in order.
func (r *recorder) of(id string) []step {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []step
	for _, s := range r.steps {
		if s.id == id {
			out = append(out, s)
		}
	}
	return out
}

// outcomes returns the outcomes of one job's attempts, in order, after
// checking that each attempt started once, with an unmarked context, and
// ended once, last, with a marked one.
func (r *recorder) outcomes(t *testing.T, id string) []jobqueue.Outcome {
	t.Helper()
	var out []jobqueue.Outcome
	open := false
	for _, s := range r.of(id) {
		switch {
		case s.started:
			assert.False(t, open, "job %s: attempt %d started before the last one ended", id, s.n)
			assert.False(t, s.marked, "job %s: AttemptStarted got another attempt's context", id)
			open = true
		default:
			assert.True(t, open, "job %s: %v outside an attempt", id, s.event.Kind)
			assert.True(t, s.marked, "job %s: %v without the context AttemptStarted returned", id, s.event.Kind)
			if s.event.Kind == jobqueue.AttemptEnded {
				out = append(out, s.event.Outcome)
				open = false
			}
		}
	}
	assert.False(t, open, "job %s: an attempt never ended", id)
	return out
}

// ended waits until the job's attempts have ended n times.
func (r *recorder) ended(t *testing.T, id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		k := 0
		for _, s := range r.of(id) {
			if !s.started && s.event.Kind == jobqueue.AttemptEnded {
				k++
			}
		}
		return k >= n
	}, 15*time.Second, 5*time.Millisecond, "job %s: %d attempts ended", id, n)
}

// endOf returns the AttemptEnded event of one job's n-th attempt.
func (r *recorder) endOf(t *testing.T, id string, n int) jobqueue.AttemptEvent {
	t.Helper()
	for _, s := range r.of(id) {
		if !s.started && s.n == n && s.event.Kind == jobqueue.AttemptEnded {
			return s.event
		}
	}
	t.Fatalf("job %s: attempt %d did not end", id, n)
	return jobqueue.AttemptEvent{}
}

// testObserverOutcomes runs one job to each outcome a handler decides,
// and one that fails once before it completes.
func testObserverOutcomes(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithMaxAttempts(3), jobqueue.WithBackoff(jobqueue.ConstantBackoff(30*time.Millisecond)))
	ctx := context.Background()
	ids := map[string]string{}
	for _, what := range []string{"ok", "flaky", "permanent", "snooze", "always"} {
		id, err := q.Enqueue(ctx, what)
		require.NoError(t, err)
		ids[what] = id
	}
	errFlaky := errors.New("flaky")
	var runs runCounter
	rec := &recorder{}
	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		var what string
		if err := j.Decode(&what); err != nil {
			return nil, err
		}
		if ctx.Value(attemptKey{}) != j.ID {
			return nil, jobqueue.Permanent(errors.New("the handler did not get the Observer's context"))
		}
		n := runs.add(j.ID)
		time.Sleep(2 * time.Millisecond) // a lower bound for Duration
		switch {
		case what == "flaky" && n == 1, what == "always":
			return nil, errFlaky
		case what == "permanent":
			return nil, jobqueue.Permanent(errors.New("bad input"))
		case what == "snooze" && n == 1:
			return nil, jobqueue.Snooze(40 * time.Millisecond)
		}
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 4, ClaimWait: 100 * time.Millisecond, Observers: []jobqueue.Observer{rec}})

	rec.ended(t, ids["ok"], 1)
	rec.ended(t, ids["flaky"], 2)
	rec.ended(t, ids["permanent"], 1)
	rec.ended(t, ids["snooze"], 2)
	rec.ended(t, ids["always"], 3)

	C, R, S, D := jobqueue.OutcomeCompleted, jobqueue.OutcomeRetried, jobqueue.OutcomeSnoozed, jobqueue.OutcomeDead
	assert.Equal(t, []jobqueue.Outcome{C}, rec.outcomes(t, ids["ok"]))
	assert.Equal(t, []jobqueue.Outcome{R, C}, rec.outcomes(t, ids["flaky"]))
	assert.Equal(t, []jobqueue.Outcome{D}, rec.outcomes(t, ids["permanent"]))
	assert.Equal(t, []jobqueue.Outcome{S, C}, rec.outcomes(t, ids["snooze"]))
	assert.Equal(t, []jobqueue.Outcome{R, R, D}, rec.outcomes(t, ids["always"]))

	ok := rec.endOf(t, ids["ok"], 1)
	assert.NoError(t, ok.Err)
	assert.GreaterOrEqual(t, ok.Duration, 2*time.Millisecond, "Duration is the handler's run time")
	retried := rec.endOf(t, ids["flaky"], 1)
	assert.ErrorIs(t, retried.Err, errFlaky, "a retried attempt carries the handler's error")
	assert.Equal(t, 30*time.Millisecond, retried.Delay, "a retried attempt carries the backoff")
	snoozed := rec.endOf(t, ids["snooze"], 1)
	assert.Equal(t, 40*time.Millisecond, snoozed.Delay)
	dead := rec.endOf(t, ids["always"], 3)
	assert.ErrorIs(t, dead.Err, errFlaky)
	assert.Zero(t, dead.Delay)
	assert.EqualError(t, rec.endOf(t, ids["permanent"], 1).Err, "bad input")
}

// testObserverLease has a handler that returns only once the Observer was
// told its lease was renewed: the renewal comes first, the end last, and
// nothing after it.
func testObserverLease(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 1)
	renewed := make(chan struct{})
	var once sync.Once
	rec := &recorder{on: func(s step) {
		if s.event.Kind == jobqueue.AttemptLeaseRenewed {
			once.Do(func() { close(renewed) })
		}
	}}
	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		select {
		case <-renewed:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, jobqueue.WorkerOptions{Concurrency: 1, HeartbeatInterval: 30 * time.Millisecond, ClaimWait: 100 * time.Millisecond, Observers: []jobqueue.Observer{rec}})

	rec.ended(t, ids[0], 1)
	assert.Equal(t, []jobqueue.Outcome{jobqueue.OutcomeCompleted}, rec.outcomes(t, ids[0]))
	steps := rec.of(ids[0])
	require.GreaterOrEqual(t, len(steps), 3, "started, renewed, ended")
	assert.Equal(t, jobqueue.AttemptLeaseRenewed, steps[1].event.Kind)
	assert.False(t, steps[1].event.LeaseUntil.IsZero(), "a renewal says until when")
	assert.Equal(t, jobqueue.AttemptEnded, steps[len(steps)-1].event.Kind, "nothing follows the end")
}

// testObserverLostLease deletes a running job: the Observer hears of the
// lost lease, then of the attempt's end as lost.
func testObserverLostLease(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(300*time.Millisecond))
	ids := enqueueN(t, q, 1)
	started := make(chan struct{})
	rec := &recorder{}
	startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, jobqueue.WorkerOptions{Concurrency: 1, ReclaimInterval: jobqueue.NoReclaim, ClaimWait: 100 * time.Millisecond, Observers: []jobqueue.Observer{rec}})

	<-started
	require.NoError(t, q.Delete(context.Background(), ids[0]))
	rec.ended(t, ids[0], 1)
	assert.Equal(t, []jobqueue.Outcome{jobqueue.OutcomeLost}, rec.outcomes(t, ids[0]))
	var kinds []jobqueue.AttemptEventKind
	for _, s := range rec.of(ids[0])[1:] {
		if s.event.Kind != jobqueue.AttemptLeaseRenewed {
			kinds = append(kinds, s.event.Kind)
		}
	}
	assert.Equal(t, []jobqueue.AttemptEventKind{jobqueue.AttemptLeaseLost, jobqueue.AttemptEnded}, kinds)
	assert.ErrorIs(t, rec.endOf(t, ids[0], 1).Err, jobqueue.ErrLostClaim)
}

// testObserverReleased stops a Worker whose handler outlives the grace
// period: its attempt ends released.
func testObserverReleased(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithLease(time.Minute))
	ids := enqueueN(t, q, 1)
	started := make(chan struct{})
	rec := &recorder{}
	_, stop := startWorker(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, jobqueue.WorkerOptions{Concurrency: 1, ShutdownGrace: 20 * time.Millisecond, ClaimWait: 100 * time.Millisecond, Observers: []jobqueue.Observer{rec}})

	<-started
	stop()
	assert.Equal(t, []jobqueue.Outcome{jobqueue.OutcomeReleased}, rec.outcomes(t, ids[0]))
	assert.NoError(t, rec.endOf(t, ids[0], 1).Err)
}
