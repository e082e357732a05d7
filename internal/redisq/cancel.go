package redisq

import (
	"context"
	"strconv"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Canceller = (*Engine)(nil)

// Cancel implements backend.Canceller with one call of cancel.lua. The
// cancel of a processing job is a field of its record, which its next
// heartbeat (extend.lua) reads: no message that a process could miss.
func (e *Engine) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := KeysFor(p.Queue)
	args := append(k.scriptArgs(3+len(p.IDs)), strconv.Itoa(p.Retention.Max), ms(p.Retention.TTL), strconv.Itoa(len(p.IDs)))
	args = append(args, p.IDs...)
	v, err := e.call(ctx, scriptCancel, k, p.RequestID, args)
	if err != nil {
		return nil, err
	}
	return decodeItems(v, p.IDs)
}
