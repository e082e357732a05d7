// outage.go kills and restarts a real Redis server under a running
// jobqueue.Worker; it needs a server process to kill, which only the Redis
// adapters have, so it is not part of the conformance suite.

package redisqtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

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
func RedisRestart(t *testing.T, open Open) {
	srv := redistest.Start(t, redistest.RequireProcess(), redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	b, _ := open(t, srv.URL)
	q, err := jobqueue.New(b, "outage", jobqueue.WithLease(time.Second), jobqueue.WithBackoff(nil))
	require.NoError(t, err)

	const n = 300
	logs := &syncBuffer{}
	res := faultDrain{
		jobs: n,
		work: 5 * time.Millisecond,
		options: jobqueue.WorkerOptions{
			Concurrency:     8,
			ClaimWait:       200 * time.Millisecond,
			ReclaimInterval: 200 * time.Millisecond,
			ShutdownGrace:   time.Second,
			Logger:          slog.New(slog.NewTextHandler(logs, nil)),
		},
		fault: func() {
			srv.Kill(t)
			// Longer than the clients' own retries (go-redis gives up after
			// about a second), so the pool sees the outage.
			time.Sleep(3 * time.Second)
			srv.Restart(t)
		},
		// Once Redis is back the pool resumes by itself; jobs whose outcome
		// was lost with the connection come back through the reclaimer.
		drained: func(s jobqueue.Stats) bool {
			return s.CompletedTotal >= n && s.Pending == 0 && s.Processing == 0 && s.Scheduled == 0
		},
		within: 60 * time.Second,
	}.run(t, q)

	for _, id := range res.ids {
		assert.GreaterOrEqual(t, res.ran[id], 1, "job %s ran", id)
	}
	assert.Zero(t, res.last.Dead, "no job is dead-lettered by an outage")
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, `msg="jobqueue: backend unavailable`), "one log line per outage:\n%s", out)
	assert.GreaterOrEqual(t, strings.Count(out, "backend available again"), 1, "recovery is logged:\n%s", out)
}
