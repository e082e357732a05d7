package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// The durations the suite works with. Short leases make expiry quick to
// wait for; long ones never expire during a test.
const (
	shortLease = 100 * time.Millisecond
	longLease  = time.Minute
	// settle is how long a claim is given to start blocking before the
	// test acts on it.
	settle = 100 * time.Millisecond
	// eventually bounds the wait for something the contract says happens
	// "soon" (a delayed job falling due, a TTL running out).
	eventually = 3 * time.Second
	// tick is how often a condition is polled while waiting for it.
	tick = 10 * time.Millisecond
	// clockSlack allows for the backend's clock and ours to round
	// differently (Redis keeps milliseconds).
	clockSlack = 20 * time.Millisecond
)

// keep is a retention that keeps every finished job for the whole test.
var keep = backend.Retention{Max: 1000, TTL: time.Hour}

// fixture is one test's view of the backend: its own queue on it, and the
// helpers every test shares. It is used from the test's goroutine only.
type fixture struct {
	t   *testing.T
	s   *suite
	ctx context.Context
	b   backend.Backend
	q   string
	// prefix and seq make the ids of the jobs the fixture creates.
	prefix string
	seq    int
	// made holds the ids of the jobs the fixture made, when the backend
	// mints them (backend.IDMinter), and keys the key each was minted by.
	made []string
	keys map[string]string
}

func (s *suite) fixture(t *testing.T) *fixture {
	b := s.h.NewBackend(t)
	require.NotNil(t, b, "Harness.NewBackend returned nil")
	return &fixture{t: t, s: s, ctx: t.Context(), b: b, q: queueName(t), prefix: "job"}
}

// queueName derives a queue name unique to t: its name, cut to the safe
// set and its most specific end, and a random suffix.
func queueName(t *testing.T) string {
	var sb strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	name := sb.String()
	const room = backend.MaxQueueNameLen - 1 - 12
	if len(name) > room {
		name = name[len(name)-room:]
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return name + "-" + hex.EncodeToString(b[:])
}

// other returns a fixture on a second queue, on the same backend, whose
// name extends the test's own, so a backend that matches keys by prefix
// mixes the two up and fails. Its job ids differ from the first queue's.
func (f *fixture) other() *fixture {
	return &fixture{t: f.t, s: f.s, ctx: f.ctx, b: f.b, q: f.q + "x", prefix: "other"}
}

// job returns a new job with the next id of the test and a JSON payload.
//
// On a backend that places jobs by their ids (backend.IDMinter, a sharded
// queue), the backend mints the ids, as the root does, all with one key
// per fixture (or the job's unique key): the jobs of one test land
// together, so what the suite checks of their order and of atomic batches
// holds, as it does for the jobs of one key (jobqueue.ShardKey). What
// crosses shards the backend's own tests check, and the Harness declares
// what it does not promise (GlobalOrder).
func (f *fixture) job(mods ...func(*backend.NewJob)) backend.NewJob {
	f.seq++
	j := backend.NewJob{
		ID:          fmt.Sprintf("%s-%04d", f.prefix, f.seq),
		Payload:     fmt.Appendf(nil, `{"n":%d}`, f.seq),
		MaxAttempts: 3,
	}
	return f.placed(j, f.q+"/"+f.prefix, mods...)
}

// jobBeside returns a new job placed where the job id is, on a backend
// that places jobs (backend.IDMinter): a marker whose event comes after
// that job's, since the events of one place arrive in order.
func (f *fixture) jobBeside(id string, mods ...func(*backend.NewJob)) backend.NewJob {
	key, ok := f.keys[id]
	if !ok {
		return f.job(mods...)
	}
	f.seq++
	j := backend.NewJob{Payload: fmt.Appendf(nil, `{"n":%d}`, f.seq), MaxAttempts: 3}
	return f.placed(j, key, mods...)
}

// placed gives j its id, minted by key (or by its unique key) on a
// backend that mints ids, and applies mods.
func (f *fixture) placed(j backend.NewJob, key string, mods ...func(*backend.NewJob)) backend.NewJob {
	m, mints := f.b.(backend.IDMinter)
	if !mints {
		for _, m := range mods {
			m(&j)
		}
		return j
	}
	j.ID = m.MintIDs(f.q, []string{key})[0]
	minted := j.ID
	for _, m := range mods {
		m(&j)
	}
	if j.ID == minted && j.Unique.Key != "" {
		key = j.Unique.Key
		j.ID = m.MintIDs(f.q, []string{key})[0]
	}
	if f.keys == nil {
		f.keys = make(map[string]string)
	}
	f.made = append(f.made, j.ID)
	f.keys[j.ID] = key
	return j
}

// allIDs returns the ids of every job the fixture made, in the order it
// made them, stored or not.
func (f *fixture) allIDs() []string {
	if f.made != nil {
		return slices.Clone(f.made)
	}
	out := make([]string, f.seq)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", f.prefix, i+1)
	}
	return out
}

func maxAttempts(n int) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.MaxAttempts = n }
}

func delayed(d time.Duration) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Delay = d }
}

func ofKind(kind string) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Kind = kind }
}

func withHeaders(h map[string]string) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Headers = h }
}

func atLevel(priority int) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Priority = priority }
}

func withTimeout(d time.Duration) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Timeout = d }
}

func expiring(d time.Duration) func(*backend.NewJob) {
	return func(j *backend.NewJob) { j.Expiry = d }
}

// enqueueIn stores jobs in queue q and returns their ids.
func (f *fixture) enqueueIn(q string, jobs ...backend.NewJob) []string {
	f.t.Helper()
	require.NoError(f.t, f.b.Enqueue(f.ctx, backend.EnqueueParams{Queue: q, Jobs: jobs}))
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// enqueueN stores n new jobs in one call and returns their ids in order.
func (f *fixture) enqueueN(n int, mods ...func(*backend.NewJob)) []string {
	f.t.Helper()
	jobs := make([]backend.NewJob, n)
	for i := range jobs {
		jobs[i] = f.job(mods...)
	}
	return f.enqueueIn(f.q, jobs...)
}

// enqueue1 stores one new job and returns its id.
func (f *fixture) enqueue1(mods ...func(*backend.NewJob)) string {
	f.t.Helper()
	return f.enqueueN(1, mods...)[0]
}

func (f *fixture) claimParams(limit int, lease, wait time.Duration) backend.ClaimParams {
	return backend.ClaimParams{Queue: f.q, Max: limit, Lease: lease, Wait: wait}
}

// claimWait claims up to limit jobs, waiting up to wait.
func (f *fixture) claimWait(limit int, lease, wait time.Duration) []backend.ClaimedJob {
	f.t.Helper()
	got, err := f.b.Claim(f.ctx, f.claimParams(limit, lease, wait))
	require.NoError(f.t, err)
	return got
}

// claimN claims exactly n jobs that are claimable now.
func (f *fixture) claimN(n int, lease time.Duration) []backend.ClaimedJob {
	f.t.Helper()
	got := f.claimWait(n, lease, 0)
	require.Len(f.t, got, n, "claim of %d jobs that are pending", n)
	return got
}

// claimID claims the next job and requires it to be id.
func (f *fixture) claimID(id string, lease time.Duration) backend.ClaimedJob {
	f.t.Helper()
	c := f.claimN(1, lease)[0]
	require.Equal(f.t, id, c.ID, "claimed job")
	return c
}

// claimSoon claims one job that is about to become claimable.
func (f *fixture) claimSoon(lease time.Duration) backend.ClaimedJob {
	f.t.Helper()
	got := f.claimWait(1, lease, eventually)
	require.Len(f.t, got, 1, "no job became claimable within %v", eventually)
	return got[0]
}

func (f *fixture) requireNoneClaimable() {
	f.t.Helper()
	require.Empty(f.t, f.claimWait(10, longLease, 0), "claim found a job that must not be claimable")
}

func ids(jobs []backend.ClaimedJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func acks(jobs ...backend.ClaimedJob) []backend.Ack {
	out := make([]backend.Ack, len(jobs))
	for i, j := range jobs {
		out[i] = backend.Ack{ID: j.ID, Token: j.Token}
	}
	return out
}

func ack(j backend.ClaimedJob) backend.Ack { return backend.Ack{ID: j.ID, Token: j.Token} }

// requireAllOK requires a batch call to have succeeded for every item.
func requireAllOK(t *testing.T, n int, errs []error, err error) {
	t.Helper()
	require.NoError(t, err)
	require.Len(t, errs, n, "one error per item")
	for i, e := range errs {
		require.NoError(t, e, "item %d", i)
	}
}

// complete completes jobs, keeping them in the history.
func (f *fixture) complete(jobs ...backend.ClaimedJob) {
	f.t.Helper()
	errs, err := completeOp.call(f, acks(jobs...))
	requireAllOK(f.t, len(jobs), errs, err)
}

// fail ends the attempts of jobs with the given outcome.
func (f *fixture) fail(how failure, jobs ...backend.ClaimedJob) {
	f.t.Helper()
	items := make([]backend.Failure, len(jobs))
	for i, j := range jobs {
		items[i] = how.item(ack(j))
	}
	errs, err := f.b.Fail(f.ctx, backend.FailParams{Queue: f.q, Items: items, Retention: keep})
	requireAllOK(f.t, len(jobs), errs, err)
}

// failure is how a Fail item ends its attempt.
type failure struct {
	err    string
	dead   bool
	snooze bool
	delay  time.Duration
}

// item is the Fail item that ends the claim a this way.
func (how failure) item(a backend.Ack) backend.Failure {
	return backend.Failure{Ack: a, Error: how.err, Dead: how.dead, Snooze: how.snooze, Delay: how.delay}
}

var (
	retryNow = failure{err: "boom: retry now"}
	dead     = failure{err: "boom: dead", dead: true}
)

func retryAfter(d time.Duration) failure { return failure{err: "boom: retry later", delay: d} }

// snoozeFor puts a job back for d without using up an attempt; its Error
// must be ignored.
func snoozeFor(d time.Duration) failure {
	return failure{err: "boom: snoozed, must not be kept", snooze: true, delay: d}
}

// waitExpired sleeps until every lease of jobs has run out.
func waitExpired(jobs ...backend.ClaimedJob) {
	var last time.Time
	for _, j := range jobs {
		if j.LeaseUntil.After(last) {
			last = j.LeaseUntil
		}
	}
	time.Sleep(time.Until(last) + 2*clockSlack)
}

func (f *fixture) reclaim(limit int) backend.ReclaimResult {
	f.t.Helper()
	r, err := f.b.Reclaim(f.ctx, backend.ReclaimParams{Queue: f.q, Max: limit, DeadRetention: keep})
	require.NoError(f.t, err)
	return r
}

func (f *fixture) get(id string) backend.JobInfo {
	f.t.Helper()
	info, err := f.b.Get(f.ctx, f.q, id)
	require.NoError(f.t, err, "get %s", id)
	require.Equal(f.t, id, info.ID)
	return info
}

func (f *fixture) requireState(id string, want backend.State) backend.JobInfo {
	f.t.Helper()
	info := f.get(id)
	require.Equal(f.t, want, info.State, "state of %s", id)
	return info
}

func (f *fixture) requireGone(id string) {
	f.t.Helper()
	_, err := f.b.Get(f.ctx, f.q, id)
	require.ErrorIs(f.t, err, backend.ErrNotFound, "get %s", id)
}

// stats returns the queue's depths and counters, with Latency zeroed so
// that tests may compare whole Stats values; the Latency group checks it.
func (f *fixture) stats() backend.Stats {
	f.t.Helper()
	st := f.statsWithLatency()
	st.Latency = 0
	return st
}

func (f *fixture) statsWithLatency() backend.Stats {
	f.t.Helper()
	st, err := f.b.Stats(f.ctx, f.q)
	require.NoError(f.t, err)
	return st
}

func (f *fixture) listPage(state backend.State, offset, limit int) []string {
	f.t.Helper()
	if _, lacked := f.s.h.Lacks[Cancel]; lacked && state == backend.StateCancelled {
		return nil // a backend that cannot cancel has no cancelled jobs
	}
	got, err := f.b.List(f.ctx, backend.ListParams{Queue: f.q, State: state, Offset: offset, Limit: limit})
	require.NoError(f.t, err, "list %s", state)
	return got
}

func (f *fixture) list(state backend.State) []string {
	f.t.Helper()
	return f.listPage(state, 0, 10_000)
}

// snapshot is what the inspection methods show of a queue: the suite
// compares two to prove that a call changed nothing.
type snapshot struct {
	Stats backend.Stats
	Lists map[backend.State][]string
	Jobs  map[string]backend.JobInfo
	Gone  []string
	// History sums the counts of the last hour, when the backend keeps
	// them: a minute's end between two snapshots does not change it.
	History backend.HistoryPoint
}

func (f *fixture) snapshot(jobIDs ...string) snapshot {
	f.t.Helper()
	s := snapshot{Stats: f.stats(), Lists: map[backend.State][]string{}, Jobs: map[string]backend.JobInfo{}}
	for _, st := range backend.States {
		s.Lists[st] = f.list(st)
	}
	for _, id := range jobIDs {
		info, err := f.b.Get(f.ctx, f.q, id)
		if err != nil {
			require.ErrorIs(f.t, err, backend.ErrNotFound, "get %s", id)
			s.Gone = append(s.Gone, id)
			continue
		}
		s.Jobs[id] = info
	}
	if h, ok := f.b.(backend.Historian); ok {
		if _, lacked := f.s.h.Lacks[History]; !lacked {
			points, err := h.History(f.ctx, backend.HistoryParams{Queue: f.q, Minutes: 60})
			require.NoError(f.t, err, "history")
			s.History = backend.SumHistory(points)
		}
	}
	return s
}

// unchanged runs op and requires the queue to look the same afterwards.
func (f *fixture) unchanged(op func(), jobIDs ...string) {
	f.t.Helper()
	before := f.snapshot(jobIDs...)
	op()
	require.Equal(f.t, before, f.snapshot(jobIDs...), "the call changed the queue")
}

// queue opens the test's queue through the root package.
func (f *fixture) queue(opts ...jobqueue.Option) *jobqueue.Queue {
	f.t.Helper()
	q, err := jobqueue.New(f.b, f.q, opts...)
	require.NoError(f.t, err)
	return q
}

// requireNear requires got to be within d of want, and not zero.
func requireNear(t *testing.T, want, got time.Time, d time.Duration, what string) {
	t.Helper()
	require.False(t, got.IsZero(), "%s is zero", what)
	require.WithinDuration(t, want, got, d, what)
}

// median returns the middle of durations.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// reversed returns s backwards.
func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// claimResult is what a claim running in its own goroutine returned, and
// when.
type claimResult struct {
	jobs []backend.ClaimedJob
	err  error
	at   time.Time
}

// claimAsync starts a claim in a goroutine; it must be received from.
func (f *fixture) claimAsync(ctx context.Context, p backend.ClaimParams) <-chan claimResult {
	ch := make(chan claimResult, 1)
	go func() {
		jobs, err := f.b.Claim(ctx, p)
		ch <- claimResult{jobs: jobs, err: err, at: time.Now()}
	}()
	return ch
}

// requireBlocked requires a claim started with claimAsync to be still
// waiting after settle.
func requireBlocked(t *testing.T, ch <-chan claimResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("claim returned before there was work: %d jobs, err %v", len(r.jobs), r.err)
	case <-time.After(settle):
	}
}

// receive waits for a claim started with claimAsync.
func receive(t *testing.T, ch <-chan claimResult) claimResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("claim did not return within 10s")
		return claimResult{}
	}
}
