package jobqueue

import (
	"fmt"
	"maps"
	"time"
)

// BatchItem is one job of an EnqueueBatch with options of its own, which
// apply after the options of the batch: an id (WithID) or a unique key
// (Unique), which no two jobs may share, or anything that differs from job
// to job. Make one with Item.
type BatchItem struct {
	Args    any
	Options []EnqueueOption
}

// Item returns a BatchItem: the job whose payload is v, with opts.
//
//	ids, err := q.EnqueueBatch(ctx, []any{
//		jobqueue.Item(Email{To: "ada@example.com"}, jobqueue.Unique("welcome:ada", time.Hour)),
//		jobqueue.Item(Email{To: "bob@example.com"}, jobqueue.Unique("welcome:bob", time.Hour)),
//	})
func Item(v any, opts ...EnqueueOption) BatchItem { return BatchItem{Args: v, Options: opts} }

// apply sets the options opts on c, in order.
func (c *enqueueConfig) apply(opts []EnqueueOption) error {
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return err
		}
	}
	return nil
}

// item returns the config of the job v, and its payload: c itself, or,
// for a BatchItem, c with the item's options applied after its own.
func (c enqueueConfig) item(v any) (enqueueConfig, any, error) {
	it, ok := v.(BatchItem)
	if !ok {
		return c, v, nil
	}
	if _, nested := it.Args.(BatchItem); nested {
		return c, nil, fmt.Errorf("%w: a BatchItem holds another", ErrInvalidArgument)
	}
	// Headers merge into the map: the item's must not reach the batch's.
	c.headers = maps.Clone(c.headers)
	durability := c.durability
	if err := c.apply(it.Options); err != nil {
		return c, nil, err
	}
	if c.durability != durability {
		return c, nil, fmt.Errorf("%w: Durable applies to the whole call, not to one job of a batch", ErrInvalidArgument)
	}
	return c, it.Args, nil
}

// timing returns the job's delay and expiry, as of now.
func (c enqueueConfig) timing(now time.Time) (delay, expiry time.Duration, err error) {
	delay = c.delay
	if !c.runAt.IsZero() {
		delay = max(c.runAt.Sub(now), 0)
	}
	expiry = c.expiresIn
	if !c.expiresAt.IsZero() {
		expiry = c.expiresAt.Sub(now)
	}
	if (expiry != 0 || !c.expiresAt.IsZero()) && expiry <= delay {
		return 0, 0, fmt.Errorf("%w: the job would expire (in %v) before it may run (in %v)", ErrInvalidArgument, expiry, delay)
	}
	return delay, expiry, nil
}
