package jobqueue

import (
	"context"
	"encoding/json"
	"fmt"
)

// What a package that builds on a Queue (jqcron) needs of it beyond the
// methods every user calls: to call a backend capability the Queue does
// not wrap as the Queue calls its own, and to check once what it will
// enqueue many times. Such features live in packages of their own so that
// their dependencies are built only by the programs that use them.

// CallBackend runs call, a call to the queue's backend (Backend) that the
// Queue does not make itself, such as a capability found by a type
// assertion, and repeats it as the Queue repeats its own calls: while it
// fails with an error wrapping ErrUnavailable, up to the queue's retries
// (WithRetries), with a backoff between tries, never after ctx ends. call
// must be safe to repeat: a read, or a change that is idempotent or
// carries a request id made once, before CallBackend. It returns call's
// last error.
func (q *Queue) CallBackend(ctx context.Context, call func() error) error {
	return retryErr(ctx, q, call)
}

// EncodePayload encodes v as Enqueue encodes a job's payload (JSON; a
// json.RawMessage or []byte holding JSON is taken as is) and checks it
// against the queue's payload limit, so that a payload enqueued many times
// is encoded and checked once. The result, given to Enqueue, is stored as
// it is; it no longer names a kind (JobArgs), so give that with Kind.
func (q *Queue) EncodePayload(v any) (json.RawMessage, error) {
	return q.encode(v, "payload")
}

// CheckRecurringOptions checks opts, the options of every job of a
// recurring series (a schedule's ticks), as Enqueue would, and refuses
// those that name one job, one time or one key, which cannot hold for
// every job of a series: WithID, At, ExpiresAt and Unique. Its errors wrap
// ErrInvalidArgument.
func CheckRecurringOptions(opts ...EnqueueOption) error {
	var c enqueueConfig
	if err := c.apply(opts); err != nil {
		return err
	}
	if c.id != "" || !c.runAt.IsZero() || !c.expiresAt.IsZero() || c.unique != nil {
		return fmt.Errorf("%w: WithID, At, ExpiresAt and Unique name one job, time or key and do not apply to every job of a series", ErrInvalidArgument)
	}
	return nil
}
