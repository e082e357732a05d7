package redisq

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.ScheduleKeeper = (*Engine)(nil)

// MarkSchedule implements backend.ScheduleKeeper with one call of
// schedule.lua: an HMGET and an HSET on queue:{q}:schedules. It sends no
// request id: a repeat writes nothing new.
func (e *Engine) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	k := KeysFor(p.Queue)
	_, err := e.call(ctx, scriptSchedule, k, "", append(k.scriptArgs(4), p.Name, p.Definition, msArg(p.Tick), msArg(p.Seen)))
	return err
}

// msArg is t in ms for a script's argument, "0" for the zero time.
func msArg(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// RemoveSchedule implements backend.ScheduleKeeper with one call of
// unschedule.lua, an HDEL on queue:{q}:schedules. It sends no request
// id: a repeat finds nothing to delete.
func (e *Engine) RemoveSchedule(ctx context.Context, queue, name string) error {
	if err := backend.ValidateScheduleRef(queue, name); err != nil {
		return err
	}
	k := KeysFor(queue)
	_, err := e.call(ctx, scriptUnschedule, k, "", append(k.scriptArgs(1), name))
	return err
}

// Schedules implements backend.ScheduleKeeper with one read-only call of
// schedules.lua (an HGETALL), which a replica may serve.
func (e *Engine) Schedules(ctx context.Context, queue string) ([]backend.ScheduleRecord, error) {
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	k := KeysFor(queue)
	v, err := e.call(ctx, scriptSchedules, k, "", k.scriptArgs(0))
	if err != nil {
		return nil, err
	}
	return decodeSchedules(v)
}

// decodeSchedules reads the hash of schedule.lua: a 'def:<name>' field
// per schedule, a 'last:<name>' field for one that has ticked and a
// 'seen:<name>' field for one a scheduler said it ran. The fields of a
// name without a definition are left out.
func decodeSchedules(v any) ([]backend.ScheduleRecord, error) {
	h, err := asHash(v, "schedules")
	if err != nil {
		return nil, err
	}
	out := make([]backend.ScheduleRecord, 0, len(h)/2+1)
	for f, def := range h {
		name, ok := strings.CutPrefix(f, "def:")
		if !ok {
			continue
		}
		r := backend.ScheduleRecord{Name: name, Definition: def}
		for _, t := range []struct {
			field, what string
			to          *time.Time
		}{{"last:", "schedule tick ", &r.LastTick}, {"seen:", "schedule seen time ", &r.Seen}} {
			if v, ok := h[t.field+name]; ok {
				ms, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, errShape(t.what+name, v)
				}
				*t.to = msTime(ms)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b backend.ScheduleRecord) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
