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
// schedules, each with its definition and a last tick that never moves
// back, kept per queue, forgotten by Purge.

func scheduleTests() []testCase {
	return []testCase{
		{name: "RecordsDefinition", run: testScheduleRecords},
		{name: "LastTickOnlyForward", run: testScheduleForward},
		{name: "Milliseconds", run: testScheduleMilliseconds},
		{name: "RepeatChangesNothing", run: testScheduleRepeat},
		{name: "OwnQueueOnly", run: testScheduleOwnQueue},
		{name: "PurgeForgets", run: testSchedulePurge},
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
	require.NoError(f.t, f.keeper().MarkSchedule(f.ctx, backend.MarkScheduleParams{Queue: f.q, Name: name, Definition: def, Tick: tick}),
		"mark schedule %s at %v", name, tick)
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

func testScheduleMilliseconds(t *testing.T, f *fixture) {
	f.markSchedule("s", "d", schedTick.Add(1500*time.Microsecond))
	require.True(t, schedTick.Add(time.Millisecond).Equal(f.schedules()[0].LastTick), "a tick kept to the millisecond: %v", f.schedules()[0].LastTick)
}

func testScheduleRepeat(t *testing.T, f *fixture) {
	f.markSchedule("s", "d", schedTick)
	before := f.schedules()
	f.markSchedule("s", "d", schedTick)
	require.Equal(t, before, f.schedules())
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
	} {
		before := f.schedules()
		f.unchanged(func() {
			require.ErrorIs(t, k.MarkSchedule(f.ctx, c.p), c.want, c.name)
		})
		require.Equal(t, before, f.schedules(), c.name)
	}
	_, err := k.Schedules(f.ctx, "bad queue")
	require.ErrorIs(t, err, backend.ErrInvalidQueueName)
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
	require.Equal(t, before, f.schedules())
}

// inUTC returns recs with their ticks in UTC, for comparing whole records.
func inUTC(recs []backend.ScheduleRecord) []backend.ScheduleRecord {
	for i := range recs {
		if !recs[i].LastTick.IsZero() {
			recs[i].LastTick = recs[i].LastTick.UTC()
		}
	}
	return recs
}
