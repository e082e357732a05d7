package jobqueue

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
// is two keys. With EnqueueBatch, give each job its own key (Item).
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

// UniqueArgs is a payload whose jobs are unique by their kind: every
// Enqueue of it, alone or in a batch, is made unique with a key that
// UniqueOpts derives, as River's UniqueOpts does. A Unique option given to
// the Enqueue overrides it.
//
//	type Report struct{ Account string }
//
//	func (Report) Kind() string { return "report" }
//
//	// At most one report per account and hour, until it has run.
//	func (Report) UniqueOpts() jobqueue.UniqueOpts {
//		return jobqueue.UniqueOpts{ByArgs: true, ByPeriod: time.Hour, ByState: []jobqueue.State{
//			jobqueue.StatePending, jobqueue.StateScheduled, jobqueue.StateProcessing}}
//	}
type UniqueArgs interface {
	JobArgs
	UniqueOpts() UniqueOpts
}

// UniqueOpts say how the jobs of a kind (UniqueArgs) are unique. The key
// is the job's kind, with a hash of its payload (ByArgs) and the start of
// its period (ByPeriod); it is the queue's, so the queue always counts.
// Window or ByPeriod must be set.
type UniqueOpts struct {
	// ByArgs adds the payload to the key: jobs of the kind are unique by
	// their arguments, a SHA-256 of the encoded JSON (compacted, so that
	// the spacing of a json.RawMessage does not count; the order of
	// object keys does: encoding/json writes a struct's fields in their
	// order and a map's keys sorted, so the same value gives the same
	// key).
	ByArgs bool
	// ByPeriod, when positive, admits at most one job per period: the key
	// holds the start of the period the enqueue falls in (periods are
	// aligned to the Unix epoch, on the producer's clock), and without a
	// Window the hold lasts until the period ends.
	ByPeriod time.Duration
	// Window is how long the key is held (see Unique); zero, with
	// ByPeriod, means until the period ends.
	Window time.Duration
	// ByState lists the states in which a job keeps its key, as the
	// ByState option does; empty means all of them (the window only).
	ByState []State
}

// uniqueOf returns the unique key of a job: the Unique option's, or the one
// its payload v derives (UniqueArgs), from its kind and encoded payload;
// none without either.
func (c enqueueConfig) uniqueOf(v any, kind string, payload []byte, now time.Time) (backend.Unique, error) {
	if c.unique != nil {
		return *c.unique, nil
	}
	a, ok := v.(UniqueArgs)
	if !ok {
		return backend.Unique{}, nil
	}
	o := a.UniqueOpts()
	if o.Window < 0 || o.ByPeriod < 0 || o.Window == 0 && o.ByPeriod == 0 {
		return backend.Unique{}, fmt.Errorf("%w: the UniqueOpts of %T: window %v, period %v; want a positive window or period", ErrInvalidArgument, v, o.Window, o.ByPeriod)
	}
	key := "kind:" + kind
	if o.ByArgs {
		var b bytes.Buffer
		if err := json.Compact(&b, payload); err != nil {
			return backend.Unique{}, fmt.Errorf("%w: the payload of %T: %v", ErrInvalidArgument, v, err)
		}
		sum := sha256.Sum256(b.Bytes())
		key += ":args:" + hex.EncodeToString(sum[:16])
	}
	window := o.Window
	if o.ByPeriod > 0 {
		period := o.ByPeriod.Milliseconds()
		if period < 1 {
			return backend.Unique{}, fmt.Errorf("%w: the UniqueOpts of %T: period %v, want at least 1ms", ErrInvalidArgument, v, o.ByPeriod)
		}
		ms := now.UnixMilli()
		start := ms - ms%period
		key += ":period:" + strconv.FormatInt(start, 10)
		if window == 0 {
			window = max(time.Duration(start+period-ms)*time.Millisecond, time.Millisecond)
		}
	}
	var opts []UniqueOption
	if len(o.ByState) > 0 {
		opts = append(opts, ByState(o.ByState...))
	}
	var u enqueueConfig
	if err := Unique(key, window, opts...)(&u); err != nil {
		return backend.Unique{}, fmt.Errorf("%w (the UniqueOpts of %T)", err, v)
	}
	return *u.unique, nil
}
