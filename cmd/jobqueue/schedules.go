package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/webui"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

func runSchedules(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("schedules", "[-rm NAME] [flags]", "List the schedules recorded for a queue by the Schedulers that ran them (jqcron.Scheduler), from the store: spec, time zone, missed-tick policy, last tick enqueued, next tick, and when a Scheduler was last seen running it (--json: the next three ticks). A schedule stays listed after its last Scheduler stopped, marked abandoned once two of its ticks went by unrecorded, until the queue is purged or -rm removes it.")
	rm := in.fs.String("rm", "", "remove the record of schedule `NAME` (one no Scheduler runs any more) instead of listing")
	q, closeQ, _, code := in.open(ctx, e, args, 0, 0)
	if q == nil {
		return code
	}
	defer closeQ()
	infos, err := jqcron.Schedules(ctx, q)
	if err != nil {
		return e.fail(err)
	}
	if *rm != "" {
		return removeSchedule(ctx, e, in, q, infos, *rm)
	}
	list := webui.NewSchedules(q.Name(), infos)
	if in.json {
		e.printJSON(list)
		return exitOK
	}
	if len(list.Schedules) == 0 {
		fmt.Fprintf(e.stdout, "no schedule recorded for queue %q\n", q.Name())
		return exitOK
	}
	// Times are in each schedule's zone, to the minute: a tick's seconds
	// are in --json. When the names and specs leave too little room, the
	// policy goes first, then the zone.
	const minute = "2006-01-02 15:04"
	cols := []column{
		{header: "NAME", min: 8},
		{header: "SPEC", min: 9},
		{header: "TZ", min: 5, drop: 1},
		{header: "MISSED", drop: 2},
		{header: "LAST TICK"},
		{header: "NEXT TICK", min: 16, clip: true},
		{header: "SEEN"},
	}
	rows := make([][]string, len(list.Schedules))
	for i, r := range list.Schedules {
		last := "never"
		if r.LastTick != nil {
			last = r.LastTick.Format(minute)
		}
		next := "-"
		if len(r.Next) > 0 {
			next = r.Next[0].Format(minute)
		}
		if r.Error != "" {
			next = "unreadable: " + r.Error
		}
		seen := "unknown"
		if r.Seen != nil {
			seen = ago(r.Seen)
		}
		if r.Abandoned {
			seen = "abandoned"
		}
		rows[i] = []string{r.Name, r.Spec, r.Location, r.Missed, last, next, seen}
	}
	writeTable(e.stdout, e.width(), cols, rows)
	return exitOK
}

// removeSchedule removes the record of schedule name, one of infos.
func removeSchedule(ctx context.Context, e *cmdEnv, in *inspection, q *jobqueue.Queue, infos []jqcron.ScheduleInfo, name string) int {
	i := slices.IndexFunc(infos, func(s jqcron.ScheduleInfo) bool { return s.Name == name })
	if i < 0 {
		e.errorf("no schedule %q recorded for queue %q", name, q.Name())
		return exitError
	}
	if s := infos[i]; !s.Abandoned {
		seen := "a Scheduler may still run it"
		if !s.Seen.IsZero() {
			seen = "a Scheduler ran it at " + s.Seen.Format(time.DateTime)
		}
		e.warnf("schedule %q does not look abandoned (%s): a Scheduler that still runs it records it again at its next tick", name, seen)
	}
	if err := jqcron.RemoveSchedule(ctx, q, name); err != nil {
		return e.fail(err)
	}
	if in.json {
		e.printJSON(map[string]any{"queue": q.Name(), "removed": name})
	} else {
		fmt.Fprintf(e.stdout, "removed schedule %q of queue %q\n", name, q.Name())
	}
	return exitOK
}
