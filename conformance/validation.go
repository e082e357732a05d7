package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// queueMethod calls one Backend method on queue q with arguments that are
// valid in every other way.
type queueMethod struct {
	name string
	call func(f *fixture, q string) error
}

func whole(_ []error, err error) error { return err }

func queueMethods(f *fixture) []queueMethod {
	a := []backend.Ack{{ID: "x", Token: "t"}}
	ms := []queueMethod{
		{"Enqueue", func(f *fixture, q string) error {
			return f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "x", MaxAttempts: 1}}})
		}},
		{"Claim", func(f *fixture, q string) error {
			_, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: longLease})
			return err
		}},
		{"Complete", func(f *fixture, q string) error {
			return whole(f.b.Complete(f.ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: a[0]}}, Retention: keep}))
		}},
		{"Fail", func(f *fixture, q string) error {
			return whole(f.b.Fail(f.ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: a[0], Dead: true}}, Retention: keep}))
		}},
		{"Extend", func(f *fixture, q string) error {
			return whole(f.b.Extend(f.ctx, backend.ExtendParams{Queue: q, Items: a, Lease: longLease}))
		}},
		{"Release", func(f *fixture, q string) error {
			return whole(f.b.Release(f.ctx, backend.ReleaseParams{Queue: q, Items: a}))
		}},
		{"Reclaim", func(f *fixture, q string) error {
			_, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: q, Max: 10, DeadRetention: keep})
			return err
		}},
		{"Get", func(f *fixture, q string) error { _, err := f.b.Get(f.ctx, q, "x"); return err }},
		{"List", func(f *fixture, q string) error {
			_, err := f.b.List(f.ctx, backend.ListParams{Queue: q, State: backend.StatePending, Limit: 10})
			return err
		}},
		{"Stats", func(f *fixture, q string) error { _, err := f.b.Stats(f.ctx, q); return err }},
		{"Purge", func(f *fixture, q string) error { return f.b.Purge(f.ctx, backend.PurgeParams{Queue: q}) }},
		{"RetryDead", func(f *fixture, q string) error {
			return f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: q, ID: "x"})
		}},
		{"Delete", func(f *fixture, q string) error { return f.b.Delete(f.ctx, backend.DeleteParams{Queue: q, ID: "x"}) }},
	}
	if tr, ok := f.b.(backend.WorkerTracker); ok {
		ms = append(ms, queueMethod{"Beat", func(f *fixture, q string) error {
			return tr.Beat(f.ctx, backend.BeatParams{Queue: q, ID: "x", TTL: longLease})
		}})
	}
	if sub, ok := f.b.(backend.Subscriber); ok {
		ms = append(ms, queueMethod{"Subscribe", func(f *fixture, q string) error {
			_, err := sub.Subscribe(f.ctx, q)
			return err
		}})
	}
	return ms
}

// badQueueNames derive from the test's queue name where they can, so a
// backend that stored a job under one would do so next to the test's
// queue, and "*" is there for a backend that builds a SCAN pattern.
var badQueueNames = []struct {
	name string
	of   func(q string) string
}{
	{"Empty", func(string) string { return "" }},
	{"Braces", func(q string) string { return q + "{b}" }},
	{"Colon", func(q string) string { return q + ":b" }},
	{"Space", func(q string) string { return q + " b" }},
	{"Star", func(string) string { return "*" }},
	{"TooLong", func(string) string { return strings.Repeat("a", 200) }},
	{"InvalidUTF8", func(q string) string { return q + "\xff\xfe" }},
}

// invalidCall is a call with one bad argument and the error it must get.
type invalidCall struct {
	name string
	want error
	call func(f *fixture, p population) error
}

func enqueueCall(f *fixture, jobs ...backend.NewJob) error {
	return f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: jobs})
}

func claimCall(limit int, lease, wait time.Duration) func(*fixture, population) error {
	return func(f *fixture, _ population) error {
		_, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: f.q, Max: limit, Lease: lease, Wait: wait})
		return err
	}
}

func listCall(state backend.State, offset, limit int) func(*fixture, population) error {
	return func(f *fixture, _ population) error {
		_, err := f.b.List(f.ctx, backend.ListParams{Queue: f.q, State: state, Offset: offset, Limit: limit})
		return err
	}
}

// withEmptyToken is a batch of the claimed job's good ack and a bad one.
func withEmptyToken(p population) []backend.Ack {
	return []backend.Ack{ack(p.claimed), {ID: p.ids[3], Token: ""}}
}

func invalidCalls() []invalidCall {
	fresh := backend.NewJob{ID: "fresh", Payload: []byte(`{}`), MaxAttempts: 1}
	return []invalidCall{
		{"Enqueue/EmptyBatch", backend.ErrInvalidArgument, func(f *fixture, _ population) error { return enqueueCall(f) }},
		{"Enqueue/EmptyID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: "", MaxAttempts: 1})
		}},
		{"Enqueue/IDWithSpace", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: "a b", MaxAttempts: 1})
		}},
		// A URL path cannot carry "." or ".." (clients resolve /jobs/..
		// to /), so no HTTP API or dashboard could open such a job.
		{"Enqueue/DotID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: ".", MaxAttempts: 1})
		}},
		{"Enqueue/DotDotID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: "..", MaxAttempts: 1})
		}},
		{"Enqueue/DuplicateIDInBatch", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, fresh)
		}},
		{"Enqueue/MaxAttemptsZero", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: "other", MaxAttempts: 0})
		}},
		{"Enqueue/ExistingID", backend.ErrJobExists, func(f *fixture, p population) error {
			// A new job of the fixture's, placed with the others.
			return enqueueCall(f, f.job(maxAttempts(1)), backend.NewJob{ID: p.ids[3], MaxAttempts: 1})
		}},
		{"Claim/MaxZero", backend.ErrInvalidArgument, claimCall(0, longLease, 0)},
		{"Claim/LeaseZero", backend.ErrInvalidArgument, claimCall(1, 0, 0)},
		{"Claim/NegativeWait", backend.ErrInvalidArgument, claimCall(1, longLease, -time.Second)},
		{"Complete/EmptyBatch", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return whole(f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Retention: keep}))
		}},
		{"Complete/EmptyToken", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(completeOp.call(f, withEmptyToken(p)))
		}},
		{"Complete/EmptyID", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(completeOp.call(f, []backend.Ack{ack(p.claimed), {ID: "", Token: "t"}}))
		}},
		{"Complete/NegativeRetention", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(f.b.Complete(f.ctx, backend.CompleteParams{Queue: f.q, Items: []backend.Completion{{Ack: ack(p.claimed)}}, Retention: backend.Retention{Max: -1}}))
		}},
		{"Fail/EmptyToken", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(failDeadOp.call(f, withEmptyToken(p)))
		}},
		{"Fail/NegativeDelay", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: []backend.Failure{{Ack: ack(p.claimed), Delay: -time.Second}}, Retention: keep}))
		}},
		{"Extend/EmptyToken", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(extendOp.call(f, withEmptyToken(p)))
		}},
		{"Extend/LeaseZero", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(f.b.Extend(f.ctx, backend.ExtendParams{Queue: f.q, Items: []backend.Ack{ack(p.claimed)}}))
		}},
		{"Release/EmptyToken", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return whole(releaseOp.call(f, withEmptyToken(p)))
		}},
		{"Release/EmptyBatch", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return whole(releaseOp.call(f, nil))
		}},
		{"Reclaim/MaxZero", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			_, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: 0, DeadRetention: keep})
			return err
		}},
		{"List/UnknownState", backend.ErrInvalidState, listCall("failed", 0, 10)},
		{"List/EmptyState", backend.ErrInvalidState, listCall("", 0, 10)},
		{"List/LimitZero", backend.ErrInvalidArgument, listCall(backend.StatePending, 0, 0)},
		{"List/NegativeOffset", backend.ErrInvalidArgument, listCall(backend.StatePending, -1, 10)},
		{"Get/EmptyID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			_, err := f.b.Get(f.ctx, f.q, "")
			return err
		}},
		{"RetryDead/EmptyID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: ""})
		}},
		{"Delete/EmptyID", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: ""})
		}},
	}
}

// badIDs are job ids every method that takes one must refuse whole, never
// shorten or rewrite: one byte over the limit, and bytes outside printable
// ASCII.
var badIDs = []struct {
	name string
	id   string
}{
	{"TooLong", strings.Repeat("i", backend.MaxIDLen+1)},
	{"NonASCII", "jöb"},
	{"HighByte", "job\xff"},
	{"Control", "job\x01"},
}

// badIDCalls call every method that takes a job id with id, next to a good
// item where the method takes a batch.
func badIDCalls(id string) []invalidCall {
	fresh := backend.NewJob{ID: "fresh", Payload: []byte(`{}`), MaxAttempts: 1}
	acks := func(op ackOp) func(*fixture, population) error {
		return func(f *fixture, p population) error {
			return whole(op.call(f, []backend.Ack{ack(p.claimed), {ID: id, Token: "t"}}))
		}
	}
	return []invalidCall{
		{"Enqueue", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return enqueueCall(f, fresh, backend.NewJob{ID: id, MaxAttempts: 1})
		}},
		{"Complete", backend.ErrInvalidArgument, acks(completeOp)},
		{"Fail", backend.ErrInvalidArgument, acks(failDeadOp)},
		{"Extend", backend.ErrInvalidArgument, acks(extendOp)},
		{"Release", backend.ErrInvalidArgument, acks(releaseOp)},
		{"Get", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			_, err := f.b.Get(f.ctx, f.q, id)
			return err
		}},
		{"RetryDead", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: id})
		}},
		{"Delete", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id})
		}},
	}
}

// badRequestIDCalls call every method that takes a request id with id.
func badRequestIDCalls(id string) []invalidCall {
	return []invalidCall{
		{"Enqueue", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: f.q, Jobs: []backend.NewJob{{ID: "fresh", MaxAttempts: 1}}, RequestID: id})
		}},
		{"Claim", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			_, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: f.q, Max: 1, Lease: longLease, RequestID: id})
			return err
		}},
		{"Reclaim", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			_, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: 10, DeadRetention: keep, RequestID: id})
			return err
		}},
		{"Purge", backend.ErrInvalidArgument, func(f *fixture, _ population) error {
			return f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q, RequestID: id})
		}},
		{"RetryDead", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: f.q, ID: p.ids[1], RequestID: id})
		}},
		{"Delete", backend.ErrInvalidArgument, func(f *fixture, p population) error {
			return f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: p.ids[0], RequestID: id})
		}},
	}
}

func validationTests() []testCase {
	var cases []testCase
	calls := invalidCalls()
	for _, bad := range badIDs {
		for _, c := range badIDCalls(bad.id) {
			c.name = "ID/" + bad.name + "/" + c.name
			calls = append(calls, c)
		}
	}
	for name, id := range map[string]string{"TooLong": strings.Repeat("r", backend.MaxRequestIDLen+1), "Space": "req 1"} {
		for _, c := range badRequestIDCalls(id) {
			c.name = "RequestID/" + name + "/" + c.name
			calls = append(calls, c)
		}
	}
	for _, n := range badQueueNames {
		cases = append(cases, testCase{name: "QueueName/" + n.name, run: func(t *testing.T, f *fixture) {
			p := f.populate()
			bad := n.of(f.q)
			f.unchanged(func() {
				for _, m := range queueMethods(f) {
					require.ErrorIs(t, m.call(f, bad), backend.ErrInvalidQueueName, "%s on queue %q", m.name, bad)
				}
			}, p.ids...)
		}})
	}
	// "." and ".." may not name a new job, but they stay ids a read or a
	// delete takes, so a job stored before the rule can still be removed.
	cases = append(cases, testCase{name: "DotIDsStayReadable", run: func(t *testing.T, f *fixture) {
		p := f.populate()
		f.unchanged(func() {
			for _, id := range []string{".", ".."} {
				_, err := f.b.Get(f.ctx, f.q, id)
				require.ErrorIs(t, err, backend.ErrNotFound, "Get %q", id)
				require.ErrorIs(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: f.q, ID: id}), backend.ErrNotFound, "Delete %q", id)
			}
		}, p.ids...)
	}})
	for _, c := range calls {
		cases = append(cases, testCase{name: c.name, run: func(t *testing.T, f *fixture) {
			p := f.populate()
			f.unchanged(func() {
				require.ErrorIs(t, c.call(f, p), c.want)
			}, append(p.ids, "fresh", "other")...)
		}})
	}
	return cases
}
