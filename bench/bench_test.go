package bench

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// reportJobs reports the throughput of jobs processed in the timed part of
// the benchmark.
func reportJobs(b *testing.B, jobs int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(jobs)/s, "jobs/s")
	}
}

// forEach runs bench as one sub-benchmark per backend.
func forEach(b *testing.B, bench func(b *testing.B, t target)) {
	for _, t := range targets {
		b.Run(t.name, func(b *testing.B) { bench(b, t) })
	}
}

func check(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEnqueue enqueues one job per call from 8×GOMAXPROCS goroutines
// (16 on 2 CPUs), the shape of many request handlers each enqueuing one job.
func BenchmarkEnqueue(b *testing.B) {
	parallelEnqueue(b, 8, 1, func(ctx context.Context, q *jobqueue.Queue, p json.RawMessage) error {
		_, err := q.Enqueue(ctx, p)
		return err
	})
}

// BenchmarkEnqueueBatch enqueues 100 jobs per call from 2×GOMAXPROCS
// goroutines; one op is one call of 100 jobs.
func BenchmarkEnqueueBatch(b *testing.B) {
	const size = 100
	parallelEnqueue(b, 2, size, func(ctx context.Context, q *jobqueue.Queue, p json.RawMessage) error {
		return enqueueBatch(ctx, q, p, size)
	})
}

// parallelEnqueue times call, which enqueues perCall jobs of payload p, on
// every target from parallelism×GOMAXPROCS goroutines; one op is one call.
func parallelEnqueue(b *testing.B, parallelism, perCall int, call func(context.Context, *jobqueue.Queue, json.RawMessage) error) {
	forEach(b, func(b *testing.B, t target) {
		bk, _ := t.open(b)
		q := newQueue(b, bk)
		p := json.RawMessage(payload())
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := call(ctx, q, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportJobs(b, perCall*b.N)
	})
}

// BenchmarkClaimComplete claims and completes pre-enqueued jobs from one
// goroutine: one at a time through Queue.Claim and Job.Complete (single),
// or 100 per Claim and 100 per backend Complete (batch100; with
// batch100-kind-limit, jobs of a kind whose concurrency limit is never
// reached, which costs the kind's bookkeeping). One op is one job.
func BenchmarkClaimComplete(b *testing.B) {
	forEach(b, func(b *testing.B, t target) {
		bk, _ := t.open(b)
		ctx := context.Background()
		b.Run("single", func(b *testing.B) {
			q := newQueue(b, bk)
			check(b, fill(ctx, q, b.N))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				check(b, claimCompleteOne(ctx, q))
			}
			reportJobs(b, b.N)
		})
		batch := func(b *testing.B, kindLimit bool) {
			q := newQueue(b, bk)
			var opts []jobqueue.EnqueueOption
			if kindLimit {
				// A limit no claim meets: the cost of a kind's bookkeeping.
				check(b, q.SetKindLimits(ctx, "limited", jobqueue.Limits{Concurrency: 1_000_000}))
				opts = append(opts, jobqueue.Kind("limited"))
			}
			check(b, fill(ctx, q, b.N, opts...))
			b.ReportAllocs()
			b.ResetTimer()
			for left := b.N; left > 0; {
				n, err := claimCompleteBatch(ctx, q, min(left, 100))
				check(b, err)
				left -= n
			}
			reportJobs(b, b.N)
		}
		b.Run("batch100", func(b *testing.B) { batch(b, false) })
		b.Run("batch100-kind-limit", func(b *testing.B) { batch(b, true) })
	})
}

// BenchmarkDrain times a Worker of 32 no-op handlers draining -drain.n
// pre-enqueued jobs (default 50,000) per iteration; enqueuing them is not
// timed. One op is one whole drain.
func BenchmarkDrain(b *testing.B) {
	n := *drainJobs
	forEach(b, func(b *testing.B, t target) {
		bk, _ := t.open(b)
		q := newQueue(b, bk)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			check(b, fill(ctx, q, n))
			b.StartTimer()
			_, err := drain(ctx, q, n)
			check(b, err)
		}
		reportJobs(b, n*b.N)
	})
}

// BenchmarkReclaim times Queue.Reclaim with -reclaim.n jobs in flight
// (default 100,000). none-expired: one reclaim pass that finds nothing to
// do, op = one pass, jobs/s = in-flight jobs covered per second.
// all-expired: reclaiming every one of them, op = reclaiming them all.
func BenchmarkReclaim(b *testing.B) {
	n := *reclaimJobs
	forEach(b, func(b *testing.B, t target) {
		bk, _ := t.open(b)
		ctx := context.Background()
		b.Run("none-expired", func(b *testing.B) {
			q := newQueue(b, bk)
			check(b, fill(ctx, q, n))
			check(b, claimAll(ctx, q, n, time.Hour))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				check(b, reclaim(ctx, q, 0))
			}
			reportJobs(b, n*b.N)
		})
		b.Run("all-expired", func(b *testing.B) {
			// Every iteration claims the jobs once more: they must not
			// run out of attempts and be dead-lettered instead.
			q := newQueue(b, bk, jobqueue.WithMaxAttempts(1<<30))
			check(b, fill(ctx, q, n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// Reclaimed jobs are pending again: the next iteration
				// claims the same jobs.
				b.StopTimer()
				check(b, claimAll(ctx, q, n, expiredLease))
				time.Sleep(2 * expiredLease)
				b.StartTimer()
				check(b, reclaim(ctx, q, n))
			}
			reportJobs(b, n*b.N)
		})
	})
}
