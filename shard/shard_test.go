package shard_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/slot"
	"github.com/jobqueue-go/jobqueue/memory"
	"github.com/jobqueue-go/jobqueue/shard"
)

// These tests check what a sharded queue promises across its shards,
// which the conformance suite cannot: it places all of a test's jobs on
// one shard.

const queue = "q"

// keep is a retention that keeps finished jobs for the whole test.
var keep = backend.Retention{Max: 100, TTL: time.Hour}

// fixture is one queue sharded n ways over a memory backend, with the
// means to see where each job lives.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	inner backend.Backend
	b     *shard.Backend
	parts []string
	// probe has the layout of b, over a store of its own: ids are tried
	// there to learn their shard, since every Backend with the same
	// count places an id alike (see the package doc).
	probe *shard.Backend
	seq   int
}

func newFixture(t *testing.T, n int) *fixture {
	return newFixtureOn(t, memory.New(), n)
}

func newFixtureOn(t *testing.T, inner backend.Backend, n int) *fixture {
	t.Helper()
	b, err := shard.New(inner, map[string]int{queue: n})
	require.NoError(t, err)
	probe, err := shard.New(memory.New(), map[string]int{queue: n})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	parts := b.Shards(queue)
	require.Len(t, parts, n)
	return &fixture{t: t, ctx: ctx, inner: inner, b: b, parts: parts, probe: probe}
}

// shardOf returns the index of the shard that holds the job id, and fails
// unless exactly one does.
func (f *fixture) shardOf(id string) int {
	f.t.Helper()
	return locate(f.t, f.ctx, f.inner, f.parts, id)
}

func locate(t *testing.T, ctx context.Context, inner backend.Backend, parts []string, id string) int {
	t.Helper()
	at := -1
	for i, part := range parts {
		_, err := inner.Get(ctx, part, id)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, -1, at, "job %s is on shards %d and %d", id, at, i)
		at = i
	}
	require.NotEqual(t, -1, at, "job %s is on no shard", id)
	return at
}

// where returns the shard that id falls on, learnt by storing it in the
// probe.
func (f *fixture) where(id string) int {
	f.t.Helper()
	err := f.probe.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: []backend.NewJob{newJob(id)}})
	if !errors.Is(err, backend.ErrJobExists) {
		require.NoError(f.t, err)
	}
	return locate(f.t, f.ctx, f.probe.Unwrap(), f.probe.Shards(queue), id)
}

// placed returns the shard that the jobs of key fall on.
func (f *fixture) placed(key string) int {
	f.t.Helper()
	return f.where(f.probe.MintIDs(queue, []string{key})[0])
}

// tries bounds the candidates onShard tries: each falls on a given shard
// of 3 with odds of 1 in 3.
const tries = 200

// onShard returns the first candidate, made from format and a new number,
// that at places on shard i.
func (f *fixture) onShard(i int, format string, at func(string) int) string {
	f.t.Helper()
	for range tries {
		f.seq++
		if c := fmt.Sprintf(format, f.seq); at(c) == i {
			return c
		}
	}
	f.t.Fatalf("no %s on shard %d", format, i)
	return ""
}

// idOn returns a new id that falls on shard i.
func (f *fixture) idOn(i int) string { return f.onShard(i, "job-%d", f.where) }

// keyOn returns a key (unique or shard key) whose jobs fall on shard i.
func (f *fixture) keyOn(i int) string { return f.onShard(i, "key-%d", f.placed) }

func newJob(id string) backend.NewJob {
	return backend.NewJob{ID: id, Payload: []byte(`{}`), MaxAttempts: 3}
}

// enqueueOn stores count jobs on shard i in one call and returns their ids.
func (f *fixture) enqueueOn(i, count int) []string {
	f.t.Helper()
	ids := make([]string, count)
	jobs := make([]backend.NewJob, count)
	for k := range jobs {
		ids[k] = f.idOn(i)
		jobs[k] = newJob(ids[k])
	}
	require.NoError(f.t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs}))
	return ids
}

func (f *fixture) claim(p backend.ClaimParams) []backend.ClaimedJob {
	f.t.Helper()
	p.Queue = queue
	if p.Lease == 0 {
		p.Lease = time.Minute
	}
	jobs, err := f.b.Claim(f.ctx, p)
	require.NoError(f.t, err)
	return jobs
}

// complete completes jobs, kept in the history.
func (f *fixture) complete(jobs ...backend.ClaimedJob) {
	f.t.Helper()
	items := make([]backend.Completion, len(jobs))
	for k, j := range jobs {
		items[k] = backend.Completion{Ack: backend.Ack{ID: j.ID, Token: j.Token}}
	}
	errs, err := f.b.Complete(f.ctx, backend.CompleteParams{Queue: queue, Items: items, Retention: keep})
	require.NoError(f.t, err)
	require.Equal(f.t, make([]error, len(jobs)), errs)
}

func (f *fixture) stats() backend.Stats {
	f.t.Helper()
	st, err := f.b.Stats(f.ctx, queue)
	require.NoError(f.t, err)
	return st
}

// partStats returns the stats of each physical queue.
func (f *fixture) partStats() []backend.Stats {
	f.t.Helper()
	out := make([]backend.Stats, len(f.parts))
	for i, part := range f.parts {
		st, err := f.inner.Stats(f.ctx, part)
		require.NoError(f.t, err)
		out[i] = st
	}
	return out
}

func (f *fixture) state(id string) backend.State {
	f.t.Helper()
	info, err := f.b.Get(f.ctx, queue, id)
	require.NoError(f.t, err)
	return info.State
}

// rootQueue opens the logical queue through the root package.
func (f *fixture) rootQueue() *jobqueue.Queue {
	f.t.Helper()
	q, err := jobqueue.New(f.b, queue)
	require.NoError(f.t, err)
	return q
}

func idsOf(jobs []backend.ClaimedJob) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

type payload struct{ N int }

func TestShardNames(t *testing.T) {
	for _, n := range []int{2, 3, 6, 7, shard.MaxShards} {
		names, err := shard.ShardNames("emails", n)
		require.NoError(t, err)
		requireSpread(t, names, n)
		for i, name := range names {
			require.True(t, strings.HasPrefix(name, fmt.Sprintf("emails.s%dof%d.", i, n)), name)
		}
		again, err := shard.ShardNames("emails", n)
		require.NoError(t, err)
		require.Equal(t, names, again, "every process must name the shards alike")
	}
}

// requireSpread checks that names are n valid, distinct queue names whose
// slots sit in the middle half of their shard's range.
func requireSpread(t *testing.T, names []string, n int) {
	t.Helper()
	require.Len(t, names, n)
	width := slot.Count / n
	seen := make(map[string]bool)
	for i, name := range names {
		require.NoError(t, backend.ValidateQueueName(name))
		require.False(t, seen[name], "%s twice", name)
		seen[name] = true
		sl := slot.Of(name)
		require.GreaterOrEqual(t, sl, i*width+width/4, "shard %d of %d: %s", i, n, name)
		require.Less(t, sl, i*width+3*width/4, "shard %d of %d: %s", i, n, name)
	}
}

func TestShardNamesOfLongQueues(t *testing.T) {
	// A name of 111 characters is kept whole.
	whole := strings.Repeat("w", 111)
	names, err := shard.ShardNames(whole, shard.MaxShards)
	require.NoError(t, err)
	requireSpread(t, names, shard.MaxShards)
	for _, name := range names {
		require.True(t, strings.HasPrefix(name, whole+".s"), name)
	}

	// Two longer names that differ only past the cut get shards of their
	// own.
	long := strings.Repeat("a", 120)
	a, err := shard.ShardNames(long+"-x", shard.MaxShards)
	require.NoError(t, err)
	b, err := shard.ShardNames(long+"-y", shard.MaxShards)
	require.NoError(t, err)
	requireSpread(t, a, shard.MaxShards)
	requireSpread(t, b, shard.MaxShards)
	for i := range a {
		require.False(t, strings.HasPrefix(a[i], long), "not cut: %s", a[i])
		require.NotContains(t, b, a[i], "two queues share a shard")
	}
	// The longest name allowed.
	longest, err := shard.ShardNames(strings.Repeat("z", backend.MaxQueueNameLen), shard.MaxShards)
	require.NoError(t, err)
	requireSpread(t, longest, shard.MaxShards)
}

func TestShardNamesRefuses(t *testing.T) {
	for _, n := range []int{-1, 0, 1, shard.MaxShards + 1} {
		_, err := shard.ShardNames("q", n)
		require.ErrorIs(t, err, backend.ErrInvalidArgument, "%d shards", n)
	}
	for _, name := range []string{"", "a b", "q{x}", strings.Repeat("q", backend.MaxQueueNameLen+1)} {
		_, err := shard.ShardNames(name, 3)
		require.ErrorIs(t, err, backend.ErrInvalidQueueName, "%q", name)
	}
}

func TestNewRefuses(t *testing.T) {
	mem := memory.New()
	for _, shards := range []map[string]int{
		{"q": 1},
		{"q": 0},
		{"q": shard.MaxShards + 1},
		{shard.Every: 1},
		{shard.Every: shard.MaxShards + 1},
		{"ok": 3, "q": 1},
	} {
		_, err := shard.New(mem, shards)
		require.ErrorIs(t, err, backend.ErrInvalidArgument, "%v", shards)
	}
	for _, name := range []string{"", "a b", "q/x", strings.Repeat("q", backend.MaxQueueNameLen+1)} {
		_, err := shard.New(mem, map[string]int{name: 3})
		require.ErrorIs(t, err, backend.ErrInvalidQueueName, "%q", name)
	}
	_, err := shard.New(nil, map[string]int{"q": 3})
	require.ErrorIs(t, err, backend.ErrInvalidArgument)

	b, err := shard.New(mem, map[string]int{"q": shard.MaxShards})
	require.NoError(t, err)
	require.Len(t, b.Shards("q"), shard.MaxShards)
}

// TestOneCallOneShard: the jobs of one enqueue call land together, so the
// call stays one atomic write.
func TestOneCallOneShard(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	used := make(map[int]bool)
	for range 6 {
		ids, err := q.EnqueueBatch(f.ctx, []any{payload{1}, payload{2}, payload{3}, payload{4}, payload{5}})
		require.NoError(t, err)
		at := f.shardOf(ids[0])
		for _, id := range ids[1:] {
			require.Equal(t, at, f.shardOf(id), "jobs of one batch on two shards")
		}
		used[at] = true
	}
	require.Len(t, used, 3, "6 calls over 3 shards")
}

// TestCallsRoundRobin: successive calls go to the shards in turn.
func TestCallsRoundRobin(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	count := make([]int, 3)
	for k := range 30 {
		id, err := q.Enqueue(f.ctx, payload{k})
		require.NoError(t, err)
		count[f.shardOf(id)]++
	}
	require.Equal(t, []int{10, 10, 10}, count)
	for i, st := range f.partStats() {
		require.EqualValues(t, 10, st.Pending, "shard %d", i)
	}
}

// TestShardKey: the jobs of one key, enqueued by many calls among others,
// land on one shard and are claimed in the order they were enqueued.
func TestShardKey(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	var keyed []string
	at := -1
	for k := range 30 {
		id, err := q.Enqueue(f.ctx, payload{k}, jobqueue.ShardKey("customer-7"))
		require.NoError(t, err)
		if at == -1 {
			at = f.shardOf(id)
		}
		require.Equal(t, at, f.shardOf(id), "job %d of the key", k)
		keyed = append(keyed, id)
		// Keyless jobs between them, spread over every shard.
		_, err = q.Enqueue(f.ctx, payload{-k})
		require.NoError(t, err)
	}
	var order []string
	for range 60 {
		got := f.claim(backend.ClaimParams{Max: 1})
		require.Len(t, got, 1)
		if slices.Contains(keyed, got[0].ID) {
			order = append(order, got[0].ID)
		}
	}
	require.Equal(t, keyed, order, "the jobs of one key out of order")
}

// TestUniqueKeyPlacement: a unique job lands on its key's shard, where
// the key is checked, whatever shard the calls' turn is at.
func TestUniqueKeyPlacement(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	for k := range 6 {
		key := fmt.Sprintf("order-%d", k)
		id, err := q.Enqueue(f.ctx, payload{k}, jobqueue.Unique(key, time.Hour))
		require.NoError(t, err)
		want := f.placed(key)
		require.Equal(t, want, f.shardOf(id), "unique job of %s", key)
		other, err := q.Enqueue(f.ctx, payload{k}, jobqueue.ShardKey(key))
		require.NoError(t, err)
		require.Equal(t, want, f.shardOf(other), "a job with the shard key %s", key)
		// Calls made in turn would put these on every shard: each is
		// refused where the key is held.
		for range 3 {
			holder, err := q.Enqueue(f.ctx, payload{k}, jobqueue.Unique(key, time.Hour))
			require.ErrorIs(t, err, jobqueue.ErrDuplicate)
			require.Equal(t, id, holder)
		}
	}
	require.EqualValues(t, 12, f.stats().Pending)
}

func TestWithIDAndShardKey(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	_, err := q.Enqueue(f.ctx, payload{1}, jobqueue.WithID("mine"), jobqueue.ShardKey("k"))
	require.ErrorIs(t, err, jobqueue.ErrInvalidArgument)
	_, err = f.b.Get(f.ctx, queue, "mine")
	require.ErrorIs(t, err, backend.ErrNotFound)
	require.Zero(t, f.stats().EnqueuedTotal)
}

// TestIDAndUniqueKeyApart: a job whose own id and unique key fall on
// different shards is refused, with its whole call.
func TestIDAndUniqueKeyApart(t *testing.T) {
	f := newFixture(t, 3)
	key := f.keyOn(0)
	other, apart := f.idOn(0), f.idOn(1)
	bad := newJob(apart)
	bad.Unique = backend.Unique{Key: key, Window: time.Hour}
	err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: []backend.NewJob{newJob(other), bad}})
	require.ErrorIs(t, err, backend.ErrInvalidArgument)
	for _, id := range []string{other, apart} {
		_, err := f.b.Get(f.ctx, queue, id)
		require.ErrorIs(t, err, backend.ErrNotFound, "job %s of a refused call", id)
	}
	require.Zero(t, f.stats().EnqueuedTotal)

	// The key was not taken: a job on its shard takes it.
	good := newJob(f.idOn(0))
	good.Unique = bad.Unique
	require.NoError(t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: []backend.NewJob{good}}))
}

// TestBatchAcrossShards: a batch of caller-chosen ids is stored on each
// id's shard.
func TestBatchAcrossShards(t *testing.T) {
	f := newFixture(t, 3)
	var jobs []backend.NewJob
	var where []int
	for k := range 9 {
		jobs = append(jobs, newJob(f.idOn(k%3)))
		where = append(where, k%3)
	}
	require.NoError(t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs}))
	for k, j := range jobs {
		require.Equal(t, backend.StatePending, f.state(j.ID))
		require.Equal(t, where[k], f.shardOf(j.ID))
	}
	for i, st := range f.partStats() {
		require.EqualValues(t, 3, st.Pending, "shard %d", i)
	}
	require.EqualValues(t, 9, f.stats().Pending)
}

// TestBatchDuplicateAcrossShards: a held key refuses its shard's part of a
// batch, in an error of the logical queue that counts in the caller's
// batch; the other shards store theirs.
func TestBatchDuplicateAcrossShards(t *testing.T) {
	f := newFixture(t, 3)
	key := f.keyOn(1)
	holder := newJob(f.idOn(1))
	holder.Unique = backend.Unique{Key: key, Window: time.Hour}
	require.NoError(t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: []backend.NewJob{holder}}))

	dup := newJob(f.idOn(1))
	dup.Unique = holder.Unique
	// Index 3 of the batch is index 1 of shard 1's part.
	jobs := []backend.NewJob{newJob(f.idOn(0)), newJob(f.idOn(1)), newJob(f.idOn(2)), dup, newJob(f.idOn(2))}
	err := f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: queue, Jobs: jobs})
	require.ErrorIs(t, err, backend.ErrDuplicate)
	var de *backend.DuplicateError
	require.ErrorAs(t, err, &de)
	require.Equal(t, queue, de.Queue)
	require.Equal(t, []backend.Duplicate{{Index: 3, Key: key, ExistingID: holder.ID}}, de.Duplicates)

	for k, j := range jobs {
		_, err := f.b.Get(f.ctx, queue, j.ID)
		if k == 1 || k == 3 {
			require.ErrorIs(t, err, backend.ErrNotFound, "job %d, on the shard that refused", k)
		} else {
			require.NoError(t, err, "job %d, on a shard that had no duplicate", k)
		}
	}
}

// TestClaimFindsEveryShard: a claim finds a job on any shard, whichever
// is its home.
func TestClaimFindsEveryShard(t *testing.T) {
	f := newFixture(t, 3)
	for round := range 2 {
		for i := range 3 {
			id := f.enqueueOn(i, 1)[0]
			got := f.claim(backend.ClaimParams{Max: 5})
			require.Equal(t, []string{id}, idsOf(got), "round %d, a job on shard %d", round, i)
		}
	}
}

// TestClaimGathers: a claim for more jobs than one shard has takes them
// from several.
func TestClaimGathers(t *testing.T) {
	f := newFixture(t, 3)
	for i := range 3 {
		f.enqueueOn(i, 2)
	}
	got := f.claim(backend.ClaimParams{Max: 5})
	require.Len(t, got, 5)
	from := make(map[int]bool)
	for _, j := range got {
		from[f.shardOf(j.ID)] = true
	}
	require.Len(t, from, 3)
	st := f.stats()
	require.EqualValues(t, 5, st.Processing)
	require.EqualValues(t, 1, st.Pending)
	require.Len(t, f.claim(backend.ClaimParams{Max: 5}), 1)
}

// hooked is a memory backend that calls its hook before each Claim; an
// error from the hook is the claim's.
type hooked struct {
	*memory.Backend
	hook func(ctx context.Context, p backend.ClaimParams) error
}

func (h *hooked) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if err := h.hook(ctx, p); err != nil {
		return nil, err
	}
	return h.Backend.Claim(ctx, p)
}

// TestClaimWaitsOnEveryShard: a claim that waits on an empty queue takes a
// job enqueued on any shard as it comes.
func TestClaimWaitsOnEveryShard(t *testing.T) {
	waiting := make(chan string, 3)
	f := newFixtureOn(t, &hooked{Backend: memory.New(), hook: func(ctx context.Context, p backend.ClaimParams) error {
		if p.Wait > 0 {
			select {
			case waiting <- p.Queue:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}, 3)
	for i := range 3 {
		ctx, cancel := context.WithCancel(f.ctx)
		type result struct {
			jobs []backend.ClaimedJob
			err  error
		}
		done := make(chan result, 1)
		go func() {
			jobs, err := f.b.Claim(ctx, backend.ClaimParams{Queue: queue, Max: 1, Wait: 30 * time.Second, Lease: time.Minute})
			done <- result{jobs, err}
		}()
		// The claim waits on every shard before the job comes.
		var on []string
		for range 3 {
			select {
			case part := <-waiting:
				on = append(on, part)
			case <-f.ctx.Done():
				t.Fatalf("the claim waits on %v only", on)
			}
		}
		require.ElementsMatch(t, f.parts, on)
		id := f.enqueueOn(i, 1)[0]
		select {
		case r := <-done:
			require.NoError(t, r.err)
			require.Equal(t, []string{id}, idsOf(r.jobs), "a job on shard %d", i)
		case <-time.After(10 * time.Second):
			t.Fatalf("a claim waiting on every shard missed a job on shard %d", i)
		}
		cancel()
	}
	require.EqualValues(t, 3, f.stats().Processing)
}

// TestClaimRepeat: a claim repeated with its request id returns what the
// first took, from every shard it took from, and takes nothing more, even
// when it no longer holds all of it.
func TestClaimRepeat(t *testing.T) {
	f := newFixture(t, 3)
	for i := range 3 {
		f.enqueueOn(i, 2)
	}
	p := backend.ClaimParams{Max: 4, RequestID: "claim-1"}
	first := f.claim(p)
	require.Len(t, first, 4)
	require.ElementsMatch(t, idsOf(first), idsOf(f.claim(p)))

	// One of them done, the repeat returns the other three, and does not
	// make up for it from the shard the first run left alone.
	f.complete(first[len(first)-1])
	require.ElementsMatch(t, idsOf(first[:3]), idsOf(f.claim(p)))
	st := f.stats()
	require.EqualValues(t, 3, st.Processing)
	require.EqualValues(t, 2, st.Pending)
	require.EqualValues(t, 4, st.ClaimedTotal)
}

// secondClaimFails returns a fixture whose second physical claim fails
// with err: the first shard asked hands out its job, the next fails.
func secondClaimFails(t *testing.T, err error) *fixture {
	var calls atomic.Int32
	f := newFixtureOn(t, &hooked{Backend: memory.New(), hook: func(context.Context, backend.ClaimParams) error {
		if calls.Add(1) == 2 {
			return err
		}
		return nil
	}}, 3)
	for i := range 3 {
		f.enqueueOn(i, 1)
	}
	return f
}

// TestClaimFailingOnAShard: a claim that took jobs on one shard and then
// failed on another leaves no job claimed that its caller does not get.
// After ErrUnavailable, its repeat (same request id) returns them; with
// no repeat to come, they are put back at once.
func TestClaimFailingOnAShard(t *testing.T) {
	unavailable := fmt.Errorf("%w: test: connection reset", backend.ErrUnavailable)
	t.Run("Repeat", func(t *testing.T) {
		f := secondClaimFails(t, unavailable)
		p := backend.ClaimParams{Queue: queue, Max: 3, Lease: time.Minute, RequestID: "claim-1"}
		_, err := f.b.Claim(f.ctx, p)
		require.ErrorIs(t, err, backend.ErrUnavailable)
		require.EqualValues(t, 1, f.stats().Processing, "the first shard's job, held for the repeat")
		got := f.claim(p)
		require.NotEmpty(t, got)
		require.EqualValues(t, len(got), f.stats().Processing, "jobs claimed that the repeat did not return")
	})
	for name, p := range map[string]struct {
		err       error
		requestID string
	}{
		"NoRequestID": {unavailable, ""},
		"Permanent":   {fmt.Errorf("%w: test: ACL", backend.ErrNotPermitted), "claim-1"},
	} {
		t.Run(name, func(t *testing.T) {
			f := secondClaimFails(t, p.err)
			_, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: queue, Max: 3, Lease: time.Minute, RequestID: p.requestID})
			require.ErrorIs(t, err, p.err)
			st := f.stats()
			require.Zero(t, st.Processing, "a job claimed for a caller that got an error")
			require.EqualValues(t, 3, st.Pending)
		})
	}
}

// TestClaimRepeatFailingForGood: a repeat that gets back the first run's
// jobs on one shard and then fails on another with an error that no
// repeat follows leaves none of them claimed.
func TestClaimRepeatFailingForGood(t *testing.T) {
	unavailable := fmt.Errorf("%w: test: connection reset", backend.ErrUnavailable)
	var calls atomic.Int32
	f := newFixtureOn(t, &hooked{Backend: memory.New(), hook: func(context.Context, backend.ClaimParams) error {
		switch calls.Add(1) {
		case 2: // the first run, on its second shard
			return unavailable
		case 4: // the repeat, on that shard again
			return fmt.Errorf("%w: test: ACL", backend.ErrNotPermitted)
		}
		return nil
	}}, 3)
	for i := range 3 {
		f.enqueueOn(i, 1)
	}
	p := backend.ClaimParams{Queue: queue, Max: 3, Lease: time.Minute, RequestID: "claim-1"}
	_, err := f.b.Claim(f.ctx, p)
	require.ErrorIs(t, err, backend.ErrUnavailable)
	_, err = f.b.Claim(f.ctx, p)
	require.ErrorIs(t, err, backend.ErrNotPermitted)
	st := f.stats()
	require.Zero(t, st.Processing, "a job claimed for a caller that got an error, with no repeat to come")
	require.EqualValues(t, 3, st.Pending)
}

// TestByID: the calls about one job reach its shard, and those about
// several reach each one's.
func TestByID(t *testing.T) {
	f := newFixture(t, 3)
	ids := []string{f.enqueueOn(0, 1)[0], f.enqueueOn(1, 1)[0], f.enqueueOn(2, 1)[0]}
	for _, id := range ids {
		require.Equal(t, backend.StatePending, f.state(id))
	}

	asked := []string{ids[2], ids[0], f.idOn(1), ids[1]}
	got, err := f.b.Summaries(f.ctx, backend.SummariesParams{Queue: queue, IDs: asked})
	require.NoError(t, err)
	var order []string
	for _, s := range got {
		order = append(order, s.ID)
	}
	require.Equal(t, []string{ids[2], ids[0], ids[1]}, order, "summaries in the order asked")

	claimed := f.claim(backend.ClaimParams{Max: 3})
	require.Len(t, claimed, 3)
	var fails []backend.Failure
	for _, c := range claimed {
		fails = append(fails, backend.Failure{Ack: backend.Ack{ID: c.ID, Token: c.Token}, Error: "boom", Dead: true})
	}
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: queue, Items: fails, Retention: keep})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil, nil}, errs)
	for _, id := range ids {
		require.Equal(t, backend.StateDead, f.state(id))
		require.NoError(t, f.b.RetryDead(f.ctx, backend.RetryDeadParams{Queue: queue, ID: id}))
		require.Equal(t, backend.StatePending, f.state(id))
	}

	errs, err = f.b.Cancel(f.ctx, backend.CancelParams{Queue: queue, IDs: []string{ids[1], ids[2], ids[0]}, Retention: keep})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil, nil}, errs)
	for _, id := range ids {
		require.Equal(t, backend.StateCancelled, f.state(id))
	}
	require.EqualValues(t, 3, f.stats().Cancelled)

	for _, id := range ids {
		at := f.shardOf(id)
		require.NoError(t, f.b.Delete(f.ctx, backend.DeleteParams{Queue: queue, ID: id}))
		_, err := f.inner.Get(f.ctx, f.parts[at], id)
		require.ErrorIs(t, err, backend.ErrNotFound)
		_, err = f.b.Get(f.ctx, queue, id)
		require.ErrorIs(t, err, backend.ErrNotFound)
	}
}

// TestStatsSum: Stats adds up the shards'.
func TestStatsSum(t *testing.T) {
	f := newFixture(t, 3)
	for i := range 3 {
		f.enqueueOn(i, i+1)
	}
	claimed := f.claim(backend.ClaimParams{Max: 2})
	require.Len(t, claimed, 2)
	f.complete(claimed[0])

	st := f.stats()
	require.EqualValues(t, 4, st.Pending)
	require.EqualValues(t, 1, st.Processing)
	require.EqualValues(t, 1, st.Completed)
	require.EqualValues(t, 6, st.EnqueuedTotal)
	require.EqualValues(t, 2, st.ClaimedTotal)
	require.EqualValues(t, 1, st.CompletedTotal)
	var sum backend.Stats
	for _, p := range f.partStats() {
		sum.Pending += p.Pending
		sum.Processing += p.Processing
		sum.Completed += p.Completed
		sum.EnqueuedTotal += p.EnqueuedTotal
		sum.ClaimedTotal += p.ClaimedTotal
		sum.CompletedTotal += p.CompletedTotal
	}
	require.Equal(t, [6]int64{sum.Pending, sum.Processing, sum.Completed, sum.EnqueuedTotal, sum.ClaimedTotal, sum.CompletedTotal},
		[6]int64{st.Pending, st.Processing, st.Completed, st.EnqueuedTotal, st.ClaimedTotal, st.CompletedTotal})
}

// TestListPaged: pages of a list cross the shards' bounds, and every id
// comes once, shard 0's first.
func TestListPaged(t *testing.T) {
	f := newFixture(t, 3)
	f.enqueueOn(0, 4)
	f.enqueueOn(1, 3)
	f.enqueueOn(2, 3)
	var want []string
	for _, part := range f.parts {
		ids, err := f.inner.List(f.ctx, backend.ListParams{Queue: part, State: backend.StatePending, Limit: 100})
		require.NoError(t, err)
		want = append(want, ids...)
	}
	require.Len(t, want, 10)
	var got []string
	for offset := 0; ; offset += 3 {
		page, err := f.b.List(f.ctx, backend.ListParams{Queue: queue, State: backend.StatePending, Offset: offset, Limit: 3})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 3)
		got = append(got, page...)
	}
	require.Equal(t, want, got)
}

// limitsOf returns each shard's limits, of the queue or of kind.
func (f *fixture) limitsOf(kind string) []backend.Limits {
	f.t.Helper()
	var out []backend.Limits
	for _, st := range f.partStats() {
		if kind == "" {
			out = append(out, st.Limits)
		} else {
			out = append(out, st.KindLimits[kind])
		}
	}
	return out
}

// TestLimitsSplit: a limit is split into shares that sum to it; one below
// the shards' count is refused and changes nothing.
func TestLimitsSplit(t *testing.T) {
	f := newFixture(t, 3)
	set := func(kind string, l backend.Limits) error {
		return f.b.SetLimits(f.ctx, backend.LimitParams{Queue: queue, Kind: kind, Limits: l})
	}
	require.NoError(t, set("", backend.Limits{Concurrency: 5, Rate: 7, Per: time.Minute}))
	require.Equal(t, []backend.Limits{{Concurrency: 2, Rate: 3, Per: time.Minute}, {Concurrency: 2, Rate: 2, Per: time.Minute}, {Concurrency: 1, Rate: 2, Per: time.Minute}},
		f.limitsOf(""))
	require.Equal(t, backend.Limits{Concurrency: 5, Rate: 7, Per: time.Minute}, f.stats().Limits)

	require.NoError(t, set("mail", backend.Limits{Concurrency: 4}))
	require.Equal(t, []backend.Limits{{Concurrency: 2}, {Concurrency: 1}, {Concurrency: 1}}, f.limitsOf("mail"))
	require.Equal(t, backend.Limits{Concurrency: 4}, f.stats().KindLimits["mail"])

	for _, refused := range []struct {
		kind string
		l    backend.Limits
	}{
		{"", backend.Limits{Concurrency: 2}},
		{"", backend.Limits{Rate: 2, Per: time.Second}},
		{"mail", backend.Limits{Concurrency: 2}},
		{"mail", backend.Limits{Concurrency: 9, Rate: 1, Per: time.Second}},
	} {
		require.ErrorIs(t, set(refused.kind, refused.l), backend.ErrInvalidArgument, "%q %v", refused.kind, refused.l)
	}
	require.Equal(t, []backend.Limits{{Concurrency: 2, Rate: 3, Per: time.Minute}, {Concurrency: 2, Rate: 2, Per: time.Minute}, {Concurrency: 1, Rate: 2, Per: time.Minute}},
		f.limitsOf(""), "a refused limit changed the queue's")
	require.Equal(t, []backend.Limits{{Concurrency: 2}, {Concurrency: 1}, {Concurrency: 1}}, f.limitsOf("mail"), "a refused limit changed the kind's")
}

// TestConcurrencyCap: the shares of a concurrency limit cap the whole
// queue at the limit.
func TestConcurrencyCap(t *testing.T) {
	f := newFixture(t, 3)
	require.NoError(t, f.b.SetLimits(f.ctx, backend.LimitParams{Queue: queue, Limits: backend.Limits{Concurrency: 5}}))
	for i := range 3 {
		f.enqueueOn(i, 4)
	}
	require.Len(t, f.claim(backend.ClaimParams{Max: 12}), 5)
	require.Empty(t, f.claim(backend.ClaimParams{Max: 12}))
	require.EqualValues(t, 5, f.stats().Processing)
}

func TestPauseResume(t *testing.T) {
	f := newFixture(t, 3)
	require.NoError(t, f.b.Pause(f.ctx, queue))
	for i, st := range f.partStats() {
		require.True(t, st.Paused, "shard %d", i)
	}
	require.True(t, f.stats().Paused)
	for i := range 3 {
		f.enqueueOn(i, 1)
	}
	require.Empty(t, f.claim(backend.ClaimParams{Max: 3}))

	require.NoError(t, f.b.Resume(f.ctx, queue))
	for i, st := range f.partStats() {
		require.False(t, st.Paused, "shard %d", i)
	}
	require.False(t, f.stats().Paused)
	require.Len(t, f.claim(backend.ClaimParams{Max: 3}), 3)
}

func (f *fixture) subscribe() <-chan backend.Event {
	f.t.Helper()
	ch, err := f.b.Subscribe(f.ctx, queue)
	require.NoError(f.t, err)
	return ch
}

// awaitEnqueued reads events until the enqueued events of every id in ids
// came, and returns the events read.
func (f *fixture) awaitEnqueued(ch <-chan backend.Event, ids []string) []backend.Event {
	f.t.Helper()
	missing := slices.Clone(ids)
	var read []backend.Event
	for len(missing) > 0 {
		select {
		case ev, ok := <-ch:
			require.True(f.t, ok, "the event channel closed")
			read = append(read, ev)
			if ev.Kind == backend.EventEnqueued {
				missing = slices.DeleteFunc(missing, func(id string) bool { return slices.Contains(ev.IDs, id) })
			}
		case <-f.ctx.Done():
			f.t.Fatalf("no enqueued event for %v", missing)
		}
	}
	return read
}

// TestEventsOfEveryShard: a subscription to the logical queue hears every
// shard, under the logical name.
func TestEventsOfEveryShard(t *testing.T) {
	f := newFixture(t, 3)
	ch := f.subscribe()
	var ids []string
	for i := range 3 {
		ids = append(ids, f.enqueueOn(i, 1)...)
	}
	for _, ev := range f.awaitEnqueued(ch, ids) {
		require.Equal(t, queue, ev.Queue)
	}
}

// TestQueueWideEventsOnce: a call that changes every shard publishes one
// event. Each shard's events come in order, so once a marker enqueued
// after the call on every shard is heard, every shard's event is too.
func TestQueueWideEventsOnce(t *testing.T) {
	f := newFixture(t, 3)
	ch := f.subscribe()
	for _, step := range []struct {
		kind backend.EventKind
		call func() error
	}{
		{backend.EventPaused, func() error { return f.b.Pause(f.ctx, queue) }},
		{backend.EventLimits, func() error {
			return f.b.SetLimits(f.ctx, backend.LimitParams{Queue: queue, Limits: backend.Limits{Concurrency: 6}})
		}},
		{backend.EventResumed, func() error { return f.b.Resume(f.ctx, queue) }},
	} {
		require.NoError(t, step.call())
		var markers []string
		for i := range 3 {
			markers = append(markers, f.enqueueOn(i, 1)...)
		}
		n := 0
		for _, ev := range f.awaitEnqueued(ch, markers) {
			require.Equal(t, queue, ev.Queue)
			if ev.Kind == step.kind {
				n++
			}
		}
		require.Equal(t, 1, n, "%s events of one call", step.kind)
	}
}

// TestHistorySum: History adds up the shards' counts minute by minute.
func TestHistorySum(t *testing.T) {
	f := newFixture(t, 3)
	for i := range 3 {
		f.enqueueOn(i, i+1)
	}
	claimed := f.claim(backend.ClaimParams{Max: 6})
	require.Len(t, claimed, 6)
	f.complete(claimed[:4]...)

	got, err := f.b.History(f.ctx, backend.HistoryParams{Queue: queue, Minutes: 5})
	require.NoError(t, err)
	require.Len(t, got, 5, "one point a minute")
	total := backend.SumHistory(got)
	require.EqualValues(t, 6, total.Enqueued)
	require.EqualValues(t, 4, total.Completed)

	// Each minute is the sum of the shards' (the minutes both reads saw,
	// should a minute turn between them).
	inner := f.inner.(backend.Historian)
	sum := make(map[int64]backend.HistoryPoint)
	for _, part := range f.parts {
		pts, err := inner.History(f.ctx, backend.HistoryParams{Queue: part, Minutes: 5})
		require.NoError(t, err)
		for _, pt := range pts {
			sum[pt.Minute.UnixMilli()] = sum[pt.Minute.UnixMilli()].Add(pt)
		}
	}
	seen := 0
	for _, pt := range got {
		if want, ok := sum[pt.Minute.UnixMilli()]; ok {
			seen++
			want.Minute = pt.Minute
			require.Equal(t, want, pt)
		}
	}
	require.GreaterOrEqual(t, seen, 4)
}

// TestBeatCountsOnce: a process that works a sharded queue counts once.
func TestBeatCountsOnce(t *testing.T) {
	f := newFixture(t, 3)
	require.NoError(t, f.b.Beat(f.ctx, backend.BeatParams{Queue: queue, ID: "host:1", TTL: time.Minute}))
	require.EqualValues(t, 1, f.stats().Workers)
	require.NoError(t, f.b.Beat(f.ctx, backend.BeatParams{Queue: queue, ID: "host:2", TTL: time.Minute}))
	require.EqualValues(t, 2, f.stats().Workers)
	require.NoError(t, f.b.Beat(f.ctx, backend.BeatParams{Queue: queue, ID: "host:1"}))
	require.EqualValues(t, 1, f.stats().Workers)
}

// TestPassthrough: a queue not sharded is the wrapped backend's, under its
// own name.
func TestPassthrough(t *testing.T) {
	f := newFixture(t, 3)
	require.Nil(t, f.b.Shards("plain"))
	q, err := jobqueue.New(f.b, "plain")
	require.NoError(t, err)
	ids, err := q.EnqueueBatch(f.ctx, []any{payload{1}, payload{2}})
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, backend.ValidateNewID(id))
		_, err := f.inner.Get(f.ctx, "plain", id)
		require.NoError(t, err)
	}
	st, err := f.inner.Stats(f.ctx, "plain")
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Pending)
	got, err := f.b.Claim(f.ctx, backend.ClaimParams{Queue: "plain", Max: 5, Lease: time.Minute})
	require.NoError(t, err)
	require.ElementsMatch(t, ids, idsOf(got))
	// The sharded queue's jobs are not the plain one's.
	require.Zero(t, f.stats().EnqueuedTotal)
}

// TestEvery: Every shards the queues not named, with its own count.
func TestEvery(t *testing.T) {
	mem := memory.New()
	b, err := shard.New(mem, map[string]int{"q": 2, shard.Every: 4})
	require.NoError(t, err)
	require.Len(t, b.Shards("q"), 2)
	parts := b.Shards("anything")
	require.Len(t, parts, 4)
	ctx := context.Background()
	q, err := jobqueue.New(b, "anything")
	require.NoError(t, err)
	id, err := q.Enqueue(ctx, payload{1})
	require.NoError(t, err)
	_, err = mem.Get(ctx, "anything", id)
	require.ErrorIs(t, err, backend.ErrNotFound, "a queue of Every stored under its own name")
	locate(t, ctx, mem, parts, id)
}

// TestBatchWithUniqueKeyStaysAtomic: the keyless jobs of a batch go with
// its unique job, to the key's shard, so a held key stores none of them
// (the root's all-or-nothing, and its advice to call again without the
// held job, stay safe).
func TestBatchWithUniqueKeyStaysAtomic(t *testing.T) {
	f := newFixture(t, 3)
	q := f.rootQueue()
	held, err := q.Enqueue(f.ctx, 0, jobqueue.Unique("k1", time.Hour))
	require.NoError(t, err)
	for range 6 { // every turn of the round robin
		ids, err := q.EnqueueBatch(f.ctx, []any{jobqueue.Item(1, jobqueue.Unique("k1", time.Hour)), 2, 3})
		require.Nil(t, ids)
		var de *jobqueue.DuplicateError
		require.ErrorAs(t, err, &de)
		require.Equal(t, []jobqueue.Duplicate{{Index: 0, Key: "k1", ExistingID: held}}, de.Duplicates)
		require.EqualValues(t, 1, f.stats().EnqueuedTotal, "a batch with a held key stores nothing")
	}
	ids, err := q.EnqueueBatch(f.ctx, []any{jobqueue.Item(1, jobqueue.Unique("k2", time.Hour)), 2, 3})
	require.NoError(t, err)
	for _, id := range ids {
		require.Equal(t, f.placed("k2"), f.where(id), "job %s lands with the batch's unique job", id)
	}
}
