// durable.go checks durable enqueues and acknowledgements
// (backend.DurableWriter) on real replicas: what a call returns without
// a replica, with one, with one that lags, and through a failover.

package redisqtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// DurableWithoutReplica asks for one replica of a master that has none:
// Enqueue and EnqueueBatch return the ids with a *NotDurableError once the
// timeout has passed, and the jobs are stored, once each, Retry included;
// a completion is recorded and reported not durable; one call may opt
// out (Durable of the zero Durability). On a server older than Redis 7.2
// a durability with AOF is refused, storing nothing.
func DurableWithoutReplica(t *testing.T, open Open) {
	ctx := context.Background()
	b, info := open(t, redistest.Start(t).URL)
	d := jobqueue.Durability{Replicas: 1, Timeout: 100 * time.Millisecond}
	q, err := jobqueue.New(b, QueueName(t), jobqueue.WithDurability(d), jobqueue.WithAckDurability(d))
	require.NoError(t, err)

	id, err := q.Enqueue(ctx, "one")
	require.ErrorIs(t, err, jobqueue.ErrNotDurable)
	t.Logf("Enqueue: %v", err)
	var nd *jobqueue.NotDurableError
	require.ErrorAs(t, err, &nd)
	require.NotEmpty(t, id, "Enqueue returns the id of a job not confirmed durable")
	assert.Equal(t, []string{id}, nd.IDs)
	assertStored(t, q, id)

	ids, err := q.EnqueueBatch(ctx, []any{1, 2, 3})
	require.ErrorIs(t, err, jobqueue.ErrNotDurable)
	require.Len(t, ids, 3)
	for _, id := range ids {
		assertStored(t, q, id)
	}
	assertTotals(t, q, 4, 0)

	require.ErrorIs(t, nd.Retry(ctx), jobqueue.ErrNotDurable, "Retry with still no replica")
	assertTotals(t, q, 4, 0)

	_, err = q.Enqueue(ctx, "two", jobqueue.Durable(jobqueue.Durability{}))
	require.NoError(t, err, "a call that asks for no durability")
	assertTotals(t, q, 5, 0)

	jobs, err := q.Claim(ctx, 1, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, id, jobs[0].ID)
	require.ErrorIs(t, jobs[0].Complete(ctx, "done"), jobqueue.ErrNotDurable)
	got, err := q.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, jobqueue.StateCompleted, got.State, "a completion not confirmed durable is recorded")
	require.ErrorIs(t, jobs[0].Complete(ctx, "done"), jobqueue.ErrNotDurable, "the repeat of the completion")
	assertTotals(t, q, 5, 1)

	server, err := info(ctx, "server")
	require.NoError(t, err)
	v := infoField(server, "redis_version")
	aof := jobqueue.Durable(jobqueue.Durability{AOF: true, Timeout: 100 * time.Millisecond})
	if olderThan72(t, v) {
		_, err = q.Enqueue(ctx, "aof", aof)
		require.ErrorIs(t, err, errors.ErrUnsupported, "AOF on Redis %s", v)
		t.Logf("AOF on Redis %s: %v", v, err)
		assertTotals(t, q, 5, 1)
	} else {
		t.Logf("Redis %s has WAITAOF; its path is not checked here", v)
	}
}

// DurableWithReplica checks the durable writes against a master with one
// replica. While the replica keeps up, an enqueue and a completion
// return nil, and the replica has them when they return. While it is
// frozen (SIGSTOP: its link stays up, it acknowledges nothing), both
// report ErrNotDurable, and so does their repeat through a second client,
// whose connections never wrote: its wait must cover the first run's
// write, not only the nothing that the repeat stores. Once the replica is
// thawed, the repeats return nil, and the replica has the jobs. (On Redis
// 7.0 and 7.1 any command moves a connection's offset, so the repeat's
// own write, which Redis 7.2 needs, is not what passes this test there:
// see the redisq package's durable.go.)
func DurableWithReplica(t *testing.T, open Open) {
	ctx := context.Background()
	master := redistest.Start(t, redistest.RequireProcess())
	replica := redistest.StartReplica(t, master)
	b, _ := open(t, master.URL)
	second, _ := open(t, master.URL)
	opt, err := redis.ParseURL(replica.URL)
	require.NoError(t, err)
	raw := redis.NewClient(opt)
	t.Cleanup(func() { _ = raw.Close() })

	queue := QueueName(t)
	keys := redisq.KeysFor(queue)
	// The replica answers in well under a second; the long timeout only
	// keeps a loaded machine from failing the test.
	sure := backend.Durability{Replicas: 1, Timeout: 10 * time.Second}
	short := backend.Durability{Replicas: 1, Timeout: 200 * time.Millisecond}
	keep := backend.Retention{Max: 100, TTL: time.Hour}
	enqueue := func(id string, d backend.Durability) backend.EnqueueParams {
		return backend.EnqueueParams{Queue: queue, RequestID: "enqueue-" + id, Durability: d,
			Jobs: []backend.NewJob{{ID: id, Payload: []byte(`"` + id + `"`), MaxAttempts: 3}}}
	}
	onReplica := func(id string) string {
		t.Helper()
		status, err := raw.HGet(ctx, keys.Job(id), "status").Result()
		if errors.Is(err, redis.Nil) {
			return "missing"
		}
		require.NoError(t, err)
		return status
	}
	claim := func(id string) backend.Ack {
		t.Helper()
		jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: queue, Max: 1, Lease: time.Hour})
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		require.Equal(t, id, jobs[0].ID)
		return backend.Ack{ID: id, Token: jobs[0].Token}
	}
	complete := func(on backend.Backend, a backend.Ack, d backend.Durability) error {
		t.Helper()
		errs, err := on.Complete(ctx, backend.CompleteParams{Queue: queue, Retention: keep, Durability: d,
			Items: []backend.Completion{{Ack: a, Result: []byte("1")}}})
		require.NoError(t, err)
		require.Len(t, errs, 1)
		return errs[0]
	}

	require.NoError(t, b.Enqueue(ctx, enqueue("kept", sure)))
	assert.Equal(t, "pending", onReplica("kept"), "the replica has a durable enqueue when it returns")
	require.NoError(t, complete(b, claim("kept"), sure))
	assert.Equal(t, "completed", onReplica("kept"), "the replica has a durable completion when it returns")

	thaw := freeze(t, replica.Server)
	p := enqueue("lagging", short)
	err = b.Enqueue(ctx, p)
	require.ErrorIs(t, err, backend.ErrNotDurable, "an enqueue while the replica is frozen")
	t.Logf("enqueue while the replica is frozen: %v", err)
	require.ErrorIs(t, second.Enqueue(ctx, p), backend.ErrNotDurable,
		"the repeat, through connections that never wrote, while the replica is frozen")
	a := claim("lagging")
	require.ErrorIs(t, complete(b, a, short), backend.ErrNotDurable, "a completion while the replica is frozen")
	require.ErrorIs(t, complete(second, a, short), backend.ErrNotDurable,
		"the repeat of the completion, through connections that never wrote, while the replica is frozen")
	stats, err := b.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, int64(2), stats.EnqueuedTotal, "enqueues counted, repeats not")
	assert.Equal(t, int64(2), stats.CompletedTotal, "completions counted, repeats not")

	thaw()
	p.Durability = sure
	require.NoError(t, second.Enqueue(ctx, p), "the repeat once the replica is back")
	assert.Equal(t, "completed", onReplica("lagging"), "the replica has the job once the repeat returns")
	require.NoError(t, complete(second, a, sure), "the repeat of the completion once the replica is back")
}

// assertStored checks that the job id is stored, pending.
func assertStored(t *testing.T, q *jobqueue.Queue, id string) {
	t.Helper()
	info, err := q.Get(context.Background(), id)
	require.NoError(t, err, "job %s", id)
	assert.Equal(t, jobqueue.StatePending, info.State, "job %s", id)
}

// assertTotals checks the queue's enqueued and completed counters.
func assertTotals(t *testing.T, q *jobqueue.Queue, enqueued, completed int64) {
	t.Helper()
	s, err := q.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, enqueued, s.EnqueuedTotal, "enqueued total")
	assert.Equal(t, completed, s.CompletedTotal, "completed total")
}

// infoField returns the field name of an INFO reply, or "".
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	return ""
}

// olderThan72 reports whether the redis_version v is before 7.2.
func olderThan72(t *testing.T, v string) bool {
	t.Helper()
	var major, minor int
	_, err := fmt.Sscanf(v, "%d.%d", &major, &minor)
	require.NoError(t, err, "redis_version %q", v)
	return major < 7 || (major == 7 && minor < 2)
}

// durableFailoverFigures are what one run of enqueueThroughKill saw.
type durableFailoverFigures struct {
	// acked counts the enqueues that returned nil: up to the kill (which
	// is ordered at the killAfter-th and takes a few milliseconds to
	// find the master and kill it) and, without durability, on the new
	// master after it.
	acked int
	// lost counts the acknowledged jobs that the new master does not have.
	lost int
	// notDurable and failed count the enqueues that returned
	// ErrNotDurable and any other error.
	notDurable, failed int
}

// failoverProducers enqueue at once, so that writes are in flight when
// the master dies; killAfter acknowledged enqueues, it does.
const (
	failoverProducers = 8
	killAfter         = 500
)

// enqueueThroughKill enqueues into queue on b from failoverProducers
// goroutines, with durability d (the zero value for none), and calls kill
// right after the killAfter-th acknowledged enqueue; kill kills the
// master that holds the queue and returns once a replica has taken over.
// The producers go on until then. Every acknowledged job is then looked
// for on the new master.
func enqueueThroughKill(t *testing.T, b backend.Backend, queue string, d jobqueue.Durability, kill func()) durableFailoverFigures {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	q, err := jobqueue.New(b, queue, jobqueue.WithDurability(d))
	require.NoError(t, err)

	var (
		mu       sync.Mutex
		acked    []string
		figures  durableFailoverFigures
		killNow  = make(chan struct{})
		killOnce sync.Once
		seq      atomic.Int64
		wg       sync.WaitGroup
	)
	for range failoverProducers {
		wg.Go(func() {
			for ctx.Err() == nil {
				id, err := q.Enqueue(ctx, seq.Add(1))
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, id)
					if len(acked) == killAfter {
						killOnce.Do(func() { close(killNow) })
					}
				case errors.Is(err, jobqueue.ErrNotDurable):
					figures.notDurable++
				case ctx.Err() == nil:
					figures.failed++
				}
				mu.Unlock()
				if err != nil {
					// Paces the producers through the outage, when
					// every call fails at once.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		})
	}
	select {
	case <-killNow:
	case <-time.After(time.Minute):
		stop()
		wg.Wait()
		t.Fatalf("%d enqueues acknowledged in a minute, want %d", len(acked), killAfter)
	}
	kill()
	stop()
	wg.Wait()

	// The client may take a moment to find the new master.
	require.Eventually(t, func() bool {
		_, err := q.Stats(context.Background())
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "Stats through the new master")
	figures.acked = len(acked)
	for _, id := range acked {
		_, err := q.Get(context.Background(), id)
		if errors.Is(err, jobqueue.ErrNotFound) {
			figures.lost++
			continue
		}
		require.NoError(t, err, "Get %s on the new master", id)
	}
	return figures
}

// durableFailover runs enqueueThroughKill with and without durability,
// each on a deployment of its own from start, logs the figures and
// requires no loss with durability.
func durableFailover(t *testing.T, start func(t *testing.T) (backend.Backend, string, func())) {
	d := jobqueue.Durability{Replicas: 1, Timeout: 2 * time.Second}
	for _, run := range []struct {
		name string
		d    jobqueue.Durability
	}{{"durable", d}, {"not-durable", jobqueue.Durability{}}} {
		t.Run(run.name, func(t *testing.T) {
			b, queue, kill := start(t)
			f := enqueueThroughKill(t, b, queue, run.d, kill)
			t.Logf("FIGURES %s: %d enqueues acknowledged (the master SIGKILLed right after the %dth), %d of them lost; "+
				"%d not confirmed durable, %d failed",
				t.Name(), f.acked, killAfter, f.lost, f.notDurable, f.failed)
			if run.d.Enabled() {
				assert.Zero(t, f.lost, "acknowledged durable enqueues lost in the failover")
			}
		})
	}
}

// SentinelDurableFailover kills the master of a Sentinel set right after
// killAfter acknowledged enqueues, with durability (one replica) and
// without: with it, the promoted replica has every acknowledged job.
func SentinelDurableFailover(t *testing.T, open SentinelOpen) {
	durableFailover(t, func(t *testing.T) (backend.Backend, string, func()) {
		s := redistest.StartSentinel(t)
		return open(t, s), QueueName(t), func() {
			old := s.KillMaster(t)
			t.Logf("killed master %s; the Sentinels promoted %s", old, s.WaitFailover(t, old))
		}
	})
}

// ClusterDurableFailover is SentinelDurableFailover on a Cluster: the
// master that serves the queue's slot is killed, and its replica takes
// over.
func ClusterDurableFailover(t *testing.T, open ClusterOpen) {
	durableFailover(t, func(t *testing.T) (backend.Backend, string, func()) {
		c := redistest.StartCluster(t)
		queue := QueueName(t)
		key := redisq.KeysFor(queue).Pending
		return open(t, c), queue, func() {
			master := c.MasterOf(t, key)
			c.Kill(t, master)
			c.WaitHealthy(t)
			t.Logf("killed master %s; %s serves the queue now", master, c.MasterOf(t, key))
		}
	})
}
