package reliability

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// maxmemoryBytes is the server's memory limit in the maxmemory scenario:
// small, so that a few thousand jobs fill it in well under a second.
const maxmemoryBytes = 8 << 20

// TestMaxmemoryNoeviction is scenario 11: a Redis whose memory is full,
// under the noeviction policy. On each adapter, with a server of its own
// (--maxmemory 8mb --maxmemory-policy noeviction):
//
//   - the start-up check (backend.ConfigChecker) warns nothing for
//     noeviction, and does warn once the policy is allkeys-lru;
//   - producers flood the queue with EnqueueBatch and single Enqueue calls
//     of 1 KiB jobs until Redis refuses them: every refusal is
//     jobqueue.ErrFull, worded with Redis's reason, and half-writes nothing
//     (every job an enqueue reported is whole and pending, a refused one
//     is absent, and the job hashes, counted with SCAN, are exactly the
//     pending jobs);
//   - with memory still over the limit, claims, heartbeats, completes,
//     retries, a reclaim and the reads all work, while enqueues are still
//     refused: what drains the queue must never be what a full Redis
//     refuses;
//   - a Worker then drains the queue, every job once, and enqueues are
//     accepted again.
func TestMaxmemoryNoeviction(t *testing.T) {
	for _, a := range []struct {
		name string
		open redisqtest.Open
	}{{"goredis", redisqtest.GoRedis}, {"rueidis", redisqtest.Rueidis}} {
		t.Run(a.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.RequireProcess(),
				redistest.WithArgs("--maxmemory", strconv.Itoa(maxmemoryBytes), "--maxmemory-policy", "noeviction"))
			b, _ := a.open(t, srv.URL)
			raw := rawClient(t, srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			checkEvictionWarning(t, ctx, b, raw)

			q, err := jobqueue.New(b, "full")
			if err != nil {
				t.Fatal(err)
			}
			fl := flood(t, ctx, q)
			checkWhole(t, ctx, q, raw, fl)
			under := workWhileFull(t, ctx, b, q, raw)
			dr := drainFull(t, ctx, q, len(fl.stored))

			// Room again: the drained jobs' records were trimmed from the
			// completed history (default retention), so enqueues go in.
			if _, err := q.Enqueue(ctx, "after"); err != nil {
				t.Errorf("enqueue after the drain: %v", err)
			}

			report(t, Row{
				Scenario: "11 maxmemory, noeviction",
				Injected: fmt.Sprintf("--maxmemory %d MiB --maxmemory-policy noeviction; EnqueueBatch(100) and Enqueue of 1 KiB jobs until refused",
					maxmemoryBytes>>20),
				Jobs: len(fl.stored), Lost: len(fl.stored) - dr.completed, Duplicates: dr.duplicates,
				Result: fmt.Sprintf("%d batch and %d single enqueues refused with ErrFull, 0 half-written (job hashes = pending = %d); "+
					"while full: %s; then drained, enqueues accepted again; warning for allkeys-lru only",
					fl.batchRefused, fl.singleRefused, len(fl.stored), under),
			})
		})
	}
}

// checkEvictionWarning checks the start-up warning on the scenario's server:
// none under noeviction, one under allkeys-lru (set for the check, then
// set back).
func checkEvictionWarning(t *testing.T, ctx context.Context, b backend.Backend, raw *redis.Client) {
	t.Helper()
	cc, ok := b.(backend.ConfigChecker)
	if !ok {
		t.Fatalf("%T does not check its settings", b)
	}
	if w, err := cc.CheckConfig(ctx); err != nil || len(w) != 0 {
		t.Errorf("noeviction: CheckConfig = %q, %v; want no warning", w, err)
	}
	if err := raw.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	w, err := cc.CheckConfig(ctx)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "allkeys-lru") {
		t.Errorf("allkeys-lru: CheckConfig = %q, %v; want one warning naming the policy", w, err)
	}
	if err := raw.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
}

// flooded is what a flood stored and what was refused.
type flooded struct {
	stored                      []string
	refusedIDs                  []string // single enqueues refused, by the id they asked for
	batchRefused, singleRefused int
}

// flood enqueues batches of 100 jobs, each followed by 5 single enqueues,
// until both kinds have been refused 20 times in a row. Every refusal must
// be ErrFull and say why.
func flood(t *testing.T, ctx context.Context, q *jobqueue.Queue) flooded {
	t.Helper()
	const (
		batch, singles = 100, 5
		enough         = 20
		bound          = 100_000 // jobs: 8 MiB holds a few thousand
	)
	payload := strings.Repeat("x", 1000)
	batchVals := make([]any, batch)
	for i := range batchVals {
		batchVals[i] = payload
	}
	var f flooded
	refusal := func(what string, err error) {
		if !errors.Is(err, jobqueue.ErrFull) || !strings.Contains(err.Error(), "maxmemory") {
			t.Fatalf("%s refused with %v; want jobqueue.ErrFull with Redis's reason", what, err)
		}
	}
	batchRun, singleRun := 0, 0
	for n := 0; batchRun < enough || singleRun < enough; n++ {
		if len(f.stored) > bound {
			t.Fatalf("%d jobs stored and no enqueue refused: is maxmemory set?", len(f.stored))
		}
		ids, err := q.EnqueueBatch(ctx, batchVals)
		if err != nil {
			refusal("EnqueueBatch", err)
			f.batchRefused++
			batchRun++
		} else {
			f.stored = append(f.stored, ids...)
			batchRun = 0
		}
		for i := range singles {
			want := fmt.Sprintf("single-%d-%d", n, i)
			id, err := q.Enqueue(ctx, payload, jobqueue.WithID(want))
			if err != nil {
				refusal("Enqueue", err)
				f.singleRefused++
				f.refusedIDs = append(f.refusedIDs, want)
				singleRun++
				continue
			}
			f.stored = append(f.stored, id)
			singleRun = 0
		}
	}
	t.Logf("flood: %d jobs stored, %d batches and %d single enqueues refused", len(f.stored), f.batchRefused, f.singleRefused)
	return f
}

// checkWhole checks that the flood wrote whole jobs only: each reported job
// reads as pending with its payload, each refused one is absent, and the
// job hashes are exactly the pending jobs, none orphaned.
func checkWhole(t *testing.T, ctx context.Context, q *jobqueue.Queue, raw *redis.Client, f flooded) {
	t.Helper()
	for _, id := range f.stored {
		info, err := q.Get(ctx, id)
		if err != nil || info.State != jobqueue.StatePending || len(info.Payload) != 1002 {
			t.Fatalf("job %s, reported stored: %v, state %q, %d payload bytes; want whole and pending", id, err, info.State, len(info.Payload))
		}
	}
	for _, id := range f.refusedIDs {
		if _, err := q.Get(ctx, id); !errors.Is(err, jobqueue.ErrNotFound) {
			t.Fatalf("job %s, refused: Get = %v; want ErrNotFound", id, err)
		}
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hashes := countKeys(t, ctx, raw, "queue:{full}:job:*")
	if s.Pending != int64(len(f.stored)) || hashes != len(f.stored) || s.EnqueuedTotal != int64(len(f.stored)) {
		t.Fatalf("%d enqueues reported; %d pending, %d job hashes, enqueued_total %d; want all equal",
			len(f.stored), s.Pending, hashes, s.EnqueuedTotal)
	}
}

// countKeys counts the keys matching pattern with SCAN.
func countKeys(t *testing.T, ctx context.Context, raw *redis.Client, pattern string) int {
	t.Helper()
	n := 0
	iter := raw.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// usedMemory reads INFO memory's used_memory.
func usedMemory(t *testing.T, ctx context.Context, raw *redis.Client) int64 {
	t.Helper()
	info, err := raw.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// workWhileFull runs every call that drains or reads the queue while
// memory is over the limit, with a retention that keeps every finished
// record (so the calls free nothing and memory stays full), and checks
// that each is accepted and that enqueues are still refused after them.
func workWhileFull(t *testing.T, ctx context.Context, b backend.Backend, q *jobqueue.Queue, raw *redis.Client) string {
	t.Helper()
	if used := usedMemory(t, ctx, raw); used <= maxmemoryBytes {
		t.Fatalf("used_memory %d after the flood, not over maxmemory %d", used, maxmemoryBytes)
	}
	keep := backend.Retention{Max: 1_000_000, TTL: time.Hour}
	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: "full", Max: 200, Lease: time.Minute})
	if err != nil || len(jobs) != 200 {
		t.Fatalf("claim while full: %d jobs, %v; want 200", len(jobs), err)
	}
	acks := make([]backend.Ack, len(jobs))
	for i, j := range jobs {
		acks[i] = backend.Ack{ID: j.ID, Token: j.Token}
	}
	mustAllOK := func(what string, errs []error, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s while full: %v", what, err)
		}
		for i, e := range errs {
			if e != nil {
				t.Fatalf("%s while full, item %d: %v", what, i, e)
			}
		}
	}
	errs, err := b.Extend(ctx, backend.ExtendParams{Queue: "full", Items: acks, Lease: time.Minute})
	mustAllOK("heartbeat (Extend)", errs, err)
	completions := make([]backend.Completion, 150)
	for i := range completions {
		completions[i] = backend.Completion{Ack: acks[i], Result: []byte(`"done"`)}
	}
	errs, err = b.Complete(ctx, backend.CompleteParams{Queue: "full", Items: completions, Retention: keep})
	mustAllOK("Complete", errs, err)
	failures := make([]backend.Failure, 0, 50)
	for _, a := range acks[150:] {
		failures = append(failures, backend.Failure{Ack: a, Error: "retry me"})
	}
	errs, err = b.Fail(ctx, backend.FailParams{Queue: "full", Items: failures, Retention: keep})
	mustAllOK("Fail (retry)", errs, err)

	// A lease left to expire, and taken back.
	short, err := b.Claim(ctx, backend.ClaimParams{Queue: "full", Max: 10, Lease: 50 * time.Millisecond})
	if err != nil || len(short) != 10 {
		t.Fatalf("claim while full: %d jobs, %v; want 10", len(short), err)
	}
	time.Sleep(100 * time.Millisecond)
	r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: "full", Max: 1000, DeadRetention: keep})
	if err != nil || len(r.Requeued) != 10 {
		t.Fatalf("reclaim while full: %d requeued, %v; want 10", len(r.Requeued), err)
	}
	if _, err := b.List(ctx, backend.ListParams{Queue: "full", State: backend.StateCompleted, Limit: 10}); err != nil {
		t.Fatalf("List while full: %v", err)
	}
	if _, err := q.Stats(ctx); err != nil {
		t.Fatalf("Stats while full: %v", err)
	}
	if _, err := q.Enqueue(ctx, "still full?"); !errors.Is(err, jobqueue.ErrFull) {
		t.Fatalf("enqueue after the calls made while full: %v; want ErrFull (memory still over the limit)", err)
	}
	return "claim 200, heartbeat 200, complete 150, retry 50, reclaim 10, List, Stats accepted (enqueue still ErrFull)"
}

// drained is what the Worker did.
type drained struct {
	completed, duplicates int
}

// drainFull drains the queue with a Worker and the queue's default
// retention, counting each job's runs; stored is how many jobs the flood
// stored, all of which must complete.
func drainFull(t *testing.T, ctx context.Context, q *jobqueue.Queue, stored int) drained {
	t.Helper()
	runs, ws := drainHere(t, ctx, q, 32, 0, 60*time.Second)
	if ws.Completed != int64(stored-150) || ws.LostClaims != 0 {
		t.Errorf("worker: %d completions accepted, %d lost claims; want %d and 0", ws.Completed, ws.LostClaims, stored-150)
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 150 completed by hand while full, the rest by the Worker.
	var d drained
	d.completed = int(s.CompletedTotal)
	if d.completed != stored {
		t.Errorf("completed_total %d; want %d, every stored job", d.completed, stored)
	}
	if len(runs) != stored-150 {
		t.Errorf("the worker ran %d jobs; want %d", len(runs), stored-150)
	}
	for _, n := range runs {
		d.duplicates += n - 1
	}
	return d
}
