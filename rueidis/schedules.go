package rueidis

import (
	"context"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.ScheduleKeeper = (*Backend)(nil)

// MarkSchedule records a schedule of a queue, the last tick it enqueued
// and when it was seen, in the queue's schedules hash; see
// backend.ScheduleKeeper.
func (b *Backend) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	return b.e.MarkSchedule(ctx, p)
}

// Schedules returns the schedules recorded for a queue; see
// backend.ScheduleKeeper.
func (b *Backend) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	return b.e.Schedules(ctx, queue)
}

// RemoveSchedule forgets one schedule of a queue; see
// backend.ScheduleKeeper.
func (b *Backend) RemoveSchedule(ctx context.Context, queue, name string) error {
	return b.e.RemoveSchedule(ctx, queue, name)
}
