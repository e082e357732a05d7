package backend

import (
	"context"
	"fmt"
	"time"
)

// WorkerTracker is an optional capability: a Backend that knows which
// processes work a queue implements it, and its Stats count them in
// Stats.Workers. Callers find it by type assertion; a Worker beats for
// each queue it serves while it runs.
type WorkerTracker interface {
	// Beat records that the process p.ID works p.Queue until p.TTL from
	// now on the backend's clock; a beat before then renews it. A TTL of
	// zero removes the process at once (a Worker that stops). Beats are
	// cheap and bounded: a queue's record of processes holds only those
	// that beat within their TTL, plus those whose TTL ran out since the
	// last beat of any process, which the next beat drops. A repeated
	// beat simply beats again (see "Lost replies and repeated calls").
	Beat(ctx context.Context, p BeatParams) error
}

// BeatParams are the inputs of WorkerTracker.Beat.
type BeatParams struct {
	Queue string
	// ID names the process, unique among those working the queue (a
	// Worker uses host:pid:random); it follows the rules of job ids.
	ID string
	// TTL is how long the beat lasts: at least 1ms, at most MaxBeatTTL,
	// or zero to remove the process.
	TTL time.Duration
}

// MaxBeatTTL bounds BeatParams.TTL, so that a process that dies stops
// being counted within it.
const MaxBeatTTL = time.Hour

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p BeatParams) Validate() error {
	if err := ValidateQueueName(p.Queue); err != nil {
		return err
	}
	if err := ValidateID(p.ID); err != nil {
		return fmt.Errorf("process id: %w", err)
	}
	if p.TTL < 0 || p.TTL > MaxBeatTTL || (p.TTL > 0 && p.TTL < time.Millisecond) {
		return fmt.Errorf("%w: beat TTL %v, want 0 or 1ms to %v", ErrInvalidArgument, p.TTL, MaxBeatTTL)
	}
	return nil
}

// Historian is an optional capability: a Backend that keeps per-minute
// counts of what happened to a queue implements it. The counts are written
// by the same atomic state changes that bump Stats' totals, on the
// backend's clock, and kept for HistoryRetention; Purge deletes them.
type Historian interface {
	// History returns the counts of the last p.Minutes minutes of p.Queue,
	// oldest first, one point per minute whether anything happened in it
	// or not, the last point being the current minute (still counting)
	// on the backend's clock. Minutes older than HistoryRetention read as
	// zero. It changes nothing.
	History(ctx context.Context, p HistoryParams) ([]HistoryPoint, error)
}

// HistoryRetention is how long a backend keeps the per-minute counts.
const HistoryRetention = 24 * time.Hour

// HistoryParams are the inputs of Historian.History.
type HistoryParams struct {
	Queue string
	// Minutes is how many minutes to return, 1 to the minutes of
	// HistoryRetention (1440).
	Minutes int
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p HistoryParams) Validate() error {
	if err := ValidateQueueName(p.Queue); err != nil {
		return err
	}
	if max := int(HistoryRetention / time.Minute); p.Minutes < 1 || p.Minutes > max {
		return fmt.Errorf("%w: history of %d minutes, want 1 to %d", ErrInvalidArgument, p.Minutes, max)
	}
	return nil
}

// HistoryPoint is what happened to a queue in one minute. Each count is
// the increase of the Stats total of the same name during the minute,
// except Failed, which has none: it counts the attempts that Fail ended
// with an error (retried or dead-lettered; snoozes are not failures).
type HistoryPoint struct {
	// Minute is the start of the minute, on the backend's clock.
	Minute    time.Time
	Enqueued  int64
	Completed int64
	Failed    int64
	Retried   int64
	Dead      int64
	Reclaimed int64
	// Cancelled counts the jobs that became cancelled (Canceller).
	Cancelled int64
}

// Add returns p with q's counts added, at p's Minute.
func (p HistoryPoint) Add(q HistoryPoint) HistoryPoint {
	p.Enqueued += q.Enqueued
	p.Completed += q.Completed
	p.Failed += q.Failed
	p.Retried += q.Retried
	p.Dead += q.Dead
	p.Reclaimed += q.Reclaimed
	p.Cancelled += q.Cancelled
	return p
}

// SumHistory adds up points (the counts of an hour, say), with a zero
// Minute.
func SumHistory(points []HistoryPoint) HistoryPoint {
	var sum HistoryPoint
	for _, pt := range points {
		sum = sum.Add(pt)
	}
	return sum
}
