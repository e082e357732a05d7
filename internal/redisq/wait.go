package redisq

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// maxBlock caps one BLPOP on a marker. It bounds how long an idle blocker
// holds a connection after its waiters left, and how long Close may wait
// for it (interrupt arms the marker, which wakes it unless another
// process's blocker pops it first). An idle queue costs one BLPOP per
// maxBlock per Engine.
const maxBlock = 5 * time.Second

// errorPause is how long a blocker pauses after a failed BLPOP (Redis
// down), so it does not spin.
const errorPause = 200 * time.Millisecond

// waitQueue holds the claims of one queue that are waiting for work in
// this Engine. At most one goroutine (block) waits on Redis for all of
// them, so 64 waiting claims hold one connection, not 64: a connection
// pool of 20 stays free for completes and heartbeats.
type waitQueue struct {
	e      *Engine
	keys   Keys
	mu     sync.Mutex
	queue  []*waiter   // FIFO: the longest waiting claim is woken first
	active bool        // a block goroutine runs
	due    *time.Timer // the earliest known run-at of a scheduled job
	dueAt  time.Time   // when due fires, on the local clock
	dueGen uint64      // counts the timers set, so a stopped one is told apart

	// wakes counts the wake-ups this Engine saw for the queue: markers
	// popped, failed BLPOPs, due timers fired, wake-ups handed on. A claim
	// that leaves pending empty notes the count it started at
	// (sawDrained); until the count moves, or Engine.emptyTrust passes,
	// the queue is known to have no work for this process (trustedEmpty).
	wakes      uint64
	emptyAt    uint64    // wakes+1 as of the last drained claim; 0: unknown
	emptySince time.Time // when that claim started

	// failed holds the request ids of claims whose call failed, with
	// when: a repeat of one must run claim.lua, which answers it with the
	// jobs its first run took, whatever this process knows of the queue.
	failed map[string]time.Time
}

// EmptyTrust is the default of Engine.emptyTrust: how long a queue found
// empty is trusted to stay so without a wake-up. Every new job of an empty
// pending list arms the marker, which this Engine's blocker or another
// process's pops; the bound is for a marker that is lost (with a process
// that popped it and died before claiming, or with a re-arm that failed),
// after which only a claim that runs claim.lua finds the job. With a
// Worker's default ClaimWait of 5 s, an idle Worker runs claim.lua once
// per 10 s.
const EmptyTrust = 10 * time.Second

// wakeCount returns the count of wake-ups seen so far, for sawDrained.
func (q *waitQueue) wakeCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wakes
}

// sawDrained notes that a claim started at wake count seq, at start, left
// pending empty; a wake-up seen since makes the note void.
func (q *waitQueue) sawDrained(seq uint64, start time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wakes == seq {
		q.emptyAt, q.emptySince = seq+1, start
	}
}

// trustedEmpty returns how much longer the queue is known to have no work
// for this process (see wakes), or 0: no wake-up since the last claim that
// drained it, within Engine.emptyTrust, while the Engine is open. A claim
// that would wait may then wait that long at once, and one whose wait ran
// out may return empty, without running claim.lua: the script would find
// nothing, and any work that arrives wakes the blocker, which waits on the
// marker for as long as a claim waits.
func (q *waitQueue) trustedEmpty() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.emptyAt != q.wakes+1 || q.e.ctx.Err() != nil {
		return 0
	}
	return max(q.e.emptyTrust-time.Since(q.emptySince), 0)
}

// claimFailed notes that the claim with request id id failed, so that its
// repeat runs claim.lua (see failed). Notes older than the request window
// are dropped: a repeat comes within it.
func (q *waitQueue) claimFailed(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if q.failed == nil {
		q.failed = map[string]time.Time{}
	}
	for k, at := range q.failed {
		if now.Sub(at) > backend.RequestWindow {
			delete(q.failed, k)
		}
	}
	q.failed[id] = now
}

// isRepeat reports whether id is the request id of a claim that failed,
// and forgets it.
func (q *waitQueue) isRepeat(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.failed[id]
	delete(q.failed, id)
	return ok
}

type waiter struct {
	ch       chan struct{} // buffered 1; sent to once, after removal from queue
	deadline time.Time
}

func (e *Engine) waitQueue(queue string) *waitQueue {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.waits[queue]
	if !ok {
		q = &waitQueue{e: e, keys: KeysFor(queue)}
		e.waits[queue] = q
	}
	return q
}

// wait blocks until a wake-up, d, or ctx, whichever comes first. Only
// ctx's end is an error; the caller claims again in the other cases.
func (q *waitQueue) wait(ctx context.Context, d time.Duration) error {
	w := &waiter{ch: make(chan struct{}, 1), deadline: time.Now().Add(d)}
	q.mu.Lock()
	q.queue = append(q.queue, w)
	if !q.active && q.e.spawn(q.block) {
		q.active = true
	}
	q.mu.Unlock()

	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ch:
		if err := ctx.Err(); err != nil {
			q.handOn() // cancelled as it was woken
			return err
		}
		return nil
	case <-t.C:
		q.remove(w, false)
		return nil
	case <-ctx.Done():
		q.remove(w, true)
		return ctx.Err()
	}
}

// remove takes w out of the queue. A w that is no longer queued was woken
// at the same moment; when its claim gives up (handOn), the wake-up goes to
// the next waiter instead of being lost. A timed-out claim claims once
// more itself, so it keeps its wake-up.
func (q *waitQueue) remove(w *waiter, handOn bool) {
	q.mu.Lock()
	i := slices.Index(q.queue, w)
	if i >= 0 {
		q.queue = slices.Delete(q.queue, i, i+1)
	}
	q.mu.Unlock()
	if i < 0 && handOn {
		q.handOn()
	}
}

// handOn passes on a wake-up its claim no longer wants: to the next local
// waiter, or, when there is none, back to Redis for other processes. A
// wake-up may announce a pending job that nobody else was told about, so
// dropping it could leave a claim elsewhere asleep for its whole wait; a
// needless one costs a claim that finds nothing.
// The claim returns meanwhile: its caller asked it to end promptly.
func (q *waitQueue) handOn() {
	if !q.wakeOne() && !q.e.spawn(q.rearm) {
		q.rearm()
	}
}

// wakeOne wakes the longest waiting claim, if any, and reports whether
// there was one.
func (q *waitQueue) wakeOne() bool {
	q.mu.Lock()
	q.wakes++
	if len(q.queue) == 0 {
		q.mu.Unlock()
		return false
	}
	w := q.queue[0]
	q.queue = slices.Delete(q.queue, 0, 1)
	q.mu.Unlock()
	w.ch <- struct{}{}
	return true
}

// setDue arranges one local wake-up when the earliest scheduled job falls
// due (nextDue, -1 for none, on the Redis clock whose now is given). A
// local timer instead of a shorter BLPOP, because BLPOP timeouts are whole
// seconds in go-redis, and instead of a timer per waiter, which would wake
// every waiter at once.
//
// Claims report what they saw in any order, so a later call only ever
// brings the wake-up forward; the timer is cleared when it fires. A run-at
// that moved away or a job that was taken meanwhile costs one needless
// wake-up.
func (q *waitQueue) setDue(now, nextDue int64) {
	if nextDue < 0 {
		return
	}
	d := max(time.Duration(nextDue-now)*time.Millisecond, 0) + time.Millisecond
	at := time.Now().Add(d)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.due != nil {
		if !at.Before(q.dueAt) {
			return
		}
		q.due.Stop()
	}
	q.dueGen++
	gen := q.dueGen
	q.due, q.dueAt = time.AfterFunc(d, func() { q.fire(gen) }), at
}

// fire is the due timer's wake-up. Only this process may know the run-at
// (it learnt it from the marker it popped), so when no claim waits here
// the wake-up goes to Redis for the claims of other processes.
func (q *waitQueue) fire(gen uint64) {
	q.mu.Lock()
	if q.dueGen == gen {
		q.due = nil
	}
	q.mu.Unlock()
	if !q.wakeOne() && q.e.ctx.Err() == nil {
		q.rearm()
	}
}

// block waits on the marker for as long as claims wait locally, and turns
// each wake-up into one local wake-up.
func (q *waitQueue) block() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 || q.e.ctx.Err() != nil {
			q.active = false
			q.mu.Unlock()
			return
		}
		var longest time.Time
		for _, w := range q.queue {
			if w.deadline.After(longest) {
				longest = w.deadline
			}
		}
		q.mu.Unlock()

		// Whole seconds: go-redis sends BLPOP timeouts in whole seconds.
		timeout := min(max(time.Until(longest).Round(time.Second), time.Second), maxBlock)
		popped, err := q.e.conn.BlockPop(q.e.ctx, q.keys.Marker, timeout)
		switch {
		case err != nil:
			// The marker may have been popped with the reply lost, or
			// Redis cannot be reached: a waiting claim had better run
			// claim.lua now, which takes what the marker announced or
			// tells its caller of the outage, than sleep on. With none
			// waiting, the marker is armed again for other processes (a
			// spare one is harmless). Either way no earlier look at the
			// queue is trusted (wakeOne counts a wake-up).
			if q.e.ctx.Err() != nil || !q.wakeOne() {
				q.rearm()
			}
			select {
			case <-q.e.ctx.Done():
			case <-time.After(errorPause):
			}
		case popped && !q.wakeOne():
			// Nobody here wants it any more (their claims gave up, or
			// Close interrupted): hand it back for other processes.
			q.rearm()
		}
	}
}

// rearmFor bounds rearm's attempts, and rearmPause spaces them.
const (
	rearmFor   = 2 * time.Second
	rearmPause = 50 * time.Millisecond
)

// rearm arms the marker again. It runs outside the Engine's context,
// which may be cancelled already, with a bound of its own. A marker it
// fails to arm is a wake-up lost for other processes, which then trust
// their last look at the queue for up to EmptyTrust: so it tries again
// while the bound lasts (a connection killed under it is the common
// case, and the next one answers), and when it gives up it counts a
// wake-up, so that this process at least trusts no earlier look.
func (q *waitQueue) rearm() {
	ctx, cancel := context.WithTimeout(context.Background(), rearmFor)
	defer cancel()
	for {
		// A closing Engine tries once: Close does not wait out an
		// outage.
		if q.poke(ctx) == nil || q.e.ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			q.mu.Lock()
			q.wakes++
			q.mu.Unlock()
			return
		case <-time.After(rearmPause):
		}
	}
}

// poke arms the marker once.
func (q *waitQueue) poke(ctx context.Context) error {
	_, err := q.e.call(ctx, scriptPoke, q.keys, "", q.keys.scriptArgs(0))
	return err
}

// interrupt wakes this queue's blocker if it is blocked, so Close need not
// wait for its BLPOP to time out; the blocker re-arms the marker. It tries
// once, for a second at most: Close does not wait out an outage.
func (q *waitQueue) interrupt() {
	q.mu.Lock()
	active := q.active
	q.mu.Unlock()
	if active {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = q.poke(ctx)
	}
}
