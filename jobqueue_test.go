package jobqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// nopBackend is a Backend that must never be reached: the tests below
// check input that the Queue refuses before any call to its backend.
type nopBackend struct{ backend.Backend }

func TestNewRefusesBadInput(t *testing.T) {
	b := nopBackend{}
	for _, name := range []string{"", "a{b}", "a:b", "a b", "q*", strings.Repeat("q", 129), "caf\xe9"} {
		_, err := New(b, name)
		assert.ErrorIs(t, err, ErrInvalidQueueName, "name %q", name)
	}
	_, err := New(nil, "q")
	assert.ErrorIs(t, err, ErrInvalidArgument)
	for _, o := range []Option{WithLease(0), WithMaxAttempts(0), WithPayloadLimit(0), WithReclaimBatch(0),
		WithCompletedRetention(-1, time.Second), WithDeadRetention(1, -time.Second)} {
		_, err := New(b, "q", o)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	q, err := New(b, "q", WithLease(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "q", q.Name())
	assert.Equal(t, time.Minute, q.Lease())
}

func TestEncodeChecksPayloadBeforeWriting(t *testing.T) {
	q, err := New(nopBackend{}, "q", WithPayloadLimit(10))
	require.NoError(t, err)
	ctx := context.Background()

	_, err = q.Enqueue(ctx, strings.Repeat("x", 20))
	assert.ErrorIs(t, err, ErrPayloadTooLarge)
	_, err = q.Enqueue(ctx, make(chan int))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Enqueue(ctx, []byte("not json"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.EnqueueBatch(ctx, nil)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.EnqueueBatch(ctx, []any{1, 2}, WithID("x"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Enqueue(ctx, 1, Delay(-time.Second))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Enqueue(ctx, 1, MaxAttempts(0))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Enqueue(ctx, 1, WithID("has space"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Enqueue(ctx, 1, WithID(".."))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Claim(ctx, 0, 0)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = q.Claim(ctx, 1, -time.Second)
	assert.ErrorIs(t, err, ErrInvalidArgument)

	b, err := q.encode(json.RawMessage(`{"a":1}`), "payload")
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(b))
}

func TestNilJobMethodsReturnErrors(t *testing.T) {
	var j *Job
	ctx := context.Background()
	assert.ErrorIs(t, j.Complete(ctx, nil), ErrInvalidArgument)
	assert.ErrorIs(t, j.Fail(ctx, errors.New("x")), ErrInvalidArgument)
	assert.ErrorIs(t, j.Extend(ctx), ErrInvalidArgument)
	assert.ErrorIs(t, j.Release(ctx), ErrInvalidArgument)
	assert.ErrorIs(t, j.Decode(new(int)), ErrInvalidArgument)
	assert.ErrorIs(t, (&Job{}).Complete(ctx, nil), ErrInvalidArgument)
}

func TestExponentialBackoff(t *testing.T) {
	e := ExponentialBackoff{Base: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		assert.Equal(t, w, e.Delay(i+1), "attempt %d", i+1)
	}
	assert.Equal(t, 10*time.Second, e.Delay(1000), "no overflow at high attempts")
	assert.Equal(t, time.Duration(0), ExponentialBackoff{}.Delay(3))

	j := ExponentialBackoff{Base: time.Second, Max: time.Minute, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := j.Delay(3)
		require.GreaterOrEqual(t, d, 2*time.Second)
		require.LessOrEqual(t, d, 4*time.Second)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 1, "jitter spreads the delays")
	assert.Equal(t, 7*time.Second, ConstantBackoff(7*time.Second).Delay(9))
	assert.Equal(t, 3*time.Second, BackoffFunc(func(n int) time.Duration { return time.Duration(n) * time.Second }).Delay(3))
}

func TestFailurePolicy(t *testing.T) {
	q, err := New(nopBackend{}, "q", WithBackoff(ConstantBackoff(time.Second)))
	require.NoError(t, err)
	a := backend.Ack{ID: "id", Token: "t"}

	f := q.failure(a, 1, 3, errors.New("boom"))
	assert.False(t, f.Dead)
	assert.Equal(t, time.Second, f.Delay)
	assert.Equal(t, "boom", f.Error)

	assert.True(t, q.failure(a, 3, 3, errors.New("boom")).Dead, "last attempt dead-letters")
	p := q.failure(a, 1, 3, fmt.Errorf("wrapped: %w", Permanent(errors.New("bad input"))))
	assert.True(t, p.Dead, "a wrapped permanent error dead-letters at once")
	assert.Equal(t, "wrapped: bad input", p.Error)
	assert.NotEmpty(t, q.failure(a, 1, 3, nil).Error)
	assert.Len(t, q.failure(a, 1, 3, errors.New(strings.Repeat("e", 10000))).Error, maxErrorText+len("…"))
	assert.Nil(t, Permanent(nil))
}

// Every error a caller can get names the package once, at its start: a
// wrapped error adds what it knows after the sentinel's text instead of
// prefixing its own "jobqueue:".
func TestErrorsDoNotStutter(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	q, err := New(b, "errors", WithPayloadLimit(8), WithLease(time.Second))
	require.NoError(t, err)
	id, err := q.Enqueue(ctx, 1)
	require.NoError(t, err)
	jobs, err := q.Claim(ctx, 1, 0)
	require.NoError(t, err)
	_, noEvents := New(nopBackend{}, "x")
	require.NoError(t, noEvents)
	errs := map[string]error{}
	collect := func(name string, err error) {
		require.Error(t, err, name)
		errs[name] = err
	}
	_, err = New(b, "a b")
	collect("New bad name", err)
	_, err = New(b, "q", WithRetries(-1))
	collect("WithRetries", err)
	_, err = q.Enqueue(ctx, strings.Repeat("x", 20))
	collect("Enqueue too large", err)
	_, err = q.Enqueue(ctx, make(chan int))
	collect("Enqueue unencodable", err)
	_, err = q.EnqueueBatch(ctx, []any{1, make(chan int)})
	collect("EnqueueBatch unencodable", err)
	_, err = q.EnqueueBatch(ctx, []any{1, strings.Repeat("x", 20)})
	collect("EnqueueBatch too large", err)
	_, err = q.Enqueue(ctx, 1, WithID(id))
	collect("Enqueue existing id", err)
	_, err = q.Enqueue(ctx, 1, WithID("a b"))
	collect("WithID", err)
	collect("Complete too large", jobs[0].Complete(ctx, strings.Repeat("x", 20)))
	collect("Complete unencodable", jobs[0].Complete(ctx, make(chan int)))
	_, err = q.Claim(ctx, 0, 0)
	collect("Claim limit", err)
	_, err = q.Get(ctx, "nope")
	collect("Get unknown", err)
	collect("RetryDead not dead", q.RetryDead(ctx, id))
	_, err = q.NewWorker(func(context.Context, *Job) (any, error) { return nil, nil }, WorkerOptions{HeartbeatInterval: time.Second})
	collect("NewWorker", err)
	_, err = q.List(ctx, "failed", 0, 1)
	collect("List state", err)
	qn, _ := New(nopBackend{}, "x")
	_, err = qn.Events(ctx)
	collect("Events unsupported", err)
	_, err = qn.CheckConfig(ctx)
	collect("CheckConfig unsupported", err)
	_, err = qn.History(ctx, 60)
	collect("History unsupported", err)
	_, err = q.History(ctx, 0)
	collect("History minutes", err)
	require.NoError(t, jobs[0].Complete(ctx, nil))
	collect("Extend after complete", jobs[0].Extend(ctx))
	for name, err := range errs {
		msg := err.Error()
		assert.True(t, strings.HasPrefix(msg, "jobqueue: "), "%s: %q does not start with the package name", name, msg)
		assert.Equal(t, 1, strings.Count(msg, "jobqueue:"), "%s: %q names the package more than once", name, msg)
	}
}

// TestQueueHistory reads the per-minute history through the Queue: what
// its calls did, in the minutes they ran, and an error wrapping
// errors.ErrUnsupported from a backend that keeps none.
func TestQueueHistory(t *testing.T) {
	ctx := context.Background()
	q, err := New(memory.New(), "history", WithMaxAttempts(2), WithBackoff(nil))
	require.NoError(t, err)
	_, err = q.EnqueueBatch(ctx, []any{1, 2, 3})
	require.NoError(t, err)
	jobs, err := q.Claim(ctx, 3, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	require.NoError(t, jobs[0].Complete(ctx, nil))
	require.NoError(t, jobs[1].Fail(ctx, errors.New("boom")))
	require.NoError(t, jobs[2].Snooze(ctx, 0))

	points, err := q.History(ctx, 2)
	require.NoError(t, err)
	require.Len(t, points, 2)
	assert.Equal(t, time.Minute, points[1].Minute.Sub(points[0].Minute), "one minute apart, oldest first")
	assert.Equal(t, HistoryPoint{Enqueued: 3, Completed: 1, Failed: 1, Retried: 1}, backend.SumHistory(points), "a snooze is no failure")

	_, err = q.History(ctx, 1441)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	none, err := New(nopBackend{}, "history")
	require.NoError(t, err)
	_, err = none.History(ctx, 60)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
