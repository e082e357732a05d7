package conformance

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The Registry group pins down backend.QueueRegistry: the list of the
// queues in use, apart from every queue. The registry is one for the
// whole store, and the suite's tests run in parallel on it, so each test
// registers only names that start with its own queue's and reads only
// those back.

func registryTests() []testCase {
	return []testCase{
		{name: "RegisterLists", run: testRegistryLists},
		{name: "SortedByName", run: testRegistrySorted},
		{name: "LastSeenMovesForward", run: testRegistryLastSeen},
		{name: "ForgetChangesNothingElse", run: testRegistryForget},
		{name: "PurgeKeepsRegistration", run: testRegistryPurge},
		{name: "Invalid", run: testRegistryInvalid},
		{name: "ContextAlreadyEnded", run: testRegistryEndedContext},
		{name: "ManyQueues", run: testRegistryMany},
		{name: "EnqueueAndWorkerRegister", run: testRegistryQueue},
	}
}

// registry returns the backend's QueueRegistry. A backend without one
// must declare the Registry capability missing, so that a wrapper that
// hides the methods (an embedded backend.Backend) does not pass
// unnoticed.
func (f *fixture) registry() backend.QueueRegistry {
	f.t.Helper()
	f.s.needs(f.t, Registry)
	r, ok := f.b.(backend.QueueRegistry)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.QueueRegistry (a backend without a registry of queues declares %q in Harness.Lacks)", f.b, Registry)
	}
	return r
}

// register registers queue, and requires its LastSeen to be the time of
// the call on the backend's clock, which is the machine's.
func (f *fixture) register(queue string) backend.QueueEntry {
	f.t.Helper()
	before := time.Now()
	require.NoError(f.t, f.registry().RegisterQueue(f.ctx, queue), "register %s", queue)
	after := time.Now()
	e, ok := f.registeredOne(queue)
	require.True(f.t, ok, "%s is not listed after its registration", queue)
	require.False(f.t, e.LastSeen.Before(before.Truncate(time.Millisecond).Add(-clockSlack)) || e.LastSeen.After(after.Add(clockSlack)),
		"LastSeen of %s is %v, want the time of the registration, between %v and %v", queue, e.LastSeen, before, after)
	return e
}

// registered returns the registered queues whose names start with the
// test's queue name, requiring the whole list to be sorted by name.
func (f *fixture) registered() []backend.QueueEntry {
	f.t.Helper()
	all, err := f.registry().Queues(f.ctx)
	require.NoError(f.t, err, "Queues")
	require.True(f.t, slices.IsSortedFunc(all, func(a, b backend.QueueEntry) int { return cmp.Compare(a.Name, b.Name) }),
		"Queues is not sorted by name: %v", all)
	var mine []backend.QueueEntry
	for _, e := range all {
		if strings.HasPrefix(e.Name, f.q) {
			mine = append(mine, e)
		}
	}
	return mine
}

// registeredOne returns queue's entry, requiring it to be listed once at
// most.
func (f *fixture) registeredOne(queue string) (backend.QueueEntry, bool) {
	f.t.Helper()
	var found []backend.QueueEntry
	for _, e := range f.registered() {
		if e.Name == queue {
			found = append(found, e)
		}
	}
	require.LessOrEqual(f.t, len(found), 1, "%s is listed %d times", queue, len(found))
	if len(found) == 0 {
		return backend.QueueEntry{}, false
	}
	return found[0], true
}

func names(entries []backend.QueueEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

// testRegistryLists registers the test's queue: it is listed, once, and
// a queue with jobs that nobody registered is not; the registration
// changes nothing of the queue.
func testRegistryLists(t *testing.T, f *fixture) {
	require.Empty(t, f.registered(), "a new test's queues before any registration")
	o := f.other()
	o.enqueue1()
	require.Empty(t, f.registered(), "a queue with a job that nobody registered")
	f.unchanged(func() { f.register(f.q) })
	f.register(f.q)
	require.Equal(t, []string{f.q}, names(f.registered()), "after two registrations of one queue")
}

func testRegistrySorted(t *testing.T, f *fixture) {
	want := []string{f.q + "-A", f.q + "-Z", f.q + "-a", f.q + "-b.1", f.q + "-b_2", f.q + "-c"}
	order := slices.Clone(want)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, n := range order {
		f.register(n)
	}
	require.Equal(t, want, names(f.registered()), "registered in the order %v", order)
}

// testRegistryLastSeen registers a queue again until its LastSeen moves
// on (the clock's millisecond must change in between): it moves forward,
// never back, and the queue stays listed once.
func testRegistryLastSeen(t *testing.T, f *fixture) {
	first := f.register(f.q)
	later := first
	deadline := time.Now().Add(eventually)
	for !later.LastSeen.After(first.LastSeen) {
		require.False(t, time.Now().After(deadline), "LastSeen of %s stayed %v through %v of registrations", f.q, first.LastSeen, eventually)
		e := f.register(f.q)
		require.False(t, e.LastSeen.Before(later.LastSeen), "LastSeen moved back from %v to %v", later.LastSeen, e.LastSeen)
		later = e
		time.Sleep(time.Millisecond)
	}
	// Another queue's registration leaves this one's time alone.
	f.register(f.q + "-other")
	e, _ := f.registeredOne(f.q)
	require.Equal(t, later.LastSeen, e.LastSeen, "LastSeen of %s after another queue's registration", f.q)
}

// testRegistryForget forgets a registered queue that has jobs: it is no
// longer listed, and nothing of it changed; a repeat, and forgetting a
// queue never registered, succeed and change nothing; a queue whose name
// extends the forgotten one stays; a later registration brings it back.
func testRegistryForget(t *testing.T, f *fixture) {
	ids := f.enqueueN(3)
	f.claimN(1, longLease)
	o := f.other()
	f.register(f.q)
	f.register(o.q)
	r := f.registry()
	f.unchanged(func() {
		require.NoError(t, r.ForgetQueue(f.ctx, f.q), "forget")
	}, ids...)
	require.Equal(t, []string{o.q}, names(f.registered()), "after forgetting %s", f.q)
	f.unchanged(func() {
		require.NoError(t, r.ForgetQueue(f.ctx, f.q), "forget again")
		require.NoError(t, r.ForgetQueue(f.ctx, f.q+"-never"), "forget a queue never registered")
	}, ids...)
	require.Equal(t, []string{o.q}, names(f.registered()), "after the repeats")
	f.register(f.q)
	require.Equal(t, []string{f.q, o.q}, names(f.registered()), "registered again")
}

func testRegistryPurge(t *testing.T, f *fixture) {
	f.enqueue1()
	e := f.register(f.q)
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	got, ok := f.registeredOne(f.q)
	require.True(t, ok, "a purged queue is no longer registered")
	require.Equal(t, e.LastSeen, got.LastSeen, "LastSeen after a purge")
}

// testRegistryInvalid gives both writes names that ValidateQueueName
// refuses: each is refused with ErrInvalidQueueName, and nothing is
// written.
func testRegistryInvalid(t *testing.T, f *fixture) {
	f.register(f.q)
	r := f.registry()
	bad := []string{"", f.q + " b", f.q + "{x}", f.q + ":x", f.q + "*", f.q + "é", strings.Repeat("q", backend.MaxQueueNameLen+1)}
	before := f.registered()
	for _, name := range bad {
		require.ErrorIs(t, r.RegisterQueue(f.ctx, name), backend.ErrInvalidQueueName, "register %q", name)
		require.ErrorIs(t, r.ForgetQueue(f.ctx, name), backend.ErrInvalidQueueName, "forget %q", name)
	}
	require.Equal(t, before, f.registered(), "after the refused calls")
	all, err := r.Queues(f.ctx)
	require.NoError(t, err)
	for _, e := range all {
		require.NotContains(t, bad, e.Name, "a refused name is listed")
	}
}

func testRegistryEndedContext(t *testing.T, f *fixture) {
	f.register(f.q)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	r := f.registry()
	before := f.registered()
	require.ErrorIs(t, r.RegisterQueue(ctx, f.q+"-new"), context.Canceled, "register")
	require.ErrorIs(t, r.ForgetQueue(ctx, f.q), context.Canceled, "forget")
	require.Equal(t, before, f.registered(), "after the calls with an ended context")
	_, err := r.Queues(ctx)
	require.ErrorIs(t, err, context.Canceled, "Queues")
}

// testRegistryMany registers a few hundred queues in random order, some
// of them twice: each is listed once, in name order.
func testRegistryMany(t *testing.T, f *fixture) {
	const n = 300
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("%s-%03d", f.q, i)
	}
	order := slices.Concat(want, want[:n/3])
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	r := f.registry()
	// The registry is the store's, not the queue's: a store that outlives
	// the test (a shared server) keeps no trace of these.
	t.Cleanup(func() {
		for _, name := range want {
			_ = r.ForgetQueue(context.WithoutCancel(f.ctx), name)
		}
	})
	for _, name := range order {
		require.NoError(t, r.RegisterQueue(f.ctx, name), "register %s", name)
	}
	require.Equal(t, want, names(f.registered()))
}

// testRegistryQueue goes through the root package: a Queue's first
// enqueue registers its queue, and so does a Worker as it starts, each
// soon after (registering never holds up an enqueue or a Worker).
func testRegistryQueue(t *testing.T, f *fixture) {
	f.registry()
	q := f.queue()
	_, err := q.Enqueue(f.ctx, "x")
	require.NoError(t, err)
	f.requireRegisteredSoon(f.q, "after a Queue's first enqueue")
	got, err := jobqueue.Queues(f.ctx, f.b)
	require.NoError(t, err, "jobqueue.Queues")
	require.True(t, slices.ContainsFunc(got, func(e jobqueue.QueueEntry) bool { return e.Name == f.q }), "jobqueue.Queues lacks %s", f.q)

	o := f.other()
	wq := o.queue()
	_, stop := startWorker(t, wq, func(context.Context, *jobqueue.Job) (any, error) { return nil, nil }, jobqueue.WorkerOptions{})
	defer stop()
	f.requireRegisteredSoon(o.q, "after a Worker started on a queue with no enqueue")
}

// requireRegisteredSoon waits until queue is registered.
func (f *fixture) requireRegisteredSoon(queue, what string) {
	f.t.Helper()
	deadline := time.Now().Add(eventually)
	for {
		if _, ok := f.registeredOne(queue); ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: %s is not registered after %v", what, queue, eventually)
		}
		time.Sleep(tick)
	}
}
