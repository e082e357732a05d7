package conformance_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// summariesBroken are the broken backends of backend.Summarizer.
func summariesBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"summary-whole-payload", "Summaries/EveryStateMatchesGet, Summaries/PreviewCut, Summaries/ThroughQueue", func() backend.Backend { return wholePreview{mem()} }},
		{"summary-size-of-preview", "Summaries/EveryStateMatchesGet, Summaries/PreviewCut, Summaries/ThroughQueue", func() backend.Backend { return previewSized{mem()} }},
		{"summary-missing-fails", "Summaries/MissingLeftOutOrderKept, Summaries/MaxIDs, Summaries/NoIDs, Summaries/ThroughQueue", func() backend.Backend { return missingSummaryFails{mem()} }},
		{"summary-order-lost", "Summaries/EveryStateMatchesGet, Summaries/MissingLeftOutOrderKept, Summaries/MaxIDs", func() backend.Backend { return sortedSummaries{mem()} }},
		{"summary-previews-large", "Summaries/LargePayloadNotPreviewed", func() backend.Backend { return largePreviewed{mem()} }},
		{"summaries-unbounded", "Summaries/Invalid, Summaries/ContextAlreadyEnded", func() backend.Backend { return unboundedSummaries{mem()} }},
	}
}

// wholePreview breaks "no more of a payload than its preview leaves the store": its previews are the whole payloads.
type wholePreview struct{ *memory.Backend }

func (b wholePreview) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	got, err := b.Backend.Summaries(ctx, p)
	for i := range got {
		if info, err := b.Get(ctx, p.Queue, got[i].ID); err == nil && len(info.Payload) > 0 {
			got[i].Preview = info.Payload
		}
	}
	return got, err
}

// largePreviewed breaks "none for a payload longer than MaxPreviewedPayload": it previews every payload.
type largePreviewed struct{ *memory.Backend }

func (b largePreviewed) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	got, err := b.Backend.Summaries(ctx, p)
	for i := range got {
		if info, err := b.Get(ctx, p.Queue, got[i].ID); err == nil && got[i].PayloadBytes > backend.MaxPreviewedPayload {
			got[i].Preview = info.Payload[:min(p.PreviewBytes, len(info.Payload))]
		}
	}
	return got, err
}

// previewSized breaks "with the size of its payload": its PayloadBytes is the preview's size.
type previewSized struct{ *memory.Backend }

func (b previewSized) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	got, err := b.Backend.Summaries(ctx, p)
	for i := range got {
		got[i].PayloadBytes = len(got[i].Preview)
	}
	return got, err
}

// missingSummaryFails breaks "An id that has no record ... is left out": it fails the call with ErrNotFound, as a loop of Gets would.
type missingSummaryFails struct{ *memory.Backend }

func (b missingSummaryFails) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	got, err := b.Backend.Summaries(ctx, p)
	if err == nil && len(got) < len(p.IDs) {
		return nil, fmt.Errorf("%w: %d of %d jobs", backend.ErrNotFound, len(p.IDs)-len(got), len(p.IDs))
	}
	return got, err
}

// sortedSummaries breaks "in the order of p.IDs": it returns them by id, as a read of a set would.
type sortedSummaries struct{ *memory.Backend }

func (b sortedSummaries) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	got, err := b.Backend.Summaries(ctx, p)
	slices.SortFunc(got, func(x, y backend.JobSummary) int { return strings.Compare(x.ID, y.ID) })
	return got, err
}

// unboundedSummaries breaks "MaxSummaries bounds the ids of one Summaries call": it reads any number, in pages.
type unboundedSummaries struct{ *memory.Backend }

func (b unboundedSummaries) Summaries(ctx context.Context, p backend.SummariesParams) ([]backend.JobSummary, error) {
	out := []backend.JobSummary{}
	for page := range slices.Chunk(p.IDs, backend.MaxSummaries) {
		inner := p
		inner.IDs = page
		got, err := b.Backend.Summaries(ctx, inner)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}
