// Package memory is an in-process jobqueue backend: every queue lives in this
// process's memory and disappears with it. It has the same semantics as the
// Redis backends and runs the same conformance suite, so it serves for tests
// and for running with no Redis at all.
//
// Time is the process clock. The backend runs no goroutines of its own:
// finished jobs expire, and delayed jobs fall due, when the queue is next
// touched.
//
// Its calls are never in doubt: each has run, or not, as it reports, and it
// never returns backend.ErrUnavailable. A Durability (backend.DurableWriter)
// is met at once: there are no replicas to wait for. It still honours request ids (see
// "Lost replies and repeated calls" in the backend package) for callers
// that repeat calls on their own; the root jobqueue.Queue sends it none,
// since it implements backend.Local.
//
// It is unbounded unless New is given WithMaxJobs or WithMaxBytes; with
// them, a full backend refuses enqueues with backend.ErrFull, as a Redis
// at its maxmemory does, and nothing else.
package memory

import (
	"bytes"
	"container/heap"
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// eventBuffer is how many events a subscriber may fall behind before new
// ones are dropped for it; dropping keeps a slow reader from stalling the
// queue.
const eventBuffer = 256

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Subscriber    = (*Backend)(nil)
	_ backend.Local         = (*Backend)(nil)
	_ backend.WorkerTracker = (*Backend)(nil)
	_ backend.DurableWriter = (*Backend)(nil)
	_ backend.Summarizer    = (*Backend)(nil)
)

// Backend is an in-memory backend.Backend. The zero value is not usable;
// call New. It is safe for concurrent use; each queue has its own lock.
type Backend struct {
	mu       sync.RWMutex
	queues   map[string]*queue
	use      usage
	registry registry
}

// New returns an empty in-memory backend, with the bounds opts set.
//
// Without bounds, as Redis without maxmemory, it stores whatever it is
// given until the process runs out of memory. With WithMaxJobs or
// WithMaxBytes it refuses, as a Redis at its maxmemory under the
// noeviction policy does, the enqueues that would take it over a bound:
// the whole call, with an error wrapping backend.ErrFull, and nothing
// stored. Only new jobs are refused. Every other call goes on: claims,
// acknowledgements, reclaims, retries of dead jobs (which add no job) and
// reads, so that workers can drain the queues; an acknowledgement that
// grows a job (a result, an error) is never refused, since refusing it
// would lose a job's outcome, so the bytes may pass their bound by what
// acknowledgements add. Room comes back as jobs go: trimmed or expired
// from a history, deleted, cancelled without retention, or purged.
func New(opts ...Option) *Backend {
	b := &Backend{queues: make(map[string]*queue)}
	for _, o := range opts {
		o(&b.use)
	}
	return b
}

// Local implements backend.Local: the store lives in this process.
func (b *Backend) Local() {}

// DurableWrites implements backend.DurableWriter. The store has no
// replicas and no append-only file, nothing that a failover could leave
// behind: a write is as durable as it will ever be once the call has made
// it, so a call made with a Durability (checked like any param) returns
// at once, and never reports ErrNotDurable. The queues still live only as
// long as the process.
func (b *Backend) DurableWrites() {}

// outcome is what was recorded for a job's current claim token.
type outcome uint8

const (
	outcomeNone outcome = iota
	outcomeComplete
	outcomeFail
	outcomeRelease
	// outcomeCancelled: the claim ended because the job was cancelled;
	// its acknowledgements report backend.ErrCancelled.
	outcomeCancelled
)

type job struct {
	// size is the job's estimated bytes as counted in its Backend's usage
	// (bounds.go).
	size        int64
	id          string
	kind        string
	payload     []byte
	headers     map[string]string // nil for none; never the caller's map
	priority    int
	timeout     time.Duration
	state       backend.State
	attempts    int
	maxAttempts int
	enqueuedAt  time.Time
	// expiresAt is when a claim that meets the job dead-letters it
	// instead; zero for never.
	expiresAt  time.Time
	claimedAt  time.Time
	finishedAt time.Time
	// readyAt is when the job last became claimable, while pending: its
	// enqueue, its run time, its retry or reclaim. A released job keeps
	// the one it had, as it keeps its place.
	readyAt   time.Time
	result    []byte
	lastError string

	token   string
	outcome outcome
	// cancel is the retention of a cancel requested while the job was
	// processing (see cancel.go); nil when none was.
	cancel *backend.Retention

	// hold is the unique key the job holds until it finishes or is
	// deleted (backend.Unique.ReleaseOn); nil for none, or for a key held
	// for its whole window.
	hold *hold

	// due is the run time while scheduled, the lease deadline while
	// processing, and the expiry time while completed or dead: the one
	// instant that orders the heap the job is in.
	due  time.Time
	seq  uint64
	hidx int
	// elem is the job's element in its pending level or in its history,
	// or, when held is set, in its kind's held list (control.go's hold).
	elem *list.Element
	held bool
	// kslot is the limiter of the job's kind while the job, processing,
	// holds one of its slots: it was claimed under its kind's limit.
	kslot *limiter
}

func (j *job) before(o *job) bool {
	if !j.due.Equal(o.due) {
		return j.due.Before(o.due)
	}
	return j.seq < o.seq
}

type queue struct {
	name string
	mu   sync.Mutex
	// use counts the jobs and bytes stored, with the other queues' of the
	// Backend (bounds.go).
	use *usage

	jobs map[string]*job
	// pending holds one FIFO per priority level, indexed by level; a
	// claim takes from the highest non-empty one, front first.
	pending    [backend.MaxPriority + 1]list.List
	scheduled  timeHeap
	processing timeHeap
	expiring   timeHeap  // completed and dead jobs, by expiry time
	completed  list.List // front is most recent
	dead       list.List // front is most recent
	cancelled  list.List // front is most recent
	seq        uint64

	counters backend.Stats // only the *Total fields are used
	hist     history

	// holds are the unique keys held; a purge ends only those that end
	// with their jobs.
	holds holds

	// workers holds the expiry of each process's last beat (Beat).
	workers map[string]time.Time
	// schedules holds the schedules recorded on the queue, by name
	// (MarkSchedule, schedules.go).
	schedules map[string]backend.ScheduleRecord

	ctl control // see control.go
	// held holds, by kind, the pending jobs a claim passed by while their
	// kind was at its limit (control.go); a kind without any has no
	// entry.
	held map[string]*heldLists

	// requests remembers the calls that changed something, by request id,
	// for backend.RequestWindow; reqOrder holds them oldest first, so they
	// expire from its front.
	requests map[string]*request
	reqOrder list.List

	// wake is closed, and forgotten, whenever pending or scheduled gains a
	// job, which wakes every waiting claimer at once. It is made only when a
	// claimer waits, so enqueues nobody waits for allocate nothing.
	wake chan struct{}
	subs map[chan backend.Event]struct{}
}

func newQueue(name string, use *usage) *queue {
	q := &queue{name: name, use: use, subs: make(map[chan backend.Event]struct{}), requests: make(map[string]*request)}
	q.holds.use = use
	q.reset()
	return q
}

// request is what a call that changed something returned, kept under its
// request id so that a repeat returns it again.
type request struct {
	id      string
	expires time.Time
	claimed []backend.Ack         // Claim: the jobs it took, with their tokens
	reclaim backend.ReclaimResult // Reclaim
	errs    []error               // Cancel: its per-item results
}

// repeat returns the record of request id, if the call ran before. An empty
// id is never recorded.
func (q *queue) repeat(id string) *request {
	if id == "" {
		return nil
	}
	return q.requests[id]
}

// remember records a call that changed something under its request id.
func (q *queue) remember(now time.Time, r *request) {
	if r.id == "" {
		return
	}
	r.expires = now.Add(backend.RequestWindow)
	q.requests[r.id] = r
	q.reqOrder.PushBack(r)
}

// reset empties the queue but keeps its waiters and subscribers, which hold
// on to this value, and its request records, which outlive a purge as they
// do on Redis.
func (q *queue) reset() {
	q.jobs = make(map[string]*job)
	q.workers = nil
	q.schedules = nil
	for i := range q.pending {
		q.pending[i].Init()
	}
	q.held = nil
	for _, l := range q.ctl.kinds {
		l.running = 0
	}
	q.scheduled = nil
	q.processing = nil
	q.expiring = nil
	q.completed.Init()
	q.dead.Init()
	q.cancelled.Init()
	q.counters = backend.Stats{}
	q.hist = history{}
}

// queue returns the named queue, creating it when create is set; without
// create it returns nil for a queue never used, so read-only calls on
// arbitrary names leave nothing behind.
func (b *Backend) queue(name string, create bool) *queue {
	b.mu.RLock()
	q := b.queues[name]
	b.mu.RUnlock()
	if q != nil || !create {
		return q
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if q = b.queues[name]; q == nil {
		q = newQueue(name, &b.use)
		b.queues[name] = q
	}
	return q
}

// lock locks q and brings it up to now: expired history entries go, due
// scheduled jobs become pending. Every operation starts here, so no caller
// ever sees an expired job or a due job still waiting.
func (q *queue) lock() time.Time {
	q.mu.Lock()
	now := time.Now()
	for j := q.expiring.peek(); j != nil && !j.due.After(now); j = q.expiring.peek() {
		q.drop(j)
	}
	for e := q.reqOrder.Front(); e != nil && !e.Value.(*request).expires.After(now); e = q.reqOrder.Front() {
		delete(q.requests, q.reqOrder.Remove(e).(*request).id)
	}
	promoted := false
	for j := q.scheduled.peek(); j != nil && !j.due.After(now); j = q.scheduled.peek() {
		heap.Pop(&q.scheduled)
		q.toPending(j, false, now)
		promoted = true
	}
	if promoted {
		q.notify()
	}
	return now
}

func (q *queue) nextSeq() uint64 {
	q.seq++
	return q.seq
}

func (q *queue) notify() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

func (q *queue) waitChan() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// detach takes j out of whatever list or heap its state keeps it in.
func (q *queue) detach(j *job) {
	switch j.state {
	case backend.StatePending:
		if j.held {
			q.unheld(j)
		} else {
			q.pending[j.priority].Remove(j.elem)
		}
	case backend.StateScheduled:
		heap.Remove(&q.scheduled, j.hidx)
	case backend.StateProcessing:
		heap.Remove(&q.processing, j.hidx)
		q.leftProcessing(j)
	case backend.StateCompleted:
		q.completed.Remove(j.elem)
		heap.Remove(&q.expiring, j.hidx)
	case backend.StateDead:
		q.dead.Remove(j.elem)
		heap.Remove(&q.expiring, j.hidx)
	case backend.StateCancelled:
		q.cancelled.Remove(j.elem)
		heap.Remove(&q.expiring, j.hidx)
	}
	j.elem = nil
	j.hidx = -1
}

// drop deletes j from the queue entirely.
func (q *queue) drop(j *job) {
	q.detach(j)
	q.forget(j)
}

// forget deletes detached j from the queue's jobs, and from its Backend's
// count.
func (q *queue) forget(j *job) {
	delete(q.jobs, j.id)
	q.use.add(-1, -j.size)
}

// The to* methods put a detached job in its new state.

// toPending puts j at the tail of its priority level, claimable since now
// (a due scheduled job: since its run time), or back at the head of it
// when front is set.
func (q *queue) toPending(j *job, front bool, now time.Time) {
	switch {
	case front:
	case j.state == backend.StateScheduled:
		j.readyAt = j.due
	default:
		j.readyAt = now
	}
	j.state = backend.StatePending
	j.due = time.Time{}
	level := &q.pending[j.priority]
	if front {
		j.elem = level.PushFront(j)
	} else {
		j.elem = level.PushBack(j)
	}
}

// pendingLen is the number of pending jobs, every level and held list
// together.
func (q *queue) pendingLen() int {
	n := 0
	for _, l := range q.pendingLists() {
		n += l.Len()
	}
	return n
}

// pendingLists returns the lists that hold pending jobs in the order List
// reads them: the levels highest first, then the held lists by kind, each
// kind's levels highest first.
func (q *queue) pendingLists() []*list.List {
	lists := make([]*list.List, 0, len(q.pending)*(1+len(q.held)))
	levels := func(l *[backend.MaxPriority + 1]list.List) {
		for level := len(l) - 1; level >= 0; level-- {
			lists = append(lists, &l[level])
		}
	}
	levels(&q.pending)
	for _, kind := range slices.Sorted(maps.Keys(q.held)) {
		levels(&q.held[kind].levels)
	}
	return lists
}

// nextPending returns the job a claim takes next, the front of the
// highest non-empty level, or nil.
func (q *queue) nextPending() *job {
	for level := len(q.pending) - 1; level >= 0; level-- {
		if e := q.pending[level].Front(); e != nil {
			return e.Value.(*job)
		}
	}
	return nil
}

func (q *queue) toScheduled(j *job, at time.Time) {
	j.state = backend.StateScheduled
	j.due = at
	j.seq = q.nextSeq()
	heap.Push(&q.scheduled, j)
}

func (q *queue) toProcessing(j *job, deadline time.Time) {
	j.state = backend.StateProcessing
	j.due = deadline
	j.seq = q.nextSeq()
	heap.Push(&q.processing, j)
}

// toHistory records j as finished in state (completed, dead or cancelled)
// under r:
// it joins the front of that history, which is then trimmed to r.Max, and
// expires after r.TTL. With Max or TTL zero the record is deleted at once.
func (q *queue) toHistory(j *job, state backend.State, now time.Time, r backend.Retention) {
	hist := &q.completed
	switch state {
	case backend.StateDead:
		hist = &q.dead
	case backend.StateCancelled:
		hist = &q.cancelled
	}
	q.releaseUnique(j, state)
	j.state = state
	j.finishedAt = now
	if r.TTL > 0 {
		j.elem = hist.PushFront(j)
		j.due = now.Add(r.TTL)
		j.seq = q.nextSeq()
		heap.Push(&q.expiring, j)
	} else {
		q.forget(j)
	}
	for hist.Len() > r.Max {
		q.drop(hist.Back().Value.(*job))
	}
}

// emit offers the event kind of ids to the queue's subscribers; with no
// ids it sends nothing, unless the kind names no job (QueueWide).
func (q *queue) emit(kind backend.EventKind, ids []string) {
	if len(ids) == 0 && !kind.QueueWide() {
		return
	}
	ev := backend.Event{Queue: q.name, Kind: kind, IDs: ids}
	for ch := range q.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// eventIDs collects ids for an event only when someone listens, so the hot
// paths allocate nothing for events nobody reads.
type eventIDs struct {
	on  bool
	ids []string
	// n counts the ids added, listened to or not.
	n int
}

func (q *queue) collect() eventIDs { return eventIDs{on: len(q.subs) > 0} }

func (e *eventIDs) add(id string) {
	e.n++
	if e.on {
		e.ids = append(e.ids, id)
	}
}

// newTokenBase returns the random part of a claim call's tokens: the i-th
// job it takes gets base.i, so one random draw serves the whole batch.
func newTokenBase() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// wallClock drops the monotonic reading, which means nothing outside this
// process and clutters printed values.
func wallClock(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Round(0)
}

func notFound(queue, id string) error {
	return fmt.Errorf("%w: %q in queue %q", backend.ErrNotFound, id, queue)
}

// Enqueue implements backend.Backend.
func (b *Backend) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(p.Queue, true)
	now := q.lock()
	defer q.mu.Unlock()
	if q.repeat(p.RequestID) != nil {
		return nil
	}
	for _, nj := range p.Jobs {
		if _, ok := q.jobs[nj.ID]; ok {
			return fmt.Errorf("%w: %q in queue %q", backend.ErrJobExists, nj.ID, q.name)
		}
	}
	if err := q.checkUnique(now, p.Jobs); err != nil {
		return err
	}
	// The jobs are made, and their room taken, before any is stored, so a
	// refusal stores none.
	jobs := make([]*job, len(p.Jobs))
	var size int64
	for i, nj := range p.Jobs {
		j := &job{
			id:          nj.ID,
			kind:        nj.Kind,
			payload:     bytes.Clone(nj.Payload),
			headers:     cloneHeaders(nj.Headers),
			priority:    nj.Priority,
			timeout:     nj.Timeout,
			maxAttempts: nj.MaxAttempts,
			enqueuedAt:  now,
			hidx:        -1,
		}
		j.size = j.estimate()
		size += j.size
		if nj.Unique.Key != "" {
			size += (&hold{key: nj.Unique.Key}).estimate()
		}
		jobs[i] = j
	}
	if err := q.use.reserve(q.name, int64(len(jobs)), size); err != nil {
		return err
	}
	ev := q.collect()
	for i, nj := range p.Jobs {
		j := jobs[i]
		if nj.Expiry > 0 {
			j.expiresAt = now.Add(nj.Expiry)
		}
		q.jobs[j.id] = j
		q.takeUnique(j, nj.Unique, now)
		if nj.Delay > 0 {
			q.toScheduled(j, now.Add(nj.Delay))
		} else {
			q.toPending(j, false, now)
		}
		ev.add(j.id)
	}
	q.counters.EnqueuedTotal += int64(len(p.Jobs))
	q.hist.at(now).Enqueued += int64(len(p.Jobs))
	q.remember(now, &request{id: p.RequestID})
	q.notify()
	q.emit(backend.EventEnqueued, ev.ids)
	return nil
}

// Claim implements backend.Backend. A waiting claimer sleeps on a channel
// that enqueues close and on a timer for the earliest scheduled job, so it
// costs nothing while it waits and wakes as soon as work may be there.
func (b *Backend) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q := b.queue(p.Queue, true)
	var deadline time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Checked before taking anything, so a cancelled claimer never
		// takes a job it will not return.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := q.lock()
		if r := q.repeat(p.RequestID); r != nil {
			got := q.stillHeld(r)
			q.mu.Unlock()
			return got, nil
		}
		if got := q.take(now, p); len(got) > 0 || p.Wait == 0 {
			q.mu.Unlock()
			return got, nil
		}
		if deadline.IsZero() {
			deadline = now.Add(p.Wait)
		}
		wait := deadline.Sub(now)
		if wait <= 0 {
			q.mu.Unlock()
			return nil, nil
		}
		if next := q.scheduled.peek(); next != nil {
			wait = min(wait, max(next.due.Sub(now), 0))
		}
		if d, ok := q.rateWait(now); ok {
			wait = min(wait, d)
		}
		wake := q.waitChan()
		q.mu.Unlock()

		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-timer.C:
		}
	}
}

// cloneHeaders copies h, so that the store and its callers never share a
// map; none (nil or empty) is nil.
func cloneHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	return maps.Clone(h)
}

// claimedJob is what a claim returns of j, which is processing.
func claimedJob(j *job) backend.ClaimedJob {
	return backend.ClaimedJob{
		ID:          j.id,
		Token:       j.token,
		Kind:        j.kind,
		Payload:     bytes.Clone(j.payload),
		Headers:     cloneHeaders(j.headers),
		Priority:    j.priority,
		Timeout:     j.timeout,
		Attempts:    j.attempts,
		MaxAttempts: j.maxAttempts,
		EnqueuedAt:  wallClock(j.enqueuedAt),
		LeaseUntil:  wallClock(j.due),
	}
}

// stillHeld answers a repeated claim: the jobs the first run took that its
// claim still holds, unacknowledged; q is locked.
func (q *queue) stillHeld(r *request) []backend.ClaimedJob {
	out := make([]backend.ClaimedJob, 0, len(r.claimed))
	for _, a := range r.claimed {
		if j := q.jobs[a.ID]; j != nil && j.token == a.Token && j.state == backend.StateProcessing && j.outcome == outcomeNone {
			out = append(out, claimedJob(j))
		}
	}
	return out
}

// take claims up to p.Max pending jobs, the highest level first, and
// dead-letters the expired jobs it meets on the way, which do not count
// toward p.Max; q is locked.
func (q *queue) take(now time.Time, p backend.ClaimParams) []backend.ClaimedJob {
	var out []backend.ClaimedJob
	rec := &request{id: p.RequestID}
	ev, expired := q.collect(), q.collect()
	until := now.Add(p.Lease)
	base := p.RequestID
	limit := q.allowed(now, p.Max)
	q.unhold(now, limit)
	for len(out) < limit {
		j := q.nextPending()
		if j == nil {
			break
		}
		q.detach(j)
		if !j.expiresAt.IsZero() && !now.Before(j.expiresAt) {
			j.lastError = fmt.Sprintf("jobqueue: expired before attempt %d of %d could start", j.attempts+1, j.maxAttempts)
			q.resized(j)
			q.toHistory(j, backend.StateDead, now, p.DeadRetention)
			q.counters.DeadTotal++
			q.hist.at(now).Dead++
			expired.add(j.id)
			continue
		}
		if l, n := q.kindRoom(now, j.kind); n == 0 {
			// Its kind is at its limit: passed by, still pending.
			q.hold(j)
			continue
		} else if l != nil {
			j.kslot = l
			l.running++
			l.started(now, 1)
		}
		if out == nil {
			out = make([]backend.ClaimedJob, 0, min(p.Max, q.pendingLen()+1))
			if base == "" {
				base = newTokenBase()
			}
		}
		j.attempts++
		j.token = base + "." + strconv.Itoa(len(out)+1)
		j.outcome = outcomeNone
		j.claimedAt = now
		q.toProcessing(j, until)
		out = append(out, claimedJob(j))
		if rec.id != "" {
			rec.claimed = append(rec.claimed, backend.Ack{ID: j.id, Token: j.token})
		}
		ev.add(j.id)
	}
	q.emit(backend.EventDead, expired.ids)
	if len(out) == 0 {
		// Dead-lettering expired jobs took nothing that a repeat must
		// return, so the call leaves no record: its repeat is a new claim.
		return nil
	}
	q.counters.ClaimedTotal += int64(len(out))
	q.ctl.started(now, len(out))
	q.remember(now, rec)
	q.emit(backend.EventClaimed, ev.ids)
	return out
}

// check applies the token rules to one acknowledgement of kind o. It
// returns the job when the acknowledgement takes effect, nil and nil when it
// repeats an outcome already recorded with this token, or the error; the
// job and an error wrapping backend.ErrCancelled when the job's cancel was
// requested while it was claimed.
func (q *queue) check(a backend.Ack, o outcome) (*job, error) {
	j := q.jobs[a.ID]
	if j == nil {
		return nil, notFound(q.name, a.ID)
	}
	if a.Token != j.token {
		return nil, fmt.Errorf("%w: job %q in queue %q", backend.ErrLostClaim, a.ID, q.name)
	}
	switch {
	case j.outcome == outcomeCancelled:
		return nil, errCancelled(q.name, a.ID)
	case j.outcome == outcomeNone && j.state == backend.StateProcessing && j.cancel != nil:
		// The caller refuses the call; an outcome also ends the job
		// cancelled (see refused).
		return j, errCancelled(q.name, a.ID)
	case j.outcome == outcomeNone && j.state == backend.StateProcessing:
		return j, nil
	case j.outcome == o && o != outcomeNone:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: job %q in queue %q already acknowledged", backend.ErrLostClaim, a.ID, q.name)
}

// lockForAcks starts an acknowledgement call of n items on the named queue,
// whose params are already validated. It returns the queue locked, with the
// time and the per-item error slice; or a nil queue, with every item not
// found when the queue was never used, or with the call's error.
func (b *Backend) lockForAcks(ctx context.Context, name string, n int, id func(int) string) (*queue, time.Time, []error, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, nil, err
	}
	errs := make([]error, n)
	q := b.queue(name, false)
	if q == nil {
		for i := range errs {
			errs[i] = notFound(name, id(i))
		}
		return nil, time.Time{}, errs, nil
	}
	return q, q.lock(), errs, nil
}

// lockJob starts a call on one job of a queue whose name is already
// validated: it returns the job with its queue locked, the time, and the
// request record of an earlier run of this call, if any (then j is nil); or
// an error with nothing locked.
func (b *Backend) lockJob(ctx context.Context, name, id, requestID string) (*queue, *job, time.Time, *request, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, time.Time{}, nil, err
	}
	q := b.queue(name, false)
	if q == nil {
		return nil, nil, time.Time{}, nil, notFound(name, id)
	}
	now := q.lock()
	if r := q.repeat(requestID); r != nil {
		return q, nil, now, r, nil
	}
	j := q.jobs[id]
	if j == nil {
		q.mu.Unlock()
		return nil, nil, time.Time{}, nil, notFound(name, id)
	}
	return q, j, now, nil, nil
}

// Complete implements backend.Backend.
func (b *Backend) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q, now, errs, err := b.lockForAcks(ctx, p.Queue, len(p.Items), func(i int) string { return p.Items[i].ID })
	if q == nil {
		return errs, err
	}
	defer q.mu.Unlock()
	ev, cancelled := q.collect(), q.collect()
	for i, it := range p.Items {
		j, err := q.check(it.Ack, outcomeComplete)
		if j == nil || err != nil {
			errs[i] = q.refused(j, err, now, &cancelled)
			continue
		}
		q.detach(j)
		j.outcome = outcomeComplete
		j.result = bytes.Clone(it.Result)
		if it.Error != "" {
			j.lastError = it.Error
		}
		q.resized(j)
		q.toHistory(j, backend.StateCompleted, now, p.Retention)
		q.counters.CompletedTotal++
		q.hist.at(now).Completed++
		ev.add(j.id)
	}
	q.emit(backend.EventCompleted, ev.ids)
	q.emit(backend.EventCancelled, cancelled.ids)
	return errs, nil
}

// Fail implements backend.Backend. A snoozed job gives its attempt back
// as a released one does, but joins the tail of its level (or scheduled),
// not the head.
func (b *Backend) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q, now, errs, err := b.lockForAcks(ctx, p.Queue, len(p.Items), func(i int) string { return p.Items[i].ID })
	if q == nil {
		return errs, err
	}
	defer q.mu.Unlock()
	retrying, snoozed, dead, cancelled := q.collect(), q.collect(), q.collect(), q.collect()
	requeued := false
	for i, it := range p.Items {
		j, err := q.check(it.Ack, outcomeFail)
		if j == nil || err != nil {
			errs[i] = q.refused(j, err, now, &cancelled)
			continue
		}
		q.detach(j)
		j.outcome = outcomeFail
		if it.Dead {
			j.lastError = it.Error
			q.resized(j)
			q.toHistory(j, backend.StateDead, now, p.Retention)
			q.counters.DeadTotal++
			pt := q.hist.at(now)
			pt.Dead++
			pt.Failed++
			dead.add(j.id)
			continue
		}
		if it.Delay > 0 {
			q.toScheduled(j, now.Add(it.Delay))
		} else {
			q.toPending(j, false, now)
		}
		requeued = true
		if it.Snooze {
			j.attempts = max(j.attempts-1, 0)
			snoozed.add(j.id)
			continue
		}
		j.lastError = it.Error
		q.resized(j)
		q.counters.RetriedTotal++
		pt := q.hist.at(now)
		pt.Retried++
		pt.Failed++
		retrying.add(j.id)
	}
	if requeued {
		q.notify()
	}
	q.emit(backend.EventRetrying, retrying.ids)
	q.emit(backend.EventSnoozed, snoozed.ids)
	q.emit(backend.EventDead, dead.ids)
	q.emit(backend.EventCancelled, cancelled.ids)
	return errs, nil
}

// Extend implements backend.Backend.
func (b *Backend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q, now, errs, err := b.lockForAcks(ctx, p.Queue, len(p.Items), func(i int) string { return p.Items[i].ID })
	if q == nil {
		return errs, err
	}
	defer q.mu.Unlock()
	until := now.Add(p.Lease)
	for i, it := range p.Items {
		// outcomeNone never matches a recorded outcome, so an extend after
		// an acknowledgement is a lost claim, not a repeat.
		j, err := q.check(it, outcomeNone)
		if j == nil || err != nil {
			// A cancelled job's lease is not renewed.
			errs[i] = err
			continue
		}
		j.due = until
		heap.Fix(&q.processing, j.hidx)
	}
	return errs, nil
}

// Release implements backend.Backend. Jobs released together keep their
// order at the head of their levels: of two in one level, the first item
// is claimed first.
func (b *Backend) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q, now, errs, err := b.lockForAcks(ctx, p.Queue, len(p.Items), func(i int) string { return p.Items[i].ID })
	if q == nil {
		return errs, err
	}
	defer q.mu.Unlock()
	var released []*job
	cancelled := q.collect()
	defer func() { q.emit(backend.EventCancelled, cancelled.ids) }()
	for i, it := range p.Items {
		j, err := q.check(it, outcomeRelease)
		if j == nil || err != nil {
			errs[i] = q.refused(j, err, now, &cancelled)
			continue
		}
		q.detach(j)
		j.outcome = outcomeRelease
		j.attempts = max(j.attempts-1, 0)
		released = append(released, j)
	}
	if len(released) == 0 {
		return errs, nil
	}
	ev := q.collect()
	for i := len(released) - 1; i >= 0; i-- {
		q.toPending(released[i], true, time.Time{})
	}
	for _, j := range released {
		ev.add(j.id)
	}
	q.notify()
	q.emit(backend.EventReleased, ev.ids)
	return errs, nil
}

// Reclaim implements backend.Backend.
func (b *Backend) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	var res backend.ReclaimResult
	if err := p.Validate(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	q := b.queue(p.Queue, false)
	if q == nil {
		return res, nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	if r := q.repeat(p.RequestID); r != nil {
		return backend.ReclaimResult{Requeued: slices.Clone(r.reclaim.Requeued), Dead: slices.Clone(r.reclaim.Dead)}, nil
	}
	cancelled := q.collect()
	// n counts the expired leases taken, the cancelled jobs' included.
	for n := 0; n < p.Max; n++ {
		j := q.processing.peek()
		if j == nil || !j.due.Before(now) {
			break
		}
		if j.cancel != nil {
			// Its cancel was requested while it ran: it ends cancelled,
			// and its claim's late acknowledgements say so.
			j.outcome = outcomeCancelled
			q.toCancelled(j, now, &cancelled)
			continue
		}
		q.detach(j)
		// No token matches an empty one, so the old claim is stale.
		j.token = ""
		j.outcome = outcomeNone
		q.counters.ReclaimedTotal++
		q.hist.at(now).Reclaimed++
		if j.attempts >= j.maxAttempts {
			j.lastError = fmt.Sprintf("jobqueue: lease expired on attempt %d of %d", j.attempts, j.maxAttempts)
			q.resized(j)
			q.toHistory(j, backend.StateDead, now, p.DeadRetention)
			q.counters.DeadTotal++
			q.hist.at(now).Dead++
			res.Dead = append(res.Dead, j.id)
			continue
		}
		q.toPending(j, false, now)
		res.Requeued = append(res.Requeued, j.id)
	}
	q.emit(backend.EventCancelled, cancelled.ids)
	if res.Len() == 0 && cancelled.n == 0 {
		return res, nil
	}
	q.remember(now, &request{id: p.RequestID, reclaim: backend.ReclaimResult{Requeued: slices.Clone(res.Requeued), Dead: slices.Clone(res.Dead)}})
	if len(res.Requeued) > 0 {
		q.notify()
		q.emit(backend.EventReclaimed, slices.Clone(res.Requeued))
	}
	q.emit(backend.EventDead, slices.Clone(res.Dead))
	return res, nil
}

// Get implements backend.Backend.
func (b *Backend) Get(ctx context.Context, queue, id string) (backend.JobInfo, error) {
	if err := backend.ValidateJobRef(queue, id); err != nil {
		return backend.JobInfo{}, err
	}
	q, j, _, _, err := b.lockJob(ctx, queue, id, "")
	if err != nil {
		return backend.JobInfo{}, err
	}
	defer q.mu.Unlock()
	info := j.record()
	info.Payload, info.Result = bytes.Clone(j.payload), bytes.Clone(j.result)
	return info, nil
}

// record returns what Get and Summaries report of j, with j's own payload
// and result, which the caller copies as far as it hands them out. The
// headers are a copy.
func (j *job) record() backend.JobInfo {
	info := backend.JobInfo{
		ID:          j.id,
		State:       j.state,
		Kind:        j.kind,
		Payload:     j.payload,
		Headers:     cloneHeaders(j.headers),
		Priority:    j.priority,
		Timeout:     j.timeout,
		Attempts:    j.attempts,
		MaxAttempts: j.maxAttempts,
		EnqueuedAt:  wallClock(j.enqueuedAt),
		ExpiresAt:   wallClock(j.expiresAt),
		ClaimedAt:   wallClock(j.claimedAt),
		FinishedAt:  wallClock(j.finishedAt),
		Result:      j.result,
		LastError:   j.lastError,
	}
	switch j.state {
	case backend.StateScheduled:
		info.RunAt = wallClock(j.due)
	case backend.StateProcessing:
		info.LeaseUntil = wallClock(j.due)
	}
	return info
}

// Summaries implements backend.Summarizer, under one lock of the queue.
func (b *Backend) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]backend.JobSummary, 0, len(p.IDs))
	q := b.queue(p.Queue, false)
	if q == nil {
		return out, nil
	}
	q.lock()
	defer q.mu.Unlock()
	for _, id := range p.IDs {
		if j := q.jobs[id]; j != nil {
			out = append(out, j.record().Summary(p.PreviewBytes))
		}
	}
	return out, nil
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, p backend.ListParams) ([]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := b.queue(p.Queue, false)
	if q == nil {
		return []string{}, nil
	}
	q.lock()
	defer q.mu.Unlock()
	switch p.State {
	case backend.StatePending:
		return listWindow(p.Offset, p.Limit, q.pendingLists()...), nil
	case backend.StateScheduled:
		return q.scheduled.window(p.Offset, p.Limit), nil
	case backend.StateProcessing:
		return q.processing.window(p.Offset, p.Limit), nil
	case backend.StateCompleted:
		return listWindow(p.Offset, p.Limit, &q.completed), nil
	case backend.StateCancelled:
		return listWindow(p.Offset, p.Limit, &q.cancelled), nil
	default: // backend.StateDead; Validate rejected unknown states
		return listWindow(p.Offset, p.Limit, &q.dead), nil
	}
}

// listWindow returns the ids of the lists, read one after another front
// first, skipping offset and returning at most limit. A list that lies
// wholly before offset is passed over by its length, not walked.
func listWindow(offset, limit int, lists ...*list.List) []string {
	total := 0
	for _, l := range lists {
		total += l.Len()
	}
	out := make([]string, 0, min(limit, max(total-offset, 0)))
	for _, l := range lists {
		if len(out) == limit {
			break
		}
		if offset >= l.Len() {
			offset -= l.Len()
			continue
		}
		e := l.Front()
		for range offset {
			e = e.Next()
		}
		offset = 0
		for ; e != nil && len(out) < limit; e = e.Next() {
			out = append(out, e.Value.(*job).id)
		}
	}
	return out
}

// Stats implements backend.Backend.
func (b *Backend) Stats(ctx context.Context, queue string) (backend.Stats, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return backend.Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.Stats{}, err
	}
	q := b.queue(queue, false)
	if q == nil {
		return backend.Stats{}, nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	s := q.counters
	s.Pending = int64(q.pendingLen())
	s.Scheduled = int64(q.scheduled.Len())
	s.Processing = int64(q.processing.Len())
	s.Completed = int64(q.completed.Len())
	s.Dead = int64(q.dead.Len())
	s.Cancelled = int64(q.cancelled.Len())
	// The heads of the levels and held lists are their longest-waiting
	// jobs.
	var oldest time.Time
	for _, l := range q.pendingLists() {
		if e := l.Front(); e != nil {
			if at := e.Value.(*job).readyAt; oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
		}
	}
	if !oldest.IsZero() {
		s.Latency = max(now.Sub(oldest), 0)
	}
	for _, until := range q.workers {
		if until.After(now) {
			s.Workers++
		}
	}
	s.Paused, s.Limits = q.ctl.paused, q.ctl.limits
	for kind, l := range q.ctl.kinds {
		if s.KindLimits == nil {
			s.KindLimits = make(map[string]backend.Limits, len(q.ctl.kinds))
		}
		s.KindLimits[kind] = l.limits
	}
	return s, nil
}

// Purge implements backend.Backend.
func (b *Backend) Purge(ctx context.Context, p backend.PurgeParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(p.Queue, false)
	if q == nil {
		return nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	if q.repeat(p.RequestID) != nil {
		return nil
	}
	var size int64
	for _, j := range q.jobs {
		q.releaseUnique(j, "")
		size += j.size
	}
	q.use.add(-int64(len(q.jobs)), -size)
	q.reset()
	q.remember(now, &request{id: p.RequestID})
	// The event names no ids: a purge may remove millions of jobs, and
	// listeners only need to know that everything went.
	q.emit(backend.EventPurged, nil)
	return nil
}

// RetryDead implements backend.Backend. The job keeps its LastError, so
// whoever looks at it later still sees why it had died, and loses its
// expiry, so that a job that died of it runs now.
func (b *Backend) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	q, j, now, rep, err := b.lockJob(ctx, p.Queue, p.ID, p.RequestID)
	if err != nil {
		return err
	}
	defer q.mu.Unlock()
	if rep != nil {
		return nil
	}
	if j.state != backend.StateDead {
		return fmt.Errorf("%w: job %q in queue %q is %s, not %s", backend.ErrWrongState, p.ID, p.Queue, j.state, backend.StateDead)
	}
	q.detach(j)
	j.attempts = 0
	j.finishedAt = time.Time{}
	j.expiresAt = time.Time{}
	// The dead attempt's token goes with it, as on Redis: repeating that
	// attempt's Fail must not pass for a no-op on a job that is pending
	// again.
	j.token = ""
	j.outcome = outcomeNone
	q.toPending(j, false, now)
	q.remember(now, &request{id: p.RequestID})
	q.notify()
	q.emit(backend.EventRetried, []string{p.ID})
	return nil
}

// Delete implements backend.Backend.
func (b *Backend) Delete(ctx context.Context, p backend.DeleteParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	q, j, now, rep, err := b.lockJob(ctx, p.Queue, p.ID, p.RequestID)
	if err != nil {
		return err
	}
	defer q.mu.Unlock()
	if rep != nil {
		return nil
	}
	q.releaseUnique(j, "")
	q.drop(j)
	q.remember(now, &request{id: p.RequestID})
	q.emit(backend.EventDeleted, []string{p.ID})
	return nil
}

// Beat implements backend.WorkerTracker. Each beat drops the processes
// whose beats ran out, so the map holds only live ones and those that ran
// out since.
func (b *Backend) Beat(ctx context.Context, p backend.BeatParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(p.Queue, p.TTL > 0)
	if q == nil {
		return nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	maps.DeleteFunc(q.workers, func(_ string, until time.Time) bool { return !until.After(now) })
	if p.TTL == 0 {
		delete(q.workers, p.ID)
		return nil
	}
	if q.workers == nil {
		q.workers = make(map[string]time.Time)
	}
	q.workers[p.ID] = now.Add(p.TTL)
	return nil
}

// Subscribe implements backend.Subscriber. Each subscriber has a buffer of
// eventBuffer events; when it is full, further events are dropped for that
// subscriber rather than making the queue wait.
func (b *Backend) Subscribe(ctx context.Context, queue string) (<-chan backend.Event, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := b.queue(queue, true)
	ch := make(chan backend.Event, eventBuffer)
	q.mu.Lock()
	q.subs[ch] = struct{}{}
	q.mu.Unlock()
	// Events are sent under q.mu, so closing under q.mu can never race a
	// send.
	context.AfterFunc(ctx, func() {
		q.mu.Lock()
		delete(q.subs, ch)
		close(ch)
		q.mu.Unlock()
	})
	return ch, nil
}
