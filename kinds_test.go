package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// recorder is the memory backend, recording the params of the calls the
// tests below look at, so that they check what the Queue and the Worker
// send whatever the backend then does with it.
type recorder struct {
	backend.Backend
	mu       sync.Mutex
	enqueues []backend.EnqueueParams
	claims   []backend.ClaimParams
	fails    []backend.FailParams
}

func newRecorder() *recorder { return &recorder{Backend: memory.New()} }

func (r *recorder) Local() {}

func (r *recorder) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	r.mu.Lock()
	r.enqueues = append(r.enqueues, p)
	r.mu.Unlock()
	return r.Backend.Enqueue(ctx, p)
}

func (r *recorder) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	r.mu.Lock()
	r.claims = append(r.claims, p)
	r.mu.Unlock()
	return r.Backend.Claim(ctx, p)
}

func (r *recorder) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	r.mu.Lock()
	r.fails = append(r.fails, p)
	r.mu.Unlock()
	return r.Backend.Fail(ctx, p)
}

func (r *recorder) failures() []backend.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []backend.Failure
	for _, p := range r.fails {
		out = append(out, p.Items...)
	}
	return out
}

type welcome struct{ To string }

func (welcome) Kind() string { return "welcome" }

type badKind struct{}

func (badKind) Kind() string { return "no spaces" }

func TestEnqueueSendsKindAndOptions(t *testing.T) {
	r := newRecorder()
	q, err := New(r, "q")
	require.NoError(t, err)
	ctx := context.Background()
	headers := map[string]string{"tenant": "acme"}

	_, err = q.Enqueue(ctx, welcome{To: "ada"}, Headers(headers), Priority(2), Timeout(time.Minute),
		Delay(time.Second), ExpiresIn(time.Hour))
	require.NoError(t, err)
	headers["tenant"] = "changed after the enqueue"
	_, err = q.Enqueue(ctx, welcome{}, Kind("greeting"))
	require.NoError(t, err)
	_, err = q.EnqueueBatch(ctx, []any{welcome{}, "untyped"}, Headers(map[string]string{"a": "1"}))
	require.NoError(t, err)

	require.Len(t, r.enqueues, 3)
	j := r.enqueues[0].Jobs[0]
	assert.Equal(t, "welcome", j.Kind, "the payload names its kind")
	assert.Equal(t, map[string]string{"tenant": "acme"}, j.Headers, "headers are copied")
	assert.Equal(t, 2, j.Priority)
	assert.Equal(t, time.Minute, j.Timeout)
	assert.Equal(t, time.Second, j.Delay)
	assert.Equal(t, time.Hour, j.Expiry)
	assert.Equal(t, "greeting", r.enqueues[1].Jobs[0].Kind, "the Kind option wins")
	batch := r.enqueues[2].Jobs
	assert.Equal(t, "welcome", batch[0].Kind)
	assert.Equal(t, "", batch[1].Kind)
	batch[0].Headers["a"] = "2"
	assert.Equal(t, "1", batch[1].Headers["a"], "each job has its own copy of the headers")
}

func TestEnqueueRefusesBadOptionsBeforeWriting(t *testing.T) {
	r := newRecorder()
	q, err := New(r, "q", WithEnqueueInterceptor(func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
		if jobs[0].Kind == "make-invalid" {
			jobs[0].Headers = map[string]string{"bad name": "x"}
		}
		return next(ctx, jobs)
	}))
	require.NoError(t, err)
	ctx := context.Background()
	for name, try := range map[string]func() error{
		"kind":           func() error { _, err := q.Enqueue(ctx, 1, Kind("a:b")); return err },
		"payload's kind": func() error { _, err := q.Enqueue(ctx, badKind{}); return err },
		"header name":    func() error { _, err := q.Enqueue(ctx, 1, Headers(map[string]string{"": "x"})); return err },
		"header value":   func() error { _, err := q.Enqueue(ctx, 1, Headers(map[string]string{"h": "a\nb"})); return err },
		"header size": func() error {
			_, err := q.Enqueue(ctx, 1, Headers(map[string]string{"h": strings.Repeat("x", 5000)}))
			return err
		},
		"priority":            func() error { _, err := q.Enqueue(ctx, 1, Priority(MaxPriority+1)); return err },
		"negative priority":   func() error { _, err := q.Enqueue(ctx, 1, Priority(-1)); return err },
		"timeout":             func() error { _, err := q.Enqueue(ctx, 1, Timeout(0)); return err },
		"expiry":              func() error { _, err := q.Enqueue(ctx, 1, ExpiresIn(0)); return err },
		"expiry before delay": func() error { _, err := q.Enqueue(ctx, 1, Delay(time.Hour), ExpiresIn(time.Minute)); return err },
		"expiry in the past":  func() error { _, err := q.Enqueue(ctx, 1, ExpiresAt(time.Now().Add(-time.Second))); return err },
		"expiry before At": func() error {
			_, err := q.Enqueue(ctx, 1, At(time.Now().Add(time.Hour)), ExpiresAt(time.Now().Add(time.Minute)))
			return err
		},
		"interceptor's headers": func() error {
			_, err := q.Enqueue(ctx, 1, Kind("make-invalid"))
			return err
		},
	} {
		assert.ErrorIs(t, try(), ErrInvalidArgument, name)
	}
	assert.Empty(t, r.enqueues, "nothing reached the backend")
}

func TestEnqueueInterceptorsRunInOrder(t *testing.T) {
	r := newRecorder()
	var order []string
	mark := func(name string) EnqueueInterceptor {
		return func(ctx context.Context, queue string, jobs []NewJob, next EnqueueFunc) error {
			order = append(order, name+">"+queue)
			for i := range jobs {
				if jobs[i].Headers == nil {
					jobs[i].Headers = map[string]string{}
				}
				jobs[i].Headers["path"] += name
			}
			err := next(ctx, jobs)
			order = append(order, "<"+name)
			return err
		}
	}
	refused := errors.New("no jobs of kind secret")
	refuse := func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
		for _, j := range jobs {
			if j.Kind == "secret" {
				return refused
			}
		}
		return next(ctx, jobs)
	}
	q, err := New(r, "q", WithEnqueueInterceptor(mark("a"), mark("b")), WithEnqueueInterceptor(refuse))
	require.NoError(t, err)
	ctx := context.Background()

	id, err := q.Enqueue(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"a>q", "b>q", "<b", "<a"}, order)
	require.Len(t, r.enqueues, 1)
	assert.Equal(t, id, r.enqueues[0].Jobs[0].ID)
	assert.Equal(t, "ab", r.enqueues[0].Jobs[0].Headers["path"])

	_, err = q.EnqueueBatch(ctx, []any{1, welcome{}}, Kind("secret"))
	assert.ErrorIs(t, err, refused)
	assert.Len(t, r.enqueues, 1, "a refused enqueue writes nothing")
	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.EnqueuedTotal)

	dropper, err := New(r, "d", WithEnqueueInterceptor(func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
		return next(ctx, jobs[1:])
	}))
	require.NoError(t, err)
	_, err = dropper.EnqueueBatch(ctx, []any{1, 2})
	assert.ErrorIs(t, err, ErrInvalidArgument, "an interceptor must pass every job on")
	swallower, err := New(r, "s", WithEnqueueInterceptor(func(context.Context, string, []NewJob, EnqueueFunc) error { return nil }))
	require.NoError(t, err)
	_, err = swallower.Enqueue(ctx, 1)
	assert.Error(t, err, "an interceptor that neither stores nor refuses")
	_, err = New(r, "n", WithEnqueueInterceptor(nil))
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestClaimPassesDeadRetention(t *testing.T) {
	r := newRecorder()
	q, err := New(r, "q", WithDeadRetention(7, time.Hour))
	require.NoError(t, err)
	_, err = q.Claim(context.Background(), 1, 0)
	require.NoError(t, err)
	require.Len(t, r.claims, 1)
	assert.Equal(t, backend.Retention{Max: 7, TTL: time.Hour}, r.claims[0].DeadRetention)
}

func TestSnoozeSendsSnoozeFailure(t *testing.T) {
	r := newRecorder()
	q, err := New(r, "q")
	require.NoError(t, err)
	ctx := context.Background()
	_, err = q.EnqueueBatch(ctx, []any{"worker", "manual"})
	require.NoError(t, err)

	jobs, err := q.Claim(ctx, 1, 0)
	require.NoError(t, err)
	require.NoError(t, jobs[0].Snooze(ctx, time.Hour))
	w, err := q.NewWorker(func(ctx context.Context, j *Job) (any, error) {
		return nil, Permanent(errors.Join(errors.New("rate limited"), Snooze(time.Hour)))
	}, WorkerOptions{Concurrency: 1, ClaimWait: 10 * time.Millisecond})
	require.NoError(t, err)
	stop := runWorker(t, w)
	require.Eventually(t, func() bool { return w.Stats().Snoozed == 1 }, 10*time.Second, 5*time.Millisecond)
	stop()

	fails := r.failures()
	require.Len(t, fails, 2)
	for _, f := range fails {
		assert.True(t, f.Snooze, "a wrapped snooze wins over Permanent")
		assert.False(t, f.Dead)
		assert.Equal(t, time.Hour, f.Delay)
		assert.Empty(t, f.Error)
	}
	assert.Zero(t, w.Stats().Retried)
	assert.Zero(t, w.Stats().Dead)
	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.Process.Snoozed)
	assert.Contains(t, Snooze(time.Second).Error(), "snoozed for 1s")
}

func TestJobTimeoutEndsTheAttempt(t *testing.T) {
	q, err := New(memory.New(), "q")
	require.NoError(t, err)
	w, err := q.NewWorker(func(ctx context.Context, j *Job) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}, WorkerOptions{})
	require.NoError(t, err)
	_, err = w.call(context.Background(), &Job{ID: "j", Timeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "timed out after 10ms")

	// Under a Mux whose kind has a longer timeout, the job's ends it,
	// and the error says so once.
	m := NewMux()
	m.Handle("k", w.h, WithTimeout(time.Hour))
	w.h = m.ServeJob
	_, err = w.call(context.Background(), &Job{ID: "j", Kind: "k", Timeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, strings.Count(err.Error(), "timed out"), err.Error())
}

// lostFirstReply is the memory backend whose first Enqueue runs but
// reports a lost reply, as a connection that broke on the way back would.
// It is no Local backend, so the Queue sends it request ids.
type lostFirstReply struct {
	backend.Backend
	calls atomic.Int64
}

func (l *lostFirstReply) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := l.Backend.Enqueue(ctx, p)
	if l.calls.Add(1) == 1 && err == nil {
		return fmt.Errorf("%w: reply lost", backend.ErrUnavailable)
	}
	return err
}

// TestInterceptorRepeatingNextStoresOnce: an interceptor that repeats
// next itself after a lost reply repeats the same call, which stores the
// job once and succeeds; the Queue's own repeats run the interceptors once.
func TestInterceptorRepeatingNextStoresOnce(t *testing.T) {
	ctx := context.Background()
	b := &lostFirstReply{Backend: memory.New()}
	q, err := New(b, "q", WithRetries(0), WithEnqueueInterceptor(func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
		err := next(ctx, jobs)
		if errors.Is(err, ErrUnavailable) {
			err = next(ctx, jobs)
		}
		return err
	}))
	require.NoError(t, err)
	id, err := q.Enqueue(ctx, 1)
	require.NoError(t, err, "the interceptor's repeat of a call whose reply was lost")
	assert.Equal(t, int64(2), b.calls.Load())
	s, err := q.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.Pending)
	_, err = q.Get(ctx, id)
	require.NoError(t, err)

	b = &lostFirstReply{Backend: memory.New()}
	var runs atomic.Int64
	q, err = New(b, "q", WithEnqueueInterceptor(func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
		runs.Add(1)
		return next(ctx, jobs)
	}))
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), runs.Load(), "interceptor runs for one Enqueue the Queue repeated")
	assert.Equal(t, int64(2), b.calls.Load())
}

// TestInterceptorPayloadChecked: a payload an interceptor made too large
// or not JSON is refused as one the caller gave, with nothing written.
func TestInterceptorPayloadChecked(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		payload []byte
		want    error
	}{
		{[]byte(`"` + strings.Repeat("x", 100) + `"`), ErrPayloadTooLarge},
		{[]byte(`{not json`), ErrInvalidArgument},
	} {
		r := newRecorder()
		q, err := New(r, "q", WithPayloadLimit(64), WithEnqueueInterceptor(func(ctx context.Context, _ string, jobs []NewJob, next EnqueueFunc) error {
			jobs[0].Payload = tc.payload
			return next(ctx, jobs)
		}))
		require.NoError(t, err)
		_, err = q.Enqueue(ctx, 1)
		assert.ErrorIs(t, err, tc.want)
		assert.Empty(t, r.enqueues, "nothing sent to the backend")
	}
}
