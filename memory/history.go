package memory

import (
	"context"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Historian = (*Backend)(nil)

// historyMinutes is how many minutes a queue's history keeps.
const historyMinutes = int(backend.HistoryRetention / time.Minute)

// history is a queue's per-minute counts: the minutes in which something
// was counted, oldest first, none older than historyMinutes before the
// latest. It is bounded by historyMinutes points, whatever the traffic.
type history struct {
	points []backend.HistoryPoint
}

// at returns the point of the minute of now, which the caller counts
// into, dropping the minutes that fall out of the retention. A clock that
// stepped back counts into the latest minute, so the points stay in order.
func (h *history) at(now time.Time) *backend.HistoryPoint {
	m := now.Truncate(time.Minute)
	if n := len(h.points); n > 0 && !h.points[n-1].Minute.Before(m) {
		return &h.points[n-1]
	}
	oldest := m.Add(-time.Duration(historyMinutes-1) * time.Minute)
	drop := 0
	for drop < len(h.points) && h.points[drop].Minute.Before(oldest) {
		drop++
	}
	if drop > 0 {
		h.points = append(h.points[:0], h.points[drop:]...)
	}
	h.points = append(h.points, backend.HistoryPoint{Minute: m})
	return &h.points[len(h.points)-1]
}

// window returns the minutes points ending with the minute of now, oldest
// first, the minutes without counts as zeros.
func (h *history) window(now time.Time, minutes int) []backend.HistoryPoint {
	last := now.Truncate(time.Minute)
	first := last.Add(-time.Duration(minutes-1) * time.Minute)
	out := make([]backend.HistoryPoint, minutes)
	for i := range out {
		out[i].Minute = first.Add(time.Duration(i) * time.Minute)
	}
	for _, pt := range h.points {
		if i := int(pt.Minute.Sub(first) / time.Minute); !pt.Minute.Before(first) && i < minutes {
			out[i] = pt
		}
	}
	return out
}

// History implements backend.Historian. The counts are those of the
// process clock's minutes; a queue never used reads as zeros.
func (b *Backend) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := b.queue(p.Queue, false)
	if q == nil {
		var none history
		return none.window(time.Now(), p.Minutes), nil
	}
	now := q.lock()
	defer q.mu.Unlock()
	return q.hist.window(now, p.Minutes), nil
}
