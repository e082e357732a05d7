package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// population is a queue with a job in every state.
type population struct {
	ids []string
	// claimed is the processing job's claim.
	claimed backend.ClaimedJob
}

// populate puts jobs in every state: two pending, one scheduled, one
// processing, one completed and one failed.
func (f *fixture) populate() population {
	f.t.Helper()
	all := f.enqueueN(5)
	all = append(all, f.enqueue1(delayed(longLease)))
	cs := f.claimN(3, longLease)
	f.complete(cs[0])
	f.fail(dead, cs[1])
	return population{ids: all, claimed: cs[2]}
}

func isolationTests() []testCase {
	return []testCase{
		{name: "QueuesDoNotShareJobs", run: testIsolationJobs},
		{name: "PurgeOnlyOwnQueue", run: testPurgeOwnQueue},
		{name: "PurgeEmptiesQueue", run: testPurgeEmpties},
		{name: "AckAfterPurge", run: testPurgeAck},
		{name: "UsableAfterPurge", run: testPurgeUsable},
		{name: "WaitingClaimOutlivesPurge", run: testPurgeWaiting},
		{name: "PurgeUnusedQueue", run: testPurgeUnused},
	}
}

func testIsolationJobs(t *testing.T, f *fixture) {
	g := f.other()
	p := g.populate()
	expired := g.claimN(1, shortLease)[0]
	waitExpired(expired)
	f.unchanged(func() {
		f.requireNoneClaimable()
		require.Zero(t, f.reclaim(10).Len())
		for _, op := range allAckOps {
			require.ErrorIs(t, op.one(f, ack(p.claimed)), backend.ErrNotFound, "%s in the wrong queue", op.name)
		}
		for _, id := range p.ids {
			f.requireGone(id)
		}
	}, p.ids...)
	require.Equal(t, backend.Stats{}, f.stats(), "the stats of a queue never used")
	for _, st := range backend.States {
		require.Empty(t, f.list(st), "%s in a queue never used", st)
	}
	g.requireState(p.claimed.ID, backend.StateProcessing)
	g.requireState(expired.ID, backend.StateProcessing)
}

func testPurgeOwnQueue(t *testing.T, f *fixture) {
	f.populate()
	g := f.other()
	p := g.populate()
	g.unchanged(func() {
		require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	}, p.ids...)
}

func testPurgeEmpties(t *testing.T, f *fixture) {
	p := f.populate()
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, backend.Stats{}, f.stats(), "stats after purge")
	for _, st := range backend.States {
		require.Empty(t, f.list(st), "%s after purge", st)
	}
	for _, id := range p.ids {
		f.requireGone(id)
	}
	f.requireNoneClaimable()
}

func testPurgeAck(t *testing.T, f *fixture) {
	p := f.populate()
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	for _, op := range allAckOps {
		require.ErrorIs(t, op.one(f, ack(p.claimed)), backend.ErrNotFound, "%s after purge", op.name)
	}
	require.Equal(t, backend.Stats{}, f.stats(), "an ack after purge left something behind")
}

func testPurgeUsable(t *testing.T, f *fixture) {
	p := f.populate()
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	again := backend.NewJob{ID: p.ids[0], Payload: []byte(`"again"`), MaxAttempts: 1}
	f.enqueueIn(f.q, again)
	c := f.claimID(again.ID, longLease)
	require.Equal(t, 1, c.Attempts)
	require.Equal(t, again.Payload, c.Payload)
	f.complete(c)
	st := f.stats()
	require.Equal(t, int64(1), st.EnqueuedTotal)
	require.Equal(t, int64(1), st.CompletedTotal)
}

func testPurgeUnused(t *testing.T, f *fixture) {
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, backend.Stats{}, f.stats())
}

// testPurgeWaiting purges a queue while a claim waits on it: the claim
// must still get a job enqueued after the purge.
func testPurgeWaiting(t *testing.T, f *fixture) {
	f.populate()
	f.claimWait(10, longLease, 0) // leaves nothing pending
	ch := f.claimAsync(f.ctx, f.claimParams(1, longLease, 10*time.Second))
	requireBlocked(t, ch)
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	id := f.enqueue1()
	r := receive(t, ch)
	require.NoError(t, r.err)
	require.Equal(t, []string{id}, ids(r.jobs), "the claim waiting across a purge")
}
