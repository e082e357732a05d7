package memory

import (
	"container/list"
	"context"
	"math"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Controller = (*Backend)(nil)

// control is a queue's settings (backend.Controller), which a Purge keeps.
type control struct {
	paused bool
	limiter
	// kinds holds the limits of each kind that has some.
	kinds map[string]*limiter
}

// limiter is the limits of a queue or of one kind, with what enforcing
// them needs to remember.
type limiter struct {
	limits backend.Limits
	// starts holds the claim time of every start within the rate's
	// window, oldest first, while there is a rate limit: one entry per
	// job, so a window holds at most limits.Rate of them.
	starts []time.Time
	// running counts the jobs in processing claimed under a kind's
	// limit, which point at this limiter (job.kslot). The queue's own
	// concurrency is the size of its processing heap instead.
	running int
}

// trim drops the starts at or before now less the rate's period: the
// window is (now-Per, now].
func (l *limiter) trim(now time.Time) {
	from := now.Add(-l.limits.Per)
	i := 0
	for i < len(l.starts) && !l.starts[i].After(from) {
		i++
	}
	l.starts = l.starts[i:]
}

// room returns how many more jobs the limits let start at now, of which
// running are in processing (math.MaxInt for no limit). It trims the
// rate's window.
func (l *limiter) room(now time.Time, running int) int {
	n := math.MaxInt
	if c := l.limits.Concurrency; c > 0 {
		n = max(c-running, 0)
	}
	if l.limits.Rate > 0 {
		l.trim(now)
		n = min(n, max(l.limits.Rate-len(l.starts), 0))
	}
	return n
}

// started records n starts at now for the rate limit.
func (l *limiter) started(now time.Time, n int) {
	if l.limits.Rate == 0 {
		return
	}
	for range n {
		l.starts = append(l.starts, now)
	}
}

// rateWait returns how long after now the rate allows the next start,
// when it allows none now; ok is false otherwise. The window was trimmed
// at now.
func (l *limiter) rateWait(now time.Time) (d time.Duration, ok bool) {
	if l.limits.Rate == 0 || len(l.starts) < l.limits.Rate {
		return 0, false
	}
	// The start that must leave the window first for one more to fit.
	return l.starts[len(l.starts)-l.limits.Rate].Add(l.limits.Per).Sub(now), true
}

// Pause implements backend.Controller. A pause of a paused queue
// publishes nothing.
func (b *Backend) Pause(ctx context.Context, name string) error {
	return b.setControl(ctx, name, func(q *queue) {
		if !q.ctl.paused {
			q.ctl.paused = true
			q.emit(backend.EventPaused, nil)
		}
	})
}

// Resume implements backend.Controller. It wakes every waiting claimer,
// which finds out for itself whether it may take a job.
func (b *Backend) Resume(ctx context.Context, name string) error {
	return b.setControl(ctx, name, func(q *queue) {
		if q.ctl.paused {
			q.ctl.paused = false
			q.emit(backend.EventResumed, nil)
		}
		q.notify()
	})
}

// SetLimits implements backend.Controller. The waiting claimers are woken,
// since a raised limit may let them take jobs now.
func (b *Backend) SetLimits(ctx context.Context, p backend.LimitParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	var err error
	set := func(q *queue) {
		defer q.notify()
		if p.Kind == "" {
			if q.ctl.limits != p.Limits {
				q.ctl.limits = p.Limits
				q.emit(backend.EventLimits, nil)
			}
			if p.Rate == 0 {
				q.ctl.starts = nil
			}
			return
		}
		l := q.ctl.kinds[p.Kind]
		changed := l == nil || l.limits != p.Limits
		switch {
		case p.Limits.IsZero():
			if l != nil {
				delete(q.ctl.kinds, p.Kind)
				q.emit(backend.EventLimits, nil)
			}
			return
		case l == nil && len(q.ctl.kinds) >= backend.MaxLimitedKinds:
			err = backend.ErrTooManyLimitedKinds
			return
		case l == nil:
			l = &limiter{}
		case p.Concurrency == 0:
			// The count is forgotten, as the Redis scripts forget it: the
			// jobs claimed under the old limit release the old limiter.
			l = &limiter{starts: l.starts}
		}
		if q.ctl.kinds == nil {
			q.ctl.kinds = make(map[string]*limiter)
		}
		if changed {
			q.emit(backend.EventLimits, nil)
		}
		l.limits = p.Limits
		if p.Rate == 0 {
			l.starts = nil
		}
		q.ctl.kinds[p.Kind] = l
	}
	if e := b.setControl(ctx, p.Queue, set); e != nil {
		return e
	}
	return err
}

// setControl runs set on the named queue, locked.
func (b *Backend) setControl(ctx context.Context, name string, set func(q *queue)) error {
	if err := backend.ValidateQueueName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(name, true)
	q.lock()
	defer q.mu.Unlock()
	set(q)
	return nil
}

// allowed returns how many of want jobs a claim may start at now under
// the queue's settings; q is locked. It drops the starts that left the
// rate's window.
func (q *queue) allowed(now time.Time, want int) int {
	if q.ctl.paused {
		return 0
	}
	return min(want, q.ctl.room(now, q.processing.Len()))
}

// rateWait returns how long after now the queue's rate limit allows the
// next start, when it allows none now and a job is pending (held for its
// kind or not), or else the
// first of its held kinds' rates; ok is false when no rate holds a job
// back. q is locked, and allowed and take have just trimmed the windows.
func (q *queue) rateWait(now time.Time) (d time.Duration, ok bool) {
	if q.pendingLen() > 0 {
		if d, ok := q.ctl.rateWait(now); ok {
			return d, true
		}
	}
	for kind := range q.held {
		l := q.ctl.kinds[kind]
		if l == nil || (l.limits.Concurrency > 0 && l.running >= l.limits.Concurrency) {
			// Held back by its concurrency: a freed slot wakes the
			// claimers (leftProcessing).
			continue
		}
		if kd, kok := l.rateWait(now); kok && (!ok || kd < d) {
			d, ok = kd, true
		}
	}
	return d, ok
}

// leftProcessing wakes the waiting claimers when j left processing while
// a slot may have freed for them: the queue has a concurrency limit, or
// j held a slot of its kind whose other jobs are held. q is locked.
func (q *queue) leftProcessing(j *job) {
	held := false
	if j.kslot != nil {
		j.kslot.running--
		j.kslot = nil
		held = q.held[j.kind] != nil
	}
	if held || q.ctl.limits.Concurrency > 0 {
		q.notify()
	}
}

// kindRoom returns how many more jobs of kind a claim may start at now,
// and the kind's limiter; nil and math.MaxInt for a kind without limits.
func (q *queue) kindRoom(now time.Time, kind string) (*limiter, int) {
	l := q.ctl.kinds[kind]
	if l == nil {
		return nil, math.MaxInt
	}
	return l, l.room(now, l.running)
}

// heldLists are the pending jobs of one kind that claims passed by while
// the kind was at its limit, one FIFO per priority level.
type heldLists struct {
	levels [backend.MaxPriority + 1]list.List
	n      int
}

// hold puts pending job j, detached, at the tail of its kind's held list
// of its level: its kind is at its limit, and a claim passes it by.
func (q *queue) hold(j *job) {
	h := q.held[j.kind]
	if h == nil {
		if q.held == nil {
			q.held = make(map[string]*heldLists)
		}
		h = &heldLists{}
		q.held[j.kind] = h
	}
	j.state = backend.StatePending
	j.held = true
	j.elem = h.levels[j.priority].PushBack(j)
	h.n++
}

// unheld takes held job j out of its kind's held list.
func (q *queue) unheld(j *job) {
	h := q.held[j.kind]
	h.levels[j.priority].Remove(j.elem)
	if h.n--; h.n == 0 {
		delete(q.held, j.kind)
	}
	j.held = false
}

// unhold gives the held jobs back to the head of their levels, as many of
// each kind as its limits let a claim start at now and no more than want,
// the highest level first: they were passed by before the jobs now at the
// heads. q is locked.
func (q *queue) unhold(now time.Time, want int) {
	for kind, h := range q.held {
		_, n := q.kindRoom(now, kind)
		n = min(n, want)
		for level := len(h.levels) - 1; level >= 0 && n > 0; level-- {
			var back []*job
			for l := &h.levels[level]; n > 0 && l.Len() > 0; n-- {
				j := l.Front().Value.(*job)
				q.detach(j)
				back = append(back, j)
			}
			for i := len(back) - 1; i >= 0; i-- {
				q.toPending(back[i], true, now)
			}
		}
	}
}
