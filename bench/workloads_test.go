package bench

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// TestWorkloads runs every workload once, at a tiny size, on every backend,
// and checks what each left in the queue: the benchmarks time these same
// functions, so a plain go test catches a workload that broke.
func TestWorkloads(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			bk, _ := tg.open(t)
			q := newQueue(t, bk, jobqueue.WithMaxAttempts(10))
			p := json.RawMessage(payload())

			if _, err := q.Enqueue(ctx, p); err != nil {
				t.Fatal(err)
			}
			if err := enqueueBatch(ctx, q, p, 100); err != nil {
				t.Fatal(err)
			}
			if err := fill(ctx, q, 1500); err != nil {
				t.Fatal(err)
			}
			expect(t, q, 1601, 0, 0)

			for range 3 {
				if err := claimCompleteOne(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := claimCompleteBatch(ctx, q, 100); err != nil || n != 100 {
				t.Fatalf("batch claim and complete: %d jobs, %v", n, err)
			}
			expect(t, q, 1498, 0, 103)

			if _, err := drain(ctx, q, 1498); err != nil {
				t.Fatal(err)
			}
			expect(t, q, 0, 0, 1601)

			if err := fill(ctx, q, 498); err != nil {
				t.Fatal(err)
			}
			if err := claimAll(ctx, q, 400, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := reclaim(ctx, q, 0); err != nil {
				t.Fatal(err)
			}
			expect(t, q, 98, 400, 1601)
			if err := q.Purge(ctx); err != nil {
				t.Fatal(err)
			}
			if err := fill(ctx, q, 300); err != nil {
				t.Fatal(err)
			}
			if err := claimAll(ctx, q, 300, expiredLease); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * expiredLease)
			if err := reclaim(ctx, q, 300); err != nil {
				t.Fatal(err)
			}
			expect(t, q, 300, 0, 0)
		})
	}
}

// expect checks the queue's depths and its completed counter.
func expect(t *testing.T, q *jobqueue.Queue, pending, processing, completed int64) {
	t.Helper()
	st, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != pending || st.Processing != processing || st.CompletedTotal != completed {
		t.Fatalf("pending %d, processing %d, completed %d; want %d, %d, %d",
			st.Pending, st.Processing, st.CompletedTotal, pending, processing, completed)
	}
}
