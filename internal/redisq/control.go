package redisq

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Controller = (*Engine)(nil)

// Pause implements backend.Controller, with one call of control.lua.
func (e *Engine) Pause(ctx context.Context, queue string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	return e.control(ctx, queue, "pause")
}

// Resume implements backend.Controller. control.lua arms the queue's
// marker when it ends a pause, which wakes a blocked claimer (in any
// process); claim.lua chains the wake-up on while jobs are left.
func (e *Engine) Resume(ctx context.Context, queue string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	return e.control(ctx, queue, "resume")
}

// SetLimits implements backend.Controller.
func (e *Engine) SetLimits(ctx context.Context, p backend.LimitParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	args := []string{"limits", strconv.Itoa(p.Concurrency), strconv.Itoa(p.Rate), ms(p.Per)}
	if p.Kind != "" {
		args[0] = "klimits"
		args = append(args, p.Kind)
	}
	return e.control(ctx, p.Queue, args...)
}

// control runs control.lua on queue with args. The calls take no request
// id: each sets its settings, so a repeat sets them again.
func (e *Engine) control(ctx context.Context, queue string, args ...string) error {
	k := KeysFor(queue)
	_, err := e.call(ctx, scriptControl, k, "", append(k.scriptArgs(len(args)), args...))
	return err
}

// decodeControl reads the settings hash of stats.lua's reply, as
// control.lua writes it.
func decodeControl(v any) (paused bool, l backend.Limits, err error) {
	h, err := asHash(v, "stats control")
	if err != nil {
		return false, l, err
	}
	num := func(name string) (int, error) {
		s, ok := h[name]
		if !ok {
			return 0, nil
		}
		return limitNumber("stats control "+name, s)
	}
	if l.Concurrency, err = num("conc"); err != nil {
		return false, l, err
	}
	if l.Rate, err = num("rate"); err != nil {
		return false, l, err
	}
	per, err := num("per_ms")
	if err != nil {
		return false, l, err
	}
	l.Per = time.Duration(per) * time.Millisecond
	return h["paused"] == "1", l, nil
}

// decodeKindLimits reads the kinds' limits of stats.lua's reply, as
// control.lua writes them: kind -> "conc rate per_ms". None is nil.
func decodeKindLimits(v any) (map[string]backend.Limits, error) {
	h, err := asHash(v, "stats kind limits")
	if err != nil || len(h) == 0 {
		return nil, err
	}
	out := make(map[string]backend.Limits, len(h))
	for kind, s := range h {
		f := strings.Fields(s)
		if len(f) != 3 {
			return nil, errShape("stats kind limits "+kind, s)
		}
		var n [3]int
		for i := range f {
			if n[i], err = limitNumber("stats kind limits "+kind, f[i]); err != nil {
				return nil, err
			}
		}
		out[kind] = backend.Limits{Concurrency: n[0], Rate: n[1], Per: time.Duration(n[2]) * time.Millisecond}
	}
	return out, nil
}

// limitNumber reads one number of a setting, s, as control.lua writes
// it; what names it in an error.
func limitNumber(what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errShape(what, s)
	}
	return n, nil
}
