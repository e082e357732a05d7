package jqcron

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestParseSpecRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{
		"", "   ", "* * *", "61 * * * *", "* * * * * * *", "0 0 30 2 *", "@fortnightly",
		"TZ=Europe/Paris 0 3 * * *", "CRON_TZ=UTC 0 3 * * *",
		"@every", "@every soon", "@every 0s", "@every -1s", "@every 1500us",
	} {
		_, err := parseSpec(spec, time.UTC)
		assert.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "spec %q", spec)
	}
	for _, spec := range []string{"*/5 * * * *", "0 30 2 * * *", "@hourly", "@daily", "@every 150ms", "@every 1h30m", "0 9 * * mon-fri"} {
		_, err := parseSpec(spec, time.UTC)
		assert.NoError(t, err, "spec %q", spec)
	}
}

func TestIntervalTicksAreMultiplesSinceTheEpoch(t *testing.T) {
	ts, err := parseSpec("@every 150ms", time.UTC)
	require.NoError(t, err)
	const base = 999_999_999_900 // ms, a multiple of 150
	at := time.UnixMilli(base + 10)
	assert.Equal(t, time.UnixMilli(base+150), ts.next(at))
	assert.Equal(t, time.UnixMilli(base+150), ts.next(time.UnixMilli(base)), "next is strictly after")
	assert.Equal(t, time.UnixMilli(base), ts.prev(at, time.Time{}))
	assert.Equal(t, time.UnixMilli(base+150), ts.prev(time.UnixMilli(base+150), time.Time{}), "prev includes t")
	assert.True(t, ts.prev(at, time.UnixMilli(base)).IsZero(), "prev stops at its floor, exclusive")
	// The zone changes nothing for an interval.
	paris, err := parseSpec("@every 150ms", mustLoc(t, "Europe/Paris"))
	require.NoError(t, err)
	assert.Equal(t, ts.next(at), paris.next(at.In(mustLoc(t, "Asia/Kolkata"))))
}

func TestCronTicksInTheirTimeZone(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	ts, err := parseSpec("30 2 * * *", paris)
	require.NoError(t, err)
	// 02:30 in Paris is 01:30 UTC in winter, 00:30 UTC in summer.
	assert.Equal(t, time.Date(2026, 1, 10, 1, 30, 0, 0, time.UTC), ts.next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, time.Date(2026, 7, 10, 0, 30, 0, 0, time.UTC), ts.next(time.Date(2026, 7, 10, 0, 0, 0, 0, time.UTC)))
	utc, err := parseSpec("30 2 * * *", time.UTC)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 1, 10, 2, 30, 0, 0, time.UTC), utc.next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)))

	// Daylight saving time: 02:30 does not exist on 29 March 2026 in
	// Paris, and happens twice on 25 October.
	assert.Equal(t, []time.Time{
		time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 30, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 31, 0, 30, 0, 0, time.UTC),
	}, nextTicks(ts, time.Date(2026, 3, 28, 0, 0, 0, 0, paris), time.UTC, 3), "the day clocks go forward has no 02:30")
	got := nextTicks(ts, time.Date(2026, 10, 24, 12, 0, 0, 0, paris), time.UTC, 3)
	assert.Equal(t, []time.Time{
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC),
	}, got, "the day clocks go back has 02:30 twice, two ticks with two keys")
	assert.NotEqual(t, tickKey("n", got[0]), tickKey("n", got[1]))
}

// TestCronPrevMatchesAWalk checks prev, the latest tick at or before t,
// against a walk with next, for specs sparse and dense.
func TestCronPrevMatchesAWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, spec := range []string{"* * * * * *", "*/7 * * * *", "0 3 * * *", "0 0 * * 1", "15 4 * * mon", "@every 90s"} {
		ts, err := parseSpec(spec, mustLoc(t, "America/New_York"))
		require.NoError(t, err)
		for range 20 {
			at := base.Add(time.Duration(rng.Int64N(int64(300 * 24 * time.Hour))))
			// The walk is the slow part: a floor a few days back keeps
			// it short for the spec that ticks every second.
			floor := at.Add(-time.Duration(rng.Int64N(int64(3 * 24 * time.Hour))))
			var want time.Time
			for x := ts.next(floor); !x.After(at); x = ts.next(x) {
				want = x
			}
			got := ts.prev(at, floor)
			assert.True(t, want.Equal(got), "%s: prev(%v, %v) = %v, want %v", spec, at, floor, got, want)
			if !want.IsZero() {
				assert.True(t, want.Equal(ts.prev(at, time.Time{})), "%s: prev(%v) without a floor", spec, at)
			}
		}
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, timers: make(map[*fakeTimer]struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers[ft] = struct{}{}
	return ft.c, func() {
		c.mu.Lock()
		delete(c.timers, ft)
		c.mu.Unlock()
	}
}

// advance moves the clock by d and fires the timers due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for ft := range c.timers {
		if !ft.at.After(c.now) {
			ft.c <- c.now
			delete(c.timers, ft)
		}
	}
}

// waitTimers waits until n timers are set and none is due: every
// schedule goroutine is done with the present and waits for a tick.
func (c *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.timers) == n
	}, 10*time.Second, time.Millisecond, "waiting for %d timers", n)
}

// runScheduler starts s and returns a function that stops it and waits
// for Run to return.
func runScheduler(t *testing.T, s *Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

func newTestScheduler(t *testing.T, clk clock) *Scheduler {
	t.Helper()
	s, err := NewScheduler(Options{})
	require.NoError(t, err)
	s.clk = clk
	return s
}

// tickJobs claims every job of q and returns their ticks, sorted, checking
// each names schedule name.
func tickJobs(t *testing.T, q *jobqueue.Queue, name string) []time.Time {
	t.Helper()
	var ticks []time.Time
	for {
		jobs, err := q.Claim(context.Background(), 100, 0)
		require.NoError(t, err)
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			n, tick, ok := ScheduledTick(j)
			require.True(t, ok, "job %s has no tick", j.ID)
			assert.Equal(t, name, n)
			ticks = append(ticks, tick)
			require.NoError(t, j.Complete(context.Background(), nil))
		}
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Before(ticks[j]) })
	return ticks
}

func everyTick(first time.Time, d time.Duration, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.Add(time.Duration(i) * d).UTC()
	}
	return out
}

// TestThreeSchedulersOneJobPerTick runs three Schedulers of one schedule
// on one store, on a clock the test moves a tick at a time: 60 ticks give
// exactly 60 jobs, one per tick, and each Scheduler saw every tick, either
// enqueuing it or finding it enqueued.
func TestThreeSchedulersOneJobPerTick(t *testing.T) {
	b := memory.New()
	q, err := jobqueue.New(b, "cron3")
	require.NoError(t, err)
	start := time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
	clk := newFakeClock(start)
	var ss []*Scheduler
	for range 3 {
		s := newTestScheduler(t, clk)
		require.NoError(t, s.Schedule(q, "beat", "@every 1s", map[string]int{"n": 1}))
		runScheduler(t, s)
		ss = append(ss, s)
	}
	clk.waitTimers(t, 3)
	// The tick of 12:00:00 is within the tolerance (1 s) as they start:
	// on time. 59 more follow.
	for range 59 {
		clk.advance(time.Second)
		clk.waitTimers(t, 3)
	}
	first := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, everyTick(first, time.Second, 60), tickJobs(t, q, "beat"))
	var enq, dup int64
	for _, s := range ss {
		info := s.Schedules()[0]
		enq += info.Enqueued
		dup += info.Duplicates
		assert.Zero(t, info.Missed+info.Failed)
		assert.Equal(t, first.Add(59*time.Second), info.LastTick.UTC())
	}
	assert.EqualValues(t, 60, enq)
	// A Scheduler that read the store's last tick, 12:00:00, as it
	// started had nothing to try for that tick.
	assert.True(t, dup >= 118 && dup <= 120, "%d duplicates", dup)

	recs, err := Schedules(context.Background(), q)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "beat", recs[0].Name)
	assert.Equal(t, "@every 1s", recs[0].Spec)
	assert.Equal(t, first.Add(59*time.Second), recs[0].LastTick.UTC())
	require.NoError(t, recs[0].Err)
}

// TestMissedTicks stops a schedule for ten ticks and starts it again, on
// each policy: SkipMissed enqueues none of them, RunOnceMissed one, the
// latest, and only once however many Schedulers start.
func TestMissedTicks(t *testing.T) {
	for _, policy := range []MissedPolicy{SkipMissed, RunOnceMissed} {
		t.Run(policy.String(), func(t *testing.T) {
			b := memory.New()
			q, err := jobqueue.New(b, "missed")
			require.NoError(t, err)
			start := time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
			clk := newFakeClock(start)
			opts := []ScheduleOption{OnMissed(policy), Tolerance(1500 * time.Millisecond)}
			s := newTestScheduler(t, clk)
			require.NoError(t, s.Schedule(q, "m", "@every 1s", nil, opts...))
			stop := runScheduler(t, s)
			clk.waitTimers(t, 1)
			for range 3 {
				clk.advance(time.Second)
				clk.waitTimers(t, 1)
			}
			stop()
			// Down for ten ticks: 12:00:04 to 12:00:13.
			clk.advance(10 * time.Second)
			var after []*Scheduler
			for range 2 {
				s := newTestScheduler(t, clk)
				require.NoError(t, s.Schedule(q, "m", "@every 1s", nil, opts...))
				runScheduler(t, s)
				after = append(after, s)
			}
			clk.waitTimers(t, 2)
			clk.advance(time.Second)
			clk.waitTimers(t, 2)

			// Starting at 12:00:00.5, the first Scheduler enqueued the
			// ticks within the tolerance, 11:59:59 and 12:00:00, then
			// 12:00:01 to 12:00:03.
			first := time.Date(2026, 5, 1, 11, 59, 59, 0, time.UTC)
			want := everyTick(first, time.Second, 5)
			// The clock reads 12:00:13.5 at the start, so 12:00:12 and
			// 12:00:13 are within the tolerance: on time. 12:00:04 to
			// 12:00:11 are missed.
			if policy == RunOnceMissed {
				want = append(want, time.Date(2026, 5, 1, 12, 0, 11, 0, time.UTC))
			}
			want = append(want, everyTick(time.Date(2026, 5, 1, 12, 0, 12, 0, time.UTC), time.Second, 3)...)
			assert.Equal(t, want, tickJobs(t, q, "m"))
			// A Scheduler that read the store's last tick after the
			// other enqueued 12:00:12 or later found nothing missed.
			var missed []int64
			for _, s := range after {
				missed = append(missed, s.Schedules()[0].Missed)
			}
			assert.Contains(t, missed, int64(8))
			assert.Subset(t, []int64{0, 8}, missed)
		})
	}
}

// TestMissedWhileRunning stalls a running Scheduler past the tolerance:
// the ticks it slept through are missed, as after downtime.
func TestMissedWhileRunning(t *testing.T) {
	b := memory.New()
	q, err := jobqueue.New(b, "stall")
	require.NoError(t, err)
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "m", "@every 1s", nil, OnMissed(RunOnceMissed), Tolerance(time.Second)))
	runScheduler(t, s)
	clk.waitTimers(t, 1)
	clk.advance(5 * time.Second) // 12:00:05: 01 to 03 missed, 04 and 05 on time
	clk.waitTimers(t, 1)
	// 11:59:59 and 12:00:00 were on time at the start.
	want := append(everyTick(time.Date(2026, 5, 1, 11, 59, 59, 0, time.UTC), time.Second, 2),
		everyTick(time.Date(2026, 5, 1, 12, 0, 3, 0, time.UTC), time.Second, 3)...)
	assert.Equal(t, want, tickJobs(t, q, "m"))
	assert.EqualValues(t, 3, s.Schedules()[0].Missed)
}

// noKeeper is a backend that keeps no schedules.
type noKeeper struct{ backend.Backend }

func TestSchedulerWithoutKeeper(t *testing.T) {
	q, err := jobqueue.New(noKeeper{memory.New()}, "nokeeper")
	require.NoError(t, err)
	_, err = Schedules(context.Background(), q)
	assert.ErrorIs(t, err, errors.ErrUnsupported)

	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "m", "@every 1s", nil))
	runScheduler(t, s)
	clk.waitTimers(t, 1)
	clk.advance(time.Second)
	clk.waitTimers(t, 1)
	assert.Len(t, tickJobs(t, q, "m"), 3, "11:59:59 and 12:00:00 on time at the start, then 12:00:01")
}

// laggingReplicas is a memory backend whose durable enqueues store their
// jobs and report them not durable, as Redis does while a replica lags.
type laggingReplicas struct{ *memory.Backend }

func (b laggingReplicas) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if err := b.Backend.Enqueue(ctx, p); err != nil || !p.Durability.Enabled() {
		return err
	}
	return fmt.Errorf("%w: 0 of 1 replicas", backend.ErrNotDurable)
}

// TestSchedulerTickNotDurable: a tick's job that is stored but not
// confirmed durable counts as enqueued, not as failed.
func TestSchedulerTickNotDurable(t *testing.T) {
	q, err := jobqueue.New(laggingReplicas{memory.New()}, "lagging",
		jobqueue.WithDurability(jobqueue.Durability{Replicas: 1, Timeout: time.Millisecond}))
	require.NoError(t, err)
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "m", "@every 1s", nil))
	runScheduler(t, s)
	clk.waitTimers(t, 1)
	clk.advance(time.Second)
	clk.waitTimers(t, 1)
	assert.Len(t, tickJobs(t, q, "m"), 3, "11:59:59 and 12:00:00 on time at the start, then 12:00:01")
	info := s.Schedules()[0]
	assert.EqualValues(t, 3, info.Enqueued, "ticks enqueued, though not confirmed durable")
	assert.Zero(t, info.Failed, "ticks failed")
}

func TestScheduleRefusesBadInput(t *testing.T) {
	q, err := jobqueue.New(memory.New(), "bad")
	require.NoError(t, err)
	s, err := NewScheduler(Options{})
	require.NoError(t, err)
	for name, call := range map[string]func() error{
		"nil queue":     func() error { return s.Schedule(nil, "n", "@hourly", nil) },
		"empty name":    func() error { return s.Schedule(q, "", "@hourly", nil) },
		"name with :":   func() error { return s.Schedule(q, "a:b", "@hourly", nil) },
		"long name":     func() error { return s.Schedule(q, string(make([]byte, 65)), "@hourly", nil) },
		"bad spec":      func() error { return s.Schedule(q, "n", "every hour", nil) },
		"nil zone":      func() error { return s.Schedule(q, "n", "@hourly", nil, In(nil)) },
		"bad policy":    func() error { return s.Schedule(q, "n", "@hourly", nil, OnMissed(7)) },
		"bad tolerance": func() error { return s.Schedule(q, "n", "@hourly", nil, Tolerance(0)) },
		"WithID":        func() error { return s.Schedule(q, "n", "@hourly", nil, JobOptions(jobqueue.WithID("x"))) },
		"At":            func() error { return s.Schedule(q, "n", "@hourly", nil, JobOptions(jobqueue.At(time.Now()))) },
		"ExpiresAt": func() error {
			return s.Schedule(q, "n", "@hourly", nil, JobOptions(jobqueue.ExpiresAt(time.Now().Add(time.Hour))))
		},
		"Unique":         func() error { return s.Schedule(q, "n", "@hourly", nil, JobOptions(jobqueue.Unique("k", time.Hour))) },
		"bad job option": func() error { return s.Schedule(q, "n", "@hourly", nil, JobOptions(jobqueue.Priority(-1))) },
		"bad payload":    func() error { return s.Schedule(q, "n", "@hourly", func() {}) },
	} {
		assert.ErrorIs(t, call(), jobqueue.ErrInvalidArgument, name)
	}
	for _, skew := range []time.Duration{-time.Second, time.Hour + 1} {
		_, err = NewScheduler(Options{MaxClockSkew: skew})
		assert.ErrorIs(t, err, jobqueue.ErrInvalidArgument, "skew %v", skew)
	}
	assert.Empty(t, s.Schedules(), "a refused schedule is not added")

	require.NoError(t, s.Schedule(q, "n", "@hourly", nil))
	assert.ErrorIs(t, s.Schedule(q, "n", "@daily", nil), jobqueue.ErrInvalidArgument, "a name twice on one queue")
	stop := runScheduler(t, s)
	require.Eventually(t, func() bool {
		recs, err := Schedules(context.Background(), q)
		return err == nil && len(recs) == 1
	}, 10*time.Second, time.Millisecond, "the schedule is recorded as Run starts")
	assert.ErrorIs(t, s.Schedule(q, "m", "@daily", nil), jobqueue.ErrInvalidArgument, "a schedule added while running")
	stop()
	assert.ErrorIs(t, s.Run(context.Background()), jobqueue.ErrInvalidArgument, "a second Run")
}

// TestScheduleJobOptions checks what a tick's job carries: the payload's
// kind, the schedule's job options, and the schedule's headers.
func TestScheduleJobOptions(t *testing.T) {
	q, err := jobqueue.New(memory.New(), "opts")
	require.NoError(t, err)
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "r", "0 3 * * *", kindedArgs{N: 7},
		In(mustLoc(t, "Asia/Tokyo")), JobOptions(jobqueue.Priority(2), jobqueue.Headers(map[string]string{"tenant": "acme"}))))
	runScheduler(t, s)
	clk.waitTimers(t, 1)
	// 03:00 in Tokyo is 18:00 UTC the day before.
	clk.advance(6 * time.Hour)
	clk.waitTimers(t, 1)
	jobs, err := q.Claim(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	j := jobs[0]
	assert.Equal(t, "kinded", j.Kind)
	assert.Equal(t, 2, j.Priority)
	assert.Equal(t, "acme", j.Headers["tenant"])
	assert.JSONEq(t, `{"N":7}`, string(j.Payload))
	name, tick, ok := ScheduledTick(j)
	require.True(t, ok)
	assert.Equal(t, "r", name)
	assert.Equal(t, time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC), tick)

	info := s.Schedules()[0]
	assert.Equal(t, "Asia/Tokyo", info.Location)
	require.Len(t, info.Next, 3)
	assert.Equal(t, time.Date(2026, 5, 3, 3, 0, 0, 0, mustLoc(t, "Asia/Tokyo")).Unix(), info.Next[0].Unix())
	_, _, ok = ScheduledTick(&jobqueue.Job{})
	assert.False(t, ok)
}

type kindedArgs struct{ N int }

func (kindedArgs) Kind() string { return "kinded" }

// downStore is a memory backend whose enqueues fail as unavailable while
// down is set.
type downStore struct {
	*memory.Backend
	down atomic.Bool
}

func (b *downStore) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if b.down.Load() {
		return fmt.Errorf("%w: store down", jobqueue.ErrUnavailable)
	}
	return b.Backend.Enqueue(ctx, p)
}

// TestSchedulerRidesOutAnOutage makes the store unavailable at a tick: the
// Scheduler tries again until the store answers, within the tolerance, and
// the tick has its job; an outage longer than the tolerance misses the
// tick, and the next one is enqueued as usual.
func TestSchedulerRidesOutAnOutage(t *testing.T) {
	b := &downStore{Backend: memory.New()}
	q, err := jobqueue.New(b, "outage", jobqueue.WithRetries(0))
	require.NoError(t, err)
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC))
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "m", "@every 10s", nil, Tolerance(2*time.Second)))
	runScheduler(t, s)
	clk.waitTimers(t, 1) // 12:00:00 was on time at the start
	b.down.Store(true)
	clk.advance(10 * time.Second) // 12:00:10.5: the tick fails
	for range 5 {
		clk.waitTimers(t, 1) // a retry's timer
		clk.advance(100 * time.Millisecond)
	}
	b.down.Store(false)
	clk.waitTimers(t, 1)
	clk.advance(time.Second) // 12:00:11.5 at most: within the tolerance
	clk.waitTimers(t, 1)
	info := s.Schedules()[0]
	assert.Equal(t, time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC), info.LastTick.UTC(), "the tick enqueued once the store answered")

	b.down.Store(true)
	clk.advance(10 * time.Second) // about 12:00:21.5: 12:00:20 fails
	for clk.Now().Before(time.Date(2026, 5, 1, 12, 0, 23, 0, time.UTC)) {
		clk.waitTimers(t, 1)
		clk.advance(500 * time.Millisecond)
	}
	b.down.Store(false)
	clk.waitTimers(t, 1)
	clk.advance(time.Date(2026, 5, 1, 12, 0, 30, 500_000_000, time.UTC).Sub(clk.Now()))
	clk.waitTimers(t, 1)
	want := []time.Time{
		time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC),
		time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC),
	}
	assert.Equal(t, want, tickJobs(t, q, "m"), "12:00:20 missed: the store was down for longer than the tolerance")
	assert.EqualValues(t, 1, s.Schedules()[0].Missed)
}

// TestSchedulerRecordsSeen checks that a Scheduler records when it ran a
// schedule, as it starts and as it enqueues a tick, on its clock; that the
// record of a schedule whose Scheduler stopped long ago reads as
// abandoned; and that RemoveSchedule forgets it.
func TestSchedulerRecordsSeen(t *testing.T) {
	q, err := jobqueue.New(memory.New(), "seen")
	require.NoError(t, err)
	// Long before now: once stopped, the schedule reads as abandoned.
	start := time.Date(2020, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
	clk := newFakeClock(start)
	s := newTestScheduler(t, clk)
	require.NoError(t, s.Schedule(q, "m", "@every 10s", nil))
	stop := runScheduler(t, s)
	clk.waitTimers(t, 1)
	seen := func() time.Time {
		t.Helper()
		infos, err := Schedules(context.Background(), q)
		require.NoError(t, err)
		require.Len(t, infos, 1)
		return infos[0].Seen.UTC()
	}
	assert.Equal(t, start, seen(), "seen as it started")
	clk.advance(5 * time.Second) // 12:00:05.5: no tick
	clk.waitTimers(t, 1)
	assert.Equal(t, start, seen(), "no tick, no record")
	clk.advance(5 * time.Second) // 12:00:10.5: a tick
	clk.waitTimers(t, 1)
	assert.Equal(t, start.Add(10*time.Second), seen(), "seen as it enqueued the tick")
	stop()

	infos, err := Schedules(context.Background(), q)
	require.NoError(t, err)
	assert.True(t, infos[0].Abandoned, "a schedule last seen in 2020")
	assert.False(t, s.Schedules()[0].Abandoned, "a Scheduler's own view says nothing of it")

	require.NoError(t, RemoveSchedule(context.Background(), q, "m"))
	infos, err = Schedules(context.Background(), q)
	require.NoError(t, err)
	assert.Empty(t, infos)
	require.NoError(t, RemoveSchedule(context.Background(), q, "m"), "a schedule not recorded")
	assert.ErrorIs(t, RemoveSchedule(context.Background(), q, "a:b"), jobqueue.ErrInvalidArgument)
	assert.ErrorIs(t, RemoveSchedule(context.Background(), nil, "m"), jobqueue.ErrInvalidArgument)
	plain, err := jobqueue.New(noKeeper{memory.New()}, "plain")
	require.NoError(t, err)
	assert.ErrorIs(t, RemoveSchedule(context.Background(), plain, "m"), errors.ErrUnsupported)
}

// TestScheduleInfoAbandoned reads records as of chosen times: a schedule
// is abandoned once two of its ticks after it was last seen are past by
// its tolerance, the call slack and the clock skew.
func TestScheduleInfoAbandoned(t *testing.T) {
	seen := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	every10s := `{"spec":"@every 10s","tz":"UTC","missed":"skip","tolerance_ms":2000}`
	// Ticks 12:00:10 and 12:00:20; then 2 s of tolerance, 30 s of call
	// slack, 10 s of skew.
	limit := time.Date(2026, 5, 1, 12, 1, 2, 0, time.UTC)
	for _, c := range []struct {
		name string
		rec  backend.ScheduleRecord
		now  time.Time
		want bool
	}{
		{"AtTheLimit", backend.ScheduleRecord{Name: "s", Definition: every10s, Seen: seen}, limit, false},
		{"PastTheLimit", backend.ScheduleRecord{Name: "s", Definition: every10s, Seen: seen}, limit.Add(time.Millisecond), true},
		{"LastTickCountsAsSeen", backend.ScheduleRecord{Name: "s", Definition: every10s, Seen: seen, LastTick: seen.Add(10 * time.Second)}, limit.Add(time.Millisecond), false},
		{"LastTickAlone", backend.ScheduleRecord{Name: "s", Definition: every10s, LastTick: seen}, limit.Add(time.Millisecond), true},
		{"NeverSeen", backend.ScheduleRecord{Name: "s", Definition: every10s}, limit.Add(time.Hour), false},
		// A definition without its tolerance stands for the longest
		// default, a minute.
		{"NoToleranceRecorded", backend.ScheduleRecord{Name: "s", Definition: `{"spec":"@every 10s","tz":"UTC","missed":"skip"}`, Seen: seen}, limit.Add(time.Minute - 2*time.Second), false},
		{"NoToleranceRecordedPast", backend.ScheduleRecord{Name: "s", Definition: `{"spec":"@every 10s","tz":"UTC","missed":"skip"}`, Seen: seen}, limit.Add(time.Minute - 2*time.Second + time.Millisecond), true},
		// A daily schedule seen after today's tick: tomorrow's and the
		// day after's must pass.
		{"DailyNextDay", backend.ScheduleRecord{Name: "s", Definition: `{"spec":"0 3 * * *","tz":"UTC","missed":"skip","tolerance_ms":60000}`, Seen: seen}, seen.Add(36 * time.Hour), false},
		{"DailyTwoDaysOn", backend.ScheduleRecord{Name: "s", Definition: `{"spec":"0 3 * * *","tz":"UTC","missed":"skip","tolerance_ms":60000}`, Seen: seen}, seen.Add(40 * time.Hour), true},
		{"Unreadable", backend.ScheduleRecord{Name: "s", Definition: `{"spec":"@weird"}`, Seen: seen}, limit.Add(time.Hour), false},
	} {
		info := scheduleInfo("q", c.rec, c.now)
		assert.Equal(t, c.want, info.Abandoned, c.name)
		if !c.rec.Seen.IsZero() || !c.rec.LastTick.IsZero() {
			assert.False(t, info.Seen.IsZero(), "%s: seen", c.name)
		}
	}
}
