// library.go checks that the Engine loads the function library again
// wherever Redis lost it: after FUNCTION FLUSH, a restart without
// persistence, and on a Cluster master.

package redisqtest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// LibraryLost runs every Backend call on a fresh server, each right after
// a FUNCTION FLUSH, then every call again after a restart of the server,
// which keeps nothing: each must succeed, the Engine loading the library
// by itself. Last, many calls miss the library at once: one load serves
// them all.
func LibraryLost(t *testing.T, open Open) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.RequireProcess())
	b, info := open(t, srv.URL)
	admin := adminClient(t, srv.URL)
	flush := func() {
		t.Helper()
		require.NoError(t, admin.FunctionFlush(ctx).Err())
	}

	everyCall(t, b, QueueName(t), flush, false)
	require.True(t, hasLibrary(t, admin), "the library after the calls")

	srv.Kill(t)
	srv.Restart(t)
	require.False(t, hasLibrary(t, admin), "a restart without persistence keeps no library")
	everyCall(t, b, QueueName(t), func() {}, true)

	flush()
	before := loadCalls(t, info)
	q := QueueName(t)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			_, err := b.Stats(ctx, q)
			assert.NoError(t, err, "Stats after FUNCTION FLUSH")
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), loadCalls(t, info)-before, "FUNCTION LOADs for 32 calls that missed the library at once")
}

// ClusterLibraryLost flushes the function library from the master of one
// queue of a Cluster: every call on that queue loads it again. Then it
// flushes the library once more and kills that master, so its replica,
// which the flush reached too, takes over without the library: every call
// must work again, once the client has found the new master.
func ClusterLibraryLost(t *testing.T, open ClusterOpen) {
	ctx := context.Background()
	c := redistest.StartCluster(t)
	b := open(t, c)
	// Two queues on different masters: the first call, on the other
	// queue, loads the library on every master.
	queues := clusterQueuesOnMasters(t, c)
	queue, other := queues[0], queues[1]
	_, err := b.Stats(ctx, other)
	require.NoError(t, err)
	key := redisq.KeysFor(queue).Pending
	master := adminClient(t, "redis://"+c.MasterOf(t, key))
	require.True(t, hasLibrary(t, master), "the library on every master after the first call")

	require.NoError(t, master.FunctionFlush(ctx).Err())
	everyCall(t, b, queue, func() {}, false)
	require.True(t, hasLibrary(t, master), "the library on the flushed master after the calls")

	require.NoError(t, master.FunctionFlush(ctx).Err())
	c.WaitReplicated(t, key)
	old := c.MasterOf(t, key)
	c.Kill(t, old)
	c.WaitHealthy(t)
	promoted := c.MasterOf(t, key)
	t.Logf("killed master %s; %s serves the queue now", old, promoted)
	require.False(t, hasLibrary(t, adminClient(t, "redis://"+promoted)), "the promoted replica got the flush")

	everyCall(t, b, queue, func() {}, true)
	require.True(t, hasLibrary(t, adminClient(t, "redis://"+promoted)), "the library on the promoted master")
}

// everyCall takes jobs of queue through every Backend call, calling before
// ahead of each, and fails the test on any error. With repeatDropped, a
// call that fails with backend.ErrUnavailable because a restart or a
// failover dropped its connection is repeated for up to redialWithin, as
// the root Queue repeats it (every call here is safe to repeat), but never
// one that missed the library.
func everyCall(t *testing.T, b backend.Backend, queue string, before func(), repeatDropped bool) {
	t.Helper()
	ctx := context.Background()
	// Request records outlive a purge: each run has ids of its own.
	run := QueueName(t)
	keep := backend.Retention{Max: 10, TTL: time.Hour}
	var jobs []backend.ClaimedJob
	ack := func(i int) backend.Ack { return backend.Ack{ID: jobs[i].ID, Token: jobs[i].Token} }
	calls := []struct {
		name string
		call func() error
	}{
		{"Enqueue", func() error {
			var js []backend.NewJob
			for _, id := range []string{"a", "b", "c", "d"} {
				js = append(js, backend.NewJob{ID: id, Payload: []byte(`"` + id + `"`), MaxAttempts: 1})
			}
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, Jobs: js, RequestID: run + "enqueue"})
		}},
		{"Claim", func() error {
			var err error
			jobs, err = b.Claim(ctx, backend.ClaimParams{Queue: queue, Max: 3, Lease: time.Minute, RequestID: run + "claim"})
			if err == nil && len(jobs) != 3 {
				err = errors.New("claimed " + strconv.Itoa(len(jobs)) + " jobs, want 3")
			}
			return err
		}},
		{"Extend", func() error {
			errs, err := b.Extend(ctx, backend.ExtendParams{Queue: queue, Items: []backend.Ack{ack(0)}, Lease: time.Minute})
			return errors.Join(err, errors.Join(errs...))
		}},
		{"Complete", func() error {
			errs, err := b.Complete(ctx, backend.CompleteParams{Queue: queue, Retention: keep,
				Items: []backend.Completion{{Ack: ack(0), Result: []byte("1")}}})
			return errors.Join(err, errors.Join(errs...))
		}},
		{"Fail", func() error {
			errs, err := b.Fail(ctx, backend.FailParams{Queue: queue, Retention: keep,
				Items: []backend.Failure{{Ack: ack(1), Error: "boom", Dead: true}}})
			return errors.Join(err, errors.Join(errs...))
		}},
		{"Release", func() error {
			errs, err := b.Release(ctx, backend.ReleaseParams{Queue: queue, Items: []backend.Ack{ack(2)}})
			return errors.Join(err, errors.Join(errs...))
		}},
		{"Reclaim", func() error {
			_, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: queue, Max: 10, DeadRetention: keep, RequestID: run + "reclaim"})
			return err
		}},
		{"Get", func() error { _, err := b.Get(ctx, queue, "a"); return err }},
		{"Summaries", func() error {
			s, ok := b.(backend.Summarizer)
			if !ok {
				return errors.New("no backend.Summarizer")
			}
			got, err := s.Summaries(ctx, backend.SummariesParams{Queue: queue, IDs: []string{"a", "b", "c", "d"}, PreviewBytes: 2})
			if err == nil && len(got) != 4 {
				err = errors.New("summaries of " + strconv.Itoa(len(got)) + " jobs, want 4")
			}
			return err
		}},
		{"List", func() error {
			_, err := b.List(ctx, backend.ListParams{Queue: queue, State: backend.StateDead, Limit: 10})
			return err
		}},
		{"Stats", func() error { _, err := b.Stats(ctx, queue); return err }},
		{"Beat", func() error {
			return b.(backend.WorkerTracker).Beat(ctx, backend.BeatParams{Queue: queue, ID: run + "process", TTL: time.Minute})
		}},
		{"History", func() error {
			h, ok := b.(backend.Historian)
			if !ok {
				return errors.New("no backend.Historian")
			}
			_, err := h.History(ctx, backend.HistoryParams{Queue: queue, Minutes: 60})
			return err
		}},
		{"RetryDead", func() error {
			return b.RetryDead(ctx, backend.RetryDeadParams{Queue: queue, ID: "b", RequestID: run + "retry"})
		}},
		{"Delete", func() error {
			return b.Delete(ctx, backend.DeleteParams{Queue: queue, ID: "c", RequestID: run + "delete"})
		}},
		{"Purge", func() error { return b.Purge(ctx, backend.PurgeParams{Queue: queue, RequestID: run + "purge"}) }},
	}
	for _, c := range calls {
		before()
		err := c.call()
		for deadline := time.Now().Add(redialWithin); repeatDropped && errors.Is(err, backend.ErrUnavailable) &&
			!strings.Contains(err.Error(), "Function not found") && time.Now().Before(deadline); {
			t.Logf("%s: %v; repeated", c.name, err)
			time.Sleep(50 * time.Millisecond)
			err = c.call()
		}
		require.NoError(t, err, c.name)
	}
}

// redialWithin bounds how long everyCall repeats a call whose connection
// a restart or a failover dropped.
const redialWithin = 15 * time.Second

// hasLibrary reports whether the server of c has jobqueue's library.
func hasLibrary(t *testing.T, c *redis.Client) bool {
	t.Helper()
	libs, err := c.FunctionList(context.Background(), redis.FunctionListQuery{}).Result()
	require.NoError(t, err)
	for _, l := range libs {
		if l.Name == redisq.FunctionLibrary().Name {
			return true
		}
	}
	return false
}

// loadCalls returns how many FUNCTION LOADs the server of info has run.
func loadCalls(t *testing.T, info load.InfoFunc) int64 {
	t.Helper()
	s, err := info(context.Background(), "commandstats")
	require.NoError(t, err)
	for line := range strings.Lines(s) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_function|load:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			calls, err := strconv.ParseInt(n, 10, 64)
			require.NoError(t, err)
			return calls
		}
	}
	return 0
}
