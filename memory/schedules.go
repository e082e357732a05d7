package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.ScheduleKeeper = (*Backend)(nil)

// MarkSchedule implements backend.ScheduleKeeper.
func (b *Backend) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(p.Queue, true)
	q.lock()
	defer q.mu.Unlock()
	if q.schedules == nil {
		q.schedules = make(map[string]backend.ScheduleRecord)
	}
	r := q.schedules[p.Name]
	r.Name, r.Definition = p.Name, p.Definition
	r.LastTick = later(r.LastTick, p.Tick)
	r.Seen = later(r.Seen, p.Seen)
	q.schedules[p.Name] = r
	return nil
}

// later returns t, kept to the millisecond as a Redis backend keeps it,
// when it is set and later than recorded; else recorded.
func later(recorded, t time.Time) time.Time {
	if ms := time.UnixMilli(t.UnixMilli()); !t.IsZero() && ms.After(recorded) {
		return ms
	}
	return recorded
}

// RemoveSchedule implements backend.ScheduleKeeper.
func (b *Backend) RemoveSchedule(ctx context.Context, queue, name string) error {
	if err := backend.ValidateScheduleRef(queue, name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q := b.queue(queue, false)
	if q == nil {
		return nil
	}
	q.lock()
	defer q.mu.Unlock()
	delete(q.schedules, name)
	return nil
}

// Schedules implements backend.ScheduleKeeper.
func (b *Backend) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := b.queue(queue, false)
	if q == nil {
		return nil, nil
	}
	q.lock()
	defer q.mu.Unlock()
	out := make([]backend.ScheduleRecord, 0, len(q.schedules))
	for _, r := range q.schedules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b backend.ScheduleRecord) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
