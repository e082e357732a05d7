package memory

import (
	"context"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Controller = (*Backend)(nil)

// control is a queue's settings (backend.Controller), which a Purge keeps.
type control struct {
	paused bool
	limits backend.Limits
	// starts holds the claim time of every start within the rate's
	// window, oldest first, while the queue has a rate limit: one entry
	// per job, so a window holds at most limits.Rate of them.
	starts []time.Time
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
	return b.setControl(ctx, p.Queue, func(q *queue) {
		if q.ctl.limits != p.Limits {
			q.ctl.limits = p.Limits
			q.emit(backend.EventLimits, nil)
		}
		if p.Rate == 0 {
			q.ctl.starts = nil
		}
		q.notify()
	})
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
	c := &q.ctl
	if c.paused {
		return 0
	}
	if n := c.limits.Concurrency; n > 0 {
		want = min(want, max(n-q.processing.Len(), 0))
	}
	if c.limits.Rate > 0 {
		q.trimStarts(now)
		want = min(want, max(c.limits.Rate-len(c.starts), 0))
	}
	return want
}

// trimStarts drops the starts at or before now less the rate's period:
// the window is (now-Per, now].
func (q *queue) trimStarts(now time.Time) {
	c := &q.ctl
	from := now.Add(-c.limits.Per)
	i := 0
	for i < len(c.starts) && !c.starts[i].After(from) {
		i++
	}
	c.starts = c.starts[i:]
}

// started records n starts at now for the rate limit; q is locked.
func (q *queue) started(now time.Time, n int) {
	if q.ctl.limits.Rate == 0 {
		return
	}
	for range n {
		q.ctl.starts = append(q.ctl.starts, now)
	}
}

// rateWait returns how long after now the rate limit allows the next
// start, when it allows none now and a job is pending; ok is false
// otherwise. q is locked, and allowed has just trimmed the window.
func (q *queue) rateWait(now time.Time) (d time.Duration, ok bool) {
	c := &q.ctl
	if c.limits.Rate == 0 || len(c.starts) < c.limits.Rate || q.nextPending() == nil {
		return 0, false
	}
	// The start that must leave the window first for one more to fit.
	return c.starts[len(c.starts)-c.limits.Rate].Add(c.limits.Per).Sub(now), true
}

// slotFreed wakes the waiting claimers when a job left processing of a
// queue with a concurrency limit: a slot may be free for them.
func (q *queue) slotFreed() {
	if q.ctl.limits.Concurrency > 0 {
		q.notify()
	}
}
