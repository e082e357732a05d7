package backend

import (
	"context"
	"errors"
	"fmt"
)

// ErrCancelled reports a job that was cancelled (Canceller) while it was
// claimed: the claim's heartbeat (Extend) and its outcome (Complete, Fail,
// Release) are refused with it, and the job ends cancelled, never retried.
// It is not ErrLostClaim: the claim is still the job's own, and nobody else
// runs it.
var ErrCancelled = errors.New("jobqueue: job cancelled")

// Canceller is an optional capability: a Backend that can cancel jobs
// implements it. Callers find it by type assertion; the conformance suite
// requires it unless the harness declares conformance.Cancel missing.
//
// A cancel lives in the store, in the job's own record: it is never a
// message that a process may miss. A claimed job learns of it at its
// claim's next Extend, which the Worker sends every HeartbeatInterval.
type Canceller interface {
	// Cancel cancels jobs, each on its own; the per-item errors come back
	// as for the batch calls of Backend. For each id:
	//
	//   - A pending or scheduled job becomes cancelled at once: it is never
	//     claimed, joins the cancelled history, trimmed to p.Retention.Max,
	//     and its record expires after p.Retention.TTL (as Complete's).
	//   - A processing job is marked: its claim's Extend reports an error
	//     wrapping ErrCancelled and renews nothing, and its Complete, Fail
	//     or Release is refused with ErrCancelled and makes the job
	//     cancelled instead (under p.Retention); a Reclaim that finds its
	//     lease expired makes it cancelled too, not pending or dead. It is
	//     never claimed again. Until then it stays processing.
	//   - A job already cancelled, or already marked, is a no-op that
	//     succeeds.
	//   - A completed or dead job reports ErrWrongState; an unknown id
	//     reports ErrNotFound. Neither changes anything.
	//
	// A job that becomes cancelled counts in Stats.CancelledTotal and in
	// the history's Cancelled, and is published as EventCancelled, by the
	// call that makes it so: Cancel, an acknowledgement or a Reclaim. A
	// repeat is recognised by p.RequestID and returns the first run's
	// per-item errors.
	Cancel(ctx context.Context, p CancelParams) ([]error, error)
}

// MaxCancelIDs bounds the ids of one Cancel call.
const MaxCancelIDs = 10_000

// CancelParams are the inputs of Canceller.Cancel.
type CancelParams struct {
	Queue string
	// IDs are the jobs to cancel: 1 to MaxCancelIDs, each once.
	IDs []string
	// Retention applies to the cancelled history, whenever the job
	// becomes cancelled: at once, or when its claim ends.
	Retention Retention
	// RequestID recognises a repeat of this call (see the package doc).
	RequestID string
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p CancelParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	if len(p.IDs) == 0 {
		return fmt.Errorf("%w: no jobs to cancel", ErrInvalidArgument)
	}
	if len(p.IDs) > MaxCancelIDs {
		return fmt.Errorf("%w: %d jobs to cancel, more than %d", ErrInvalidArgument, len(p.IDs), MaxCancelIDs)
	}
	if err := validateIDs(p.IDs, "cancel"); err != nil {
		return err
	}
	return p.Retention.validate("cancelled")
}
