// killed.go kills the client's connections, again and again, while calls
// are in flight; it needs a server of its own, where CLIENT KILL hits only
// this test's client, so it is not part of the conformance suite.

package redisqtest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// ConnectionsKilled runs reads (Stats, Get, List) and writes (Enqueue)
// from several goroutines while an admin kills every normal connection of
// the server every few milliseconds. Each call must either succeed or
// fail with backend.ErrUnavailable, and once the kills stop the calls
// succeed again and the queue holds every job an Enqueue reported. Run
// with -race, it also catches a client that reuses the memory of a command
// that a killed connection may still be writing (see the rueidis adapter's
// conn type).
func ConnectionsKilled(t *testing.T, open Open) {
	ctx := context.Background()
	srv := redistest.Start(t)
	b, _ := open(t, srv.URL)
	admin := adminClient(t, srv.URL)
	queue := QueueName(t)
	require.NoError(t, b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, RequestID: "seed",
		Jobs: []backend.NewJob{{ID: "seed", Payload: []byte("{}"), MaxAttempts: 1}}}))

	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		enqueued = map[string]bool{"seed": true}
	)
	call := func(what string, err error) {
		if err != nil {
			assert.ErrorIs(t, err, backend.ErrUnavailable, "%s while connections are killed", what)
		}
	}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := b.Stats(ctx, queue)
				call("Stats", err)
				_, err = b.Get(ctx, queue, "seed")
				call("Get", err)
				_, err = b.List(ctx, backend.ListParams{Queue: queue, State: backend.StatePending, Limit: 10})
				call("List", err)
				if g == 0 {
					id := "job-" + strconv.Itoa(i)
					err := b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, RequestID: id,
						Jobs: []backend.NewJob{{ID: id, Payload: []byte("{}"), MaxAttempts: 1}}})
					call("Enqueue", err)
					if err == nil {
						mu.Lock()
						enqueued[id] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	var kills int64
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
		n, err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Int64()
		require.NoError(t, err, "CLIENT KILL")
		kills += n
		time.Sleep(3 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	require.Positive(t, kills, "connections killed")

	st, err := b.Stats(ctx, queue)
	require.NoError(t, err, "Stats after the kills")
	mu.Lock()
	defer mu.Unlock()
	// A lost reply may hide an Enqueue that did run, never the reverse.
	assert.GreaterOrEqual(t, st.Pending, int64(len(enqueued)), "pending jobs: every Enqueue that reported success")
	t.Logf("%d connections killed, %d jobs enqueued", kills, len(enqueued))
}
