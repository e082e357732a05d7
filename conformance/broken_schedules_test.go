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
		{"schedule-tick-moves-back", "Schedules/LastTickOnlyForward", func() backend.Backend { return &backwardTick{Backend: mem()} }},
		{"schedule-survives-purge", "Schedules/PurgeForgets, Schedules/OwnQueueOnly", func() backend.Backend { return purgeKeepsSchedules{mem()} }},
	}
}

// backwardTick breaks "the last tick never moves back": each tick given
// becomes the last, earlier or not.
type backwardTick struct {
	*memory.Backend
	mu   sync.Mutex
	last map[[2]string]backend.MarkScheduleParams // by queue and name
}

func (b *backwardTick) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	if err := b.Backend.MarkSchedule(ctx, p); err != nil || p.Tick.IsZero() {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		b.last = map[[2]string]backend.MarkScheduleParams{}
	}
	p.Tick = time.UnixMilli(p.Tick.UnixMilli())
	b.last[[2]string{p.Queue, p.Name}] = p
	return nil
}

func (b *backwardTick) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	recs, err := b.Backend.Schedules(ctx, queue)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range recs {
		if p, ok := b.last[[2]string{queue, r.Name}]; ok {
			recs[i].LastTick = p.Tick
		}
	}
	return recs, err
}

func (b *backwardTick) Purge(ctx context.Context, p backend.PurgeParams) error {
	err := b.Backend.Purge(ctx, p)
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.last {
		if k[0] == p.Queue {
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
		_ = b.Backend.MarkSchedule(ctx, backend.MarkScheduleParams{Queue: p.Queue, Name: r.Name, Definition: r.Definition, Tick: r.LastTick})
	}
	return nil
}
