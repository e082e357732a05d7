package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

// scheduleRow is one schedule of a queue, as "jobqueue schedules --json"
// prints it.
type scheduleRow struct {
	Name     string `json:"name"`
	Spec     string `json:"spec"`
	Location string `json:"tz"`
	Missed   string `json:"missed"`
	// LastTick is the last tick enqueued, RFC 3339 in the schedule's
	// zone; absent when none was.
	LastTick *time.Time `json:"last_tick,omitempty"`
	// Seen is when a Scheduler last recorded the schedule, as LastTick;
	// absent when the store does not say.
	Seen *time.Time `json:"seen,omitempty"`
	// Abandoned says no Scheduler recorded it for two ticks
	// (jqcron.ScheduleInfo.Abandoned).
	Abandoned bool        `json:"abandoned"`
	Next      []time.Time `json:"next"`
	Error     string      `json:"error,omitempty"`
}

func runSchedules(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("schedules", "[-rm NAME] [flags]", "List the schedules recorded for a queue by the Schedulers that ran them (jqcron.Scheduler), from the store: spec, time zone, missed-tick policy, last tick enqueued, when a Scheduler was last seen running it, and next ticks. A schedule stays listed after its last Scheduler stopped, marked abandoned once two of its ticks went by unrecorded, until the queue is purged or -rm removes it.")
	rm := in.fs.String("rm", "", "remove the record of schedule `NAME` (one no Scheduler runs any more) instead of listing")
	q, closeQ, _, code := in.open(ctx, e, args, 0, 0)
	if q == nil {
		return code
	}
	defer closeQ()
	infos, err := jqcron.Schedules(ctx, q)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if *rm != "" {
		return removeSchedule(ctx, e, in, q, infos, *rm)
	}
	rows := make([]scheduleRow, len(infos))
	for i, s := range infos {
		rows[i] = newScheduleRow(s)
	}
	if in.json {
		e.printJSON(rows)
		return exitOK
	}
	if len(rows) == 0 {
		fmt.Fprintf(e.stdout, "no schedule recorded for queue %q\n", q.Name())
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tSPEC\tTZ\tMISSED\tLAST TICK\tSEEN\tNEXT TICKS\n")
	for _, r := range rows {
		last := "never"
		if r.LastTick != nil {
			last = r.LastTick.Format(time.DateTime)
		}
		seen := "unknown"
		if r.Seen != nil {
			seen = r.Seen.Format(time.DateTime)
		}
		if r.Abandoned {
			seen += " (abandoned)"
		}
		next := make([]string, len(r.Next))
		for i, t := range r.Next {
			next[i] = t.Format(time.DateTime)
		}
		nexts := strings.Join(next, ", ")
		if r.Error != "" {
			nexts = "unreadable: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Spec, r.Location, r.Missed, last, seen, nexts)
	}
	tw.Flush()
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
		fmt.Fprintf(e.stderr, "jobqueue: schedule %q does not look abandoned (%s): a Scheduler that still runs it records it again at its next tick\n", name, seen)
	}
	if err := jqcron.RemoveSchedule(ctx, q, name); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if in.json {
		e.printJSON(map[string]any{"queue": q.Name(), "removed": name})
	} else {
		fmt.Fprintf(e.stdout, "removed schedule %q of queue %q\n", name, q.Name())
	}
	return exitOK
}

func newScheduleRow(s jqcron.ScheduleInfo) scheduleRow {
	r := scheduleRow{Name: s.Name, Spec: s.Spec, Location: s.Location, Missed: s.Policy.String(), Abandoned: s.Abandoned, Next: s.Next}
	if r.Next == nil {
		r.Next = []time.Time{}
	}
	if !s.LastTick.IsZero() {
		last := s.LastTick
		r.LastTick = &last
	}
	if !s.Seen.IsZero() {
		seen := s.Seen
		r.Seen = &seen
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	return r
}
