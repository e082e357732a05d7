package jobqueue

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// ErrDuplicate reports an enqueue refused because another job of the queue
// holds the job's unique key (Unique). Nothing was stored. Enqueue returns
// the id of the job that holds the key with it; the error is a
// *DuplicateError, which says the same of every job of a batch.
var ErrDuplicate = backend.ErrDuplicate

// DuplicateError is the error of an Enqueue or EnqueueBatch refused with
// ErrDuplicate: it lists each job whose key is held, by its index in the
// call, with its key and the id of the job that holds it.
type DuplicateError = backend.DuplicateError

// Duplicate is one job of a DuplicateError.
type Duplicate = backend.Duplicate

// MaxUniqueKeyLen bounds the keys of Unique.
const MaxUniqueKeyLen = backend.MaxUniqueKeyLen

// UniqueOption says what, besides its window, ends a job's hold on its
// unique key; see Unique.
type UniqueOption func(*backend.Unique) error

// Unique makes the job unique by key within its queue: while another job
// holds key, the enqueue stores nothing and fails with an error matching
// ErrDuplicate, and Enqueue returns the id of the job that holds it. An
// accepted job holds key for window (at least 1 ms, on the backend's
// clock), counted from its enqueue, across every process that uses the
// queue. By default only the window ends the hold: the job finishing, and
// its record leaving the history, do not. UntilFinished and ByState end it
// earlier, as the job finishes.
//
// A key is 1 to MaxUniqueKeyLen bytes of printable ASCII other than
// space; hash a longer one. It is the queue's: the same key in two queues
// is two keys. With EnqueueBatch, give each job its own key (BatchItem).
//
// A repeat of an Enqueue after a lost reply (WithRetries) returns what the
// first run did: the job's own id, not ErrDuplicate. On Redis, an
// acknowledged key can be lost in a failover, with any other write the new
// primary had not received: a duplicate may then be accepted (see the
// README's "Unique jobs").
func Unique(key string, window time.Duration, opts ...UniqueOption) EnqueueOption {
	return func(c *enqueueConfig) error {
		u := backend.Unique{Key: key, Window: window}
		if err := backend.ValidateUniqueKey(key); err != nil {
			return err
		}
		if window < time.Millisecond {
			return fmt.Errorf("%w: unique window %v, want at least 1ms", ErrInvalidArgument, window)
		}
		for _, o := range opts {
			if o == nil {
				continue
			}
			if err := o(&u); err != nil {
				return err
			}
		}
		c.unique = &u
		return nil
	}
}

// UntilFinished ends the hold on the key as soon as the job completes or is
// dead-lettered, or is deleted or purged, if that comes before the end of
// the window: a job already done no longer keeps its duplicates out. A
// dead job sent back by RetryDead does not take the key again.
func UntilFinished() UniqueOption {
	return ByState(StatePending, StateScheduled, StateProcessing)
}

// ByState lists the states in which the job keeps its key (within the
// window), as River's UniqueOpts.ByState does: it must list pending,
// scheduled and processing, since a job holds its key until it finishes,
// and may add completed or dead. The job gives up the key when it enters a
// finished state not listed, or when it is deleted or purged, unless it
// lists every state (which is the default: the window only). For example
// ByState(StatePending, StateScheduled, StateProcessing, StateCompleted)
// keeps out duplicates of a job that succeeded, for the whole window, but
// lets one in as soon as the job is dead-lettered.
func ByState(states ...State) UniqueOption {
	return func(u *backend.Unique) error {
		for _, s := range states {
			if !s.Valid() {
				return fmt.Errorf("%w: ByState: %q", ErrInvalidState, s)
			}
		}
		for _, s := range []State{StatePending, StateScheduled, StateProcessing} {
			if !slices.Contains(states, s) {
				return fmt.Errorf("%w: ByState must list %s: a job holds its unique key until it finishes", ErrInvalidArgument, s)
			}
		}
		u.ReleaseOn = nil
		for _, s := range []State{StateCompleted, StateDead} {
			if !slices.Contains(states, s) {
				u.ReleaseOn = append(u.ReleaseOn, s)
			}
		}
		return nil
	}
}

// duplicateOf returns the id of the job that holds the key of the only job
// of an enqueue refused with err, or "".
func duplicateOf(err error) string {
	var de *DuplicateError
	if errors.As(err, &de) && len(de.Duplicates) == 1 {
		return de.Duplicates[0].ExistingID
	}
	return ""
}
