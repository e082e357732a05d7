package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The workloads, shared by the benchmarks and by TestWorkloads, which runs
// each once at a tiny size so that a plain go test exercises them.

// fillBatch is the batch size used to pre-load queues, outside the timer.
const fillBatch = 1000

// drainConcurrency is the worker pool of the drain workload.
const drainConcurrency = 32

// completedRetention is the queue's default completed history.
var completedRetention = backend.Retention{Max: jobqueue.DefaultCompletedMax, TTL: jobqueue.DefaultCompletedTTL}

// fill enqueues n jobs with 100-byte payloads in large batches.
func fill(ctx context.Context, q *jobqueue.Queue, n int, opts ...jobqueue.EnqueueOption) error {
	p := json.RawMessage(payload())
	batch := make([]any, 0, fillBatch)
	for n > 0 {
		batch = batch[:0]
		for range min(n, fillBatch) {
			batch = append(batch, p)
		}
		if _, err := q.EnqueueBatch(ctx, batch, opts...); err != nil {
			return err
		}
		n -= len(batch)
	}
	return nil
}

// enqueueBatch enqueues one batch of size jobs in one call.
func enqueueBatch(ctx context.Context, q *jobqueue.Queue, p json.RawMessage, size int) error {
	batch := make([]any, size)
	for i := range batch {
		batch[i] = p
	}
	_, err := q.EnqueueBatch(ctx, batch)
	return err
}

// claimCompleteOne claims one job and completes it, through the Queue.
func claimCompleteOne(ctx context.Context, q *jobqueue.Queue) error {
	jobs, err := q.Claim(ctx, 1, 0)
	if err != nil {
		return err
	}
	if len(jobs) != 1 {
		return fmt.Errorf("claimed %d jobs, want 1", len(jobs))
	}
	return jobs[0].Complete(ctx, nil)
}

// claimCompleteBatch claims up to size jobs and completes them in one
// backend call, as a Worker does with its acknowledgements.
func claimCompleteBatch(ctx context.Context, q *jobqueue.Queue, size int) (int, error) {
	b := q.Backend()
	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q.Name(), Max: size, Lease: q.Lease()})
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	items := make([]backend.Completion, len(jobs))
	for i, j := range jobs {
		items[i] = backend.Completion{Ack: backend.Ack{ID: j.ID, Token: j.Token}}
	}
	errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q.Name(), Items: items, Retention: completedRetention})
	if err != nil {
		return 0, err
	}
	for _, e := range errs {
		if e != nil {
			return 0, e
		}
	}
	return len(jobs), nil
}

// drain runs a Worker of drainConcurrency no-op handlers until it has
// completed n jobs, and returns how long that took; stopping the worker is
// not counted.
func drain(ctx context.Context, q *jobqueue.Queue, n int) (time.Duration, error) {
	w, err := q.NewWorker(func(context.Context, *jobqueue.Job) (any, error) { return nil, nil },
		jobqueue.WorkerOptions{Concurrency: drainConcurrency})
	if err != nil {
		return 0, err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stop(); <-done }()
	// Polling the worker's counter costs a few atomic loads per 100 µs.
	t := time.NewTicker(100 * time.Microsecond)
	defer t.Stop()
	for w.Stats().Completed < int64(n) {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("drain: %d of %d completed: %w", w.Stats().Completed, n, ctx.Err())
		case <-t.C:
		}
	}
	return time.Since(start), nil
}

// claimAll claims n pending jobs, in large batches, with the given lease.
func claimAll(ctx context.Context, q *jobqueue.Queue, n int, lease time.Duration) error {
	for n > 0 {
		jobs, err := q.Backend().Claim(ctx, backend.ClaimParams{Queue: q.Name(), Max: min(n, fillBatch), Lease: lease})
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			return fmt.Errorf("claimAll: queue ran dry with %d jobs to go", n)
		}
		n -= len(jobs)
	}
	return nil
}

// reclaim runs one Queue.Reclaim (which loops in batches while they come
// back full) and checks how many leases it took back.
func reclaim(ctx context.Context, q *jobqueue.Queue, want int) error {
	r, err := q.Reclaim(ctx)
	if err != nil {
		return err
	}
	if r.Len() != want {
		return fmt.Errorf("reclaimed %d jobs, want %d", r.Len(), want)
	}
	return nil
}

// expiredLease is the lease of the all-expired reclaim workload: claiming
// a batch takes longer, so every lease is over once the claims are done.
const expiredLease = time.Millisecond
