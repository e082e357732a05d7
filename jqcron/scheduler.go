// Package jqcron enqueues jobs on schedules, cron specs or fixed
// intervals, with one job per tick however many processes run the same
// schedules and no leader among them. It is a package of its own, apart
// from jobqueue, so that only the programs that run schedules build its
// cron parser, github.com/robfig/cron/v3.
package jqcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/warnlog"
)

// A Scheduler enqueues jobs on schedules: cron specs or fixed intervals,
// each with a name, a queue, a payload and a time zone.
//
// Every process may run a Scheduler with the same schedules, and there is
// no leader: at each tick every Scheduler enqueues the tick's job with the
// unique key "schedule:<name>@<tick in UTC>" (jobqueue.Unique), so the
// first enqueue stores it and the others are refused as duplicates, which
// is the normal case and not an error. N Schedulers give exactly one job
// per tick, under the assumptions the README states ("Cron schedules"):
// their clocks agree within Options.MaxClockSkew, and every process runs
// the same definition under the same name.
//
//	s, err := jqcron.NewScheduler(jqcron.Options{})
//	err = s.Schedule(q, "nightly-report", "30 2 * * *", Report{},
//		jqcron.In(paris), jqcron.OnMissed(jqcron.RunOnceMissed))
//	err = s.Run(ctx)
//
// A tick's job carries the schedule's name and the tick in its headers
// (ScheduleHeader, TickHeader; see ScheduledTick). A tick is enqueued on
// time when a Scheduler gets to it within the schedule's tolerance
// (Tolerance); a tick that no Scheduler enqueued by then is missed, and
// the schedule's MissedPolicy says what follows. When the queue's backend
// keeps schedules (backend.ScheduleKeeper, as every backend of this module
// does), each schedule's definition, the last tick enqueued and when a
// Scheduler last ran it are recorded there, so that a Scheduler that
// starts after downtime knows which ticks were missed, and Schedules lists
// them for every process, abandoned ones included.
type Scheduler struct {
	log  *slog.Logger
	skew time.Duration
	clk  clock

	mu      sync.Mutex
	entries []*schedEntry
	running bool
}

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	// Logger receives the Scheduler's logs: missed ticks at WARN, ticks
	// that could not be enqueued at ERROR. When nil, the records at WARN
	// and above go to slog.Default(), as a Worker's do.
	Logger *slog.Logger
	// MaxClockSkew is how far apart the clocks of the processes running
	// the same schedules may be; it lengthens each tick's unique window
	// by twice itself. Zero means DefaultMaxClockSkew; at most 1h.
	MaxClockSkew time.Duration
}

// DefaultMaxClockSkew is the MaxClockSkew of Options that leave it
// zero: hosts whose clocks NTP keeps are within milliseconds of each
// other, so 10 s leaves a wide margin.
const DefaultMaxClockSkew = 10 * time.Second

// maxDefaultTolerance bounds the default tolerance of a schedule, and
// stands for the tolerance of a definition that does not record its own.
const maxDefaultTolerance = time.Minute

// tickCallSlack is the part of a tick's unique window that covers the time
// an enqueue call may take to reach the store: the Queue's repeats after
// lost replies (about a second; see jobqueue.WithRetries) and a slow round
// trip.
const tickCallSlack = 30 * time.Second

// The headers of a tick's job.
const (
	// ScheduleHeader names the schedule that enqueued the job.
	ScheduleHeader = "jobqueue.schedule"
	// TickHeader holds the job's tick, in UTC, as time.RFC3339Nano.
	TickHeader = "jobqueue.tick"
)

// MissedPolicy says what a schedule does about ticks that no Scheduler
// enqueued within the schedule's tolerance: all Schedulers were down,
// stalled, or cut off from the store.
type MissedPolicy int

const (
	// SkipMissed, the default, enqueues nothing for missed ticks: the
	// schedule goes on with its next tick.
	SkipMissed MissedPolicy = iota
	// RunOnceMissed enqueues one job for a run of missed ticks, as soon
	// as a Scheduler finds them missed: the job of the latest of them,
	// unless the store records that tick, or a later one, as enqueued.
	// After downtime, the store's record of the last tick enqueued is
	// what tells a Scheduler that starts that ticks were missed: on a
	// backend that keeps no schedules, a Scheduler that starts catches
	// up nothing.
	RunOnceMissed
)

// String returns "skip" or "run-once".
func (p MissedPolicy) String() string {
	switch p {
	case SkipMissed:
		return "skip"
	case RunOnceMissed:
		return "run-once"
	}
	return fmt.Sprintf("MissedPolicy(%d)", int(p))
}

// ScheduleOption sets an option of one schedule (Scheduler.Schedule).
type ScheduleOption func(*scheduleConfig) error

type scheduleConfig struct {
	loc       *time.Location
	missed    MissedPolicy
	tolerance time.Duration
	enqueue   []jobqueue.EnqueueOption
}

// In sets the time zone of a cron spec's fields; the default is
// UTC, not the host's zone, so that every process reads the spec alike. An
// @every interval ignores it. See the README for what daylight saving time
// does to a spec.
func In(loc *time.Location) ScheduleOption {
	return func(c *scheduleConfig) error {
		if loc == nil {
			return fmt.Errorf("%w: nil time zone", jobqueue.ErrInvalidArgument)
		}
		c.loc = loc
		return nil
	}
}

// OnMissed sets the schedule's MissedPolicy; the default is SkipMissed.
func OnMissed(p MissedPolicy) ScheduleOption {
	return func(c *scheduleConfig) error {
		if p != SkipMissed && p != RunOnceMissed {
			return fmt.Errorf("%w: missed-tick policy %v", jobqueue.ErrInvalidArgument, p)
		}
		c.missed = p
		return nil
	}
}

// Tolerance sets how late a Scheduler may enqueue a tick on time:
// a tick that no Scheduler enqueued within d of its time is missed. The
// default is the schedule's period (the time between its next two ticks
// as it is added), but at least 1 s and at most 1 min. It lengthens the
// tick's unique window by itself.
func Tolerance(d time.Duration) ScheduleOption {
	return func(c *scheduleConfig) error {
		if d <= 0 || d > time.Hour {
			return fmt.Errorf("%w: schedule tolerance %v, want more than zero and at most 1h", jobqueue.ErrInvalidArgument, d)
		}
		c.tolerance = d
		return nil
	}
}

// JobOptions sets options of every job the schedule enqueues (jobqueue's
// Kind, Priority, MaxAttempts, Timeout, Headers, Delay, ExpiresIn). WithID,
// At and ExpiresAt name one job or one time and are refused (see
// jobqueue.CheckRecurringOptions); Unique is the Scheduler's own.
func JobOptions(opts ...jobqueue.EnqueueOption) ScheduleOption {
	return func(c *scheduleConfig) error {
		c.enqueue = append(c.enqueue, opts...)
		return nil
	}
}

// ScheduleInfo describes one schedule.
type ScheduleInfo struct {
	Queue string
	Name  string
	// Spec is the schedule's spec as it was given.
	Spec string
	// Location is the name of the time zone of its cron fields.
	Location string
	// Policy is what the schedule does about missed ticks.
	Policy MissedPolicy
	// LastTick is the latest tick enqueued: as the store records it, read
	// from Schedules; as this Scheduler enqueued it, or found it enqueued,
	// read from Scheduler.Schedules. Zero when none is known.
	LastTick time.Time
	// Seen, read from Schedules (zero from Scheduler.Schedules), is the
	// last time a Scheduler recorded the schedule in the store, on that
	// Scheduler's clock: as it started, and as it enqueued a tick. A
	// tick's record counts too, for the records of versions that kept no
	// seen time. Zero when the store says neither.
	Seen time.Time
	// Abandoned, read from Schedules (false from Scheduler.Schedules),
	// says that no Scheduler has recorded the schedule for two of its
	// ticks past their tolerance: every Scheduler that ran it stopped,
	// or none could enqueue its ticks (see the Schedulers' logs). Its
	// record stays until the queue is purged or RemoveSchedule forgets
	// it; a Scheduler that runs it again records it as it starts.
	Abandoned bool
	// Next holds the schedule's next ticks, up to three, in Location.
	Next []time.Time
	// Err says why a schedule read from the store could not be read (a
	// definition from another version); its other fields are then what
	// could be.
	Err error

	// The counts of this Scheduler, since Run started (zero from
	// Schedules): ticks it enqueued, ticks it found enqueued by
	// another Scheduler, ticks it found missed, and ticks it could not
	// enqueue (an error other than unavailability).
	Enqueued, Duplicates, Missed, Failed int64
}

// scheduleDef is the definition a schedule records in the store.
type scheduleDef struct {
	Spec     string `json:"spec"`
	Location string `json:"tz"`
	Missed   string `json:"missed"`
	// Tolerance is the schedule's tolerance in ms, which tells a reader
	// how late a tick may be recorded. Zero in the definitions of
	// versions that did not record it.
	Tolerance int64 `json:"tolerance_ms,omitempty"`
}

// schedEntry is one schedule of a Scheduler.
type schedEntry struct {
	q       *jobqueue.Queue
	keeper  backend.ScheduleKeeper // nil when the queue's backend keeps no schedules
	name    string
	spec    string
	ticks   tickSpec
	cfg     scheduleConfig
	def     string // the JSON of scheduleDef
	window  time.Duration
	payload json.RawMessage
	opts    []jobqueue.EnqueueOption

	// handled is the latest tick this Scheduler is done with (enqueued,
	// found enqueued, missed or failed); only the entry's goroutine
	// writes it, under Scheduler.mu, as it does lastTick.
	handled  time.Time
	lastTick time.Time

	enqueued, duplicates, missed, failed atomic.Int64
}

// NewScheduler returns a Scheduler with no schedules.
func NewScheduler(opts Options) (*Scheduler, error) {
	if opts.MaxClockSkew < 0 || opts.MaxClockSkew > time.Hour {
		return nil, fmt.Errorf("%w: max clock skew %v, want 0 to 1h", jobqueue.ErrInvalidArgument, opts.MaxClockSkew)
	}
	s := &Scheduler{log: opts.Logger, skew: opts.MaxClockSkew, clk: realClock{}}
	if s.skew == 0 {
		s.skew = DefaultMaxClockSkew
	}
	if s.log == nil {
		s.log = warnlog.New()
	}
	return s, nil
}

// Schedule adds a schedule named name that enqueues payload on q at each
// tick of spec: a cron spec, read by github.com/robfig/cron/v3, in the
// schedule's zone ("*/5 * * * *", "0 30 2 * * *" with seconds first,
// "@hourly"), or "@every <duration>", which ticks at the multiples of the
// duration since the Unix epoch, to the millisecond. The name
// identifies the schedule across processes: 1 to 64 characters from
// [A-Za-z0-9_.-], once per queue in a Scheduler. The payload is encoded
// once, now, as Queue.Enqueue would (Queue.EncodePayload); a payload that
// names its kind (jobqueue.JobArgs) gives every job that kind. Schedules are added before Run.
func (s *Scheduler) Schedule(q *jobqueue.Queue, name, spec string, payload any, opts ...ScheduleOption) error {
	if q == nil {
		return fmt.Errorf("%w: nil queue", jobqueue.ErrInvalidArgument)
	}
	if err := backend.ValidateScheduleName(name); err != nil {
		return err
	}
	cfg := scheduleConfig{loc: time.UTC}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return fmt.Errorf("schedule %s: %w", name, err)
		}
	}
	ticks, err := parseSpec(spec, cfg.loc)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	body, err := q.EncodePayload(payload)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	var jobOpts []jobqueue.EnqueueOption
	if a, ok := payload.(jobqueue.JobArgs); ok {
		jobOpts = append(jobOpts, jobqueue.Kind(a.Kind()))
	}
	jobOpts = append(jobOpts, cfg.enqueue...)
	if err := jobqueue.CheckRecurringOptions(jobOpts...); err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	if cfg.tolerance == 0 {
		first := ticks.next(s.clk.Now())
		cfg.tolerance = min(max(ticks.next(first).Sub(first), time.Second), maxDefaultTolerance)
	}
	def, err := json.Marshal(scheduleDef{Spec: spec, Location: cfg.loc.String(), Missed: cfg.missed.String(), Tolerance: cfg.tolerance.Milliseconds()})
	if err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	if err := (backend.MarkScheduleParams{Queue: q.Name(), Name: name, Definition: string(def)}).Validate(); err != nil {
		return fmt.Errorf("schedule %s: %w", name, err)
	}
	keeper, _ := q.Backend().(backend.ScheduleKeeper)
	e := &schedEntry{
		q: q, keeper: keeper, name: name, spec: spec, ticks: ticks, cfg: cfg, def: string(def),
		window:  tickWindow(cfg.tolerance, s.skew),
		payload: body, opts: jobOpts,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("%w: schedule %s: the Scheduler is running; add schedules before Run", jobqueue.ErrInvalidArgument, name)
	}
	for _, o := range s.entries {
		if o.q.Name() == q.Name() && o.name == name {
			return fmt.Errorf("%w: schedule %s of queue %s added twice", jobqueue.ErrInvalidArgument, name, q.Name())
		}
	}
	s.entries = append(s.entries, e)
	return nil
}

// tickWindow is how long a tick's unique key is held. Every Scheduler
// starts its enqueue of a tick when its own clock reads between the tick
// and the tick plus the tolerance, so on a clock that is right the
// attempts start within tolerance + 2·skew of each other; the call slack
// covers their time on the way to the store. The key is first taken no
// earlier than the first attempt, so a window of that sum holds it until
// the last attempt has been refused.
func tickWindow(tolerance, skew time.Duration) time.Duration {
	return tolerance + 2*skew + tickCallSlack
}

// tickKey is the unique key of the job of tick t of schedule name.
func tickKey(name string, t time.Time) string {
	return "schedule:" + name + "@" + t.UTC().Format(time.RFC3339Nano)
}

// ScheduledTick returns the schedule and the tick of a job a Scheduler
// enqueued, from its headers; ok is false for any other job.
func ScheduledTick(j *jobqueue.Job) (name string, tick time.Time, ok bool) {
	if j == nil {
		return "", time.Time{}, false
	}
	name, tickText := j.Headers[ScheduleHeader], j.Headers[TickHeader]
	tick, err := time.Parse(time.RFC3339Nano, tickText)
	if name == "" || err != nil {
		return "", time.Time{}, false
	}
	return name, tick, true
}

// Run enqueues the jobs of every schedule at its ticks until ctx is
// cancelled, then returns nil. A store that is unavailable never ends it:
// each schedule tries again until its tick is missed. A Scheduler runs
// once, with the schedules added before: a second Run returns an error
// wrapping jobqueue.ErrInvalidArgument.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("%w: the Scheduler already ran", jobqueue.ErrInvalidArgument)
	}
	s.running = true
	entries := s.entries
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() { s.runEntry(ctx, e) })
	}
	wg.Wait()
	return nil
}

// Schedules describes the schedules of the Scheduler, in the order they
// were added, with what this Scheduler did since Run started.
func (s *Scheduler) Schedules() []ScheduleInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	out := make([]ScheduleInfo, len(s.entries))
	for i, e := range s.entries {
		out[i] = ScheduleInfo{
			Queue: e.q.Name(), Name: e.name, Spec: e.spec, Location: e.cfg.loc.String(), Policy: e.cfg.missed,
			LastTick: e.lastTick, Next: nextTicks(e.ticks, now, e.cfg.loc, 3),
			Enqueued: e.enqueued.Load(), Duplicates: e.duplicates.Load(), Missed: e.missed.Load(), Failed: e.failed.Load(),
		}
	}
	return out
}

// nextTicks returns up to n ticks after now, in loc.
func nextTicks(ticks tickSpec, now time.Time, loc *time.Location, n int) []time.Time {
	var out []time.Time
	for t := ticks.next(now); !t.IsZero() && len(out) < n; t = ticks.next(t) {
		out = append(out, t.In(loc))
	}
	return out
}

// runEntry runs one schedule until ctx ends.
func (s *Scheduler) runEntry(ctx context.Context, e *schedEntry) {
	if e.keeper != nil {
		// Recorded now, so the schedule is listed, and seen, before its
		// first tick.
		p := backend.MarkScheduleParams{Queue: e.q.Name(), Name: e.name, Definition: e.def, Seen: s.clk.Now()}
		if err := e.q.CallBackend(ctx, func() error { return e.keeper.MarkSchedule(ctx, p) }); err != nil && ctx.Err() == nil {
			s.log.Warn("jqcron: schedule not recorded", "queue", e.q.Name(), "schedule", e.name, "err", err)
		}
	}
	// Ticks up to the last one the store records as enqueued are done;
	// with none recorded (a new schedule, a backend that keeps none, a
	// store that does not answer), those older than the tolerance are
	// not this schedule's to catch up.
	start := s.clk.Now()
	handled := start.Add(-e.cfg.tolerance - 1)
	if last, err := e.storedLastTick(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("jqcron: schedule's last tick not read; ticks missed before this start are not caught up", "queue", e.q.Name(), "schedule", e.name, "err", err)
	} else if !last.IsZero() {
		handled = last
	}
	s.setHandled(e, handled, time.Time{})
	var retry time.Duration
	for {
		now := s.clk.Now()
		wait := time.Duration(0)
		if done := s.tick(ctx, e, now); !done {
			// The store is unavailable: try again soon, while the
			// tick may still be on time.
			retry = min(max(2*retry, 50*time.Millisecond), time.Second)
			wait = retry
		} else {
			retry = 0
			s.mu.Lock()
			next := e.ticks.next(e.handled)
			s.mu.Unlock()
			if next.IsZero() {
				return
			}
			wait = next.Sub(now)
		}
		if ctx.Err() != nil {
			return
		}
		if wait <= 0 {
			continue
		}
		c, stop := s.clk.timer(wait)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-c:
		}
	}
}

// tick enqueues what is due of e at now: the job of the latest missed
// tick when the policy asks for it, then each tick that is on time. It
// returns false when the store was unavailable, having done what it could
// before.
func (s *Scheduler) tick(ctx context.Context, e *schedEntry, now time.Time) bool {
	s.mu.Lock()
	handled := e.handled
	s.mu.Unlock()
	cutoff := now.Add(-e.cfg.tolerance)
	// Missed: the ticks after handled and before cutoff.
	if p := e.ticks.prev(cutoff.Add(-1), handled); !p.IsZero() {
		n := int64(0)
		for t := e.ticks.next(handled); !t.IsZero() && !t.After(p) && n < maxCountedMissed; t = e.ticks.next(t) {
			n++
		}
		enqueue := e.cfg.missed == RunOnceMissed
		if enqueue && e.keeper != nil {
			last, err := e.storedLastTick(ctx)
			if err != nil {
				return false
			}
			enqueue = last.Before(p)
		}
		if enqueue {
			if !s.enqueue(ctx, e, p) {
				return false
			}
		}
		e.missed.Add(n)
		s.log.Warn("jqcron: schedule missed ticks", "queue", e.q.Name(), "schedule", e.name,
			"ticks", n, "first", e.ticks.next(handled), "last", p, "policy", e.cfg.missed.String(), "caught_up", enqueue)
		handled = p
		s.setHandled(e, handled, time.Time{})
	}
	from := handled
	if from.Before(cutoff) {
		from = cutoff.Add(-1)
	}
	for t := e.ticks.next(from); !t.IsZero() && !t.After(now); t = e.ticks.next(t) {
		if !s.enqueue(ctx, e, t) {
			return false
		}
		s.setHandled(e, t, time.Time{})
	}
	return true
}

// maxCountedMissed bounds the count of one run of missed ticks, which a
// spec that ticks every second could make long to count.
const maxCountedMissed = 1 << 20

// setHandled records that e is done with ticks up to t, and that tick was
// enqueued (by this Scheduler or another) when last is set.
func (s *Scheduler) setHandled(e *schedEntry, t, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(e.handled) {
		e.handled = t
	}
	if last.After(e.lastTick) {
		e.lastTick = last
	}
}

// storedLastTick reads the last tick the store records for e; zero when
// the backend keeps no schedules.
func (e *schedEntry) storedLastTick(ctx context.Context) (time.Time, error) {
	if e.keeper == nil {
		return time.Time{}, nil
	}
	recs, err := storedSchedules(ctx, e.q, e.keeper)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range recs {
		if r.Name == e.name {
			return r.LastTick, nil
		}
	}
	return time.Time{}, nil
}

// enqueue enqueues the job of tick t of e, and returns false when the
// store was unavailable (or ctx ended) and the tick should be tried again.
// A duplicate is the tick's job enqueued by another Scheduler; any other
// error drops the tick, logged.
func (s *Scheduler) enqueue(ctx context.Context, e *schedEntry, t time.Time) bool {
	opts := append(e.opts[:len(e.opts):len(e.opts)],
		jobqueue.Unique(tickKey(e.name, t), e.window),
		jobqueue.Headers(map[string]string{ScheduleHeader: e.name, TickHeader: t.UTC().Format(time.RFC3339Nano)}))
	id, err := e.q.Enqueue(ctx, e.payload, opts...)
	if errors.Is(err, jobqueue.ErrNotDurable) {
		// Stored, though not confirmed on the replicas of a durable
		// queue (WithDurability): the tick is enqueued.
		s.log.Warn("jobqueue: schedule's tick enqueued but not confirmed durable", "queue", e.q.Name(), "schedule", e.name, "tick", t, "job", id, "err", err)
		err = nil
	}
	switch {
	case err == nil:
		e.enqueued.Add(1)
		s.setHandled(e, t, t)
		if e.keeper != nil {
			// Best effort: a record that fails here is made good by the
			// next tick's, since the last tick only moves forward. The
			// Scheduler that enqueued the tick is the one seen: the
			// others found it a duplicate and need not write.
			p := backend.MarkScheduleParams{Queue: e.q.Name(), Name: e.name, Definition: e.def, Tick: t, Seen: s.clk.Now()}
			if err := e.q.CallBackend(ctx, func() error { return e.keeper.MarkSchedule(ctx, p) }); err != nil && ctx.Err() == nil {
				s.log.Warn("jqcron: schedule's tick not recorded", "queue", e.q.Name(), "schedule", e.name, "tick", t, "job", id, "err", err)
			}
		}
	case errors.Is(err, jobqueue.ErrDuplicate):
		e.duplicates.Add(1)
		s.setHandled(e, t, t)
	case ctx.Err() != nil || errors.Is(err, jobqueue.ErrUnavailable):
		return false
	default:
		e.failed.Add(1)
		s.log.Error("jqcron: schedule's tick not enqueued", "queue", e.q.Name(), "schedule", e.name, "tick", t, "err", err)
	}
	return true
}

// clock is the time a Scheduler goes by: the real one, or a test's.
type clock interface {
	Now() time.Time
	// timer returns a channel that receives once d has passed, and a
	// function that stops it.
	timer(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
