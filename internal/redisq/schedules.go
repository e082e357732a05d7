package redisq

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.ScheduleKeeper = (*Engine)(nil)

// MarkSchedule implements backend.ScheduleKeeper with one call of
// schedule.lua: an HGET and an HSET on queue:{q}:schedules. It sends no
// request id: a repeat writes nothing new.
func (e *Engine) MarkSchedule(ctx context.Context, p backend.MarkScheduleParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	tick := "0"
	if !p.Tick.IsZero() {
		tick = strconv.FormatInt(p.Tick.UnixMilli(), 10)
	}
	k := KeysFor(p.Queue)
	_, err := e.call(ctx, scriptSchedule, k, "", append(k.scriptArgs(3), p.Name, p.Definition, tick))
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
// per schedule and a 'last:<name>' field for one that has ticked. A last
// tick without its definition is left out.
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
		if last, ok := h["last:"+name]; ok {
			ms, err := strconv.ParseInt(last, 10, 64)
			if err != nil {
				return nil, errShape("schedule tick "+name, last)
			}
			r.LastTick = msTime(ms)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b backend.ScheduleRecord) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}
