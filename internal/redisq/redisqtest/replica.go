// replica.go checks that the reads (Get, Summaries, List, Stats), which run read-only
// scripts, work through a client that talks only to a replica, and that
// the writes there fail as a failed round trip.

package redisqtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/load"
)

// ReadsOnReplica puts a queue's jobs in every state through a backend on
// a master, waits until its replica has them, and reads them back through
// a backend whose client knows only the replica: Get, Summaries and List
// of every state, Stats and History must answer what they answer on the
// master. Enqueue,
// Complete and Beat there must fail with backend.ErrUnavailable (READONLY) and
// change nothing.
func ReadsOnReplica(t *testing.T, open Open) {
	ctx := context.Background()
	master := redistest.Start(t, redistest.RequireProcess())
	replica := redistest.StartReplica(t, master)
	onMaster, masterInfo := open(t, master.URL)
	onReplica, replicaInfo := open(t, replica.URL)
	assertRole(t, masterInfo, "master")
	assertRole(t, replicaInfo, "slave")

	queue := QueueName(t)
	want := map[backend.State][]string{
		backend.StateCompleted:  {"completed"},
		backend.StateDead:       {"dead"},
		backend.StateProcessing: {"processing"},
		backend.StatePending:    {"pending-1", "pending-2"},
		backend.StateScheduled:  {"scheduled"},
	}
	var jobs []backend.NewJob
	// Claims take the oldest first: these three are claimed below.
	for _, id := range []string{"completed", "dead", "processing", "pending-1", "pending-2"} {
		jobs = append(jobs, backend.NewJob{ID: id, Payload: []byte(`"` + id + `"`), MaxAttempts: 3})
	}
	jobs = append(jobs, backend.NewJob{ID: "scheduled", Payload: []byte("{}"), MaxAttempts: 3, Delay: time.Hour})
	require.NoError(t, onMaster.Enqueue(ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs, RequestID: "enqueue"}))
	claimed, err := onMaster.Claim(ctx, backend.ClaimParams{Queue: queue, Max: 3, Lease: time.Hour, RequestID: "claim"})
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	keep := backend.Retention{Max: 100, TTL: time.Hour}
	errs, err := onMaster.Complete(ctx, backend.CompleteParams{Queue: queue, Retention: keep,
		Items: []backend.Completion{{Ack: backend.Ack{ID: claimed[0].ID, Token: claimed[0].Token}, Result: []byte("42")}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	errs, err = onMaster.Fail(ctx, backend.FailParams{Queue: queue, Retention: keep,
		Items: []backend.Failure{{Ack: backend.Ack{ID: claimed[1].ID, Token: claimed[1].Token}, Error: "boom", Dead: true}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.NoError(t, onMaster.(backend.WorkerTracker).Beat(ctx, backend.BeatParams{Queue: queue, ID: "process", TTL: time.Hour}))
	replica.WaitReplicated(t)

	wantStats, err := onMaster.Stats(ctx, queue)
	require.NoError(t, err)
	stats, err := onReplica.Stats(ctx, queue)
	require.NoError(t, err, "Stats on the replica")
	// The latency grows between the two reads; the replica reads the
	// claimable-since times replicated with the jobs.
	assert.GreaterOrEqual(t, stats.Latency, wantStats.Latency, "queue latency on the replica")
	wantStats.Latency, stats.Latency = 0, 0
	assert.Equal(t, wantStats, stats, "Stats on the replica")
	assert.Equal(t, int64(2), stats.Pending, "pending jobs seen on the replica")
	assert.Equal(t, int64(1), stats.Workers, "worker processes seen on the replica")

	// Both read the last two minutes: the master's read first, so the
	// minute can only have ended before the replica's.
	hp := backend.HistoryParams{Queue: queue, Minutes: 2}
	wantHist, err := onMaster.(backend.Historian).History(ctx, hp)
	require.NoError(t, err)
	hist, err := onReplica.(backend.Historian).History(ctx, hp)
	require.NoError(t, err, "History on the replica")
	if hist[1].Minute.Equal(wantHist[1].Minute) {
		assert.Equal(t, wantHist, hist, "History on the replica")
	}
	assert.Equal(t, backend.HistoryPoint{Minute: hist[1].Minute, Enqueued: 6, Completed: 1, Failed: 1, Dead: 1},
		hist[1].Add(hist[0]), "History on the replica")

	for _, state := range backend.States {
		p := backend.ListParams{Queue: queue, State: state, Limit: 100}
		ids, err := onMaster.List(ctx, p)
		require.NoError(t, err)
		require.ElementsMatch(t, want[state], ids, "List %s on the master", state)
		got, err := onReplica.List(ctx, p)
		require.NoError(t, err, "List %s on the replica", state)
		assert.Equal(t, ids, got, "List %s on the replica", state)

		sp := backend.SummariesParams{Queue: queue, IDs: ids, PreviewBytes: 4}
		wantSums, err := onMaster.(backend.Summarizer).Summaries(ctx, sp)
		require.NoError(t, err)
		require.Len(t, wantSums, len(ids), "Summaries %s on the master", state)
		sums, err := onReplica.(backend.Summarizer).Summaries(ctx, sp)
		require.NoError(t, err, "Summaries %s on the replica", state)
		assert.Equal(t, wantSums, sums, "Summaries %s on the replica", state)
		for _, id := range ids {
			info, err := onMaster.Get(ctx, queue, id)
			require.NoError(t, err)
			require.Equal(t, state, info.State, "Get %s on the master", id)
			got, err := onReplica.Get(ctx, queue, id)
			require.NoError(t, err, "Get %s on the replica", id)
			assert.Equal(t, info, got, "Get %s on the replica", id)
		}
	}
	_, err = onReplica.Get(ctx, queue, "no-such-job")
	assert.ErrorIs(t, err, backend.ErrNotFound, "Get of an unknown job on the replica")

	writes := map[string]func() error{
		"Enqueue": func() error {
			return onReplica.Enqueue(ctx, backend.EnqueueParams{Queue: queue, RequestID: "on-replica",
				Jobs: []backend.NewJob{{ID: "on-replica", Payload: []byte("{}"), MaxAttempts: 1}}})
		},
		"Complete": func() error {
			_, err := onReplica.Complete(ctx, backend.CompleteParams{Queue: queue, Retention: keep,
				Items: []backend.Completion{{Ack: backend.Ack{ID: claimed[2].ID, Token: claimed[2].Token}}}})
			return err
		},
		"Beat": func() error {
			return onReplica.(backend.WorkerTracker).Beat(ctx, backend.BeatParams{Queue: queue, ID: "on-replica", TTL: time.Hour})
		},
	}
	for name, write := range writes {
		err := write()
		assert.ErrorIs(t, err, backend.ErrUnavailable, "%s on the replica", name)
		t.Logf("%s on the replica: %v", name, err)
	}
	stats, err = onReplica.Stats(ctx, queue)
	require.NoError(t, err)
	stats.Latency = 0
	assert.Equal(t, wantStats, stats, "the refused writes changed nothing")
}

// assertRole checks that the server behind info has the replication role
// role, so the reads really went where the test means them to.
func assertRole(t *testing.T, info load.InfoFunc, role string) {
	t.Helper()
	repl, err := info(context.Background(), "replication")
	require.NoError(t, err)
	assert.Contains(t, repl, "role:"+role, "the client should talk to a %s", role)
}
