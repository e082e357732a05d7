// outage.go kills and restarts a real Redis server under a running
// jobqueue.Worker; it needs a server process to kill, which only the Redis
// adapters have, so it is not part of the conformance suite.

package redisqtest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// Connect returns a backend on srv. The test's cleanup closes whatever it
// opened.
type Connect func(t *testing.T, srv *redistest.Server) backend.Backend

// syncBuffer is a log sink safe for the worker's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RedisRestart kills the Redis server (SIGKILL) under a worker pool that is
// a third of the way through its jobs, keeps it down for 3 s, restarts it from
// its append-only file (fsync always, so an acknowledged write survives),
// and checks that the pool finishes every job by itself, having logged the
// outage once rather than once per failed call.
func RedisRestart(t *testing.T, connect Connect) {
	srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	b := connect(t, srv)
	q, err := jobqueue.New(b, "outage", jobqueue.WithVisibility(time.Second), jobqueue.WithBackoff(nil))
	require.NoError(t, err)
	ctx := context.Background()

	const n = 300
	payloads := make([]any, n)
	for i := range payloads {
		payloads[i] = i
	}
	ids, err := q.EnqueueBatch(ctx, payloads)
	require.NoError(t, err)

	var mu sync.Mutex
	ran := map[string]int{}
	logs := &syncBuffer{}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	w, err := q.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		ran[j.ID]++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		return nil, nil
	}, jobqueue.WorkerOptions{
		Concurrency:     8,
		ClaimWait:       200 * time.Millisecond,
		ReclaimInterval: 200 * time.Millisecond,
		ShutdownGrace:   time.Second,
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
	})
	require.NoError(t, err)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop")
		}
	}()

	require.Eventually(t, func() bool { return w.Stats().Completed >= n/3 }, 30*time.Second, 5*time.Millisecond,
		"the pool should complete a third of the jobs before the outage")
	srv.Kill(t)
	// Longer than the clients' own retries (go-redis gives up after about a
	// second), so the pool sees the outage.
	time.Sleep(3 * time.Second)
	srv.Restart(t)

	// Once Redis is back the pool resumes by itself; jobs whose outcome was
	// lost with the connection come back through the reclaimer.
	var last jobqueue.Stats
	require.Eventually(t, func() bool {
		s, err := q.Stats(ctx)
		if err != nil {
			return false
		}
		last = s
		return s.CompletedTotal >= n && s.Pending == 0 && s.Processing == 0 && s.Scheduled == 0
	}, 60*time.Second, 50*time.Millisecond, "every job completes after the restart; last stats %+v", &last)

	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		assert.GreaterOrEqual(t, ran[id], 1, "job %s ran", id)
	}
	assert.Zero(t, last.Failed, "no job is dead-lettered by an outage")
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "backend unavailable"), "one log line per outage:\n%s", out)
	assert.GreaterOrEqual(t, strings.Count(out, "backend available again"), 1, "recovery is logged:\n%s", out)
}
