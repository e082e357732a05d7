package dashboard_test

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/dashboard"
	"github.com/jobqueue-go/jobqueue/memory"
)

// madeUpHistory is a memory backend whose history is a made-up day: a
// test of the day's chart cannot wait a day, nor set a store's clock. Its
// minutes end with the minute of now.
type madeUpHistory struct {
	*memory.Backend
	now time.Time
}

// dayCounts is what madeUpHistory says happened in the minute m (Unix
// minutes): work that follows the clock, busier in the afternoon (UTC),
// and failures only in an incident from 02:00 to 02:40.
func dayCounts(m int64) backend.HistoryPoint {
	hour := float64(m%1440) / 60
	completed := int64(30+25*math.Sin(2*math.Pi*(hour-9)/24)) + m%7
	var failed int64
	if mm := m % 1440; mm >= 120 && mm < 160 {
		failed = 25 + m%6
	}
	return backend.HistoryPoint{Minute: time.Unix(m*60, 0).UTC(), Enqueued: completed + failed, Completed: completed, Failed: failed, Dead: failed}
}

func (b *madeUpHistory) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	last := b.now.Unix() / 60
	out := make([]backend.HistoryPoint, p.Minutes)
	for i := range out {
		out[i] = dayCounts(last - int64(p.Minutes-1-i))
	}
	return out, nil
}

// daySteps is what the day's chart must show for a made-up history
// ending at now: the completed and failed jobs of each step of 10
// minutes by its start (RFC 3339, UTC), from the first step that lies
// whole in the last 1,440 minutes to the step of now; summed here minute
// by minute, apart from the server's code.
func daySteps(now time.Time) (completed, failed map[string]int64) {
	completed, failed = map[string]int64{}, map[string]int64{}
	last := now.Unix() / 60
	first := last - 1439
	for first%10 != 0 {
		first++
	}
	for m := first; m <= last; m++ {
		at := time.Unix((m-m%10)*60, 0).UTC().Format(time.RFC3339)
		c := dayCounts(m)
		completed[at] += c.Completed
		failed[at] += c.Failed
	}
	return completed, failed
}

// TestHistorySteps: api/history sums minutes into steps that start on
// the clock's multiples of the step; the day in steps of 10 minutes is
// 144 points, the last the current step, still counting. Bad steps get
// 400.
func TestHistorySteps(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 37, 20, 0, time.UTC)
	q := newQueue(t, &madeUpHistory{Backend: memory.New(), now: now}, queueName("day"))
	s := mount(t, dashboard.New([]*jobqueue.Queue{q}))

	code, body := s.get("api/history", vals("queue", q.Name(), "minutes", "1440", "step", "10"))
	must(t, "the day", code, body, http.StatusOK)
	points := body["points"].([]any)
	if len(points) != 144 || body["step"] != 10.0 || body["minutes"] != 1440.0 {
		t.Fatalf("the day: %d points, step %v, minutes %v; want 144, 10, 1440", len(points), body["step"], body["minutes"])
	}
	// 14:38 and 14:39 yesterday make no whole step: the first starts at
	// 14:40 yesterday, the last at 14:30 today, holding 14:30 to 14:37.
	if first, last := points[0].(map[string]any)["minute"], points[143].(map[string]any)["minute"]; first != "2026-03-09T14:40:00Z" || last != "2026-03-10T14:30:00Z" {
		t.Fatalf("the day runs from %v to %v; want 2026-03-09T14:40:00Z to 2026-03-10T14:30:00Z", first, last)
	}
	completed, failed := daySteps(now)
	var incident int64
	for _, p := range points {
		pt := p.(map[string]any)
		at := pt["minute"].(string)
		if c, f := int64(pt["completed"].(float64)), int64(pt["failed"].(float64)); c != completed[at] || f != failed[at] {
			t.Errorf("step %s: %d completed, %d failed; want %d and %d", at, c, f, completed[at], failed[at])
		}
		incident += int64(pt["failed"].(float64))
	}
	if incident == 0 {
		t.Fatal("the day shows no failure: the incident at 02:00 is missing")
	}

	// An hour in one step of 60 minutes: 13:38 to 13:59 make no whole
	// step, 14:00 to 14:37 the current one.
	code, body = s.get("api/history", vals("queue", q.Name(), "minutes", "60", "step", "60"))
	must(t, "an hour in one step", code, body, http.StatusOK)
	var want int64
	for m := now.Unix()/60 - 37; m <= now.Unix()/60; m++ {
		want += dayCounts(m).Completed
	}
	if points := body["points"].([]any); len(points) != 1 || points[0].(map[string]any)["minute"] != "2026-03-10T14:00:00Z" || int64(points[0].(map[string]any)["completed"].(float64)) != want {
		t.Fatalf("an hour in one step: %v; want one point at 14:00 with %d completed", points, want)
	}

	for _, bad := range [][2]string{{"1440", "7"}, {"60", "0"}, {"60", "61"}, {"60", "x"}, {"50", "60"}} {
		code, body := s.get("api/history", vals("queue", q.Name(), "minutes", bad[0], "step", bad[1]))
		must(t, "minutes "+bad[0]+", step "+bad[1], code, body, http.StatusBadRequest)
	}
}
