package redisq_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// These tests pin down how the engine stores the fields of issue #14
// (kind, headers, priority levels, timeouts, expiry, snooze) in Redis;
// the conformance suite holds every backend to their semantics.

// bothAdapters runs f on a Backend of each adapter, and a plain client on
// the same server for looking at the keys.
func bothAdapters(t *testing.T, f func(t *testing.T, b backend.Backend, raw *redis.Client, q string)) {
	srv := redistest.Shared(t)
	for _, a := range []struct {
		name    string
		connect func(t *testing.T, srv *redistest.Server, addr string) backend.Backend
	}{
		{"goredis", func(t *testing.T, srv *redistest.Server, addr string) backend.Backend {
			return newGoredis(t, srv, addr)
		}},
		{"rueidis", newRueidis},
	} {
		t.Run(a.name, func(t *testing.T) {
			b := a.connect(t, srv, "")
			q := redisqtest.QueueName(t)
			t.Cleanup(func() { _ = b.Purge(context.Background(), backend.PurgeParams{Queue: q}) })
			f(t, b, goredisClient(t, srv, ""), q)
		})
	}
}

var keep = backend.Retention{Max: 100, TTL: time.Hour}

func enqueueJobs(t *testing.T, b backend.Backend, q string, jobs ...backend.NewJob) {
	t.Helper()
	for i := range jobs {
		if jobs[i].MaxAttempts == 0 {
			jobs[i].MaxAttempts = 3
		}
		if jobs[i].Payload == nil {
			jobs[i].Payload = []byte("p-" + jobs[i].ID)
		}
	}
	if err := b.Enqueue(context.Background(), backend.EnqueueParams{Queue: q, Jobs: jobs}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func claimN(t *testing.T, b backend.Backend, q string, n int) []backend.ClaimedJob {
	t.Helper()
	jobs, err := b.Claim(context.Background(), backend.ClaimParams{Queue: q, Max: n, Lease: time.Minute, DeadRetention: keep})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return jobs
}

func listPending(t *testing.T, b backend.Backend, q string, offset, limit int) []string {
	t.Helper()
	ids, err := b.List(context.Background(), backend.ListParams{Queue: q, State: backend.StatePending, Offset: offset, Limit: limit})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return ids
}

func failOne(t *testing.T, b backend.Backend, q string, f backend.Failure) {
	t.Helper()
	errs, err := b.Fail(context.Background(), backend.FailParams{Queue: q, Items: []backend.Failure{f}, Retention: keep})
	if err = errors.Join(err, errors.Join(errs...)); err != nil {
		t.Fatalf("fail %+v: %v", f, err)
	}
}

// TestJobFieldsRoundTrip stores every new field and reads it back through
// Get and Claim; a job that uses none of them stores none of their fields.
func TestJobFieldsRoundTrip(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		headers := map[string]string{"traceparent": "00-abc-01", "tenant": "ünï <&>", "empty": ""}
		enqueueJobs(t, b, q,
			backend.NewJob{ID: "full", Kind: "email.send", Headers: headers, Priority: 2, Timeout: 1500 * time.Millisecond, Expiry: time.Hour},
			backend.NewJob{ID: "plain", Headers: map[string]string{}})
		k := redisq.KeysFor(q)
		for _, f := range []string{"kind", "headers", "priority", "timeout_ms", "expires_at_ms"} {
			if raw.HExists(ctx, k.Job("plain"), f).Val() {
				t.Errorf("a job that uses no %s stores the field", f)
			}
		}
		full := requireJob(t, b, q, "full", backend.StatePending, 0)
		if full.Kind != "email.send" || !reflect.DeepEqual(full.Headers, headers) || full.Priority != 2 ||
			full.Timeout != 1500*time.Millisecond || !full.ExpiresAt.Equal(full.EnqueuedAt.Add(time.Hour)) {
			t.Errorf("Get = %+v", full)
		}
		plain := requireJob(t, b, q, "plain", backend.StatePending, 0)
		if plain.Kind != "" || plain.Headers != nil || plain.Priority != 0 || plain.Timeout != 0 || !plain.ExpiresAt.IsZero() {
			t.Errorf("Get of a plain job = %+v", plain)
		}
		jobs := claimN(t, b, q, 2)
		if !reflect.DeepEqual(claimIDs(jobs), []string{"full", "plain"}) {
			t.Fatalf("claimed %v", claimIDs(jobs))
		}
		if j := jobs[0]; j.Kind != "email.send" || !reflect.DeepEqual(j.Headers, headers) || j.Priority != 2 || j.Timeout != 1500*time.Millisecond {
			t.Errorf("claimed %+v", j)
		}
		if j := jobs[1]; j.Kind != "" || j.Headers != nil || j.Priority != 0 || j.Timeout != 0 {
			t.Errorf("claimed plain job %+v", j)
		}
		if info := requireJob(t, b, q, "full", backend.StateProcessing, 1); !reflect.DeepEqual(info.Headers, headers) {
			t.Errorf("Get while processing = %+v", info)
		}
	})
}

// TestPriorityLevels checks that each level has its list, that a claim
// takes the highest level first, FIFO within a level, across batches, and
// that every way back to pending keeps a job's level.
func TestPriorityLevels(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		k := redisq.KeysFor(q)
		enqueueJobs(t, b, q,
			backend.NewJob{ID: "a0"}, backend.NewJob{ID: "b1", Priority: 1}, backend.NewJob{ID: "c3", Priority: 3},
			backend.NewJob{ID: "d0"}, backend.NewJob{ID: "e2", Priority: 2}, backend.NewJob{ID: "f3", Priority: 3},
			backend.NewJob{ID: "g1", Priority: 1})
		for l, want := range [][]string{{"a0", "d0"}, {"b1", "g1"}, {"e2"}, {"c3", "f3"}} {
			if got := raw.LRange(ctx, k.Levels[l], 0, -1).Val(); !reflect.DeepEqual(got, want) {
				t.Errorf("level %d list %s = %v, want %v", l, k.Levels[l], got, want)
			}
		}
		order := []string{"c3", "f3", "e2", "b1", "g1", "a0", "d0"}
		if got := listPending(t, b, q, 0, 10); !reflect.DeepEqual(got, order) {
			t.Errorf("List pending = %v, want %v", got, order)
		}
		for _, off := range []int{1, 2, 3, 5, 6, 7} {
			if got := listPending(t, b, q, off, 2); !reflect.DeepEqual(got, order[off:min(off+2, len(order))]) {
				t.Errorf("List pending offset %d = %v, want %v", off, got, order[off:min(off+2, len(order))])
			}
		}
		if s, err := b.Stats(ctx, q); err != nil || s.Pending != 7 {
			t.Errorf("Stats = %+v, %v; want 7 pending", s, err)
		}

		// A batch that spans two levels, then one that ends a level.
		first := claimN(t, b, q, 3)
		if got := claimIDs(first); !reflect.DeepEqual(got, []string{"c3", "f3", "e2"}) {
			t.Fatalf("first batch %v", got)
		}
		// Release goes to the head of the job's level, not of pending.
		enqueueJobs(t, b, q, backend.NewJob{ID: "h3", Priority: 3})
		errs, err := b.Release(ctx, backend.ReleaseParams{Queue: q, Items: []backend.Ack{ack(first[1]), ack(first[2])}})
		if err = errors.Join(err, errors.Join(errs...)); err != nil {
			t.Fatal(err)
		}
		if got := listPending(t, b, q, 0, 10); !reflect.DeepEqual(got, []string{"f3", "h3", "e2", "b1", "g1", "a0", "d0"}) {
			t.Errorf("after the release, List pending = %v", got)
		}
		// Retries go to the tail of their level; so do reclaimed jobs and
		// jobs retried from the dead history.
		second := claimN(t, b, q, 4)
		if got := claimIDs(second); !reflect.DeepEqual(got, []string{"f3", "h3", "e2", "b1"}) {
			t.Fatalf("second batch %v", got)
		}
		failOne(t, b, q, backend.Failure{Ack: ack(second[3]), Error: "again"})
		failOne(t, b, q, backend.Failure{Ack: ack(second[2]), Error: "dead", Dead: true})
		if err := b.RetryDead(ctx, backend.RetryDeadParams{Queue: q, ID: "e2"}); err != nil {
			t.Fatal(err)
		}
		if got := listPending(t, b, q, 0, 10); !reflect.DeepEqual(got, []string{"e2", "g1", "b1", "a0", "d0"}) {
			t.Errorf("after a retry and a retried dead job, List pending = %v", got)
		}
		// A deleted pending job leaves its level's list.
		if err := b.Delete(ctx, backend.DeleteParams{Queue: q, ID: "g1"}); err != nil {
			t.Fatal(err)
		}
		if got := raw.LRange(ctx, k.Levels[1], 0, -1).Val(); !reflect.DeepEqual(got, []string{"b1"}) {
			t.Errorf("level 1 after deleting g1 = %v", got)
		}
		// Purge deletes every level.
		if err := b.Purge(ctx, backend.PurgeParams{Queue: q}); err != nil {
			t.Fatal(err)
		}
		for l, key := range k.Levels {
			if raw.Exists(ctx, key).Val() != 0 {
				t.Errorf("level %d list left after Purge", l)
			}
		}
	})
}

// TestReclaimKeepsLevel lets a lease run out: Reclaim puts the job at the
// tail of its own level.
func TestReclaimKeepsLevel(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		enqueueJobs(t, b, q, backend.NewJob{ID: "r2", Priority: 2})
		if _, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		enqueueJobs(t, b, q, backend.NewJob{ID: "s2", Priority: 2}, backend.NewJob{ID: "t0"})
		time.Sleep(5 * time.Millisecond)
		r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: q, Max: 10, DeadRetention: keep})
		if err != nil || !reflect.DeepEqual(r.Requeued, []string{"r2"}) {
			t.Fatalf("reclaim = %+v, %v", r, err)
		}
		if got := raw.LRange(ctx, redisq.KeysFor(q).Levels[2], 0, -1).Val(); !reflect.DeepEqual(got, []string{"s2", "r2"}) {
			t.Errorf("level 2 after the reclaim = %v", got)
		}
	})
}

// TestPromotionIntoLevels lets delayed jobs of several levels fall due:
// each is promoted to its own level, so a due job of a high level is
// claimed before pending jobs of lower ones.
func TestPromotionIntoLevels(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		delay := 30 * time.Millisecond
		enqueueJobs(t, b, q,
			backend.NewJob{ID: "late0", Delay: delay}, backend.NewJob{ID: "late3", Priority: 3, Delay: delay},
			backend.NewJob{ID: "now1", Priority: 1}, backend.NewJob{ID: "now0"})
		time.Sleep(2 * delay)
		// List reads without promoting: pending levels, then due jobs in
		// run-at order.
		if got := listPending(t, b, q, 0, 10); !reflect.DeepEqual(got, []string{"now1", "now0", "late0", "late3"}) {
			t.Errorf("List pending = %v", got)
		}
		if got := claimIDs(claimN(t, b, q, 10)); !reflect.DeepEqual(got, []string{"late3", "now1", "now0", "late0"}) {
			t.Errorf("claimed %v, want the promoted level-3 job first and the promoted level-0 job last", got)
		}
	})
}

// TestExpiryAtClaim lets a job's expiry pass before its claim: the claim
// skips it, dead-lettered as expired, in a batch with live jobs, on a
// first claim and on a retry's; RetryDead sends it back without expiry.
func TestExpiryAtClaim(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		events := subscribe(t, b, q)
		expiry := 40 * time.Millisecond
		enqueueJobs(t, b, q,
			backend.NewJob{ID: "live1"}, backend.NewJob{ID: "old", Expiry: expiry},
			backend.NewJob{ID: "old-high", Priority: 3, Expiry: expiry}, backend.NewJob{ID: "live2"}, backend.NewJob{ID: "live3"})
		time.Sleep(2 * expiry)
		if got := claimIDs(claimN(t, b, q, 2)); !reflect.DeepEqual(got, []string{"live1", "live2"}) {
			t.Fatalf("claimed %v, want the two live jobs and no expired one", got)
		}
		for _, id := range []string{"old", "old-high"} {
			info := requireJob(t, b, q, id, backend.StateDead, 0)
			if !strings.Contains(info.LastError, "expired") {
				t.Errorf("%s: last error %q does not say it expired", id, info.LastError)
			}
		}
		if dead, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StateDead, Limit: 10}); err != nil || len(dead) != 2 {
			t.Errorf("dead history = %v, %v", dead, err)
		}
		if s, err := b.Stats(ctx, q); err != nil || s.DeadTotal != 2 || s.ClaimedTotal != 2 || s.Pending != 1 {
			t.Errorf("Stats = %+v, %v", s, err)
		}
		waitEvent(t, events, backend.EventDead, "old-high", "old")

		// A retry's claim meets the expiry too. Its expiry leaves room for
		// the enqueue, claim and fail before it on a loaded machine; the
		// wait is until the instant the store reports.
		enqueueJobs(t, b, q, backend.NewJob{ID: "retried", Priority: 1, Expiry: time.Second})
		j := claimN(t, b, q, 1)
		if len(j) != 1 || j[0].ID != "retried" {
			t.Fatalf("claimed %v", claimIDs(j))
		}
		failOne(t, b, q, backend.Failure{Ack: ack(j[0]), Error: "boom"})
		time.Sleep(time.Until(requireJob(t, b, q, "retried", backend.StatePending, 1).ExpiresAt) + 20*time.Millisecond)
		if got := claimIDs(claimN(t, b, q, 1)); !reflect.DeepEqual(got, []string{"live3"}) {
			t.Fatalf("claimed %v, want the live job past the expired retry", got)
		}
		if info := requireJob(t, b, q, "retried", backend.StateDead, 1); !strings.Contains(info.LastError, "expired") {
			t.Errorf("expired retry: last error %q", info.LastError)
		}
		// A job sent back by hand runs.
		if err := b.RetryDead(ctx, backend.RetryDeadParams{Queue: q, ID: "old"}); err != nil {
			t.Fatal(err)
		}
		if info := requireJob(t, b, q, "old", backend.StatePending, 0); !info.ExpiresAt.IsZero() {
			t.Errorf("a job retried from the dead history keeps its expiry %v", info.ExpiresAt)
		}
		if got := claimIDs(claimN(t, b, q, 1)); !reflect.DeepEqual(got, []string{"old"}) {
			t.Errorf("claimed %v, want the job retried by hand", got)
		}
	})
}

// TestExpiredSkipsAreBounded fills pending with more expired jobs than a
// claim skips: each call stays within its budget, and the claim loop still
// reaches the live job behind them.
func TestExpiredSkipsAreBounded(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		jobs := make([]backend.NewJob, 1500)
		for i := range jobs {
			jobs[i] = backend.NewJob{ID: fmt.Sprintf("x%04d", i), Expiry: time.Millisecond}
		}
		enqueueJobs(t, b, q, jobs...)
		enqueueJobs(t, b, q, backend.NewJob{ID: "live"})
		time.Sleep(5 * time.Millisecond)
		if got := claimIDs(claimN(t, b, q, 1)); !reflect.DeepEqual(got, []string{"live"}) {
			t.Fatalf("claimed %v", got)
		}
		if s, err := b.Stats(context.Background(), q); err != nil || s.DeadTotal != 1500 {
			t.Errorf("Stats = %+v, %v", s, err)
		}
	})
}

// TestSnooze snoozes claimed jobs, at once and with a delay: the attempt
// is given back, the last error kept, no retry counted, the job stays on
// its level, and one snoozed event names every job of the call.
func TestSnooze(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		k := redisq.KeysFor(q)
		events := subscribe(t, b, q)
		enqueueJobs(t, b, q, backend.NewJob{ID: "s", Priority: 2, MaxAttempts: 2}, backend.NewJob{ID: "u", Priority: 2})
		j := claimN(t, b, q, 1)
		failOne(t, b, q, backend.Failure{Ack: ack(j[0]), Error: "first"})
		j = claimN(t, b, q, 2) // u, then s on its second attempt
		if got := claimIDs(j); !reflect.DeepEqual(got, []string{"u", "s"}) || j[1].Attempts != 2 {
			t.Fatalf("claimed %+v", j)
		}
		items := []backend.Failure{
			{Ack: ack(j[1]), Error: "ignored", Snooze: true},
			{Ack: ack(j[0]), Snooze: true, Delay: time.Hour},
		}
		for range 2 { // the repeat changes nothing
			errs, err := b.Fail(ctx, backend.FailParams{Queue: q, Items: items, Retention: keep})
			if err = errors.Join(err, errors.Join(errs...)); err != nil {
				t.Fatal(err)
			}
		}
		waitEvent(t, events, backend.EventSnoozed, "s", "u")
		s := requireJob(t, b, q, "s", backend.StatePending, 1)
		if s.LastError != "first" {
			t.Errorf("snoozed job's last error = %q, want it kept", s.LastError)
		}
		if got := raw.LRange(ctx, k.Levels[2], 0, -1).Val(); !reflect.DeepEqual(got, []string{"s"}) {
			t.Errorf("level 2 = %v, want the job snoozed at once", got)
		}
		u := requireJob(t, b, q, "u", backend.StateScheduled, 0)
		if d := time.Until(u.RunAt); d < 59*time.Minute || d > time.Hour+time.Minute || u.LastError != "" {
			t.Errorf("job snoozed for an hour: %+v", u)
		}
		st, err := b.Stats(ctx, q)
		if err != nil || st.RetriedTotal != 1 || st.Pending != 1 || st.Scheduled != 1 {
			t.Errorf("Stats = %+v, %v; want only the first failure counted as a retry", st, err)
		}
		// The snoozed job runs its second attempt again; its max attempts
		// still allow it.
		if j := claimN(t, b, q, 1); len(j) != 1 || j[0].ID != "s" || j[0].Attempts != 2 {
			t.Errorf("claimed after the snooze: %+v", j)
		}
		select {
		case ev := <-events:
			if ev.Kind == backend.EventSnoozed {
				t.Errorf("a repeated snooze published again: %+v", ev)
			}
		case <-time.After(50 * time.Millisecond):
		}
	})
}

func ack(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }

func subscribe(t *testing.T, b backend.Backend, q string) <-chan backend.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := b.(backend.Subscriber).Subscribe(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// waitEvent waits for one event of kind and checks its ids, in any order.
func waitEvent(t *testing.T, events <-chan backend.Event, kind backend.EventKind, ids ...string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind != kind {
				continue
			}
			got := map[string]bool{}
			for _, id := range ev.IDs {
				got[id] = true
			}
			want := map[string]bool{}
			for _, id := range ids {
				want[id] = true
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s event names %v, want %v", kind, ev.IDs, ids)
			}
			return
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}
