package backend

import (
	"context"
	"fmt"
	"time"
)

// ScheduleKeeper is an optional capability: a Backend that keeps, per
// queue, the schedules that enqueue jobs on it (jqcron.Scheduler), the
// last tick each of them enqueued and when a scheduler last ran it
// implements it, so that every process that runs the schedule, and the
// command that lists them, read the same record. Callers find it by type
// assertion. Purge forgets a queue's schedules, RemoveSchedule one of
// them; a running scheduler records its schedule again with its next
// tick.
type ScheduleKeeper interface {
	// MarkSchedule records schedule p.Name of p.Queue: its definition
	// becomes p.Definition, its last tick becomes p.Tick when p.Tick is
	// later than the one recorded, and its seen time p.Seen when p.Seen
	// is later than the one recorded (a zero p.Tick or p.Seen records
	// none). The writes are one atomic change, and neither the last tick
	// nor the seen time ever moves back, whatever order the calls of
	// several processes arrive in. A repeat after a lost reply changes
	// nothing more (see "Lost replies and repeated calls"): it takes no
	// request id.
	MarkSchedule(ctx context.Context, p MarkScheduleParams) error
	// Schedules returns the schedules recorded for queue, by name. It
	// changes nothing.
	Schedules(ctx context.Context, queue string) ([]ScheduleRecord, error)
	// RemoveSchedule forgets schedule name of queue, all of its record
	// at once (definition, last tick, seen time), and nothing else: a
	// MarkSchedule after it starts a new record. Removing a schedule that
	// is not recorded changes nothing and is not an error, so a repeat
	// after a lost reply needs no request id. A scheduler that still
	// runs the schedule records it again with its next MarkSchedule.
	RemoveSchedule(ctx context.Context, queue, name string) error
}

// MarkScheduleParams are the inputs of ScheduleKeeper.MarkSchedule.
type MarkScheduleParams struct {
	Queue string
	// Name names the schedule within the queue (ValidateScheduleName).
	Name string
	// Definition is what the schedule is, as its scheduler describes it
	// (spec, time zone, policy); the backend keeps it as it is. 1 to
	// MaxScheduleDefinition bytes of printable ASCII.
	Definition string
	// Tick is the tick just enqueued, or zero. It is kept to the
	// millisecond.
	Tick time.Time
	// Seen is when the scheduler ran the schedule (started it, or
	// enqueued Tick), on the scheduler's clock, or zero. It is kept to
	// the millisecond. It is what tells that a schedule's schedulers all
	// stopped: its seen time falls behind.
	Seen time.Time
}

// ScheduleRecord is one schedule as a ScheduleKeeper keeps it.
type ScheduleRecord struct {
	Name       string
	Definition string
	// LastTick is the latest tick recorded, or zero when none was.
	LastTick time.Time
	// Seen is the latest seen time recorded, or zero when none was.
	Seen time.Time
}

// MaxScheduleName and MaxScheduleDefinition bound a schedule's name and
// definition.
const (
	MaxScheduleName       = 64
	MaxScheduleDefinition = 1024
)

// ValidateScheduleName checks a schedule's name: 1 to MaxScheduleName
// characters from [A-Za-z0-9_.-], so that it can stand in a key, a field
// name or a URL as it is. The error wraps ErrInvalidArgument.
func ValidateScheduleName(name string) error {
	if name == "" || len(name) > MaxScheduleName {
		return fmt.Errorf("%w: schedule name %q, want 1 to %d characters", ErrInvalidArgument, printable(name), MaxScheduleName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: schedule name %q has %s at byte %d, want [A-Za-z0-9_.-]", ErrInvalidArgument, printable(name), describeByte(name, i), i)
		}
	}
	return nil
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p MarkScheduleParams) Validate() error {
	if err := ValidateScheduleRef(p.Queue, p.Name); err != nil {
		return err
	}
	if p.Definition == "" || len(p.Definition) > MaxScheduleDefinition {
		return fmt.Errorf("%w: schedule definition of %d bytes, want 1 to %d", ErrInvalidArgument, len(p.Definition), MaxScheduleDefinition)
	}
	for i := 0; i < len(p.Definition); i++ {
		if c := p.Definition[i]; c < ' ' || c > '~' {
			return fmt.Errorf("%w: schedule definition has %s at byte %d, want printable ASCII", ErrInvalidArgument, describeByte(p.Definition, i), i)
		}
	}
	if !p.Tick.IsZero() && p.Tick.UnixMilli() <= 0 {
		return fmt.Errorf("%w: schedule tick %v, want after 1970", ErrInvalidArgument, p.Tick)
	}
	if !p.Seen.IsZero() && p.Seen.UnixMilli() <= 0 {
		return fmt.Errorf("%w: schedule seen time %v, want after 1970", ErrInvalidArgument, p.Seen)
	}
	return nil
}

// ValidateScheduleRef checks the queue and the name of a schedule; the
// error wraps ErrInvalidQueueName or ErrInvalidArgument.
func ValidateScheduleRef(queue, name string) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	return ValidateScheduleName(name)
}
