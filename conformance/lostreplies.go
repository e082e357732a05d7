package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The LostReplies group pins down backend's "Lost replies and repeated
// calls": every mutating call, repeated with the same params, returns what
// its first run returned and changes nothing more, even when the queue has
// moved on in between in a way that a call run again would undo.

// repeatCall is one mutating call with fixed params, its request id
// included, made on the backend given. Its result is the call's return
// values other than the error (nil when there is none).
type repeatCall func(b backend.Backend) (any, error)

// repeatCase readies a queue for one mutating call and returns the call.
type repeatCase struct {
	name string
	// method is the Backend method the call makes, for Harness.LoseReplies.
	method  string
	prepare func(f *fixture) repeatCall
	// between moves the queue on after the first run, so that a repeat
	// that ran again would show; nil leaves it as it is.
	between func(f *fixture)
	// kind is the event the first run publishes, and the repeat must not.
	kind backend.EventKind
	// steps is set for a call that a backend may make in several steps
	// (Purge): a lost reply may cut it short, and its repeat then goes on
	// with it, so the queue is not moved on in between.
	steps bool
}

// newRequestID returns a request id for one call.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return "req-" + hex.EncodeToString(b[:])
}

// ackCall makes one token-fenced call on the claim of job.
func ackCall(f *fixture, op ackOp, c backend.ClaimedJob) repeatCall {
	return func(b backend.Backend) (any, error) {
		g := *f
		g.b = b
		return op.call(&g, []backend.Ack{ack(c)})
	}
}

func repeatCases() []repeatCase {
	claimed := func(f *fixture) backend.ClaimedJob { return f.claimID(f.enqueue1(), longLease) }
	return []repeatCase{
		{name: "Enqueue", method: "Enqueue", kind: backend.EventEnqueued,
			prepare: func(f *fixture) repeatCall {
				p := backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{f.job(), f.job(delayed(longLease))}, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return nil, b.Enqueue(f.ctx, p) }
			},
			// The job finishes under a retention that keeps nothing: an
			// enqueue run again would store it a second time.
			between: func(f *fixture) {
				c := f.claimN(1, longLease)[0]
				errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c)}}})
				requireAllOK(f.t, 1, errs, err)
			}},
		{name: "EnqueueUnique", method: "Enqueue", kind: backend.EventEnqueued,
			prepare: func(f *fixture) repeatCall {
				p := backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{f.job(uniqueKey("k", longLease))}, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return nil, b.Enqueue(f.ctx, p) }
			},
			// The job finishes under a retention that keeps nothing, its
			// key still held: an enqueue run again would be refused as a
			// duplicate of itself.
			between: func(f *fixture) {
				c := f.claimN(1, longLease)[0]
				errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(c)}}})
				requireAllOK(f.t, 1, errs, err)
			}},
		{name: "Claim", method: "Claim", kind: backend.EventClaimed,
			prepare: func(f *fixture) repeatCall {
				f.enqueueN(3)
				p := backend.ClaimParams{Queue: f.q, Max: 2, Lease: longLease, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return b.Claim(f.ctx, p) }
			},
			// One more job is pending: a claim run again would take it.
			between: func(f *fixture) { f.enqueue1() }},
		{name: "Complete", method: "Complete", kind: backend.EventCompleted,
			prepare: func(f *fixture) repeatCall { return ackCall(f, completeOp, claimed(f)) }},
		{name: "FailRetry", method: "Fail", kind: backend.EventRetrying,
			prepare: func(f *fixture) repeatCall { return ackCall(f, failRetryOp, claimed(f)) }},
		{name: "FailDead", method: "Fail", kind: backend.EventDead,
			prepare: func(f *fixture) repeatCall { return ackCall(f, failDeadOp, claimed(f)) }},
		{name: "FailSnooze", method: "Fail", kind: backend.EventSnoozed,
			prepare: func(f *fixture) repeatCall { return ackCall(f, failSnoozeOp, claimed(f)) }},
		{name: "ClaimPastExpired", method: "Claim", kind: backend.EventClaimed,
			prepare: func(f *fixture) repeatCall {
				expired := f.enqueue1(expiring(shortExpiry))
				f.enqueueN(2)
				f.waitJobsExpired(expired)
				p := backend.ClaimParams{Queue: f.q, Max: 1, Lease: longLease, DeadRetention: keep, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return b.Claim(f.ctx, p) }
			},
			// One more job is pending: a claim run again would take it.
			between: func(f *fixture) { f.enqueue1() }},
		{name: "Release", method: "Release", kind: backend.EventReleased,
			prepare: func(f *fixture) repeatCall { return ackCall(f, releaseOp, claimed(f)) }},
		{name: "Extend", method: "Extend",
			prepare: func(f *fixture) repeatCall { return ackCall(f, extendOp, claimed(f)) },
			// Time passes, so that the repeat's renewal shows.
			between: func(*fixture) { time.Sleep(10 * clockSlack) }},
		{name: "Reclaim", method: "Reclaim", kind: backend.EventReclaimed,
			prepare: func(f *fixture) repeatCall {
				requeue := f.claimID(f.enqueue1(), shortLease)
				poison := f.claimID(f.enqueue1(maxAttempts(1)), shortLease)
				waitExpired(requeue, poison)
				// Still live when the first run reclaims, expired by the
				// repeat: a reclaim run again would take it back.
				f.claimID(f.enqueue1(), 3*shortLease)
				p := backend.ReclaimParams{Queue: f.q, Max: 10, DeadRetention: keep, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return b.Reclaim(f.ctx, p) }
			},
			between: func(f *fixture) { time.Sleep(3*shortLease + 2*clockSlack) }},
		{name: "RetryDead", method: "RetryDead", kind: backend.EventRetried,
			prepare: func(f *fixture) repeatCall {
				c := claimed(f)
				f.fail(dead, c)
				p := backend.RetryDeadParams{Queue: f.q, ID: c.ID, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return nil, b.RetryDead(f.ctx, p) }
			},
			// The job dies again: a retry run again would revive it.
			between: func(f *fixture) { f.fail(dead, f.claimN(1, longLease)[0]) }},
		{name: "Delete", method: "Delete", kind: backend.EventDeleted,
			prepare: func(f *fixture) repeatCall {
				p := backend.DeleteParams{Queue: f.q, ID: f.enqueue1(), RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return nil, b.Delete(f.ctx, p) }
			},
			// The id is enqueued again: a delete run again would delete it.
			between: func(f *fixture) { f.enqueueIn(f.q, backend.NewJob{ID: f.allIDs()[0], MaxAttempts: 1}) }},
		{name: "Purge", method: "Purge", kind: backend.EventPurged, steps: true,
			prepare: func(f *fixture) repeatCall {
				f.populate()
				p := backend.PurgeParams{Queue: f.q, RequestID: newRequestID()}
				return func(b backend.Backend) (any, error) { return nil, b.Purge(f.ctx, p) }
			},
			// A job enqueued since: a purge run again would delete it.
			between: func(f *fixture) { f.enqueue1() }},
	}
}

func lostReplyTests() []testCase {
	var cases []testCase
	for _, c := range repeatCases() {
		cases = append(cases,
			testCase{name: "Repeat/" + c.name, run: func(t *testing.T, f *fixture) { testRepeat(t, f, c) }},
			testCase{name: "LostReply/" + c.name, run: func(t *testing.T, f *fixture) { testLostReply(t, f, c) }},
		)
		if c.kind != "" {
			cases = append(cases, testCase{name: "RepeatPublishesNothing/" + c.name, run: func(t *testing.T, f *fixture) {
				testRepeatEvents(t, f, c)
			}})
		}
	}
	return append(cases,
		testCase{name: "RequestIDOfAnotherCall", run: testRequestIDReused},
		testCase{name: "RequestIDOfAnotherKindOfCall", run: testRequestIDReusedByOtherMethod},
		testCase{name: "ClaimRepeatReturnsWhatItStillHolds", run: testClaimRepeatHeld},
		testCase{name: "ClaimRepeatHoldingNothingNeitherWaitsNorTakes", run: testClaimRepeatEmpty},
		testCase{name: "CallThatChangedNothingRunsAgain", run: testRepeatOfNothing},
		testCase{name: "QueueRepeats/Enqueue", run: func(t *testing.T, f *fixture) { testQueueRepeats(t, f, 1) }},
		testCase{name: "QueueRepeats/EnqueueBatch", run: func(t *testing.T, f *fixture) { testQueueRepeats(t, f, 3) }},
	)
}

// testQueueRepeats: a Queue whose enqueue loses its reply repeats the call
// with the same request id (WithRetries), so its caller gets the ids with
// no error, and the store holds each job once, as the caller's payload.
func testQueueRepeats(t *testing.T, f *fixture, n int) {
	loser := DropReplies(f.b)
	if f.s.h.LoseReplies != nil {
		loser = f.s.h.LoseReplies(t)
	}
	q, err := jobqueue.New(loser.Backend, f.q)
	require.NoError(t, err)
	lost := loser.Lost()
	loser.Lose("Enqueue")
	var ids []string
	if n == 1 {
		id, err := q.Enqueue(f.ctx, email{To: "0"})
		require.NoError(t, err, "an Enqueue whose first reply was lost")
		ids = []string{id}
	} else {
		payloads := make([]any, n)
		for i := range payloads {
			payloads[i] = email{To: fmt.Sprint(i)}
		}
		ids, err = q.EnqueueBatch(f.ctx, payloads)
		require.NoError(t, err, "an EnqueueBatch whose first reply was lost")
	}
	require.Equal(t, lost+1, loser.Lost(), "the harness lost no reply of Enqueue")
	require.Len(t, ids, n)
	require.Equal(t, backend.Stats{Pending: int64(n), EnqueuedTotal: int64(n)}, f.stats(), "the jobs stored, and counted, once")

	jobs, err := f.queue().Claim(f.ctx, n+1, 0)
	require.NoError(t, err)
	require.Len(t, jobs, n, "the jobs claimed")
	for i, j := range jobs {
		require.Equal(t, ids[i], j.ID)
		var e email
		require.NoError(t, j.Decode(&e))
		require.Equal(t, fmt.Sprint(i), e.To)
	}
}

// claimUnderRequestID enqueues n jobs and claims limit of them with a
// request id, waiting up to wait; it returns the claim's params, for a
// repeat, and the jobs it took.
func (f *fixture) claimUnderRequestID(n, limit int, lease, wait time.Duration) (backend.ClaimParams, []backend.ClaimedJob) {
	f.t.Helper()
	f.enqueueN(n)
	p := f.claimParams(limit, lease, wait)
	p.RequestID = newRequestID()
	got, err := f.b.Claim(f.ctx, p)
	require.NoError(f.t, err)
	require.Len(f.t, got, limit)
	return p, got
}

// testClaimRepeatHeld completes one of the jobs a claim took before the
// claim is repeated: the repeat returns only the one it still holds.
func testClaimRepeatHeld(t *testing.T, f *fixture) {
	p, first := f.claimUnderRequestID(3, 2, longLease, 0)
	f.complete(first[0])
	again, err := f.b.Claim(f.ctx, p)
	require.NoError(t, err)
	require.Equal(t, first[1:], again, "the repeat of a claim one of whose jobs was completed since")
}

// testClaimRepeatEmpty repeats a waiting claim whose one job was completed
// since, while other jobs are pending: the repeat returns nothing, at once.
// It must not take a pending job (the first run took one only) nor wait
// out its Wait for one; a backend that does either fails here, the waiting
// kind by running into the context's end.
func testClaimRepeatEmpty(t *testing.T, f *fixture) {
	p, first := f.claimUnderRequestID(3, 1, longLease, time.Hour)
	f.complete(first[0])
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	again, err := f.b.Claim(ctx, p)
	require.NoError(t, err, "a repeat must return at once, not wait for jobs it will not take")
	require.Empty(t, again, "the repeat of a claim whose only job was completed since")
	require.Equal(t, int64(2), f.stats().Pending, "the repeat took a pending job")
}

// testRepeatOfNothing repeats calls that changed nothing the first time:
// they left no record, so the repeat is a new call.
func testRepeatOfNothing(t *testing.T, f *fixture) {
	claim := f.claimParams(1, longLease, 0)
	claim.RequestID = newRequestID()
	got, err := f.b.Claim(f.ctx, claim)
	require.NoError(t, err)
	require.Empty(t, got)
	id := f.enqueue1()
	got, err = f.b.Claim(f.ctx, claim)
	require.NoError(t, err)
	require.Equal(t, []string{id}, ids(got), "the repeat of a claim that found nothing")

	fresh := f.job()
	enqueue := backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{fresh, {ID: id, MaxAttempts: 1}}, RequestID: newRequestID()}
	require.ErrorIs(t, f.b.Enqueue(f.ctx, enqueue), backend.ErrJobExists)
	f.complete(got...)
	require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id}))
	require.NoError(t, f.b.Enqueue(f.ctx, enqueue), "the repeat of an enqueue that was refused")
	f.requireState(fresh.ID, backend.StatePending)
}

// testRepeat makes a call, moves the queue on, and repeats the call: the
// repeat must return the first run's result and change nothing.
func testRepeat(t *testing.T, f *fixture, c repeatCase) {
	call := c.prepare(f)
	first, err := call(f.b)
	require.NoError(t, err, "the first run")
	if c.between != nil {
		c.between(f)
	}
	before := f.snapshot(f.allIDs()...)
	again, err := call(f.b)
	require.NoError(t, err, "the repeat")
	requireSameResult(t, first, again)
	after := f.snapshot(f.allIDs()...)
	if c.method == "Extend" {
		// A repeated heartbeat renews the lease again, from now.
		requireLeaseRenewed(t, before, after)
	}
	require.Equal(t, before, after, "the repeat changed the queue")
	f.requireTokensWork(again)
}

// testLostReply loses the reply of a call that ran, moves the queue on,
// and repeats the call on the same lossy backend: the repeat must succeed,
// change nothing, and leave the queue as the same scenario run once, with
// no loss, leaves a queue of its own.
func testLostReply(t *testing.T, f *fixture, c repeatCase) {
	loser := DropReplies(f.b)
	if f.s.h.LoseReplies != nil {
		loser = f.s.h.LoseReplies(t)
	}
	lossy := loser.Backend
	call := c.prepare(f)
	lost := loser.Lost()
	loser.Lose(c.method)
	if _, err := call(lossy); err != nil {
		require.ErrorIs(t, err, backend.ErrUnavailable, "a call whose reply was lost")
	}
	require.Equal(t, lost+1, loser.Lost(), "the harness lost no reply of %s", c.method)
	between := c.between
	if c.steps {
		between = nil
	}
	if between != nil {
		between(f)
	}
	before := f.snapshot(f.allIDs()...)
	again, err := call(lossy)
	require.NoError(t, err, "the repeat of a call whose reply was lost")
	after := f.snapshot(f.allIDs()...)
	if c.method == "Extend" {
		requireLeaseRenewed(t, before, after)
	}
	if !c.steps { // a call cut short is finished by its repeat
		require.Equal(t, before, after, "the repeat changed the queue")
	}

	// The same scenario, once and without a loss, on a queue of its own.
	twin := f.s.fixture(t)
	want, err := c.prepare(twin)(twin.b)
	require.NoError(t, err)
	if between != nil {
		between(twin)
	}
	require.Equal(t, normalResult(want, twin.allIDs()), normalResult(again, f.allIDs()), "the repeat's result, against a call that ran once")
	require.Equal(t, twin.snapshot(twin.allIDs()...).normal(twin.allIDs()), after.normal(f.allIDs()), "the queue, against one where the call ran once")
	f.requireTokensWork(again)
}

// testRepeatEvents: the first run publishes its event, the repeat none.
// The events of one queue arrive in order, so all of them have arrived
// once the event of a job enqueued after the repeat has.
func testRepeatEvents(t *testing.T, f *fixture, c repeatCase) {
	open := f.subscriber()
	before := len(f.allIDs())
	call := c.prepare(f)
	prepared := f.allIDs()[before:]
	ch := f.subscribe(open)
	_, err := call(f.b)
	require.NoError(t, err)
	_, err = call(f.b)
	require.NoError(t, err)
	// Beside the call's last job: its events come before the marker's.
	marker := f.job()
	if len(prepared) > 0 {
		marker = f.jobBeside(prepared[len(prepared)-1])
	}
	f.enqueueIn(f.q, marker)
	n := 0
	for {
		ev := f.awaitEvent(ch, "", "")
		if ev.Kind == backend.EventEnqueued && slices.Contains(ev.IDs, marker.ID) {
			break
		}
		if ev.Kind == c.kind {
			n++
		}
	}
	require.Equal(t, 1, n, "%s events for a call made twice", c.kind)
}

// testRequestIDReused: a request id names one call, so a different call
// made with it gets the first call's result and does nothing.
func testRequestIDReused(t *testing.T, f *fixture) {
	id := newRequestID()
	first := f.job()
	require.NoError(t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{first}, RequestID: id}))
	other := f.job()
	f.unchanged(func() {
		require.NoError(t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{other}, RequestID: id}))
	}, first.ID, other.ID)
	f.requireGone(other.ID)
}

// testRequestIDReusedByOtherMethod gives a Reclaim the request id of a
// Claim that took a job, whose lease has expired: the Reclaim gets the
// Claim's result, which holds nothing it reclaimed, and changes nothing.
func testRequestIDReusedByOtherMethod(t *testing.T, f *fixture) {
	p, got := f.claimUnderRequestID(1, 1, shortLease, 0)
	waitExpired(got...)
	r, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: 10, RequestID: p.RequestID, DeadRetention: keep})
	require.NoError(t, err, "a Reclaim under a Claim's request id")
	require.Zero(t, r.Len(), "a Reclaim under a Claim's request id reclaimed %v", r)
	require.Equal(t, backend.StateProcessing, f.get(got[0].ID).State)
	// The job was there to reclaim: a Reclaim of its own takes it.
	require.Equal(t, []string{got[0].ID}, f.reclaim(10).Requeued)
}

// requireSameResult compares two results of one call, per-item errors by
// the contract's error they wrap.
func requireSameResult(t *testing.T, first, again any) {
	t.Helper()
	if errs, ok := first.([]error); ok {
		require.Equal(t, errorClasses(errs), errorClasses(again.([]error)), "per-item results")
		return
	}
	require.Equal(t, first, again, "the repeat returned something else than the first run")
}

func errorClasses(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		switch {
		case e == nil:
			out[i] = "ok"
		case errors.Is(e, backend.ErrLostClaim):
			out[i] = "lost claim"
		case errors.Is(e, backend.ErrNotFound):
			out[i] = "not found"
		case errors.Is(e, backend.ErrWrongState):
			out[i] = "wrong state"
		case errors.Is(e, backend.ErrCancelled):
			out[i] = "cancelled"
		default:
			out[i] = e.Error()
		}
	}
	return out
}

// normalResult is a result without what differs between two runs of one
// scenario on two queues: claim tokens and instants.
func normalResult(v any, ids []string) any {
	switch r := v.(type) {
	case []error:
		return errorClasses(r)
	case []backend.ClaimedJob:
		out := make([]string, len(r))
		for i, c := range r {
			out[i] = fmt.Sprintf("%s %s attempt %d of %d", nth(c.ID, ids), c.Payload, c.Attempts, c.MaxAttempts)
		}
		return out
	case backend.ReclaimResult:
		return backend.ReclaimResult{Requeued: nths(r.Requeued, ids), Dead: nths(r.Dead, ids)}
	}
	return v
}

// nth names id by its place among ids, the fixture's ids in the order it
// made them, so that the jobs of two runs of one scenario compare equal
// when their ids are minted by the backend (backend.IDMinter).
func nth(id string, ids []string) string {
	if k := slices.Index(ids, id); k >= 0 {
		return fmt.Sprintf("job #%d", k+1)
	}
	return id
}

func nths(list []string, ids []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, id := range list {
		out[i] = nth(id, ids)
	}
	return out
}

// normal is the snapshot without what differs between two runs of one
// scenario on two queues: instants, which only keep whether they are set,
// and ids, which keep their place among ids (nth).
func (s snapshot) normal(ids []string) snapshot {
	out := snapshot{Stats: s.Stats, Lists: map[backend.State][]string{}, Gone: nths(s.Gone, ids), History: s.History, Jobs: map[string]backend.JobInfo{}}
	for state, list := range s.Lists {
		out.Lists[state] = nths(list, ids)
		if state == backend.StateProcessing {
			// Jobs claimed by one call share a lease deadline, and ids
			// break the tie: minted ids differ from run to run.
			slices.Sort(out.Lists[state])
		}
	}
	set := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return time.Unix(1, 0)
	}
	for id, j := range s.Jobs {
		j.EnqueuedAt, j.RunAt, j.ClaimedAt = set(j.EnqueuedAt), set(j.RunAt), set(j.ClaimedAt)
		j.LeaseUntil, j.FinishedAt, j.ExpiresAt = set(j.LeaseUntil), set(j.FinishedAt), set(j.ExpiresAt)
		j.ID = nth(j.ID, ids)
		out.Jobs[nth(id, ids)] = j
	}
	return out
}

// requireLeaseRenewed checks a repeated Extend's one change, made some
// time after the first run: the processing jobs' lease deadlines in after
// are later than in before. They are then set to before's, so that the
// snapshots compare equal in everything else.
func requireLeaseRenewed(t *testing.T, before, after snapshot) {
	t.Helper()
	for id, b := range before.Jobs {
		if b.State != backend.StateProcessing {
			continue
		}
		a := after.Jobs[id]
		require.True(t, a.LeaseUntil.After(b.LeaseUntil), "a repeated Extend did not renew the lease of %s: %v, then %v", id, b.LeaseUntil, a.LeaseUntil)
		a.LeaseUntil = b.LeaseUntil
		after.Jobs[id] = a
	}
}

// requireTokensWork completes the jobs a claim returned with their
// tokens: a repeat must hand out the first run's claims, not made-up
// ones.
func (f *fixture) requireTokensWork(result any) {
	f.t.Helper()
	if jobs, ok := result.([]backend.ClaimedJob); ok && len(jobs) > 0 {
		f.complete(jobs...)
	}
}
