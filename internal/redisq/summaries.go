package redisq

import (
	"context"
	"strconv"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Summarizer = (*Engine)(nil)

// Summaries implements backend.Summarizer with one call of the read-only
// summaries.lua for all the ids.
func (e *Engine) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(p.IDs) == 0 {
		return []backend.JobSummary{}, nil // nothing to read: no round trip
	}
	k := KeysFor(p.Queue)
	args := append(k.scriptArgs(1+len(p.IDs)), strconv.Itoa(p.PreviewBytes))
	v, err := e.call(ctx, scriptSummaries, k, "", append(args, p.IDs...))
	if err != nil {
		return nil, err
	}
	return decodeSummaries(v, p.PreviewBytes)
}

// decodeSummaries reads summaries.lua's reply to a call with a preview of
// n bytes. Each record is read as decodeJob reads Get's, with the preview
// as its payload.
func decodeSummaries(v any, n int) ([]backend.JobSummary, error) {
	a, err := asArray(v, "summaries")
	if err != nil {
		return nil, err
	}
	out := make([]backend.JobSummary, 0, len(a))
	for _, x := range a {
		e, err := asArray(x, "summary")
		if err != nil || len(e) != 3 {
			return nil, errShape("summary", x)
		}
		id, err := asString(e[0], "summary")
		if err != nil {
			return nil, err
		}
		size, err := asInt(e[1], "summary")
		if err != nil {
			return nil, err
		}
		info, err := decodeJob(e[2], id)
		if err != nil {
			return nil, err
		}
		if len(info.Payload) > n {
			return nil, errShape("summary's preview", x)
		}
		s := info.Summary(n)
		s.PayloadBytes = int(size)
		out = append(out, s)
	}
	return out, nil
}
