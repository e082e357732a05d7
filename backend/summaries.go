package backend

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Summarizer is an optional capability: a Backend that can read the
// summaries of many jobs at once, without their payloads, implements it.
// Callers find it by type assertion; the conformance suite requires it
// unless the harness declares conformance.Summaries missing, and the root
// jobqueue.Queue.Summaries reads each job with Get instead on a backend
// without it.
//
// A list of jobs, such as a dashboard's page, reads summaries: what it
// costs then depends on the number of jobs shown, not on the size of
// their payloads.
type Summarizer interface {
	// Summaries returns the summaries of the jobs p.IDs of p.Queue, in
	// the order of p.IDs. A job's summary is what Get returns of it at the
	// time of the call (a scheduled job whose run time has come reads as
	// pending), less its Payload and Result, with the size of its payload
	// and its first p.PreviewBytes bytes (JobInfo.Summary). An id that
	// has no record (unknown, expired, deleted, purged) is left out, and
	// the others keep their order; a record that Get reports as corrupt
	// fails the whole call with an error wrapping ErrCorruptJob.
	//
	// All the records are read at one moment, in one read of the store
	// (one round trip on Redis) whatever the number of ids, and no more
	// of a payload than its preview leaves the store. It changes
	// nothing, so an implementation may serve it from a read-only
	// replica, and its repeats are free.
	Summaries(ctx context.Context, p SummariesParams) ([]JobSummary, error)
}

// MaxSummaries bounds the ids of one Summaries call, and so what one call
// costs the store.
const MaxSummaries = 100

// MaxPreviewBytes bounds SummariesParams.PreviewBytes.
const MaxPreviewBytes = 4096

// MaxPreviewedPayload is the largest payload a summary previews: a
// larger one has no Preview, only its PayloadBytes. A store may have to
// read a payload whole to cut its first bytes (Redis reads no range of a
// hash field), and for large payloads that costs the server as much as
// reading them would: 50 payloads of 1 MiB hold Redis about 70 ms, 50 of
// 16 KiB about 1 ms.
const MaxPreviewedPayload = 16 << 10

// SummariesParams are the inputs of Summarizer.Summaries.
type SummariesParams struct {
	Queue string
	// IDs are the jobs to read: 0 to MaxSummaries of them, each once.
	IDs []string
	// PreviewBytes is how many of the first bytes of each payload come
	// back, as JobSummary.Preview: 0 to MaxPreviewBytes.
	PreviewBytes int
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p SummariesParams) Validate() error {
	if err := ValidateQueueName(p.Queue); err != nil {
		return err
	}
	if len(p.IDs) > MaxSummaries {
		return fmt.Errorf("%w: %d jobs to summarise, more than %d", ErrInvalidArgument, len(p.IDs), MaxSummaries)
	}
	if p.PreviewBytes < 0 || p.PreviewBytes > MaxPreviewBytes {
		return fmt.Errorf("%w: preview of %d bytes, want 0 to %d", ErrInvalidArgument, p.PreviewBytes, MaxPreviewBytes)
	}
	return validateIDs(p.IDs, "summaries call")
}

// JobSummary is one job's record less its payload and result, as
// Summarizer.Summaries returns it: each field is JobInfo's of the same
// name.
type JobSummary struct {
	ID          string
	State       State
	Kind        string
	Headers     map[string]string
	Priority    int
	Timeout     time.Duration
	Attempts    int
	MaxAttempts int
	EnqueuedAt  time.Time
	ExpiresAt   time.Time
	RunAt       time.Time
	ClaimedAt   time.Time
	LeaseUntil  time.Time
	FinishedAt  time.Time
	LastError   string
	// PayloadBytes is the size of the whole payload.
	PayloadBytes int
	// Preview is the payload's first bytes, as many as the call asked
	// for (all of them when the payload is shorter), as stored: a cut
	// may split a UTF-8 character. Nil when empty, and for a payload
	// longer than MaxPreviewedPayload.
	Preview []byte
}

// Summary returns j's summary with a preview of n bytes at most (none
// for a payload over MaxPreviewedPayload), as Summarizer.Summaries
// returns it. The preview is a copy, so the summary
// keeps none of the payload's memory.
func (j JobInfo) Summary(n int) JobSummary {
	var preview []byte
	if k := min(n, len(j.Payload)); k > 0 && len(j.Payload) <= MaxPreviewedPayload {
		preview = slices.Clone(j.Payload[:k])
	}
	return JobSummary{
		ID:           j.ID,
		State:        j.State,
		Kind:         j.Kind,
		Headers:      j.Headers,
		Priority:     j.Priority,
		Timeout:      j.Timeout,
		Attempts:     j.Attempts,
		MaxAttempts:  j.MaxAttempts,
		EnqueuedAt:   j.EnqueuedAt,
		ExpiresAt:    j.ExpiresAt,
		RunAt:        j.RunAt,
		ClaimedAt:    j.ClaimedAt,
		LeaseUntil:   j.LeaseUntil,
		FinishedAt:   j.FinishedAt,
		LastError:    j.LastError,
		PayloadBytes: len(j.Payload),
		Preview:      preview,
	}
}

// validateIDs checks the ids of one call, which names each job once; call
// names the call in the error.
func validateIDs(ids []string, call string) error {
	seen := make(map[string]struct{}, len(ids))
	for i, id := range ids {
		if err := validateID(id, "item", i); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("%w: job id %q appears twice in one %s", ErrInvalidArgument, id, call)
		}
		seen[id] = struct{}{}
	}
	return nil
}
