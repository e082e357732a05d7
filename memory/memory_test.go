package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

const lease = time.Minute

func enqueue(t *testing.T, b *Backend, q string, ids ...string) {
	t.Helper()
	jobs := make([]backend.NewJob, len(ids))
	for i, id := range ids {
		jobs[i] = backend.NewJob{ID: id, Payload: []byte("p-" + id), MaxAttempts: 3}
	}
	if err := b.Enqueue(context.Background(), backend.EnqueueParams{Queue: q, Jobs: jobs}); err != nil {
		t.Fatalf("enqueue %v: %v", ids, err)
	}
}

func claim(t *testing.T, b *Backend, q string, n int, l time.Duration) []backend.ClaimedJob {
	t.Helper()
	got, err := b.Claim(context.Background(), backend.ClaimParams{Queue: q, Max: n, Lease: l})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return got
}

func claimOne(t *testing.T, b *Backend, q string, l time.Duration) backend.ClaimedJob {
	t.Helper()
	got := claim(t, b, q, 1, l)
	if len(got) != 1 {
		t.Fatalf("claim: got %d jobs, want 1", len(got))
	}
	return got[0]
}

func ids(jobs []backend.ClaimedJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func listIDs(t *testing.T, b *Backend, q string, s backend.State) []string {
	t.Helper()
	got, err := b.List(context.Background(), backend.ListParams{Queue: q, State: s, Limit: 1000})
	if err != nil {
		t.Fatalf("list %s: %v", s, err)
	}
	return got
}

func state(t *testing.T, b *Backend, q, id string) backend.State {
	t.Helper()
	info, err := b.Get(context.Background(), q, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return info.State
}

func stats(t *testing.T, b *Backend, q string) backend.Stats {
	t.Helper()
	s, err := b.Stats(context.Background(), q)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	return s
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

var keep = backend.Retention{Max: 100, TTL: time.Hour}

func complete(b *Backend, q string, acks ...backend.Ack) []error {
	items := make([]backend.Completion, len(acks))
	for i, a := range acks {
		items[i] = backend.Completion{Ack: a, Result: []byte("ok")}
	}
	errs, err := b.Complete(context.Background(), backend.CompleteParams{Queue: q, Items: items, Retention: keep})
	if err != nil {
		panic(err)
	}
	return errs
}

func ack(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }

func TestFIFOAndBatch(t *testing.T) {
	b := New()
	enqueue(t, b, "q", "a", "b", "c")
	enqueue(t, b, "q", "d")
	equal(t, "first claim", ids(claim(t, b, "q", 2, lease)), []string{"a", "b"})
	equal(t, "second claim", ids(claim(t, b, "q", 5, lease)), []string{"c", "d"})
	if got := claim(t, b, "q", 1, lease); len(got) != 0 {
		t.Fatalf("empty queue gave %v", ids(got))
	}
	equal(t, "processing", listIDs(t, b, "q", backend.StateProcessing), []string{"a", "b", "c", "d"})
}

func TestPayloadIsCopied(t *testing.T) {
	b := New()
	p := []byte("hello")
	if err := b.Enqueue(context.Background(), backend.EnqueueParams{Queue: "q", Jobs: []backend.NewJob{{ID: "a", Payload: p, MaxAttempts: 1}}}); err != nil {
		t.Fatal(err)
	}
	p[0] = 'X'
	j := claimOne(t, b, "q", lease)
	if string(j.Payload) != "hello" {
		t.Fatalf("payload %q", j.Payload)
	}
	j.Payload[0] = 'Y'
	info, _ := b.Get(context.Background(), "q", "a")
	if string(info.Payload) != "hello" {
		t.Fatalf("stored payload changed to %q", info.Payload)
	}
}

func TestEnqueueIsAtomic(t *testing.T) {
	b := New()
	enqueue(t, b, "q", "a")
	err := b.Enqueue(context.Background(), backend.EnqueueParams{Queue: "q", Jobs: []backend.NewJob{
		{ID: "b", MaxAttempts: 1}, {ID: "a", MaxAttempts: 1},
	}})
	wantErr(t, "duplicate", err, backend.ErrJobExists)
	if _, err := b.Get(context.Background(), "q", "b"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("b was stored by a failed batch: %v", err)
	}
	err = b.Enqueue(context.Background(), backend.EnqueueParams{Queue: "q", Jobs: []backend.NewJob{{ID: "c", MaxAttempts: 0}}})
	wantErr(t, "bad job", err, backend.ErrInvalidArgument)
	if s := stats(t, b, "q"); s.Pending != 1 || s.EnqueuedTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Same id in another queue is fine: queues are isolated.
	enqueue(t, b, "other", "a")
}

func TestTokenRules(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a", "b")
	ja := claimOne(t, b, "q", lease)

	errs := complete(b, "q", backend.Ack{ID: "a", Token: "wrong"}, backend.Ack{ID: "zzz", Token: "t"}, ack(ja))
	wantErr(t, "wrong token", errs[0], backend.ErrLostClaim)
	wantErr(t, "unknown id", errs[1], backend.ErrNotFound)
	if errs[2] != nil {
		t.Fatalf("complete: %v", errs[2])
	}
	// Repeat of the same outcome: nil, nothing more.
	if errs := complete(b, "q", ack(ja)); errs[0] != nil {
		t.Fatalf("repeat complete: %v", errs[0])
	}
	if s := stats(t, b, "q"); s.CompletedTotal != 1 || s.Completed != 1 {
		t.Fatalf("repeat counted twice: %+v", s)
	}
	// Another outcome with the same token: lost claim.
	ferrs, _ := b.Fail(ctx, backend.FailParams{Queue: "q", Items: []backend.Failure{{Ack: ack(ja), Error: "x"}}})
	wantErr(t, "fail after complete", ferrs[0], backend.ErrLostClaim)
	xerrs, _ := b.Extend(ctx, backend.ExtendParams{Queue: "q", Items: []backend.Ack{ack(ja)}, Lease: lease})
	wantErr(t, "extend after complete", xerrs[0], backend.ErrLostClaim)
	rerrs, _ := b.Release(ctx, backend.ReleaseParams{Queue: "q", Items: []backend.Ack{ack(ja)}})
	wantErr(t, "release after complete", rerrs[0], backend.ErrLostClaim)

	// Fail then repeat; the job, back in pending, is claimed again and the
	// old token becomes stale.
	jb := claimOne(t, b, "q", lease)
	for range 2 {
		ferrs, _ = b.Fail(ctx, backend.FailParams{Queue: "q", Items: []backend.Failure{{Ack: ack(jb), Error: "boom"}}})
		if ferrs[0] != nil {
			t.Fatalf("fail: %v", ferrs[0])
		}
	}
	if s := stats(t, b, "q"); s.RetriedTotal != 1 || s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
	jb2 := claimOne(t, b, "q", lease)
	if jb2.Token == jb.Token || jb2.Attempts != 2 {
		t.Fatalf("reclaimed job %+v", jb2)
	}
	ferrs, _ = b.Fail(ctx, backend.FailParams{Queue: "q", Items: []backend.Failure{{Ack: ack(jb), Error: "boom"}}})
	wantErr(t, "old token after new claim", ferrs[0], backend.ErrLostClaim)

	// Invalid params change nothing and fail the whole call.
	_, err := b.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: backend.Ack{ID: "b"}}}})
	wantErr(t, "empty token", err, backend.ErrInvalidArgument)
	_, err = b.Complete(ctx, backend.CompleteParams{Queue: "bad name", Items: []backend.Completion{{Ack: ack(jb2)}}})
	wantErr(t, "bad queue", err, backend.ErrInvalidQueueName)
	if st := state(t, b, "q", "b"); st != backend.StateProcessing {
		t.Fatalf("b is %s", st)
	}
}

func TestReleaseGoesToHead(t *testing.T) {
	b := New()
	enqueue(t, b, "q", "a", "b", "c", "d")
	got := claim(t, b, "q", 2, lease)
	errs, err := b.Release(context.Background(), backend.ReleaseParams{Queue: "q", Items: []backend.Ack{ack(got[0]), ack(got[1])}})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("release: %v %v", err, errs)
	}
	equal(t, "pending", listIDs(t, b, "q", backend.StatePending), []string{"a", "b", "c", "d"})
	again := claimOne(t, b, "q", lease)
	if again.ID != "a" || again.Attempts != 1 {
		t.Fatalf("after release claimed %+v", again)
	}
}

func TestFailDelayAndDead(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a", "b", "c")
	got := claim(t, b, "q", 3, lease)
	errs, err := b.Fail(ctx, backend.FailParams{Queue: "q", Retention: keep, Items: []backend.Failure{
		{Ack: ack(got[0]), Error: "later", Delay: 80 * time.Millisecond},
		{Ack: ack(got[1]), Error: "now"},
		{Ack: ack(got[2]), Error: "fatal", Dead: true},
	}})
	if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("fail: %v %v", err, errs)
	}
	equal(t, "scheduled", listIDs(t, b, "q", backend.StateScheduled), []string{"a"})
	equal(t, "pending", listIDs(t, b, "q", backend.StatePending), []string{"b"})
	equal(t, "failed", listIDs(t, b, "q", backend.StateFailed), []string{"c"})
	info, _ := b.Get(ctx, "q", "c")
	if info.LastError != "fatal" || info.FinishedAt.IsZero() || info.Attempts != 1 {
		t.Fatalf("dead job %+v", info)
	}
	info, _ = b.Get(ctx, "q", "a")
	if info.RunAt.IsZero() || info.LastError != "later" {
		t.Fatalf("scheduled job %+v", info)
	}
	s := stats(t, b, "q")
	if s.RetriedTotal != 2 || s.FailedTotal != 1 || s.Scheduled != 1 || s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}

	equal(t, "b first", ids(claim(t, b, "q", 5, lease)), []string{"b"})
	// The scheduled retry wakes a waiting claimer when it falls due.
	start := time.Now()
	a, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 5, Lease: lease, Wait: 2 * time.Second})
	if err != nil || len(a) != 1 || a[0].ID != "a" {
		t.Fatalf("claim of delayed retry: %v %v", err, ids(a))
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("delayed retry claimed after %v", waited)
	}

	if err := b.RetryDead(ctx, "q", "a"); !errors.Is(err, backend.ErrWrongState) {
		t.Fatalf("retry of a live job: %v", err)
	}
	if err := b.RetryDead(ctx, "q", "nope"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("retry of unknown job: %v", err)
	}
	if err := b.RetryDead(ctx, "q", "c"); err != nil {
		t.Fatal(err)
	}
	info, _ = b.Get(ctx, "q", "c")
	if info.State != backend.StatePending || info.Attempts != 0 || info.LastError != "fatal" {
		t.Fatalf("retried job %+v", info)
	}
}

// TestRetryDeadStalesToken checks that a dead job sent back by RetryDead
// no longer accepts its dead attempt's token: repeating that Fail, or
// acknowledging it otherwise, reports ErrLostClaim, as on Redis.
func TestRetryDeadStalesToken(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a")
	j := claimOne(t, b, "q", lease)
	fp := backend.FailParams{Queue: "q", Retention: keep, Items: []backend.Failure{{Ack: ack(j), Error: "fatal", Dead: true}}}
	if errs, err := b.Fail(ctx, fp); err != nil || errs[0] != nil {
		t.Fatalf("fail: %v %v", err, errs)
	}
	if err := b.RetryDead(ctx, "q", "a"); err != nil {
		t.Fatal(err)
	}
	errs, err := b.Fail(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "repeated fail after RetryDead", errs[0], backend.ErrLostClaim)
	wantErr(t, "complete with the dead attempt's token", complete(b, "q", ack(j))[0], backend.ErrLostClaim)
	if got := state(t, b, "q", "a"); got != backend.StatePending {
		t.Fatalf("state after stale acks = %s, want pending", got)
	}
	if s := stats(t, b, "q"); s.FailedTotal != 1 || s.Failed != 0 || s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDelayedEnqueue(t *testing.T) {
	b := New()
	ctx := context.Background()
	err := b.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: []backend.NewJob{
		{ID: "late", MaxAttempts: 1, Delay: 120 * time.Millisecond},
		{ID: "soon", MaxAttempts: 1, Delay: 60 * time.Millisecond},
		{ID: "now", MaxAttempts: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "scheduled", listIDs(t, b, "q", backend.StateScheduled), []string{"soon", "late"})
	equal(t, "claim now", ids(claim(t, b, "q", 5, lease)), []string{"now"})
	var got []string
	for len(got) < 2 {
		js, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 5, Lease: lease, Wait: 2 * time.Second})
		if err != nil || len(js) == 0 {
			t.Fatalf("claim: %v %v", err, js)
		}
		got = append(got, ids(js)...)
	}
	equal(t, "delayed order", got, []string{"soon", "late"})
}

func TestClaimWakesOnEnqueue(t *testing.T) {
	b := New()
	type result struct {
		jobs []backend.ClaimedJob
		err  error
		at   time.Time
	}
	res := make(chan result, 1)
	go func() {
		js, err := b.Claim(context.Background(), backend.ClaimParams{Queue: "q", Max: 1, Lease: lease, Wait: 5 * time.Second})
		res <- result{js, err, time.Now()}
	}()
	time.Sleep(50 * time.Millisecond) // let the claimer start waiting
	enqueued := time.Now()
	enqueue(t, b, "q", "a")
	r := <-res
	if r.err != nil || len(r.jobs) != 1 {
		t.Fatalf("claim: %v %v", r.err, r.jobs)
	}
	if d := r.at.Sub(enqueued); d > 50*time.Millisecond {
		t.Fatalf("claimer woke %v after the enqueue", d)
	}
}

func TestClaimWaitRunsOut(t *testing.T) {
	b := New()
	start := time.Now()
	js, err := b.Claim(context.Background(), backend.ClaimParams{Queue: "q", Max: 1, Lease: lease, Wait: 60 * time.Millisecond})
	if err != nil || len(js) != 0 {
		t.Fatalf("claim: %v %v", err, js)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("returned after %v", d)
	}
	// Wait 0 returns at once.
	if js, err := b.Claim(context.Background(), backend.ClaimParams{Queue: "q", Max: 1, Lease: lease}); err != nil || len(js) != 0 {
		t.Fatalf("claim: %v %v", err, js)
	}
}

func TestClaimCancel(t *testing.T) {
	b := New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 1, Lease: lease, Wait: 10 * time.Second})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		wantErr(t, "cancelled claim", err, context.Canceled)
	case <-time.After(time.Second):
		t.Fatal("claim did not return after cancel")
	}
	// A claim with a cancelled context takes nothing.
	enqueue(t, b, "q", "a")
	if _, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 1, Lease: lease}); !errors.Is(err, context.Canceled) {
		t.Fatalf("claim with cancelled ctx: %v", err)
	}
	if st := state(t, b, "q", "a"); st != backend.StatePending {
		t.Fatalf("job is %s", st)
	}
}

func TestReclaim(t *testing.T) {
	b := New()
	ctx := context.Background()
	err := b.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: []backend.NewJob{
		{ID: "poison", MaxAttempts: 1}, {ID: "a", MaxAttempts: 3}, {ID: "b", MaxAttempts: 3}, {ID: "live", MaxAttempts: 3},
	}})
	if err != nil {
		t.Fatal(err)
	}
	short := claim(t, b, "q", 3, 30*time.Millisecond)
	live := claimOne(t, b, "q", lease)
	time.Sleep(50 * time.Millisecond)

	res, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: "q", Max: 2, DeadRetention: keep})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "first batch dead", res.Dead, []string{"poison"})
	equal(t, "first batch requeued", res.Requeued, []string{"a"})
	res, _ = b.Reclaim(ctx, backend.ReclaimParams{Queue: "q", Max: 2, DeadRetention: keep})
	equal(t, "second batch", res.Requeued, []string{"b"})
	if res.Len() != 1 {
		t.Fatalf("second batch %+v", res)
	}
	info, _ := b.Get(ctx, "q", "poison")
	if info.State != backend.StateFailed || info.LastError != "jobqueue: lease expired after 1 attempts" {
		t.Fatalf("poison job %+v", info)
	}
	errs := complete(b, "q", ack(short[1]), ack(live))
	wantErr(t, "reclaimed token", errs[0], backend.ErrLostClaim)
	if errs[1] != nil {
		t.Fatalf("live job: %v", errs[1])
	}
	s := stats(t, b, "q")
	if s.ReclaimedTotal != 3 || s.FailedTotal != 1 || s.Pending != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestExtendKeepsLease(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a", "b")
	got := claim(t, b, "q", 2, 40*time.Millisecond)
	errs, err := b.Extend(ctx, backend.ExtendParams{Queue: "q", Items: []backend.Ack{ack(got[0])}, Lease: lease})
	if err != nil || errs[0] != nil {
		t.Fatalf("extend: %v %v", err, errs)
	}
	equal(t, "processing order", listIDs(t, b, "q", backend.StateProcessing), []string{"b", "a"})
	time.Sleep(60 * time.Millisecond)
	res, _ := b.Reclaim(ctx, backend.ReclaimParams{Queue: "q", Max: 10, DeadRetention: keep})
	equal(t, "reclaimed", res.Requeued, []string{"b"})
	errs, _ = b.Extend(ctx, backend.ExtendParams{Queue: "q", Items: []backend.Ack{ack(got[1])}, Lease: lease})
	wantErr(t, "extend reclaimed", errs[0], backend.ErrLostClaim)
}

func TestRetention(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a", "b", "c", "d", "e")
	done := func(id string, r backend.Retention) {
		t.Helper()
		j := claimOne(t, b, "q", lease)
		if j.ID != id {
			t.Fatalf("claimed %s, want %s", j.ID, id)
		}
		errs, err := b.Complete(ctx, backend.CompleteParams{Queue: "q", Items: []backend.Completion{{Ack: ack(j)}}, Retention: r})
		if err != nil || errs[0] != nil {
			t.Fatalf("complete: %v %v", err, errs)
		}
	}
	r := backend.Retention{Max: 2, TTL: time.Hour}
	done("a", r)
	done("b", r)
	done("c", r)
	equal(t, "capped history", listIDs(t, b, "q", backend.StateCompleted), []string{"c", "b"})
	if _, err := b.Get(ctx, "q", "a"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("trimmed job still there: %v", err)
	}
	// TTL: d expires, the others stay.
	done("d", backend.Retention{Max: 10, TTL: 30 * time.Millisecond})
	equal(t, "with d", listIDs(t, b, "q", backend.StateCompleted), []string{"d", "c", "b"})
	time.Sleep(40 * time.Millisecond)
	equal(t, "d expired", listIDs(t, b, "q", backend.StateCompleted), []string{"c", "b"})
	if _, err := b.Get(ctx, "q", "d"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("expired job still there: %v", err)
	}
	// Enqueue may reuse an expired id.
	enqueue(t, b, "q", "d")
	// TTL 0 keeps nothing.
	done("e", backend.Retention{Max: 10, TTL: 0})
	if _, err := b.Get(ctx, "q", "e"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("unretained job still there: %v", err)
	}
	if s := stats(t, b, "q"); s.Completed != 2 || s.CompletedTotal != 5 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDeleteAndPurge(t *testing.T) {
	b := New()
	ctx := context.Background()
	enqueue(t, b, "q", "a", "b", "c")
	enqueue(t, b, "other", "x")
	j := claimOne(t, b, "q", lease)
	if err := b.Delete(ctx, "q", "a"); err != nil {
		t.Fatal(err)
	}
	errs := complete(b, "q", ack(j))
	wantErr(t, "complete deleted", errs[0], backend.ErrNotFound)
	if err := b.Delete(ctx, "q", "b"); err != nil {
		t.Fatal(err)
	}
	equal(t, "pending", listIDs(t, b, "q", backend.StatePending), []string{"c"})
	wantErr(t, "delete twice", b.Delete(ctx, "q", "b"), backend.ErrNotFound)

	c := claimOne(t, b, "q", lease)
	if err := b.Purge(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "complete purged", complete(b, "q", ack(c))[0], backend.ErrNotFound)
	if s := stats(t, b, "q"); s != (backend.Stats{}) {
		t.Fatalf("purged stats %+v", s)
	}
	if st := state(t, b, "other", "x"); st != backend.StatePending {
		t.Fatalf("other queue's job is %s", st)
	}
	// The queue works after a purge, including for claimers waiting on it.
	res := make(chan []backend.ClaimedJob, 1)
	go func() {
		js, _ := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 1, Lease: lease, Wait: 5 * time.Second})
		res <- js
	}()
	time.Sleep(20 * time.Millisecond)
	enqueue(t, b, "q", "a")
	if js := <-res; len(js) != 1 {
		t.Fatalf("claim after purge: %v", js)
	}
}

func TestListWindows(t *testing.T) {
	b := New()
	ctx := context.Background()
	var jobs []backend.NewJob
	var want []string
	for i := range 50 {
		id := fmt.Sprintf("j%02d", i)
		// Delays shuffled, so heap order differs from insertion order.
		d := time.Hour + time.Duration((i*37)%50)*time.Second
		jobs = append(jobs, backend.NewJob{ID: id, MaxAttempts: 1, Delay: d})
	}
	if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: jobs}); err != nil {
		t.Fatal(err)
	}
	for rank := range 50 {
		for i := range 50 {
			if (i*37)%50 == rank {
				want = append(want, fmt.Sprintf("j%02d", i))
			}
		}
	}
	for _, w := range [][2]int{{0, 50}, {0, 7}, {10, 5}, {45, 10}, {50, 3}, {70, 1}} {
		got, err := b.List(ctx, backend.ListParams{Queue: "q", State: backend.StateScheduled, Offset: w[0], Limit: w[1]})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := min(w[0], 50), min(w[0]+w[1], 50)
		equal(t, fmt.Sprint("window ", w), got, want[lo:hi])
	}
	_, err := b.List(ctx, backend.ListParams{Queue: "q", State: "bogus", Limit: 1})
	wantErr(t, "bad state", err, backend.ErrInvalidState)
}

func TestSubscribe(t *testing.T) {
	b := New()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, "q", "a", "b")
	js := claim(t, b, "q", 2, lease)
	complete(b, "q", ack(js[0]))
	complete(b, "q", ack(js[0])) // a repeat sends no event
	b.Fail(context.Background(), backend.FailParams{Queue: "q", Retention: keep, Items: []backend.Failure{{Ack: ack(js[1]), Dead: true}}})
	b.Delete(context.Background(), "q", "b")
	enqueue(t, b, "other", "x")
	cancel()
	var got []string
	for ev := range ch {
		if ev.Queue != "q" {
			t.Fatalf("event of queue %q", ev.Queue)
		}
		got = append(got, fmt.Sprint(ev.Kind, ev.IDs))
	}
	equal(t, "events", got, []string{"enqueued[a b]", "claimed[a b]", "completed[a]", "dead[b]", "deleted[b]"})
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	b := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.Subscribe(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * eventBuffer {
		enqueue(t, b, "q", fmt.Sprint(i))
	}
}

// TestConcurrentClaims checks that no job is handed out twice while claims,
// completions, releases and reclaims race.
func TestConcurrentClaims(t *testing.T) {
	b := New()
	ctx := context.Background()
	const n = 2000
	var jobs []backend.NewJob
	for i := range n {
		jobs = append(jobs, backend.NewJob{ID: fmt.Sprint(i), MaxAttempts: 100})
	}
	if err := b.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Jobs: jobs}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	doneBy := map[string]int{}
	var completed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for completed.Load() < n {
				js, err := b.Claim(ctx, backend.ClaimParams{Queue: "q", Max: 7, Lease: 200 * time.Millisecond, Wait: 20 * time.Millisecond})
				if err != nil {
					t.Error(err)
					return
				}
				for i, j := range js {
					if (i+w)%5 == 0 {
						b.Release(ctx, backend.ReleaseParams{Queue: "q", Items: []backend.Ack{ack(j)}})
						continue
					}
					errs := complete(b, "q", ack(j))
					if errs[0] == nil {
						mu.Lock()
						doneBy[j.ID]++
						mu.Unlock()
						completed.Add(1)
					}
				}
				b.Reclaim(ctx, backend.ReclaimParams{Queue: "q", Max: 10, DeadRetention: keep})
			}
		})
	}
	wg.Wait()
	if len(doneBy) != n {
		t.Fatalf("completed %d distinct jobs, want %d", len(doneBy), n)
	}
	for id, c := range doneBy {
		if c != 1 {
			t.Fatalf("job %s completed %d times", id, c)
		}
	}
}

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
