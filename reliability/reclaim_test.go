package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// reclaimBound is the bound on one Reclaim call: a sweep over any
// number of expired leases is made of calls that each hold Redis this
// long at most. The test reports the times it measured against it, but
// does not fail on them (a busy machine's clock is no verdict); what it
// asserts is what makes the bound hold anywhere: every call moves at most
// one batch of leases, so its work does not grow with the backlog.
const reclaimBound = 50 * time.Millisecond

// TestReclaimMillion is scenario 12: 1,000,000 leases expired at once
// (jobs claimed with a 1 ms lease by workers that all vanished) are swept
// back to pending by Reclaim calls of the root's default batch
// (jobqueue.DefaultReclaimBatch). Every call must move one batch at most
// (so that it runs within 50 ms on Redis: the run times, measured by the
// server itself with SLOWLOG, and the round trips are reported), and
// afterwards every job must be pending again, once, none lost or
// dead-lettered.
//
// One server and one build cover both adapters: the goredis and rueidis
// backends share the queue, build it side by side (enqueues of 10,000
// jobs, claims of 10,000) and take turns at the reclaim calls.
func TestReclaimMillion(t *testing.T) {
	const (
		jobs  = 1_000_000
		batch = 10_000 // jobs per enqueue and per claim call while building
		queue = "million"
	)
	srv := redistest.Start(t, redistest.RequireProcess())
	raw := rawClient(t, srv.URL)
	gb, _ := redisqtest.GoRedis(t, srv.URL)
	rb, _ := redisqtest.Rueidis(t, srv.URL)
	bs := []backend.Backend{gb, rb}
	names := []string{"goredis", "rueidis"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = fmt.Sprintf("j%07d", i)
	}
	built := buildExpiredLeases(t, ctx, bs, names, queue, ids, batch)
	s, err := gb.Stats(ctx, queue)
	if err != nil || s.Processing != jobs || s.Pending != 0 {
		t.Fatalf("after the build: %+v, %v; want %d processing, none pending", s, err, jobs)
	}
	t.Logf("built %d expired leases in %v", jobs, built.Round(time.Millisecond))

	// The sweep, with every command's run time logged by the server.
	// The build loaded the function library, so every reclaim is one
	// FCALL of its function, which SLOWLOG names.
	reclaimFunction := redisq.FunctionLibrary().Function("reclaim").Name
	// The commands a script runs are logged too, so only calls over a
	// threshold are: one not logged ran for less.
	for _, kv := range [][2]string{{"slowlog-log-slower-than", fmt.Sprint(slowlogThreshold.Microseconds())}, {"slowlog-max-len", fmt.Sprint(slowlogLen)}} {
		if err := raw.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.SlowLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var took []time.Duration
	requeued, dead := 0, 0
	sweep := time.Now()
	for n := 0; ; n++ {
		t0 := time.Now()
		// Each call carries a request id, as the Queue's do, so the
		// bound covers the record a repeat would be answered from.
		r, err := bs[n%2].Reclaim(ctx, backend.ReclaimParams{Queue: queue, Max: jobqueue.DefaultReclaimBatch,
			DeadRetention: backend.Retention{Max: jobqueue.DefaultDeadMax, TTL: jobqueue.DefaultDeadTTL},
			RequestID:     fmt.Sprintf("sweep-%d", n)})
		d := time.Since(t0)
		if err != nil {
			t.Fatalf("reclaim call %d on %s: %v", n, names[n%2], err)
		}
		took = append(took, d)
		if r.Len() > jobqueue.DefaultReclaimBatch {
			t.Errorf("reclaim call %d on %s moved %d leases, over its batch of %d", n, names[n%2], r.Len(), jobqueue.DefaultReclaimBatch)
		}
		requeued += len(r.Requeued)
		dead += len(r.Dead)
		if r.Len() < jobqueue.DefaultReclaimBatch {
			break
		}
		if len(took) > 2*jobs/jobqueue.DefaultReclaimBatch {
			t.Fatalf("%d reclaim calls and still full batches", len(took))
		}
	}
	swept := time.Since(sweep)
	server := reclaimRunTimes(t, ctx, raw, reclaimFunction)
	if len(server) > len(took) {
		t.Fatalf("SLOWLOG has %d reclaim calls; %d were made", len(server), len(took))
	}
	logged := len(server)
	for len(server) < len(took) {
		server = append(server, slowlogThreshold) // at most
	}
	over := 0
	for _, d := range server {
		if d > reclaimBound {
			over++
		}
	}
	client := slices.Clone(took)
	slices.SortFunc(client, func(a, b time.Duration) int { return int(b - a) })
	cp50, cp99 := client[len(client)/2], client[len(client)/100]
	sp50, sp99 := server[len(server)/2], server[len(server)/100]
	t.Logf("swept in %v: %d Reclaim calls of %d (%d over %v on Redis); on Redis p50 %v, p99 %v, max %v; round trip p50 %v, p99 %v, max %v",
		swept.Round(time.Millisecond), len(took), jobqueue.DefaultReclaimBatch, logged, slowlogThreshold,
		sp50, sp99, server[0], cp50.Round(10*time.Microsecond), cp99.Round(10*time.Microsecond), client[0].Round(10*time.Microsecond))

	// Every job pending again, exactly once: the pending list holds each id
	// once, nothing is left processing, nothing died, the counters agree,
	// and a sample of records reads as pending after one attempt.
	if requeued != jobs || dead != 0 {
		t.Errorf("reclaim requeued %d and dead-lettered %d; want %d and 0", requeued, dead, jobs)
	}
	s, err = rb.Stats(ctx, queue)
	if err != nil || s.Pending != jobs || s.Processing != 0 || s.Dead != 0 || s.ReclaimedTotal != jobs {
		t.Errorf("after the sweep: %+v, %v; want %d pending and reclaimed, none processing or failed", s, err, jobs)
	}
	seen := make(map[string]int, jobs)
	for off := 0; ; off += batch {
		page, err := gb.List(ctx, backend.ListParams{Queue: queue, State: backend.StatePending, Offset: off, Limit: batch})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range page {
			seen[id]++
		}
		if len(page) < batch {
			break
		}
	}
	lost, duplicates := 0, 0
	for _, id := range ids {
		switch n := seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			duplicates += n - 1
		}
	}
	if lost != 0 || duplicates != 0 || len(seen) != jobs {
		t.Errorf("pending list: %d distinct ids, %d jobs missing, %d listed twice; want all %d once", len(seen), lost, duplicates, jobs)
	}
	for i := range 1000 {
		id := ids[rand.IntN(jobs)]
		info, err := bs[i%2].Get(ctx, queue, id)
		if err != nil || info.State != backend.StatePending || info.Attempts != 1 || !info.LeaseUntil.IsZero() {
			t.Fatalf("job %s after the sweep: %+v, %v; want pending after 1 attempt, no lease", id, info, err)
		}
	}

	report(t, Row{
		Scenario: "12 reclaim 1,000,000 expired leases",
		Injected: fmt.Sprintf("1,000,000 jobs claimed with a 1 ms lease, never acknowledged; Reclaim(%d) alternating goredis and rueidis", jobqueue.DefaultReclaimBatch),
		Jobs:     jobs, Lost: lost, Duplicates: duplicates,
		Result: fmt.Sprintf("%d calls of ≤ %d leases, %d of them over %v on Redis (p50 %.1f ms, p99 %.1f ms, max %.1f ms; round trip under -race p50 %.1f, p99 %.1f, max %.1f ms); all %d pending again, none dead; sweep %.1f s",
			len(took), jobqueue.DefaultReclaimBatch, over, reclaimBound, msOf(sp50), msOf(sp99), msOf(server[0]), msOf(cp50), msOf(cp99), msOf(client[0]), requeued, swept.Seconds()),
	})
}

// buildExpiredLeases enqueues ids in batches and claims them all with a
// 1 ms lease, each backend of bs doing its share at the same time so that
// the clients' work overlaps Redis's; it returns how long that took, once
// the last lease has run out.
func buildExpiredLeases(t *testing.T, ctx context.Context, bs []backend.Backend, names []string, queue string, ids []string, batch int) time.Duration {
	t.Helper()
	start := time.Now()
	errs := make(chan error, len(bs))
	var wg sync.WaitGroup
	for k, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := k; n*batch < len(ids); n += len(bs) {
				chunk := ids[n*batch : min((n+1)*batch, len(ids))]
				jobs := make([]backend.NewJob, len(chunk))
				for i, id := range chunk {
					jobs[i] = backend.NewJob{ID: id, Payload: []byte("{}"), MaxAttempts: jobqueue.DefaultMaxAttempts}
				}
				if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs}); err != nil {
					errs <- fmt.Errorf("enqueue batch %d on %s: %w", n, names[k], err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	claimed := make([]int, len(bs))
	for k, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := b.Claim(ctx, backend.ClaimParams{Queue: queue, Max: batch, Lease: time.Millisecond})
				if err != nil {
					errs <- fmt.Errorf("claim on %s: %w", names[k], err)
					return
				}
				if len(got) == 0 {
					return // pending is empty
				}
				claimed[k] += len(got)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if total := claimed[0] + claimed[1]; total != len(ids) {
		t.Fatalf("claimed %d of %d jobs", total, len(ids))
	}
	time.Sleep(10 * time.Millisecond) // past the last lease
	return time.Since(start)
}

// The SLOWLOG settings of the sweep: calls that run longer than the
// threshold are logged, in a log long enough for every call.
const (
	slowlogThreshold = 500 * time.Microsecond
	slowlogLen       = 10_000
)

// reclaimRunTimes returns how long each reclaim call that ran longer than
// slowlogThreshold ran on Redis since the SLOWLOG was reset, slowest
// first.
func reclaimRunTimes(t *testing.T, ctx context.Context, raw *redis.Client, function string) []time.Duration {
	t.Helper()
	entries, err := raw.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) >= slowlogLen {
		t.Fatalf("SLOWLOG is full (%d entries): some calls may have dropped out", len(entries))
	}
	var out []time.Duration
	for _, e := range entries {
		if len(e.Args) > 1 && strings.EqualFold(e.Args[0], "fcall") && e.Args[1] == function {
			out = append(out, e.Duration)
		}
	}
	slices.SortFunc(out, func(a, b time.Duration) int { return int(b - a) })
	return out
}

// msOf is d in milliseconds, for the report.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
