package webui

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/jqcron"
)

// HistoryPoint is one minute of a queue's history, as both pages' APIs
// and "jobqueue history --json" give it.
type HistoryPoint struct {
	// Minute is the start of the minute, RFC 3339 in UTC.
	Minute    time.Time `json:"minute"`
	Enqueued  int64     `json:"enqueued"`
	Completed int64     `json:"completed"`
	Failed    int64     `json:"failed"`
	Retried   int64     `json:"retried"`
	Dead      int64     `json:"dead"`
	Reclaimed int64     `json:"reclaimed"`
	Cancelled int64     `json:"cancelled"`
}

// History is a queue's last minutes, oldest first, the last one the
// current minute on the store's clock.
type History struct {
	Queue   string `json:"queue"`
	Minutes int    `json:"minutes"`
	// Step is how many minutes each point sums, when a reply sums them
	// (the dashboard's day); absent, each point is one minute.
	Step   int            `json:"step,omitempty"`
	Points []HistoryPoint `json:"points"`
}

// NewHistory returns the history of the queue named queue: points, read
// for the last minutes.
func NewHistory(queue string, minutes int, points []jobqueue.HistoryPoint) History {
	out := make([]HistoryPoint, len(points))
	for i, p := range points {
		out[i] = HistoryPoint{Minute: p.Minute.UTC(), Enqueued: p.Enqueued, Completed: p.Completed, Failed: p.Failed,
			Retried: p.Retried, Dead: p.Dead, Reclaimed: p.Reclaimed, Cancelled: p.Cancelled}
	}
	return History{Queue: queue, Minutes: minutes, Points: out}
}

// ScheduleRow is one schedule recorded for a queue (jqcron), as both
// pages' APIs and "jobqueue schedules --json" give it.
type ScheduleRow struct {
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
	// Error is why the record cannot be read, on one line.
	Error string `json:"error,omitempty"`
}

// Schedules are the schedules recorded for a queue, by name.
type Schedules struct {
	Queue     string        `json:"queue"`
	Schedules []ScheduleRow `json:"schedules"`
}

// NewSchedules returns the schedules of the queue named queue.
func NewSchedules(queue string, infos []jqcron.ScheduleInfo) Schedules {
	rows := make([]ScheduleRow, len(infos))
	for i, s := range infos {
		rows[i] = ScheduleRow{Name: s.Name, Spec: s.Spec, Location: s.Location, Missed: s.Policy.String(),
			LastTick: TimePtr(s.LastTick), Seen: TimePtr(s.Seen), Abandoned: s.Abandoned, Next: s.Next}
		if rows[i].Next == nil {
			rows[i].Next = []time.Time{}
		}
		if s.Err != nil {
			rows[i].Error = OneLine(s.Err)
		}
	}
	return Schedules{Queue: queue, Schedules: rows}
}

// TimePtr returns &t, or nil for the zero time, which a reply leaves out.
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Each calls f(0) … f(n-1), at most max at a time: the reads of one
// request, which should not hold more of the store's connections.
func Each(n, max int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, max) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}
