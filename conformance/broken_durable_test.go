package conformance_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// durableBroken are the broken backends of durable writes
// (backend.DurableWriter). The memory backend meets every Durability at
// once; these report ErrNotDurable where they break a rule, as a store
// with lagging replicas would.
func durableBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"durable-enqueue-not-stored", "Durability/EnqueueStores, Durability/QueueReturnsIDs, Durability/RefusedEnqueueKeepsItsError",
			func() backend.Backend { return durableNotStored{mem()} }},
		{"durable-ack-whole-call", "Durability/AcksRecorded, Durability/QueueReturnsIDs, Durability/WorkerCompletes",
			func() backend.Backend { return durableAckWholeCall{mem()} }},
		{"durable-masks-refusal", "Durability/RefusedEnqueueKeepsItsError",
			func() backend.Backend { return durableMasksRefusal{mem()} }},
	}
}

// errNotDurableBroken is what these backends report.
var errNotDurableBroken = fmt.Errorf("%w: 0 of 1 replicas", backend.ErrNotDurable)

// durableNotStored breaks "Enqueue returns ... an error wrapping
// ErrNotDurable, with every job stored": a durable enqueue stores nothing
// and reports the write not durable.
type durableNotStored struct{ *memory.Backend }

func (b durableNotStored) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	if p.Durability.Enabled() && p.Validate() == nil {
		return errNotDurableBroken
	}
	return b.Backend.Enqueue(ctx, p)
}

// durableAckWholeCall breaks "Complete and Fail report, for each item
// whose outcome they recorded, ... an error wrapping ErrNotDurable. ...
// The call's own error is for a failure of the whole call": it records
// the outcomes and reports ErrNotDurable for the whole call.
type durableAckWholeCall struct{ *memory.Backend }

func (b durableAckWholeCall) Complete(ctx context.Context, p backend.CompleteParams) ([]error, error) {
	errs, err := b.Backend.Complete(ctx, p)
	if err == nil && p.Durability.Enabled() {
		return nil, errNotDurableBroken
	}
	return errs, err
}

func (b durableAckWholeCall) Fail(ctx context.Context, p backend.FailParams) ([]error, error) {
	errs, err := b.Backend.Fail(ctx, p)
	if err == nil && p.Durability.Enabled() {
		return nil, errNotDurableBroken
	}
	return errs, err
}

// durableMasksRefusal breaks "A call refused (ErrJobExists, ...) returns
// its own error, having stored nothing": it reports a refused durable
// enqueue as not durable.
type durableMasksRefusal struct{ *memory.Backend }

func (b durableMasksRefusal) Enqueue(ctx context.Context, p backend.EnqueueParams) error {
	err := b.Backend.Enqueue(ctx, p)
	if p.Durability.Enabled() && errors.Is(err, backend.ErrJobExists) {
		return errNotDurableBroken
	}
	return err
}
