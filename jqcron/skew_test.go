package jqcron

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// skewedClock is the real clock read off by a fixed offset, as on a host
// whose clock is wrong. Its timers run in real time, so a Scheduler on it
// acts on each tick when its own clock reads the tick: off from the truth,
// and from the other Schedulers, by the offset.
type skewedClock struct{ off time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.off) }

func (skewedClock) timer(d time.Duration) (<-chan time.Time, func()) { return realClock{}.timer(d) }

// skewFleet is Schedulers of one schedule, "skewed" every second, on one
// store, each with its own Queue handle (on Redis, its own client) and its
// own skewed clock: as many processes on as many hosts.
type skewFleet struct {
	q     *jobqueue.Queue // the test's own handle, to read the store
	ss    []*Scheduler
	stops []func()
	first time.Time // the earliest tick done as they started
}

// startSkewFleet starts one Scheduler per offset, in their order, each
// once the one before has done its first tick (enqueued it, or found it
// enqueued). With the offsets in increasing order, each Scheduler starts
// with the store's last tick behind its clock: the ticks in between look
// missed to it, and are the Schedulers' behind it to enqueue.
func startSkewFleet(t *testing.T, open func() *jobqueue.Queue, opts Options, offsets []time.Duration, sopts ...ScheduleOption) *skewFleet {
	t.Helper()
	f := &skewFleet{q: open()}
	for _, off := range offsets {
		s, err := NewScheduler(opts)
		require.NoError(t, err)
		s.clk = skewedClock{off}
		require.NoError(t, s.Schedule(open(), "skewed", "@every 1s", nil, sopts...))
		f.stops = append(f.stops, runScheduler(t, s))
		require.Eventually(t, func() bool { return !s.Schedules()[0].LastTick.IsZero() },
			time.Minute, 10*time.Millisecond, "the Scheduler %v off did not do its first tick", off)
		f.ss = append(f.ss, s)
		if lt := s.Schedules()[0].LastTick; f.first.IsZero() || lt.Before(f.first) {
			f.first = lt
		}
	}
	// A check of the harness, not of the Scheduler: each goes by its own
	// clock, so the first and the last see next ticks that far apart.
	first, last := f.ss[0].Schedules()[0].Next[0], f.ss[len(f.ss)-1].Schedules()[0].Next[0]
	spread := offsets[len(offsets)-1] - offsets[0]
	require.GreaterOrEqual(t, last.Sub(first), spread-2*time.Second, "the Schedulers' clocks are not %v apart", spread)
	return f
}

// finish waits until the store holds n jobs at least, and every Scheduler
// has done the first n ticks (the one whose clock is furthest behind gets
// to them last), stops the Schedulers and returns the tick of every job,
// sorted, and each Scheduler's description.
func (f *skewFleet) finish(t *testing.T, n int) ([]time.Time, []ScheduleInfo) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := f.q.Stats(context.Background())
		return err == nil && st.Pending >= int64(n)
	}, 2*time.Minute, 50*time.Millisecond, "waiting for %d jobs", n)
	nth := f.first.Add(time.Duration(n-1) * time.Second)
	require.Eventually(t, func() bool {
		for _, s := range f.ss {
			if s.Schedules()[0].LastTick.Before(nth) {
				return false
			}
		}
		return true
	}, 2*time.Minute, 50*time.Millisecond, "waiting for every Scheduler to do tick %v", nth)
	for _, stop := range f.stops {
		stop()
	}
	infos := make([]ScheduleInfo, len(f.ss))
	for i, s := range f.ss {
		infos[i] = s.Schedules()[0]
	}
	return tickJobs(t, f.q, "skewed"), infos
}

// distinct returns ticks, sorted, without repeats, and how many repeats
// there were.
func distinct(ticks []time.Time) (out []time.Time, repeats int) {
	for i, tk := range ticks {
		if i > 0 && tk.Equal(ticks[i-1]) {
			repeats++
			continue
		}
		out = append(out, tk)
	}
	return out, repeats
}

// TestSchedulersWithSkewedClocks runs three Schedulers of a schedule that
// ticks every second, their clocks 4 s behind, right and 4 s ahead, for
// 20 ticks and more, on the memory backend and on a real Redis through
// each adapter. Within Options.MaxClockSkew (10 s by default), the README
// promises exactly one job per tick: every tick from the first to the
// last has one job, none has two.
//
// Beyond it (MaxClockSkew 1 s, clocks 3 s behind and ahead) it promises
// only what does not depend on the clocks, at least one job per tick while
// a Scheduler runs; the duplicates are logged. A tick's key is held for
// its tolerance, twice the skew and 30 s for the calls (33 s here), from
// the first enqueue, so a spread of 6 s is expected to give none: a
// second job needs clocks further apart than the whole window.
func TestSchedulersWithSkewedClocks(t *testing.T) {
	const ticks = 20
	srv := redistest.Start(t)
	within := []time.Duration{-4 * time.Second, 0, 4 * time.Second}
	mem := memory.New()
	opener := func(name string, b func() backend.Backend) func() *jobqueue.Queue {
		return func() *jobqueue.Queue {
			q, err := jobqueue.New(b(), "skew-"+name)
			require.NoError(t, err)
			return q
		}
	}
	runs := []struct {
		name   string
		open   func() *jobqueue.Queue
		opts   Options
		policy MissedPolicy
		exact  bool
	}{
		{"memory", opener("memory", func() backend.Backend { return mem }), Options{}, SkipMissed, true},
		{"goredis", opener("goredis", func() backend.Backend { b, _ := redisqtest.GoRedis(t, srv.URL); return b }), Options{}, SkipMissed, true},
		// A catch-up, as the Scheduler ahead starts, of a tick the ones
		// behind have still to enqueue.
		{"rueidis-run-once", opener("rueidis", func() backend.Backend { b, _ := redisqtest.Rueidis(t, srv.URL); return b }), Options{}, RunOnceMissed, true},
		{"memory-beyond-skew", opener("beyond", func() backend.Backend { return mem }), Options{MaxClockSkew: time.Second}, SkipMissed, false},
	}
	// Every fleet starts now and runs at once, for about 25 s.
	fleets := make([]*skewFleet, len(runs))
	for i, r := range runs {
		offsets := within
		if !r.exact {
			offsets = []time.Duration{-3 * time.Second, 0, 3 * time.Second}
		}
		fleets[i] = startSkewFleet(t, r.open, r.opts, offsets, OnMissed(r.policy))
	}
	for i, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			got, infos := fleets[i].finish(t, ticks)
			var enqueued int64
			for j, info := range infos {
				enqueued += info.Enqueued
				assert.Zero(t, info.Failed)
				t.Logf("Scheduler %d: enqueued %d, found %d enqueued, counted %d missed", j, info.Enqueued, info.Duplicates, info.Missed)
			}
			assert.EqualValues(t, len(got), enqueued, "every job is one Scheduler's enqueue")
			once, repeats := distinct(got)
			require.GreaterOrEqual(t, len(once), ticks)
			assert.Equal(t, everyTick(once[0], time.Second, len(once)), once, "every tick from the first to the last has a job")
			if r.exact {
				assert.Zero(t, repeats, "ticks with two jobs or more, within the clock skew")
			} else {
				t.Logf("beyond the clock skew: %d ticks, %d second jobs", len(once), repeats)
			}
		})
	}
}
