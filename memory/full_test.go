package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestFullThroughQueue is the reliability suite's maxmemory scenario
// (reliability/maxmemory_test.go) on a memory backend bounded to 1,000
// jobs, through the root Queue: producers flood it with EnqueueBatch and
// Enqueue until both are refused with jobqueue.ErrFull, which writes
// nothing; while it is full, every call that drains or reads the queue is
// accepted and enqueues are still refused; a Worker drains it, and
// enqueues are accepted again.
func TestFullThroughQueue(t *testing.T) {
	const bound = 1000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := memory.New(memory.WithMaxJobs(bound))
	q, err := jobqueue.New(b, "full")
	if err != nil {
		t.Fatal(err)
	}

	// The flood: batches of 100 and single jobs, until each is refused.
	var stored, refused []string
	batch := make([]any, 100)
	for i := range batch {
		batch[i] = "x"
	}
	batchRefused, singleRefused := 0, 0
	for round := 0; batchRefused == 0 || singleRefused == 0; round++ {
		if round > 2*bound {
			t.Fatalf("%d jobs stored and no refusal", len(stored))
		}
		if ids, err := q.EnqueueBatch(ctx, batch); errors.Is(err, jobqueue.ErrFull) {
			batchRefused++
		} else if err != nil {
			t.Fatalf("EnqueueBatch: %v; want success or ErrFull", err)
		} else {
			stored = append(stored, ids...)
		}
		for i := range 5 {
			id := fmt.Sprintf("single-%d-%d", round, i)
			switch _, err := q.Enqueue(ctx, "x", jobqueue.WithID(id)); {
			case errors.Is(err, jobqueue.ErrFull):
				singleRefused++
				refused = append(refused, id)
			case err != nil:
				t.Fatalf("Enqueue: %v; want success or ErrFull", err)
			default:
				stored = append(stored, id)
			}
		}
	}
	s, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != bound || s.Pending != bound || s.EnqueuedTotal != bound {
		t.Fatalf("%d enqueues reported, %d pending, enqueued_total %d; want all %d", len(stored), s.Pending, s.EnqueuedTotal, bound)
	}
	for _, id := range refused {
		if _, err := q.Get(ctx, id); !errors.Is(err, jobqueue.ErrNotFound) {
			t.Fatalf("refused job %s: Get = %v; want ErrNotFound", id, err)
		}
	}

	// While full, with a retention that frees nothing: claims,
	// heartbeats, completions, retries, a reclaim and reads go on.
	keep := backend.Retention{Max: bound, TTL: time.Hour}
	mustOK := func(what string, errs []error, err error) {
		t.Helper()
		if err = errors.Join(append(errs, err)...); err != nil {
			t.Fatalf("%s while full: %v", what, err)
		}
	}
	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: "full", Max: 200, Lease: time.Minute})
	if err != nil || len(jobs) != 200 {
		t.Fatalf("claim while full: %d jobs, %v", len(jobs), err)
	}
	acks := make([]backend.Ack, len(jobs))
	completions := make([]backend.Completion, 150)
	failures := make([]backend.Failure, 50)
	for i, j := range jobs {
		acks[i] = backend.Ack{ID: j.ID, Token: j.Token}
		if i < 150 {
			completions[i] = backend.Completion{Ack: acks[i], Result: []byte(`"done"`)}
		} else {
			failures[i-150] = backend.Failure{Ack: acks[i], Error: "retry me"}
		}
	}
	errs, err := b.Extend(ctx, backend.ExtendParams{Queue: "full", Items: acks, Lease: time.Minute})
	mustOK("heartbeat", errs, err)
	errs, err = b.Complete(ctx, backend.CompleteParams{Queue: "full", Items: completions, Retention: keep})
	mustOK("Complete", errs, err)
	errs, err = b.Fail(ctx, backend.FailParams{Queue: "full", Items: failures, Retention: keep})
	mustOK("Fail", errs, err)
	short, err := b.Claim(ctx, backend.ClaimParams{Queue: "full", Max: 10, Lease: time.Millisecond})
	if err != nil || len(short) != 10 {
		t.Fatalf("claim while full: %d jobs, %v", len(short), err)
	}
	var requeued int
	for deadline := time.Now().Add(10 * time.Second); requeued < 10; {
		r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: "full", Max: 100, DeadRetention: keep})
		if err != nil {
			t.Fatalf("reclaim while full: %v", err)
		}
		requeued += len(r.Requeued)
		if time.Now().After(deadline) {
			t.Fatalf("reclaim while full: %d requeued in 10 s; want 10", requeued)
		}
	}
	if _, err := q.List(ctx, jobqueue.StateCompleted, 0, 10); err != nil {
		t.Fatalf("List while full: %v", err)
	}
	if _, err := q.Enqueue(ctx, "still full?"); !errors.Is(err, jobqueue.ErrFull) {
		t.Fatalf("enqueue after the calls made while full: %v; want ErrFull", err)
	}

	// A Worker drains the rest; the queue's own retention trims the
	// completed history, which makes room.
	var ran atomic.Int64
	w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) {
		ran.Add(1)
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 8, ClaimWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	for ran.Load() < bound-150 {
		if ctx.Err() != nil {
			t.Fatalf("the worker ran %d jobs of %d", ran.Load(), bound-150)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, "after"); err != nil {
		t.Errorf("enqueue after the drain: %v", err)
	}
}
