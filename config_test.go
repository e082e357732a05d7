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
