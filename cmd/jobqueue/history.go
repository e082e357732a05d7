package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// historyPoint is one minute of a queue's history, as "jobqueue history
// --json" prints it and GET /api/history reports it.
type historyPoint struct {
	// Minute is the start of the minute, RFC 3339 in UTC.
	Minute    time.Time `json:"minute"`
	Enqueued  int64     `json:"enqueued"`
	Completed int64     `json:"completed"`
	Failed    int64     `json:"failed"`
	Retried   int64     `json:"retried"`
	Dead      int64     `json:"dead"`
	Reclaimed int64     `json:"reclaimed"`
}

// historyJSON is what "jobqueue history --json" prints, as GET
// /api/history serves it.
type historyJSON struct {
	Queue   string         `json:"queue"`
	Minutes int            `json:"minutes"`
	Points  []historyPoint `json:"points"`
}

// maxMinutes is the most minutes of history a call reads: the store keeps
// a day.
const maxMinutes = int(backend.HistoryRetention / time.Minute)

// newHistoryPoints returns points as historyPoints.
func newHistoryPoints(points []jobqueue.HistoryPoint) []historyPoint {
	out := make([]historyPoint, len(points))
	for i, p := range points {
		out[i] = historyPoint{Minute: p.Minute.UTC(), Enqueued: p.Enqueued, Completed: p.Completed, Failed: p.Failed,
			Retried: p.Retried, Dead: p.Dead, Reclaimed: p.Reclaimed}
	}
	return out
}

// idle reports whether nothing was counted in p's minute.
func (p historyPoint) idle() bool {
	return p.Enqueued == 0 && p.Completed == 0 && p.Failed == 0 && p.Retried == 0 && p.Dead == 0 && p.Reclaimed == 0
}

func runHistory(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("history", "[flags]", "Print what happened to a queue in each of its last minutes: the minutes with activity, oldest first (--json: every minute).")
	minutes := in.fs.Int("minutes", 60, fmt.Sprintf("how many minutes to look back, 1 to %d", maxMinutes))
	if _, code, ok := in.parse(args, 0, 0); !ok {
		return code
	}
	if *minutes < 1 || *minutes > maxMinutes {
		return e.fail(usagef("-minutes must be from 1 to %d (the store keeps a day), got %d", maxMinutes, *minutes))
	}
	q, closeQ, code := in.queue(ctx)
	if q == nil {
		return code
	}
	defer closeQ()
	points, err := q.History(ctx, *minutes)
	if err != nil {
		return e.fail(err)
	}
	rows := newHistoryPoints(points)
	if in.json {
		e.printJSON(historyJSON{Queue: q.Name(), Minutes: *minutes, Points: rows})
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MINUTE\tENQUEUED\tCOMPLETED\tFAILED\tRETRIED\tDEAD\tRECLAIMED\n")
	active := 0
	for _, r := range rows {
		if r.idle() {
			continue
		}
		active++
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Minute.Local().Format("2006-01-02 15:04"),
			r.Enqueued, r.Completed, r.Failed, r.Retried, r.Dead, r.Reclaimed)
	}
	if active == 0 {
		fmt.Fprintf(e.stdout, "nothing happened in queue %q in the last %d minutes\n", q.Name(), *minutes)
		return exitOK
	}
	tw.Flush()
	return exitOK
}
