package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/webui"
)

// maxMinutes is the most minutes of history a call reads: the store keeps
// a day.
const maxMinutes = int(backend.HistoryRetention / time.Minute)

// idle reports whether nothing the table shows was counted in p's
// minute.
func idle(p webui.HistoryPoint) bool {
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
	h := webui.NewHistory(q.Name(), *minutes, points)
	if in.json {
		e.printJSON(h)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MINUTE\tENQUEUED\tCOMPLETED\tFAILED\tRETRIED\tDEAD\tRECLAIMED\n")
	active := 0
	for _, r := range h.Points {
		if idle(r) {
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
