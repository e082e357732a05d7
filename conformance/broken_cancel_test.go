package conformance_test

import (
	"context"
	"errors"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// cancelBroken are the broken backends of backend.Canceller.
func cancelBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"cancel-ignores-running", "Cancel/Processing/, Cancel/Worker/", func() backend.Backend { return runningUncancelled{mem()} }},
		{"extend-hides-cancel", "Cancel/Processing/ExtendRefused, Cancel/Worker/CancelsHandler", func() backend.Backend { return cancelDeafExtend{mem()} }},
		{"cancel-request-id-ignored", "Cancel/Repeat, Cancel/LostReply", func() backend.Backend { return forgetfulCancel{mem()} }},
		{"cancel-finished-succeeds", "Cancel/Finished/WrongState, Cancel/Batch, Cancel/Queue/Errors", func() backend.Backend { return finishedCancel{mem()} }},
	}
}

// runningUncancelled breaks "A processing job is marked: its claim's Extend reports an error wrapping ErrCancelled": its Cancel says yes to a running job and does nothing, as a cancel that only reaches the process that runs the job would.
type runningUncancelled struct{ *memory.Backend }

func (b runningUncancelled) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var rest []string
	for _, id := range p.IDs {
		if info, err := b.Get(ctx, p.Queue, id); err != nil || info.State != backend.StateProcessing {
			rest = append(rest, id)
		}
	}
	errs := make([]error, len(p.IDs))
	if len(rest) == 0 {
		return errs, nil
	}
	inner := p
	inner.IDs = rest
	got, err := b.Backend.Cancel(ctx, inner)
	if err != nil {
		return nil, err
	}
	for i, j := 0, 0; i < len(p.IDs) && j < len(rest); i++ {
		if p.IDs[i] == rest[j] {
			errs[i] = got[j]
			j++
		}
	}
	return errs, nil
}

// cancelDeafExtend breaks "its claim's Extend reports an error wrapping ErrCancelled and renews nothing": its heartbeat reports a cancelled job as renewed.
type cancelDeafExtend struct{ *memory.Backend }

func (b cancelDeafExtend) Extend(ctx context.Context, p backend.ExtendParams) ([]error, error) {
	errs, err := b.Backend.Extend(ctx, p)
	for i, e := range errs {
		if errors.Is(e, backend.ErrCancelled) {
			errs[i] = nil
		}
	}
	return errs, err
}

// forgetfulCancel breaks "A repeat is recognised by p.RequestID and returns the first run's per-item errors": it drops the request id, so a repeat cancels a job enqueued again since.
type forgetfulCancel struct{ *memory.Backend }

func (b forgetfulCancel) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	p.RequestID = ""
	return b.Backend.Cancel(ctx, p)
}

// finishedCancel breaks "A completed or dead job reports ErrWrongState": it reports success.
type finishedCancel struct{ *memory.Backend }

func (b finishedCancel) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	errs, err := b.Backend.Cancel(ctx, p)
	for i, e := range errs {
		if errors.Is(e, backend.ErrWrongState) {
			errs[i] = nil
		}
	}
	return errs, err
}
