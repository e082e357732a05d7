package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
)

// The Schedules group pins down backend.ScheduleKeeper: a queue's
// schedules, each with its definition, a last tick and a seen time that
// never move back, kept per queue, forgotten one by one by RemoveSchedule
// and all by Purge.

func scheduleTests() []testCase {
	return []testCase{
		{name: "RecordsDefinition", run: testScheduleRecords},
		{name: "LastTickOnlyForward", run: testScheduleForward},
		{name: "SeenOnlyForward", run: testScheduleSeenForward},
		{name: "Milliseconds", run: testScheduleMilliseconds},
		{name: "RepeatChangesNothing", run: testScheduleRepeat},
		{name: "OwnQueueOnly", run: testScheduleOwnQueue},
		{name: "PurgeForgets", run: testSchedulePurge},
		{name: "RemoveForgetsOne", run: testScheduleRemove},
		{name: "Invalid", run: testScheduleInvalid},
		{name: "ContextAlreadyEnded", run: testScheduleEndedContext},
	}
}

// keeper returns the backend's ScheduleKeeper. A backend without one must
// declare the Schedules capability missing, so that a wrapper that hides
// the methods does not pass unnoticed.
func (f *fixture) keeper() backend.ScheduleKeeper {
	f.t.Helper()
	f.s.needs(f.t, Schedules)
	k, ok := f.b.(backend.ScheduleKeeper)
	if !ok {
		f.t.Fatalf("conformance: %T does not implement backend.ScheduleKeeper; a backend without it declares conformance.Schedules in Harness.Lacks", f.b)
	}
	return k
}

func (f *fixture) markSchedule(name, def string, tick time.Time) {
	f.t.Helper()
	f.markScheduleSeen(name, def, tick, time.Time{})
}

func (f *fixture) markScheduleSeen(name, def string, tick, seen time.Time) {
	f.t.Helper()
	require.NoError(f.t, f.keeper().MarkSchedule(f.ctx, backend.MarkScheduleParams{Queue: f.q, Name: name, Definition: def, Tick: tick, Seen: seen}),
		"mark schedule %s at %v, seen %v", name, tick, seen)
}

func (f *fixture) schedules() []backend.ScheduleRecord {
	f.t.Helper()
	recs, err := f.keeper().Schedules(f.ctx, f.q)
	require.NoError(f.t, err)
	return recs
}

// schedTick is a tick of the tests, on a whole millisecond.
var schedTick = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testScheduleRecords(t *testing.T, f *fixture) {
	require.Empty(t, f.schedules(), "a queue never scheduled")
	f.markSchedule("zeta", `{"spec":"@hourly"}`, time.Time{})
	f.markSchedule("alpha", `{"spec":"@daily"}`, schedTick)
	recs := f.schedules()
	require.Len(t, recs, 2)
	require.Equal(t, "alpha", recs[0].Name, "by name")
	require.Equal(t, `{"spec":"@daily"}`, recs[0].Definition)
	require.True(t, schedTick.Equal(recs[0].LastTick), "alpha's last tick %v", recs[0].LastTick)
	require.Equal(t, backend.ScheduleRecord{Name: "zeta", Definition: `{"spec":"@hourly"}`}, recs[1], "a schedule that never ticked")
	f.markSchedule("zeta", `{"spec":"@every 1m"}`, time.Time{})
	require.Equal(t, `{"spec":"@every 1m"}`, f.schedules()[1].Definition, "the latest definition")
}

func testScheduleForward(t *testing.T, f *fixture) {
	later := schedTick.Add(time.Minute)
	f.markSchedule("s", "d1", later)
	f.markSchedule("s", "d2", schedTick)
	recs := f.schedules()
	require.Len(t, recs, 1)
	require.True(t, later.Equal(recs[0].LastTick), "an earlier tick moved the last tick back to %v", recs[0].LastTick)
	require.Equal(t, "d2", recs[0].Definition, "the definition of the latest call, whatever its tick")
	f.markSchedule("s", "d2", time.Time{})
	require.True(t, later.Equal(f.schedules()[0].LastTick), "a call with no tick cleared the last tick")
	latest := later.Add(time.Millisecond)
	f.markSchedule("s", "d2", latest)
	require.True(t, latest.Equal(f.schedules()[0].LastTick), "a tick a millisecond later")
}

func testScheduleSeenForward(t *testing.T, f *fixture) {
	seen := schedTick.Add(time.Hour)
	f.markScheduleSeen("s", "d", time.Time{}, seen)
	recs := f.schedules()
	require.Len(t, recs, 1)
	require.True(t, seen.Equal(recs[0].Seen), "seen %v, want %v", recs[0].Seen, seen)
	require.True(t, recs[0].LastTick.IsZero(), "a seen time alone records no tick: %v", recs[0].LastTick)
	f.markScheduleSeen("s", "d", schedTick, schedTick)
	recs = f.schedules()
	require.True(t, seen.Equal(recs[0].Seen), "an earlier seen time moved it back to %v", recs[0].Seen)
	require.True(t, schedTick.Equal(recs[0].LastTick), "the tick of a call whose seen time is earlier: %v", recs[0].LastTick)
	f.markSchedule("s", "d", schedTick.Add(time.Minute))
	require.True(t, seen.Equal(f.schedules()[0].Seen), "a call with no seen time cleared it")
	latest := seen.Add(time.Millisecond)
	f.markScheduleSeen("s", "d", time.Time{}, latest)
	require.True(t, latest.Equal(f.schedules()[0].Seen), "a seen time a millisecond later")
	require.True(t, schedTick.Add(time.Minute).Equal(f.schedules()[0].LastTick), "a call with no tick cleared the last tick")
}

func testScheduleMilliseconds(t *testing.T, f *fixture) {
	f.markScheduleSeen("s", "d", schedTick.Add(1500*time.Microsecond), schedTick.Add(2500*time.Microsecond))
	r := f.schedules()[0]
	require.True(t, schedTick.Add(time.Millisecond).Equal(r.LastTick), "a tick kept to the millisecond: %v", r.LastTick)
	require.True(t, schedTick.Add(2*time.Millisecond).Equal(r.Seen), "a seen time kept to the millisecond: %v", r.Seen)
}

func testScheduleRepeat(t *testing.T, f *fixture) {
	f.markScheduleSeen("s", "d", schedTick, schedTick.Add(time.Second))
	before := f.schedules()
	f.markScheduleSeen("s", "d", schedTick, schedTick.Add(time.Second))
	require.Equal(t, before, f.schedules())
	f.markSchedule("gone", "d", schedTick)
	require.NoError(t, f.keeper().RemoveSchedule(f.ctx, f.q, "gone"))
	f.unchanged(func() {
		require.NoError(t, f.keeper().RemoveSchedule(f.ctx, f.q, "gone"), "a repeated removal")
	})
	require.Equal(t, before, f.schedules(), "after a repeated removal")
}

func testScheduleOwnQueue(t *testing.T, f *fixture) {
	o := f.other()
	f.markSchedule("s", "mine", schedTick)
	require.Empty(t, o.schedules(), "the other queue")
	o.markSchedule("s", "theirs", schedTick.Add(time.Hour))
	require.Equal(t, []backend.ScheduleRecord{{Name: "s", Definition: "mine", LastTick: schedTick}}, inUTC(f.schedules()))
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: o.q}))
	require.Len(t, f.schedules(), 1, "the first queue, after the other was purged")
	require.Empty(t, o.schedules(), "the purged queue")
}

func testSchedulePurge(t *testing.T, f *fixture) {
	f.enqueue1()
	f.markSchedule("s", "d", schedTick)
	require.NoError(t, f.b.Purge(f.ctx, backend.PurgeParams{Queue: f.q}))
	require.Empty(t, f.schedules(), "a purged queue")
	f.markSchedule("s", "d", schedTick.Add(-time.Hour))
	require.True(t, schedTick.Add(-time.Hour).Equal(f.schedules()[0].LastTick), "the tick recorded after the purge")
}

func testScheduleRemove(t *testing.T, f *fixture) {
	f.enqueue1()
	o := f.other()
	f.markScheduleSeen("a", "da", schedTick, schedTick.Add(time.Second))
	f.markScheduleSeen("b", "db", schedTick.Add(time.Hour), schedTick.Add(time.Hour))
	o.markScheduleSeen("a", "theirs", schedTick, schedTick)
	k := f.keeper()
	f.unchanged(func() {
		require.NoError(t, k.RemoveSchedule(f.ctx, f.q, "a"))
	})
	require.Equal(t, []backend.ScheduleRecord{{Name: "b", Definition: "db", LastTick: schedTick.Add(time.Hour), Seen: schedTick.Add(time.Hour)}},
		inUTC(f.schedules()), "the other schedule of the queue, whole")
	require.Equal(t, []backend.ScheduleRecord{{Name: "a", Definition: "theirs", LastTick: schedTick, Seen: schedTick}},
		inUTC(o.schedules()), "the schedule of the same name on the other queue")
	require.NoError(t, k.RemoveSchedule(f.ctx, f.q, "never"), "a schedule never recorded")
	require.NoError(t, k.RemoveSchedule(f.ctx, f.q+"-none", "a"), "a queue never used")
	require.Len(t, f.schedules(), 1)

	// A record made after the removal starts anew: no last tick or seen
	// time survives to hold the new ones back.
	earlier := schedTick.Add(-time.Hour)
	f.markScheduleSeen("a", "da2", earlier, earlier)
	require.Equal(t, backend.ScheduleRecord{Name: "a", Definition: "da2", LastTick: earlier, Seen: earlier}, inUTC(f.schedules())[0])
	f.markSchedule("c", "dc", time.Time{})
	require.NoError(t, k.RemoveSchedule(f.ctx, f.q, "c"))
	require.Len(t, f.schedules(), 2, "a schedule that never ticked is removed too")
}

func testScheduleInvalid(t *testing.T, f *fixture) {
	f.markSchedule("s", "d", schedTick)
	k := f.keeper()
	for _, c := range []struct {
		name string
		p    backend.MarkScheduleParams
		want error
	}{
		{"EmptyQueue", backend.MarkScheduleParams{Queue: "", Name: "s", Definition: "d"}, backend.ErrInvalidQueueName},
		{"BadQueue", backend.MarkScheduleParams{Queue: f.q + " b", Name: "s", Definition: "d"}, backend.ErrInvalidQueueName},
		{"EmptyName", backend.MarkScheduleParams{Queue: f.q, Name: "", Definition: "d"}, backend.ErrInvalidArgument},
		{"NameWithColon", backend.MarkScheduleParams{Queue: f.q, Name: "s:t", Definition: "d", Tick: schedTick.Add(time.Hour)}, backend.ErrInvalidArgument},
		{"NameTooLong", backend.MarkScheduleParams{Queue: f.q, Name: strings.Repeat("s", backend.MaxScheduleName+1), Definition: "d"}, backend.ErrInvalidArgument},
		{"EmptyDefinition", backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: "", Tick: schedTick.Add(time.Hour)}, backend.ErrInvalidArgument},
		{"DefinitionTooLong", backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: strings.Repeat("d", backend.MaxScheduleDefinition+1)}, backend.ErrInvalidArgument},
		{"DefinitionNewline", backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: "d\n"}, backend.ErrInvalidArgument},
		{"TickBefore1970", backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: "d", Tick: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, backend.ErrInvalidArgument},
		{"SeenBefore1970", backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: "d", Seen: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, backend.ErrInvalidArgument},
	} {
		before := f.schedules()
		f.unchanged(func() {
			require.ErrorIs(t, k.MarkSchedule(f.ctx, c.p), c.want, c.name)
		})
		require.Equal(t, before, f.schedules(), c.name)
	}
	_, err := k.Schedules(f.ctx, "bad queue")
	require.ErrorIs(t, err, backend.ErrInvalidQueueName)
	for _, c := range []struct {
		name, queue, schedule string
		want                  error
	}{
		{"RemoveEmptyQueue", "", "s", backend.ErrInvalidQueueName},
		{"RemoveBadQueue", f.q + " b", "s", backend.ErrInvalidQueueName},
		{"RemoveEmptyName", f.q, "", backend.ErrInvalidArgument},
		{"RemoveNameWithColon", f.q, "s:t", backend.ErrInvalidArgument},
		{"RemoveNameTooLong", f.q, strings.Repeat("s", backend.MaxScheduleName+1), backend.ErrInvalidArgument},
	} {
		before := f.schedules()
		f.unchanged(func() {
			require.ErrorIs(t, k.RemoveSchedule(f.ctx, c.queue, c.schedule), c.want, c.name)
		})
		require.Equal(t, before, f.schedules(), c.name)
	}
}

func testScheduleEndedContext(t *testing.T, f *fixture) {
	f.markSchedule("s", "d", schedTick)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	k := f.keeper()
	before := f.schedules()
	require.ErrorIs(t, k.MarkSchedule(ctx, backend.MarkScheduleParams{Queue: f.q, Name: "s", Definition: "d2", Tick: schedTick.Add(time.Hour)}), context.Canceled)
	_, err := k.Schedules(ctx, f.q)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, k.RemoveSchedule(ctx, f.q, "s"), context.Canceled)
	require.Equal(t, before, f.schedules())
}

// inUTC returns recs with their times in UTC, for comparing whole
// records.
func inUTC(recs []backend.ScheduleRecord) []backend.ScheduleRecord {
	for i := range recs {
		if !recs[i].LastTick.IsZero() {
			recs[i].LastTick = recs[i].LastTick.UTC()
		}
		if !recs[i].Seen.IsZero() {
			recs[i].Seen = recs[i].Seen.UTC()
		}
	}
	return recs
}
