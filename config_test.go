package jobqueue

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// checkedBackend is the memory backend declaring backend.ConfigChecker
// with set answers: what the Worker does with them is under test here; the
// Redis check itself is tested on real servers (redisqtest.ConfigCheck).
type checkedBackend struct {
	*memory.Backend
	warnings []string
	err      error
}

func (b checkedBackend) CheckConfig(context.Context) ([]string, error) { return b.warnings, b.err }

// logRecorder is a slog.Handler that keeps every record's level and
// message.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, logRecord{rec.Level, rec.Message})
	return nil
}

func (r *logRecorder) records() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func (r *logRecorder) has(level slog.Level, msg string) bool {
	return slices.Contains(r.records(), logRecord{level, msg})
}

// runOneJob runs a Worker with a recording logger on b until it has done
// one job and until done says the log is complete, and returns the log.
func runOneJob(t *testing.T, b backend.Backend, done func(*logRecorder) bool) *logRecorder {
	t.Helper()
	q, err := New(b, "settings")
	require.NoError(t, err)
	id, err := q.Enqueue(context.Background(), "x")
	require.NoError(t, err)
	rec := &logRecorder{}
	w, err := q.NewWorker(func(context.Context, *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 1, ClaimWait: 50 * time.Millisecond, Logger: slog.New(rec)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	require.Eventually(t, func() bool {
		info, err := q.Get(context.Background(), id)
		return err == nil && info.State == StateCompleted && done(rec)
	}, 5*time.Second, 5*time.Millisecond, "the worker did its job, and logged all it should")
	cancel()
	require.NoError(t, <-ran)
	return rec
}

// TestWorkerWarnsAboutSettings checks that a Worker logs each warning of a
// backend that checks its store's settings, once, at Warn; that a check
// that fails is noted at Info and never stops the work; and that a backend
// without the capability logs nothing about it.
func TestWorkerWarnsAboutSettings(t *testing.T) {
	checked := func(level slog.Level, msg string) func(*logRecorder) bool {
		return func(r *logRecorder) bool { return r.has(level, msg) }
	}
	const done = "jobqueue: checked the backend's settings"

	t.Run("warnings", func(t *testing.T) {
		b := checkedBackend{Backend: memory.New(), warnings: []string{"jobqueue: first", "jobqueue: second"}}
		rec := runOneJob(t, b, checked(slog.LevelDebug, done))
		var warned []string
		for _, r := range rec.records() {
			if r.level == slog.LevelWarn {
				warned = append(warned, r.msg)
			}
		}
		assert.Equal(t, b.warnings, warned, "each warning once, at Warn, and no other warning")
	})
	t.Run("none", func(t *testing.T) {
		rec := runOneJob(t, checkedBackend{Backend: memory.New()}, checked(slog.LevelDebug, done))
		for _, r := range rec.records() {
			assert.Less(t, r.level, slog.LevelWarn, "nothing to warn about: %q", r.msg)
		}
	})
	t.Run("check fails", func(t *testing.T) {
		b := checkedBackend{Backend: memory.New(), err: errors.New("jobqueue: redis: connection refused")}
		rec := runOneJob(t, b, checked(slog.LevelInfo, "jobqueue: could not check the backend's settings"))
		assert.False(t, rec.has(slog.LevelDebug, done))
	})
	t.Run("no capability", func(t *testing.T) {
		rec := runOneJob(t, memory.New(), func(*logRecorder) bool { return true })
		for _, r := range rec.records() {
			assert.NotContains(t, r.msg, "settings")
		}
	})
}

// TestWorkerLogsWarningsToDefault checks that a Worker given no Logger
// hands its WARN records, with their attributes, to slog.Default() (the
// one set when it logs, not when the Worker was made) and drops its INFO
// and DEBUG records; and that slog.DiscardHandler silences it.
func TestWorkerLogsWarningsToDefault(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	run := func(logger *slog.Logger) {
		b := checkedBackend{Backend: memory.New(), warnings: []string{"jobqueue: evicting store"}}
		q, err := New(b, "defaultlog")
		require.NoError(t, err)
		var log logLines
		w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil },
			WorkerOptions{Concurrency: 1, ClaimWait: 20 * time.Millisecond, Logger: logger},
			func(*Worker) { slog.SetDefault(log.logger()) }) // after NewWorker: looked up when logging
		if logger == nil {
			require.Eventually(t, func() bool { return log.count("evicting store") == 1 }, 5*time.Second, 5*time.Millisecond)
		} else {
			// The check runs as Run starts; a job done after it shows
			// that Run got that far.
			_, err := q.Enqueue(context.Background(), 1)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return w.Stats().Completed == 1 }, 5*time.Second, 5*time.Millisecond)
		}
		stop() // every log line of the Run is written by now
		log.mu.Lock()
		defer log.mu.Unlock()
		if logger == nil {
			require.Len(t, log.lines, 1, "only the WARN, not the DEBUG that follows it: %q", log.lines)
			assert.Contains(t, log.lines[0], "level=WARN")
			assert.Contains(t, log.lines[0], "queue=defaultlog", "the Worker's attributes come along")
		} else {
			assert.Empty(t, log.lines, "slog.DiscardHandler silences the Worker, and nothing goes to the default")
		}
	}
	t.Run("default", func(t *testing.T) { run(nil) })
	t.Run("discard", func(t *testing.T) { run(slog.New(slog.DiscardHandler)) })
}

// TestReclaimWarnsAboutPoisonJobs checks that a reclaim that dead-letters
// jobs whose last attempt's lease ran out logs a WARN naming them, while a
// reclaim that only requeues stays at INFO.
func TestReclaimWarnsAboutPoisonJobs(t *testing.T) {
	q, err := New(memory.New(), "poison", WithLease(20*time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()
	poison, err := q.Enqueue(ctx, 1, MaxAttempts(1))
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, 2, MaxAttempts(3))
	require.NoError(t, err)
	// Claimed here and never finished, as by a worker that died.
	jobs, err := q.Claim(ctx, 2, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	var log logLines
	w, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) { return nil, nil },
		WorkerOptions{Concurrency: 1, ClaimWait: 20 * time.Millisecond, HeartbeatInterval: 5 * time.Millisecond,
			ReclaimInterval: 10 * time.Millisecond, Logger: log.logger()})
	require.Eventually(t, func() bool {
		info, err := q.Get(ctx, poison)
		return err == nil && info.State == StateDead && w.Stats().Completed == 1
	}, 5*time.Second, 5*time.Millisecond)
	stop()
	assert.Equal(t, 1, log.count("level=WARN", "dead-lettered", "dead=1", poison), "the poison job is named at WARN: %q", log.lines)
	assert.Zero(t, log.count("level=INFO", "dead-lettered"))
}
