package conformance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// history is one way for jobs to finish, and the history that keeps them.
type history struct {
	name  string
	state backend.State
	depth func(backend.Stats) int64
	total func(backend.Stats) int64
	// finish makes n new jobs finish one after another under retention r
	// and returns their ids in the order they finished.
	finish func(f *fixture, n int, r backend.Retention) []string
}

var histories = []history{
	{
		name: "Completed", state: backend.StateCompleted,
		depth: func(s backend.Stats) int64 { return s.Completed },
		total: func(s backend.Stats) int64 { return s.CompletedTotal },
		finish: func(f *fixture, n int, r backend.Retention) []string {
			return f.finishEach(n, func(c backend.ClaimedJob) ([]error, error) {
				return f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c)}}, Retention: r})
			})
		},
	},
	{
		name: "Dead", state: backend.StateDead,
		depth: func(s backend.Stats) int64 { return s.Dead },
		total: func(s backend.Stats) int64 { return s.DeadTotal },
		finish: func(f *fixture, n int, r backend.Retention) []string {
			return f.finishEach(n, func(c backend.ClaimedJob) ([]error, error) {
				return f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: []backend.Failure{{Ack: ack(c), Error: dead.err, Dead: true}}, Retention: r})
			})
		},
	},
	{
		name: "ReclaimedDead", state: backend.StateDead,
		depth:  func(s backend.Stats) int64 { return s.Dead },
		total:  func(s backend.Stats) int64 { return s.DeadTotal },
		finish: finishByReclaim,
	},
}

// finishEach claims n new jobs one at a time and ends each with end.
func (f *fixture) finishEach(n int, end func(backend.ClaimedJob) ([]error, error)) []string {
	f.t.Helper()
	all := f.enqueueN(n)
	for _, id := range all {
		errs, err := end(f.claimID(id, longLease))
		requireAllOK(f.t, 1, errs, err)
	}
	return all
}

// finishByReclaim lets the leases of n one-attempt jobs run out, in order,
// and dead-letters them one per Reclaim.
func finishByReclaim(f *fixture, n int, r backend.Retention) []string {
	f.t.Helper()
	all := f.enqueueN(n, maxAttempts(1))
	claimed := make([]backend.ClaimedJob, n)
	for i, id := range all {
		claimed[i] = f.claimID(id, 30*time.Millisecond+time.Duration(i)*5*time.Millisecond)
	}
	waitExpired(claimed...)
	for _, id := range all {
		res, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: 1, DeadRetention: r})
		require.NoError(f.t, err)
		require.Equal(f.t, []string{id}, res.Dead)
	}
	return all
}

func retentionTests() []testCase {
	var cases []testCase
	for _, h := range histories {
		cases = append(cases,
			testCase{name: h.name + "/Capped", run: func(t *testing.T, f *fixture) { testRetentionCapped(t, f, h) }},
			testCase{name: h.name + "/TTL", run: func(t *testing.T, f *fixture) { testRetentionTTL(t, f, h) }},
			testCase{name: h.name + "/MaxZero", run: func(t *testing.T, f *fixture) {
				testRetentionNone(t, f, h, backend.Retention{Max: 0, TTL: time.Hour})
			}},
			testCase{name: h.name + "/TTLZero", run: func(t *testing.T, f *fixture) {
				testRetentionNone(t, f, h, backend.Retention{Max: 10, TTL: 0})
			}},
		)
	}
	return cases
}

func testRetentionCapped(t *testing.T, f *fixture, h history) {
	all := h.finish(f, 5, backend.Retention{Max: 3, TTL: time.Hour})
	kept := reversed(all)[:3]
	require.Equal(t, kept, f.list(h.state), "the most recent first, trimmed to Max")
	for _, id := range kept {
		f.requireState(id, h.state)
	}
	for _, id := range all[:2] {
		f.requireGone(id)
	}
	st := f.stats()
	require.Equal(t, int64(3), h.depth(st))
	require.Equal(t, int64(5), h.total(st), "trimming keeps the counters")
}

func testRetentionTTL(t *testing.T, f *fixture, h history) {
	const ttl = 200 * time.Millisecond
	id := h.finish(f, 1, backend.Retention{Max: 10, TTL: ttl})[0]
	f.requireState(id, h.state)
	require.Eventually(t, func() bool {
		_, err := f.b.Get(f.ctx, f.q, id)
		return err != nil
	}, eventually, tick, "the record outlived its TTL")
	f.requireGone(id)
	require.Equal(t, int64(1), h.total(f.stats()))
}

func testRetentionNone(t *testing.T, f *fixture, h history, r backend.Retention) {
	id := h.finish(f, 1, r)[0]
	f.requireGone(id)
	require.Empty(t, f.list(h.state))
	st := f.stats()
	require.Equal(t, int64(0), h.depth(st))
	require.Equal(t, int64(1), h.total(st))
}
