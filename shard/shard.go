// Package shard spreads one logical queue over several physical queues of
// one store, so that a queue outgrows the one Redis core that serves a
// hash slot: on a Redis Cluster, each shard's keys live in a slot of its
// own, and the shards' slots are spread evenly over the slot space, hence
// over the masters of a balanced Cluster.
//
// A shard.Backend wraps any backend.Backend. The queues named in New are
// sharded; every other queue passes through unchanged, so one Backend
// serves a Worker of sharded and plain queues alike:
//
//	b, err := shard.New(goredis.New(client), map[string]int{"emails": 6})
//	q, err := jobqueue.New(b, "emails") // one queue to its users
//
// # Where a job lives
//
// A job lives in the shard its id hashes to, so Get, Delete, RetryDead,
// Cancel and every acknowledgement go straight to one shard, and an id is
// unique in the whole queue. The root jobqueue.Queue asks the Backend for
// its jobs' ids (backend.IDMinter): the jobs of one enqueue call go to one
// shard, chosen in turn (round robin), so the call stays one atomic write;
// a job with a unique key, or a jobqueue.ShardKey, goes to its key's
// shard, so the key is checked in one place and jobs of one key start in
// the order they were enqueued, and the jobs of its call without a key go
// with it. A job whose caller chose its id lands where that id hashes to;
// one whose own id and unique key fall on different shards is refused
// (ErrInvalidArgument), since its key could not be checked where it
// lives. An enqueue whose jobs fall on several shards (a batch of
// caller-chosen ids, or of unique keys of different shards) is one atomic
// write per shard, not one in all: a shard that refuses its jobs
// (ErrJobExists, ErrDuplicate) does not stop the others from storing
// theirs. So on a sharded queue, enqueue jobs with unique keys one call
// each (or one key per batch) where a batch must be all or nothing: a
// DuplicateError of a batch over several shards does not mean that the
// jobs of the other shards were left out.
//
// # Claims
//
// Each Backend has a home shard, picked at random when it is made: a
// claim takes from it first, and fills up to its Max from the other
// shards, in turn, only when home has fewer. A home shard found empty is
// asked first again 100 ms later, or once no shard has a job: meanwhile
// claims start at the shard that last had jobs, so that a process
// draining the other shards does not pay an empty claim on its home for
// each of its claims (a job that lands on the home shard meanwhile waits
// for this Backend's claims that long at most). When no shard has a job,
// the claim waits on all of them at once; on the Redis adapters the waits
// of one process share one blocking connection per shard, whatever the
// number of waiting claims. Jobs that two shards hand out at once beyond
// the claim's Max are released at once, ahead of their level, with no
// attempt used. A claim that fails on a shard after taking jobs on others
// leaves them to its repeat (after ErrUnavailable, with its request id,
// it asks those shards first), or releases them when none can come.
//
// # What a sharded queue does not promise
//
// Jobs start in order within a shard, not across shards: two jobs without
// a common key may start in either order, and a priority level is
// honoured within each shard. Lists of a state are the shards' lists one
// after another (shard 0's first), not one order. The conformance suite's
// Harness.Lacks names these (conformance.GlobalOrder).
//
// # Limits
//
// A limit is split into one budget per shard, that sum to it: a
// concurrency of C over n shards gives each shard C/n, and the remainder
// one more to the first shards; a rate of R per P likewise (each shard
// allows its share per P). A cap thus stays a cap, and a shard's budget
// is not lent to another while it idles. A limit below the number of
// shards is refused (ErrInvalidArgument): a shard with no budget would
// never start its jobs. Stats reports the sum of the budgets, that is
// the limit set.
//
// # Settings every process shares
//
// Every process must open a sharded queue with the same number of shards:
// the physical queues' names carry the count, so a process that opens
// "emails" with another count works on other queues, and does not see the
// first one's jobs. Pause, Resume and limits apply to every shard. Worker
// beats (Stats.Workers), schedules and the queue registry use the first
// shard, or the logical name, once.
package shard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/slot"
)

// Backend implements the contract and every optional capability.
var (
	_ backend.Backend        = (*Backend)(nil)
	_ backend.IDMinter       = (*Backend)(nil)
	_ backend.Subscriber     = (*Backend)(nil)
	_ backend.ConfigChecker  = (*Backend)(nil)
	_ backend.Canceller      = (*Backend)(nil)
	_ backend.Controller     = (*Backend)(nil)
	_ backend.WorkerTracker  = (*Backend)(nil)
	_ backend.Historian      = (*Backend)(nil)
	_ backend.ScheduleKeeper = (*Backend)(nil)
	_ backend.QueueRegistry  = (*Backend)(nil)
	_ backend.Summarizer     = (*Backend)(nil)
	_ backend.DurableWriter  = (*Backend)(nil)
)

// MaxShards bounds the shards of one queue: a claim that finds its home
// shard empty looks at every other, and Stats reads every shard.
const MaxShards = 64

// Backend is a backend.Backend whose named queues are sharded. It
// implements every optional capability; one that the wrapped backend
// lacks fails with an error wrapping backend.ErrInvalidArgument.
type Backend struct {
	b      backend.Backend
	queues map[string]*layout
	every  int      // the shards of every other queue (Every); 0 for none
	more   sync.Map // queue name → *layout, of the queues Every shards
	home   int      // this Backend's home shard index, modulo each queue's count
	turn   atomic.Uint64
	// recheck is homeRecheck, but in this package's tests.
	recheck time.Duration

	// claims holds the request ids of recent claims, with the shards
	// where they took jobs or failed (and may have): a repeat asks those
	// shards only (see Claim).
	mu     sync.Mutex
	claims map[string]claimRecord
	// took holds the request ids of the last tookKept claims that took
	// jobs, oldest first, to forget the oldest.
	took []string
}

type claimRecord struct {
	shards []int
	failed time.Time // when it failed; zero for a claim that took jobs
}

// homeRecheck is how long after a claim found its home shard empty the
// next claims of the Backend start at the shard that last had jobs
// rather than at home (see the package doc). An empty claim costs a
// Redis master some 25 µs: one per 100 ms is a quarter of a thousandth
// of its time, where one per claim was a quarter of a drain's cost.
const homeRecheck = 100 * time.Millisecond

// tookKept bounds the claims that took jobs that a Backend remembers (a
// claim that failed is remembered for backend.RequestWindow).
const tookKept = 4096

// layout is one sharded queue: its logical name and its shards' names.
type layout struct {
	name  string
	parts []string
	// away is when the Backend's home shard was last found empty (unix
	// ns; 0: it has jobs, as far as this Backend knows), and elsewhere
	// the shard whose jobs its claims take meanwhile.
	away      atomic.Int64
	elsewhere atomic.Int64
}

// Every, as a key of New's map, shards every queue not named in it.
const Every = "*"

// New returns a Backend on b whose queues named in shards are each
// spread over the number of shards given (2 to MaxShards; with Every, all
// the others too). The caller keeps owning b. Every process must use the
// same counts (see the package doc).
func New(b backend.Backend, shards map[string]int) (*Backend, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: shard: nil backend", backend.ErrInvalidArgument)
	}
	s := &Backend{b: b, queues: make(map[string]*layout, len(shards)), home: mrand.IntN(MaxShards * 720), recheck: homeRecheck}
	for name, n := range shards {
		if name != Every {
			if err := backend.ValidateQueueName(name); err != nil {
				return nil, err
			}
		}
		if n < 2 || n > MaxShards {
			return nil, fmt.Errorf("%w: shard: queue %q with %d shards, want 2 to %d", backend.ErrInvalidArgument, name, n, MaxShards)
		}
		if name == Every {
			s.every = n
			continue
		}
		parts, err := ShardNames(name, n)
		if err != nil {
			return nil, err
		}
		s.queues[name] = &layout{name: name, parts: parts}
	}
	return s, nil
}

// ShardNames returns the names of the physical queues that hold a queue
// sharded n ways: "<queue>.s<i>of<n>.<k>" for shard i, where k is the
// first number that puts the name's Redis Cluster hash slot in the middle
// half of the i-th of n equal ranges of the slot space. A queue's shards
// thus sit in slots spread evenly, which a balanced Cluster's masters
// share out evenly (on 3 masters, 3 or 6 shards land 1 or 2 on each). A
// name longer than 111 characters is cut to 102, followed by a dot and
// its CRC-32 in hex, to leave room for the suffix.
func ShardNames(queue string, n int) ([]string, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	if n < 2 || n > MaxShards {
		return nil, fmt.Errorf("%w: shard: %d shards, want 2 to %d", backend.ErrInvalidArgument, n, MaxShards)
	}
	base := queue
	if len(base) > maxBase {
		// A long name is cut, and told apart from others cut alike by
		// a checksum of it.
		base = fmt.Sprintf("%s.%08x", base[:maxBase-9], crc32.ChecksumIEEE([]byte(queue)))
	}
	parts := make([]string, n)
	for i := range n {
		parts[i] = partName(base, i, n)
	}
	return parts, nil
}

// layout returns the layout of a sharded queue, or nil for one that is
// not sharded (or whose name is invalid, which the wrapped backend then
// refuses).
func (s *Backend) layout(queue string) *layout {
	if l := s.queues[queue]; l != nil || s.every == 0 {
		return l
	}
	if l, ok := s.more.Load(queue); ok {
		return l.(*layout)
	}
	parts, err := ShardNames(queue, s.every)
	if err != nil {
		return nil
	}
	l, _ := s.more.LoadOrStore(queue, &layout{name: queue, parts: parts})
	return l.(*layout)
}

// Unwrap returns the backend the shards are stored in.
func (s *Backend) Unwrap() backend.Backend { return s.b }

// Shards returns the names of the physical queues of a sharded queue, in
// shard order, or nil for a queue that is not sharded.
func (s *Backend) Shards(queue string) []string {
	if l := s.layout(queue); l != nil {
		return slices.Clone(l.parts)
	}
	return nil
}

// maxBase is the longest queue name that leaves room in a shard's name
// for its suffix (".s63of64." and a number of up to 7 digits).
const maxBase = backend.MaxQueueNameLen - 17

// partName names shard i of n of queue (see ShardNames).
func partName(queue string, i, n int) string {
	width := slot.Count / n
	lo, hi := i*width+width/4, i*width+3*width/4
	prefix := fmt.Sprintf("%s.s%dof%d.", queue, i, n)
	// Slots are uniform: a hit takes 2 tries on average, and 10,000,000
	// misses in a row do not happen.
	for k := 0; ; k++ {
		name := prefix + strconv.Itoa(k)
		if sl := slot.Of(name); sl >= lo && sl < hi {
			return name
		}
	}
}

// of returns the shard that key (an id, a unique or shard key) falls on.
func (l *layout) of(key string) int {
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(len(l.parts)))
}

// order returns the shards from home on, each once.
func (l *layout) order(home int) []int {
	n := len(l.parts)
	o := make([]int, n)
	for k := range o {
		o[k] = (home + k) % n
	}
	return o
}

// groups returns the indexes of ids by the shard they fall on.
func (l *layout) groups(n int, id func(int) string) map[int][]int {
	g := make(map[int][]int)
	for k := range n {
		i := l.of(id(k))
		g[i] = append(g[i], k)
	}
	return g
}

// parallel runs f for every shard index in shards at once, and returns
// their errors joined.
func parallel(shards []int, f func(i int) error) error {
	if len(shards) == 1 {
		return f(shards[0])
	}
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for k, i := range shards {
		wg.Go(func() { errs[k] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func all(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// MintIDs makes the ids of new jobs of queue (see backend.IDMinter and
// the package doc).
func (s *Backend) MintIDs(queue string, keys []string) []string {
	ids := make([]string, len(keys))
	l := s.layout(queue)
	if l == nil {
		for k := range ids {
			ids[k] = randomID()
		}
		return ids
	}
	// The keyless jobs of a call go with its first keyed job, or else to
	// the shard whose turn it is: a batch of one unique job and others
	// stays one atomic write.
	target := -1
	for _, key := range keys {
		if key != "" {
			target = l.of(key)
			break
		}
	}
	if target < 0 {
		target = int(s.turn.Add(1) % uint64(len(l.parts)))
	}
	var buf [16]byte
	for k, key := range keys {
		t := target
		if key != "" {
			t = l.of(key)
		}
		// A random id, then its last byte tried in turn: a hit takes
		// len(parts) tries on average, each a checksum.
		for ids[k] == "" {
			_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails on supported platforms.
			for c := range 256 {
				buf[15] = byte(c)
				if id := hex.EncodeToString(buf[:]); l.of(id) == t {
					ids[k] = id
					break
				}
			}
		}
	}
	return ids
}

// randomID returns 16 random bytes in hex, the form of the root's own ids.
func randomID() string {
	var buf [16]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(buf[:])
}

// Enqueue stores each job in the shard its id falls on (see the package
// doc): one atomic call per shard.
func (s *Backend) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if err := s.canWait(p.Durability); err != nil {
		return err
	}
	l := s.layout(p.Queue)
	if l == nil {
		return s.b.Enqueue(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	for _, j := range p.Jobs {
		if j.Unique.Key == "" {
			continue
		}
		if a, b := l.of(j.ID), l.of(j.Unique.Key); a != b {
			return fmt.Errorf("%w: job %q: on the sharded queue %q its id falls on shard %d and its unique key on shard %d; a unique job must live where its key is checked (let the queue choose its id)",
				backend.ErrInvalidArgument, j.ID, p.Queue, a, b)
		}
	}
	g := l.groups(len(p.Jobs), func(k int) string { return p.Jobs[k].ID })
	shards := slices.Sorted(maps.Keys(g))
	dups := make([]*backend.DuplicateError, len(l.parts))
	err := parallel(shards, func(i int) error {
		q := p
		q.Queue = l.parts[i]
		if len(shards) > 1 {
			q.Jobs = make([]backend.NewJob, len(g[i]))
			for k, idx := range g[i] {
				q.Jobs[k] = p.Jobs[idx]
			}
		}
		err := s.b.Enqueue(ctx, q)
		var de *backend.DuplicateError
		if errors.As(err, &de) {
			dups[i] = de
			return nil
		}
		return err
	})
	// Every held key, of every shard, in one DuplicateError of the
	// logical queue, with the indexes of the caller's call.
	var merged *backend.DuplicateError
	for _, i := range shards {
		if dups[i] == nil {
			continue
		}
		if merged == nil {
			merged = &backend.DuplicateError{Queue: p.Queue}
		}
		for _, d := range dups[i].Duplicates {
			d.Index = g[i][d.Index]
			merged.Duplicates = append(merged.Duplicates, d)
		}
	}
	if merged != nil {
		slices.SortFunc(merged.Duplicates, func(a, b backend.Duplicate) int { return a.Index - b.Index })
		return errors.Join(merged, err)
	}
	return err
}

// Claim takes jobs from the home shard (or, while home is thought empty,
// from the shard that last had some), then from the other shards in turn
// up to p.Max, or else waits on every shard (see the package doc).
func (s *Backend) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	l := s.layout(p.Queue)
	if l == nil {
		return s.b.Claim(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A repeat asks only the shards where the first run took jobs or
	// failed, and waits on none: they return what it took there (which a
	// claim that took jobs must, and no more), or nothing.
	if shards := s.repeated(p.RequestID); len(shards) > 0 {
		var jobs []backend.ClaimedJob
		for _, i := range shards {
			q := p
			q.Queue, q.Wait = l.parts[i], 0
			got, err := s.b.Claim(ctx, q)
			if err != nil {
				// As for a first run: what this repeat got back on the
				// shards before is left to a further repeat, or put back.
				s.claimStopped(l, p.RequestID, jobs, i, err)
				return nil, err
			}
			jobs = append(jobs, got...)
		}
		return s.trim(l, jobs, p.Max), nil
	}
	start := time.Now()
	home := s.home % len(l.parts)
	first := home
	if away := l.away.Load(); away != 0 && start.UnixNano()-away < int64(s.recheck) {
		first = int(l.elsewhere.Load())
	}
	order := l.order(first)
	var jobs []backend.ClaimedJob
	for _, i := range order {
		q := p
		q.Queue, q.Wait, q.Max = l.parts[i], 0, p.Max-len(jobs)
		got, err := s.b.Claim(ctx, q)
		if err != nil {
			s.claimStopped(l, p.RequestID, jobs, i, err)
			return nil, err
		}
		switch {
		case i == home && len(got) == 0:
			l.away.Store(start.UnixNano())
		case i == home:
			l.away.Store(0)
		case len(got) > 0 && len(jobs) == 0:
			// The first shard with jobs: the next claims start here
			// while home is thought empty.
			l.elsewhere.Store(int64(i))
		}
		jobs = append(jobs, got...)
		if len(jobs) == p.Max {
			break
		}
	}
	if len(jobs) > 0 {
		s.claimTook(p.RequestID, jobs, l)
		return jobs, nil
	}
	// No shard had a job: home is asked first again.
	l.away.Store(0)
	wait := p.Wait - time.Since(start)
	if wait <= 0 {
		return nil, nil
	}
	return s.claimAll(ctx, l, p, order, wait)
}

// claimAll claims on every shard of shards at once, each waiting up to
// wait, until one returns jobs; the others are then called off. Jobs
// beyond p.Max are released.
func (s *Backend) claimAll(ctx context.Context, l *layout, p backend.ClaimParams, shards []int, wait time.Duration) ([]backend.ClaimedJob, error) {
	race, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu     sync.Mutex
		got    = make(map[int][]backend.ClaimedJob)
		failed []int
		errs   []error
	)
	var wg sync.WaitGroup
	for _, i := range shards {
		wg.Go(func() {
			q := p
			q.Queue, q.Wait = l.parts[i], wait
			jobs, err := s.b.Claim(race, q)
			mu.Lock()
			defer mu.Unlock()
			if len(jobs) > 0 {
				got[i] = jobs
				stop()
			}
			// A claim called off (by another shard's jobs, or by ctx)
			// returns the context's error and took nothing.
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				failed = append(failed, i)
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	var jobs []backend.ClaimedJob
	for _, i := range shards {
		jobs = append(jobs, got[i]...)
	}
	jobs = s.trim(l, jobs, p.Max)
	s.claimTook(p.RequestID, jobs, l)
	if len(failed) > 0 {
		err := errors.Join(errs...)
		s.claimFailed(p.RequestID, failed, err)
		if len(jobs) == 0 {
			return nil, err
		}
	}
	if len(jobs) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// trim returns jobs cut to max, and releases the rest: jobs that two
// shards handed out at once.
func (s *Backend) trim(l *layout, jobs []backend.ClaimedJob, max int) []backend.ClaimedJob {
	if len(jobs) <= max {
		return jobs
	}
	s.release(l, jobs[max:])
	return jobs[:max]
}

// release puts back jobs that a claim took and does not return. It
// outlives the claim's context: a job left claimed would wait for its
// lease to run out.
func (s *Backend) release(l *layout, jobs []backend.ClaimedJob) {
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acks := make([]backend.Ack, len(jobs))
	for k, j := range jobs {
		acks[k] = backend.Ack{ID: j.ID, Token: j.Token}
	}
	// A job not released is reclaimed when its lease runs out.
	_, _ = s.Release(ctx, backend.ReleaseParams{Queue: l.name, Items: acks})
}

// claimStopped deals with the jobs that a claim took before shard i
// failed with err. A repeat (after ErrUnavailable, with the same request
// id) asks their shards and i, and gets them back, with what i may have
// handed out; with no repeat to come, they are released at once.
func (s *Backend) claimStopped(l *layout, requestID string, jobs []backend.ClaimedJob, i int, err error) {
	if requestID != "" && errors.Is(err, backend.ErrUnavailable) {
		s.note(requestID, append(l.shardsOf(jobs), i), time.Now())
		return
	}
	s.release(l, jobs)
}

// repeated returns the shards of a claim made before with requestID: a
// repeat asks those.
func (s *Backend) repeated(requestID string) []int {
	if requestID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.claims[requestID]
	if !ok || !r.failed.IsZero() && time.Since(r.failed) > backend.RequestWindow {
		return nil
	}
	return r.shards
}

// claimFailed notes the shards where a claim failed in a way that may have
// taken jobs, for its repeat.
func (s *Backend) claimFailed(requestID string, shards []int, err error) {
	if requestID == "" || !errors.Is(err, backend.ErrUnavailable) {
		return
	}
	s.note(requestID, shards, time.Now())
}

// claimTook notes the shards where a claim took jobs, for a repeat.
func (s *Backend) claimTook(requestID string, jobs []backend.ClaimedJob, l *layout) {
	if requestID == "" || len(jobs) == 0 {
		return
	}
	s.note(requestID, l.shardsOf(jobs), time.Time{})
}

// shardsOf returns the shards that jobs came from, each once.
func (l *layout) shardsOf(jobs []backend.ClaimedJob) []int {
	var shards []int
	for _, j := range jobs {
		if i := l.of(j.ID); !slices.Contains(shards, i) {
			shards = append(shards, i)
		}
	}
	return shards
}

func (s *Backend) note(requestID string, shards []int, failed time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claims == nil {
		s.claims = make(map[string]claimRecord)
	}
	r, known := s.claims[requestID]
	for _, i := range shards {
		if !slices.Contains(r.shards, i) {
			r.shards = append(r.shards, i)
		}
	}
	if !failed.IsZero() {
		r.failed = failed
		// Forget the failures that no repeat will come for.
		for id, c := range s.claims {
			if !c.failed.IsZero() && failed.Sub(c.failed) > backend.RequestWindow {
				delete(s.claims, id)
			}
		}
	} else if !known {
		s.took = append(s.took, requestID)
		if len(s.took) > tookKept {
			if old := s.claims[s.took[0]]; old.failed.IsZero() {
				delete(s.claims, s.took[0])
			}
			s.took = s.took[1:]
		}
	}
	s.claims[requestID] = r
}

// acks sends the items of an acknowledgement to their shards and puts
// their errors back in the caller's order.
func acks[T any](s *Backend, ctx context.Context, queue string, items []T, id func(T) string,
	call func(ctx context.Context, queue string, items []T) ([]error, error)) ([]error, error) {
	l := s.layout(queue)
	if l == nil {
		return call(ctx, queue, items)
	}
	// The caller checked the params (validate) before any shard sees them.
	g := l.groups(len(items), func(k int) string { return id(items[k]) })
	shards := slices.Sorted(maps.Keys(g))
	if len(shards) == 1 {
		return call(ctx, l.parts[shards[0]], items)
	}
	errs := make([]error, len(items))
	err := parallel(shards, func(i int) error {
		part := make([]T, len(g[i]))
		for k, idx := range g[i] {
			part[k] = items[idx]
		}
		got, err := call(ctx, l.parts[i], part)
		for k, idx := range g[i] {
			if k < len(got) {
				errs[idx] = got[k]
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

func ackID(a backend.Ack) string { return a.ID }

// Complete sends each item to its job's shard.
func (s *Backend) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if err := s.canWait(p.Durability); err != nil {
		return nil, err
	}
	if err := s.validate(p.Queue, p.Validate); err != nil {
		return nil, err
	}
	return acks(s, ctx, p.Queue, p.Items, func(c backend.Completion) string { return c.ID },
		func(ctx context.Context, queue string, items []backend.Completion) ([]error, error) {
			q := p
			q.Queue, q.Items = queue, items
			return s.b.Complete(ctx, q)
		})
}

// Fail sends each item to its job's shard.
func (s *Backend) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	if err := s.canWait(p.Durability); err != nil {
		return nil, err
	}
	if err := s.validate(p.Queue, p.Validate); err != nil {
		return nil, err
	}
	return acks(s, ctx, p.Queue, p.Items, func(f backend.Failure) string { return f.ID },
		func(ctx context.Context, queue string, items []backend.Failure) ([]error, error) {
			q := p
			q.Queue, q.Items = queue, items
			return s.b.Fail(ctx, q)
		})
}

// Extend sends each item to its job's shard.
func (s *Backend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := s.validate(p.Queue, p.Validate); err != nil {
		return nil, err
	}
	return acks(s, ctx, p.Queue, p.Items, ackID,
		func(ctx context.Context, queue string, items []backend.Ack) ([]error, error) {
			q := p
			q.Queue, q.Items = queue, items
			return s.b.Extend(ctx, q)
		})
}

// Release sends each item to its job's shard.
func (s *Backend) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	if err := s.validate(p.Queue, p.Validate); err != nil {
		return nil, err
	}
	return acks(s, ctx, p.Queue, p.Items, ackID,
		func(ctx context.Context, queue string, items []backend.Ack) ([]error, error) {
			return s.b.Release(ctx, backend.ReleaseParams{Queue: queue, Items: items})
		})
}

// validate checks the params of a call on a sharded queue before any of
// its shards sees them, so that a call refused changes nothing anywhere.
func (s *Backend) validate(queue string, check func() error) error {
	if s.layout(queue) == nil {
		return nil // the wrapped backend checks its own
	}
	return check()
}

// Reclaim reclaims the shards in turn, from the home shard on, until p.Max
// jobs are reclaimed or every shard was asked.
func (s *Backend) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	l := s.layout(p.Queue)
	if l == nil {
		return s.b.Reclaim(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return backend.ReclaimResult{}, err
	}
	var res backend.ReclaimResult
	for _, i := range l.order(s.home % len(l.parts)) {
		q := p
		q.Queue, q.Max = l.parts[i], p.Max-res.Len()
		r, err := s.b.Reclaim(ctx, q)
		if err != nil {
			return backend.ReclaimResult{}, err
		}
		res.Requeued = append(res.Requeued, r.Requeued...)
		res.Dead = append(res.Dead, r.Dead...)
		if res.Len() >= p.Max {
			break
		}
	}
	return res, nil
}

// Get reads the job from its shard.
func (s *Backend) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	l := s.layout(queue)
	if l == nil {
		return s.b.Get(ctx, queue, id)
	}
	if err := backend.ValidateJobRef(queue, id); err != nil {
		return backend.JobInfo{}, err
	}
	return s.b.Get(ctx, l.parts[l.of(id)], id)
}

// List lists the shards' ids one shard after another.
func (s *Backend) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	l := s.layout(p.Queue)
	if l == nil {
		return s.b.List(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// Skip p.Offset ids: whole shards by their counts, then within one.
	skip := p.Offset
	first := 0
	if skip > 0 {
		stats, err := s.shardStats(ctx, l)
		if err != nil {
			return nil, err
		}
		for first < len(l.parts) && skip >= count(stats[first], p.State) {
			skip -= count(stats[first], p.State)
			first++
		}
	}
	var ids []string
	for i := first; i < len(l.parts) && len(ids) < p.Limit; i++ {
		q := p
		q.Queue, q.Offset, q.Limit = l.parts[i], skip, p.Limit-len(ids)
		got, err := s.b.List(ctx, q)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
		skip = 0
	}
	return ids, nil
}

// count is the number of jobs st holds in state.
func count(st backend.Stats, state backend.State) int {
	switch state {
	case backend.StatePending:
		return int(st.Pending)
	case backend.StateScheduled:
		return int(st.Scheduled)
	case backend.StateProcessing:
		return int(st.Processing)
	case backend.StateCompleted:
		return int(st.Completed)
	case backend.StateDead:
		return int(st.Dead)
	case backend.StateCancelled:
		return int(st.Cancelled)
	}
	return 0
}

func (s *Backend) shardStats(ctx context.Context, l *layout) ([]backend.Stats, error) {
	stats := make([]backend.Stats, len(l.parts))
	err := parallel(all(len(l.parts)), func(i int) error {
		var err error
		stats[i], err = s.b.Stats(ctx, l.parts[i])
		return err
	})
	return stats, err
}

// Stats adds up the shards' depths, counters and limits; the latency is
// the longest of theirs, and the queue is paused when any shard is.
func (s *Backend) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	l := s.layout(queue)
	if l == nil {
		return s.b.Stats(ctx, queue)
	}
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.Stats{}, err
	}
	stats, err := s.shardStats(ctx, l)
	if err != nil {
		return backend.Stats{}, err
	}
	var t backend.Stats
	for _, st := range stats {
		t.Pending += st.Pending
		t.Scheduled += st.Scheduled
		t.Processing += st.Processing
		t.Completed += st.Completed
		t.Dead += st.Dead
		t.Cancelled += st.Cancelled
		t.EnqueuedTotal += st.EnqueuedTotal
		t.ClaimedTotal += st.ClaimedTotal
		t.CompletedTotal += st.CompletedTotal
		t.RetriedTotal += st.RetriedTotal
		t.DeadTotal += st.DeadTotal
		t.ReclaimedTotal += st.ReclaimedTotal
		t.CancelledTotal += st.CancelledTotal
		t.Workers += st.Workers
		t.Latency = max(t.Latency, st.Latency)
		t.Paused = t.Paused || st.Paused
		t.Limits = addLimits(t.Limits, st.Limits)
		for kind, lim := range st.KindLimits {
			if t.KindLimits == nil {
				t.KindLimits = make(map[string]backend.Limits)
			}
			t.KindLimits[kind] = addLimits(t.KindLimits[kind], lim)
		}
	}
	return t, nil
}

func addLimits(a, b backend.Limits) backend.Limits {
	return backend.Limits{Concurrency: a.Concurrency + b.Concurrency, Rate: a.Rate + b.Rate, Per: max(a.Per, b.Per)}
}

// Purge purges every shard.
func (s *Backend) Purge(ctx context.Context, p backend.PurgeParams) error {
	l := s.layout(p.Queue)
	if l == nil {
		return s.b.Purge(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return parallel(all(len(l.parts)), func(i int) error {
		q := p
		q.Queue = l.parts[i]
		return s.b.Purge(ctx, q)
	})
}

// RetryDead acts on the job's shard.
func (s *Backend) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	if l := s.layout(p.Queue); l != nil {
		if err := p.Validate(); err != nil {
			return err
		}
		p.Queue = l.parts[l.of(p.ID)]
	}
	return s.b.RetryDead(ctx, p)
}

// Delete acts on the job's shard.
func (s *Backend) Delete(ctx context.Context, p backend.DeleteParams) error {
	if l := s.layout(p.Queue); l != nil {
		if err := p.Validate(); err != nil {
			return err
		}
		p.Queue = l.parts[l.of(p.ID)]
	}
	return s.b.Delete(ctx, p)
}

// unsupported is the error of a capability the wrapped backend lacks.
func (s *Backend) unsupported(capability string) error {
	return fmt.Errorf("%w: shard: the wrapped backend %T has no %s", backend.ErrInvalidArgument, s.b, capability)
}

// Subscribe merges the shards' events, named after the logical queue. An
// event about the whole queue (paused, limits, purged…) comes once, from
// the shard that reports it first (see collapser).
func (s *Backend) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	sub, ok := s.b.(backend.Subscriber)
	if !ok {
		return nil, s.unsupported("events")
	}
	l := s.layout(queue)
	if l == nil {
		return sub.Subscribe(ctx, queue)
	}
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ins := make([]<-chan backend.Event, len(l.parts))
	for i, part := range l.parts {
		ch, err := sub.Subscribe(ctx, part)
		if err != nil {
			cancel()
			return nil, err
		}
		ins[i] = ch
	}
	out := make(chan backend.Event, 64)
	var wg sync.WaitGroup
	var once collapser
	for i, ch := range ins {
		wg.Go(func() {
			// One shard's subscription ending (its connection lost
			// for good) ends them all, so a reader sees the channel
			// close, as for one queue.
			defer cancel()
			for ev := range ch {
				if ev.Kind.QueueWide() && !once.first(ev.Kind, i, len(ins)) {
					continue
				}
				ev.Queue = queue
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		cancel()
		close(out)
	}()
	return out, nil
}

// collapseWindow is how long after a queue-wide event of one kind from
// one shard the same kind from the other shards is taken for the same
// call's (a Pause pauses every shard, and each publishes paused).
const collapseWindow = time.Second

// collapser passes on one queue-wide event per call: the first shard's of
// a kind, and not the others' that follow within collapseWindow, until
// every shard has spoken or that shard speaks again. Two calls that change
// different shards within the window may so publish one event: events are
// notifications, and may be missed (backend.Subscriber).
type collapser struct {
	mu   sync.Mutex
	last map[backend.EventKind]collapsed
}

type collapsed struct {
	at     time.Time
	shards map[int]bool
}

func (c *collapser) first(kind backend.EventKind, shard, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	l, ok := c.last[kind]
	if ok && now.Sub(l.at) < collapseWindow && !l.shards[shard] && len(l.shards) < n {
		l.shards[shard] = true
		return false
	}
	if c.last == nil {
		c.last = make(map[backend.EventKind]collapsed)
	}
	c.last[kind] = collapsed{at: now, shards: map[int]bool{shard: true}}
	return true
}

// CheckConfig checks the wrapped backend's store.
func (s *Backend) CheckConfig(ctx context.Context) ([]string, error) {
	c, ok := s.b.(backend.ConfigChecker)
	if !ok {
		return nil, nil
	}
	return c.CheckConfig(ctx)
}

// Cancel sends each id to its shard.
func (s *Backend) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	c, ok := s.b.(backend.Canceller)
	if !ok {
		return nil, s.unsupported("cancel")
	}
	if err := s.validate(p.Queue, p.Validate); err != nil {
		return nil, err
	}
	return acks(s, ctx, p.Queue, p.IDs, func(id string) string { return id },
		func(ctx context.Context, queue string, ids []string) ([]error, error) {
			q := p
			q.Queue, q.IDs = queue, ids
			return c.Cancel(ctx, q)
		})
}

func (s *Backend) controller() (backend.Controller, error) {
	c, ok := s.b.(backend.Controller)
	if !ok {
		return nil, s.unsupported("pause or limits")
	}
	return c, nil
}

// Pause pauses every shard.
func (s *Backend) Pause(ctx context.Context, queue string) error {
	return s.everyShard(ctx, queue, func(c backend.Controller, q string) error { return c.Pause(ctx, q) })
}

// Resume resumes every shard.
func (s *Backend) Resume(ctx context.Context, queue string) error {
	return s.everyShard(ctx, queue, func(c backend.Controller, q string) error { return c.Resume(ctx, q) })
}

func (s *Backend) everyShard(ctx context.Context, queue string, f func(c backend.Controller, q string) error) error {
	c, err := s.controller()
	if err != nil {
		return err
	}
	l := s.layout(queue)
	if l == nil {
		return f(c, queue)
	}
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	return parallel(all(len(l.parts)), func(i int) error { return f(c, l.parts[i]) })
}

// SetLimits splits the limits into one budget per shard (see the package
// doc).
func (s *Backend) SetLimits(ctx context.Context, p backend.LimitParams) error {
	c, err := s.controller()
	if err != nil {
		return err
	}
	l := s.layout(p.Queue)
	if l == nil {
		return c.SetLimits(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	n := len(l.parts)
	lim := p.Limits
	if lim.Concurrency > 0 && lim.Concurrency < n || lim.Rate > 0 && lim.Rate < n {
		return fmt.Errorf("%w: %v on the queue %q of %d shards: each shard needs a share of at least 1 (a limit is split over the shards)",
			backend.ErrInvalidArgument, lim, p.Queue, n)
	}
	return parallel(all(n), func(i int) error {
		q := p
		q.Queue = l.parts[i]
		q.Concurrency = share(lim.Concurrency, n, i)
		q.Rate = share(lim.Rate, n, i)
		return c.SetLimits(ctx, q)
	})
}

// share is shard i's part of total split n ways: total/n, and one more
// for the first total%n shards.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// Beat beats on the first shard, so each process counts once.
func (s *Backend) Beat(ctx context.Context, p backend.BeatParams) error {
	t, ok := s.b.(backend.WorkerTracker)
	if !ok {
		return s.unsupported("worker beats")
	}
	if l := s.layout(p.Queue); l != nil {
		if err := p.Validate(); err != nil {
			return err
		}
		p.Queue = l.parts[0]
	}
	return t.Beat(ctx, p)
}

// History adds up the shards' counts minute by minute.
func (s *Backend) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	h, ok := s.b.(backend.Historian)
	if !ok {
		return nil, s.unsupported("history")
	}
	l := s.layout(p.Queue)
	if l == nil {
		return h.History(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	hists := make([][]backend.HistoryPoint, len(l.parts))
	err := parallel(all(len(l.parts)), func(i int) error {
		q := p
		q.Queue = l.parts[i]
		var err error
		hists[i], err = h.History(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The shards answer within moments of each other: a minute that one
	// shard has and another not (read across a minute's turn) is kept.
	at := make(map[int64]int)
	var sum []backend.HistoryPoint
	for _, hist := range hists {
		for _, pt := range hist {
			k, ok := at[pt.Minute.UnixMilli()]
			if !ok {
				at[pt.Minute.UnixMilli()] = len(sum)
				sum = append(sum, pt)
				continue
			}
			sum[k] = sum[k].Add(pt)
		}
	}
	slices.SortFunc(sum, func(a, b backend.HistoryPoint) int { return a.Minute.Compare(b.Minute) })
	if len(sum) > p.Minutes {
		sum = sum[len(sum)-p.Minutes:]
	}
	return sum, nil
}

func (s *Backend) schedules() (backend.ScheduleKeeper, error) {
	k, ok := s.b.(backend.ScheduleKeeper)
	if !ok {
		return nil, s.unsupported("schedules")
	}
	return k, nil
}

// first returns the queue that holds what a sharded queue keeps once: its
// first shard.
func (s *Backend) first(queue string) string {
	if l := s.layout(queue); l != nil {
		return l.parts[0]
	}
	return queue
}

// MarkSchedule records the schedule on the first shard.
func (s *Backend) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	k, err := s.schedules()
	if err != nil {
		return err
	}
	p.Queue = s.first(p.Queue)
	return k.MarkSchedule(ctx, p)
}

// Schedules reads the first shard's schedules.
func (s *Backend) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	k, err := s.schedules()
	if err != nil {
		return nil, err
	}
	return k.Schedules(ctx, s.first(queue))
}

// RemoveSchedule removes the schedule from the first shard.
func (s *Backend) RemoveSchedule(ctx context.Context, queue, name string) error {
	k, err := s.schedules()
	if err != nil {
		return err
	}
	return k.RemoveSchedule(ctx, s.first(queue), name)
}

func (s *Backend) registry() (backend.QueueRegistry, error) {
	r, ok := s.b.(backend.QueueRegistry)
	if !ok {
		return nil, s.unsupported("queue registry")
	}
	return r, nil
}

// RegisterQueue registers the logical queue.
func (s *Backend) RegisterQueue(ctx context.Context, queue string) error {
	r, err := s.registry()
	if err != nil {
		return err
	}
	return r.RegisterQueue(ctx, queue)
}

// Queues lists the registered queues.
func (s *Backend) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	r, err := s.registry()
	if err != nil {
		return nil, err
	}
	return r.Queues(ctx)
}

// ForgetQueue forgets the logical queue.
func (s *Backend) ForgetQueue(ctx context.Context, queue string) error {
	r, err := s.registry()
	if err != nil {
		return err
	}
	return r.ForgetQueue(ctx, queue)
}

// Summaries reads each job's summary from its shard, in the order asked.
func (s *Backend) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	sum, ok := s.b.(backend.Summarizer)
	if !ok {
		return nil, s.unsupported("summaries")
	}
	l := s.layout(p.Queue)
	if l == nil {
		return sum.Summaries(ctx, p)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := l.groups(len(p.IDs), func(k int) string { return p.IDs[k] })
	found := make([][]backend.JobSummary, len(l.parts))
	err := parallel(slices.Sorted(maps.Keys(g)), func(i int) error {
		q := p
		q.Queue, q.IDs = l.parts[i], make([]string, len(g[i]))
		for k, idx := range g[i] {
			q.IDs[k] = p.IDs[idx]
		}
		var err error
		found[i], err = sum.Summaries(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]backend.JobSummary)
	for _, f := range found {
		for _, js := range f {
			byID[js.ID] = js
		}
	}
	out := make([]backend.JobSummary, 0, len(byID))
	for _, id := range p.IDs {
		if js, ok := byID[id]; ok {
			out = append(out, js)
		}
	}
	return out, nil
}

// DurableWrites marks the Backend as honouring a Durability: the wrapped
// backend waits, and a call with a Durability on one that cannot wait is
// refused.
func (s *Backend) DurableWrites() {}

// canWait refuses a Durability that the wrapped backend cannot wait for.
func (s *Backend) canWait(d backend.Durability) error {
	if _, ok := s.b.(backend.DurableWriter); d.Enabled() && !ok {
		return fmt.Errorf("%w: shard: the wrapped backend %T cannot wait for durable writes: %w", backend.ErrInvalidArgument, s.b, errors.ErrUnsupported)
	}
	return nil
}
