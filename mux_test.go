package jobqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
)

func (Email) Kind() string { return "email" }

// serve runs one job of kind with payload through m, as a Worker would.
func serve(m *jobqueue.Mux, kind, payload string) (any, error) {
	return m.ServeJob(context.Background(), &jobqueue.Job{ID: "j1", Kind: kind, Payload: json.RawMessage(payload)})
}

func TestMuxRoutesByKind(t *testing.T) {
	m := jobqueue.NewMux()
	var got []string
	jobqueue.Register(m, func(ctx context.Context, job *jobqueue.Job, e Email) error {
		got = append(got, "email to "+e.To)
		return nil
	})
	jobqueue.RegisterKind(m, "resize", func(ctx context.Context, job *jobqueue.Job, size map[string]int) error {
		got = append(got, "resize", strings.Repeat("x", size["w"]))
		return nil
	})
	m.Handle("", func(ctx context.Context, job *jobqueue.Job) (any, error) {
		got = append(got, "untyped "+string(job.Payload))
		return "result", nil
	})
	assert.Equal(t, []string{"", "email", "resize"}, m.Kinds())

	_, err := serve(m, "email", `{"to":"ada@example.com"}`)
	require.NoError(t, err)
	_, err = serve(m, "resize", `{"w":3}`)
	require.NoError(t, err)
	res, err := serve(m, "", `42`)
	require.NoError(t, err)
	assert.Equal(t, "result", res)
	assert.Equal(t, []string{"email to ada@example.com", "resize", "xxx", "untyped 42"}, got)
}

func TestMuxUnknownKindFailsForRetry(t *testing.T) {
	m := jobqueue.NewMux()
	var seen error
	m.Use(func(next jobqueue.Handler) jobqueue.Handler {
		return func(ctx context.Context, job *jobqueue.Job) (any, error) {
			res, err := next(ctx, job)
			seen = err
			return res, err
		}
	})
	_, err := serve(m, "sms", `{}`)
	require.ErrorIs(t, err, jobqueue.ErrUnknownKind)
	assert.Contains(t, err.Error(), `"sms"`)
	assert.False(t, jobqueue.IsPermanent(err), "a worker deployed later may know the kind: the job is retried")
	assert.ErrorIs(t, seen, jobqueue.ErrUnknownKind, "the Mux's middleware sees unknown kinds too")
}

func TestMuxDecodeFailureIsPermanent(t *testing.T) {
	m := jobqueue.NewMux()
	ran := false
	jobqueue.Register(m, func(ctx context.Context, job *jobqueue.Job, e Email) error {
		ran = true
		return nil
	})
	_, err := serve(m, "email", `{"to":42}`)
	require.Error(t, err)
	assert.True(t, jobqueue.IsPermanent(err), "a payload that does not decode never will")
	assert.Contains(t, err.Error(), "jobqueue_test.Email")
	assert.False(t, ran)
}

// trace returns a middleware that appends its name to log before and
// after the handler.
func trace(log *[]string, name string) jobqueue.Middleware {
	return func(next jobqueue.Handler) jobqueue.Handler {
		return func(ctx context.Context, job *jobqueue.Job) (any, error) {
			*log = append(*log, name+">")
			defer func() { *log = append(*log, "<"+name) }()
			return next(ctx, job)
		}
	}
}

func TestMuxMiddlewareOrder(t *testing.T) {
	m := jobqueue.NewMux()
	var log []string
	m.Use(trace(&log, "a"))
	m.Handle("k", func(ctx context.Context, job *jobqueue.Job) (any, error) {
		log = append(log, "handler")
		return nil, nil
	}, jobqueue.WithMiddleware(trace(&log, "c"), trace(&log, "d")))
	m.Use(trace(&log, "b")) // applies to the kinds registered before it too
	m.Handle("other", func(ctx context.Context, job *jobqueue.Job) (any, error) { return nil, nil })

	_, err := serve(m, "k", `{}`)
	require.NoError(t, err)
	assert.Equal(t, []string{"a>", "b>", "c>", "d>", "handler", "<d", "<c", "<b", "<a"}, log)
	log = nil
	_, err = serve(m, "other", `{}`)
	require.NoError(t, err)
	assert.Equal(t, []string{"a>", "b>", "<b", "<a"}, log, "a kind's middleware is its own")
}

func TestMuxKindTimeout(t *testing.T) {
	m := jobqueue.NewMux()
	m.Handle("slow", func(ctx context.Context, job *jobqueue.Job) (any, error) {
		<-ctx.Done()
		return nil, errors.New("gave up")
	}, jobqueue.WithTimeout(20*time.Millisecond))
	m.Handle("done-anyway", func(ctx context.Context, job *jobqueue.Job) (any, error) {
		<-ctx.Done()
		return "finished", nil
	}, jobqueue.WithTimeout(time.Millisecond))

	_, err := serve(m, "slow", `{}`)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "timed out after 20ms")
	assert.Contains(t, err.Error(), "gave up", "the handler's own error is kept")
	assert.False(t, jobqueue.IsPermanent(err), "a timed-out attempt is retried")

	res, err := serve(m, "done-anyway", `{}`)
	require.NoError(t, err, "a handler that succeeds after its timeout completes its job")
	assert.Equal(t, "finished", res)

	// A context that ends for another reason is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.ServeJob(ctx, &jobqueue.Job{ID: "j", Kind: "slow"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}

func TestMuxRegistrationPanics(t *testing.T) {
	h := func(context.Context, *jobqueue.Job) (any, error) { return nil, nil }
	m := jobqueue.NewMux()
	m.Handle("k", h)
	assert.PanicsWithValue(t, `jobqueue: Mux.Handle: kind "k" registered twice`, func() { m.Handle("k", h) })
	assert.Panics(t, func() { m.Handle("a b", h) }, "invalid kind")
	assert.Panics(t, func() { m.Handle(strings.Repeat("k", 65), h) }, "kind too long")
	assert.Panics(t, func() { m.Handle("nil", nil) })
	assert.Panics(t, func() { m.Use(nil) })
	assert.Panics(t, func() { jobqueue.WithMiddleware(nil) })
	assert.Panics(t, func() { jobqueue.WithTimeout(0) })
	assert.Panics(t, func() { jobqueue.RegisterKind[Email](m, "x", nil) })
	assert.Panics(t, func() {
		m.Use(func(jobqueue.Handler) jobqueue.Handler { return nil })
	}, "a middleware that returns no handler")
}

func TestMuxIsSafeWhileServing(t *testing.T) {
	m := jobqueue.NewMux()
	m.Handle("k", func(context.Context, *jobqueue.Job) (any, error) { return nil, nil })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = serve(m, "k", `{}`)
			}
			m.Use(func(next jobqueue.Handler) jobqueue.Handler { return next })
			m.Handle(strings.Repeat("x", i+1), func(context.Context, *jobqueue.Job) (any, error) { return nil, nil })
		}()
	}
	wg.Wait()
	assert.Len(t, m.Kinds(), 5)
}
