package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// faultyAcks wraps a real backend and delays or refuses Complete, standing
// in for a slow or unreachable store while claims still work: refuse makes
// the next refuseN completions (all, when negative) fail with refusal.
type faultyAcks struct {
	backend.Backend
	delay   time.Duration
	refuse  atomic.Bool
	refusal error
	hang    atomic.Bool // Complete waits for its context to end
	calls   atomic.Int32
}

var errUnreachable = fmt.Errorf("%w: dial tcp: connection refused", ErrUnavailable)

func (f *faultyAcks) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	f.calls.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.refuse.Load() {
		if f.refusal != nil {
			return nil, f.refusal
		}
		return nil, errUnreachable
	}
	time.Sleep(f.delay)
	return f.Backend.Complete(ctx, p)
}

func startInternalWorker(t *testing.T, q *Queue, h Handler, o WorkerOptions, tweaks ...func(*Worker)) (*Worker, func() time.Duration) {
	t.Helper()
	w, err := q.NewWorker(h, o)
	require.NoError(t, err)
	for _, tweak := range tweaks {
		tweak(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return w, func() time.Duration {
		begin := time.Now()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
		return time.Since(begin)
	}
}

// A job whose handler has returned, but whose completion is still on its
// way when the grace period ends, must not be released behind its back.
func TestShutdownKeepsFinishedJobsClaimed(t *testing.T) {
	b := &faultyAcks{Backend: memory.New(), delay: 300 * time.Millisecond}
	q, err := New(b, "finished")
	require.NoError(t, err)
	ctx := context.Background()
	quick, err := q.Enqueue(ctx, "quick")
	require.NoError(t, err)
	slow, err := q.Enqueue(ctx, "slow")
	require.NoError(t, err)

	returned := make(chan struct{})
	w, stop := startInternalWorker(t, q, func(ctx context.Context, j *Job) (any, error) {
		if j.ID == quick {
			close(returned)
			return nil, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}, WorkerOptions{Concurrency: 2, ClaimBatch: 2, ShutdownGrace: 50 * time.Millisecond, ClaimWait: 50 * time.Millisecond})
	<-returned
	stop()

	info, err := q.Get(ctx, quick)
	require.NoError(t, err)
	assert.Equal(t, StateCompleted, info.State, "the finished job's outcome is recorded, not overtaken by a release")
	info, err = q.Get(ctx, slow)
	require.NoError(t, err)
	assert.Equal(t, StatePending, info.State, "the running job is released")
	s := w.Stats()
	assert.Equal(t, int64(1), s.Released)
	assert.Equal(t, int64(1), s.Completed)
	assert.Zero(t, s.LostClaims)
}

// Run must return in bounded time when the backend refuses every
// completion and a handler ignores its context.
func TestShutdownIsBoundedWhenAcksFailAndHandlersHang(t *testing.T) {
	b := &faultyAcks{Backend: memory.New()}
	b.refuse.Store(true)
	q, err := New(b, "stuck", WithLease(time.Minute))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = q.EnqueueBatch(ctx, []any{1, 2, 3, 4})
	require.NoError(t, err)

	hang := make(chan struct{})
	defer close(hang)
	var ran atomic.Int32
	_, stop := startInternalWorker(t, q, func(ctx context.Context, j *Job) (any, error) {
		if ran.Add(1) == 1 {
			<-hang // ignores ctx
		}
		return nil, nil
	}, WorkerOptions{Concurrency: 2, ShutdownGrace: 50 * time.Millisecond, ClaimWait: 50 * time.Millisecond},
		func(w *Worker) { w.flushTimeout = 200 * time.Millisecond })
	require.Eventually(t, func() bool { return ran.Load() >= 2 }, 5*time.Second, 5*time.Millisecond)
	took := stop()
	assert.Less(t, took, 5*time.Second, "shutdown is bounded by the grace period and the flush bound")
}

// logLines collects the records of a Worker's logger.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// count returns how many lines contain every one of parts.
func (l *logLines) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// A completion refused for good (here, as Redis refuses a script to an ACL
// user) is not repeated: each batch is tried once, counted, and the kind of
// error logged once at ERROR; the jobs are left to the reclaimer.
func TestPermanentAckErrorIsNotRepeated(t *testing.T) {
	b := &faultyAcks{Backend: memory.New(), refusal: errors.New("jobqueue: redis: NOPERM this user has no permissions to run the 'fcall' command")}
	b.refuse.Store(true)
	q, err := New(b, "noperm")
	require.NoError(t, err)
	_, err = q.EnqueueBatch(context.Background(), []any{1, 2, 3})
	require.NoError(t, err)
	var log logLines
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 1, ClaimWait: 20 * time.Millisecond, Logger: log.logger()})
	// Outcomes that queue up share a call, so there are one to three calls.
	settled := func() bool {
		s := w.Stats()
		return s.Claimed == 3 && s.Running == 0 && s.Errors > 0 && s.Errors == int64(b.calls.Load())
	}
	require.Eventually(t, settled, 5*time.Second, 5*time.Millisecond)
	calls := b.calls.Load()
	time.Sleep(300 * time.Millisecond) // a repeat would come within this
	stop()
	assert.Equal(t, calls, b.calls.Load(), "a refused completion was sent again")
	assert.Equal(t, int64(calls), w.Stats().Errors, "every refused call is counted")
	assert.Zero(t, w.Stats().Completed)
	assert.Equal(t, 1, log.count("level=ERROR", "NOPERM"), "the kind is logged once")
	assert.Zero(t, log.count("backend unavailable"), "a permanent error is no outage")
}

// An unavailable backend's completions are repeated until they get
// through, and nothing is counted as an error.
func TestUnavailableAckIsRepeated(t *testing.T) {
	b := &faultyAcks{Backend: memory.New()}
	b.refuse.Store(true)
	q, err := New(b, "flaky", WithRetries(0))
	require.NoError(t, err)
	id, err := q.Enqueue(context.Background(), 1)
	require.NoError(t, err)
	var log logLines
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 1, ClaimWait: 20 * time.Millisecond, Logger: log.logger()})
	require.Eventually(t, func() bool { return b.calls.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	b.refuse.Store(false)
	require.Eventually(t, func() bool { return w.Stats().Completed == 1 }, 10*time.Second, 5*time.Millisecond)
	stop()
	info, err := q.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, StateCompleted, info.State)
	assert.Zero(t, w.Stats().Errors)
	assert.Equal(t, 1, log.count("backend unavailable"), "one line per outage")
	assert.Equal(t, 1, log.count("level=WARN", "available again", "after="), "the end of the outage at WARN, like its start, with its length")
}

// failingClaims refuses every claim with err.
type failingClaims struct {
	backend.Backend
	err error
}

func (f failingClaims) Claim(context.Context, backend.ClaimParams) ([]backend.ClaimedJob, error) {
	return nil, f.err
}

// A claim refused for good ends Run with that error; an unavailable
// backend does not.
func TestPermanentClaimErrorEndsRun(t *testing.T) {
	refused := errors.New("jobqueue: redis: NOPERM no permissions to run the 'fcall' command")
	q, err := New(failingClaims{Backend: memory.New(), err: refused}, "noperm")
	require.NoError(t, err)
	w, err := q.NewWorker(func(context.Context, *Job) (any, error) { return nil, nil }, WorkerOptions{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, refused)
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after a permanent claim error")
	}
	assert.Equal(t, int64(1), w.Stats().Errors)

	q, err = New(failingClaims{Backend: memory.New(), err: errUnreachable}, "down", WithRetries(0))
	require.NoError(t, err)
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil }, WorkerOptions{})
	time.Sleep(300 * time.Millisecond) // several claims fail meanwhile
	stop()                             // fails the test if Run returned an error
	assert.Zero(t, w.Stats().Errors)
}

// A handler's result that cannot be stored does not undo its work: the job
// completes without it, and says why.
func TestDroppedResultCompletes(t *testing.T) {
	q, err := New(memory.New(), "results", WithPayloadLimit(16))
	require.NoError(t, err)
	ctx := context.Background()
	ids, err := q.EnqueueBatch(ctx, []any{"not-json", "too-big"})
	require.NoError(t, err)
	w, stop := startInternalWorker(t, q, func(_ context.Context, j *Job) (any, error) {
		var kind string
		if err := j.Decode(&kind); err != nil {
			return nil, err
		}
		if kind == "not-json" {
			return []byte("{oops"), nil
		}
		return strings.Repeat("x", 100), nil
	}, WorkerOptions{Concurrency: 2, ClaimWait: 20 * time.Millisecond})
	require.Eventually(t, func() bool { return w.Stats().Completed == 2 }, 5*time.Second, 5*time.Millisecond)
	stop()
	assert.Equal(t, int64(2), w.Stats().DroppedResults)
	for i, want := range []error{ErrInvalidArgument, ErrPayloadTooLarge} {
		info, err := q.Get(ctx, ids[i])
		require.NoError(t, err)
		assert.Equal(t, StateCompleted, info.State)
		assert.Empty(t, info.Result)
		assert.Contains(t, info.LastError, "result dropped")
		assert.Contains(t, info.LastError, strings.TrimPrefix(want.Error(), "jobqueue: "))
		assert.Equal(t, 1, strings.Count(info.LastError, "jobqueue:"), "no stutter in %q", info.LastError)
	}
}

// Options that cannot work are refused before anything runs.
func TestWorkerOptionsRefused(t *testing.T) {
	q, err := New(memory.New(), "opts", WithLease(time.Second))
	require.NoError(t, err)
	h := func(context.Context, *Job) (any, error) { return nil, nil }
	for name, o := range map[string]WorkerOptions{
		"heartbeat at half the lease":     {HeartbeatInterval: 500 * time.Millisecond},
		"heartbeat past the lease":        {HeartbeatInterval: 2 * time.Second},
		"negative concurrency":            {Concurrency: -1},
		"negative claim wait":             {ClaimWait: -time.Second},
		"negative heartbeat":              {HeartbeatInterval: -time.Second},
		"negative grace":                  {ShutdownGrace: -time.Second},
		"negative ack batch":              {AckBatch: -1},
		"negative reclaim, not NoReclaim": {ReclaimInterval: -time.Second},
		"nil observer":                    {Observers: []Observer{nil}},
	} {
		_, err := q.NewWorker(h, o)
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
	for name, o := range map[string]WorkerOptions{
		"heartbeat below half the lease": {HeartbeatInterval: 499 * time.Millisecond},
		"no reclaim":                     {ReclaimInterval: NoReclaim},
		"defaults":                       {},
	} {
		_, err := q.NewWorker(h, o)
		assert.NoError(t, err, name)
	}
}

func TestWorkerRunsOnce(t *testing.T) {
	q, err := New(memory.New(), "once")
	require.NoError(t, err)
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil }, WorkerOptions{ClaimWait: 10 * time.Millisecond})
	stop()
	assert.ErrorIs(t, w.Run(context.Background()), ErrInvalidArgument)
}

// Errors that differ only in the job they name are one kind, logged once;
// another class of error, or another operation, is a kind of its own.
func TestErrorLogKinds(t *testing.T) {
	var lines logLines
	l := errorLog{log: lines.logger()}
	for _, id := range []string{"j1", "j2", "j3"} {
		l.once("outcome", fmt.Errorf("%w: job %s: payload is missing", ErrCorruptJob, id))
	}
	l.once("outcome", errors.New("jobqueue: redis: NOPERM no permissions"))
	l.once("outcome", errors.New("jobqueue: redis: NOPERM no permissions"))
	l.once("complete", fmt.Errorf("%w: job j4", ErrCorruptJob))
	assert.Equal(t, 1, lines.count("op=outcome", "corrupt job record"), "one line for the corrupt jobs of one operation")
	assert.Equal(t, 1, lines.count("op=outcome", "NOPERM"))
	assert.Equal(t, 1, lines.count("op=complete", "corrupt job record"))
	assert.Equal(t, 3, lines.count("level=ERROR"))
}

// A completion still on its way when the shutdown gives up on the backend
// is cut short by the worker itself: no error of the backend's, so it is
// neither counted nor logged as one.
func TestShutdownCutsAckShortWithoutError(t *testing.T) {
	b := &faultyAcks{Backend: memory.New()}
	b.hang.Store(true)
	q, err := New(b, "hang")
	require.NoError(t, err)
	_, err = q.Enqueue(context.Background(), 1)
	require.NoError(t, err)
	var log logLines
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 1, ClaimWait: 20 * time.Millisecond, Logger: log.logger()},
		func(w *Worker) { w.flushTimeout = 100 * time.Millisecond })
	require.Eventually(t, func() bool { return b.calls.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	stop()
	assert.Equal(t, 1, log.count("backend unreachable at shutdown"))
	assert.Zero(t, log.count("backend call failed"), "the cut-short completion was logged as a backend error")
	assert.Zero(t, w.Stats().Errors)
}
