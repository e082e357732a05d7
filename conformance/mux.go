package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

// muxTests pin down what a jobqueue.Mux under a Worker needs from every
// backend: a job's kind, headers and timeout come back with its claim, a
// failed attempt is retried, a snooze uses no attempt.
func muxTests() []testCase {
	return []testCase{
		{"RoutesByKind", false, testMuxRoutes},
		{"UnknownKindRetries", false, testMuxUnknownKind},
		{"DecodeFailureDeadLetters", false, testMuxDecodeFailure},
		{"MiddlewareOrder", false, testMuxMiddlewareOrder},
		{"TimeoutFailsTheAttempt", false, testMuxTimeout},
		{"SnoozeUsesNoAttempt", false, testMuxSnooze},
		{"HeadersReachTheHandler", false, testMuxHeaders},
	}
}

type muxEmail struct {
	To string `json:"to"`
}

func (muxEmail) Kind() string { return "email" }

type muxResize struct {
	Width int `json:"width"`
}

// fastRetries is a queue policy for tests that wait for retries.
var fastRetries = []jobqueue.Option{jobqueue.WithMaxAttempts(3), jobqueue.WithBackoff(jobqueue.ConstantBackoff(20 * time.Millisecond))}

// startMux runs m under a Worker on q until the test ends.
func startMux(t *testing.T, q *jobqueue.Queue, m *jobqueue.Mux) *jobqueue.Worker {
	t.Helper()
	w, _ := startWorker(t, q, m.ServeJob, jobqueue.WorkerOptions{Concurrency: 4, ClaimWait: 100 * time.Millisecond})
	return w
}

// errorsSeen returns a middleware that keeps every error its handler
// returns, and the list it keeps them in.
func errorsSeen() (jobqueue.Middleware, func() []error) {
	var mu sync.Mutex
	var seen []error
	mw := func(next jobqueue.Handler) jobqueue.Handler {
		return func(ctx context.Context, job *jobqueue.Job) (any, error) {
			res, err := next(ctx, job)
			if err != nil {
				mu.Lock()
				seen = append(seen, err)
				mu.Unlock()
			}
			return res, err
		}
	}
	return mw, func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), seen...)
	}
}

func testMuxRoutes(t *testing.T, f *fixture) {
	q := workerQueue(f)
	ctx := context.Background()
	m := jobqueue.NewMux()
	var mu sync.Mutex
	got := map[string]string{}
	jobqueue.Register(m, func(ctx context.Context, job *jobqueue.Job, e muxEmail) error {
		mu.Lock()
		defer mu.Unlock()
		got[job.ID] = job.Kind + ":" + e.To
		return nil
	})
	jobqueue.RegisterKind(m, "resize", func(ctx context.Context, job *jobqueue.Job, r muxResize) error {
		mu.Lock()
		defer mu.Unlock()
		got[job.ID] = fmt.Sprint(job.Kind, ":", r.Width)
		return nil
	})
	email, err := q.Enqueue(ctx, muxEmail{To: "ada"})
	require.NoError(t, err)
	resize, err := q.Enqueue(ctx, muxResize{Width: 7}, jobqueue.Kind("resize"))
	require.NoError(t, err)
	info, err := q.Get(ctx, email)
	require.NoError(t, err)
	assert.Equal(t, "email", info.Kind, "Get shows the kind")

	startMux(t, q, m)
	waitStats(t, q, 10*time.Second, "both jobs completed", func(s jobqueue.Stats) bool { return s.CompletedTotal == 2 })
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string]string{email: "email:ada", resize: "resize:7"}, got)
}

func testMuxUnknownKind(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithMaxAttempts(2), jobqueue.WithBackoff(nil))
	ctx := context.Background()
	m := jobqueue.NewMux()
	seen, errs := errorsSeen()
	m.Use(seen)
	jobqueue.Register(m, func(context.Context, *jobqueue.Job, muxEmail) error { return nil })
	id, err := q.Enqueue(ctx, muxEmail{}, jobqueue.Kind("sms"))
	require.NoError(t, err)

	startMux(t, q, m)
	waitStats(t, q, 10*time.Second, "the job of an unknown kind dead-lettered", func(s jobqueue.Stats) bool { return s.Dead == 1 })
	info, err := q.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 2, info.Attempts, "an unknown kind is retried: a later deploy may know it")
	assert.NotEmpty(t, info.LastError)
	require.Len(t, errs(), 2)
	for _, err := range errs() {
		assert.ErrorIs(t, err, jobqueue.ErrUnknownKind)
	}
}

func testMuxDecodeFailure(t *testing.T, f *fixture) {
	q := workerQueue(f, fastRetries...)
	ctx := context.Background()
	m := jobqueue.NewMux()
	var ran atomic.Int32
	jobqueue.Register(m, func(context.Context, *jobqueue.Job, muxEmail) error { ran.Add(1); return nil })
	id, err := q.Enqueue(ctx, map[string]int{"to": 42}, jobqueue.Kind("email"))
	require.NoError(t, err)

	startMux(t, q, m)
	waitStats(t, q, 10*time.Second, "the job that does not decode dead-lettered", func(s jobqueue.Stats) bool { return s.Dead == 1 })
	info, err := q.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Attempts, "a payload that does not decode is not retried")
	assert.NotEmpty(t, info.LastError)
	assert.Zero(t, ran.Load())
}

func testMuxMiddlewareOrder(t *testing.T, f *fixture) {
	q := workerQueue(f)
	ctx := context.Background()
	var mu sync.Mutex
	var log []string
	mark := func(name string) jobqueue.Middleware {
		return func(next jobqueue.Handler) jobqueue.Handler {
			return func(ctx context.Context, job *jobqueue.Job) (any, error) {
				mu.Lock()
				log = append(log, name+">")
				mu.Unlock()
				res, err := next(ctx, job)
				mu.Lock()
				log = append(log, "<"+name)
				mu.Unlock()
				return res, err
			}
		}
	}
	m := jobqueue.NewMux()
	m.Use(mark("outer"), mark("mux"))
	jobqueue.Register(m, func(context.Context, *jobqueue.Job, muxEmail) error {
		mu.Lock()
		log = append(log, "handler")
		mu.Unlock()
		return nil
	}, jobqueue.WithMiddleware(mark("kind")))
	_, err := q.Enqueue(ctx, muxEmail{})
	require.NoError(t, err)

	startMux(t, q, m)
	waitStats(t, q, 10*time.Second, "the job completed", func(s jobqueue.Stats) bool { return s.CompletedTotal == 1 })
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"outer>", "mux>", "kind>", "handler", "<kind", "<mux", "<outer"}, log)
}

// testMuxTimeout times out the first attempt of two jobs, one by its
// kind's timeout and one by its own. The handler gives up with an error of
// its own, not ctx.Err(): the Mux's middleware must still see each
// attempt fail with context.DeadlineExceeded as cause, as the store does,
// and each job is retried and completes.
func testMuxTimeout(t *testing.T, f *fixture) {
	q := workerQueue(f, fastRetries...)
	ctx := context.Background()
	var runs runCounter
	errGaveUp := errors.New("gave up waiting")
	slowOnce := func(ctx context.Context, job *jobqueue.Job) error {
		if runs.add(job.ID) == 1 {
			<-ctx.Done()
			return errGaveUp
		}
		return nil
	}
	m := jobqueue.NewMux()
	seen, errs := errorsSeen()
	m.Use(seen)
	jobqueue.RegisterKind(m, "by-kind", func(ctx context.Context, job *jobqueue.Job, _ any) error { return slowOnce(ctx, job) },
		jobqueue.WithTimeout(50*time.Millisecond))
	jobqueue.RegisterKind(m, "by-job", func(ctx context.Context, job *jobqueue.Job, _ any) error { return slowOnce(ctx, job) })
	byKind, err := q.Enqueue(ctx, 1, jobqueue.Kind("by-kind"))
	require.NoError(t, err)
	byJob, err := q.Enqueue(ctx, 2, jobqueue.Kind("by-job"), jobqueue.Timeout(50*time.Millisecond))
	require.NoError(t, err)
	info, err := q.Get(ctx, byJob)
	require.NoError(t, err)
	assert.Equal(t, 50*time.Millisecond, info.Timeout, "Get shows the job's timeout")

	startMux(t, q, m)
	s := waitStats(t, q, 10*time.Second, "both jobs completed on their second attempt", func(s jobqueue.Stats) bool { return s.CompletedTotal == 2 })
	assert.Equal(t, int64(2), s.RetriedTotal)
	for _, id := range []string{byKind, byJob} {
		info, err := q.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, 2, info.Attempts, "job %s", id)
	}
	require.Len(t, errs(), 2)
	for _, err := range errs() {
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the middleware saw %v", err)
		assert.ErrorIs(t, err, errGaveUp, "the handler's own error is kept")
	}
}

func testMuxSnooze(t *testing.T, f *fixture) {
	q := workerQueue(f, fastRetries...)
	ctx := context.Background()
	var runs runCounter
	m := jobqueue.NewMux()
	jobqueue.Register(m, func(ctx context.Context, job *jobqueue.Job, _ muxEmail) error {
		if runs.add(job.ID) <= 3 {
			return errors.Join(errors.New("rate limited"), jobqueue.Snooze(20*time.Millisecond))
		}
		return nil
	})
	id, err := q.Enqueue(ctx, muxEmail{}, jobqueue.MaxAttempts(1))
	require.NoError(t, err)

	w := startMux(t, q, m)
	s := waitStats(t, q, 10*time.Second, "the job completed after three snoozes", func(s jobqueue.Stats) bool { return s.CompletedTotal == 1 })
	assert.Zero(t, s.RetriedTotal, "a snooze is not a retry")
	assert.Zero(t, s.DeadTotal, "three snoozes of a job with one attempt do not use it up")
	info, err := q.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, 1, info.Attempts)
	assert.Equal(t, 4, runs.snapshot()[id])
	require.Eventually(t, func() bool { return w.Stats().Snoozed == 3 }, 5*time.Second, 10*time.Millisecond)
}

func testMuxHeaders(t *testing.T, f *fixture) {
	q := workerQueue(f, jobqueue.WithEnqueueInterceptor(
		func(ctx context.Context, _ string, jobs []jobqueue.NewJob, next jobqueue.EnqueueFunc) error {
			for i := range jobs {
				if jobs[i].Headers == nil {
					jobs[i].Headers = map[string]string{}
				}
				jobs[i].Headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			}
			return next(ctx, jobs)
		}))
	ctx := context.Background()
	got := make(chan map[string]string, 1)
	m := jobqueue.NewMux()
	jobqueue.Register(m, func(ctx context.Context, job *jobqueue.Job, _ muxEmail) error {
		got <- job.Headers
		return nil
	})
	id, err := q.Enqueue(ctx, muxEmail{}, jobqueue.Headers(map[string]string{"tenant": "acme"}))
	require.NoError(t, err)
	want := map[string]string{"tenant": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	info, err := q.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, want, info.Headers)

	startMux(t, q, m)
	select {
	case h := <-got:
		assert.Equal(t, want, h)
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run")
	}
}
