package redisq_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// These tests drive the Engine through both adapters against a real Redis,
// for what only shows with several processes or with lost replies. Each
// Engine stands for one process.

// goredisClient returns a go-redis client on srv, dialling addr instead
// when it is not empty (a proxy), with opts applied.
func goredisClient(t *testing.T, srv *redistest.Server, addr string, opts ...func(*redis.Options)) *redis.Client {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opt.Addr = addr
	}
	for _, o := range opts {
		o(opt)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newGoredis(t *testing.T, srv *redistest.Server, addr string, opts ...func(*redis.Options)) backend.Backend {
	b := goredis.New(goredisClient(t, srv, addr, opts...))
	t.Cleanup(b.Close)
	return b
}

func newRueidis(t *testing.T, srv *redistest.Server, addr string) backend.Backend {
	opt, err := rueidislib.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opt.InitAddress = []string{addr}
	}
	c, err := rueidislib.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	b := rueidis.New(c)
	t.Cleanup(b.Close)
	return b
}

// adapters connect a Backend through each adapter: go-redis as configured
// by default (it repeats a command whose reply was lost), go-redis with its
// retries off, and rueidis (which does not repeat scripts).
var adapters = []struct {
	name    string
	connect func(t *testing.T, srv *redistest.Server, addr string) backend.Backend
}{
	{"goredis", func(t *testing.T, srv *redistest.Server, addr string) backend.Backend {
		return newGoredis(t, srv, addr)
	}},
	{"goredis-noretry", func(t *testing.T, srv *redistest.Server, addr string) backend.Backend {
		return newGoredis(t, srv, addr, func(o *redis.Options) { o.MaxRetries = -1 })
	}},
	{"rueidis", newRueidis},
}

func enqueueIDs(t *testing.T, b backend.Backend, q string, maxAttempts int, ids ...string) {
	t.Helper()
	jobs := make([]backend.NewJob, len(ids))
	for i, id := range ids {
		jobs[i] = backend.NewJob{ID: id, Payload: []byte("p-" + id), MaxAttempts: maxAttempts}
	}
	if err := b.Enqueue(context.Background(), backend.EnqueueParams{Queue: q, Jobs: jobs}); err != nil {
		t.Fatalf("enqueue %v: %v", ids, err)
	}
}

func claimIDs(jobs []backend.ClaimedJob) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func requireJob(t *testing.T, b backend.Backend, q, id string, state backend.State, attempts int) backend.JobInfo {
	t.Helper()
	info, err := b.Get(context.Background(), q, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	if info.State != state || info.Attempts != attempts {
		t.Fatalf("job %s is %s after %d attempts, want %s after %d", id, info.State, info.Attempts, state, attempts)
	}
	return info
}

// TestQueueRepeatsLostReply loses the reply to a call that did run, on
// every adapter: the Queue repeats it with the same request id, and the
// repeat must return what the first run did instead of running again. An
// Enqueue must store its job once; a Claim must return the job the first
// run took, on its first attempt, not take another one (which would leave
// the first leased to nobody, its only attempt spent).
func TestQueueRepeatsLostReply(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			direct := newGoredis(t, srv, "")
			p := startLossyProxy(t, srv.Addr)
			q, err := jobqueue.New(a.connect(t, srv, p.Addr()), redisqtest.QueueName(t), jobqueue.WithMaxAttempts(1))
			if err != nil {
				t.Fatal(err)
			}
			// Loads the library, so the calls below run their functions.
			warm, _ := jobqueue.New(direct, q.Name())
			if _, err := warm.Claim(ctx, 1, 0); err != nil {
				t.Fatal(err)
			}
			_ = warm.Purge(ctx)

			p.LoseReplyTo(redisqtest.CallPattern(t, "enqueue"))
			a1, err := q.Enqueue(ctx, "a")
			if err != nil {
				t.Fatalf("enqueue after a lost reply: %v", err)
			}
			if p.Lost() != 1 {
				t.Fatalf("the proxy lost %d replies, want 1", p.Lost())
			}
			b1, err := q.Enqueue(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			st, err := direct.Stats(ctx, q.Name())
			if err != nil || st.EnqueuedTotal != 2 || st.Pending != 2 {
				t.Fatalf("stats = %+v, %v; want the two jobs enqueued once each", st, err)
			}

			p.LoseReplyTo(redisqtest.CallPattern(t, "claim"))
			jobs, err := q.Claim(ctx, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.Lost() != 2 {
				t.Fatalf("the proxy lost %d replies, want 2", p.Lost())
			}
			if len(jobs) != 1 || jobs[0].ID != a1 || jobs[0].Attempts != 1 {
				t.Fatalf("claim after a lost reply = %+v, want job %s on attempt 1", jobs, a1)
			}
			requireJob(t, direct, q.Name(), b1, backend.StatePending, 0)
			if err := jobs[0].Complete(ctx, nil); err != nil {
				t.Fatalf("complete with the token the repeat returned: %v", err)
			}
			if st, _ := direct.Stats(ctx, q.Name()); st.ClaimedTotal != 1 || st.Pending != 1 || st.Processing != 0 {
				t.Fatalf("stats = %+v, want one claim and b still pending", st)
			}
			_ = q.Purge(ctx)
		})
	}
}

// TestCorruptRecordKeepsDeadHistory dead-letters a corrupt record while
// the dead history holds more entries than any fixed guess of its
// retention: none of them may be trimmed, since the claim knows no policy.
func TestCorruptRecordKeepsDeadHistory(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	raw := goredisClient(t, srv, "")
	b := goredis.New(raw)
	t.Cleanup(b.Close)
	q := redisqtest.QueueName(t)
	k := redisq.KeysFor(q)
	const dead = 1500
	pipe := raw.Pipeline()
	for i := range dead {
		id := fmt.Sprintf("dead-%d", i)
		pipe.HSet(ctx, k.Job(id), "id", id, "status", "dead", "payload", "", "attempts", 1, "max_attempts", 1, "enqueued_at_ms", 1)
		pipe.LPush(ctx, k.Dead, id)
	}
	pipe.HSet(ctx, k.Job("bad"), "status", "pending", "attempts", "x")
	pipe.RPush(ctx, k.Pending, "bad")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("claim of a corrupt record = %v, %v", jobs, err)
	}
	if s := raw.HGet(ctx, k.Job("bad"), "status").Val(); s != "dead" {
		t.Fatalf("the corrupt record is %q, want dead", s)
	}
	if n := raw.LLen(ctx, k.Dead).Val(); n != dead+1 {
		t.Errorf("dead history holds %d ids, want %d", n, dead+1)
	}
	if n := raw.Exists(ctx, k.Job("dead-0")).Val(); n != 1 {
		t.Errorf("the oldest dead job's record was deleted")
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
}

// TestHistoryReenqueuedID finishes an id whose earlier record expired while
// its history entry stayed: the history must list it once, and trimming
// must not delete the fresh record.
func TestHistoryReenqueuedID(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	b := newGoredis(t, srv, "")
	q := redisqtest.QueueName(t)
	finish := func(id string, ttl time.Duration) {
		t.Helper()
		enqueueIDs(t, b, q, 1, id)
		jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim %s: %v %v", id, jobs, err)
		}
		errs, err := b.Complete(ctx, backend.CompleteParams{Queue: q, Items: []backend.Completion{{Ack: backend.Ack{ID: id, Token: jobs[0].Token}}},
			Retention: backend.Retention{Max: 2, TTL: ttl}})
		if err = errors.Join(err, errors.Join(errs...)); err != nil {
			t.Fatal(err)
		}
	}
	finish("x", 30*time.Millisecond)
	time.Sleep(80 * time.Millisecond) // x's record expires; its entry stays
	finish("x", time.Hour)
	finish("y", time.Hour)
	requireJob(t, b, q, "x", backend.StateCompleted, 1)
	ids, err := b.List(ctx, backend.ListParams{Queue: q, State: backend.StateCompleted, Limit: 10})
	if err != nil || !reflect.DeepEqual(ids, []string{"y", "x"}) {
		t.Fatalf("completed = %v, %v; want [y x]", ids, err)
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
}

// TestClaimPastStaleIDs puts more stale ids in front of a job than one
// claim script skips: the claim must still return the job.
func TestClaimPastStaleIDs(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	raw := goredisClient(t, srv, "")
	b := goredis.New(raw)
	t.Cleanup(b.Close)
	q := redisqtest.QueueName(t)
	stale := make([]any, 2500)
	for i := range stale {
		stale[i] = fmt.Sprintf("gone-%d", i)
	}
	if err := raw.RPush(ctx, redisq.KeysFor(q).Pending, stale...).Err(); err != nil {
		t.Fatal(err)
	}
	enqueueIDs(t, b, q, 1, "real")
	jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
	if err != nil || !reflect.DeepEqual(claimIDs(jobs), []string{"real"}) {
		t.Fatalf("claim behind %d stale ids = %v, %v", len(stale), claimIDs(jobs), err)
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
}

// TestReclaimSkipsStaleEntry leaves an expired processing entry for a job
// that is pending: Reclaim must drop the entry, not list the job twice.
func TestReclaimSkipsStaleEntry(t *testing.T) {
	srv := redistest.Shared(t)
	ctx := context.Background()
	raw := goredisClient(t, srv, "")
	b := goredis.New(raw)
	t.Cleanup(b.Close)
	q := redisqtest.QueueName(t)
	k := redisq.KeysFor(q)
	enqueueIDs(t, b, q, 3, "p")
	if err := raw.ZAdd(ctx, k.Processing, redis.Z{Score: 1, Member: "p"}).Err(); err != nil {
		t.Fatal(err)
	}
	r, err := b.Reclaim(ctx, backend.ReclaimParams{Queue: q, Max: 10, DeadRetention: backend.Retention{Max: 10, TTL: time.Minute}})
	if err != nil || r.Len() != 0 {
		t.Fatalf("reclaim of a stale entry = %+v, %v", r, err)
	}
	st, err := b.Stats(ctx, q)
	if err != nil || st.Pending != 1 || st.Processing != 0 || st.ReclaimedTotal != 0 {
		t.Fatalf("stats = %+v, %v; want p pending once, nothing reclaimed", st, err)
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: q})
}

// endingCtx is a context whose Err can be made non-nil without closing
// Done, which pins down the moment a claim is woken just as its context
// ends.
type endingCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endingCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// claimAsync runs a claim in the background; the result arrives on the
// returned channel with the time it returned.
type claimResult struct {
	jobs []backend.ClaimedJob
	err  error
	at   time.Time
}

func claimAsync(ctx context.Context, b backend.Backend, p backend.ClaimParams) <-chan claimResult {
	ch := make(chan claimResult, 1)
	go func() {
		jobs, err := b.Claim(ctx, p)
		ch <- claimResult{jobs, err, time.Now()}
	}()
	return ch
}

// blockFirst is long enough for a claim started just before to be blocked
// on Redis (BLPOP), so blocked claimers queue in a known order.
const blockFirst = 150 * time.Millisecond

// TestWokenClaimEndingHandsOn wakes a claim just as its context ends, in a
// process where no other claim waits: the wake-up must go on to the claim
// waiting in another process, which otherwise sleeps its whole wait while
// the job is pending.
func TestWokenClaimEndingHandsOn(t *testing.T) {
	srv := redistest.Shared(t)
	a, b, direct := newGoredis(t, srv, ""), newGoredis(t, srv, ""), newGoredis(t, srv, "")
	q := redisqtest.QueueName(t)
	actx := &endingCtx{Context: context.Background()}
	// Redis serves blocked clients in order, so a's blocker gets the
	// marker that the enqueue arms.
	fromA := claimAsync(actx, a, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 5 * time.Second})
	time.Sleep(blockFirst)
	fromB := claimAsync(context.Background(), b, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 5 * time.Second})
	time.Sleep(blockFirst)
	actx.ended.Store(true)
	start := time.Now()
	enqueueIDs(t, direct, q, 1, "j")

	if r := <-fromA; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("the ending claim returned %v, %v", claimIDs(r.jobs), r.err)
	}
	r := <-fromB
	if r.err != nil || !reflect.DeepEqual(claimIDs(r.jobs), []string{"j"}) {
		t.Fatalf("the other process's claim = %v, %v", claimIDs(r.jobs), r.err)
	}
	if d := r.at.Sub(start); d > 2*time.Second {
		t.Fatalf("the other process's claim got the job %v after the enqueue", d)
	}
	_ = direct.Purge(context.Background(), backend.PurgeParams{Queue: q})
}

// TestDueTimerWakesOtherProcess lets the only process that learnt a
// delayed job's run-at have no claim waiting when it falls due: the claim
// waiting in another process must still get it promptly.
func TestDueTimerWakesOtherProcess(t *testing.T) {
	srv := redistest.Shared(t)
	a, b, direct := newGoredis(t, srv, ""), newGoredis(t, srv, ""), newGoredis(t, srv, "")
	q := redisqtest.QueueName(t)
	fromA := claimAsync(context.Background(), a, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 3 * blockFirst})
	time.Sleep(blockFirst)
	fromB := claimAsync(context.Background(), b, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 6 * time.Second})
	time.Sleep(blockFirst)
	start := time.Now()
	const delay = 600 * time.Millisecond
	if err := direct.Enqueue(context.Background(), backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "later", MaxAttempts: 1, Delay: delay}}}); err != nil {
		t.Fatal(err)
	}
	// a pops the marker, learns the run-at, and gives up before it.
	if r := <-fromA; r.err != nil || len(r.jobs) != 0 {
		t.Fatalf("the short claim = %v, %v", claimIDs(r.jobs), r.err)
	}
	r := <-fromB
	if r.err != nil || !reflect.DeepEqual(claimIDs(r.jobs), []string{"later"}) {
		t.Fatalf("the other process's claim = %v, %v", claimIDs(r.jobs), r.err)
	}
	if d := r.at.Sub(start); d > delay+1500*time.Millisecond {
		t.Fatalf("the delayed job was claimed %v after its enqueue, with a delay of %v", d, delay)
	}
	_ = direct.Purge(context.Background(), backend.PurgeParams{Queue: q})
}

// TestBlockPopLostReply loses the reply to the BLPOP that popped the
// marker: the wake-up must not be lost with it. rueidis reports the error;
// go-redis would send BLPOP again and never tell (see the goredis package
// documentation).
func TestBlockPopLostReply(t *testing.T) {
	srv := redistest.Shared(t)
	direct := newGoredis(t, srv, "")
	p := startLossyProxy(t, srv.Addr)
	b := newRueidis(t, srv, p.Addr())
	q := redisqtest.QueueName(t)
	p.LoseReplyTo("$5\r\nBLPOP\r\n") // the command, not the word in a function
	claimed := claimAsync(context.Background(), b, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 5 * time.Second})
	time.Sleep(blockFirst)
	start := time.Now()
	enqueueIDs(t, direct, q, 1, "j")
	r := <-claimed
	if r.err != nil || !reflect.DeepEqual(claimIDs(r.jobs), []string{"j"}) {
		t.Fatalf("claim = %v, %v", claimIDs(r.jobs), r.err)
	}
	if p.Lost() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.Lost())
	}
	if d := r.at.Sub(start); d > 2*time.Second {
		t.Fatalf("the claim got the job %v after the enqueue", d)
	}
	_ = direct.Purge(context.Background(), backend.PurgeParams{Queue: q})
}

// TestCloseDuringClaims closes Engines while claims start to wait on them,
// for the race detector: no blocking goroutine may start once Close waits.
func TestCloseDuringClaims(t *testing.T) {
	srv := redistest.Shared(t)
	client := goredisClient(t, srv, "")
	q := redisqtest.QueueName(t)
	for range 20 {
		b := goredis.New(client)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, _ = b.Claim(context.Background(), backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute, Wait: 30 * time.Millisecond})
			})
		}
		b.Close()
		wg.Wait()
	}
}
