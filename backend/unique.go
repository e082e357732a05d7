package backend

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrDuplicate reports an enqueue of a job whose unique key (NewJob.Unique)
// another job of the queue holds. Nothing was stored. The error is a
// *DuplicateError, which names the job that holds each key.
var ErrDuplicate = errors.New("jobqueue: duplicate unique key")

// MaxUniqueKeyLen bounds unique keys.
const MaxUniqueKeyLen = 256

// Unique makes a job unique within its queue: at most one job holding Key
// is accepted within Window. The zero value (an empty Key) makes the job
// not unique.
//
// A job that is accepted holds Key from its enqueue for Window on the
// backend's clock, whatever happens to the job meanwhile: its record
// finishing, leaving its history (Retention) or expiring does not end the
// window. An enqueue of another job with the same Key while it is held is
// refused with a *DuplicateError that names the holder. ReleaseOn ends the
// hold earlier: the job gives Key up when it enters one of the listed
// finished states (StateCompleted, StateDead), and when it is deleted or
// purged, in any state, unless ReleaseOn is empty. A job gives up only a
// key that it still holds: never one that another job took after its
// window ended. A dead job sent back by RetryDead does not take its key
// again.
type Unique struct {
	// Key is 1 to MaxUniqueKeyLen bytes of printable ASCII other than
	// space, as a job id (ValidateUniqueKey).
	Key string
	// Window is how long the key is held at most; at least 1 ms.
	Window time.Duration
	// ReleaseOn lists the finished states that end the hold early:
	// StateCompleted, StateDead, or both; none holds the key for the
	// whole window.
	ReleaseOn []State
}

// Releases reports whether a job that enters state gives up its key.
func (u Unique) Releases(state State) bool {
	for _, s := range u.ReleaseOn {
		if s == state {
			return true
		}
	}
	return false
}

// Duplicate is one job of an Enqueue call refused because another job
// holds its unique key.
type Duplicate struct {
	// Index is the job's position in EnqueueParams.Jobs.
	Index int
	// Key is the job's unique key.
	Key string
	// ExistingID is the id of the job that holds the key. That job may
	// have finished, and its record may be gone, since a key is held for
	// its whole window.
	ExistingID string
}

// DuplicateError is the error of an Enqueue call that was refused because
// some of its jobs' unique keys are held. It lists every such job, in
// order; nothing of the call was stored. It matches ErrDuplicate with
// errors.Is.
type DuplicateError struct {
	Queue      string
	Duplicates []Duplicate
}

func (e *DuplicateError) Error() string {
	var b strings.Builder
	b.WriteString(ErrDuplicate.Error())
	b.WriteString(" in queue ")
	b.WriteString(strconv.Quote(e.Queue))
	for i, d := range e.Duplicates {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "job %d: key %q is held by job %q", d.Index, printable(d.Key), d.ExistingID)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// ValidateUniqueKey reports whether key is usable as a unique key: 1 to
// MaxUniqueKeyLen bytes of printable ASCII other than space. A longer or
// freer key can be hashed first. The error wraps ErrInvalidArgument.
func ValidateUniqueKey(key string) error { return validateUniqueKey(key, "") }

// validateUniqueKey is ValidateUniqueKey for the job whose id is given (""
// for none), which an error names.
func validateUniqueKey(key, id string) error {
	if key == "" {
		return fmt.Errorf("%w: %sempty unique key", ErrInvalidArgument, jobWhere(id))
	}
	if len(key) > MaxUniqueKeyLen {
		return fmt.Errorf("%w: %sunique key of %d bytes, more than %d (hash a longer key)", ErrInvalidArgument, jobWhere(id), len(key), MaxUniqueKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return fmt.Errorf("%w: %sunique key %q has %s at byte %d (allowed: printable ASCII other than space)", ErrInvalidArgument, jobWhere(id), printable(key), describeByte(key, i), i)
		}
	}
	return nil
}

// validate checks u, the unique key of the job with the given id; an
// empty key is no key.
func (u Unique) validate(id string) error {
	if u.Key == "" {
		if u.Window != 0 || len(u.ReleaseOn) > 0 {
			return fmt.Errorf("%w: %sa unique window or release without a key", ErrInvalidArgument, jobWhere(id))
		}
		return nil
	}
	if err := validateUniqueKey(u.Key, id); err != nil {
		return err
	}
	if u.Window < time.Millisecond {
		return fmt.Errorf("%w: %sunique window %v, want at least 1ms", ErrInvalidArgument, jobWhere(id), u.Window)
	}
	seen := 0
	for _, s := range u.ReleaseOn {
		bit := 0
		switch s {
		case StateCompleted:
			bit = 1
		case StateDead:
			bit = 2
		default:
			return fmt.Errorf("%w: %sa unique key is released on %q; only completed and dead end it", ErrInvalidArgument, jobWhere(id), s)
		}
		if seen&bit != 0 {
			return fmt.Errorf("%w: %sunique release on %q given twice", ErrInvalidArgument, jobWhere(id), s)
		}
		seen |= bit
	}
	return nil
}
