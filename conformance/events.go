package conformance

import (
	"context"
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
		probes = append(probes, f.enqueue1(func(j *backend.NewJob) { j.ID = "probe-" + j.ID }))
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
			id := job.ID
			if c.kind == backend.EventPurged {
				id = "" // a purge names no jobs
			}
			f.awaitEvent(ch, c.kind, id)
		}})
	}
	return append(cases,
		testCase{name: "OwnQueueOnly", run: testEventsOwnQueue},
		testCase{name: "RepeatPublishesOnce", run: testEventsRepeat},
		testCase{name: "ClosedWhenDone", run: testEventsClosed},
	)
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

// testEventsRepeat repeats a complete: the repeat publishes nothing. The
// events of one queue arrive in order, so every event about the job has
// arrived once the event of a job enqueued after the repeat has.
func testEventsRepeat(t *testing.T, f *fixture) {
	open := f.subscriber()
	c := f.claimID(f.enqueue1(), longLease)
	ch := f.subscribe(open)
	f.complete(c)
	f.complete(c)
	after := f.enqueue1()
	completed := 0
	for {
		ev := f.awaitEvent(ch, "", "")
		if ev.Kind == backend.EventCompleted && slices.Contains(ev.IDs, c.ID) {
			completed++
		}
		if ev.Kind == backend.EventEnqueued && slices.Contains(ev.IDs, after) {
			break
		}
	}
	require.Equal(t, 1, completed, "completed events for one job completed twice")
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
