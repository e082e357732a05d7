package jqcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// Schedules lists the schedules recorded for q in its store, by name,
// with the last tick enqueued, when a Scheduler was last seen running
// them, and the next ticks as their recorded definitions compute them from
// now: what every process and the command line see, whichever processes
// run them. A schedule stays recorded after the last Scheduler that ran it
// stopped, and then reads as abandoned (ScheduleInfo.Abandoned), until
// RemoveSchedule forgets it or q is purged. A backend that keeps no
// schedules (backend.ScheduleKeeper) returns an error wrapping
// errors.ErrUnsupported.
func Schedules(ctx context.Context, q *jobqueue.Queue) ([]ScheduleInfo, error) {
	if q == nil {
		return nil, fmt.Errorf("%w: nil queue", jobqueue.ErrInvalidArgument)
	}
	keeper, ok := q.Backend().(backend.ScheduleKeeper)
	if !ok {
		return nil, fmt.Errorf("jqcron: %T keeps no schedules: %w", q.Backend(), errors.ErrUnsupported)
	}
	recs, err := storedSchedules(ctx, q, keeper)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ScheduleInfo, len(recs))
	for i, r := range recs {
		out[i] = scheduleInfo(q.Name(), r, now)
	}
	return out, nil
}

// RemoveSchedule forgets the record of schedule name in q's store: its
// definition, last tick and seen time. It is for a schedule that no
// Scheduler runs any more, whose record would otherwise stay listed until
// q is purged. A Scheduler that still runs it records it again as it
// enqueues its next tick, as a new schedule whose ticks before are not
// caught up. Removing a schedule that is not recorded is not an error. A
// backend that keeps no schedules returns an error wrapping
// errors.ErrUnsupported.
func RemoveSchedule(ctx context.Context, q *jobqueue.Queue, name string) error {
	if q == nil {
		return fmt.Errorf("%w: nil queue", jobqueue.ErrInvalidArgument)
	}
	keeper, ok := q.Backend().(backend.ScheduleKeeper)
	if !ok {
		return fmt.Errorf("jqcron: %T keeps no schedules: %w", q.Backend(), errors.ErrUnsupported)
	}
	if err := backend.ValidateScheduleName(name); err != nil {
		return err
	}
	return q.CallBackend(ctx, func() error { return keeper.RemoveSchedule(ctx, q.Name(), name) })
}

// storedSchedules reads the schedules keeper records for q.
func storedSchedules(ctx context.Context, q *jobqueue.Queue, keeper backend.ScheduleKeeper) ([]backend.ScheduleRecord, error) {
	var recs []backend.ScheduleRecord
	err := q.CallBackend(ctx, func() error {
		var err error
		recs, err = keeper.Schedules(ctx, q.Name())
		return err
	})
	return recs, err
}

// scheduleInfo reads a schedule's record as of now.
func scheduleInfo(queue string, r backend.ScheduleRecord, now time.Time) ScheduleInfo {
	info := ScheduleInfo{Queue: queue, Name: r.Name, LastTick: r.LastTick, Seen: r.Seen}
	if r.LastTick.After(info.Seen) {
		info.Seen = r.LastTick
	}
	var def scheduleDef
	if err := json.Unmarshal([]byte(r.Definition), &def); err != nil {
		info.Err = fmt.Errorf("%w: schedule %s: definition %q: %v", jobqueue.ErrInvalidArgument, r.Name, r.Definition, err)
		return info
	}
	info.Spec, info.Location = def.Spec, def.Location
	switch def.Missed {
	case SkipMissed.String():
		info.Policy = SkipMissed
	case RunOnceMissed.String():
		info.Policy = RunOnceMissed
	default:
		info.Err = fmt.Errorf("%w: schedule %s: missed-tick policy %q", jobqueue.ErrInvalidArgument, r.Name, def.Missed)
		return info
	}
	loc, err := time.LoadLocation(def.Location)
	if err != nil {
		info.Err = fmt.Errorf("%w: schedule %s: time zone %q: %v", jobqueue.ErrInvalidArgument, r.Name, def.Location, err)
		return info
	}
	ticks, err := parseSpec(def.Spec, loc)
	if err != nil {
		info.Err = err
		return info
	}
	info.Next = nextTicks(ticks, now, loc, 3)
	if !info.LastTick.IsZero() {
		info.LastTick = info.LastTick.In(loc)
	}
	if !info.Seen.IsZero() {
		info.Seen = info.Seen.In(loc)
		tolerance := time.Duration(def.Tolerance) * time.Millisecond
		if tolerance <= 0 {
			tolerance = maxDefaultTolerance
		}
		info.Abandoned = abandoned(ticks, info.Seen, tolerance, now)
	}
	return info
}

// abandoned reports whether a schedule last seen at seen looks abandoned
// at now: two of its ticks after seen are past by more than a Scheduler
// may take to enqueue a tick and record it (the tolerance, and the time
// an enqueue call may take), plus the default skew between the clock of
// the Scheduler that recorded seen and the reader's. One tick would do
// but for a record in flight, or lost and made good by the next tick's;
// two leave no doubt.
func abandoned(ticks tickSpec, seen time.Time, tolerance time.Duration, now time.Time) bool {
	first := ticks.next(seen)
	if first.IsZero() {
		return false
	}
	second := ticks.next(first)
	return !second.IsZero() && now.After(second.Add(tolerance+tickCallSlack+DefaultMaxClockSkew))
}
