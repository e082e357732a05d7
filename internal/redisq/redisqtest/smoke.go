package redisqtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// Smoke walks one queue through the main state changes, checking the
// token rules and the Redis-specific record keeping. The conformance suite
// is the full definition; this is the adapters' quick self-check.
func Smoke(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	q := QueueName(t)
	ret := backend.Retention{Max: 100, TTL: time.Minute}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	one := func(errs []error, err error) error {
		if err != nil {
			return err
		}
		return errs[0]
	}
	newJobs := func(ids ...string) []backend.NewJob {
		var js []backend.NewJob
		for _, id := range ids {
			js = append(js, backend.NewJob{ID: id, Payload: []byte("p-" + id), MaxAttempts: 2})
		}
		return js
	}
	claim := func(max int) []backend.ClaimedJob {
		t.Helper()
		jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: max, Lease: time.Minute})
		must(err)
		return jobs
	}

	must(b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: newJobs("a", "b", "c")}))
	err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: newJobs("d", "b")})
	if !errors.Is(err, backend.ErrJobExists) {
		t.Fatalf("enqueue of an existing id: %v", err)
	}
	if _, err := b.Get(ctx, q, "d"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("a failed batch stored a job: %v", err)
	}

	jobs := claim(2)
	if len(jobs) != 2 || jobs[0].ID != "a" || jobs[1].ID != "b" || string(jobs[0].Payload) != "p-a" || jobs[0].Attempts != 1 {
		t.Fatalf("claim = %+v", jobs)
	}
	if jobs[0].Token == jobs[1].Token {
		t.Fatal("two claims share a token")
	}
	a, bj := jobs[0], jobs[1]
	ackA := backend.Ack{ID: a.ID, Token: a.Token}

	// Complete, repeat (no-op), then a different outcome with the same token.
	cp := backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: ackA, Result: []byte("r")}}, Retention: ret}
	must(one(b.Complete(ctx, cp)))
	must(one(b.Complete(ctx, cp)))
	if err := one(b.Fail(ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: ackA, Error: "x"}}, Retention: ret})); !errors.Is(err, backend.ErrLostClaim) {
		t.Fatalf("fail after complete: %v", err)
	}
	info, err := b.Get(ctx, q, "a")
	must(err)
	if info.State != backend.StateCompleted || string(info.Result) != "r" || info.FinishedAt.IsZero() {
		t.Fatalf("completed job = %+v", info)
	}
	// A stale token and an unknown id, in one batch with a good item.
	errs, err := b.Extend(ctx, backend.ExtendParams{Queue: q, Lease: time.Minute, Items: []backend.Ack{
		{ID: bj.ID, Token: "stale"}, {ID: "nope", Token: "t"}, {ID: bj.ID, Token: bj.Token}}})
	must(err)
	if !errors.Is(errs[0], backend.ErrLostClaim) || !errors.Is(errs[1], backend.ErrNotFound) || errs[2] != nil {
		t.Fatalf("extend = %v", errs)
	}

	// Release puts b back at the head with its attempt given back.
	rp := backend.ReleaseParams{Queue: q, Items: []backend.Ack{{ID: bj.ID, Token: bj.Token}}}
	must(one(b.Release(ctx, rp)))
	must(one(b.Release(ctx, rp)))
	ids, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StatePending, Limit: 10})
	must(err)
	if !reflect.DeepEqual(ids, []string{"b", "c"}) {
		t.Fatalf("pending after release = %v", ids)
	}
	info, err = b.Get(ctx, q, "b")
	must(err)
	if info.Attempts != 0 || info.State != backend.StatePending {
		t.Fatalf("released job = %+v", info)
	}

	// Fail with retry, then dead-letter on the second attempt.
	jobs = claim(1)
	fp := backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: backend.Ack{ID: jobs[0].ID, Token: jobs[0].Token}, Error: "e1"}}, Retention: ret}
	must(one(b.Fail(ctx, fp)))
	must(one(b.Fail(ctx, fp)))
	jobs = claim(2) // c, then b again
	if len(jobs) != 2 || jobs[0].ID != "c" || jobs[1].ID != "b" || jobs[1].Attempts != 2 {
		t.Fatalf("claim after retry = %+v", jobs)
	}
	must(one(b.Fail(ctx, backend.FailParams{Queue: q, Items: []backend.Failure{{Ack: backend.Ack{ID: "b", Token: jobs[1].Token}, Error: "e2", Dead: true}}, Retention: ret})))
	info, err = b.Get(ctx, q, "b")
	must(err)
	if info.State != backend.StateFailed || info.LastError != "e2" || info.Attempts != 2 {
		t.Fatalf("dead job = %+v", info)
	}
	if err := b.RetryDead(ctx, q, "c"); !errors.Is(err, backend.ErrWrongState) {
		t.Fatalf("retry of a processing job: %v", err)
	}
	must(b.RetryDead(ctx, q, "b"))
	if info, _ = b.Get(ctx, q, "b"); info.State != backend.StatePending || info.Attempts != 0 {
		t.Fatalf("retried job = %+v", info)
	}

	// Delete a processing job: its holder then gets ErrNotFound.
	must(b.Delete(ctx, q, "c"))
	if err := one(b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: backend.Ack{ID: "c", Token: jobs[0].Token}}}, Retention: ret})); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("complete of a deleted job: %v", err)
	}

	// A lease that expires is reclaimed; on the last attempt it dead-letters.
	must(b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "p", MaxAttempts: 1}}}))
	jobs, err = b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 5, Lease: 30 * time.Millisecond})
	must(err)
	if len(jobs) != 2 {
		t.Fatalf("claim = %+v", jobs)
	}
	time.Sleep(60 * time.Millisecond)
	r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: q, Max: 10, DeadRetention: ret})
	must(err)
	if !reflect.DeepEqual(r.Requeued, []string{"b"}) || !reflect.DeepEqual(r.Dead, []string{"p"}) {
		t.Fatalf("reclaim = %+v", r)
	}
	if info, _ = b.Get(ctx, q, "p"); info.State != backend.StateFailed || !strings.Contains(info.LastError, "lease expired") {
		t.Fatalf("reclaimed poison job = %+v", info)
	}
	if err := one(b.Extend(ctx, backend.ExtendParams{Queue: q, Lease: time.Minute, Items: []backend.Ack{{ID: "b", Token: jobs[0].Token}}})); !errors.Is(err, backend.ErrLostClaim) {
		t.Fatalf("extend after reclaim: %v", err)
	}

	// A delayed job is claimed by a waiting claim soon after its time.
	must(b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "later", MaxAttempts: 1, Delay: 150 * time.Millisecond}}}))
	jobs = claim(5) // b only
	if len(jobs) != 1 || jobs[0].ID != "b" {
		t.Fatalf("claim before the delay = %+v", jobs)
	}
	start := time.Now()
	jobs, err = b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 3 * time.Second})
	must(err)
	if len(jobs) != 1 || jobs[0].ID != "later" || time.Since(start) > time.Second {
		t.Fatalf("delayed claim = %+v after %v", jobs, time.Since(start))
	}

	// A cancelled claim returns at once with the context's error.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = b.Claim(cctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 5 * time.Second})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled claim: %v", err)
	}

	st, err := b.Stats(ctx, q)
	must(err)
	want := backend.Stats{Processing: 2, Completed: 1, Failed: 1, EnqueuedTotal: 5, ClaimedTotal: 9,
		CompletedTotal: 1, RetriedTotal: 1, FailedTotal: 2, ReclaimedTotal: 2}
	if st != want {
		t.Fatalf("stats = %+v\nwant    %+v", st, want)
	}
	must(b.Purge(ctx, q))
	if st, _ = b.Stats(ctx, q); st != (backend.Stats{}) {
		t.Fatalf("stats after purge = %+v", st)
	}
}

// Events checks that state changes are published as events.
func Events(t *testing.T, b backend.Backend) {
	sub, ok := b.(backend.Subscriber)
	if !ok {
		t.Fatal("backend is not a Subscriber")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := QueueName(t)
	ch, err := sub.Subscribe(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "e1", MaxAttempts: 1}, {ID: "e2", MaxAttempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Purge(ctx, q); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-ch:
			got = append(got, fmt.Sprintf("%v %s %v", ev.Queue == q, ev.Kind, ev.IDs))
		case <-time.After(2 * time.Second):
			t.Fatalf("events so far: %v", got)
		}
	}
	if want := []string{"true enqueued [e1 e2]", "true purged []"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	cancel()
	for range ch { // closed once ctx is done
	}
}

// CommandCounts measures how many Redis commands one enqueue, one claim and
// one complete of a single job cost in the steady state, from INFO
// commandstats deltas on a server of its own that nothing else uses, and
// logs them.
func CommandCounts(t *testing.T, open Open) map[string]map[string]int64 {
	ctx := context.Background()
	b, info := open(t, redistest.Start(t).URL)
	q := QueueName(t)
	snapshot := func() map[string]int64 {
		s, err := info(ctx, "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, line := range strings.Split(s, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			m[strings.TrimPrefix(name, "cmdstat_")], _ = strconv.ParseInt(calls, 10, 64)
		}
		return m
	}
	out := map[string]map[string]int64{}
	measure := func(op string, f func() error) {
		t.Helper()
		before := snapshot()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		after := snapshot()
		d := map[string]int64{}
		for k, v := range after {
			if n := v - before[k]; n > 0 && k != "info" {
				d[k] = n
			}
		}
		if n := after["info"] - before["info"] - 1; n > 0 {
			d["info"] = n
		}
		out[op] = d
	}
	// The first round loads the scripts (EVALSHA, NOSCRIPT, EVAL) and lets
	// the client set up its connections; the second is the steady state.
	for _, id := range []string{"warm-up", "measured"} {
		var job backend.ClaimedJob
		measure("enqueue", func() error {
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: id, Payload: []byte("x"), MaxAttempts: 1}}})
		})
		measure("claim", func() error {
			jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
			if err == nil && len(jobs) == 1 {
				job = jobs[0]
			}
			return err
		})
		measure("complete", func() error {
			errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: backend.Ack{ID: job.ID, Token: job.Token}}},
				Retention: backend.Retention{Max: 100, TTL: time.Minute}})
			return errors.Join(err, errors.Join(errs...))
		})
	}
	for op, d := range out {
		t.Logf("%s: %v", op, d)
		if d["evalsha"] != 1 || d["eval"] != 0 {
			t.Errorf("%s: want one EVALSHA round trip, got %v", op, d)
		}
	}
	_ = b.Purge(ctx, q)
	return out
}
