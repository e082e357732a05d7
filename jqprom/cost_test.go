package jqprom_test

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/jqprom"
)

// TestScrapeCostIndependentOfDepth is the Collector's acceptance test: a
// scrape of a queue with a million pending jobs runs the same Redis
// commands as a scrape of one with ten, counted from INFO commandstats on
// a server of its own. Filling the queue is most of its time (about 15s
// under -race on two busy cores, nearly all of it Redis running the
// enqueues and the client encoding them); -short fills 100,000 jobs.
func TestScrapeCostIndependentOfDepth(t *testing.T) {
	deep := 1_000_000
	if testing.Short() {
		deep = 100_000
	}
	ctx := context.Background()
	b, info := redisqtest.GoRedis(t, redistest.Start(t).URL)
	cost := func(depth int) map[string]int64 {
		t.Helper()
		name := redisqtest.QueueName(t)
		start := time.Now()
		fill(t, b, name, depth)
		t.Logf("enqueued %d jobs in %v", depth, time.Since(start).Round(time.Millisecond))
		c := jqprom.NewCollector([]*jobqueue.Queue{newQueue(t, b, name)})
		before, err := redisqtest.Commandstats(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		fams := gather(t, c)
		after, err := redisqtest.Commandstats(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		if v := value(t, fams, "jobqueue_jobs", "queue", name, "state", "pending"); v != float64(depth) {
			t.Fatalf("jobqueue_jobs{state=pending} %v, want %d", v, depth)
		}
		d := redisqtest.CommandsSince(before, after)
		t.Logf("a scrape of a queue of %d pending jobs: %d commands %v", depth, redisqtest.Commands(d), d)
		return d
	}
	small, big := cost(10), cost(deep)
	if !maps.Equal(small, big) {
		t.Errorf("a scrape at 10 pending jobs ran %v, at %d %v", small, deep, big)
	}
	if small["fcall_ro"] != 1 || small["fcall"] != 0 {
		t.Errorf("a scrape of one queue ran %v, want one FCALL_RO", small)
	}
}

// fill enqueues n jobs in queue through the backend, in calls of up to
// 10,000 jobs from a few producers: the quickest real enqueues.
func fill(t *testing.T, b backend.Backend, queue string, n int) {
	const batch, producers = 10_000, 4 // 4 producers keep Redis busy while they encode
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Go(func() {
			jobs := make([]backend.NewJob, 0, batch)
			for {
				from := int(next.Add(batch)) - batch
				if from >= n {
					return
				}
				jobs = jobs[:0]
				for i := from; i < min(from+batch, n); i++ {
					jobs = append(jobs, backend.NewJob{ID: strconv.Itoa(i), Payload: []byte("1"), MaxAttempts: 1})
				}
				if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs, RequestID: fmt.Sprint("fill-", from)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
