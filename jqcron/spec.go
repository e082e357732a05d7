package jqcron

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jobqueue-go/jobqueue"
)

// A schedule's spec says when it ticks. It is either a cron spec, read by
// github.com/robfig/cron/v3 (five fields, minute to day of week, or six
// with seconds first, or a descriptor such as @daily), whose ticks are
// wall-clock times in the schedule's time zone, or "@every <duration>", a
// fixed interval whose ticks are the multiples of the interval since the
// Unix epoch, whatever the time zone. Both are computed from the spec
// alone, never from when a process started, so every process that runs
// the schedule computes the same ticks: that is what lets them agree on
// one job per tick.

// cronParser reads cron specs: an optional seconds field, then the five
// standard fields, or a descriptor.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// tickSpec computes a schedule's ticks.
type tickSpec interface {
	// next returns the first tick strictly after t, or the zero time
	// when there is none (a cron spec that matches no date within five
	// years of t).
	next(t time.Time) time.Time
	// prev returns the last tick at or before t, or the zero time when
	// there is none after floor.
	prev(t, floor time.Time) time.Time
}

// parseSpec reads spec; loc is the time zone of a cron spec's fields.
func parseSpec(spec string, loc *time.Location) (tickSpec, error) {
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty schedule spec", jobqueue.ErrInvalidArgument)
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, fmt.Errorf("%w: schedule spec %q names its time zone; give the zone with In instead", jobqueue.ErrInvalidArgument, spec)
	case strings.HasPrefix(s, "@every"):
		ds := strings.TrimSpace(strings.TrimPrefix(s, "@every"))
		d, err := time.ParseDuration(ds)
		if err != nil {
			return nil, fmt.Errorf("%w: schedule spec %q: interval %q: %v", jobqueue.ErrInvalidArgument, spec, ds, err)
		}
		if d < time.Millisecond || d%time.Millisecond != 0 {
			return nil, fmt.Errorf("%w: schedule spec %q: interval %v, want a whole number of milliseconds, at least 1ms", jobqueue.ErrInvalidArgument, spec, d)
		}
		return interval(d), nil
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule spec %q: %v", jobqueue.ErrInvalidArgument, spec, err)
	}
	c := cronSpec{sched: sched, loc: loc}
	if c.next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%w: schedule spec %q never ticks", jobqueue.ErrInvalidArgument, spec)
	}
	return c, nil
}

// interval ticks at the multiples of itself since the Unix epoch.
type interval time.Duration

func (d interval) next(t time.Time) time.Time {
	return d.prev(t, time.Time{}).Add(time.Duration(d))
}

func (d interval) prev(t, floor time.Time) time.Time {
	n := t.UnixNano()
	r := n % int64(d)
	if r < 0 {
		r += int64(d)
	}
	p := time.Unix(0, n-r)
	if !p.After(floor) {
		return time.Time{}
	}
	return p
}

// cronSpec ticks as a cron spec says, read in loc.
//
// Daylight saving time, as robfig/cron computes it: a wall-clock time that
// does not exist on the day clocks go forward (02:30 in most of Europe and
// America) does not tick that day, and one that happens twice on the day
// they go back ticks twice, an hour apart. Each is a tick of its own,
// whose UTC time, and so its unique key, differs.
type cronSpec struct {
	sched cron.Schedule
	loc   *time.Location
}

func (c cronSpec) next(t time.Time) time.Time {
	n := c.sched.Next(t.In(c.loc))
	if n.IsZero() {
		return n
	}
	return n.In(time.UTC)
}

// prev searches back from t for a window that holds a tick, doubling it
// from a second, then walks that window forward: the walk covers no more
// ticks than the last window that held none could have, so it is short
// however often the spec ticks.
func (c cronSpec) prev(t, floor time.Time) time.Time {
	for span := time.Second; ; span *= 2 {
		from := t.Add(-span)
		if !floor.IsZero() && from.Before(floor) {
			from = floor
		}
		tick := c.next(from)
		if !tick.IsZero() && !tick.After(t) {
			for {
				n := c.next(tick)
				if n.IsZero() || n.After(t) {
					return tick
				}
				tick = n
			}
		}
		if from.Equal(floor) || span > 6*366*24*time.Hour {
			// robfig/cron looks five years ahead at most, so a spec
			// with no tick in a window of six has none before t.
			return time.Time{}
		}
	}
}
