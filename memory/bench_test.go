package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The rules the memory backend keeps are pinned down by the conformance
// suite (conformance_test.go); this file only measures it.

const lease = time.Minute

func ack(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }

func BenchmarkThroughput(b *testing.B) {
	be := New()
	ctx := context.Background()
	const batch = 100
	jobs := make([]backend.NewJob, batch)
	items := make([]backend.Completion, 0, batch)
	b.ResetTimer()
	for i := range b.N {
		for k := range jobs {
			jobs[k] = backend.NewJob{ID: fmt.Sprint(i, "-", k), Payload: []byte("x"), MaxAttempts: 3}
		}
		if err := be.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
		js, err := be.Claim(ctx, backend.ClaimParams{Queue: "q", Max: batch, Lease: lease})
		if err != nil {
			b.Fatal(err)
		}
		items = items[:0]
		for _, j := range js {
			items = append(items, backend.Completion{Ack: ack(j)})
		}
		if _, err := be.Complete(ctx, backend.CompleteParams{Queue: "q", Items: items, Retention: backend.Retention{Max: 1000, TTL: time.Hour}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkBacklog fills a queue with b.N jobs first, so claims, extends
// and completions run against a deep pending list and a large processing
// set.
func BenchmarkBacklog(b *testing.B) {
	be := New()
	ctx := context.Background()
	jobs := make([]backend.NewJob, b.N)
	for i := range jobs {
		jobs[i] = backend.NewJob{ID: fmt.Sprint(i), MaxAttempts: 3}
	}
	if err := be.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: jobs}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var held []backend.ClaimedJob
	for range b.N {
		js, err := be.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 1, Lease: lease})
		if err != nil || len(js) != 1 {
			b.Fatal(err, len(js))
		}
		held = append(held, js[0])
		if _, err := be.Extend(ctx, backend.ExtendParams{Queue: "q", Items: []backend.Ack{ack(held[len(held)/2])}, Lease: lease}); err != nil {
			b.Fatal(err)
		}
	}
	for _, j := range held {
		if _, err := be.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: ack(j)}}, Retention: backend.Retention{Max: 1000, TTL: time.Hour}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
