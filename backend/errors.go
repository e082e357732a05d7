package backend

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The errors of the contract. Implementations return these values, or
// errors wrapping them, so callers test with errors.Is.
var (
	// ErrNotFound reports an unknown job id, or a job that has expired or
	// been deleted.
	ErrNotFound = errors.New("jobqueue: job not found")
	// ErrLostClaim reports a token that is no longer the job's current
	// claim: the lease expired and the job was reclaimed, or another
	// outcome was already recorded for that claim. Nothing was changed.
	ErrLostClaim = errors.New("jobqueue: claim lost")
	// ErrJobExists reports an enqueue of an id the queue already holds.
	ErrJobExists = errors.New("jobqueue: job id already exists")
	// ErrWrongState reports an operation that the job's state does not
	// allow, such as retrying a job that is not dead.
	ErrWrongState = errors.New("jobqueue: job is not in the required state")
	// ErrInvalidQueueName reports a queue name outside the safe set.
	ErrInvalidQueueName = errors.New("jobqueue: invalid queue name")
	// ErrInvalidState reports a state name that is not one of States.
	ErrInvalidState = errors.New("jobqueue: invalid state")
	// ErrInvalidArgument reports any other malformed input: an empty id
	// or token, a non-positive count or lease, a nil job.
	ErrInvalidArgument = errors.New("jobqueue: invalid argument")
	// ErrPayloadTooLarge reports a payload over the configured limit.
	ErrPayloadTooLarge = errors.New("jobqueue: payload too large")
	// ErrCorruptJob reports a stored job record that cannot be decoded.
	ErrCorruptJob = errors.New("jobqueue: corrupt job record")
	// ErrFull reports a store that refused a call because its memory is
	// full (Redis over its maxmemory under the noeviction policy, the
	// memory backend at one of its bounds). Nothing was written. Only the
	// calls that add work (Enqueue, RetryDead) are refused this way;
	// claims, acknowledgements, heartbeats, reclaims and reads go on, so
	// the call may succeed once workers have drained the queue, finished
	// records have expired, or the limit was raised.
	ErrFull = errors.New("jobqueue: backend is full")
	// ErrNotPermitted reports a call the store refused to this client:
	// on Redis, an ACL that does not grant a key, a channel or a command
	// the call needs (NOPERM). Nothing was written. It is permanent until
	// the ACL changes: not an outage, and not worth repeating.
	ErrNotPermitted = errors.New("jobqueue: not permitted")
	// ErrUnavailable reports a round trip to the store that failed: the
	// connection was refused, reset or timed out, or the store answered
	// that it cannot serve the call now (on Redis: LOADING, READONLY,
	// MASTERDOWN, CLUSTERDOWN, TRYAGAIN, BUSY, MISCONF, a failover in
	// progress, a replica that jobqueue's functions have not reached yet).
	// The call may or may not have run. It is the one error worth
	// repeating, with the same params (see "Lost replies and repeated
	// calls"); every other error is permanent for the call that got it.
	// The memory backend never returns it.
	ErrUnavailable = errors.New("jobqueue: backend unavailable")
)

// MaxQueueNameLen bounds queue names, so keys stay short.
const MaxQueueNameLen = 128

// MaxIDLen bounds job ids.
const MaxIDLen = 256

// MaxRequestIDLen bounds request ids.
const MaxRequestIDLen = 64

// ValidateQueueName reports whether name is a safe queue name: 1 to
// MaxQueueNameLen characters from [A-Za-z0-9_.-]. The set keeps a name from
// breaking a Redis hash tag, a key layout or a SCAN pattern. The error wraps
// ErrInvalidQueueName.
func ValidateQueueName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidQueueName)
	}
	if len(name) > MaxQueueNameLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidQueueName, len(name), MaxQueueNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !safeByte(name[i]) {
			return fmt.Errorf("%w: %q has %s at byte %d (allowed: A-Z a-z 0-9 _ . -)", ErrInvalidQueueName, printable(name), describeByte(name, i), i)
		}
	}
	return nil
}

// ValidateID reports whether id is a usable job id: 1 to MaxIDLen bytes of
// printable ASCII other than space. The error wraps ErrInvalidArgument.
func ValidateID(id string) error { return validateID(id, "", 0) }

// ValidateNewID reports whether id may name a new job: ValidateID's rules,
// and not "." or "..", which a URL path cannot carry (browsers and HTTP
// clients resolve /jobs/.. to /), so no HTTP API or dashboard could open
// or delete such a job. Every method that reads or changes a stored job
// takes any id ValidateID accepts, so a job stored under such an id before
// this rule stays readable and deletable. The error wraps
// ErrInvalidArgument.
func ValidateNewID(id string) error { return validateNewID(id, "", 0) }

// validateNewID is ValidateNewID for the id at position n of a call's
// items, named as validateID names it.
func validateNewID(id, what string, n int) error {
	if err := validateID(id, what, n); err != nil {
		return err
	}
	if id == "." || id == ".." {
		where := ""
		if what != "" {
			where = fmt.Sprintf("%s %d: ", what, n)
		}
		return fmt.Errorf("%w: %sjob id %q is a path segment a URL cannot carry", ErrInvalidArgument, where, id)
	}
	return nil
}

// validateID is ValidateID for the id at position n of a call's items,
// which the message names after the error's kind as what and n ("job 2");
// an empty what names none. The name is made only for an error: this runs
// for every job of every call.
func validateID(id, what string, n int) error {
	where := func() string {
		if what == "" {
			return ""
		}
		return fmt.Sprintf("%s %d: ", what, n)
	}
	if id == "" {
		return fmt.Errorf("%w: %sempty job id", ErrInvalidArgument, where())
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %sjob id of %d bytes, more than %d", ErrInvalidArgument, where(), len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("%w: %sjob id %q has %s at byte %d", ErrInvalidArgument, where(), printable(id), describeByte(id, i), i)
		}
	}
	return nil
}

// ValidateRequestID reports whether id is usable as a RequestID: empty (no
// repeat will follow), or 1 to MaxRequestIDLen bytes of printable ASCII
// other than space. The error wraps ErrInvalidArgument.
func ValidateRequestID(id string) error {
	if len(id) > MaxRequestIDLen {
		return fmt.Errorf("%w: request id of %d bytes, more than %d", ErrInvalidArgument, len(id), MaxRequestIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fmt.Errorf("%w: request id %q has %s at byte %d", ErrInvalidArgument, printable(id), describeByte(id, i), i)
		}
	}
	return nil
}

// MaxKindLen bounds job kinds.
const MaxKindLen = 64

// MaxPriority is the highest job priority level; levels run from 0 (the
// default and lowest) to MaxPriority. Each level is one FIFO list on the
// store that a claim reads in order, so the levels are few.
const MaxPriority = 3

// Header limits (see ValidateHeaders).
const (
	MaxHeaders       = 32
	MaxHeaderNameLen = 64
	MaxHeaderBytes   = 8 << 10 // names and values of one job together
	maxHeaderValue   = 4 << 10
)

// ValidateKind reports whether kind is usable as a job kind: empty (no
// kind), or 1 to MaxKindLen characters from [A-Za-z0-9_.-], as a queue
// name. The error wraps ErrInvalidArgument.
func ValidateKind(kind string) error { return validateKind(kind, "") }

// validateKind is ValidateKind for the job whose id is given ("" for
// none), which an error names.
func validateKind(kind, id string) error {
	if len(kind) > MaxKindLen {
		return fmt.Errorf("%w: %skind of %d bytes, more than %d", ErrInvalidArgument, jobWhere(id), len(kind), MaxKindLen)
	}
	for i := 0; i < len(kind); i++ {
		if !safeByte(kind[i]) {
			return fmt.Errorf("%w: %skind %q has %s at byte %d (allowed: A-Z a-z 0-9 _ . -)", ErrInvalidArgument, jobWhere(id), printable(kind), describeByte(kind, i), i)
		}
	}
	return nil
}

// ValidateHeaders reports whether h is usable as a job's headers: at most
// MaxHeaders entries; names of 1 to MaxHeaderNameLen characters from
// [A-Za-z0-9_.-]; values of valid UTF-8 without control characters, at
// most 4 KiB each; names and values at most MaxHeaderBytes in all. The
// error wraps ErrInvalidArgument.
func ValidateHeaders(h map[string]string) error { return validateHeaders(h, "") }

// validateHeaders is ValidateHeaders for the job whose id is given (""
// for none), which an error names.
func validateHeaders(h map[string]string, id string) error {
	if len(h) > MaxHeaders {
		return fmt.Errorf("%w: %s%d headers, more than %d", ErrInvalidArgument, jobWhere(id), len(h), MaxHeaders)
	}
	total := 0
	for name, value := range h {
		if name == "" || len(name) > MaxHeaderNameLen {
			return fmt.Errorf("%w: %sheader name of %d bytes, want 1 to %d", ErrInvalidArgument, jobWhere(id), len(name), MaxHeaderNameLen)
		}
		for i := 0; i < len(name); i++ {
			if !safeByte(name[i]) {
				return fmt.Errorf("%w: %sheader name %q has %s at byte %d (allowed: A-Z a-z 0-9 _ . -)", ErrInvalidArgument, jobWhere(id), printable(name), describeByte(name, i), i)
			}
		}
		if len(value) > maxHeaderValue {
			return fmt.Errorf("%w: %sheader %q: value of %d bytes, more than %d", ErrInvalidArgument, jobWhere(id), name, len(value), maxHeaderValue)
		}
		if !utf8.ValidString(value) {
			return fmt.Errorf("%w: %sheader %q: value is not valid UTF-8", ErrInvalidArgument, jobWhere(id), name)
		}
		for _, r := range value {
			if r < ' ' || r == 0x7f {
				return fmt.Errorf("%w: %sheader %q: value has the control character %U", ErrInvalidArgument, jobWhere(id), name, r)
			}
		}
		total += len(name) + len(value)
	}
	if total > MaxHeaderBytes {
		return fmt.Errorf("%w: %sheaders of %d bytes, more than %d", ErrInvalidArgument, jobWhere(id), total, MaxHeaderBytes)
	}
	return nil
}

// jobWhere names the job whose id is given at the start of an error's
// details; nothing for "".
func jobWhere(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf("job %q: ", id)
}

func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func describeByte(s string, i int) string {
	if s[i] < utf8.RuneSelf {
		return fmt.Sprintf("%q", s[i])
	}
	return "a non-ASCII byte"
}

// printable shortens s for an error message.
func printable(s string) string {
	const limit = 40
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
