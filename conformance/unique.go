package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Unique group pins down backend.Unique: a job holds its unique key for
// its window, whatever becomes of its record, across every process that
// uses the store; a held key refuses the whole call and names its holder;
// only the finished states the job names, a Delete or a Purge give the key
// up early, and only while the job still holds it.

func uniqueTests() []testCase {
	return []testCase{
		{name: "DuplicateRefusedWithHolder", run: testUniqueDuplicate},
		{name: "AcceptedAfterWindow", run: testUniqueAfterWindow},
		{name: "AcrossBackends", run: testUniqueAcrossBackends},
		{name: "ConcurrentCallsKeepTheirOwnOutcome", run: testUniqueConcurrent},
		{name: "ReleasedOnFinishWhenAsked", run: testUniqueRelease},
		{name: "HeldWhileNotFinished", run: testUniqueHeldUntilFinished},
		{name: "HistoryEvictionDoesNotEndWindow", run: needing(GlobalOrder, testUniqueEviction)},
		{name: "ReleasesOnlyItsOwnHold", run: testUniqueOwnHold},
		{name: "BatchAllOrNothing", run: needing(AtomicBatches, testUniqueBatch)},
		{name: "QueuesAreSeparate", run: testUniqueQueues},
		{name: "RepeatOfRefusedCallRunsAgain", run: testUniqueRepeatRefused},
		{name: "Validation", run: testUniqueValidation},
		{name: "Queue/Enqueue", run: testUniqueQueueEnqueue},
		{name: "Queue/UntilFinished", run: testUniqueQueueUntilFinished},
		{name: "Queue/WithIDAfterEviction", run: needing(GlobalOrder, testUniqueWithIDAfterEviction)},
		{name: "Queue/Batch", run: needing(AtomicBatches, testUniqueQueueBatch)},
		{name: "Queue/ByKind", run: needing(GlobalOrder, testUniqueQueueByKind)},
	}
}

// uniqueKey is a job modifier: the job holds key for window, released on
// the finished states given.
func uniqueKey(key string, window time.Duration, on ...backend.State) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Unique = backend.Unique{Key: key, Window: window, ReleaseOn: on} }
}

// enqueueErr enqueues jobs under a request id of their own and returns the
// error.
func (f *fixture) enqueueErr(jobs ...backend.NewJob) error {
	return f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: jobs, RequestID: newRequestID()})
}

// requireDuplicate requires err to be a *backend.DuplicateError of the
// test's queue listing want.
func (f *fixture) requireDuplicate(err error, want ...backend.Duplicate) {
	f.t.Helper()
	require.ErrorIs(f.t, err, backend.ErrDuplicate)
	var de *backend.DuplicateError
	require.True(f.t, errors.As(err, &de), "the error of a duplicate is a *backend.DuplicateError: %v", err)
	require.Equal(f.t, f.q, de.Queue, "DuplicateError.Queue")
	require.Equal(f.t, want, de.Duplicates, "DuplicateError.Duplicates")
}

// requireHeld requires key to be held by holder: an enqueue of a new job
// with it is refused, naming holder, and stores nothing.
func (f *fixture) requireHeld(key, holder string) {
	f.t.Helper()
	j := f.job(uniqueKey(key, longLease))
	f.unchanged(func() {
		f.requireDuplicate(f.enqueueErr(j), backend.Duplicate{Index: 0, Key: key, ExistingID: holder})
	}, j.ID, holder)
}

// requireFree requires key to be free: an enqueue of a new job with it
// succeeds. The job then holds it for longLease.
func (f *fixture) requireFree(key string) string {
	f.t.Helper()
	j := f.job(uniqueKey(key, longLease))
	require.NoError(f.t, f.enqueueErr(j), "an enqueue with the free key %q", key)
	return j.ID
}

func testUniqueDuplicate(t *testing.T, f *fixture) {
	first := f.enqueue1(uniqueKey("k", longLease))
	f.requireHeld("k", first)
	// A job without a key, and one with another key, are not held back.
	f.enqueue1()
	f.requireFree("other")
	require.Equal(t, int64(3), f.stats().EnqueuedTotal)
}

// testUniqueAfterWindow: the key is held at once and free once its window
// has run out on the backend's clock; the wait is on that condition.
func testUniqueAfterWindow(t *testing.T, f *fixture) {
	const window = 300 * time.Millisecond
	first := f.enqueue1(uniqueKey("k", window))
	f.requireHeld("k", first)
	deadline := time.Now().Add(window + eventually)
	for {
		j := f.job(uniqueKey("k", longLease))
		err := f.enqueueErr(j)
		if err == nil {
			break
		}
		f.requireDuplicate(err, backend.Duplicate{Key: "k", ExistingID: first})
		require.True(t, time.Now().Before(deadline), "the key of a %v window is still held after %v", window, window+eventually)
		time.Sleep(tick)
	}
	f.requireState(first, backend.StatePending)
}

// testUniqueAcrossBackends: two backend values on one store (two processes)
// see each other's keys.
func testUniqueAcrossBackends(t *testing.T, f *fixture) {
	g := *f
	g.b, g.prefix = f.s.h.NewBackend(t), "process2"
	first := f.enqueue1(uniqueKey("k", longLease))
	g.requireHeld("k", first)
	second := g.enqueue1(uniqueKey("k2", longLease))
	f.requireHeld("k2", second)
}

// testUniqueConcurrent races many enqueues of one key, mixed with enqueues
// of keys of their own, from two backend values: exactly one of the first
// is stored, every other names it, and the others are all stored. A store
// that writes concurrent calls together must still keep each call's
// outcome its own.
func testUniqueConcurrent(t *testing.T, f *fixture) {
	const n = 40
	backends := []backend.Backend{f.b, f.s.h.NewBackend(t)}
	jobs := make([]backend.NewJob, 2*n)
	for i := range n {
		jobs[2*i] = f.job(uniqueKey("hot", longLease))
		jobs[2*i+1] = f.job(uniqueKey(fmt.Sprintf("own-%d", i), longLease))
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			errs[i] = backends[i%2].Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{j}, RequestID: newRequestID()})
		})
	}
	wg.Wait()
	winner := ""
	for i := 0; i < len(jobs); i += 2 {
		if errs[i] == nil {
			require.Empty(t, winner, "two jobs stored with one unique key: %s and %s", winner, jobs[i].ID)
			winner = jobs[i].ID
		}
	}
	require.NotEmpty(t, winner, "no job with the contended key was stored")
	for i := range jobs {
		if i%2 == 1 {
			require.NoError(t, errs[i], "a job with a key of its own, enqueued alongside duplicates")
			f.requireState(jobs[i].ID, backend.StatePending)
		} else if jobs[i].ID != winner {
			f.requireDuplicate(errs[i], backend.Duplicate{Key: "hot", ExistingID: winner})
			f.requireGone(jobs[i].ID)
		}
	}
	require.Equal(t, int64(n+1), f.stats().EnqueuedTotal)
}

// finish is one way for a job to leave the queue's live states; state is
// the finished state it enters, or "" for a Delete or a Purge.
type finish struct {
	name  string
	state backend.State
	// prep stores the job with the modifier given, do finishes it.
	prep func(f *fixture, mod func(*backend.NewJob)) string
	do   func(f *fixture, id string)
}

var finishes = []finish{
	{"Complete", backend.StateCompleted, enqueueOne, func(f *fixture, id string) { f.complete(f.claimID(id, longLease)) }},
	{"FailDead", backend.StateDead, enqueueOne, func(f *fixture, id string) { f.fail(dead, f.claimID(id, longLease)) }},
	{"ReclaimDead", backend.StateDead,
		func(f *fixture, mod func(*backend.NewJob)) string { return f.enqueue1(mod, maxAttempts(1)) },
		func(f *fixture, id string) {
			waitExpired(f.claimID(id, shortLease))
			require.Equal(f.t, []string{id}, f.reclaim(10).Dead)
		}},
	{"ExpiredAtClaim", backend.StateDead,
		func(f *fixture, mod func(*backend.NewJob)) string { return f.enqueue1(mod, expiring(shortExpiry)) },
		func(f *fixture, id string) {
			f.waitJobsExpired(id)
			require.Empty(f.t, f.claimWait(1, longLease, 0))
		}},
	{"Delete", "", enqueueOne, func(f *fixture, id string) {
		require.NoError(f.t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id}))
	}},
	{"Purge", "", enqueueOne, func(f *fixture, _ string) {
		require.NoError(f.t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	}},
	// A cancelled job never runs: it gives up its key as a deleted one
	// does.
	{"CancelPending", "", enqueueOne, func(f *fixture, id string) { f.cancel(id) }},
	{"CancelRunning", "", enqueueOne, func(f *fixture, id string) {
		c := f.claimID(id, longLease)
		f.cancel(id)
		require.ErrorIs(f.t, completeOp.one(f, ack(c)), backend.ErrCancelled, "the outcome of a cancelled job")
		f.requireState(id, backend.StateCancelled)
	}},
}

func enqueueOne(f *fixture, mod func(*backend.NewJob)) string { return f.enqueue1(mod) }

// testUniqueRelease finishes a job each way under each choice of release:
// the key is free afterwards exactly when the job's finished state is
// listed, or when it was deleted, purged or cancelled and any state is
// listed.
func testUniqueRelease(t *testing.T, f *fixture) {
	ons := [][]backend.State{nil, {backend.StateCompleted}, {backend.StateDead}, {backend.StateCompleted, backend.StateDead}}
	for _, fin := range finishes {
		for _, on := range ons {
			name := "WindowOnly"
			if on != nil {
				name = "On"
				for _, s := range on {
					name += "_" + string(s)
				}
			}
			t.Run(fin.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				g := f.s.fixture(t)
				id := fin.prep(g, uniqueKey("k", longLease, on...))
				fin.do(g, id)
				u := backend.Unique{Key: "k", Window: longLease, ReleaseOn: on}
				if u.Releases(fin.state) || fin.state == "" && len(on) > 0 {
					g.requireFree("k")
				} else {
					g.requireHeld("k", id)
				}
			})
		}
	}
}

// testUniqueHeldUntilFinished: a job that goes back to pending or
// scheduled, or is claimed, keeps its key, even one that it gives up on
// every finished state.
func testUniqueHeldUntilFinished(t *testing.T, f *fixture) {
	both := uniqueKey("k", longLease, backend.StateCompleted, backend.StateDead)
	id := f.enqueue1(both)
	f.requireHeld("k", id)
	f.fail(retryNow, f.claimID(id, longLease))
	f.requireHeld("k", id)
	f.fail(snoozeFor(0), f.claimID(id, longLease))
	f.requireHeld("k", id)
	c := f.claimID(id, longLease)
	errs, err := f.b.Release(f.ctx, backend.ReleaseParams{Queue: f.q, Items: acks(c)})
	requireAllOK(t, 1, errs, err)
	f.requireHeld("k", id)
	waitExpired(f.claimID(id, shortLease))
	require.Equal(t, []string{id}, f.reclaim(10).Requeued)
	f.requireHeld("k", id)
	f.fail(retryAfter(longLease), f.claimID(id, longLease))
	f.requireState(id, backend.StateScheduled)
	f.requireHeld("k", id)
}

// testUniqueEviction: a job trimmed out of its history (its record gone)
// still holds its key until the window ends; only its id is free again.
func testUniqueEviction(t *testing.T, f *fixture) {
	id := f.enqueue1(uniqueKey("k", longLease))
	one := backend.Retention{Max: 1, TTL: time.Hour}
	complete := func(id string) {
		errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(f.claimID(id, longLease))}}, Retention: one})
		requireAllOK(t, 1, errs, err)
	}
	complete(id)
	complete(f.enqueue1())
	f.requireGone(id)
	f.requireHeld("k", id)
	// The id itself is free: an enqueue refuses an id only while its
	// record exists.
	require.NoError(t, f.enqueueErr(backend.NewJob{ID: id, Payload: []byte(`{}`), MaxAttempts: 1}))
}

// testUniqueOwnHold: a job whose window ended while it ran must not give
// up the key that another job holds since.
func testUniqueOwnHold(t *testing.T, f *fixture) {
	const window = 200 * time.Millisecond
	both := []backend.State{backend.StateCompleted, backend.StateDead}
	first := f.enqueue1(uniqueKey("k", window, both...))
	c := f.claimID(first, longLease)
	var second string
	deadline := time.Now().Add(window + eventually)
	for second == "" {
		j := f.job(uniqueKey("k", longLease, both...))
		if err := f.enqueueErr(j); err == nil {
			second = j.ID
		} else {
			f.requireDuplicate(err, backend.Duplicate{Key: "k", ExistingID: first})
			require.True(t, time.Now().Before(deadline), "the key of a %v window is still held", window)
			time.Sleep(tick)
		}
	}
	f.complete(c)
	f.requireHeld("k", second)
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: first}))
	f.requireHeld("k", second)
}

// testUniqueBatch: one held key refuses the whole call, which lists every
// held key and takes none of its free ones.
func testUniqueBatch(t *testing.T, f *fixture) {
	a := f.enqueue1(uniqueKey("a", longLease))
	b := f.enqueue1(uniqueKey("b", longLease))
	batch := []backend.NewJob{
		f.job(uniqueKey("free", longLease)),
		f.job(uniqueKey("b", longLease)),
		f.job(),
		f.job(uniqueKey("a", longLease)),
	}
	f.unchanged(func() {
		f.requireDuplicate(f.enqueueErr(batch...),
			backend.Duplicate{Index: 1, Key: "b", ExistingID: b},
			backend.Duplicate{Index: 3, Key: "a", ExistingID: a})
	}, batch[0].ID, batch[1].ID, batch[2].ID, batch[3].ID)
	f.requireFree("free")

	// An id that exists refuses the call as before, and takes no key.
	exists := f.job(uniqueKey("x", longLease))
	f.unchanged(func() {
		require.ErrorIs(t, f.enqueueErr(exists, backend.NewJob{ID: a, MaxAttempts: 1}), backend.ErrJobExists)
	}, exists.ID)
	f.requireFree("x")

	// Keys of their own, in one call, are all taken.
	ok := []backend.NewJob{f.job(uniqueKey("p", longLease)), f.job(uniqueKey("q", longLease))}
	require.NoError(t, f.enqueueErr(ok...))
	f.requireHeld("p", ok[0].ID)
	f.requireHeld("q", ok[1].ID)
}

// testUniqueQueues: a key is its queue's.
func testUniqueQueues(t *testing.T, f *fixture) {
	o := f.other()
	id := f.enqueue1(uniqueKey("k", longLease))
	o.requireFree("k")
	f.requireHeld("k", id)
}

// testUniqueRepeatRefused: a call refused for a held key left no record,
// so its repeat, once the key is free, is a new call and stores the job.
func testUniqueRepeatRefused(t *testing.T, f *fixture) {
	holder := f.enqueue1(uniqueKey("k", longLease, backend.StateCompleted))
	p := backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{f.job(uniqueKey("k", longLease))}, RequestID: newRequestID()}
	f.requireDuplicate(f.b.Enqueue(f.ctx, p), backend.Duplicate{Key: "k", ExistingID: holder})
	f.complete(f.claimID(holder, longLease))
	require.NoError(t, f.b.Enqueue(f.ctx, p), "the repeat of an enqueue refused for a held key")
	f.requireHeld("k", p.Jobs[0].ID)
	require.NoError(t, f.b.Enqueue(f.ctx, p), "the repeat of an enqueue that stored its job")
	f.requireHeld("k", p.Jobs[0].ID)
}

func testUniqueValidation(t *testing.T, f *fixture) {
	bad := map[string]backend.Unique{
		"EmptyKeyWithWindow": {Window: time.Second},
		"SpaceInKey":         {Key: "a b", Window: time.Second},
		"NonASCIIKey":        {Key: "clé", Window: time.Second},
		"LongKey":            {Key: strings.Repeat("k", backend.MaxUniqueKeyLen+1), Window: time.Second},
		"NoWindow":           {Key: "k"},
		"SubMillisecond":     {Key: "k", Window: time.Microsecond},
		"NegativeWindow":     {Key: "k", Window: -time.Second},
		"ReleaseOnPending":   {Key: "k", Window: time.Second, ReleaseOn: []backend.State{backend.StatePending}},
		"ReleaseOnUnknown":   {Key: "k", Window: time.Second, ReleaseOn: []backend.State{"gone"}},
		"ReleaseTwice":       {Key: "k", Window: time.Second, ReleaseOn: []backend.State{backend.StateDead, backend.StateDead}},
	}
	for name, u := range bad {
		j := f.job()
		j.Unique = u
		f.unchanged(func() {
			require.ErrorIs(t, f.enqueueErr(j), backend.ErrInvalidArgument, name)
		}, j.ID)
	}
	twice := []backend.NewJob{f.job(uniqueKey("k", time.Second)), f.job(uniqueKey("k", time.Second))}
	f.unchanged(func() {
		require.ErrorIs(t, f.enqueueErr(twice...), backend.ErrInvalidArgument, "one key twice in a call")
	}, twice[0].ID, twice[1].ID)
	f.requireFree("k")
	longest := strings.Repeat("~", backend.MaxUniqueKeyLen)
	f.requireFree(longest)
	f.requireHeld(longest, f.allIDs()[f.seq-1])
}

// testUniqueQueueEnqueue: Queue.Enqueue of a duplicate returns the
// holder's id with an error matching ErrDuplicate, from another Queue
// value as well.
func testUniqueQueueEnqueue(t *testing.T, f *fixture) {
	q1, q2 := f.queue(), f.queue()
	id, err := q1.Enqueue(f.ctx, email{To: "a"}, jobqueue.Unique("welcome:a", longLease))
	require.NoError(t, err)
	again, err := q2.Enqueue(f.ctx, email{To: "a"}, jobqueue.Unique("welcome:a", longLease))
	require.ErrorIs(t, err, jobqueue.ErrDuplicate)
	require.Equal(t, id, again, "the id Enqueue returns with ErrDuplicate")
	other, err := q2.Enqueue(f.ctx, email{To: "b"}, jobqueue.Unique("welcome:b", longLease))
	require.NoError(t, err)
	require.NotEqual(t, id, other)
	require.Equal(t, int64(2), f.stats().EnqueuedTotal)
}

// testUniqueQueueUntilFinished maps UntilFinished and ByState onto the
// release of the key.
func testUniqueQueueUntilFinished(t *testing.T, f *fixture) {
	finished := func(key string, opts ...jobqueue.UniqueOption) (string, error) {
		g := f.s.fixture(t)
		q := g.queue()
		id, err := q.Enqueue(g.ctx, email{To: key}, jobqueue.Unique(key, longLease, opts...))
		require.NoError(t, err)
		g.complete(g.claimID(id, longLease))
		return q.Enqueue(g.ctx, email{To: key}, jobqueue.Unique(key, longLease, opts...))
	}
	_, err := finished("until", jobqueue.UntilFinished())
	require.NoError(t, err, "UntilFinished: a completed job holds no key")
	_, err = finished("window")
	require.ErrorIs(t, err, jobqueue.ErrDuplicate, "by default a completed job holds its key for the window")
	_, err = finished("keep-completed", jobqueue.ByState(backend.StatePending, backend.StateScheduled, backend.StateProcessing, backend.StateCompleted))
	require.ErrorIs(t, err, jobqueue.ErrDuplicate, "ByState listing completed")
	_, err = finished("keep-dead", jobqueue.ByState(backend.StatePending, backend.StateScheduled, backend.StateProcessing, backend.StateDead))
	require.NoError(t, err, "ByState not listing completed")
}

// testUniqueWithIDAfterEviction pins down what WithID guarantees: an id is
// refused while the queue holds its record, and accepted again once the
// completed history has trimmed it away; Unique with the same key keeps
// refusing it for its window.
func testUniqueWithIDAfterEviction(t *testing.T, f *fixture) {
	q := f.queue(jobqueue.WithCompletedRetention(1, time.Hour))
	id, err := q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("order-1"), jobqueue.Unique("order-1", longLease))
	require.NoError(t, err)
	_, err = q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("order-1"))
	require.ErrorIs(t, err, jobqueue.ErrJobExists, "an id the queue holds")
	work := func() {
		jobs, err := q.Claim(f.ctx, 1, 0)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		require.NoError(t, jobs[0].Complete(f.ctx, nil))
	}
	work()
	_, err = q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("order-1"))
	require.ErrorIs(t, err, jobqueue.ErrJobExists, "an id whose completed record is kept")
	_, err = q.Enqueue(f.ctx, email{To: "b"})
	require.NoError(t, err)
	work() // the history keeps 1: order-1 is trimmed away
	f.requireGone(id)
	again, err := q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("order-1"), jobqueue.Unique("order-1", longLease))
	require.ErrorIs(t, err, jobqueue.ErrDuplicate, "Unique outlives the record")
	require.Equal(t, id, again)
	_, err = q.Enqueue(f.ctx, email{To: "a"}, jobqueue.WithID("order-1"))
	require.NoError(t, err, "WithID alone: the id is free once its record is gone")
}

// testUniqueQueueBatch: the jobs of an EnqueueBatch carry ids and keys of
// their own (Item); one held key stores none of them, and the error names
// it by its index in the batch.
func testUniqueQueueBatch(t *testing.T, f *fixture) {
	q := f.queue()
	held, err := q.Enqueue(f.ctx, email{To: "held"}, jobqueue.Unique("held", longLease))
	require.NoError(t, err)
	batch := []any{
		jobqueue.Item(email{To: "a"}, jobqueue.WithID("a"), jobqueue.Unique("a", longLease)),
		email{To: "plain"},
		jobqueue.Item(email{To: "held"}, jobqueue.Unique("held", longLease)),
	}
	ids, err := q.EnqueueBatch(f.ctx, batch)
	require.Nil(t, ids)
	var de *jobqueue.DuplicateError
	require.ErrorAs(t, err, &de)
	require.Equal(t, []jobqueue.Duplicate{{Index: 2, Key: "held", ExistingID: held}}, de.Duplicates)
	require.Equal(t, int64(1), f.stats().EnqueuedTotal, "a batch with a held key stores nothing")

	ids, err = q.EnqueueBatch(f.ctx, batch[:2])
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.Equal(t, "a", ids[0])
	f.requireHeld("a", "a")
	_, err = q.EnqueueBatch(f.ctx, []any{jobqueue.Item(1, jobqueue.WithID("x")), jobqueue.Item(2, jobqueue.WithID("x"))})
	require.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "one id twice in a batch")
	_, err = q.EnqueueBatch(f.ctx, []any{jobqueue.Item(1, jobqueue.Unique("k", longLease)), jobqueue.Item(2, jobqueue.Unique("k", longLease))})
	require.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "one key twice in a batch")
}

// digest is a kind whose jobs are unique by their arguments, until they
// finish.
type digest struct{ User string }

func (digest) Kind() string { return "digest" }

func (digest) UniqueOpts() jobqueue.UniqueOpts {
	return jobqueue.UniqueOpts{ByArgs: true, Window: longLease, ByState: []jobqueue.State{
		backend.StatePending, backend.StateScheduled, backend.StateProcessing}}
}

// testUniqueQueueByKind: a UniqueArgs payload makes every enqueue of its
// kind unique by its arguments, across Queue values, in batches too.
func testUniqueQueueByKind(t *testing.T, f *fixture) {
	q1, q2 := f.queue(), f.queue()
	ada, err := q1.Enqueue(f.ctx, digest{User: "ada"})
	require.NoError(t, err)
	again, err := q2.Enqueue(f.ctx, json.RawMessage(`{ "User" : "ada" }`), jobqueue.Kind("digest"))
	require.NoError(t, err, "a raw payload is no UniqueArgs: only the Unique option or the type makes a job unique")
	f.requireState(again, backend.StatePending)
	dup, err := q2.Enqueue(f.ctx, digest{User: "ada"})
	require.ErrorIs(t, err, jobqueue.ErrDuplicate)
	require.Equal(t, ada, dup)
	ids, err := q2.EnqueueBatch(f.ctx, []any{digest{User: "bob"}, digest{User: "ada"}})
	require.Nil(t, ids)
	var de *jobqueue.DuplicateError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Duplicates, 1)
	require.Equal(t, 1, de.Duplicates[0].Index)
	require.Equal(t, ada, de.Duplicates[0].ExistingID)
	// The option overrides the kind's key.
	_, err = q2.Enqueue(f.ctx, digest{User: "ada"}, jobqueue.Unique("own", longLease))
	require.NoError(t, err)
	// Until it finishes: once done, the same arguments are accepted.
	f.complete(f.claimID(ada, longLease))
	_, err = q1.Enqueue(f.ctx, digest{User: "ada"})
	require.NoError(t, err)
}
