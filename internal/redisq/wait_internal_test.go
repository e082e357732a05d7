package redisq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// TestClaimTrustsAnEmptyQueue checks that a claim that would wait on a
// queue this process has found empty, with no wake-up since, does not run
// claim.lua; that work enqueued by another process still reaches it; and
// that a wake-up lost with the process that popped it (the marker deleted
// here) delays a job by no more than emptyTrust; and that a repeated claim
// always runs the script.
func TestClaimTrustsAnEmptyQueue(t *testing.T) {
	srv := redistest.Start(t)
	e, c := gateEngineOn(t, srv)
	producer, _ := gateEngineOn(t, srv)
	ctx := context.Background()
	const queue = "trust"
	claim := func(wait time.Duration) []backend.ClaimedJob {
		t.Helper()
		jobs, err := e.Claim(ctx, backend.ClaimParams{Queue: queue, Max: 1, Lease: time.Minute, Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}

	if jobs := claim(50 * time.Millisecond); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs of an empty queue", len(jobs))
	}
	if got := c.calls.Load(); got != 1 {
		t.Fatalf("the first claim ran %d scripts, want 1", got)
	}
	for range 3 {
		if jobs := claim(50 * time.Millisecond); len(jobs) != 0 {
			t.Fatalf("claimed %d jobs of an empty queue", len(jobs))
		}
	}
	if got := c.calls.Load(); got != 1 {
		t.Errorf("claims on a queue known empty ran %d scripts in all, want still 1", got)
	}

	// Another process's job wakes the waiting claim.
	got := make(chan []backend.ClaimedJob, 1)
	go func() { got <- claim(10 * time.Second) }()
	if err := producer.Enqueue(ctx, oneJob(queue, "a", "")); err != nil {
		t.Fatal(err)
	}
	if jobs := <-got; len(jobs) != 1 || jobs[0].ID != "a" {
		t.Fatalf("claim after another process's enqueue: %+v", jobs)
	}

	// A lost wake-up: the job is pending, the marker gone.
	if jobs := claim(50 * time.Millisecond); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs", len(jobs))
	}
	before := c.calls.Load()
	if jobs := claim(50 * time.Millisecond); len(jobs) != 0 || c.calls.Load() != before {
		t.Fatalf("the queue is not trusted empty: %d jobs, %d scripts", len(jobs), c.calls.Load()-before)
	}
	if err := producer.Enqueue(ctx, oneJob(queue, "b", "")); err != nil {
		t.Fatal(err)
	}
	if err := c.rdb.Del(ctx, KeysFor(queue).Marker).Err(); err != nil {
		t.Fatal(err)
	}
	e.emptyTrust = 0 // as if emptyTrust had passed
	if jobs := claim(50 * time.Millisecond); len(jobs) != 1 || jobs[0].ID != "b" {
		t.Fatalf("claim once the empty queue is no longer trusted: %+v", jobs)
	}

	// A claim whose reply was lost is repeated with its request id; the
	// queue, drained meanwhile by another claim of this process, reads as
	// empty, yet the repeat must get back what the first run took.
	if err := producer.Enqueue(ctx, oneJob(queue, "c", "")); err != nil {
		t.Fatal(err)
	}
	e.emptyTrust = time.Minute
	lost := backend.ClaimParams{Queue: queue, Max: 1, Lease: time.Minute, Wait: time.Second, RequestID: "claim-lost"}
	c.lose.Store(true)
	if _, err := e.Claim(ctx, lost); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("claim with its reply lost: %v", err)
	}
	if jobs := claim(50 * time.Millisecond); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs", len(jobs))
	}
	if q := e.waitQueue(queue); q.trustedEmpty() == 0 {
		t.Fatal("the queue is not trusted empty")
	}
	jobs, err := e.Claim(ctx, lost)
	if err != nil || len(jobs) != 1 || jobs[0].ID != "c" {
		t.Fatalf("repeat of the claim whose reply was lost: %+v, %v; want job c", jobs, err)
	}
}
