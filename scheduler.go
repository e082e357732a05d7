package jobqueue

import (
	"context"
	"math"
	"sync"
	"time"
)

// scheduler shares a Worker's free handler slots among the claimers of its
// queues, one claimer goroutine per queue, so that a queue never has more
// than one claim call in flight from one Worker.
//
// A claimer is in one of two modes. A queue whose last claim came back
// full is busy: its claimer asks for a batch of slots and claims without
// waiting, and the busy queues share the free slots by weight or by
// priority. A queue whose last claim came back short is idle: its claimer
// waits for work in a blocking claim that holds a single slot, so an empty
// queue never sits on slots another queue's backlog could use, and it turns
// busy as soon as a claim brings a job. The busy queues leave a slot free
// for each idle queue, so that an idle queue can always wait, and a job
// that arrives on it starts without waiting for another queue's handlers.
// A Worker of one queue has no one to share with: its idle claim holds
// every free slot, as a single-queue Worker always did, and its busy
// claims wait too.
//
// Weights are shares of the jobs claimed, by stride scheduling: each queue
// has a pass, which grows by 1/weight for every job it claims, and a busy
// queue is given slots only while no other busy queue has a lower pass,
// and at most its weight's share of the free slots at a time. Over any
// stretch of time in which two queues are both busy, their claims
// differ from the ratio of their weights by at most one batch. A queue that
// turns busy starts at the lowest pass of the busy queues, so that a
// queue's idle time does not bank claims to spend later. Under strict
// priority, a busy queue is given slots only while no busy queue has a
// higher weight (or the same weight and an earlier place).
//
// A busy queue that goes first holds the others back even while its claim
// is in flight, since it will want the next free slots as soon as the
// claim returns; that is what keeps the shares. A claim that stays in
// flight longer than stall (a partition, a failover, a read timeout
// repeated) stops holding them back, so a store that hangs on one queue
// leaves the free slots to the others; when such a claim returns, its
// queue's pass moves up to the lowest of the busy queues, as for a queue
// that turns busy.
type scheduler struct {
	mu      sync.Mutex
	free    int
	batch   int
	strict  bool
	stall   time.Duration
	qs      []schedQueue
	waiters int
	changed chan struct{} // closed and replaced when state changes and someone waits
}

// claimStall is how long a queue's claim may be in flight before it stops
// holding back the queues after it: far longer than a claim that does not
// wait takes on a healthy store, and short enough that a hung one costs
// the others little.
const claimStall = 250 * time.Millisecond

type schedQueue struct {
	weight float64
	pass   float64
	busy   bool
	// claiming is set from a grant to the end of the claim it is for,
	// which started at since.
	claiming bool
	since    time.Time
}

func newScheduler(slots, batch int, strict bool, weights []int) *scheduler {
	s := &scheduler{free: slots, batch: batch, strict: strict, stall: claimStall, changed: make(chan struct{})}
	for _, w := range weights {
		// Every queue starts busy, so that backlogs found at start are
		// shared by weight, or drained by priority, from the first claim.
		s.qs = append(s.qs, schedQueue{weight: float64(w), busy: true})
	}
	return s
}

// acquire waits until queue i may claim and returns how many jobs it may
// claim and whether the queue is busy; ok is false when ctx ended first.
func (s *scheduler) acquire(ctx context.Context, i int) (n int, busy, ok bool) {
	s.mu.Lock()
	for {
		n, recheck := s.grant(i)
		if n > 0 {
			busy := s.qs[i].busy
			s.mu.Unlock()
			return n, busy, true
		}
		ch := s.changed
		s.waiters++
		s.mu.Unlock()
		// A claim that holds this queue back may stall, which no state
		// change announces: look again when it would.
		var t *time.Timer
		var stalled <-chan time.Time
		if recheck > 0 {
			t = time.NewTimer(recheck)
			stalled = t.C
		}
		select {
		case <-ctx.Done():
		case <-ch:
		case <-stalled:
		}
		if t != nil {
			t.Stop()
		}
		s.mu.Lock()
		s.waiters--
		if ctx.Err() != nil {
			s.mu.Unlock()
			return 0, false, false
		}
	}
}

// grant takes the slots queue i may claim now, if any. When none, and
// another queue's claim holds i back, recheck is when that claim may count
// as stalled. s.mu is held.
func (s *scheduler) grant(i int) (n int, recheck time.Duration) {
	q := &s.qs[i]
	if !q.busy {
		if s.free == 0 {
			return 0, 0
		}
		n = 1
		if len(s.qs) == 1 {
			n = min(s.free, s.batch)
		}
		s.free -= n
		s.start(q)
		return n, 0
	}
	avail, busyWeight := s.free, q.weight
	var now time.Time
	held := false
	for j := range s.qs {
		if j == i {
			continue
		}
		o := &s.qs[j]
		if !o.busy && !o.claiming {
			avail-- // the slot an idle queue waits with
		}
		if !o.busy {
			continue
		}
		busyWeight += o.weight
		if !s.before(j, i) {
			continue
		}
		if !o.claiming {
			// Its claim is about to start, and may stall: look again
			// by then at the latest.
			return 0, s.stall
		}
		if now.IsZero() {
			now = time.Now()
		}
		if left := s.stall - now.Sub(o.since); left > 0 {
			held = true
			if recheck == 0 || left < recheck {
				recheck = left
			}
		}
	}
	if held {
		return 0, recheck
	}
	if avail <= 0 {
		return 0, 0
	}
	n = min(avail, s.batch)
	if !s.strict {
		// At most the queue's share of the free slots, so that one queue
		// cannot take them all (at start, when every pass is zero) and
		// keep them for as long as its jobs run.
		n = min(n, int(math.Ceil(float64(avail)*q.weight/busyWeight)))
	}
	s.free -= n
	q.pass += float64(n) / q.weight
	s.start(q)
	return n, 0
}

// start marks q's claim in flight. s.mu is held.
func (s *scheduler) start(q *schedQueue) {
	q.claiming = true
	if len(s.qs) > 1 {
		q.since = time.Now()
	}
}

// before reports whether busy queue j goes before busy queue i.
func (s *scheduler) before(j, i int) bool {
	if s.strict {
		return s.qs[j].weight > s.qs[i].weight || s.qs[j].weight == s.qs[i].weight && j < i
	}
	return s.qs[j].pass < s.qs[i].pass
}

// claimed records the outcome of queue i's claim of up to n jobs, granted
// as acquire said (busy): got jobs came back, and failed says the claim
// failed. The slots of the jobs not claimed are free again.
func (s *scheduler) claimed(i, n, got int, busy, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.qs[i]
	q.claiming = false
	s.free += n - got
	if busy {
		q.pass -= float64(n-got) / q.weight
	} else {
		q.pass += float64(got) / q.weight
	}
	switch {
	case failed, got < n:
		q.busy = false
	case !q.busy || len(s.qs) > 1 && time.Since(q.since) >= s.stall:
		// A queue that turns busy, or whose stalled claim let the others
		// go ahead, does not bank the claims it missed meanwhile.
		q.busy = true
		q.pass = max(q.pass, s.lowestBusyPass(i))
	}
	s.notify()
}

// lowestBusyPass is the lowest pass of the busy queues other than i, or
// zero when there are none. s.mu is held.
func (s *scheduler) lowestBusyPass(i int) float64 {
	low, found := 0.0, false
	for j := range s.qs {
		if j != i && s.qs[j].busy && (!found || s.qs[j].pass < low) {
			low, found = s.qs[j].pass, true
		}
	}
	return low
}

// pause marks queue i as waiting, between its claims, for something
// other than slots (its earlier jobs' acknowledgements): like a claim in
// flight, it holds back the queues after it for stall at most.
func (s *scheduler) pause(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.qs[i].claiming = true
	s.qs[i].since = time.Now()
}

// resume ends queue i's pause. A pause long enough to let the others go
// ahead banks no claims, as in claimed.
func (s *scheduler) resume(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &s.qs[i]
	q.claiming = false
	if q.busy && time.Since(q.since) >= s.stall {
		q.pass = max(q.pass, s.lowestBusyPass(i))
	}
	s.notify()
}

// release frees the slot of a job whose handler is done.
func (s *scheduler) release() {
	s.mu.Lock()
	s.free++
	s.notify()
	s.mu.Unlock()
}

// notify wakes every waiting acquire. s.mu is held.
func (s *scheduler) notify() {
	if s.waiters > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}
