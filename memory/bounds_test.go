package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// keep is a retention that keeps every finished job for the test's life.
var keep = backend.Retention{Max: 1 << 30, TTL: time.Hour}

func newJob(id string, payload int) backend.NewJob {
	return backend.NewJob{ID: id, Payload: []byte(strings.Repeat("x", payload)), MaxAttempts: 1}
}

func enqueue(b *Backend, queue string, jobs ...backend.NewJob) error {
	return b.Enqueue(context.Background(), backend.EnqueueParams{Queue: queue, Jobs: jobs})
}

func ids(prefix string, n int) []backend.NewJob {
	out := make([]backend.NewJob, n)
	for i := range out {
		out[i] = newJob(fmt.Sprintf("%s%d", prefix, i), 0)
	}
	return out
}

// mustFull checks that err is a refusal for lack of room that names the
// bound, and that none of the jobs refused was stored.
func mustFull(t *testing.T, b *Backend, err error, bound, queue string, refused ...backend.NewJob) {
	t.Helper()
	if !errors.Is(err, backend.ErrFull) || !strings.Contains(err.Error(), bound) {
		t.Fatalf("enqueue over the bound: %v; want backend.ErrFull naming %s", err, bound)
	}
	for _, j := range refused {
		if _, err := b.Get(context.Background(), queue, j.ID); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("refused job %s: Get = %v; want ErrNotFound, nothing stored", j.ID, err)
		}
	}
}

func pending(t *testing.T, b *Backend, queue string) int64 {
	t.Helper()
	s, err := b.Stats(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return s.Pending
}

// checkUsage recounts what b stores from its queues and compares it with
// the counts the bounds are checked against, which every call keeps up to
// date on its own.
func checkUsage(t *testing.T, b *Backend) {
	t.Helper()
	var jobs, bytes int64
	b.mu.RLock()
	for _, q := range b.queues {
		q.lock()
		for _, j := range q.jobs {
			jobs++
			if est := j.estimate(); j.size != est {
				t.Errorf("job %s counted as %d bytes; its estimate is %d", j.id, j.size, est)
			}
			bytes += j.estimate()
		}
		for _, h := range q.holds.byKey {
			bytes += h.estimate()
		}
		q.mu.Unlock()
	}
	b.mu.RUnlock()
	if got := b.use.jobs.Load(); got != jobs {
		t.Errorf("counted %d jobs; the queues hold %d", got, jobs)
	}
	if got := b.use.bytes.Load(); got != bytes {
		t.Errorf("counted %d bytes; the queues hold %d", got, bytes)
	}
}

// TestMaxJobs fills a backend bounded to 5 jobs across two queues: the
// sixth job is refused with ErrFull, a batch that straddles the bound is
// refused whole, and room comes back with a delete, a purge, a completion
// not kept, and a history trimmed.
func TestMaxJobs(t *testing.T) {
	ctx := context.Background()
	b := New(WithMaxJobs(5))
	if err := enqueue(b, "a", ids("a", 3)...); err != nil {
		t.Fatal(err)
	}
	straddle := ids("b", 3)
	mustFull(t, b, enqueue(b, "b", straddle...), "WithMaxJobs", "b", straddle...)
	if n := pending(t, b, "b"); n != 0 {
		t.Errorf("after a refused batch, queue b has %d pending; want 0", n)
	}
	if err := enqueue(b, "b", straddle[:2]...); err != nil {
		t.Fatalf("a batch that reaches the bound exactly: %v", err)
	}
	one := newJob("one", 0)
	mustFull(t, b, enqueue(b, "a", one), "WithMaxJobs", "a", one)
	checkUsage(t, b)

	// A delete makes room for one.
	if err := b.Delete(ctx, backend.DeleteParams{Queue: "b", ID: "b0"}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(b, "a", one); err != nil {
		t.Fatalf("enqueue after a delete: %v", err)
	}
	mustFull(t, b, enqueue(b, "a", newJob("two", 0)), "WithMaxJobs", "a")

	// Finished jobs kept in a history still count; one not kept, or
	// trimmed from its history, does not.
	claim := func(queue string, n int) []backend.ClaimedJob {
		t.Helper()
		js, err := b.Claim(ctx, backend.ClaimParams{Queue: queue, Max: n, Lease: time.Minute})
		if err != nil || len(js) != n {
			t.Fatalf("claim %d from %s: %d jobs, %v", n, queue, len(js), err)
		}
		return js
	}
	complete := func(queue string, r backend.Retention, js ...backend.ClaimedJob) {
		t.Helper()
		items := make([]backend.Completion, len(js))
		for i, j := range js {
			items[i] = backend.Completion{Ack: backend.Ack{ID: j.ID, Token: j.Token}}
		}
		errs, err := b.Complete(ctx, backend.CompleteParams{Queue: queue, Items: items, Retention: r})
		if err = errors.Join(append(errs, err)...); err != nil {
			t.Fatal(err)
		}
	}
	js := claim("a", 4)
	complete("a", keep, js[0])
	mustFull(t, b, enqueue(b, "a", newJob("two", 0)), "WithMaxJobs", "a")
	complete("a", backend.Retention{}, js[1])
	if err := enqueue(b, "a", newJob("two", 0)); err != nil {
		t.Fatalf("enqueue after a completion not kept: %v", err)
	}
	complete("a", backend.Retention{Max: 1, TTL: time.Hour}, js[2]) // trims js[0]
	if err := enqueue(b, "a", newJob("three", 0)); err != nil {
		t.Fatalf("enqueue after a history trimmed: %v", err)
	}
	checkUsage(t, b)

	// A purge frees its queue's room, and only its own.
	if err := b.Purge(ctx, backend.PurgeParams{Queue: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(b, "b", ids("c", 1)...); err != nil {
		t.Fatalf("enqueue after a purge: %v", err)
	}
	mustFull(t, b, enqueue(b, "b", newJob("d", 0)), "WithMaxJobs", "b")
	if err := b.Purge(ctx, backend.PurgeParams{Queue: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(b, "a", ids("e", 4)...); err != nil {
		t.Fatalf("enqueue after purging the other queue: %v", err)
	}
	checkUsage(t, b)
}

// TestMaxBytes bounds the estimate of the stored bytes: jobs of 8 KiB
// fill 64 KiB at the seventh, a straddling batch and a job bigger than the
// bound are refused whole, an acknowledgement that grows a job over the
// bound is not, and a purge makes room again.
func TestMaxBytes(t *testing.T) {
	ctx := context.Background()
	const payload = 8 << 10
	b := New(WithMaxBytes(64 << 10))
	per := int64(jobOverhead + len("j0") + payload)
	fit := int((64 << 10) / per)
	for i := range fit {
		if err := enqueue(b, "q", newJob(fmt.Sprint("j", i), payload)); err != nil {
			t.Fatalf("job %d of %d that fit: %v", i+1, fit, err)
		}
	}
	over := newJob("over", payload)
	mustFull(t, b, enqueue(b, "q", over), "WithMaxBytes", "q", over)
	// Smaller jobs fit in what is left, but not all of these.
	small := []backend.NewJob{newJob("s0", 0), newJob("s1", 6<<10)}
	mustFull(t, b, enqueue(b, "q", small...), "WithMaxBytes", "q", small...)
	if err := enqueue(b, "q", small[0]); err != nil {
		t.Fatalf("a job that fits in what is left: %v", err)
	}
	checkUsage(t, b)

	// A completion's result takes the bytes over the bound: it is kept,
	// and new jobs are refused until the job goes.
	js, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 1, Lease: time.Minute})
	if err != nil || len(js) != 1 {
		t.Fatalf("claim: %v, %v", js, err)
	}
	result := []byte(strings.Repeat("r", 32<<10))
	errs, err := b.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: backend.Ack{ID: js[0].ID, Token: js[0].Token}, Result: result}}, Retention: keep})
	if err = errors.Join(append(errs, err)...); err != nil {
		t.Fatalf("a completion that takes the bytes over the bound: %v", err)
	}
	if info, err := b.Get(ctx, "q", js[0].ID); err != nil || len(info.Result) != len(result) {
		t.Fatalf("the completed job: %d bytes of result, %v", len(info.Result), err)
	}
	if used := b.use.bytes.Load(); used <= 64<<10 {
		t.Errorf("after a 32 KiB result, %d bytes counted; want over the bound", used)
	}
	mustFull(t, b, enqueue(b, "q", newJob("s2", 0)), "WithMaxBytes", "q")
	checkUsage(t, b)

	if err := b.Purge(ctx, backend.PurgeParams{Queue: "q"}); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(b, "q", newJob("after", payload)); err != nil {
		t.Fatalf("enqueue after a purge: %v", err)
	}
	huge := newJob("huge", 64<<10)
	mustFull(t, b, enqueue(b, "q", huge), "WithMaxBytes", "q", huge)
	checkUsage(t, b)
}

// TestMaxBytesUniqueKeys counts a unique key held past its job: deleting
// the job gives back its own bytes, not those of the key, which lasts for
// its window.
func TestMaxBytesUniqueKeys(t *testing.T) {
	ctx := context.Background()
	key := strings.Repeat("k", 200)
	withKey := func(id string) backend.NewJob {
		j := newJob(id, 0)
		j.Unique = backend.Unique{Key: key + id, Window: time.Hour}
		return j
	}
	j, h := (&job{id: "u0"}).estimate(), (&hold{key: key + "u0"}).estimate()
	b := New(WithMaxBytes(j + h + 10))
	if err := enqueue(b, "q", withKey("u0")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, backend.DeleteParams{Queue: "q", ID: "u0"}); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, b)
	// The key's bytes are still counted: a job with a key does not fit,
	// one without does.
	u1 := withKey("u1")
	mustFull(t, b, enqueue(b, "q", u1), "WithMaxBytes", "q", u1)
	if err := enqueue(b, "q", newJob("u2", 0)); err != nil {
		t.Fatalf("a job without a key, in the room the deleted job left: %v", err)
	}
	checkUsage(t, b)
}

// TestUsageCounts runs a job through every way of leaving or growing that
// the backend has, and recounts the usage after each.
func TestUsageCounts(t *testing.T) {
	ctx := context.Background()
	b := New(WithMaxJobs(1000), WithMaxBytes(1<<30))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		checkUsage(t, b)
	}
	acks := func(errs []error, err error) error { return errors.Join(append(errs, err)...) }
	claim := func(n int) []backend.ClaimedJob {
		t.Helper()
		js, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: n, Lease: time.Millisecond, DeadRetention: keep})
		if err != nil || len(js) != n {
			t.Fatalf("claim %d: %d, %v", n, len(js), err)
		}
		return js
	}
	a := func(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }

	jobs := ids("j", 6)
	jobs[0].Expiry = time.Millisecond
	jobs[1].Headers = map[string]string{"trace": "abc", "tenant": "t1"}
	jobs[2].Unique = backend.Unique{Key: "k2", Window: time.Hour, ReleaseOn: []backend.State{backend.StateCompleted}}
	jobs[3].Unique = backend.Unique{Key: "k3", Window: time.Hour}
	jobs[4].Unique = backend.Unique{Key: "k4", Window: time.Millisecond}
	enqueued := time.Now()
	must(enqueue(b, "q", jobs...))
	// j0 expires before its claim, which dead-letters it with an error.
	waitFor(t, func() bool { return time.Since(enqueued) > 2*time.Millisecond })
	js := claim(5)
	checkUsage(t, b)
	must(acks(b.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: a(js[0]), Result: []byte("done"), Error: "warned"}}, Retention: keep})))
	must(acks(b.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: a(js[1])}}, Retention: backend.Retention{}})))
	must(acks(b.Fail(ctx, backend.FailParams{Queue: "q", Items: []backend.Failure{{Ack: a(js[2]), Error: "retry me"}}, Retention: keep})))
	must(acks(b.Fail(ctx, backend.FailParams{Queue: "q", Items: []backend.Failure{{Ack: a(js[3]), Error: "gave up", Dead: true}}, Retention: keep})))
	must(b.RetryDead(ctx, backend.RetryDeadParams{Queue: "q", ID: js[3].ID}))
	// js[4]'s lease runs out: the reclaim dead-letters it (one attempt).
	waitFor(t, func() bool {
		res, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: "q", Max: 10, DeadRetention: keep})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Dead) > 0
	})
	checkUsage(t, b)
	// j3 is pending again; cancelled without retention, it goes, and
	// its key stays held.
	errs, err := b.Cancel(ctx, backend.CancelParams{Queue: "q", IDs: []string{jobs[3].ID}, Retention: backend.Retention{}})
	must(acks(errs, err))
	// k4's window has ended: the next enqueue of the key drops its hold
	// and takes a new one.
	again := newJob("again", 0)
	again.Unique = backend.Unique{Key: "k4", Window: time.Hour}
	must(enqueue(b, "q", again))
	must(b.Purge(ctx, backend.PurgeParams{Queue: "q"}))
	if n := b.use.jobs.Load(); n != 0 {
		t.Errorf("after a purge, %d jobs counted", n)
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMaxJobsConcurrent enqueues from many goroutines into many queues at
// once: exactly the bound is stored, never more.
func TestMaxJobsConcurrent(t *testing.T) {
	const bound, writers, each = 500, 8, 100
	b := New(WithMaxJobs(bound))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			queue := fmt.Sprint("q", w%4)
			for i := range each {
				err := enqueue(b, queue, newJob(fmt.Sprintf("w%d-%d", w, i), 0))
				if err != nil && !errors.Is(err, backend.ErrFull) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var total int64
	for i := range 4 {
		total += pending(t, b, fmt.Sprint("q", i))
	}
	if total != bound {
		t.Errorf("%d jobs stored by %d enqueues against a bound of %d; want exactly the bound", total, writers*each, bound)
	}
	checkUsage(t, b)
}

// TestPurgeFreesMemory checks that a purge lets the Go heap shrink back:
// the purged queue keeps no reference to its jobs, in any state, through
// its maps, lists, heaps or histories. 200,000 jobs take about 100 MiB.
func TestPurgeFreesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("enqueues 200,000 jobs")
	}
	ctx := context.Background()
	b := New()
	base := heapAlloc()
	const n, batch = 200_000, 1000
	jobs := make([]backend.NewJob, batch)
	for i := 0; i < n; i += batch {
		for k := range jobs {
			jobs[k] = backend.NewJob{ID: fmt.Sprintf("%032x", i+k), Kind: "email", Payload: []byte(`{"to":"ada@example.com"}`), MaxAttempts: 3}
			switch {
			case k%4 == 1:
				jobs[k].Delay = time.Hour
			case k%4 == 2:
				jobs[k].Unique = backend.Unique{Key: jobs[k].ID, Window: time.Hour, ReleaseOn: []backend.State{backend.StateCompleted}}
			case k%4 == 3:
				jobs[k].Headers = map[string]string{"trace": jobs[k].ID}
			}
		}
		if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: "big", Jobs: jobs}); err != nil {
			t.Fatal(err)
		}
		// Half of each batch runs: a quarter completes into the history,
		// a quarter stays processing.
		js, err := b.Claim(ctx, backend.ClaimParams{Queue: "big", Max: batch / 2, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		items := make([]backend.Completion, 0, len(js)/2)
		for _, j := range js[:len(js)/2] {
			items = append(items, backend.Completion{Ack: backend.Ack{ID: j.ID, Token: j.Token}, Result: []byte(`{"sent":true}`)})
		}
		if _, err := b.Complete(ctx, backend.CompleteParams{Queue: "big", Items: items, Retention: keep}); err != nil {
			t.Fatal(err)
		}
	}
	full := heapAlloc()
	if err := b.Purge(ctx, backend.PurgeParams{Queue: "big"}); err != nil {
		t.Fatal(err)
	}
	after := heapAlloc()
	t.Logf("heap: %d MiB before, %d MiB with %d jobs, %d MiB after the purge", base>>20, full>>20, n, after>>20)
	if full < base+50<<20 {
		t.Fatalf("the jobs took %d MiB of heap; the test needs them to take far more than its margin", (full-base)>>20)
	}
	if after > base+20<<20 {
		t.Errorf("after a purge and a GC the heap is %d MiB, %d MiB over what it was before the jobs; the purge left them reachable",
			after>>20, (after-base)>>20)
	}
	if j, by := b.use.jobs.Load(), b.use.bytes.Load(); j != 0 || by != 0 {
		t.Errorf("after a purge, %d jobs and %d bytes counted; want none", j, by)
	}
	runtime.KeepAlive(b)
}

// heapAlloc is the heap's live bytes after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
