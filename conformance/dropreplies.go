package conformance

import (
	"context"
	"fmt"
	"sync"

	"github.com/jobqueue-go/jobqueue/backend"
)

// DropReplies returns a ReplyLoser on b that loses replies without a
// network: the call it is told to lose runs on b, and its result is dropped
// and replaced by an error wrapping backend.ErrUnavailable, as a connection
// that broke on the reply's way back would report. It is the LostReplies
// group's default when Harness.LoseReplies is not set; a networked backend
// is better served by a harness that loses real replies (the Redis adapters
// put a fault proxy in between).
func DropReplies(b backend.Backend) ReplyLoser {
	d := &dropper{Backend: b}
	return ReplyLoser{Backend: d, Lose: d.lose, Lost: d.lost}
}

// dropper is the backend of DropReplies.
type dropper struct {
	backend.Backend
	mu     sync.Mutex
	armed  string
	losses int
}

func (d *dropper) lose(method string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = method
}

func (d *dropper) lost() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.losses
}

// drop reports whether the reply to this call of method is to be lost, and
// disarms the dropper when it is.
func (d *dropper) drop(method string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed != method {
		return false
	}
	d.armed = ""
	d.losses++
	return true
}

var errDropped = fmt.Errorf("%w: conformance: reply dropped", backend.ErrUnavailable)

// run makes a call and loses its reply when armed for method.
func run[T any](d *dropper, method string, call func() (T, error)) (T, error) {
	v, err := call()
	if d.drop(method) {
		var zero T
		return zero, errDropped
	}
	return v, err
}

// runErr is run for a call that returns only an error.
func runErr(d *dropper, method string, call func() error) error {
	_, err := run(d, method, func() (struct{}, error) { return struct{}{}, call() })
	return err
}

func (d *dropper) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	return runErr(d, "Enqueue", func() error { return d.Backend.Enqueue(ctx, p) })
}

func (d *dropper) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	return run(d, "Claim", func() ([]backend.ClaimedJob, error) { return d.Backend.Claim(ctx, p) })
}

func (d *dropper) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	return run(d, "Complete", func() ([]error, error) { return d.Backend.Complete(ctx, p) })
}

func (d *dropper) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	return run(d, "Fail", func() ([]error, error) { return d.Backend.Fail(ctx, p) })
}

func (d *dropper) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	return run(d, "Extend", func() ([]error, error) { return d.Backend.Extend(ctx, p) })
}

func (d *dropper) Release(ctx context.Context, p backend.ReleaseParams) ([]error, error) {
	return run(d, "Release", func() ([]error, error) { return d.Backend.Release(ctx, p) })
}

func (d *dropper) Reclaim(ctx context.Context, p backend.ReclaimParams) (backend.ReclaimResult, error) {
	return run(d, "Reclaim", func() (backend.ReclaimResult, error) { return d.Backend.Reclaim(ctx, p) })
}

func (d *dropper) Purge(ctx context.Context, p backend.PurgeParams) error {
	return runErr(d, "Purge", func() error { return d.Backend.Purge(ctx, p) })
}

func (d *dropper) RetryDead(ctx context.Context, p backend.RetryDeadParams) error {
	return runErr(d, "RetryDead", func() error { return d.Backend.RetryDead(ctx, p) })
}

func (d *dropper) Delete(ctx context.Context, p backend.DeleteParams) error {
	return runErr(d, "Delete", func() error { return d.Backend.Delete(ctx, p) })
}

// Cancel loses replies as the other methods do; it reports the inner
// backend's want of a Canceller as the call's error.
func (d *dropper) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	c, ok := d.Backend.(backend.Canceller)
	if !ok {
		return nil, fmt.Errorf("conformance: %T does not implement backend.Canceller", d.Backend)
	}
	return run(d, "Cancel", func() ([]error, error) { return c.Cancel(ctx, p) })
}

// MintIDs forwards to the inner backend's IDMinter, so that the root
// places jobs through the dropper as it would without it; for a backend
// without one it makes random ids, as the root would.
func (d *dropper) MintIDs(queue string, keys []string) []string {
	if m, ok := d.Backend.(backend.IDMinter); ok {
		return m.MintIDs(queue, keys)
	}
	ids := make([]string, len(keys))
	for i := range ids {
		ids[i] = newRequestID()
	}
	return ids
}
