package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Workers group pins down backend.WorkerTracker and Stats.Workers: the
// processes that beat a queue within their TTL are counted, once each,
// and only in that queue.

func beatTests() []testCase {
	return []testCase{
		{name: "CountsProcesses", run: testBeatCounts},
		{name: "SameIDCountsOnce", run: testBeatSameID},
		{name: "ZeroTTLRemoves", run: testBeatZeroTTL},
		{name: "RunsOut", run: testBeatRunsOut},
		{name: "RenewalLasts", run: testBeatRenewal},
		{name: "OwnQueueOnly", run: testBeatOwnQueue},
		{name: "PurgeForgets", run: testBeatPurge},
		{name: "Invalid", run: testBeatInvalid},
		{name: "ContextAlreadyEnded", run: testBeatEndedContext},
		{name: "RunningWorkersCounted", run: testBeatWorkers},
	}
}

// beatTTL is a beat that outlasts any test.
const beatTTL = time.Minute

// tracker returns the backend's WorkerTracker. A backend without one must
// declare the Workers capability missing, so that a wrapper that hides
// the method (an embedded backend.Backend) does not pass unnoticed.
func (f *fixture) tracker() backend.WorkerTracker {
	f.t.Helper()
	f.s.needs(f.t, Workers)
	tr, ok := f.b.(backend.WorkerTracker)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.WorkerTracker; a backend without it declares conformance.Workers in Harness.Lacks", f.b)
	}
	return tr
}

// beat beats process id on the fixture's queue.
func (f *fixture) beat(id string, ttl time.Duration) {
	f.t.Helper()
	require.NoError(f.t, f.tracker().Beat(f.ctx, backend.BeatParams{Queue: f.q, ID: id, TTL: ttl}), "beat %s for %v", id, ttl)
}

func (f *fixture) workers() int64 {
	f.t.Helper()
	return f.stats().Workers
}

// requireWorkersSoon waits until the queue counts want processes.
func (f *fixture) requireWorkersSoon(want int64, what string) {
	f.t.Helper()
	deadline := time.Now().Add(eventually)
	for got := f.workers(); got != want; got = f.workers() {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: Workers is %d after %v, want %d", what, got, eventually, want)
		}
		time.Sleep(tick)
	}
}

func testBeatCounts(t *testing.T, f *fixture) {
	require.Zero(t, f.workers(), "a queue no process beat")
	f.beat("host-a:1:x", beatTTL)
	require.Equal(t, int64(1), f.workers())
	f.beat("host-b:2:y", beatTTL)
	require.Equal(t, int64(2), f.workers())
}

func testBeatSameID(t *testing.T, f *fixture) {
	f.beat("p1", beatTTL)
	f.beat("p1", beatTTL)
	f.beat("p1", 2*beatTTL)
	require.Equal(t, int64(1), f.workers(), "one process beating three times")
}

func testBeatZeroTTL(t *testing.T, f *fixture) {
	f.beat("p1", beatTTL)
	f.beat("p2", beatTTL)
	f.beat("p1", 0)
	require.Equal(t, int64(1), f.workers(), "after p1 stopped")
	f.beat("never-beat", 0)
	require.Equal(t, int64(1), f.workers(), "after a process that never beat stopped")
	f.beat("p2", 0)
	require.Zero(t, f.workers(), "after both stopped")
	f.beat("p1", beatTTL)
	require.Equal(t, int64(1), f.workers(), "p1 beating again")
}

// testBeatRunsOut lets one of two beats run out: it is no longer counted,
// and a later beat of the other process does not bring it back.
func testBeatRunsOut(t *testing.T, f *fixture) {
	f.beat("long", beatTTL)
	f.beat("short", 50*time.Millisecond)
	f.requireWorkersSoon(1, "after the short beat ran out")
	f.beat("long", beatTTL)
	require.Equal(t, int64(1), f.workers(), "after the other process beat again")
}

// testBeatRenewal renews a short beat with a long one before it runs out:
// the process stays counted past the short TTL.
func testBeatRenewal(t *testing.T, f *fixture) {
	const short = 50 * time.Millisecond
	f.beat("p1", short)
	f.beat("p1", beatTTL)
	time.Sleep(3 * short)
	require.Equal(t, int64(1), f.workers(), "a renewed beat past its first TTL")
	// A shorter beat replaces a longer one: the TTL is from the last beat.
	f.beat("p1", short)
	f.requireWorkersSoon(0, "after the last, short, beat ran out")
}

func testBeatOwnQueue(t *testing.T, f *fixture) {
	o := f.other()
	f.beat("p1", beatTTL)
	f.beat("p2", beatTTL)
	require.Zero(t, o.workers(), "the other queue")
	o.beat("p1", beatTTL)
	require.Equal(t, int64(1), o.workers(), "the other queue, after p1 beat there")
	require.Equal(t, int64(2), f.workers(), "the first queue, after p1 beat in the other")
	o.beat("p1", 0)
	require.Equal(t, int64(2), f.workers(), "the first queue, after p1 left the other")
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: o.q}))
	require.Equal(t, int64(2), f.workers(), "the first queue, after the other was purged")
}

func testBeatPurge(t *testing.T, f *fixture) {
	f.enqueue1()
	f.beat("p1", beatTTL)
	f.beat("p2", beatTTL)
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Equal(t, backend.Stats{}, f.stats(), "a purged queue")
	f.beat("p1", beatTTL)
	require.Equal(t, int64(1), f.workers(), "a process beating after the purge")
}

func testBeatInvalid(t *testing.T, f *fixture) {
	f.beat("p1", beatTTL)
	f.beat("p2", beatTTL)
	tr := f.tracker()
	for _, c := range []struct {
		name string
		p    backend.BeatParams
		want error
	}{
		{"EmptyQueue", backend.BeatParams{Queue: "", ID: "p1", TTL: 0}, backend.ErrInvalidQueueName},
		{"BadQueue", backend.BeatParams{Queue: f.q + " b", ID: "p3", TTL: beatTTL}, backend.ErrInvalidQueueName},
		{"EmptyID", backend.BeatParams{Queue: f.q, ID: "", TTL: beatTTL}, backend.ErrInvalidArgument},
		{"IDWithSpace", backend.BeatParams{Queue: f.q, ID: "p 3", TTL: beatTTL}, backend.ErrInvalidArgument},
		{"IDTooLong", backend.BeatParams{Queue: f.q, ID: strings.Repeat("p", backend.MaxIDLen+1), TTL: beatTTL}, backend.ErrInvalidArgument},
		{"NegativeTTL", backend.BeatParams{Queue: f.q, ID: "p1", TTL: -time.Second}, backend.ErrInvalidArgument},
		{"SubMillisecondTTL", backend.BeatParams{Queue: f.q, ID: "p3", TTL: time.Microsecond}, backend.ErrInvalidArgument},
		{"TTLOverMax", backend.BeatParams{Queue: f.q, ID: "p3", TTL: backend.MaxBeatTTL + time.Millisecond}, backend.ErrInvalidArgument},
	} {
		f.unchanged(func() {
			require.ErrorIs(t, tr.Beat(f.ctx, c.p), c.want, c.name)
		})
	}
	require.Equal(t, int64(2), f.workers())
	// The longest TTL is allowed.
	f.beat("p3", backend.MaxBeatTTL)
	require.Equal(t, int64(3), f.workers())
}

func testBeatEndedContext(t *testing.T, f *fixture) {
	f.beat("p1", beatTTL)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	tr := f.tracker()
	f.unchanged(func() {
		require.ErrorIs(t, tr.Beat(ctx, backend.BeatParams{Queue: f.q, ID: "p2", TTL: beatTTL}), context.Canceled, "a new process")
		require.ErrorIs(t, tr.Beat(ctx, backend.BeatParams{Queue: f.q, ID: "p1", TTL: 0}), context.Canceled, "a process leaving")
	})
	require.Equal(t, int64(1), f.workers())
}

// testBeatWorkers runs jobqueue.Workers on the queue: each counts while it
// runs, as one process, and no longer once its Run has returned. The lease
// of a minute makes their beats outlast the test: a Worker that stops
// counting did so by its last beat.
func testBeatWorkers(t *testing.T, f *fixture) {
	f.tracker()
	q := f.queue(jobqueue.WithLease(longLease))
	idle := func(context.Context, *jobqueue.Job) (any, error) { return nil, nil }
	_, stop1 := startWorker(t, q, idle, jobqueue.WorkerOptions{Concurrency: 3})
	f.requireWorkersSoon(1, "one Worker running")
	_, stop2 := startWorker(t, q, idle, jobqueue.WorkerOptions{})
	f.requireWorkersSoon(2, "two Workers running")
	st, err := q.Stats(f.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), st.Workers, "jobqueue.Stats")
	stop1()
	f.requireWorkersSoon(1, "after one Worker's Run returned")
	stop2()
	f.requireWorkersSoon(0, "after both Workers' Run returned")
}
