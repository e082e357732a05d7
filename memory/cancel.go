package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Canceller = (*Backend)(nil)

// Cancel implements backend.Canceller. A processing job keeps the
// retention of its cancel, which applies when its claim ends.
func (b *Backend) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := make([]error, len(p.IDs))
	q := b.queue(p.Queue, false)
	if q == nil {
		for i, id := range p.IDs {
			errs[i] = notFound(p.Queue, id)
		}
		return errs, nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	if r := q.repeat(p.RequestID); r != nil {
		return slices.Clone(r.errs), nil
	}
	ev := q.collect()
	changed := false
	for i, id := range p.IDs {
		j := q.jobs[id]
		if j == nil {
			errs[i] = notFound(p.Queue, id)
			continue
		}
		switch j.state {
		case backend.StatePending, backend.StateScheduled:
			// The job's last claim, if any, keeps its recorded outcome:
			// repeating that outcome is still a no-op.
			j.cancel = &p.Retention
			q.toCancelled(j, now, &ev)
			changed = true
		case backend.StateProcessing:
			if j.cancel == nil {
				j.cancel = &p.Retention
				changed = true
			}
		case backend.StateCancelled:
		default:
			errs[i] = fmt.Errorf("%w: job %q in queue %q is %s, it cannot be cancelled", backend.ErrWrongState, id, p.Queue, j.state)
		}
	}
	if changed {
		q.remember(now, &request{id: p.RequestID, errs: slices.Clone(errs)})
	}
	q.emit(backend.EventCancelled, ev.ids)
	return errs, nil
}

// toCancelled ends j, whose cancel was requested, in the cancelled
// history under its cancel's retention, and counts it; q is locked.
func (q *queue) toCancelled(j *job, now time.Time, ev *eventIDs) {
	q.detach(j)
	q.toHistory(j, backend.StateCancelled, now, *j.cancel)
	q.counters.CancelledTotal++
	q.hist.at(now).Cancelled++
	ev.add(j.id)
}

// refused answers an acknowledgement that check did not let through:
// err, after ending j cancelled when check returned it (its cancel was
// requested while it was claimed, so its outcome is refused).
func (q *queue) refused(j *job, err error, now time.Time, ev *eventIDs) error {
	if j != nil {
		j.outcome = outcomeCancelled
		q.toCancelled(j, now, ev)
	}
	return err
}

func errCancelled(queue, id string) error {
	return fmt.Errorf("%w: %q in queue %q", backend.ErrCancelled, id, queue)
}
