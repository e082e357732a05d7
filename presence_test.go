package jobqueue

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

func idle(context.Context, *Job) (any, error) { return nil, nil }

// requireWorkers waits until each queue counts want worker processes.
func requireWorkers(t *testing.T, want int64, queues ...*Queue) {
	t.Helper()
	for _, q := range queues {
		require.Eventually(t, func() bool {
			s, err := q.Stats(context.Background())
			return err == nil && s.Workers == want
		}, 5*time.Second, 5*time.Millisecond, "queue %s: want %d workers", q.name, want)
	}
}

// The queues of these tests have a lease of a minute, so that a Worker's
// beats last far longer than the tests wait: a Worker that stops counting
// did so by its last beat, not by its beats running out.
func TestWorkersCountedWhileRunning(t *testing.T) {
	b := memory.New()
	q, err := New(b, "presence", WithLease(time.Minute))
	require.NoError(t, err)
	requireWorkers(t, 0, q)

	_, stop1 := startInternalWorker(t, q, idle, WorkerOptions{})
	requireWorkers(t, 1, q)
	_, stop2 := startInternalWorker(t, q, idle, WorkerOptions{Concurrency: 2})
	requireWorkers(t, 2, q)
	stop1()
	requireWorkers(t, 1, q)
	stop2()
	requireWorkers(t, 0, q)
}

// A Worker of several queues beats each of them, as one process.
func TestWorkerBeatsEveryServedQueue(t *testing.T) {
	b := memory.New()
	q1, err := New(b, "presence-1", WithLease(time.Minute))
	require.NoError(t, err)
	q2, err := New(b, "presence-2", WithLease(time.Minute))
	require.NoError(t, err)
	w, err := NewWorker(idle, WorkerOptions{}, Serve(q1, 1), Serve(q2, 2))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	requireWorkers(t, 1, q1, q2)
	cancel()
	require.NoError(t, <-done)
	requireWorkers(t, 0, q1, q2)
}

// failingBeats is a memory backend whose beats all fail, as they do while
// Redis is away.
type failingBeats struct {
	*memory.Backend
	calls atomic.Int32
}

func (f *failingBeats) Beat(context.Context, backend.BeatParams) error {
	f.calls.Add(1)
	return errUnreachable
}

// A beat that fails is logged at debug level and changes nothing else: the
// Worker runs its jobs, and goes on beating.
func TestFailedBeatIsNotFatal(t *testing.T) {
	b := &failingBeats{Backend: memory.New()}
	q, err := New(b, "presence")
	require.NoError(t, err)
	var logs logLines
	ran := make(chan struct{}, 1)
	_, stop := startInternalWorker(t, q, func(context.Context, *Job) (any, error) {
		ran <- struct{}{}
		return nil, nil
	}, WorkerOptions{Logger: logs.logger()}, func(w *Worker) { w.beatEvery = time.Millisecond })
	_, err = q.Enqueue(context.Background(), "x")
	require.NoError(t, err)
	<-ran
	require.Eventually(t, func() bool { return b.calls.Load() >= 2 }, 5*time.Second, 5*time.Millisecond, "beats after a failed one")
	stop()
	assert.Positive(t, logs.count("level=DEBUG", "worker beat failed", "connection refused"))
	assert.Zero(t, logs.count("level=WARN", "beat"))
	assert.Zero(t, logs.count("level=ERROR", "beat"))
}

func TestBeatInterval(t *testing.T) {
	for _, c := range []struct{ heartbeat, every time.Duration }{
		{time.Millisecond, 10 * time.Second},
		{DefaultLease / 3, 10 * time.Second},
		{15 * time.Second, 15 * time.Second},
		{2 * time.Hour, backend.MaxBeatTTL / beatsPerTTL},
	} {
		every := beatInterval(c.heartbeat)
		assert.Equal(t, c.every, every, "interval for a heartbeat of %v", c.heartbeat)
		assert.NoError(t, backend.BeatParams{Queue: "q", ID: "p", TTL: beatsPerTTL * every}.Validate())
	}
}

func TestProcessID(t *testing.T) {
	a, b := processID(), processID()
	require.NoError(t, backend.ValidateID(a))
	assert.NotEqual(t, a, b, "two Workers of one process")
	parts := strings.Split(a, ":")
	require.Len(t, parts, 3, "host:pid:random in %q", a)
	assert.Equal(t, strconv.Itoa(os.Getpid()), parts[1], "pid in %q", a)
}
