package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// schedulesBroken are the broken backends of the schedules a queue keeps
// (backend.ScheduleKeeper).
func schedulesBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"schedule-tick-moves-back", "Schedules/LastTickOnlyForward", func() backend.Backend { return newBackwardTime(mem(), false) }},
		{"schedule-seen-moves-back", "Schedules/SeenOnlyForward", func() backend.Backend { return newBackwardTime(mem(), true) }},
		{"schedule-survives-purge", "Schedules/PurgeForgets, Schedules/OwnQueueOnly", func() backend.Backend { return purgeKeepsSchedules{mem()} }},
		{"schedule-remove-ignored", "Schedules/RemoveForgetsOne, Schedules/RepeatChangesNothing", func() backend.Backend { return removeIgnored{mem()} }},
		{"schedule-remove-all", "Schedules/RemoveForgetsOne, Schedules/RepeatChangesNothing", func() backend.Backend { return removeAll{mem()} }},
		{"schedule-remove-keeps-times", "Schedules/RemoveForgetsOne", func() backend.Backend { return &removeKeepsTimes{Backend: mem()} }},
	}
}

// scheduleRef is a schedule by queue and name.
type scheduleRef struct{ queue, name string }

// backwardTime breaks "the last tick never moves back" (or, with seen,
// "the seen time never moves back"): each time given becomes the
// recorded one, earlier or not.
type backwardTime struct {
	*memory.Backend
	seen bool
	mu   sync.Mutex
	last map[scheduleRef]time.Time
}

func newBackwardTime(b *memory.Backend, seen bool) *backwardTime {
	return &backwardTime{Backend: b, seen: seen, last: map[scheduleRef]time.Time{}}
}

// field returns the time of r that b breaks.
func (b *backwardTime) field(r *backend.ScheduleRecord) *time.Time {
	if b.seen {
		return &r.Seen
	}
	return &r.LastTick
}

func (b *backwardTime) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	t := p.Tick
	if b.seen {
		t = p.Seen
	}
	if err := b.Backend.MarkSchedule(ctx, p); err != nil || t.IsZero() {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last[scheduleRef{p.Queue, p.Name}] = time.UnixMilli(t.UnixMilli())
	return nil
}

func (b *backwardTime) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	recs, err := b.Backend.Schedules(ctx, queue)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range recs {
		if t, ok := b.last[scheduleRef{queue, r.Name}]; ok {
			*b.field(&recs[i]) = t
		}
	}
	return recs, err
}

func (b *backwardTime) RemoveSchedule(ctx context.Context, queue, name string) error {
	err := b.Backend.RemoveSchedule(ctx, queue, name)
	if err == nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.last, scheduleRef{queue, name})
	}
	return err
}

func (b *backwardTime) Purge(ctx context.Context, p backend.PurgeParams) error {
	err := b.Backend.Purge(ctx, p)
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.last {
		if k.queue == p.Queue {
			delete(b.last, k)
		}
	}
	return err
}

// purgeKeepsSchedules breaks "Purge forgets a queue's schedules".
type purgeKeepsSchedules struct{ *memory.Backend }

func (b purgeKeepsSchedules) Purge(ctx context.Context, p backend.PurgeParams) error {
	recs, _ := b.Backend.Schedules(ctx, p.Queue)
	if err := b.Backend.Purge(ctx, p); err != nil {
		return err
	}
	for _, r := range recs {
		_ = b.Backend.MarkSchedule(ctx, backend.MarkScheduleParams{Queue: p.Queue, Name: r.Name, Definition: r.Definition, Tick: r.LastTick, Seen: r.Seen})
	}
	return nil
}

// removeIgnored breaks "RemoveSchedule forgets the schedule": it checks
// its input and removes nothing.
type removeIgnored struct{ *memory.Backend }

func (b removeIgnored) RemoveSchedule(ctx context.Context, queue, name string) error {
	if err := backend.ValidateScheduleRef(queue, name); err != nil {
		return err
	}
	return ctx.Err()
}

// removeAll breaks "RemoveSchedule forgets that schedule and nothing
// else": it forgets every schedule of the queue.
type removeAll struct{ *memory.Backend }

func (b removeAll) RemoveSchedule(ctx context.Context, queue, name string) error {
	if err := b.Backend.RemoveSchedule(ctx, queue, name); err != nil {
		return err
	}
	recs, _ := b.Backend.Schedules(ctx, queue)
	for _, r := range recs {
		_ = b.Backend.RemoveSchedule(ctx, queue, r.Name)
	}
	return nil
}

// removeKeepsTimes breaks "RemoveSchedule forgets all of the record": it
// forgets the definition but keeps the last tick and the seen time, which
// then hold back those of the schedule's next record.
type removeKeepsTimes struct {
	*memory.Backend
	mu   sync.Mutex
	kept map[scheduleRef]backend.ScheduleRecord
}

func (b *removeKeepsTimes) RemoveSchedule(ctx context.Context, queue, name string) error {
	recs, _ := b.Backend.Schedules(ctx, queue)
	if err := b.Backend.RemoveSchedule(ctx, queue, name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		if r.Name == name {
			if b.kept == nil {
				b.kept = map[scheduleRef]backend.ScheduleRecord{}
			}
			b.kept[scheduleRef{queue, name}] = r
		}
	}
	return nil
}

func (b *removeKeepsTimes) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	if err := b.Backend.MarkSchedule(ctx, p); err != nil {
		return err
	}
	b.mu.Lock()
	r, ok := b.kept[scheduleRef{p.Queue, p.Name}]
	delete(b.kept, scheduleRef{p.Queue, p.Name})
	b.mu.Unlock()
	if ok {
		// The times only move forward: the kept ones win over earlier
		// new ones.
		return b.Backend.MarkSchedule(ctx, backend.MarkScheduleParams{Queue: p.Queue, Name: p.Name, Definition: p.Definition, Tick: r.LastTick, Seen: r.Seen})
	}
	return nil
}
