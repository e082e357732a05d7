package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// subscribeFunc opens a subscription to the fixture's queue.
type subscribeFunc func(ctx context.Context) (<-chan backend.Event, error)

// subscriber returns the backend's Subscribe for the test's queue, or
// skips the test, saying why, when the backend has no events.
func (f *fixture) subscriber() subscribeFunc {
	f.t.Helper()
	f.s.needs(f.t, Events)
	sub, ok := f.b.(backend.Subscriber)
	if !ok {
		f.t.Skipf("conformance: %T does not implement backend.Subscriber", f.b)
	}
	return func(ctx context.Context) (<-chan backend.Event, error) { return sub.Subscribe(ctx, f.q) }
}

// subscribe opens a subscription and returns once it is live: events are
// notifications, so one opened just now may miss the first ones. It
// enqueues probe jobs until the event of one arrives.
func (f *fixture) subscribe(open subscribeFunc) <-chan backend.Event {
	f.t.Helper()
	ch, err := open(f.ctx)
	require.NoError(f.t, err)
	var probes []string
	deadline := time.After(eventually)
	for {
		probes = append(probes, f.enqueue1())
		wait := time.After(50 * time.Millisecond)
		for waiting := true; waiting; {
			select {
			case ev, ok := <-ch:
				require.True(f.t, ok, "the event channel closed")
				if ev.Kind == backend.EventEnqueued && slices.ContainsFunc(ev.IDs, func(id string) bool { return slices.Contains(probes, id) }) {
					return ch
				}
			case <-wait:
				waiting = false
			case <-deadline:
				f.t.Fatalf("no event arrived within %v of enqueuing probe jobs", eventually)
			}
		}
	}
}

// awaitEvent waits for an event of kind (any kind when empty) about id
// (any id when empty), passing over the others.
func (f *fixture) awaitEvent(ch <-chan backend.Event, kind backend.EventKind, id string) backend.Event {
	f.t.Helper()
	deadline := time.After(eventually)
	for {
		select {
		case ev, ok := <-ch:
			require.True(f.t, ok, "the event channel closed")
			if (kind == "" || ev.Kind == kind) && (id == "" || slices.Contains(ev.IDs, id)) {
				require.Equal(f.t, f.q, ev.Queue)
				return ev
			}
		case <-deadline:
			f.t.Fatalf("no %s event for %q within %v", kind, id, eventually)
			return backend.Event{}
		}
	}
}

// eventCase makes a job ready (before the subscription) and then acts on
// it (after); the action must publish kind for the job.
type eventCase struct {
	name  string // the kind, unless set
	kind  backend.EventKind
	ready func(f *fixture) backend.ClaimedJob
	act   func(f *fixture, c backend.ClaimedJob)
}

func claimedWith(lease time.Duration) func(f *fixture) backend.ClaimedJob {
	return func(f *fixture) backend.ClaimedJob { return f.claimID(f.enqueue1(), lease) }
}

func onClaim(op ackOp) func(*fixture, backend.ClaimedJob) {
	return func(f *fixture, c backend.ClaimedJob) { require.NoError(f.t, op.one(f, ack(c))) }
}

func eventCases() []eventCase {
	pending := func(f *fixture) backend.ClaimedJob { return backend.ClaimedJob{ID: f.enqueue1()} }
	return []eventCase{
		{kind: backend.EventEnqueued,
			ready: func(f *fixture) backend.ClaimedJob { return backend.ClaimedJob{ID: f.job().ID} },
			act: func(f *fixture, c backend.ClaimedJob) {
				f.enqueueIn(f.q, backend.NewJob{ID: c.ID, MaxAttempts: 1})
			}},
		{kind: backend.EventClaimed, ready: pending, act: func(f *fixture, c backend.ClaimedJob) { f.claimID(c.ID, longLease) }},
		{kind: backend.EventCompleted, ready: claimedWith(longLease), act: onClaim(completeOp)},
		{kind: backend.EventRetrying, ready: claimedWith(longLease), act: onClaim(failRetryOp)},
		{kind: backend.EventDead, ready: claimedWith(longLease), act: onClaim(failDeadOp)},
		{kind: backend.EventReleased, ready: claimedWith(longLease), act: onClaim(releaseOp)},
		{kind: backend.EventReclaimed, ready: claimedWith(shortLease), act: func(f *fixture, c backend.ClaimedJob) {
			waitExpired(c)
			require.Equal(f.t, []string{c.ID}, f.reclaim(10).Requeued)
		}},
		{name: "dead-by-reclaim", kind: backend.EventDead,
			ready: func(f *fixture) backend.ClaimedJob { return f.claimID(f.enqueue1(maxAttempts(1)), shortLease) },
			act: func(f *fixture, c backend.ClaimedJob) {
				waitExpired(c)
				require.Equal(f.t, []string{c.ID}, f.reclaim(10).Dead)
			}},
		{kind: backend.EventRetried,
			ready: func(f *fixture) backend.ClaimedJob {
				c := claimedWith(longLease)(f)
				f.fail(dead, c)
				return c
			},
			act: func(f *fixture, c backend.ClaimedJob) {
				require.NoError(f.t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: c.ID}))
			}},
		{kind: backend.EventDeleted, ready: pending, act: func(f *fixture, c backend.ClaimedJob) {
			require.NoError(f.t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: c.ID}))
		}},
		{kind: backend.EventPurged, ready: pending, act: func(f *fixture, _ backend.ClaimedJob) {
			require.NoError(f.t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
		}},
		// The settings (backend.Controller): events about the queue.
		{kind: backend.EventPaused, ready: pending, act: func(f *fixture, _ backend.ClaimedJob) { f.pause() }},
		{kind: backend.EventResumed,
			ready: func(f *fixture) backend.ClaimedJob {
				f.pause()
				return backend.ClaimedJob{}
			},
			act: func(f *fixture, _ backend.ClaimedJob) { f.resume() }},
		{kind: backend.EventLimits, ready: pending, act: func(f *fixture, _ backend.ClaimedJob) {
			f.setLimits(backend.Limits{Concurrency: 3})
		}},
	}
}

func eventTests() []testCase {
	var cases []testCase
	for _, c := range eventCases() {
		name := c.name
		if name == "" {
			name = string(c.kind)
		}
		cases = append(cases, testCase{name: "Kind/" + name, run: func(t *testing.T, f *fixture) {
			open := f.subscriber()
			job := c.ready(f)
			ch := f.subscribe(open)
			c.act(f, job)
			if c.kind.QueueWide() {
				ev := f.awaitEvent(ch, c.kind, "")
				require.Empty(t, ev.IDs, "a %s event names no jobs", c.kind)
				return
			}
			f.awaitEvent(ch, c.kind, job.ID)
		}})
	}
	return append(cases,
		testCase{name: "OwnQueueOnly", run: testEventsOwnQueue},
		testCase{name: "OnePerKindPerCall", run: testEventsPerCall},
		testCase{name: "SlowReaderDoesNotBlock", run: testEventsSlowReader},
		testCase{name: "ClosedWhenDone", run: testEventsClosed},
		testCase{name: "SettingsOnlyWhenChanged", run: needing(SharedLimits, testEventsSettingsChanged)},
	)
}

// testEventsSettingsChanged changes the queue's settings, and sets them
// again as they are: only the calls that change them publish, one event
// each, naming no job. The events of one queue arrive in order, so all of
// them have arrived once the event of a job enqueued last has.
func testEventsSettingsChanged(t *testing.T, f *fixture) {
	open := f.subscriber()
	f.controller()
	ch := f.subscribe(open)
	l := backend.Limits{Concurrency: 2, Rate: 10, Per: time.Second}
	for _, step := range []func(){
		f.resume, // not paused: no change
		f.pause,
		f.pause,
		func() { f.setLimits(l) },
		func() { f.setLimits(l) },
		func() { f.setLimits(backend.Limits{Concurrency: 2, Rate: 10, Per: 2 * time.Second}) }, // the period alone
		func() { f.setLimits(backend.Limits{Concurrency: 3, Rate: 10, Per: 2 * time.Second}) }, // the concurrency alone
		f.resume,
		f.resume,
		func() { f.setLimits(backend.Limits{}) },
		func() { f.setLimits(backend.Limits{}) },
		// A kind's limits are settings too.
		func() { f.setKindLimits("video", backend.Limits{}) }, // none to remove
		func() { f.setKindLimits("video", backend.Limits{Rate: 5, Per: time.Second}) },
		func() { f.setKindLimits("video", backend.Limits{Rate: 5, Per: time.Second}) },
		func() { f.setKindLimits("video", backend.Limits{Concurrency: 1, Rate: 5, Per: time.Second}) },
		func() { f.setKindLimits("video", backend.Limits{}) },
	} {
		step()
	}
	marker := f.enqueue1()
	var got []backend.EventKind
	for {
		ev := f.awaitEvent(ch, "", "")
		if slices.Contains(ev.IDs, marker) {
			break
		}
		if ev.Kind.QueueWide() {
			require.Empty(t, ev.IDs, "a %s event names no jobs", ev.Kind)
			got = append(got, ev.Kind)
		}
	}
	require.Equal(t, []backend.EventKind{
		backend.EventPaused,
		backend.EventLimits,
		backend.EventLimits,
		backend.EventLimits,
		backend.EventResumed,
		backend.EventLimits,
		backend.EventLimits,
		backend.EventLimits,
		backend.EventLimits,
	}, got, "the events of pause, resume and limits (a kind's too), each published by a call that changed the settings only")
}

func testEventsOwnQueue(t *testing.T, f *fixture) {
	ch := f.subscribe(f.subscriber())
	g := f.other()
	foreign := g.enqueue1()
	mine := f.enqueue1()
	for {
		ev := f.awaitEvent(ch, backend.EventEnqueued, "")
		require.NotContains(t, ev.IDs, foreign, "an event of another queue")
		if slices.Contains(ev.IDs, mine) {
			return
		}
	}
}

// testEventsPerCall makes calls that each change several jobs: each call
// publishes one event per kind of change, naming all its jobs, never one
// event per job. The events of one queue arrive in order, so all of them
// have arrived once the event of a job enqueued last has.
func testEventsPerCall(t *testing.T, f *fixture) {
	open := f.subscriber()
	ch := f.subscribe(open)
	// The probe jobs subscribe enqueued go first.
	if probes := f.claimWait(100, longLease, 0); len(probes) > 0 {
		f.complete(probes...)
	}
	all := f.enqueueN(4)
	cs := f.claimN(4, longLease)
	f.complete(cs[0], cs[1])
	items := []backend.Failure{
		{Ack: ack(cs[2]), Error: "again"},
		{Ack: ack(cs[3]), Error: "again", Delay: longLease},
	}
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: items, Retention: keep})
	requireAllOK(t, 2, errs, err)
	marker := f.enqueue1()
	var got []string
	for {
		ev := f.awaitEvent(ch, "", "")
		if slices.Contains(ev.IDs, marker) {
			break
		}
		if len(got) > 0 || slices.Contains(ev.IDs, all[0]) {
			got = append(got, fmt.Sprint(ev.Kind, ev.IDs))
		}
	}
	require.Equal(t, []string{
		fmt.Sprint(backend.EventEnqueued, all),
		fmt.Sprint(backend.EventClaimed, all),
		fmt.Sprint(backend.EventCompleted, all[:2]),
		fmt.Sprint(backend.EventRetrying, all[2:]),
	}, got)
}

// testEventsSlowReader subscribes and never reads: events are
// notifications, so the queue goes on without waiting for the reader.
func testEventsSlowReader(t *testing.T, f *fixture) {
	open := f.subscriber()
	_, err := open(f.ctx)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			if f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{{ID: newRequestID(), MaxAttempts: 1}}}) != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("1000 enqueues did not finish within 30 s while a subscriber read nothing")
	}
	require.Equal(t, int64(1000), f.stats().EnqueuedTotal)
}

func testEventsClosed(t *testing.T, f *fixture) {
	open := f.subscriber()
	ctx, cancel := context.WithCancel(f.ctx)
	ch, err := open(ctx)
	require.NoError(t, err)
	cancel()
	deadline := time.After(eventually)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the event channel was not closed within %v of its context ending", eventually)
		}
	}
}
