package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

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
	LastTick *time.Time  `json:"last_tick,omitempty"`
	Next     []time.Time `json:"next"`
	Error    string      `json:"error,omitempty"`
}

func runSchedules(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("schedules", "[flags]", "List the schedules recorded for a queue by the Schedulers that ran them (jqcron.Scheduler), from the store: spec, time zone, missed-tick policy, last tick enqueued and next ticks. A schedule stays listed after its last Scheduler stopped, until the queue is purged.")
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
	fmt.Fprintf(tw, "NAME\tSPEC\tTZ\tMISSED\tLAST TICK\tNEXT TICKS\n")
	for _, r := range rows {
		last := "never"
		if r.LastTick != nil {
			last = r.LastTick.Format(time.DateTime)
		}
		next := make([]string, len(r.Next))
		for i, t := range r.Next {
			next[i] = t.Format(time.DateTime)
		}
		nexts := strings.Join(next, ", ")
		if r.Error != "" {
			nexts = "unreadable: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Spec, r.Location, r.Missed, last, nexts)
	}
	tw.Flush()
	return exitOK
}

func newScheduleRow(s jqcron.ScheduleInfo) scheduleRow {
	r := scheduleRow{Name: s.Name, Spec: s.Spec, Location: s.Location, Missed: s.Policy.String(), Next: s.Next}
	if r.Next == nil {
		r.Next = []time.Time{}
	}
	if !s.LastTick.IsZero() {
		last := s.LastTick
		r.LastTick = &last
	}
	if s.Err != nil {
		r.Error = s.Err.Error()
	}
	return r
}
