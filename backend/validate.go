package backend

import (
	"fmt"
	"time"
)

// The Validate methods check a request's shape: queue name, ids, tokens,
// counts and durations. Every implementation calls them before touching
// its store, so bad input gets the same clear error, and changes nothing,
// on every backend. They do not enforce policy such as payload size limits;
// the root package does that.

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p EnqueueParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	if len(p.Jobs) == 0 {
		return fmt.Errorf("%w: no jobs to enqueue", ErrInvalidArgument)
	}
	if err := p.Durability.Validate(); err != nil {
		return err
	}
	seen := make(map[string]struct{}, len(p.Jobs))
	var keys map[string]int
	for i, j := range p.Jobs {
		if err := validateNewID(j.ID, "job", i); err != nil {
			return err
		}
		if _, dup := seen[j.ID]; dup {
			return fmt.Errorf("%w: job id %q appears twice in one batch", ErrInvalidArgument, j.ID)
		}
		seen[j.ID] = struct{}{}
		if j.MaxAttempts < 1 {
			return fmt.Errorf("%w: job %q: max attempts %d, want at least 1", ErrInvalidArgument, j.ID, j.MaxAttempts)
		}
		if err := validateKind(j.Kind, j.ID); err != nil {
			return err
		}
		if err := validateHeaders(j.Headers, j.ID); err != nil {
			return err
		}
		if j.Priority < 0 || j.Priority > MaxPriority {
			return fmt.Errorf("%w: job %q: priority %d, want 0 to %d", ErrInvalidArgument, j.ID, j.Priority, MaxPriority)
		}
		if j.Timeout < 0 {
			return fmt.Errorf("%w: job %q: negative timeout %v", ErrInvalidArgument, j.ID, j.Timeout)
		}
		if j.Expiry < 0 {
			return fmt.Errorf("%w: job %q: negative expiry %v", ErrInvalidArgument, j.ID, j.Expiry)
		}
		if j.Expiry > 0 && j.Expiry <= j.Delay {
			return fmt.Errorf("%w: job %q: expiry %v is not after its delay %v: it could never run", ErrInvalidArgument, j.ID, j.Expiry, j.Delay)
		}
		if err := j.Unique.validate(j.ID); err != nil {
			return err
		}
		if j.Unique.Key != "" {
			if keys == nil {
				keys = make(map[string]int)
			}
			if k, dup := keys[j.Unique.Key]; dup {
				return fmt.Errorf("%w: jobs %d and %d of one batch have the unique key %q", ErrInvalidArgument, k, i, printable(j.Unique.Key))
			}
			keys[j.Unique.Key] = i
		}
	}
	return nil
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p ClaimParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	if p.Max < 1 {
		return fmt.Errorf("%w: claim max %d, want at least 1", ErrInvalidArgument, p.Max)
	}
	if p.Wait < 0 {
		return fmt.Errorf("%w: negative claim wait %v", ErrInvalidArgument, p.Wait)
	}
	if err := p.DeadRetention.validate("dead"); err != nil {
		return err
	}
	return validateLease(p.Lease)
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p CompleteParams) Validate() error {
	if err := validateAcksOf(p.Queue, len(p.Items), func(i int) Ack { return p.Items[i].Ack }); err != nil {
		return err
	}
	if err := p.Durability.Validate(); err != nil {
		return err
	}
	return p.Retention.validate("completed")
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p FailParams) Validate() error {
	if err := validateAcksOf(p.Queue, len(p.Items), func(i int) Ack { return p.Items[i].Ack }); err != nil {
		return err
	}
	for _, f := range p.Items {
		if f.Delay < 0 {
			return fmt.Errorf("%w: job %q: negative retry delay %v", ErrInvalidArgument, f.ID, f.Delay)
		}
		if f.Dead && f.Snooze {
			return fmt.Errorf("%w: job %q: both dead and snoozed", ErrInvalidArgument, f.ID)
		}
	}
	if err := p.Durability.Validate(); err != nil {
		return err
	}
	return p.Retention.validate("dead")
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p ExtendParams) Validate() error {
	if err := validateAcksOf(p.Queue, len(p.Items), func(i int) Ack { return p.Items[i] }); err != nil {
		return err
	}
	return validateLease(p.Lease)
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p ReleaseParams) Validate() error {
	return validateAcksOf(p.Queue, len(p.Items), func(i int) Ack { return p.Items[i] })
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p ReclaimParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	if p.Max < 1 {
		return fmt.Errorf("%w: reclaim max %d, want at least 1", ErrInvalidArgument, p.Max)
	}
	return p.DeadRetention.validate("dead")
}

// Validate checks p; the error wraps ErrInvalidQueueName, ErrInvalidState or
// ErrInvalidArgument.
func (p ListParams) Validate() error {
	if err := ValidateQueueName(p.Queue); err != nil {
		return err
	}
	if _, err := ParseState(string(p.State)); err != nil {
		return err
	}
	if p.Offset < 0 {
		return fmt.Errorf("%w: negative list offset %d", ErrInvalidArgument, p.Offset)
	}
	if p.Limit < 1 {
		return fmt.Errorf("%w: list limit %d, want at least 1", ErrInvalidArgument, p.Limit)
	}
	return nil
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p PurgeParams) Validate() error {
	return validateCall(p.Queue, p.RequestID)
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p RetryDeadParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	return ValidateID(p.ID)
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p DeleteParams) Validate() error {
	if err := validateCall(p.Queue, p.RequestID); err != nil {
		return err
	}
	return ValidateID(p.ID)
}

// ValidateJobRef checks the queue and id arguments of Get.
func ValidateJobRef(queue, id string) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	return ValidateID(id)
}

// validateCall checks the queue name and request id of a mutating call.
func validateCall(queue, requestID string) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	return ValidateRequestID(requestID)
}

func validateAcksOf(queue string, n int, at func(int) Ack) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: no jobs given", ErrInvalidArgument)
	}
	for i := 0; i < n; i++ {
		a := at(i)
		if err := validateID(a.ID, "item", i); err != nil {
			return err
		}
		if a.Token == "" {
			return fmt.Errorf("%w: job %q: empty claim token", ErrInvalidArgument, a.ID)
		}
	}
	return nil
}

func validateLease(d time.Duration) error {
	if d < time.Millisecond {
		return fmt.Errorf("%w: lease %v, want at least 1ms", ErrInvalidArgument, d)
	}
	return nil
}

func (r Retention) validate(history string) error {
	if r.Max < 0 {
		return fmt.Errorf("%w: %s history max %d is negative", ErrInvalidArgument, history, r.Max)
	}
	if r.TTL < 0 {
		return fmt.Errorf("%w: %s history TTL %v is negative", ErrInvalidArgument, history, r.TTL)
	}
	return nil
}
