package jobqueue

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jobqueue-go/jobqueue/backend"
)

// JobSummary is one job's record less its payload and result, with the
// payload's size and first bytes, as Summaries returns it.
type JobSummary = backend.JobSummary

// MaxSummaries bounds the ids of one Summaries call, and MaxPreviewBytes
// its preview.
const (
	MaxSummaries    = backend.MaxSummaries
	MaxPreviewBytes = backend.MaxPreviewBytes
)

// getConcurrency is how many Gets Summaries makes at once on a backend
// that cannot read summaries.
const getConcurrency = 8

// Summaries returns the summaries of the jobs ids (at most MaxSummaries;
// an id given twice is read once), in the order of ids, leaving out those
// that have no record:
// each job's record as Get returns it, less its payload and result, with
// the payload's size (PayloadBytes) and its first previewBytes bytes at
// most (0 to MaxPreviewBytes; Preview), none for a payload over
// backend.MaxPreviewedPayload (16 KiB). It is what a list of jobs reads:
// on a backend that reads summaries (backend.Summarizer; every backend
// shipped with this module does), one call reads them all and no more of
// a payload than its preview leaves the store. On another, it reads each
// job with Get, a few at once, and cuts the previews itself.
//
// Each Preview is valid UTF-8, for showing: a character that the cut at
// previewBytes split is left out, and bytes that are not UTF-8 (a payload
// that is not text) become U+FFFD, so that only such a preview may be
// longer than previewBytes. A preview shorter than PayloadBytes was cut.
func (q *Queue) Summaries(ctx context.Context, ids []string, previewBytes int) ([]JobSummary, error) {
	// A list read page by page may name a job twice (it moved between
	// two reads, or an older store's history holds it twice): read once.
	if seen := make(map[string]bool, len(ids)); len(ids) > 1 {
		var once []string
		for i, id := range ids {
			if seen[id] {
				if once == nil {
					once = slices.Clone(ids[:i])
				}
				continue
			}
			seen[id] = true
			if once != nil {
				once = append(once, id)
			}
		}
		if once != nil {
			ids = once
		}
	}
	p := backend.SummariesParams{Queue: q.name, IDs: ids, PreviewBytes: previewBytes}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var out []JobSummary
	var err error
	if s, ok := q.b.(backend.Summarizer); ok {
		out, err = retry(ctx, q, func() ([]JobSummary, error) { return s.Summaries(ctx, p) })
	} else {
		out, err = q.summariesByGet(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Preview = textPreview(out[i].Preview, out[i].PayloadBytes)
	}
	return out, nil
}

// summariesByGet reads the summaries of p with Get, getConcurrency jobs
// at a time, for a backend that is no backend.Summarizer.
func (q *Queue) summariesByGet(ctx context.Context, p backend.SummariesParams) ([]JobSummary, error) {
	infos := make([]JobInfo, len(p.IDs))
	errs := make([]error, len(p.IDs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(p.IDs), getConcurrency) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(p.IDs) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				infos[i], errs[i] = q.Get(ctx, p.IDs[i])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]JobSummary, 0, len(p.IDs))
	for i, info := range infos {
		switch {
		case errs[i] == nil:
			out = append(out, info.Summary(p.PreviewBytes))
		case !errors.Is(errs[i], ErrNotFound):
			return nil, errs[i]
		}
	}
	return out, nil
}

// textPreview returns preview, the first bytes of a payload of size
// bytes, as valid UTF-8: without a character that the cut split at its
// end, and with U+FFFD for bytes that are not UTF-8; nil when nothing is
// left.
func textPreview(preview []byte, size int) []byte {
	if len(preview) < size {
		// The last character starts at most utf8.UTFMax-1 bytes before
		// the end; when it is whole, it was not cut.
		for i := len(preview) - 1; i >= 0 && i > len(preview)-utf8.UTFMax; i-- {
			if utf8.RuneStart(preview[i]) {
				if !utf8.FullRune(preview[i:]) {
					preview = preview[:i]
				}
				break
			}
		}
	}
	switch {
	case len(preview) == 0:
		return nil
	case utf8.Valid(preview):
		return preview
	}
	return bytes.ToValidUTF8(preview, []byte("\uFFFD"))
}
