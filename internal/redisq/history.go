package redisq

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Historian = (*Engine)(nil)

// History implements backend.Historian with one read-only function call
// (history.lua): TIME and one HGETALL per hour of the window, which a
// replica may serve.
func (e *Engine) History(ctx context.Context, p backend.HistoryParams) ([]backend.HistoryPoint, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := KeysFor(p.Queue)
	v, err := e.call(ctx, scriptHistory, k, "", append(k.scriptArgs(1), strconv.Itoa(p.Minutes)))
	if err != nil {
		return nil, err
	}
	return decodeHistory(v, p.Minutes)
}

// decodeHistory reads history.lua's reply into minutes points, oldest
// first, the last one the minute of the reply's TIME. A field that names
// no counter, or a minute outside the window, is left out: the hashes
// may hold minutes older than the window.
func decodeHistory(v any, minutes int) ([]backend.HistoryPoint, error) {
	a, err := asArray(v, "history")
	if err != nil || len(a)%2 != 1 {
		return nil, errShape("history", v)
	}
	now, err := asInt(a[0], "history")
	if err != nil {
		return nil, err
	}
	const minute = int64(time.Minute / time.Millisecond)
	first := now - now%minute - int64(minutes-1)*minute
	points := make([]backend.HistoryPoint, minutes)
	for i := range points {
		points[i].Minute = msTime(first + int64(i)*minute)
	}
	for i := 1; i < len(a); i += 2 {
		hour, err := asInt(a[i], "history")
		if err != nil {
			return nil, err
		}
		fields, err := asHash(a[i+1], "history")
		if err != nil {
			return nil, err
		}
		for f, val := range fields {
			name, mm, ok := strings.Cut(f, ":")
			m, err := strconv.ParseInt(mm, 10, 64)
			if !ok || err != nil || m < 0 || m >= 60 {
				return nil, errShape("history field", f)
			}
			at := hour + m*minute - first
			if at < 0 || at%minute != 0 || at/minute >= int64(minutes) {
				continue
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, errShape("history counter "+f, val)
			}
			if c := historyCounter(&points[at/minute], name); c != nil {
				*c = n
			}
		}
	}
	return points, nil
}

// historyCounter returns the count of pt that the history field name
// holds (lib.lua's record), or nil for a name it does not know.
func historyCounter(pt *backend.HistoryPoint, name string) *int64 {
	switch name {
	case "enqueued":
		return &pt.Enqueued
	case "completed":
		return &pt.Completed
	case "failed":
		return &pt.Failed
	case "retried":
		return &pt.Retried
	case "dead":
		return &pt.Dead
	case "reclaimed":
		return &pt.Reclaimed
	case "cancelled":
		return &pt.Cancelled
	}
	return nil
}
